"""What people and scripts see of a cycle: the `--json` contract of DESIGN.md and rich tables.

Decimals are strings in JSON; tables round for reading, JSON never rounds.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from .domain import Box, Finding, Plan, PlannedOrder, Skipped, Snapshot, TradingState, TradingStateInfo, Verdict
from .render import decimal_text

if TYPE_CHECKING:
    from .executor import Executed
    from .service import CycleReport


def s(value: Decimal | None) -> str | None:
    """Decimal -> JSON string without exponent noise (1E+3 -> "1000"); None stays null."""
    return None if value is None else decimal_text(value)


def finding_json(f: Finding) -> dict[str, Any]:
    return {"code": f.code, "symbol": f.symbol, "detail": f.detail}


def order_json(o: PlannedOrder, status: str = "planned") -> dict[str, Any]:
    """One order of the DESIGN.md `orders` list. `planned_amount` only where the solver, the scale or
    slicing changed the size; `denied_by` only on a denied order."""
    item: dict[str, Any] = {
        "symbol": o.symbol,
        "asset": o.asset,
        "side": o.side.value,
        "amount": s(o.amount),
        "base_amount": s(o.base_amount),
        "notional": s(o.notional),
        "price": s(o.price),
        "reduce_only": o.reduce_only,
        "leg": o.leg,
        "client_order_id": o.client_order_id,
        "status": status,
    }
    if o.planned_amount is not None:
        item["planned_amount"] = s(o.planned_amount)
    if status == "denied":
        item["denied_by"] = list(o.denied_by)
    return item


def skipped_json(k: Skipped) -> dict[str, Any]:
    return {"asset": k.asset, "symbol": k.symbol, "reason": k.reason, "notional": s(k.notional)}


def plan_to_json(p: Plan) -> dict[str, Any]:
    return {
        "nav": s(p.nav),
        "quote": p.quote,
        "nav_basis": p.nav_basis.value,
        "triggered": p.triggered,
        "planned_net": s(p.planned_net),
        "assets": [
            {
                "asset": line.asset,
                "target_weight": s(line.target_weight),
                "spot_value": s(line.spot_value),
                "perp_notional": s(line.perp_notional),
                "effective_value": s(line.effective_value),
                "effective_weight": s(line.effective_weight),
                "drift": s(line.drift),
                "target_value": s(line.target_value),
                "adjustment": s(line.adjustment),
                "hedgeable": line.hedgeable,
                **({"note": line.note} if line.note else {}),
                **({"valued_at_mark": True} if line.asset in p.valued_at_mark else {}),
            }
            for line in p.assets
        ],
        "orders": [order_json(o) for o in p.orders],
        "unhedgeable": list(p.unhedgeable),
        "skipped": [skipped_json(k) for k in p.skipped],
    }


def risk_json(v: Verdict) -> dict[str, Any]:
    """The `risk` object of the `--json` document: the gate's figures, without its orders."""
    return {
        "approved": v.all_approved,
        "state": v.state.value,
        "scale": s(v.scale),
        "denials": [finding_json(f) for f in v.denials],
        "scaled_by": [finding_json(f) for f in v.scaled_by],
        "warnings": [finding_json(f) for f in v.warnings],
        "margin_usage": s(v.margin_usage),
        "funding_cost_per_day": s(v.funding_cost_per_day),
        "stressed_equity": s(v.stressed_equity),
        "stressed_maintenance": s(v.stressed_maintenance),
        "liquidation_distances": {k: s(d) for k, d in v.liquidation_distances.items()},
        "boxes": {a: {"lo": s(b.lo), "hi": s(b.hi), "codes": list(b.codes)} for a, b in v.boxes.items()},
        "planned_net": s(v.planned_net),
        "net_residual": s(v.net_residual),
        "residual_bound": s(v.residual_bound),
        "post_trade": {a: s(x) for a, x in v.post_trade.items()},
    }


