"""What people and scripts see of a cycle: the `--json` contract of DESIGN.md and rich tables.

Decimals are strings in JSON; tables round for reading, JSON never rounds.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from .domain import Finding, Plan, PlannedOrder, Verdict
from .render import decimal_text

if TYPE_CHECKING:
    from .service import CycleReport


def s(value: Decimal | None) -> str | None:
    """Decimal -> JSON string without exponent noise (1E+3 -> "1000"); None stays null."""
    return None if value is None else decimal_text(value)


def finding_json(f: Finding) -> dict[str, Any]:
    return {"code": f.code, "symbol": f.symbol, "detail": f.detail}


def order_json(o: PlannedOrder, status: str = "planned") -> dict[str, Any]:
    return {
        "symbol": o.symbol,
        "asset": o.asset,
        "side": o.side.value,
        "amount": s(o.amount),
        "notional": s(o.notional),
        "price": s(o.price),
        "reduce_only": o.reduce_only,
        "leg": o.leg,
        "client_order_id": o.client_order_id,
        "status": status,
    }


def plan_to_json(p: Plan) -> dict[str, Any]:
    return {
        "nav": s(p.nav),
        "quote": p.quote,
        "nav_basis": p.nav_basis.value,
        "triggered": p.triggered,
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
            }
            for line in p.assets
        ],
        "orders": [order_json(o) for o in p.orders],
        "unhedgeable": list(p.unhedgeable),
        "skipped": [{"asset": k.asset, "symbol": k.symbol, "reason": k.reason, "notional": s(k.notional)}
                    for k in p.skipped],
    }


def verdict_to_json(v: Verdict) -> dict[str, Any]:
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
    }


def report_json(r: CycleReport) -> dict[str, Any]:
    """The DESIGN.md `--json` document for plan, rebalance, unwind and status."""
    out: dict[str, Any] = {"cycle_id": r.cycle_id, "kind": r.kind, "execute": r.execute, "outcome": r.outcome}
    if r.plan is not None:
        out.update(plan_to_json(r.plan))
    if r.verdict is not None:
        out["risk"] = verdict_to_json(r.verdict)
        approved = {o.client_order_id: o for o in r.verdict.approved}
        denied = {f.symbol for f in r.verdict.denials}
        executed = {e.client_order_id: e for e in r.executed}
        orders = []
        for o in r.plan.orders if r.plan else ():
            cid = o.client_order_id
            if cid in executed:
                e = executed[cid]
                item = order_json(approved[cid], e.result.state.value)
                item.update(filled=s(e.result.filled), average=s(e.result.average),
                            exchange_order_id=e.result.exchange_order_id, sends=e.sends)
                if e.result.error_code or e.result.error_message:
                    item.update(error_code=e.result.error_code, error=e.result.error_message)
            elif cid in approved:
                item = order_json(approved[cid], "planned" if not r.execute else "not_sent")
                if approved[cid].amount != o.amount:
                    item["planned_amount"] = s(o.amount)
            else:
                item = order_json(o, "denied")
                item["denied_by"] = [f.code for f in r.verdict.denials if f.symbol == o.symbol] or (
                    [f.code for f in r.verdict.denials if f.symbol is None] if o.symbol not in denied else [])
            orders.append(item)
        out["orders"] = orders
    if r.snapshot is not None and r.snapshot.account is not None:
        a = r.snapshot.account
        out["account"] = {"equity": s(a.equity), "wallet": s(a.wallet), "initial_margin": s(a.initial_margin),
                          "maintenance_margin": s(a.maintenance_margin), "available": s(a.available)}
    if r.positions_after is not None:
        out["positions_after"] = {k: s(p.amount) for k, p in r.positions_after.items()}
    if r.mismatches:
        out["mismatches"] = r.mismatches
    if r.error:
        out["error"] = r.error
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
    }


# --------------------------------------------------------------------------- tables for people


def _money(v: Decimal | None, places: int = 2) -> str:
    return "-" if v is None else f"{v:,.{places}f}"


def _pct(v: Decimal | None) -> str:
    return "-" if v is None else f"{v * 100:.2f}%"


def allocation_table(p: Plan) -> Table:
    t = Table(title=f"Allocation (NAV {_money(p.nav)} {p.quote}, basis {p.nav_basis.value})", title_justify="left")
    for col in ("asset", "target", "spot", "perp", "effective", "eff. %", "drift", "adjust"):
        t.add_column(col, justify="left" if col == "asset" else "right")
    for line in p.assets:
        drift = Text(_pct(line.drift), style="red" if abs(line.drift) > Decimal("0.02") else "")
        adj = "unhedgeable" if not line.hedgeable and line.asset != p.quote else _money(line.adjustment)
        t.add_row(line.asset, _pct(line.target_weight), _money(line.spot_value), _money(line.perp_notional),
                  _money(line.effective_value), _pct(line.effective_weight), drift, adj)
    return t


def orders_table(r: CycleReport) -> Table:
    """Orders with their fate; the client order id goes last so narrow terminals fold only it."""
    doc = report_json(r)
    t = Table(title="Orders", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("asset", "side", "amount", "notional", "status", "avg", "client order id"):
        t.add_column(col, justify="right" if col in ("amount", "notional", "avg") else "left",
                     overflow="fold", no_wrap=col != "client order id")
    for o in doc.get("orders", []):
        status = o["status"]
        style = {"filled": "green", "denied": "red", "rejected": "red", "unknown": "yellow"}.get(status, "")
        if status == "denied":
            status = "denied " + ",".join(o.get("denied_by", []))
        elif status == "partially_filled":
            status = f"partial {o.get('filled')}"
        side = o["side"] + (" RO" if o["reduce_only"] else "")
        t.add_row(o["asset"], side, o["amount"], _money(Decimal(o["notional"])), Text(status, style=style),
                  o.get("average") or "", o["client_order_id"] or "")
    return t


def risk_table(v: Verdict) -> Table:
    t = Table(title=f"Risk gate: {v.state.value}", title_justify="left", show_header=False)
    t.add_column("k")
    t.add_column("v")
    t.add_row("scale", s(v.scale) or "1")
    t.add_row("margin usage (post-trade)", _pct(v.margin_usage))
    t.add_row("funding cost / day", _money(v.funding_cost_per_day, 4))
    t.add_row("stressed equity", _money(v.stressed_equity))
    t.add_row("stressed maintenance", _money(v.stressed_maintenance))
    for sym, d in v.liquidation_distances.items():
        t.add_row(f"liquidation distance {sym}", _pct(d))
    for f in (*v.denials, *v.scaled_by, *v.warnings):
        t.add_row(Text(f.code, style="red"), f"{f.symbol or 'book'}: {f.detail}")
    return t


def report_renderable(r: CycleReport) -> Group:
    parts: list[Any] = []
    if r.plan is not None:
        parts.append(allocation_table(r.plan))
        if r.plan.unhedgeable:
            parts.append(Text(f"unhedgeable (no perp market): {', '.join(r.plan.unhedgeable)}", style="yellow"))
        for k in r.plan.skipped:
            parts.append(Text(f"skipped {k.asset}: {k.reason}", style="yellow"))
    if r.verdict is not None:
        parts.append(risk_table(r.verdict))
        if r.plan is not None and r.plan.orders:
            parts.append(orders_table(r))
    if r.plan is not None and not r.plan.triggered and r.kind != "unwind":
        parts.append(Text("Every asset is inside its band: nothing to do.", style="green"))
    for m in r.mismatches:
        parts.append(Text(f"position mismatch: {m}", style="red"))
    parts.append(Text(f"cycle {r.cycle_id}: {r.outcome}" + (f" ({r.error})" if r.error else ""),
                      style="red" if r.error else "bold"))
    return Group(*parts)
