"""Protective stops on the exchange (issue 14): see fired ones, and keep exactly one stop per hedge.

Two steps of an executing cycle, around the plan:

- `recognise` (before the external-change check): settles every stop the journal says the exchange
  may hold against the exchange's list of resting stops. A listed one is resting (a stop whose reply
  was lost is adopted by its client id, or on MEXC, which lists no client id, by symbol, side and
  trigger). One no longer listed either fired (the exchange's fills on its symbol since it was placed
  that no journaled order explains: journaled as its own order, leg "stop", with fill and fee, so the
  external-change check counts it), was cancelled as asked, was never placed, or vanished.
- `protect` (after the orders are confirmed): the stops the positions want (core/protection.py)
  against ours resting: keep, replace (cancel, then place: a place waits until its symbol's cancel is
  confirmed, so there are never two stops; a cancel whose answer is lost is confirmed by listing the
  symbol's stops again), cancel orphans, place where none rests. Every request is
  journaled before it is sent with its own client id; a refused stop is an alert and leaves its asset
  shrink-only (STOP_REJECTED) until a stop rests.

Stops that are not ours (another client id) are left alone.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping

import structlog

from .core.protection import RestingStop, StopAction, StopRule, WantedStop, stop_actions, wanted_stops
from .domain import Position, Snapshot
from .executor import client_order_id
from .journal import (
    STOP_CANCEL_REQUESTED,
    STOP_CANCELED,
    STOP_FIRED,
    STOP_NOT_PLACED,
    STOP_PENDING,
    STOP_REJECTED,
    STOP_RESTING,
    STOP_UNKNOWN,
    STOP_VANISHED,
    Journal,
    StopRecord,
)
from .report import s as _text
from .venues.errors import OrderNotFoundError, RejectedError, UnknownOutcomeError, VenueError

log = structlog.get_logger("rebalancer.protect")

__all__ = ["ProtectionReport", "Protector", "StopEvent", "StopView", "stop_client_id", "stop_flags"]

# A MEXC plan order lives 24 hours: one gone after this long expired, it did not vanish.
EXPIRY_AGE = timedelta(hours=23)


def stop_client_id(cycle_id: str, index: int) -> str:
    """Like the orders' ids (letters and digits, 24 chars), prefixed "rs" so a stop is told apart."""
    return client_order_id(cycle_id, index, prefix="rs")


@dataclass(frozen=True)
class StopEvent:
    """One thing the protection did or saw. kind: placed, kept, canceled, rejected, unknown, fired,
    vanished, expired, adopted, not_placed, cancel_failed, waiting, unprotected."""

    kind: str
    asset: str
    symbol: str
    client_order_id: str | None = None
    trigger: Decimal | None = None
    amount: Decimal | None = None
    detail: str = ""

    @property
    def alert(self) -> bool:
        return self.kind in ("rejected", "fired", "vanished", "unprotected", "cancel_failed")

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "asset": self.asset, "symbol": self.symbol, "client_order_id": self.client_order_id,
                "trigger": _text(self.trigger), "amount": _text(self.amount), "detail": self.detail}


@dataclass(frozen=True)
class StopView:
    """What protects one hedge after the step (`status` shows it)."""

    asset: str
    symbol: str
    side: str
    amount: Decimal  # contracts
    trigger: Decimal
    mark: Decimal | None
    liquidation_price: Decimal | None
    client_order_id: str | None
    state: str  # resting | unknown | missing

    @property
    def distance(self) -> Decimal | None:
        """How far the mark must move against the position to trigger the stop (0.25 = 25 %)."""
        if self.mark is None or self.mark <= 0:
            return None
        return abs(self.trigger - self.mark) / self.mark

    def to_json(self) -> dict[str, Any]:
        return {"asset": self.asset, "symbol": self.symbol, "side": self.side, "amount": _text(self.amount),
                "trigger_price": _text(self.trigger), "mark_price": _text(self.mark),
                "distance": _text(self.distance), "liquidation_price": _text(self.liquidation_price),
                "client_order_id": self.client_order_id, "state": self.state}


