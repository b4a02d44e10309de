"""What `plan`, `rebalance`, `status` and `unwind` print: the DESIGN.md `--json` document and the
tables for people, from hand-built plans, verdicts and executions."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal

from rich.console import Console

from rebalancer.domain import (
    AssetLine,
    Box,
    Finding,
    HedgeAccount,
    NavBasis,
    OrderResult,
    OrderState,
    Plan,
    PlannedOrder,
    Side,
    Skipped,
    Snapshot,
    TradingState,
    Verdict,
)
from rebalancer.executor import Executed
from rebalancer.report import (
    box_text,
    plan_to_json,
    report_json,
    report_renderable,
    risk_json,
    verdict_to_json,
)
from rebalancer.service import CycleReport

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
D = Decimal
BTC_ID, ETH_ID, SOL_ID = "rb2026112512000012345600", "rb2026112512000012345601", "rb2026112512000012345602"


def order(asset: str, side: Side, amount: str, price: str, **kw) -> PlannedOrder:
    return PlannedOrder(asset, f"{asset}/USDT:USDT", side, D(amount), D(amount), D(price), kw.pop("reduce_only", False),
                        **kw)


def line(asset: str, spot: str, weight: str, drift: str, adjustment: str) -> AssetLine:
    return AssetLine(asset, D("0.5"), D(spot), D(0), D(spot), D(weight), D(drift), D(5000), D(adjustment),
                     D(adjustment), True)


# The plan wanted: sell 0.025 BTC, buy 0.5 ETH. It carries no client ids: the service gives them to
# the verdict's orders, so everything shown must come from the verdict.
PLAN = Plan(
    nav=D(10000), quote="USDT", nav_basis=NavBasis.SPOT, triggered=True,
    assets=(line("BTC", "6000", "0.6", "0.1", "-1000"), line("ETH", "4000", "0.4", "-0.1", "1000")),
    orders=(order("BTC", Side.SELL, "0.025", "40000"), order("ETH", Side.BUY, "0.5", "2000")),
    skipped=(Skipped("XRP", "XRP/USDT:USDT", "below min notional", D("3")),),
    planned_net=D(0),
    valued_at_mark=("BTC",),
)
# The gate: BTC cut to 0.02 by the scale, ETH denied (FUNDING and BASIS), SOL frozen without a price.
BTC_SENT = order("BTC", Side.SELL, "0.02", "40000", client_order_id=BTC_ID, planned_amount=D("0.025"))
ETH_DENIED = order("ETH", Side.BUY, "0.5", "2000", client_order_id=ETH_ID, denied_by=("FUNDING", "BASIS"))
VERDICT = Verdict(
    state=TradingState.ACTIVE,
    approved=(BTC_SENT,),
    denials=(Finding("FUNDING", "ETH/USDT:USDT", "long pays 45% a year"),
             Finding("BASIS", "ETH/USDT:USDT", "perp 1.5% over spot")),
    scale=D("0.8"),
    margin_usage=D("0.1"),
    funding_cost_per_day=D("0.3"),
    stressed_equity=D("9000"),
    stressed_maintenance=D("50"),
    liquidation_distances={"BTC/USDT:USDT": D("0.61")},
    boxes={
        "BTC": Box(None, None),
        "ETH": Box(None, D("0.000"), ("FUNDING", "BASIS")),
        "SOL": Box(D("-300"), D("-300"), ("NO_PRICE",)),
    },
    planned_net=D(0),
    net_residual=D("-800.00"),
    residual_bound=D("1000.5"),
    post_trade={"BTC": D("-800"), "ETH": D(0), "SOL": D("-300")},
    denied=(ETH_DENIED,),
    skipped=(Skipped("SOL", "SOL/USDT:USDT", "frozen: below min amount", D("4")),),
)

BTC_JSON = {
    "symbol": "BTC/USDT:USDT", "asset": "BTC", "side": "sell", "amount": "0.02", "base_amount": "0.02",
    "notional": "800", "price": "40000", "reduce_only": False, "leg": "adjust", "client_order_id": BTC_ID,
    "status": "planned", "planned_amount": "0.025",
}
ETH_JSON = {
    "symbol": "ETH/USDT:USDT", "asset": "ETH", "side": "buy", "amount": "0.5", "base_amount": "0.5",
    "notional": "1000", "price": "2000", "reduce_only": False, "leg": "adjust", "client_order_id": ETH_ID,
    "status": "denied", "denied_by": ["FUNDING", "BASIS"],
}


def cycle(*, plan: Plan | None = PLAN, verdict: Verdict | None = VERDICT, execute: bool = False,
          executed: list[Executed] | None = None, outcome: str = "dry_run", kind: str = "rebalance") -> CycleReport:
    return CycleReport("20261125T120000Z-123456", kind, execute, T0, plan=plan, verdict=verdict,
                       executed=executed or [], outcome=outcome)


def text(renderable, width: int = 80) -> str:
    console = Console(record=True, width=width, color_system=None)
    console.print(renderable)
    return console.export_text()


def lines(renderable, width: int = 80) -> list[str]:
    return [ln.rstrip() for ln in text(renderable, width).splitlines()]


def risk_rows(out: list[str]) -> dict[str, str]:
    """The risk table's rows as {label: value}, box characters and padding stripped."""
    rows = [[c.strip() for c in ln.strip("│").split("│")] for ln in out if ln.startswith("│")]
    return {r[0]: r[1] for r in rows if len(r) == 2}


