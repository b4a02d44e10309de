"""`rebalancer report`: the document behind `--json`, the tables and the HTML report (issue 15), read from
the journal: what synthetic rebalancing cost (the ledger: perp fees, funding, hedge P&L) against what the
same adjustments done as spot trades would have cost (core.costs: spot fees, realised gains, tax).

I/O here is reading the journal only; the figures come from core.pnl.summarise (the synthetic side) and
core.costs.spot_equivalent (the spot side). Where the inputs come from:

- the adjustments: every journaled order with a fill (`filled` > 0, in base units, + bought), at its
  creation time; rebalance, unwind and fired protective stops alike (each moved the hedge book);
- the spot price of an adjustment: the spot price its cycle's snapshot saw, recovered from the cycle's
  plan (`spot_value` / the snapshot's holding of the asset). Where the asset had no spot holding, the
  snapshot's mark stands in (DOMAIN: mark stands in for a missing spot price); a fired stop, recognised by
  a later cycle, is priced at its own fill (the spot price when it fired is not recorded). Each trade's
  `price_source` says which ("spot", "mark", "fill"); no price at all is null and so is its fee;
- the starting holdings: the earliest executing cycle's snapshot, at `costs.cost_basis`;
- the funding cost per day for the break-even: the risk gate's `funding_cost_per_day` of the latest
  executing cycle whose post-trade book is what the exchange holds (outcome done, nothing_to_do or denied).

Every executing cycle is replayed whatever `since` is (the portfolio's state needs it); figures count from
`since` on. Decimals are strings, times ISO-8601 UTC, an unknown figure is null, never 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from .core.costs import (
    Adjustment,
    SpotRoute,
    add,
    breakeven_days,
    saving,
    spot_cost,
    spot_equivalent,
    synthetic_cost,
    tax_on,
)
from .core.pnl import KIND_FUNDING, KIND_OPENING, KIND_TRADE, LedgerEntry, PnlSummary, _fee, _funding, summarise
from .domain import Position

__all__ = ["adjustments_from_journal", "build_report", "start_holdings"]

ZERO = Decimal(0)
SETTLED = ("done", "nothing_to_do", "denied")  # outcomes whose post-trade book is the exchange's book


def _s(value: Decimal | None) -> str | None:
    from .render import decimal_text

    return None if value is None else decimal_text(value)


def _t(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(timezone.utc).isoformat()


def _dec(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        out = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return out if out.is_finite() else None


def _snapshot_of(cycle: Any) -> dict:
    """The snapshot summary a finished cycle kept (service.snapshot_summary), or {}."""
    result = cycle.result or {}
    return result.get("snapshot") or cycle.snapshot_summary or {}


def _cycle_prices(cycle: Any) -> dict[str, tuple[Decimal, str]]:
    """{asset: (spot price, source)} of what the cycle saw: its plan's spot value over the snapshot's
    holding ("spot"), else the snapshot's mark ("mark")."""
    snap = _snapshot_of(cycle)
    holdings = snap.get("holdings") or {}
    marks = snap.get("marks") or {}
    out: dict[str, tuple[Decimal, str]] = {}
    for line in (cycle.plan or {}).get("assets") or []:
        asset = line.get("asset")
        value, amount = _dec(line.get("spot_value")), _dec(holdings.get(asset))
        if value is not None and amount:
            out[asset] = (value / amount, "mark" if line.get("valued_at_mark") else "spot")
    for asset, mark in marks.items():
        price = _dec(mark)
        if asset not in out and price is not None:
            out[asset] = (price, "mark")
    return out


def adjustments_from_journal(cycles: Iterable[Any], orders: Iterable[Any]) -> list[tuple[Adjustment, str]]:
    """Every filled order as an Adjustment (signed base units at the spot price), with its price source."""
    by_id = {c.id: c for c in cycles}
    prices: dict[str, dict[str, tuple[Decimal, str]]] = {}
    out: list[tuple[Adjustment, str]] = []
    for o in orders:
        filled = o.base_filled
        if not filled:
            continue
        cycle = by_id.get(o.cycle_id)
        if o.cycle_id not in prices:
            prices[o.cycle_id] = _cycle_prices(cycle) if cycle is not None else {}
        price, source = prices[o.cycle_id].get(o.asset, (None, "none"))
        if o.leg == "stop" or price is None:
            price, source = (o.average, "fill") if o.average is not None else (None, "none")
        signed = filled if o.side.value == "buy" else -filled
        out.append((Adjustment(o.created_at, o.asset, signed, price, o.client_order_id), source))
    return out


