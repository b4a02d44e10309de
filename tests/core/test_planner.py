"""DOMAIN.md's worked examples and the planner's rules, with exact numbers."""

from decimal import Decimal

import pytest

from rebalancer.domain import D, NavBasis, Side
from rebalancer.core.planner import PlanError, plan, round_to_step
from tests.fakes import after_execution, params, snapshot


def by_asset(p):
    return {line.asset: line for line in p.assets}


def orders_by_asset(p):
    return {o.asset: o for o in p.orders}


def test_example_1_table_6_1_when_60_40_then_short_btc_long_eth_1000():
    """Spot BTC $6,000 / ETH $4,000 at 50/50: short BTC $1,000 and long ETH $1,000."""
    snap = snapshot({"BTC": ("0.15", "40000"), "ETH": ("2", "2000")})
    p = plan(snap, params({"BTC": "0.5", "ETH": "0.5"}))
    assert p.nav == Decimal("10000")
    assert p.triggered
    lines = by_asset(p)
    assert lines["BTC"].adjustment == Decimal("-1000")
    assert lines["ETH"].adjustment == Decimal("1000")
    assert lines["BTC"].drift == Decimal("0.1")
    o = orders_by_asset(p)
    assert (o["BTC"].side, o["BTC"].amount, o["BTC"].notional) == (Side.SELL, Decimal("0.025"), Decimal("1000"))
    assert (o["ETH"].side, o["ETH"].amount, o["ETH"].notional) == (Side.BUY, Decimal("0.5"), Decimal("1000"))
    assert not o["BTC"].reduce_only and not o["ETH"].reduce_only


def test_example_2_scenario_3_2_when_prices_move_then_pnl_nets_and_next_plan_is_reduce_only():
    """BTC -10% / ETH +10% after hedging: P&L nets to zero; next plan buys $200 BTC, sells $400 ETH, reduce-only."""
    snap = snapshot({"BTC": ("0.1", "40000"), "ETH": ("1", "2000")})
    first = plan(snap, params({"BTC": "0.5", "ETH": "0.5"}))
    assert first.nav == Decimal("6000")
    o = orders_by_asset(first)
    assert (o["BTC"].side, o["BTC"].notional) == (Side.SELL, Decimal("1000"))
    assert (o["ETH"].side, o["ETH"].notional) == (Side.BUY, Decimal("1000"))

    moved = snapshot(
        {"BTC": ("0.1", "36000"), "ETH": ("1", "2200")},
        positions={"BTC": o["BTC"].signed_base, "ETH": o["ETH"].signed_base},
    )
    spot_change = (Decimal("3600") - 4000) + (Decimal("2200") - 2000)
    perp_pnl = o["BTC"].signed_base * (36000 - 40000) + o["ETH"].signed_base * (2200 - 2000)
    assert spot_change == Decimal("-200") and perp_pnl == Decimal("200")
    assert spot_change + perp_pnl == 0

    second = plan(moved, params({"BTC": "0.5", "ETH": "0.5"}))
    lines = by_asset(second)
    assert second.nav == Decimal("5800")
    assert lines["BTC"].effective_value == Decimal("2700")
    assert lines["ETH"].effective_value == Decimal("3300")
    assert lines["BTC"].adjustment == Decimal("200")
    assert lines["ETH"].adjustment == Decimal("-400")
    o2 = orders_by_asset(second)
    assert o2["BTC"].side is Side.BUY and o2["BTC"].reduce_only
    assert o2["ETH"].side is Side.SELL and o2["ETH"].reduce_only
    # 200 / 36000 = 0.0055555.. rounds toward zero at the 0.00001 step; never more than asked.
    assert o2["BTC"].amount == Decimal("0.00555")
    assert o2["ETH"].amount == Decimal("0.18181")


def test_example_3_drift_75_25_vs_60_40_then_1500_each_way():
    """NAV $10,000, spot A $7,500 / B $2,500, targets 60/40: short A $1,500, long B $1,500."""
    snap = snapshot({"A": ("75", "100"), "B": ("25", "100")})
    p = plan(snap, params({"A": "0.6", "B": "0.4"}))
    o = orders_by_asset(p)
    assert (o["A"].side, o["A"].notional) == (Side.SELL, Decimal("1500"))
    assert (o["B"].side, o["B"].notional) == (Side.BUY, Decimal("1500"))


