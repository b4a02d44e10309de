"""Ledger arithmetic for `rebalancer pnl`: realised hedge P&L, funding, fees and net per asset and per day.

Pure: no I/O, no clock. The input is the money ledger (every trade and funding payment the exchange
reported, stored once each, and one 'opening' row per symbol: the position and entry price it had when
the ledger started reading it) and the exchange's current positions. Realised P&L is average cost per
symbol, the local exchange's own `fill_position` rule: growing averages the entry, reducing realises
`closed * (price - entry) * side` and keeps the entry, a flip opens the rest at the fill price. Decimal
everywhere; a number that cannot be known (a trade without side or price, a fee in another currency,
an opening entry that cannot be recovered) is None, never 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from ..domain import Position

__all__ = [
    "AssetPnl",
    "DayPnl",
    "LedgerEntry",
    "entry_order",
    "PnlSummary",
    "Replay",
    "fill_position",
    "opening_before",
    "replay",
    "summarise",
]

ZERO = Decimal(0)

KIND_TRADE = "trade"
KIND_FUNDING = "funding"
KIND_OPENING = "opening"


@dataclass(frozen=True)
class LedgerEntry:
    """One row of the ledger. Trades: `amount` in contracts (unsigned) with `side`, `price`, `fee`
    (> 0 paid); funding: `funding` (> 0 received) in `currency`; opening: `amount` the signed position in
    base units (contract_size 1) and `price` its entry (None: not recoverable)."""

    venue: str
    kind: str
    entry_id: str
    symbol: str
    asset: str
    at: datetime
    side: str | None = None
    amount: Decimal | None = None
    price: Decimal | None = None
    contract_size: Decimal = Decimal(1)
    fee: Decimal | None = None
    fee_currency: str | None = None
    funding: Decimal | None = None
    currency: str | None = None
    order_id: str | None = None
    client_order_id: str | None = None
    cycle_id: str | None = None

    @property
    def delta(self) -> Decimal | None:
        """A trade's signed change of the position in base units (None: side or amount unknown)."""
        if self.amount is None or self.side not in ("buy", "sell"):
            return None
        base = self.amount * self.contract_size
        return base if self.side == "buy" else -base


def _id_key(value: str | None) -> tuple[int, int, str]:
    """Exchange ids compare as numbers where they are numbers (order ids grow with time on every
    supported venue), else as text."""
    text = value or ""
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def entry_order(e: LedgerEntry) -> tuple:
    """The order the ledger replays entries in: time, then (for rows stamped in the same instant, as
    BingX's fills are, to the second) the exchange's order id and the entry's id."""
    return (e.at, e.kind, _id_key(e.order_id), _id_key(e.entry_id))


def _sign(x: Decimal) -> int:
    return (x > 0) - (x < 0)