def start_holdings(cycles: Iterable[Any]) -> tuple[dict[str, Decimal], datetime | None]:
    """The spot holdings (base units) of the earliest executing cycle with a snapshot, and its time."""
    for c in sorted(cycles, key=lambda c: c.started_at):
        snap = _snapshot_of(c)
        if c.execute and snap.get("holdings") is not None:
            return {a: v for a, q in snap["holdings"].items() if (v := _dec(q)) is not None}, c.started_at
    return {}, None


def _funding_cost_per_day(cycles: list[Any]) -> tuple[Decimal | None, Any]:
    for c in sorted(cycles, key=lambda c: c.started_at, reverse=True):
        if c.execute and c.verdict is not None and c.outcome in SETTLED:
            return _dec(c.verdict.get("funding_cost_per_day")), c
    return None, None


def _ledger_window(entries: Iterable[LedgerEntry], since: datetime | None) -> list[LedgerEntry]:
    """The trades and funding summarise counts: from their symbol's opening row and `since` on, in order."""
    rows = list(entries)
    opened: dict[str, datetime] = {}
    for e in rows:
        if e.kind == KIND_OPENING and (e.symbol not in opened or e.at < opened[e.symbol]):
            opened[e.symbol] = e.at
    return sorted((e for e in rows if e.kind in (KIND_TRADE, KIND_FUNDING)
                   and (e.symbol not in opened or e.at >= opened[e.symbol]) and (since is None or e.at >= since)),
                  key=lambda e: e.at)


def _cost_series(ledger: list[LedgerEntry], route: SpotRoute, quote: str) -> list[dict[str, Any]]:
    """Cumulative cost of each route after each ledger entry and each counted spot trade, ascending time."""
    events: list[tuple[datetime, int, Any]] = [(e.at, 0, e) for e in ledger]
    events += [(t.adjustment.at, 1, t) for t in route.trades if t.counted]
    events.sort(key=lambda ev: (ev[0], ev[1]))
    synth_fees: Decimal | None = ZERO
    synth_funding: Decimal | None = ZERO
    spot_fees: Decimal | None = ZERO
    gains: Decimal | None = ZERO
    out = []
    for at, kind, item in events:
        if kind == 0:
            if item.kind == KIND_TRADE:
                synth_fees = add(synth_fees, _fee(item, quote))
            else:
                synth_funding = add(synth_funding, _funding(item, quote))
        else:
            spot_fees, gains = add(spot_fees, item.fee), add(gains, item.realised)
        out.append({"at": _t(at), "synthetic": _s(synthetic_cost(synth_fees, synth_funding)),
                    "spot_equivalent": _s(spot_cost(spot_fees, tax_on(gains, route.tax_rate)))})
    return out