@dataclass
class ProtectionReport:
    events: list[StopEvent] = field(default_factory=list)
    stops: dict[str, StopView] = field(default_factory=dict)
    skipped: str = ""  # why `protect` did not run this cycle ("" = it ran)

    @property
    def fired(self) -> list[StopEvent]:
        return [e for e in self.events if e.kind == "fired"]

    @property
    def rejected(self) -> list[StopEvent]:
        return [e for e in self.events if e.kind == "rejected"]

    def count(self, kind: str) -> int:
        return sum(1 for e in self.events if e.kind == kind)

    def to_json(self) -> dict[str, Any]:
        return {"skipped": self.skipped, "stops": [v.to_json() for v in self.stops.values()],
                "events": [e.to_json() for e in self.events]}


def stop_flags(journal: Journal, positions: Mapping[str, Position], *, now: datetime,
               cooldown_s: float) -> tuple[dict[str, str], dict[str, str]]:
    """(frozen, shrink-only) assets for the gate, from each asset's newest stop: fired within the
    cooldown -> frozen; refused by the exchange -> shrink-only while the position is held (and for the
    cooldown after, so a refused asset does not grow straight back)."""
    frozen: dict[str, str] = {}
    reducing: dict[str, str] = {}
    cooldown = timedelta(seconds=cooldown_s)
    for asset, stop in journal.latest_stops_by_asset().items():
        age = now - stop.updated_at
        if stop.state == STOP_FIRED and age < cooldown:
            until = (stop.updated_at + cooldown).strftime("%Y-%m-%d %H:%M:%SZ")
            frozen[asset] = (f"its protective stop {stop.client_order_id} fired (seen "
                             f"{stop.updated_at:%Y-%m-%d %H:%M:%SZ}): frozen until {until} (protection.cooldown_s)")
        elif stop.state == STOP_REJECTED:
            held = positions.get(asset) is not None and positions[asset].amount != 0
            if held or age < cooldown:
                reducing[asset] = (f"the exchange refused its protective stop ({stop.error or 'no reason given'}): "
                                   "it may only shrink until a stop rests")
    return frozen, reducing