# --------------------------------------------------------------------------- JSON


def test_report_json_when_verdict_then_orders_are_its_approved_then_denied_legs():
    """The orders list comes from the verdict (ids, resized amounts, codes), never from plan.orders."""
    doc = report_json(cycle())
    assert doc["orders"] == [BTC_JSON, ETH_JSON]
    assert json.loads(json.dumps(doc)) == doc


def test_report_json_when_executed_then_final_state_fill_and_not_sent_legs():
    """After --execute an approved order shows its final state with fill details; one that never left
    says not_sent; denied legs stay denied."""
    sol = order("SOL", Side.SELL, "2", "150", client_order_id=SOL_ID, reduce_only=True)
    verdict = replace(VERDICT, approved=(BTC_SENT, sol))
    result = OrderResult(BTC_ID, OrderState.PARTIALLY_FILLED, "x-9", D("0.01"), D("40001.5"),
                         error_message="IOC remainder canceled")
    doc = report_json(cycle(verdict=verdict, execute=True, outcome="partial",
                            executed=[Executed(BTC_SENT, BTC_ID, result, sends=2)]))
    assert doc["orders"] == [
        {**BTC_JSON, "status": "partially_filled", "filled": "0.01", "average": "40001.5", "exchange_order_id": "x-9",
         "sends": 2, "error_code": None, "error": "IOC remainder canceled"},
        {"symbol": "SOL/USDT:USDT", "asset": "SOL", "side": "sell", "amount": "2", "base_amount": "2",
         "notional": "300", "price": "150", "reduce_only": True, "leg": "adjust", "client_order_id": SOL_ID,
         "status": "not_sent"},
        ETH_JSON,
    ]


def test_report_json_when_verdict_order_has_no_id_then_executed_one_matched_by_order():
    """An approved order the executor named itself is matched by the order and shows the id it got."""
    bare = replace(BTC_SENT, client_order_id=None)
    result = OrderResult("rb-given", OrderState.FILLED, filled=D("0.02"), average=D("40000"))
    doc = report_json(cycle(verdict=replace(VERDICT, approved=(bare,), denied=()), execute=True, outcome="done",
                            executed=[Executed(bare, "rb-given", result, sends=1)]))
    assert [(o["client_order_id"], o["status"], o["filled"]) for o in doc["orders"]] == [("rb-given", "filled", "0.02")]


def test_report_json_when_no_verdict_then_plan_orders_planned_with_base_amount():
    """A cycle that failed before the gate lists the plan's orders as planned."""
    doc = report_json(cycle(verdict=None, outcome="failed"))
    assert [(o["asset"], o["amount"], o["base_amount"], o["status"], o["client_order_id"]) for o in doc["orders"]] == [
        ("BTC", "0.025", "0.025", "planned", None), ("ETH", "0.5", "0.5", "planned", None)]
    assert "risk" not in doc and all("planned_amount" not in o and "denied_by" not in o for o in doc["orders"])


def test_report_json_when_verdict_then_risk_has_boxes_net_residual_and_every_old_key():
    """risk keeps its keys and adds boxes (null = unbounded), planned net, residual, bound and post-trade."""
    risk = report_json(cycle())["risk"]
    assert risk == {
        "approved": False, "state": "ACTIVE", "scale": "0.8",
        "denials": [{"code": "FUNDING", "symbol": "ETH/USDT:USDT", "detail": "long pays 45% a year"},
                    {"code": "BASIS", "symbol": "ETH/USDT:USDT", "detail": "perp 1.5% over spot"}],
        "scaled_by": [], "warnings": [],
        "margin_usage": "0.1", "funding_cost_per_day": "0.3", "stressed_equity": "9000", "stressed_maintenance": "50",
        "liquidation_distances": {"BTC/USDT:USDT": "0.61"},
        "boxes": {"BTC": {"lo": None, "hi": None, "codes": []},
                  "ETH": {"lo": None, "hi": "0", "codes": ["FUNDING", "BASIS"]},
                  "SOL": {"lo": "-300", "hi": "-300", "codes": ["NO_PRICE"]}},
        "planned_net": "0", "net_residual": "-800", "residual_bound": "1000.5",
        "post_trade": {"BTC": "-800", "ETH": "0", "SOL": "-300"},
    }
    assert risk == risk_json(VERDICT)