def _funding_series(ledger: list[LedgerEntry], quote: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    totals: dict[str, Decimal | None] = {}
    for e in ledger:
        if e.kind != KIND_FUNDING:
            continue
        totals[e.asset] = add(totals.get(e.asset, ZERO), _funding(e, quote))
        out.setdefault(e.asset, []).append({"at": _t(e.at), "cumulative": _s(totals[e.asset])})
    return out


def _weight_series(cycles: list[Any], since: datetime | None) -> dict[str, list[dict[str, Any]]]:
    """Per executing cycle with a plan: each asset's effective weight before the cycle traded, and its target."""
    out: dict[str, list[dict[str, Any]]] = {}
    for c in sorted(cycles, key=lambda c: c.started_at):
        if not c.execute or c.plan is None or (since is not None and c.started_at < since):
            continue
        for line in c.plan.get("assets") or []:
            out.setdefault(line["asset"], []).append(
                {"at": _t(c.started_at), "effective": line.get("effective_weight"), "target": line.get("target_weight")})
    return out


def _pnl(realised: Decimal | None, unrealised: Decimal | None) -> Decimal | None:
    return add(realised, unrealised)


def _synthetic_json(line: Any) -> dict[str, Any]:
    return {"fees": _s(line.fees), "funding": _s(line.funding), "pnl": _s(_pnl(line.realised, line.unrealised)),
            "realised": _s(line.realised), "unrealised": _s(line.unrealised),
            "cost": _s(synthetic_cost(line.fees, line.funding))}


def build_report(settings: Any, journal: Any, *, since: datetime | None = None, now: datetime | None = None,
                 positions: Mapping[str, Position] | None = None) -> dict[str, Any]:
    """The `rebalancer report --json` document (see the module doc and docs/operations.md)."""
    now = now or datetime.now(timezone.utc)
    quote = settings.portfolio.quote
    costs = settings.costs
    venue_name = settings.hedge_venue()[0]
    cycles = journal.cycles()
    orders = journal.orders()
    entries = journal.ledger_entries(venue_name)

    summary: PnlSummary = summarise(entries, positions, quote=quote, since=since)
    pairs = adjustments_from_journal(cycles, orders)
    holdings, started = start_holdings(cycles)
    basis = {a: Decimal(v) for a, v in costs.cost_basis.items()}
    route = spot_equivalent([a for a, _ in pairs], holdings, basis, method=costs.method,
                            spot_fee_rate=costs.spot_fee_rate, tax_rate=costs.tax_rate, since=since)
    sources = {a.ref: src for a, src in pairs}

    total = summary.total
    synth_cost = synthetic_cost(total.fees, total.funding)
    saved = saving(route.cost, synth_cost)
    per_day, basis_cycle = _funding_cost_per_day(cycles)
    if positions is not None and not any(p.amount for p in positions.values()):
        per_day = ZERO  # nothing held: nothing to pay
    synthetic_by = {a.asset: a for a in summary.assets}
    spot_by = {a.asset: a for a in route.assets}
    assets = []
    for asset in sorted(set(synthetic_by) | {a for a in spot_by if spot_by[a].trades}):
        line = synthetic_by.get(asset)
        spot = spot_by.get(asset)
        synthetic = _synthetic_json(line) if line is not None else {
            "fees": None, "funding": None, "pnl": None, "realised": None, "unrealised": None, "cost": None}
        spot_doc = {"fees": _s(spot.fees), "realized_gains": _s(spot.realized_gains), "tax": _s(spot.tax),
                    "cost": _s(spot_cost(spot.fees, spot.tax)), "trades": spot.trades,
                    "cost_basis": _s(spot.cost_basis), "holding": _s(spot.holding)} if spot is not None else {
            "fees": "0", "realized_gains": "0", "tax": "0", "cost": "0", "trades": 0,
            "cost_basis": _s(basis.get(asset)), "holding": _s(holdings.get(asset))}
        a_saving = saving(spot_cost(spot.fees, spot.tax) if spot is not None else ZERO,
                          synthetic_cost(line.fees, line.funding) if line is not None else None)
        assets.append({"asset": asset, "synthetic": synthetic, "spot_equivalent": spot_doc, "saving": _s(a_saving)})

    notes = []
    for asset, held in sorted(holdings.items()):
        if held and asset not in basis and asset != quote and spot_by.get(asset) and spot_by[asset].trades:
            notes.append(f"{asset}: no [costs.cost_basis] entry: gains on sales from the starting holding are unknown")
    priced = [t for t in route.trades if t.counted]
    for source, text in (("mark", "priced at the mark (no spot holding to value)"),
                         ("fill", "priced at their own fill (fired stops, or no cycle price)"),
                         ("none", "without any price (their fees and gains are unknown)")):
        n = sum(1 for t in priced if sources.get(t.adjustment.ref) == source)
        if n:
            notes.append(f"{n} adjustment(s) {text}")
    if total.unrealised is None and any(p.amount for p in (positions or {}).values()):
        notes.append("the hedges' unrealised P&L is unknown: pnl is null")

    ledger = _ledger_window(entries, since)
    return {
        "generated_at": _t(now),
        "since": _t(since),
        "quote": quote,
        "method": costs.method,
        "spot_fee_rate": _s(costs.spot_fee_rate),
        "tax_rate": _s(costs.tax_rate),
        "start": {"at": _t(started), "holdings": {a: _s(q) for a, q in sorted(holdings.items())},
                  "cost_basis": {a: _s(v) for a, v in sorted(basis.items())}},
        "synthetic": _synthetic_json(total),
        "spot_equivalent": {"fees": _s(route.fees), "realized_gains": _s(route.realized_gains), "tax": _s(route.tax),
                            "cost": _s(route.cost)},
        "saving": _s(saved),
        "breakeven_days": _s(breakeven_days(saved, per_day)),
        "funding_cost_per_day": _s(per_day),
        "funding_cost_at": _t(basis_cycle.started_at) if basis_cycle is not None and per_day is not None else None,
        "assets": assets,
        "trades": [{"at": _t(t.adjustment.at), "asset": t.adjustment.asset, "amount": _s(t.adjustment.amount),
                    "price": _s(t.adjustment.price), "price_source": sources.get(t.adjustment.ref),
                    "notional": _s(t.notional), "fee": _s(t.fee), "realized_gain": _s(t.realised),
                    "holding_after": _s(t.holding_after), "client_order_id": t.adjustment.ref}
                   for t in route.trades if t.counted],
        "notes": notes,
        "series": {
            "weights": _weight_series(cycles, since),
            "costs": _cost_series(ledger, route, quote),
            "funding": _funding_series(ledger, quote),
        },
    }