def test_example_4_closing_when_spot_rebalanced_by_hand_then_close_both_reduce_only():
    """After example 1 the holder moves spot to 5,000/5,000: both perps close, reduce-only."""
    snap = snapshot(
        {"BTC": ("0.125", "40000"), "ETH": ("2.5", "2000")},
        positions={"BTC": "-0.025", "ETH": "0.5"},
    )
    p = plan(snap, params({"BTC": "0.5", "ETH": "0.5"}))
    assert p.triggered  # effective 4,000 / 6,000
    o = orders_by_asset(p)
    assert (o["BTC"].side, o["BTC"].amount, o["BTC"].reduce_only) == (Side.BUY, Decimal("0.025"), True)
    assert (o["ETH"].side, o["ETH"].amount, o["ETH"].reduce_only) == (Side.SELL, Decimal("0.5"), True)


def test_example_7_sectors_flatten_in_the_planner_input():
    """Grouped weights (flattened by settings) plan like flat ones: SOL 0.3, AVAX 0.3, UNI 0.2, AAVE 0.2."""
    targets = {"SOL": D("0.6") * D("0.5"), "AVAX": D("0.6") * D("0.5"), "UNI": D("0.4") * D("0.5"), "AAVE": D("0.4") * D("0.5")}
    assert targets == {"SOL": D("0.3"), "AVAX": D("0.3"), "UNI": D("0.2"), "AAVE": D("0.2")}
    snap = snapshot({"SOL": ("25", "100"), "AVAX": ("25", "100"), "UNI": ("25", "100"), "AAVE": ("25", "100")})
    p = plan(snap, params(targets))
    adj = {line.asset: line.adjustment for line in p.assets}
    assert adj == {"SOL": D("500"), "AVAX": D("500"), "UNI": D("-500"), "AAVE": D("-500")}


def test_plan_when_inside_band_then_no_orders():
    """A 51/49 mix with the default 2% band triggers nothing."""
    p = plan(snapshot({"BTC": ("0.1275", "40000"), "ETH": ("2.45", "2000")}), params({"BTC": "0.5", "ETH": "0.5"}))
    assert not p.triggered and p.orders == ()


def test_plan_when_relative_band_breached_then_triggered():
    """A small-weight asset off by 50% of its weight triggers via relative_band even inside the absolute band."""
    snap = snapshot({"A": ("95", "100"), "B": ("1.5", "100"), "C": ("3.5", "100")})
    tgt = {"A": "0.95", "B": "0.03", "C": "0.02"}
    assert not plan(snap, params(tgt)).triggered
    assert plan(snap, params(tgt, relative_band=D("0.25"))).triggered


def test_plan_when_cash_target_then_perps_net_short():
    """USDT = 0.2 de-risks synthetically: the risk assets go to 0.8 of NAV, so the book nets short."""
    snap = snapshot({"BTC": ("0.125", "40000"), "ETH": ("2.5", "2000")}, cash="0")
    p = plan(snap, params({"BTC": "0.4", "ETH": "0.4", "USDT": "0.2"}))
    assert p.nav == Decimal("10000")
    lines = by_asset(p)
    assert lines["BTC"].adjustment == Decimal("-1000") and lines["ETH"].adjustment == Decimal("-1000")
    assert lines["USDT"].effective_value == Decimal("0") and lines["USDT"].drift == Decimal("-0.2")
    assert sum(o.signed_base * o.price for o in p.orders) == Decimal("-2000")


def test_plan_when_nav_account_then_hedge_equity_counts_as_cash():
    """With nav = "account" the hedge account's equity is allocated too."""
    snap = snapshot({"BTC": ("0.1", "40000"), "ETH": ("2", "2000")}, equity="2000")
    p = plan(snap, params({"BTC": "0.5", "ETH": "0.5"}, nav_basis=NavBasis.ACCOUNT))
    assert p.nav == Decimal("10000")
    lines = by_asset(p)
    assert lines["BTC"].adjustment == Decimal("1000") and lines["ETH"].adjustment == Decimal("1000")


def test_plan_when_asset_has_no_perp_then_reported_unhedgeable_not_dropped():
    """An asset without a perp market stays in the table, flagged, and gets no order."""
    snap = snapshot({"BTC": ("0.15", "40000"), "XYZ": ("400", "10")}, no_perp=("XYZ",))
    p = plan(snap, params({"BTC": "0.5", "XYZ": "0.5"}))
    assert p.unhedgeable == ("XYZ",)
    assert {line.asset for line in p.assets} == {"BTC", "XYZ"}
    assert [o.asset for o in p.orders] == ["BTC"]


