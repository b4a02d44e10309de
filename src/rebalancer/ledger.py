"""The money ledger's reads: each sync stores, since the last one, the hedge account's trades (with their
commission) and funding payments as the exchange reports them, each exactly once.

Every entry is keyed by the exchange's own id (a trade id, a funding payment id; a deterministic hash
of its fields where the venue gives none), stored with INSERT ... ON CONFLICT DO NOTHING, so each read
can open a little before the last one (`REREAD`, or the clock offset when larger) and a crash, a
restart or a failed read never counts anything twice. A symbol's first read also stores its 'opening'
row: the position (base units) and entry price it had where the ledger starts reading it (the journal's
first cycle, or now), solved back from the position the exchange reports and the trades read since
then, so realised P&L has a starting average cost (core/pnl.py).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog

from .core.pnl import KIND_FUNDING, KIND_OPENING, KIND_TRADE, LedgerEntry, entry_order, opening_before
from .domain import Position
from .venues.errors import VenueError

__all__ = ["REREAD", "LedgerSync", "sync_ledger"]

log = structlog.get_logger("rebalancer.ledger")

REREAD = timedelta(minutes=10)  # each read opens this much before the cursor (or the clock offset, if larger)
FILL_MARGIN = timedelta(seconds=10)  # CcxtVenue.fills_since opens this much (plus the offset) before `since`


@dataclass(frozen=True)
class LedgerSync:
    """What one sync added: new trade and funding rows, and the reads that failed (their cursors stay)."""

    trades: int
    funding: int
    errors: tuple[str, ...] = ()


def _offset(venue: Any) -> timedelta:
    client = getattr(venue, "hedge_client", None)
    ms = (getattr(client, "options", None) or {}).get("timeDifference", 0) or 0
    try:
        return timedelta(milliseconds=abs(int(ms)))
    except (TypeError, ValueError):
        return timedelta()


def _id_text(value: Any) -> str | None:
    """An exchange id as text: MEXC's funding ids come back as floats (1000000003.0)."""
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def synthetic_id(prefix: str, *parts: Any) -> str:
    """A deterministic id for an entry the exchange gives none (BingX fills): the same entry read again
    gets the same id. `parts` include the entry's rank among identical rows of one read."""
    text = "|".join("" if p is None else (format(p, "f") if isinstance(p, Decimal) else str(p)) for p in parts)
    return f"{prefix}-" + hashlib.sha256(text.encode()).hexdigest()[:24]


async def sync_ledger(venue: Any, journal: Any, *, venue_name: str, positions: Mapping[str, Position] | None,
                      now: datetime, cycle_id: str | None = None) -> LedgerSync:
    """Read and store the hedge account's trades and funding since the last sync. Never raises for a
    VenueError: it is logged and returned in `errors`, and that read's cursor stays where it was. Also
    fills the fee of journaled orders that have none from the ledger's trades (orders settled at restart).
    `positions` (by asset) are the exchange's positions as of `now` (None: read here); they are used
    only for a symbol's opening row, on its first read."""
    markets = dict(getattr(venue, "markets", None) or {})
    errors: list[str] = []
    if not markets:
        return LedgerSync(0, 0)
    if positions is None:
        try:
            positions = await venue.positions()
        except VenueError as exc:
            log.warning("ledger_read_failed", read="positions", error=str(exc))
            return LedgerSync(0, 0, (f"positions: {exc}",))
    offset = _offset(venue)
    reread = max(REREAD, offset)
    origin = journal.ledger_origin() or now
    origin = min(origin, now)

    trades_added = 0
    results = await asyncio.gather(*(
        _sync_symbol_trades(venue, journal, venue_name, asset, market, positions.get(asset), now, origin,
                            reread, offset, cycle_id)
        for asset, market in sorted(markets.items())), return_exceptions=True)
    ready: dict[str, tuple[str, datetime]] = {}  # symbol -> (asset, opening time) of symbols read fine
    for (asset, market), outcome in zip(sorted(markets.items()), results):
        if isinstance(outcome, VenueError):
            log.warning("ledger_read_failed", read="trades", symbol=market.symbol, error=str(outcome))
            errors.append(f"trades {market.symbol}: {outcome}")
            continue
        if isinstance(outcome, BaseException):
            raise outcome
        added, opened_at = outcome
        trades_added += added
        ready[market.symbol] = (asset, opened_at)

    funding_added = 0
    if ready:
        try:
            funding_added = await _sync_funding(venue, journal, venue_name, ready, now, reread, cycle_id)
        except VenueError as exc:
            log.warning("ledger_read_failed", read="funding", error=str(exc))
            errors.append(f"funding: {exc}")
    try:
        journal.fill_order_fees_from_ledger(venue_name, at=now)
    except Exception as exc:  # bookkeeping only: the ledger itself is stored
        log.warning("ledger_fee_backfill_failed", error=str(exc))
        errors.append(f"order fees: {exc}")
    if trades_added or funding_added:
        log.info("ledger_synced", trades=trades_added, funding=funding_added, errors=len(errors))
    return LedgerSync(trades_added, funding_added, tuple(errors))


