"""External-change detection: the hedge positions the exchange reports vs what the journal implies.

Pure comparison, no I/O. The journal keeps a *baseline* (the positions at the first cycle the bot
saw, or the last ones adopted) and every order sent since; the positions the bot should hold are
the baseline plus the signed fills of those orders. A difference of one amount step or more is
something the bot did not do: a manual trade, another bot on the account, a liquidation, ADL, a
fired stop. Orders whose outcome is still unknown (PENDING / UNKNOWN / OPEN) widen the accepted
range by what they may still have filled, so the bot's own unresolved order is never taken for a
stranger's.

Open orders on the hedge symbols whose client id the journal does not know are reported the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping

from .domain import OpenOrder, OrderState, Side

__all__ = [
    "PositionChange",
    "Reconciliation",
    "UnknownOrder",
    "compare_positions",
    "expected_positions",
    "fmt",
    "reconcile",
    "unknown_open_orders",
]

ZERO = Decimal(0)
UNRESOLVED = frozenset({OrderState.PENDING, OrderState.UNKNOWN, OrderState.OPEN})


def fmt(value: Decimal) -> str:
    """A plain decimal: -0.025, not -0.0250 or -2.5E-2."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


@dataclass(frozen=True)
class PositionChange:
    """A hedge position the exchange reports differently from what the journal implies (base units)."""

    symbol: str
    expected: Decimal
    actual: Decimal

    @property
    def difference(self) -> Decimal:
        return self.actual - self.expected

    def describe(self) -> str:
        return f"{self.symbol}: expected {fmt(self.expected)}, exchange has {fmt(self.actual)}"

    def to_json(self) -> dict[str, str]:
        return {"symbol": self.symbol, "expected": fmt(self.expected), "actual": fmt(self.actual),
                "difference": fmt(self.difference)}


@dataclass(frozen=True)
class UnknownOrder:
    """An open order on a hedge symbol whose client id the journal does not know."""

    symbol: str
    order_id: str | None
    client_order_id: str | None
    side: str
    amount: Decimal | None  # base units (the venue's contracts x contract size)
    price: Decimal | None

    def describe(self) -> str:
        what = f"{self.side} {fmt(self.amount) if self.amount is not None else '?'}"
        if self.price is not None:
            what += f" at {fmt(self.price)}"
        ids = ", ".join(x for x in (f"order id {self.order_id}" if self.order_id else "",
                                    f"client id {self.client_order_id}" if self.client_order_id else "") if x)
        return f"{self.symbol}: unknown open order {what}" + (f" ({ids})" if ids else "")

    @property
    def key(self) -> str:
        """What identifies it across cycles (the exchange's order id, else its client id)."""
        return str(self.order_id or self.client_order_id or "")

    def to_json(self) -> dict[str, str | None]:
        return {"symbol": self.symbol, "order_id": self.order_id, "client_order_id": self.client_order_id,
                "side": self.side, "amount": fmt(self.amount) if self.amount is not None else None,
                "price": fmt(self.price) if self.price is not None else None}


@dataclass(frozen=True)
class Reconciliation:
    """One cycle's comparison. `changes` and `unknown_orders` empty: the exchange is as journaled."""

    expected: Mapping[str, Decimal]
    actual: Mapping[str, Decimal]
    changes: tuple[PositionChange, ...] = ()
    unknown_orders: tuple[UnknownOrder, ...] = ()
    # symbol -> (low, high): the range the bot's own unresolved orders leave open
    ambiguous: Mapping[str, tuple[Decimal, Decimal]] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.changes and not self.unknown_orders

    def reason(self) -> str:
        """One line for the trading state and the alert:
        'external change on BTC/USDT:USDT: expected -0.025, exchange has -0.075'."""
        parts = [f"external change on {c.describe()}" for c in self.changes]
        parts += [f"external order on {o.describe()}" for o in self.unknown_orders]
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {"changes": [c.to_json() for c in self.changes],
                "unknown_orders": [o.to_json() for o in self.unknown_orders]}


def _signed(side: Any, amount: Decimal) -> Decimal:
    return amount if Side(getattr(side, "value", side)) is Side.BUY else -amount


def expected_positions(baseline: Mapping[str, Decimal], orders: Iterable[Any],
                       contract_sizes: Mapping[str, Decimal]) -> tuple[dict[str, Decimal], dict[str, tuple[Decimal, Decimal]]]:
    """(expected, ambiguity) per symbol in base units. `orders` are journal OrderRecords sent after
    the baseline (symbol, side, amount and filled in contracts, state); each adds its signed fill.
    An unresolved order may still fill its remainder: ambiguity[symbol] = (low, high) offsets."""
    expected = {s: Decimal(a) for s, a in baseline.items()}
    ambiguity: dict[str, tuple[Decimal, Decimal]] = {}
    for o in orders:
        size = contract_sizes.get(o.symbol, Decimal(1))
        if o.filled:
            expected[o.symbol] = expected.get(o.symbol, ZERO) + _signed(o.side, o.filled * size)
    for o in orders:
        if OrderState(o.state) in UNRESOLVED:
            _widen(ambiguity, o, contract_sizes)
    return expected, ambiguity