def test_report_json_when_assets_valued_at_mark_then_flagged_only_there():
    """valued_at_mark is true on the assets the spot venue lists no market for and absent elsewhere."""
    assets = {a["asset"]: a for a in report_json(cycle())["assets"]}
    assert assets["BTC"]["valued_at_mark"] is True and "valued_at_mark" not in assets["ETH"]
    assert set(assets["ETH"]) == {"asset", "target_weight", "spot_value", "perp_notional", "effective_value",
                                  "effective_weight", "drift", "target_value", "adjustment", "hedgeable"}


def test_report_json_when_gate_skipped_legs_then_listed_after_the_plans():
    """Legs the plan could not make and legs the gate dropped for size are both in `skipped`."""
    doc = report_json(cycle())
    assert doc["skipped"] == [
        {"asset": "XRP", "symbol": "XRP/USDT:USDT", "reason": "below min notional", "notional": "3"},
        {"asset": "SOL", "symbol": "SOL/USDT:USDT", "reason": "frozen: below min amount", "notional": "4"},
    ]


def test_report_json_when_account_and_top_level_keys_then_design_keys_kept():
    """The top-level keys of DESIGN.md are all there, plus the plan's N*."""
    snap = Snapshot(taken_at=T0, quote="USDT", account=HedgeAccount(equity=D(5000), wallet=D(5000)))
    r = cycle()
    r.snapshot = snap
    doc = report_json(r)
    assert set(doc) == {"cycle_id", "journaled", "kind", "execute", "outcome", "nav", "quote", "nav_basis",
                        "triggered", "planned_net", "assets", "orders", "unhedgeable", "skipped", "risk", "account",
                        "trading_state"}
    assert doc["trading_state"] == {"state": "ACTIVE", "reason": "", "since": None}  # verdict.state, no owner yet
    assert doc["account"]["equity"] == "5000" and doc["planned_net"] == "0"


def test_verdict_to_json_when_journaled_then_risk_plus_its_orders_and_skipped():
    """What the journal keeps of a verdict: the risk figures, approved and denied orders, dropped legs."""
    data = verdict_to_json(VERDICT)
    assert data == {**risk_json(VERDICT), "orders": [BTC_JSON, ETH_JSON], "skipped": [
        {"asset": "SOL", "symbol": "SOL/USDT:USDT", "reason": "frozen: below min amount", "notional": "4"}]}
    assert json.loads(json.dumps(data)) == data


def test_plan_to_json_when_plan_then_orders_with_base_amount_and_planned_net():
    data = plan_to_json(PLAN)
    assert data["planned_net"] == "0"
    assert data["orders"][0] == {
        "symbol": "BTC/USDT:USDT", "asset": "BTC", "side": "sell", "amount": "0.025", "base_amount": "0.025",
        "notional": "1000", "price": "40000", "reduce_only": False, "leg": "adjust", "client_order_id": None,
        "status": "planned"}


def test_order_json_when_contracts_differ_from_base_then_both_amounts():
    """amount is in contracts, base_amount in base units (a 0.1-base contract here)."""
    o = replace(BTC_SENT, amount=D("2"), base_amount=D("0.2"), planned_amount=None)
    item = report_json(cycle(verdict=replace(VERDICT, approved=(o,), denied=())))["orders"][0]
    assert (item["amount"], item["base_amount"], item["notional"]) == ("2", "0.2", "8000")
    assert "planned_amount" not in item


# --------------------------------------------------------------------------- tables


def test_box_text_when_each_kind_of_bound_then_money_and_codes():
    assert box_text(Box(None, D(0), ("FUNDING",))) == "may not go above 0.00 (FUNDING)"
    assert box_text(Box(D("-5000"), None, ("MARGIN", "LIQUIDATION"))) == "may not go below -5,000.00 (MARGIN, LIQUIDATION)"
    assert box_text(Box(D("-300"), D("-300"), ("NO_PRICE",))) == "frozen at -300.00 (NO_PRICE)"
    assert box_text(Box(D("-2000"), D("1500.5"), ("MAX_GROSS",))) == "may stay between -2,000.00 and 1,500.50 (MAX_GROSS)"
    assert box_text(Box(None, D(100))) == "may not go above 100.00"
    assert box_text(Box(None, None)) is None


