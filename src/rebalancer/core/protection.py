"""Protective stop prices and the actions that keep one stop per hedge (issue 14): pure, no I/O.

A hedge position gets exactly one reduce-only stop-market order on its adverse side: a short is
protected by a buy stop above the mark, a long by a sell stop below it. The trigger is where the
position has moved against itself by `distance` from the mark, but never further than
`1 - buffer` of the way from the mark to the exchange-reported liquidation price (so a stop always
fires with `buffer` of that way left). Prices are rounded to the tick toward the mark (the safer
side) and always stay at least one tick beyond the mark, so the stop never triggers on placement.

`stop_actions` compares the stops wanted with the ones resting on the exchange and says what to do:
keep a stop whose size is the position's and whose trigger is within `reprice_threshold` of the
wanted one; else replace it (cancel, then place); cancel stops of positions that are gone and every
extra stop beyond the first (never two stops on one hedge); place where none rests.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Iterable, Mapping

ZERO = Decimal(0)
ONE = Decimal(1)


@dataclass(frozen=True)
class StopRule:
    distance: Decimal  # the adverse move from the mark that triggers the stop (0.25 = 25 %)
    buffer: Decimal = Decimal("0.2")  # the part of the mark-to-liquidation way the stop must leave
    reprice_threshold: Decimal = Decimal("0.05")  # relative trigger move that makes a replacement worth it

    def __post_init__(self) -> None:
        if not ZERO < self.distance < ONE:
            raise ValueError(f"stop distance must be in (0, 1), got {self.distance}")
        if not ZERO <= self.buffer < ONE:
            raise ValueError(f"liquidation buffer must be in [0, 1), got {self.buffer}")
        if self.reprice_threshold < 0:
            raise ValueError(f"reprice threshold must be >= 0, got {self.reprice_threshold}")


@dataclass(frozen=True)
class WantedStop:
    """The stop one hedge should have: `side` of the stop order ("buy" protects a short)."""

    asset: str
    symbol: str
    side: str
    amount: Decimal  # contracts, the whole position
    trigger: Decimal
    capped_by_liquidation: bool  # the liquidation price, not the distance, set the trigger


@dataclass(frozen=True)
class RestingStop:
    """A stop the exchange holds for us (what the venue lists as an open conditional order)."""

    symbol: str
    client_order_id: str | None
    order_id: str | None
    side: str
    amount: Decimal | None  # None: a close-position stop (closes whatever is held)
    trigger: Decimal


@dataclass(frozen=True)
class StopAction:
    kind: str  # "place" | "cancel" | "keep"
    symbol: str
    wanted: WantedStop | None = None
    resting: RestingStop | None = None
    reason: str = ""


def stop_trigger(position: Decimal, mark: Decimal, liquidation: Decimal | None, tick: Decimal | None,
                 rule: StopRule) -> tuple[Decimal, bool] | None:
    """(trigger, capped by the liquidation price) for a signed position at `mark`; None when no stop
    can be placed (flat, no mark, or a liquidation price already at or behind the mark)."""
    if position == 0 or mark <= 0:
        return None
    short = position < 0
    trigger = mark * (ONE + rule.distance) if short else mark * (ONE - rule.distance)
    capped = False
    if liquidation is not None and liquidation > 0:
        way = liquidation - mark if short else mark - liquidation
        if way <= 0:
            return None  # the exchange would liquidate at or before the mark: nothing to protect with
        limit = mark + (ONE - rule.buffer) * way if short else mark - (ONE - rule.buffer) * way
        if (short and limit < trigger) or (not short and limit > trigger):
            trigger, capped = limit, True
    if tick is not None and tick > 0:
        # toward the mark (fires earlier, the safer side), and at least one tick beyond it
        trigger = (trigger / tick).to_integral_value(ROUND_FLOOR if short else ROUND_CEILING) * tick
        if short and trigger <= mark:
            trigger = (mark / tick).to_integral_value(ROUND_FLOOR) * tick + tick
        if not short and trigger >= mark:
            trigger = (mark / tick).to_integral_value(ROUND_CEILING) * tick - tick
    if trigger <= 0:
        return None
    return trigger, capped


def wanted_stops(positions: Mapping[str, tuple[str, Decimal]], marks: Mapping[str, Decimal],
                 liquidations: Mapping[str, Decimal | None], ticks: Mapping[str, Decimal | None],
                 rule: StopRule) -> dict[str, WantedStop]:
    """One wanted stop per held position: `positions` maps asset -> (symbol, signed contracts)."""
    out: dict[str, WantedStop] = {}
    for asset, (symbol, amount) in positions.items():
        mark = marks.get(asset)
        if mark is None:
            continue
        found = stop_trigger(amount, mark, liquidations.get(asset), ticks.get(asset), rule)
        if found is None:
            continue
        trigger, capped = found
        out[asset] = WantedStop(asset, symbol, "buy" if amount < 0 else "sell", abs(amount), trigger, capped)
    return out


def stop_actions(wanted: Mapping[str, WantedStop], resting: Iterable[RestingStop], rule: StopRule) -> list[StopAction]:
    """What brings the exchange's stops to `wanted`: cancels first (extras, orphans, stale ones), then
    places; a replacement is a cancel followed by a place of the same symbol."""
    by_symbol: dict[str, list[RestingStop]] = {}
    for stop in resting:
        by_symbol.setdefault(stop.symbol, []).append(stop)
    cancels: list[StopAction] = []
    places: list[StopAction] = []
    keeps: list[StopAction] = []
    wanted_by_symbol = {w.symbol: w for w in wanted.values()}
    for symbol, stops in by_symbol.items():
        if symbol not in wanted_by_symbol:
            cancels.extend(StopAction("cancel", symbol, resting=s, reason="no hedge to protect") for s in stops)
    for symbol, want in wanted_by_symbol.items():
        stops = by_symbol.get(symbol, [])
        fitting = [s for s in stops if _fits(s, want, rule)]
        keep = fitting[0] if fitting else None
        for s in stops:
            if s is not keep:
                why = "an extra stop" if keep is not None else _why_stale(s, want, rule)
                cancels.append(StopAction("cancel", symbol, want, s, why))
        if keep is not None:
            keeps.append(StopAction("keep", symbol, want, keep))
        else:
            places.append(StopAction("place", symbol, want, reason="no stop rests" if not stops else "replacement"))
    return cancels + places + keeps


def _fits(stop: RestingStop, want: WantedStop, rule: StopRule) -> bool:
    if stop.side != want.side:
        return False
    if stop.amount is not None and stop.amount != want.amount:
        return False
    return abs(stop.trigger - want.trigger) <= rule.reprice_threshold * want.trigger


def _why_stale(stop: RestingStop, want: WantedStop, rule: StopRule) -> str:
    if stop.side != want.side:
        return f"on the wrong side ({stop.side}) for the position"
    if stop.amount is not None and stop.amount != want.amount:
        return f"size {stop.amount} is not the position's {want.amount}"
    return f"trigger {stop.trigger} is more than {rule.reprice_threshold:%} from {want.trigger}"


__all__ = ["RestingStop", "StopAction", "StopRule", "WantedStop", "stop_actions", "stop_trigger", "wanted_stops"]