async def _sync_symbol_trades(venue: Any, journal: Any, venue_name: str, asset: str, market: Any,
                              position: Position | None, now: datetime, origin: datetime, reread: timedelta,
                              offset: timedelta, cycle_id: str | None) -> tuple[int, datetime]:
    """One symbol's trades since its cursor (its first read: since `origin`, with its opening row).
    Returns (rows added, the symbol's opening time)."""
    symbol = market.symbol
    size = Decimal(market.contract_size or 1)
    cursor = journal.ledger_cursor(venue_name, KIND_TRADE, symbol)
    opening = next(iter(journal.ledger_entries(venue_name, kind=KIND_OPENING, symbol=symbol)), None)
    if cursor is None or opening is None:
        since = origin
        opened_at = since - offset - FILL_MARGIN  # where fills_since really starts reading
    else:
        opened_at = opening.at
        since = max(cursor - reread, opened_at + offset + FILL_MARGIN)
    fills = await venue.fills_since(symbol, since)
    fills = [f for f in fills if f.at >= opened_at]
    sides = await _sides(venue, journal, symbol, fills)
    entries: list[LedgerEntry] = []
    seen: dict[tuple, int] = {}
    for f in sorted(fills, key=lambda f: (f.at, f.order_id, f.trade_id or "")):
        side = f.side or (sides.get(f.order_id) or (None, None, None))[0] or None
        _, known_cid, known_cycle = sides.get(f.order_id) or (None, None, None)
        entry_id = _id_text(f.trade_id)
        if entry_id is None:
            key = (f.order_id, f.at, f.amount, f.price, f.fee)
            rank = seen[key] = seen.get(key, -1) + 1
            entry_id = synthetic_id("fill", symbol, f.order_id, f.at.isoformat(), f.amount, f.price, f.fee, rank)
        entries.append(LedgerEntry(
            venue=venue_name, kind=KIND_TRADE, entry_id=entry_id, symbol=symbol, asset=asset, at=f.at,
            side=side, amount=f.amount, price=f.price, contract_size=size, fee=f.fee,
            fee_currency=f.fee_currency, order_id=f.order_id, client_order_id=f.client_order_id or known_cid,
            cycle_id=known_cycle if known_cycle is not None else None,
        ))
    entries.sort(key=entry_order)
    if opening is None:
        amount_now = position.amount if position is not None else Decimal(0)
        entry_now = position.entry_price if position is not None else None
        before = [e for e in entries if e.at <= now]
        if any(e.delta is None or e.price is None for e in before):
            amount0, entry0 = amount_now - sum((e.delta or 0 for e in before), Decimal(0)), None
        else:
            amount0, entry0 = opening_before(amount_now, entry_now, [(e.delta, e.price) for e in before])  # type: ignore[misc]
        entries.insert(0, LedgerEntry(
            venue=venue_name, kind=KIND_OPENING, entry_id=symbol, symbol=symbol, asset=asset, at=opened_at,
            amount=amount0, price=entry0, contract_size=Decimal(1), cycle_id=cycle_id,
        ))
    added = journal.record_ledger(venue_name, entries, cursors={(KIND_TRADE, symbol): now}, at=now)
    return added.get(KIND_TRADE, 0), opened_at


async def _sides(venue: Any, journal: Any, symbol: str, fills: list[Any]) -> dict[str, tuple[Any, Any, Any]]:
    """(side, client id, cycle id) per order id for fills whose row carries no side (BingX): the journal's
    order first, else the exchange's order (CcxtVenue.order_side); unknown stays None."""
    missing = sorted({f.order_id for f in fills if not f.side})
    if not missing:
        return {}
    known: dict[str, tuple[Any, Any, Any]] = dict(journal.order_sides(missing))
    lookup = getattr(venue, "order_side", None)
    for order_id in (o for o in missing if o not in known):
        if lookup is None:
            break
        side = await lookup(symbol, order_id)
        if side:
            known[order_id] = (side, None, None)
    return known


async def _sync_funding(venue: Any, journal: Any, venue_name: str, ready: Mapping[str, tuple[str, datetime]],
                        now: datetime, reread: timedelta, cycle_id: str | None) -> int:
    """The funding of the symbols whose trades were read (`ready`: symbol -> (asset, opening time)),
    in one read from the earliest of their cursors; entries before a symbol's opening are not its."""
    starts = []
    for symbol, (_, opened_at) in ready.items():
        cursor = journal.ledger_cursor(venue_name, KIND_FUNDING, symbol)
        starts.append(opened_at if cursor is None else max(cursor - reread, opened_at))
    payments = await venue.funding_payments(min(starts))
    entries: list[LedgerEntry] = []
    seen: dict[tuple, int] = {}
    quote = getattr(venue, "quote", None)
    for p in payments:
        if p.symbol not in ready or p.at < ready[p.symbol][1]:
            continue
        entry_id = _id_text(p.payment_id)
        if entry_id is None:
            key = (p.symbol, p.at, p.amount)
            rank = seen[key] = seen.get(key, -1) + 1
            entry_id = synthetic_id("funding", p.symbol, p.at.isoformat(), p.amount, rank)
        entries.append(LedgerEntry(
            venue=venue_name, kind=KIND_FUNDING, entry_id=entry_id, symbol=p.symbol, asset=ready[p.symbol][0],
            at=p.at, funding=p.amount, currency=p.currency or quote, cycle_id=cycle_id,
        ))
    added = journal.record_ledger(venue_name, entries, cursors={(KIND_FUNDING, s): now for s in ready}, at=now)
    return added.get(KIND_FUNDING, 0)