def test_plan_when_under_min_notional_then_skipped_and_reported():
    """An adjustment under min_order_notional stays as drift and is reported as skipped."""
    snap = snapshot({"BTC": ("0.15", "40000"), "ETH": ("2", "2000")})
    p = plan(snap, params({"BTC": "0.5", "ETH": "0.5"}, min_order_notional=D("2000")))
    assert p.orders == ()
    assert {s.asset for s in p.skipped} == {"BTC", "ETH"}


def test_plan_when_under_market_min_amount_then_skipped():
    """The market's minimum amount applies too."""
    snap = snapshot({"BTC": ("0.15", "40000"), "ETH": ("2", "2000")}, market_kw={"BTC": {"min_amount": "0.1"}})
    p = plan(snap, params({"BTC": "0.5", "ETH": "0.5"}))
    assert [o.asset for o in p.orders] == ["ETH"]
    assert "minimum" in p.skipped[0].reason


def test_plan_when_sign_flips_then_split_into_reduce_only_close_and_open():
    """From short 0.025 to long: a reduce-only close of 0.025 then an opening buy of the new long 0.075 (P* = $3,000)."""
    snap = snapshot({"BTC": ("0.05", "40000"), "ETH": ("4", "2000")}, positions={"BTC": "-0.025"})
    p = plan(snap, params({"BTC": "0.5", "ETH": "0.5"}))
    btc = [o for o in p.orders if o.asset == "BTC"]
    assert [(o.leg, o.side, o.amount, o.reduce_only) for o in btc] == [
        ("close", Side.BUY, Decimal("0.025"), True),
        ("open", Side.BUY, Decimal("0.075"), False),
    ]


def test_plan_rounds_toward_zero_at_amount_step():
    """0.0249.. BTC with a 0.001 step becomes 0.024, never 0.025."""
    snap = snapshot({"BTC": ("0.1499", "40000"), "ETH": ("2", "2000")}, market_kw={"BTC": {"step": "0.001"}})
    p = plan(snap, params({"BTC": "0.5", "ETH": "0.5"}))
    assert orders_by_asset(p)["BTC"].amount == Decimal("0.024")


def test_plan_contract_size_divides_base_into_contracts():
    """A 0.01-base contract: $1,000 of BTC at 40,000 is 2.5 contracts."""
    snap = snapshot({"BTC": ("0.15", "40000"), "ETH": ("2", "2000")}, market_kw={"BTC": {"contract_size": "0.01", "step": "0.1"}})
    o = orders_by_asset(plan(snap, params({"BTC": "0.5", "ETH": "0.5"})))["BTC"]
    assert (o.amount, o.base_amount) == (Decimal("2.5"), Decimal("0.025"))


def test_replan_after_example_1_execution_gives_no_orders():
    """Planning again on what perfect execution leaves yields nothing to do."""
    snap = snapshot({"BTC": ("0.15", "40000"), "ETH": ("2", "2000")})
    first = plan(snap, params({"BTC": "0.5", "ETH": "0.5"}))
    assert plan(after_execution(snap, first.orders), params({"BTC": "0.5", "ETH": "0.5"})).orders == ()


def test_plan_when_target_has_no_price_then_clear_error():
    """A target on an asset with no price is a PlanError naming the asset, not a KeyError."""
    snap = snapshot({"BTC": ("0.15", "40000")})
    with pytest.raises(PlanError, match="DOGE"):
        plan(snap, params({"BTC": "0.5", "DOGE": "0.5"}))


def test_round_to_step_never_rounds_up():
    assert round_to_step(D("0.0129"), D("0.001")) == D("0.012")
    assert round_to_step(D("5"), D("0.5")) == D("5")
    assert round_to_step(D("0.3"), None) == D("0.3")


def test_unwind_plan_closes_every_position_reduce_only_ignoring_min_notional():
    """Unwind closes each hedge in full, reduce-only, even a sliver under min_order_notional."""
    from rebalancer.core.planner import unwind_plan

    snap = snapshot({"BTC": ("0.15", "40000"), "ETH": ("2", "2000")}, positions={"BTC": "-0.025", "ETH": "0.001"})
    p = unwind_plan(snap, params({"BTC": "0.5", "ETH": "0.5"}))
    assert sorted((o.asset, o.side, o.amount, o.reduce_only) for o in p.orders) == [
        ("BTC", Side.BUY, Decimal("0.025"), True),
        ("ETH", Side.SELL, Decimal("0.001"), True),
    ]