def fill_position(amount: Decimal, entry: Decimal, delta: Decimal, price: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """A signed fill `delta` at `price` on a one-way position: (amount, entry, realised). The same rule as
    the local exchange's engine (exchange_sim.engine.fill_position)."""
    new_amount = amount + delta
    if amount == 0 or _sign(amount) == _sign(delta):
        return new_amount, (abs(amount) * entry + abs(delta) * price) / abs(new_amount), ZERO
    closed = min(abs(delta), abs(amount))
    realised = closed * (price - entry) * _sign(amount)
    if new_amount == 0:
        return ZERO, ZERO, realised
    if _sign(new_amount) == _sign(amount):
        return new_amount, entry, realised
    return new_amount, price, realised


def opening_before(amount_now: Decimal, entry_now: Decimal | None,
                   fills: Sequence[tuple[Decimal, Decimal]]) -> tuple[Decimal, Decimal | None]:
    """The position (base units) and entry price before `fills` = [(delta, price), ...] (oldest first)
    given the position after them: the amount is `amount_now - sum(deltas)`; the entry is solved back
    through the average-cost rule (the entry after each fill is affine in the entry before), None when
    the fills make it unrecoverable (the position went flat or flipped) or the exchange gave no entry."""
    amount0 = amount_now - sum((d for d, _ in fills), ZERO)
    if amount0 == 0:
        return amount0, ZERO
    # entry_k = alpha * entry0 + beta while the position keeps its side; alpha 0 once reset.
    alpha, beta, amount = Decimal(1), ZERO, amount0
    for delta, price in fills:
        new_amount = amount + delta
        if amount == 0:
            alpha, beta = ZERO, price
        elif _sign(amount) == _sign(delta):
            alpha, beta = abs(amount) * alpha / abs(new_amount), (abs(amount) * beta + abs(delta) * price) / abs(new_amount)
        elif new_amount == 0:
            alpha, beta = ZERO, ZERO
        elif _sign(new_amount) != _sign(amount):
            alpha, beta = ZERO, price
        amount = new_amount
    if not fills:
        return amount0, entry_now
    if alpha == 0 or entry_now is None:
        return amount0, None
    return amount0, (entry_now - beta) / alpha


@dataclass(frozen=True)
class Replay:
    """The average-cost replay of one symbol: realised P&L per trade (None: unknown) and the end state."""

    realised: tuple[tuple[LedgerEntry, Decimal | None], ...]
    amount: Decimal | None
    entry: Decimal | None


def replay(opening: LedgerEntry | None, trades: Iterable[LedgerEntry]) -> Replay:
    """Average cost from the opening row through `trades` (oldest first). Once a step is unknown (no
    side, no price, the opening's entry needed but missing) every later realised figure of the symbol
    is unknown too, until the position is flat again (from flat the entry is known: the next price)."""
    amount: Decimal | None = opening.amount if opening is not None and opening.amount is not None else ZERO
    entry: Decimal | None = opening.price if opening is not None else ZERO
    if amount == 0:
        entry = ZERO
    out: list[tuple[LedgerEntry, Decimal | None]] = []
    for t in trades:
        delta = t.delta
        if delta is None or t.price is None or amount is None:
            out.append((t, None))
            amount, entry = None, None
            continue
        if entry is None and amount != 0:
            new_amount = amount + delta
            if _sign(amount) == _sign(delta):  # growing an unknown entry realises nothing, stays unknown
                out.append((t, ZERO))
            else:  # reducing it: the realised figure is unknown; flat or flipped, the entry is known again
                out.append((t, None))
                entry = ZERO if new_amount == 0 else (t.price if _sign(new_amount) != _sign(amount) else None)
            amount = new_amount
            continue
        if entry is None:
            entry = ZERO
        amount, entry, realised = fill_position(amount, entry, delta, t.price)
        out.append((t, realised))
    return Replay(tuple(out), amount, entry)


# --------------------------------------------------------------------------- the summary


@dataclass(frozen=True)
class AssetPnl:
    """One asset's figures over the window (unrealised: now). `unrealised_source` says where the
    unrealised figure came from: "exchange" (the position's reported uPnL), "mark" (mark vs entry,
    computed here), None (no position: 0, or unknown: unrealised None)."""

    asset: str
    symbol: str
    realised: Decimal | None
    unrealised: Decimal | None
    funding: Decimal | None
    fees: Decimal | None
    unrealised_source: str | None = None

    @property
    def net(self) -> Decimal | None:
        """realised + funding - fees (unrealised is not in it)."""
        return _net(self.realised, self.funding, self.fees)


@dataclass(frozen=True)
class DayPnl:
    """One UTC day of one asset."""

    day: date
    asset: str
    realised: Decimal | None
    funding: Decimal | None
    fees: Decimal | None

    @property
    def net(self) -> Decimal | None:
        return _net(self.realised, self.funding, self.fees)


@dataclass(frozen=True)
class PnlSummary:
    """Per asset, in total and per day, from `since` (None: since the ledger started)."""

    since: datetime | None
    quote: str
    assets: tuple[AssetPnl, ...]
    days: tuple[DayPnl, ...]

    @property
    def total(self) -> AssetPnl:
        return AssetPnl(
            asset="total", symbol="",
            realised=_sum(a.realised for a in self.assets),
            unrealised=_sum(a.unrealised for a in self.assets),
            funding=_sum(a.funding for a in self.assets),
            fees=_sum(a.fees for a in self.assets),
            unrealised_source=None,
        )


def _net(realised: Decimal | None, funding: Decimal | None, fees: Decimal | None) -> Decimal | None:
    if realised is None or funding is None or fees is None:
        return None
    return realised + funding - fees


def _sum(values: Iterable[Decimal | None]) -> Decimal | None:
    total = ZERO
    for v in values:
        if v is None:
            return None
        total += v
    return total


def _add(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return None if a is None or b is None else a + b


def _fee(t: LedgerEntry, quote: str) -> Decimal | None:
    """A trade's fee in the quote currency (> 0 paid); None when unreported or in another currency."""
    if t.fee is None or (t.fee_currency not in (None, "", quote)):
        return None
    return t.fee


def _funding(f: LedgerEntry, quote: str) -> Decimal | None:
    if f.funding is None or (f.currency not in (None, "", quote)):
        return None
    return f.funding


def unrealised_of(position: Position | None, mark: Decimal | None,
                  contract_size: Decimal = Decimal(1)) -> tuple[Decimal | None, str | None]:
    """(unrealised, source) of a position: the exchange's figure, else (mark - entry) * amount."""
    if position is None or position.amount == 0:
        return ZERO, None
    if position.unrealized_pnl is not None:
        return position.unrealized_pnl, "exchange"
    if mark is not None and position.entry_price is not None:
        return (mark - position.entry_price) * position.amount, "mark"
    return None, None


def summarise(entries: Iterable[LedgerEntry], positions: Mapping[str, Position] | None = None, *,
              quote: str, since: datetime | None = None, marks: Mapping[str, Decimal] | None = None) -> PnlSummary:
    """The ledger's figures per asset (realised, funding, fees from `since` on; unrealised now) and per
    UTC day. The average cost is replayed from each symbol's opening row whatever `since` is; entries
    older than their symbol's opening are not the ledger's (ignored)."""
    positions = positions or {}
    marks = marks or {}
    by_symbol: dict[str, list[LedgerEntry]] = {}
    for e in entries:
        by_symbol.setdefault(e.symbol, []).append(e)
    assets: dict[str, AssetPnl] = {}
    days: dict[tuple[date, str], list[Decimal | None]] = {}

    def day_add(at: datetime, asset: str, col: int, value: Decimal | None) -> None:
        row = days.setdefault((at.date(), asset), [ZERO, ZERO, ZERO])
        row[col] = _add(row[col], value)

    for symbol, rows in sorted(by_symbol.items()):
        openings = [e for e in rows if e.kind == KIND_OPENING]
        opening = min(openings, key=lambda e: e.at) if openings else None
        start = opening.at if opening is not None else None
        ordered = sorted((e for e in rows if e.kind != KIND_OPENING and (start is None or e.at >= start)),
                         key=entry_order)
        trades = [e for e in ordered if e.kind == KIND_TRADE]
        asset = rows[0].asset
        realised: Decimal | None = ZERO
        fees: Decimal | None = ZERO
        funding: Decimal | None = ZERO
        for t, r in replay(opening, trades).realised:
            if since is not None and t.at < since:
                continue
            fee = _fee(t, quote)
            realised, fees = _add(realised, r), _add(fees, fee)
            day_add(t.at, asset, 0, r)
            day_add(t.at, asset, 2, fee)
        for f in (e for e in ordered if e.kind == KIND_FUNDING):
            if since is not None and f.at < since:
                continue
            amount = _funding(f, quote)
            funding = _add(funding, amount)
            day_add(f.at, asset, 1, amount)
        position = positions.get(asset)
        unrealised, source = unrealised_of(position, marks.get(asset))
        assets[asset] = AssetPnl(asset, symbol, realised, unrealised, funding, fees, source)
    for asset, position in positions.items():  # held but never in the ledger (read failed so far)
        if asset not in assets and position.amount != 0:
            unrealised, source = unrealised_of(position, marks.get(asset))
            assets[asset] = AssetPnl(asset, position.symbol, None, unrealised, None, None, source)
    day_rows = tuple(DayPnl(d, a, *values) for (d, a), values in sorted(days.items()))
    return PnlSummary(since=since, quote=quote, assets=tuple(assets[a] for a in sorted(assets)), days=day_rows)