def test_report_renderable_when_bounded_assets_then_one_line_each_and_net_figures():
    """The risk table shows N* and the residual with its bound; each bounded asset gets one line
    saying how far it may go and why; a free asset gets none."""
    out = lines(report_renderable(cycle()))
    rows = risk_rows(out)
    assert rows["planned net (N*)"] == "0.00"
    assert rows["net residual (post-trade)"] == "-800.00 (bound 1,000.50)"
    start = out.index("Bounded this cycle (post-trade perp notional, USDT):")
    assert out[start + 1:start + 3] == [
        "  ETH  may not go above 0.00 (FUNDING, BASIS)",
        "  SOL  frozen at -300.00 (NO_PRICE)",
    ]
    assert out[start + 3] == "Orders"
    assert "valued at the perp mark (no spot market): BTC" in out
    assert "skipped SOL: frozen: below min amount" in out
    assert max(len(ln) for ln in out) <= 80


def test_report_renderable_when_denied_leg_then_orders_table_row_with_codes():
    """A denied leg appears in the orders table as denied with its codes; a resized one shows what was
    planned; the avg column is left out while nothing has an average."""
    out = lines(report_renderable(cycle()))
    header = out.index("Orders") + 1
    assert out[header].split() == ["asset", "side", "amount", "notional", "status", "client", "id"]
    rows = out[header + 2:header + 6]
    assert rows[0].startswith("BTC    sell  0.02 of 0.025    800.00  planned")
    assert rows[2].startswith("ETH    buy             0.5  1,000.00  denied FUNDING,BASIS")
    # The client id is the only column that folds, and it folds without losing characters.
    assert (rows[0].split()[-1] + rows[1].strip()) == BTC_ID
    assert (rows[2].split()[-1] + rows[3].strip()) == ETH_ID


def test_report_renderable_when_common_case_then_orders_fit_80_columns_unfolded():
    """One code and no resize: every row, client id included, is one line of at most 80 columns."""
    eth = replace(ETH_DENIED, denied_by=("FUNDING",))
    btc = replace(BTC_SENT, planned_amount=None)
    out = lines(report_renderable(cycle(verdict=replace(VERDICT, approved=(btc,), denied=(eth,)))))
    rows = [ln for ln in out[out.index("Orders"):] if ln.startswith(("BTC  ", "ETH  "))]
    assert [ln.split() for ln in rows] == [
        ["BTC", "sell", "0.02", "800.00", "planned", BTC_ID],
        ["ETH", "buy", "0.5", "1,000.00", "denied", "FUNDING", ETH_ID],
    ]
    assert max(len(ln) for ln in out) <= 80


def test_report_renderable_when_executed_then_avg_column_and_final_states():
    result = OrderResult(BTC_ID, OrderState.FILLED, "x-1", D("0.02"), D("40001.5"))
    out = lines(report_renderable(cycle(execute=True, outcome="partial",
                                        executed=[Executed(BTC_SENT, BTC_ID, result, sends=1)])))
    header = out.index("Orders") + 1
    assert out[header].split()[:6] == ["asset", "side", "amount", "notional", "status", "avg"]
    row = next(ln for ln in out[out.index("Orders"):] if ln.startswith("BTC  "))
    assert row.split()[:7] == ["BTC", "sell", "0.02", "of", "0.025", "800.00", "filled"]
    assert "40001.5" in row
    assert max(len(ln) for ln in out) <= 80


def test_report_renderable_when_nothing_bounded_and_no_orders_then_no_bounds_or_orders_section():
    """A quiet cycle: no bounds heading and no orders table, the band message instead."""
    verdict = replace(VERDICT, approved=(), denied=(), denials=(), boxes={"BTC": Box(None, None)}, skipped=())
    plan = replace(PLAN, triggered=False, skipped=(), valued_at_mark=())
    out = text(report_renderable(cycle(plan=plan, verdict=verdict, outcome="nothing_to_do")))
    assert "Bounded" not in out and "Orders" not in out
    assert "Every asset is inside its band: nothing to do." in out


def test_report_renderable_when_residual_exceeds_bound_then_it_is_red():
    """|net residual| beyond its bound is the solver breaking its promise: the figure turns red."""
    def colored(verdict: Verdict) -> str:
        console = Console(record=True, width=80, force_terminal=True, color_system="standard")
        console.print(report_renderable(cycle(verdict=verdict)))
        return console.export_text(styles=True)

    assert "\x1b[31m-1,234.57" in colored(replace(VERDICT, net_residual=D("-1234.567")))
    assert "\x1b[31m-800.00" not in colored(VERDICT) and "-800.00" in colored(VERDICT)
    out = lines(report_renderable(cycle(verdict=replace(VERDICT, net_residual=D("-1234.567")))))
    assert risk_rows(out)["net residual (post-trade)"] == "-1,234.57 (bound 1,000.50)"