def verdict_to_json(v: Verdict) -> dict[str, Any]:
    """What the journal keeps of a verdict: `risk_json` plus the orders it lets through ("planned"),
    the legs it denied ("denied", with `denied_by`) and the legs it dropped for size."""
    return {
        **risk_json(v),
        "orders": [order_json(o) for o in v.approved] + [order_json(o, "denied") for o in v.denied],
        "skipped": [skipped_json(k) for k in v.skipped],
    }


def _executed_for(o: PlannedOrder, executed: list[Executed]) -> Executed | None:
    """What became of an approved order: matched by client id, or (no id on the verdict's order) by
    the order itself, which the executor keeps in Executed.order."""
    for e in executed:
        if o.client_order_id is not None and e.client_order_id == o.client_order_id:
            return e
    if o.client_order_id is None:
        return next((e for e in executed if e.order == o), None)
    return None


def report_orders_json(r: CycleReport) -> list[dict[str, Any]]:
    """DESIGN.md `orders`: with a verdict, its approved orders (planned; not_sent, or their final
    state with filled/average after --execute) then its denied legs; without one, the plan's orders."""
    if r.verdict is None:
        return [order_json(o) for o in r.plan.orders] if r.plan is not None else []
    orders = []
    for o in r.verdict.approved:
        e = _executed_for(o, r.executed)
        if e is None:
            orders.append(order_json(o, "not_sent" if r.execute else "planned"))
            continue
        item = order_json(replace(o, client_order_id=e.client_order_id), e.result.state.value)
        item.update(filled=s(e.result.filled), average=s(e.result.average),
                    exchange_order_id=e.result.exchange_order_id, sends=e.sends)
        if e.result.error_code or e.result.error_message:
            item.update(error_code=e.result.error_code, error=e.result.error_message)
        orders.append(item)
    orders.extend(order_json(o, "denied") for o in r.verdict.denied)
    return orders


def trading_state_of(r: CycleReport) -> TradingStateInfo | None:
    """The trading state as its owner reported it; without one, the gate's verdict.state (no reason)."""
    if r.trading_state is not None:
        return r.trading_state
    if r.verdict is not None:
        return TradingStateInfo(r.verdict.state)
    return None


def liquidation_distance(snap: Snapshot, asset: str) -> Decimal | None:
    """|liquidation - mark| / mark of the asset's position now (None without both prices)."""
    pos, mark = snap.positions.get(asset), snap.mark_prices.get(asset)
    if pos is None or pos.liquidation_price is None or mark is None or mark.price <= 0:
        return None
    return abs(pos.liquidation_price - mark.price) / mark.price


def unrealized_pnl(snap: Snapshot, asset: str) -> Decimal | None:
    """The exchange's unrealised P&L, else (mark - entry) x amount."""
    pos, mark = snap.positions.get(asset), snap.mark_prices.get(asset)
    if pos is None:
        return None
    if pos.unrealized_pnl is not None:
        return pos.unrealized_pnl
    if pos.entry_price is None or mark is None:
        return None
    return (mark.price - pos.entry_price) * pos.amount


def positions_json(snap: Snapshot) -> list[dict[str, Any]]:
    out = []
    for asset, pos in sorted(snap.positions.items()):
        if pos.amount == 0:
            continue
        mark = snap.mark_prices.get(asset)
        out.append({"asset": asset, "symbol": pos.symbol, "amount": s(pos.amount), "entry_price": s(pos.entry_price),
                    "mark_price": s(mark.price if mark else None), "unrealized_pnl": s(unrealized_pnl(snap, asset)),
                    "liquidation_price": s(pos.liquidation_price),
                    "liquidation_distance": s(liquidation_distance(snap, asset))})
    return out