class Protector:
    """The two protection steps over one venue and journal."""

    def __init__(self, venue: Any, journal: Journal, *, rule: Callable[[], StopRule], enabled: Callable[[], bool],
                 clock: Callable[[], datetime]) -> None:
        self.venue = venue
        self.journal = journal
        self._rule = rule
        self._enabled = enabled
        self.clock = clock

    @property
    def enabled(self) -> bool:
        return bool(self._enabled()) and bool(getattr(self.venue, "stops_supported", False))

    async def resting(self, symbols: Iterable[str]) -> list[RestingStop] | None:
        """The stops resting on the hedge symbols, or None when they cannot be read this cycle."""
        try:
            return await self.venue.resting_stops(list(symbols))
        except VenueError as exc:
            log.warning("stops_unreadable", error=str(exc) or type(exc).__name__)
            return None

    # ------------------------------------------------------------------ recognise

    async def recognise(self, cycle_id: str, resting: list[RestingStop], report: ProtectionReport) -> None:
        """Settle the journal's live stops against `resting` (see the module docstring)."""
        live = self.journal.live_stops()
        if not live:
            return
        by_cid = {r.client_order_id: r for r in resting if r.client_order_id}
        by_oid = {r.order_id: r for r in resting if r.order_id}
        owned = {s.exchange_order_id for s in live if s.exchange_order_id} | {s.client_order_id for s in live}
        unowned = [r for r in resting if r.client_order_id not in owned and r.order_id not in owned]
        gone: list[StopRecord] = []
        for stop in live:
            match = by_cid.get(stop.client_order_id) or (by_oid.get(stop.exchange_order_id)
                                                        if stop.exchange_order_id else None)
            if match is None and stop.state in (STOP_PENDING, STOP_UNKNOWN) and stop.exchange_order_id is None:
                match = next((r for r in unowned if r.client_order_id is None and _same_stop(r, stop)), None)
                if match is not None:
                    unowned.remove(match)
            if match is None:
                gone.append(stop)
                continue
            if stop.state in (STOP_PENDING, STOP_UNKNOWN) or stop.exchange_order_id is None:
                self.journal.update_stop(stop.client_order_id, STOP_RESTING, at=self.clock(),
                                         exchange_order_id=match.order_id)
                report.events.append(StopEvent("adopted", stop.asset, stop.symbol, stop.client_order_id,
                                               stop.trigger, stop.amount, "found resting on the exchange"))
            elif stop.state == STOP_CANCEL_REQUESTED:
                # the cancel did not go through: it rests, and `protect` decides again
                self.journal.update_stop(stop.client_order_id, STOP_RESTING, at=self.clock())
        for stop in gone:
            await self._settle_gone(cycle_id, stop, report)

    async def _settle_gone(self, cycle_id: str, stop: StopRecord, report: ProtectionReport) -> None:
        """A live stop the exchange no longer lists: fired, cancelled, never placed or vanished."""
        now = self.clock()
        try:
            fill = await self._stop_fill(stop)
        except VenueError as exc:
            log.warning("stop_fills_unreadable", client_order_id=stop.client_order_id, error=str(exc))
            return  # stays live: decided next cycle
        if fill is not None:
            self._record_fired(cycle_id, stop, fill, report)
            return
        if stop.state == STOP_CANCEL_REQUESTED:
            self.journal.update_stop(stop.client_order_id, STOP_CANCELED, at=now)
            report.events.append(StopEvent("canceled", stop.asset, stop.symbol, stop.client_order_id, stop.trigger,
                                           stop.amount, "the cancel went through"))
        elif stop.state in (STOP_PENDING, STOP_UNKNOWN):
            self.journal.update_stop(stop.client_order_id, STOP_NOT_PLACED, at=now,
                                     reason="the exchange does not hold it and nothing filled")
            report.events.append(StopEvent("not_placed", stop.asset, stop.symbol, stop.client_order_id,
                                           stop.trigger, stop.amount, "the exchange never took it"))
        else:
            expired = now - stop.created_at >= EXPIRY_AGE
            self.journal.update_stop(stop.client_order_id, STOP_VANISHED, at=now,
                                     reason="expired" if expired else "no longer on the exchange and nothing filled")
            report.events.append(StopEvent(
                "expired" if expired else "vanished", stop.asset, stop.symbol, stop.client_order_id, stop.trigger,
                stop.amount, "it expired" if expired else "the exchange no longer holds it and it did not fill: "
                "cancelled outside the bot? a new one is placed"))

    def _record_fired(self, cycle_id: str, stop: StopRecord,
                      fill: tuple[str, Decimal, Decimal | None, Decimal | None, str | None],
                      report: ProtectionReport) -> None:
        """Journal a fired stop as its own order (with the exchange's fill and fee) and say so."""
        order_id, filled, average, fee, fee_currency = fill
        self.journal.record_stop_fill(cycle_id, stop, filled=filled, average=average, exchange_order_id=order_id,
                                      fee=fee, fee_currency=fee_currency, at=self.clock())
        report.events.append(StopEvent("fired", stop.asset, stop.symbol, stop.client_order_id, stop.trigger,
                                       filled, f"filled {_text(filled)} at {_text(average)} (order {order_id})"))
        log.warning("stop_fired", client_order_id=stop.client_order_id, symbol=stop.symbol,
                    filled=str(filled), average=str(average))

    async def _stop_fill(self, stop: StopRecord) -> tuple[str, Decimal, Decimal | None, Decimal | None, str | None] | None:
        """The fill of a fired stop: the fills on its symbol since it was placed, on its side (or
        sideless), of an order no journaled order is (the stop's own id, or the order it became);
        (order id, contracts, average, fee, fee currency) or None."""
        fills = await self.venue.fills_since(stop.symbol, stop.created_at)
        known = self.journal.known_exchange_order_ids(stop.symbol)
        groups: dict[str, list[Any]] = {}
        for f in fills:
            if f.order_id in known or f.side not in (stop.side, ""):
                continue
            if f.client_order_id and f.client_order_id != stop.client_order_id:
                continue
            groups.setdefault(f.order_id, []).append(f)
        if not groups:
            return None
        order_id = stop.exchange_order_id if stop.exchange_order_id in groups else next(iter(groups))
        chosen = groups[order_id]
        filled = sum((f.amount for f in chosen), Decimal(0))
        if filled <= 0 or filled > stop.amount:
            return None  # more than the stop could fill: not (only) the stop; the external check will say
        priced = [f for f in chosen if f.price is not None]
        average = (sum((f.amount * f.price for f in priced), Decimal(0)) / sum((f.amount for f in priced), Decimal(0))
                   if priced and len(priced) == len(chosen) else None)
        fees = [f.fee for f in chosen if f.fee is not None]
        fee = sum(fees, Decimal(0)) if len(fees) == len(chosen) else None
        currency = next((f.fee_currency for f in chosen if f.fee_currency), None)
        return order_id, filled, average, fee, currency

    # ------------------------------------------------------------------ protect

    async def protect(self, cycle_id: str, *, positions: Mapping[str, Position], snapshot: Snapshot,
                      resting: list[RestingStop], report: ProtectionReport) -> None:
        """Bring ours resting to one stop per hedge (see the module docstring)."""
        rule = self._rule()
        markets = {m.symbol: m for m in snapshot.markets.values() if m is not None}
        held: dict[str, tuple[str, Decimal]] = {}
        liquidations: dict[str, Decimal | None] = {}
        ticks: dict[str, Decimal | None] = {}
        marks: dict[str, Decimal] = {}
        for asset, p in positions.items():
            market = markets.get(p.symbol)
            if p.amount == 0 or market is None:
                continue
            held[asset] = (p.symbol, p.amount / market.contract_size)
            liquidations[asset] = p.liquidation_price
            ticks[asset] = self.venue.price_tick(p.symbol)
            quote = snapshot.mark_prices.get(asset)
            if quote is not None:
                marks[asset] = quote.price
        wanted = wanted_stops(held, marks, liquidations, ticks, rule)
        for asset in sorted(set(held) - set(wanted)):
            report.events.append(StopEvent(
                "unprotected", asset, held[asset][0], amount=abs(held[asset][1]),
                detail="no mark price" if asset not in marks else
                f"the exchange's liquidation price {liquidations.get(asset)} is at or behind the mark {marks[asset]}"))
        live = {s.client_order_id: s for s in self.journal.live_stops()}
        by_oid = {s.exchange_order_id: s for s in live.values() if s.exchange_order_id}
        ours = [r for r in resting if (r.client_order_id in live) or (r.order_id in by_oid)]
        actions = stop_actions(wanted, ours, rule)
        cancels = [a for a in actions if a.kind == "cancel"]
        places = [a for a in actions if a.kind == "place"]
        outcomes = await asyncio.gather(*(self._cancel(a, live, by_oid, report) for a in cancels))
        blocked = {a.symbol for a, ok in zip(cancels, outcomes) if not ok}
        todo = [a for a in places if a.symbol not in blocked]
        for a in places:
            if a.symbol in blocked:
                w = a.wanted
                report.events.append(StopEvent("waiting", w.asset, w.symbol, trigger=w.trigger, amount=w.amount,
                                               detail="the stop it replaces could not be cancelled: placed next cycle"))
        results = await asyncio.gather(*(self._place(cycle_id, i, a.wanted, markets[a.symbol].contract_size, report)
                                         for i, a in enumerate(todo)))
        for a in actions:
            if a.kind == "keep" and a.wanted is not None:
                rec = live.get(a.resting.client_order_id or "") or by_oid.get(a.resting.order_id or "")
                report.events.append(StopEvent("kept", a.wanted.asset, a.symbol, rec.client_order_id if rec else None,
                                               a.resting.trigger, a.resting.amount))
                report.stops[a.wanted.asset] = self._view(a.wanted, a.resting.trigger, marks, liquidations,
                                                          rec.client_order_id if rec else a.resting.client_order_id,
                                                          STOP_RESTING)
        for a, rec in zip(todo, results):
            want = a.wanted
            report.stops[want.asset] = self._view(want, want.trigger, marks, liquidations, rec.client_order_id,
                                                  rec.state if rec.state in (STOP_RESTING, STOP_UNKNOWN) else "missing")

    def describe(self, positions: Mapping[str, Position], snapshot: Snapshot,
                 resting: list[RestingStop]) -> dict[str, StopView]:
        """Read only (status): each hedge's resting stop, ours first, else any stop on its symbol."""
        stops = self.journal.live_stops()
        live = {s.client_order_id for s in stops} | {s.exchange_order_id for s in stops if s.exchange_order_id}
        out: dict[str, StopView] = {}
        for asset, p in positions.items():
            if p.amount == 0:
                continue
            on_symbol = [r for r in resting if r.symbol == p.symbol]
            if not on_symbol:
                continue
            r = next((r for r in on_symbol if r.client_order_id in live or r.order_id in live), on_symbol[0])
            quote = snapshot.mark_prices.get(asset)
            market = next((m for m in snapshot.markets.values() if m is not None and m.symbol == p.symbol), None)
            amount = r.amount if r.amount is not None else abs(p.amount) / (market.contract_size if market else 1)
            out[asset] = StopView(asset, p.symbol, r.side, amount, r.trigger, quote.price if quote else None,
                                  p.liquidation_price, r.client_order_id,
                                  "resting" if (r.client_order_id in live or r.order_id in live) else "not ours")
        return out

    @staticmethod
    def _view(want: WantedStop, trigger: Decimal, marks: Mapping[str, Decimal],
              liquidations: Mapping[str, Decimal | None], cid: str | None, state: str) -> StopView:
        return StopView(want.asset, want.symbol, want.side, want.amount, trigger, marks.get(want.asset),
                        liquidations.get(want.asset), cid, state)

    async def _cancel(self, action: StopAction, live: Mapping[str, StopRecord], by_oid: Mapping[str, StopRecord],
                      report: ProtectionReport) -> bool:
        """Cancel one of ours; True when it is gone from the exchange (cancelled, or no longer there)."""
        resting = action.resting
        assert resting is not None
        stop = live.get(resting.client_order_id or "") or by_oid.get(resting.order_id or "")
        if stop is None or resting.order_id is None:
            return False
        self.journal.update_stop(stop.client_order_id, STOP_CANCEL_REQUESTED, at=self.clock(),
                                 exchange_order_id=resting.order_id, reason=action.reason)
        try:
            await self.venue.cancel_stop(stop.symbol, resting.order_id)
        except OrderNotFoundError:
            # gone already: it may have fired just now
            fresh = self.journal.stop(stop.client_order_id) or stop
            await self._settle_gone_after_cancel(fresh, report)
            return True
        except VenueError as exc:
            if isinstance(exc, UnknownOutcomeError) and await self._no_longer_listed(stop, resting.order_id):
                # the cancel went through and only its answer was lost: settled now, so the replacement
                # goes out this cycle instead of leaving the hedge without a stop until the next one
                fresh = self.journal.stop(stop.client_order_id) or stop
                await self._settle_gone_after_cancel(fresh, report, reason="its cancel's answer was lost; "
                                                     "no longer on the exchange")
                return True
            self.journal.update_stop(stop.client_order_id, STOP_CANCEL_REQUESTED, at=self.clock(),
                                     error=str(exc) or type(exc).__name__)
            report.events.append(StopEvent("cancel_failed", stop.asset, stop.symbol, stop.client_order_id,
                                           stop.trigger, stop.amount, str(exc) or type(exc).__name__))
            log.warning("stop_cancel_failed", client_order_id=stop.client_order_id, error=str(exc))
            return False
        self.journal.update_stop(stop.client_order_id, STOP_CANCELED, at=self.clock())
        report.events.append(StopEvent("canceled", stop.asset, stop.symbol, stop.client_order_id, stop.trigger,
                                       stop.amount, action.reason))
        return True

    async def _no_longer_listed(self, stop: StopRecord, order_id: str) -> bool:
        """After a cancel whose outcome is unknown: True when the exchange's list of resting stops on
        the symbol no longer holds it (read once; unreadable counts as still there)."""
        listed = await self.resting([stop.symbol])
        if listed is None:
            return False
        return not any(r.order_id == order_id or r.client_order_id == stop.client_order_id for r in listed)

    async def _settle_gone_after_cancel(self, stop: StopRecord, report: ProtectionReport,
                                        reason: str = "not found when cancelled") -> None:
        cycle_id = stop.cycle_id
        try:
            fill = await self._stop_fill(stop)
        except VenueError:
            fill = None
        if fill is not None and cycle_id is not None:
            self._record_fired(cycle_id, stop, fill, report)
            return
        self.journal.update_stop(stop.client_order_id, STOP_CANCELED, at=self.clock(), reason=reason)
        report.events.append(StopEvent("canceled", stop.asset, stop.symbol, stop.client_order_id, stop.trigger,
                                       stop.amount, "the exchange no longer had it"))

    async def _place(self, cycle_id: str, index: int, want: WantedStop, contract_size: Decimal,
                     report: ProtectionReport) -> StopRecord:
        now = self.clock()
        cid = stop_client_id(cycle_id, index)
        self.journal.record_stop_intent(StopRecord(
            client_order_id=cid, cycle_id=cycle_id, asset=want.asset, symbol=want.symbol, side=want.side,
            amount=want.amount, trigger=want.trigger, created_at=now, updated_at=now, contract_size=contract_size,
            reason="capped by the liquidation price" if want.capped_by_liquidation else ""))
        try:
            order_id = await self.venue.place_stop(want.symbol, want.side, want.amount, want.trigger, cid)
        except RejectedError as exc:
            why = str(exc) or type(exc).__name__
            rec = self.journal.update_stop(cid, STOP_REJECTED, at=self.clock(), error=why)
            report.events.append(StopEvent("rejected", want.asset, want.symbol, cid, want.trigger, want.amount, why))
            log.error("stop_rejected", client_order_id=cid, symbol=want.symbol, error=why)
            return rec
        except VenueError as exc:
            why = str(exc) or type(exc).__name__
            rec = self.journal.update_stop(cid, STOP_UNKNOWN, at=self.clock(), error=why)
            report.events.append(StopEvent("unknown", want.asset, want.symbol, cid, want.trigger, want.amount,
                                           f"{why}: looked up next cycle"))
            log.warning("stop_outcome_unknown", client_order_id=cid, symbol=want.symbol, error=why)
            return rec
        rec = self.journal.update_stop(cid, STOP_RESTING, at=self.clock(), exchange_order_id=order_id)
        report.events.append(StopEvent("placed", want.asset, want.symbol, cid, want.trigger, want.amount,
                                       "capped by the liquidation price" if want.capped_by_liquidation else ""))
        log.info("stop_placed", client_order_id=cid, symbol=want.symbol, side=want.side, amount=str(want.amount),
                 trigger=str(want.trigger))
        return rec


def _same_stop(resting: RestingStop, stop: StopRecord) -> bool:
    """A listed stop without a client id (MEXC) that is the journaled one: same symbol, side and trigger."""
    if resting.symbol != stop.symbol or resting.side != stop.side:
        return False
    if resting.amount is not None and resting.amount != stop.amount:
        return False
    return abs(resting.trigger - stop.trigger) <= stop.trigger * Decimal("0.0001")