def _widen(ambiguity: dict[str, tuple[Decimal, Decimal]], order: Any, contract_sizes: Mapping[str, Decimal]) -> None:
    size = contract_sizes.get(order.symbol, Decimal(1))
    remaining = _signed(order.side, max(order.amount - order.filled, ZERO) * size)
    lo, hi = ambiguity.get(order.symbol, (ZERO, ZERO))
    ambiguity[order.symbol] = (lo + min(remaining, ZERO), hi + max(remaining, ZERO))


def compare_positions(expected: Mapping[str, Decimal], actual: Mapping[str, Decimal], *,
                      steps: Mapping[str, Decimal], symbols: Iterable[str] | None = None,
                      ambiguity: Mapping[str, tuple[Decimal, Decimal]] | None = None) -> tuple[PositionChange, ...]:
    """The symbols where the exchange differs from the expectation by one amount step (base units) or
    more, beyond what unresolved orders could explain. Differences under half a step are noise (a
    float round trip); a symbol without a known step compares exactly."""
    ambiguity = ambiguity or {}
    names = set(symbols) if symbols is not None else set(expected) | set(actual)
    out = []
    for symbol in sorted(names):
        e, a = expected.get(symbol, ZERO), actual.get(symbol, ZERO)
        lo, hi = ambiguity.get(symbol, (ZERO, ZERO))
        diff = a - e
        beyond = diff - hi if diff > hi else diff - lo if diff < lo else ZERO
        step = steps.get(symbol) or ZERO
        if abs(beyond) > step / 2 if step > 0 else beyond != 0:
            out.append(PositionChange(symbol, e, a))
    return tuple(out)


def unknown_open_orders(open_orders: Iterable[OpenOrder], *, symbols: Iterable[str],
                        known: Callable[[str], bool], accepted: Iterable[str] = (),
                        contract_sizes: Mapping[str, Decimal] | None = None) -> tuple[UnknownOrder, ...]:
    """Open orders on `symbols` that are not ours (`known(client_id)` False) and not already
    accepted (by exchange order id or client id, at an adoption); amounts in base units (the
    open orders count contracts: OKX ETH-USDT-SWAP 0.1 ETH each)."""
    wanted, accepted = set(symbols), set(accepted)
    out = []
    for o in open_orders:
        if o.symbol not in wanted:
            continue
        cid = o.client_order_id or None
        if cid and known(cid):
            continue
        if (o.order_id and o.order_id in accepted) or (cid and cid in accepted):
            continue
        size = (contract_sizes or {}).get(o.symbol, Decimal(1))
        out.append(UnknownOrder(symbol=o.symbol, order_id=o.order_id, client_order_id=cid, side=o.side or "?",
                                amount=o.remaining * size if o.remaining is not None else None, price=o.price))
    return tuple(sorted(out, key=lambda u: (u.symbol, u.key)))


def reconcile(*, baseline: Mapping[str, Decimal], orders: Iterable[Any], actual: Mapping[str, Decimal],
              contract_sizes: Mapping[str, Decimal], steps: Mapping[str, Decimal], symbols: Iterable[str],
              unresolved: Iterable[Any] = (), open_orders: Iterable[OpenOrder] | None = None,
              known: Callable[[str], bool] = lambda cid: False, accepted_orders: Iterable[str] = ()) -> Reconciliation:
    """The whole comparison for one cycle. `unresolved`: the journal's unresolved orders from before
    the baseline too (their fills may land after it)."""
    orders = list(orders)
    symbols = tuple(symbols)
    expected, ambiguity = expected_positions(baseline, orders, contract_sizes)
    after = {o.client_order_id for o in orders}
    for o in unresolved:
        if o.client_order_id not in after:
            _widen(ambiguity, o, contract_sizes)
    # Only the hedge symbols: a symbol dropped from the config is no longer read from the exchange.
    changes = compare_positions(expected, actual, steps=steps, symbols=symbols, ambiguity=ambiguity)
    unknown = (unknown_open_orders(open_orders, symbols=symbols, known=known, accepted=accepted_orders,
                                   contract_sizes=contract_sizes)
               if open_orders is not None else ())
    return Reconciliation(expected=expected, actual=dict(actual), changes=changes, unknown_orders=unknown,
                          ambiguous=ambiguity)