def report_json(r: CycleReport, *, journaled: bool | None = None) -> dict[str, Any]:
    """The DESIGN.md `--json` document for plan, rebalance, unwind and status. A cycle that was not
    journaled (`status`, `plan`) has `cycle_id` null: there is nothing to look up."""
    journaled = r.journaled if journaled is None else journaled
    out: dict[str, Any] = {"cycle_id": r.cycle_id if journaled else None, "journaled": journaled, "kind": r.kind,
                           "execute": r.execute, "outcome": r.outcome}
    state = trading_state_of(r)
    if state is not None:
        out["trading_state"] = {"state": state.state.value, "reason": state.reason,
                                "since": state.since.isoformat() if state.since else None}
    if r.plan is not None:
        out.update(plan_to_json(r.plan))
    if r.verdict is not None:
        out["risk"] = risk_json(r.verdict)
        out["orders"] = report_orders_json(r)
        # Legs the plan could not make plus those the gate dropped for size: both stay as drift.
        skipped = list(r.plan.skipped if r.plan is not None else ())
        skipped += [k for k in r.verdict.skipped if k not in skipped]
        out["skipped"] = [skipped_json(k) for k in skipped]
    if r.snapshot is not None and r.snapshot.account is not None:
        a = r.snapshot.account
        out["account"] = {"equity": s(a.equity), "wallet": s(a.wallet), "initial_margin": s(a.initial_margin),
                          "maintenance_margin": s(a.maintenance_margin), "available": s(a.available)}
    if r.snapshot is not None and any(p.amount != 0 for p in r.snapshot.positions.values()):
        out["positions"] = positions_json(r.snapshot)
    if r.positions_after is not None:
        out["positions_after"] = {k: s(p.amount) for k, p in r.positions_after.items()}
    if r.mismatches:
        out["mismatches"] = r.mismatches
    if r.protection is not None:
        out["protection"] = r.protection.to_json()
    out.update(bookkeeping_json(r))
    if r.error:
        out["error"] = r.error
    return out


def bookkeeping_json(r: CycleReport) -> dict[str, Any]:
    """The ledger step (what the sync added, its errors, the running totals) and the margin top-up of
    an executing cycle; empty for other cycles."""
    out: dict[str, Any] = {}
    if r.ledger is not None or r.ledger_error:
        out["ledger"] = {"trades_added": r.ledger.trades if r.ledger else None,
                         "funding_added": r.ledger.funding if r.ledger else None,
                         "error": r.ledger_error or None}
        if r.pnl is not None:
            t = r.pnl.total
            out["ledger"]["total"] = {"realised": s(t.realised), "unrealised": s(t.unrealised),
                                      "funding": s(t.funding), "fees": s(t.fees), "net": s(t.net)}
    if r.top_up is not None:
        u = r.top_up
        out["top_up"] = {"state": u.state, "amount": s(u.amount), "currency": u.currency,
                         "client_id": u.client_id, "reason": u.reason, "error": u.error}
    return out


def cycle_result_json(r: CycleReport) -> dict[str, Any]:
    """What the journal keeps of a finished cycle (its orders are journaled separately)."""
    return {
        "outcome": r.outcome,
        "orders": [{"client_order_id": e.client_order_id, "state": e.result.state.value,
                    "filled": s(e.result.filled), "average": s(e.result.average), "sends": e.sends}
                   for e in r.executed],
        "positions_after": {k: s(p.amount) for k, p in (r.positions_after or {}).items()},
        "mismatches": r.mismatches,
        **({"protection": r.protection.to_json()} if r.protection is not None else {}),
        **bookkeeping_json(r),
    }


# --------------------------------------------------------------------------- tables for people


def _money(v: Decimal | None, places: int = 2) -> str:
    return "-" if v is None else f"{v:,.{places}f}"


def _pct(v: Decimal | None) -> str:
    return "-" if v is None else f"{v * 100:.2f}%"


def allocation_table(p: Plan, *, unwind: bool = False) -> Table:
    """The allocation per asset; the last column is the rebalance adjustment, or for an unwind the
    perp notional each close takes off (minus the position)."""
    t = Table(title=f"Allocation (NAV {_money(p.nav)} {p.quote}, basis {p.nav_basis.value})", title_justify="left",
              box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
    for col in ("asset", "target", "spot", "perp", "effective", "eff. %", "drift", "close" if unwind else "adjust"):
        t.add_column(col, justify="left" if col == "asset" else "right", no_wrap=True)
    for line in p.assets:
        drift = Text(_pct(line.drift), style="red" if abs(line.drift) > Decimal("0.02") else "")
        if unwind:
            adj = "-" if line.perp_notional == 0 else _money(-line.perp_notional)
        else:
            adj = "unhedgeable" if not line.hedgeable and line.asset != p.quote else _money(line.adjustment)
        t.add_row(line.asset, _pct(line.target_weight), _money(line.spot_value), _money(line.perp_notional),
                  _money(line.effective_value), _pct(line.effective_weight), drift, adj)
    return t


def orders_table(r: CycleReport, *, client_ids: bool = True) -> Table:
    """Orders with their fate (denied ones with their codes); the client order id goes last so narrow
    terminals fold only it. A resized order shows what the plan wanted after its amount; the avg
    column appears once some order has an average price."""
    orders = report_json(r).get("orders", [])
    with_avg = any(o.get("average") for o in orders)
    t = Table(title="Orders", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
    for col in ("asset", "side", "amount", "notional", "status", *(("avg",) if with_avg else ()),
                *(("client id",) if client_ids else ())):
        t.add_column(col, justify="right" if col in ("amount", "notional", "avg") else "left",
                     overflow="fold", no_wrap=col != "client id")
    for o in orders:
        status = o["status"]
        style = {"filled": "green", "denied": "red", "rejected": "red", "unknown": "yellow"}.get(status, "")
        if status == "denied" and o.get("denied_by"):
            status = "denied " + ",".join(o["denied_by"])
        elif status == "partially_filled":
            status = f"partial {o.get('filled')}"
        side = o["side"] + (" RO" if o["reduce_only"] else "")
        amount = Text(o["amount"])
        if o.get("planned_amount") is not None and o["planned_amount"] != o["amount"]:
            amount.append(f" of {o['planned_amount']}", style="dim")
        cells: list[Any] = [o["asset"], side, amount, _money(Decimal(o["notional"])), Text(status, style=style)]
        if with_avg:
            cells.append(o.get("average") or "")
        if client_ids:
            cells.append(o["client_order_id"] or "")
        t.add_row(*cells)
    return t


def scale_text(v: Verdict) -> str:
    return "1" if v.scale == 1 else f"{v.scale:.4f}"


def gate_summary(v: Verdict) -> str:
    """"Risk gate: ACTIVE", plus ", scaled to 0.2500 by MARGIN" when the common scale cut the book."""
    text = f"Risk gate: {v.state.value}"
    if v.scale < 1:
        codes = list(dict.fromkeys(f.code for f in v.scaled_by)) or ["the gate"]
        text += f", scaled to {scale_text(v)} by {', '.join(codes)}"
    return text


def risk_table(v: Verdict, quote: str = "USDT") -> Table:
    t = Table(title=gate_summary(v), title_justify="left", show_header=False)
    t.add_column("k")
    t.add_column("v")
    t.add_row("scale", scale_text(v))
    t.add_row("margin usage (post-trade)", _pct(v.margin_usage))
    funding = Text(_money(v.funding_cost_per_day, 4))
    funding.append(f" {quote}/day, + = you pay", style="dim")
    t.add_row("funding cost / day", funding)
    t.add_row("stressed equity", _money(v.stressed_equity))
    t.add_row("stressed maintenance", _money(v.stressed_maintenance))
    t.add_row("planned net (N*)", _money(v.planned_net))
    residual = Text(_money(v.net_residual), style="red" if abs(v.net_residual) > v.residual_bound else "")
    residual.append(f" (bound {_money(v.residual_bound)})", style="dim")
    t.add_row("net residual (post-trade)", residual)
    for sym, d in v.liquidation_distances.items():
        t.add_row(f"liquidation distance {sym}", _pct(d))
    for f in (*v.denials, *v.scaled_by, *v.warnings):
        t.add_row(Text(f.code, style="red"), f"{f.symbol or 'book'}: {f.detail}")
    return t


def box_text(b: Box) -> str | None:
    """Why an asset's post-trade perp notional is bounded, in money ("may not go above 0.00 (FUNDING)");
    None for an unbounded box."""
    if b.lo is None and b.hi is None:
        return None
    if b.frozen:
        where = f"frozen at {_money(b.lo)}"
    elif b.lo is None:
        where = f"may not go above {_money(b.hi)}"
    elif b.hi is None:
        where = f"may not go below {_money(b.lo)}"
    else:
        where = f"may stay between {_money(b.lo)} and {_money(b.hi)}"
    return where + (f" ({', '.join(b.codes)})" if b.codes else "")


def bounds_text(v: Verdict, quote: str) -> Text | None:
    """One line per bounded asset: how far its perp may go this cycle and which checks say so,
    e.g. "  ETH  may not go above 0.00 (FUNDING)". None when no asset is bounded."""
    rows = [(asset, text) for asset, b in v.boxes.items() if (text := box_text(b)) is not None]
    if not rows:
        return None
    width = max(len(asset) for asset, _ in rows)
    out = Text(f"Bounded this cycle (post-trade perp notional, {quote}):", style="bold")
    for asset, text in rows:
        out.append(f"\n  {asset:<{width}}  {text}")
    return out


def state_text(info: TradingStateInfo) -> Text:
    style = {TradingState.ACTIVE: "green", TradingState.REDUCING: "yellow", TradingState.HALTED: "bold red"}
    out = Text("Trading state: ", style="bold")
    out.append(info.state.value, style=style.get(info.state, ""))
    if info.reason:
        out.append(f" ({info.reason})")
    if info.since is not None:
        out.append(f" since {info.since.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC", style="dim")
    return out


def positions_table(snap: Snapshot) -> Table:
    """Open perp positions: amount (+ long, - short), entry, mark, unrealised P&L, liquidation price
    and how far the mark is from it."""
    t = Table(title=f"Positions ({snap.quote}; amount + long, - short)", title_justify="left",
              box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
    for col in ("asset", "amount", "entry", "mark", "uPnL", "liq. price", "liq. dist"):
        t.add_column(col, justify="left" if col == "asset" else "right", no_wrap=True)
    for asset, pos in sorted(snap.positions.items()):
        if pos.amount == 0:
            continue
        mark = snap.mark_prices.get(asset)
        pnl = unrealized_pnl(snap, asset)
        t.add_row(asset, decimal_text(pos.amount), _money(pos.entry_price), _money(mark.price if mark else None),
                  Text(_money(pnl), style="red" if pnl is not None and pnl < 0 else ""),
                  _money(pos.liquidation_price), _pct(liquidation_distance(snap, asset)))
    if not t.row_count:
        t.caption = "no open perp positions"
    return t


def account_text(snap: Snapshot) -> Text | None:
    a = snap.account
    if a is None:
        return None
    return Text(f"Hedge account ({snap.quote}): equity {_money(a.equity)}, available margin {_money(a.available)}\n"
                f"  wallet {_money(a.wallet)}, initial margin {_money(a.initial_margin)}, "
                f"maintenance {_money(a.maintenance_margin)}")


def report_renderable(r: CycleReport, *, journaled: bool | None = None) -> Group:
    """The tables of plan, rebalance, unwind and status. `journaled` False (status, plan) leaves out
    the cycle id and client ids: nothing under them can be looked up."""
    journaled = r.journaled if journaled is None else journaled
    parts: list[Any] = []
    state = trading_state_of(r)
    if r.kind == "status":
        if state is not None:
            parts.append(state_text(state))
        if r.snapshot is not None:
            parts.append(positions_table(r.snapshot))
            account = account_text(r.snapshot)
            if account is not None:
                parts.append(account)
    elif state is not None and state.reason:
        parts.append(state_text(state))
    if r.plan is not None:
        parts.append(allocation_table(r.plan, unwind=r.kind == "unwind"))
        if r.plan.unhedgeable:
            parts.append(Text(f"unhedgeable (no perp market): {', '.join(r.plan.unhedgeable)}", style="yellow"))
        if r.plan.valued_at_mark:
            parts.append(Text(f"valued at the perp mark (no spot market): {', '.join(r.plan.valued_at_mark)}",
                              style="yellow"))
        for k in r.plan.skipped:
            parts.append(Text(f"skipped {k.asset}: {k.reason}", style="yellow"))
    if r.verdict is not None:
        for k in r.verdict.skipped:
            if r.plan is None or k not in r.plan.skipped:
                parts.append(Text(f"skipped {k.asset}: {k.reason}", style="yellow"))
        parts.append(risk_table(r.verdict, r.plan.quote if r.plan is not None else "USDT"))
        bounds = bounds_text(r.verdict, r.plan.quote if r.plan is not None else "quote")
        if bounds is not None:
            parts.append(bounds)
        if r.verdict.approved or r.verdict.denied:
            parts.append(orders_table(r, client_ids=journaled))
    if r.plan is not None and not r.plan.triggered and r.kind != "unwind":
        parts.append(Text("Every asset is inside its band: nothing to do.", style="green"))
    for m in r.mismatches:
        parts.append(Text(f"position mismatch: {m}", style="red"))
    if r.protection is not None:
        parts.extend(protection_parts(r))
    if r.top_up is not None:
        u = r.top_up
        parts.append(Text(f"margin top-up {u.state}: {_money(u.amount)} {u.currency} ({u.reason})"
                          + (f" error: {u.error}" if u.error and u.state != "done" else ""),
                          style="" if u.state == "done" else "red"))
    if r.ledger_error:
        parts.append(Text(f"ledger: {r.ledger_error} (figures may be behind; read again next cycle)", style="yellow"))
    parts.append(outcome_text(r, journaled=journaled))
    return Group(*parts)


def protection_parts(r: CycleReport) -> list[Any]:
    """The hedges' protective stops (trigger, distance from the mark, liquidation price and its
    distance) and what the protection did or saw this cycle."""
    p = r.protection
    parts: list[Any] = []
    if p is None:
        return parts
    held = {a: pos for a, pos in ((r.positions_after or (r.snapshot.positions if r.snapshot else {})) or {}).items()
            if pos.amount != 0}
    if p.stops or held:
        t = Table(title="Protective stops", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                  padding=(0, 1, 0, 0))
        for col in ("asset", "stop", "amount", "trigger", "stop dist.", "liquidation", "liq. dist.", "state"):
            t.add_column(col, justify="left" if col in ("asset", "stop", "state") else "right", no_wrap=True)
        for asset in sorted(set(held) | set(p.stops)):
            v = p.stops.get(asset)
            if v is None:
                pos = held[asset]
                t.add_row(asset, "-", str(abs(pos.amount)), "-", "-", _money(pos.liquidation_price),
                          "-", Text("unprotected", style="red"))
                continue
            liq_dist = (abs(v.liquidation_price - v.mark) / v.mark
                        if v.liquidation_price is not None and v.mark else None)
            style = "green" if v.state == "resting" else "red"
            t.add_row(asset, f"{v.side} stop", str(v.amount), _money(v.trigger), _pct(v.distance),
                      _money(v.liquidation_price), _pct(liq_dist), Text(v.state, style=style))
        parts.append(t)
    for e in p.events:
        if e.kind in ("kept",):
            continue
        style = "red" if e.alert else ""
        parts.append(Text(f"stop {e.kind}: {e.asset} {e.client_order_id or ''} {e.detail}".rstrip(), style=style))
    if p.skipped:
        parts.append(Text(f"protection skipped: {p.skipped}", style="yellow"))
    return parts


def outcome_text(r: CycleReport, *, journaled: bool = True) -> Text:
    """The last line: the cycle (only when it can be looked up), its outcome and the gate's summary."""
    if journaled:
        head = f"cycle {r.cycle_id}: {r.outcome}"
    elif r.kind == "status":
        head = f"status at {r.started_at.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC (not journaled)"
    else:
        head = f"{r.outcome} (not journaled)"
    if r.verdict is not None:
        head += f"; {gate_summary(r.verdict)}"
    if r.error:
        head += f" ({r.error})"
    style = "red" if r.error else "yellow" if r.verdict is not None and r.verdict.scale < 1 else "bold"
    return Text(head, style=style)
