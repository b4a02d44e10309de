"""The risk gate: DOMAIN.md examples 5 and 6, every check's code, scaling and reporting."""

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from rebalancer.domain import D, Position, Quote, Side, TradingState
from rebalancer.planner import plan
from rebalancer.risk import gate
from tests.fakes import NOW, limits, params, snapshot

EX1 = {"BTC": ("0.15", "40000"), "ETH": ("2", "2000")}
P50 = params({"BTC": "0.5", "ETH": "0.5"})


def run(snap, lim=None, p=P50, now=NOW):
    pl = plan(snap, p)
    return pl, gate(snap, pl, lim or limits(), now=now, min_order_notional=p.min_order_notional)


def codes(verdict):
    return {(f.code, f.symbol) for f in verdict.denials}


def test_example_1_when_within_limits_then_everything_approved_unscaled():
    """Example 1 with ample equity: both legs pass at scale 1."""
    pl, v = run(snapshot(EX1, equity="10000"))
    assert v.all_approved and v.state is TradingState.ACTIVE
    assert v.approved == pl.orders and v.scale == 1


def test_example_5_funding_apr_under_cap_then_allowed():
    """0.01% per 8h is 10.95% a year: under the 30% cap, the paying leg is allowed."""
    _, v = run(snapshot(EX1, funding={"BTC": "-0.0001", "ETH": "0.0001"}, equity="10000"))
    assert v.all_approved
    assert D("0.0001") * 1095 == D("0.1095")


def test_example_5_funding_apr_over_cap_when_short_pays_then_short_leg_denied():
    """0.05% per 8h is 54.75% a year; a short pays when the rate is negative: that leg is denied FUNDING."""
    _, v = run(snapshot(EX1, funding={"BTC": "-0.0005"}, equity="10000"))
    assert codes(v) == {("FUNDING", "BTC/USDT:USDT")}
    assert "54.75%" in v.denials[0].detail
    assert [o.asset for o in v.approved] == ["ETH"]


def test_funding_when_rate_positive_then_short_receives_and_long_pays():
    """Positive funding: longs pay shorts (every major venue), so the growing long is the leg denied."""
    _, v = run(snapshot(EX1, funding={"BTC": "0.0005", "ETH": "0.0005"}, equity="10000"))
    assert codes(v) == {("FUNDING", "ETH/USDT:USDT")}
    assert [o.side for o in v.approved] == [Side.SELL]


def test_funding_when_order_is_reduce_only_then_never_denied():
    """Closing a paying position is always allowed."""
    snap = snapshot({"BTC": ("0.125", "40000"), "ETH": ("2.5", "2000")}, positions={"BTC": "-0.025", "ETH": "0.5"},
                    funding={"BTC": "-0.01", "ETH": "0.01"})
    _, v = run(snap)
    assert v.all_approved and len(v.approved) == 2


def test_example_6_partial_adjustment_when_margin_short_then_both_legs_scaled_by_quarter():
    """Leverage 2 needs $1,000 margin; equity $500 at 0.5 usage allows $250: both legs scale to $250."""
    _, v = run(snapshot(EX1, equity="500"), limits(leverage=2, min_liquidation_distance="0.1"))
    assert v.scale == D("0.25")
    assert {f.code for f in v.scaled_by} == {"MARGIN"}
    assert sorted((o.asset, o.notional) for o in v.approved) == [("BTC", D("250")), ("ETH", D("250"))]
    assert v.margin_usage == D("0.5")
    assert v.all_approved  # scaling is not a denial


def test_margin_when_account_missing_then_fail_closed():
    """No hedge-account data: growing orders are denied, never approved blind."""
    _, v = run(snapshot(EX1, equity=None))
    assert v.approved == () and {c for c, _ in codes(v)} <= {"MARGIN", "MARGIN/LIQUIDATION"}
    assert v.denials


def test_liquidation_stress_when_equity_thin_then_scaled_so_shock_survives():
    """A 25% adverse move on the post-trade book must leave equity above shocked maintenance."""
    _, v = run(snapshot(EX1, equity="300"), limits(max_margin_usage="1", leverage=20))
    assert v.scale < 1 and "LIQUIDATION" in {f.code for f in v.scaled_by}
    assert v.stressed_equity > v.stressed_maintenance
    assert all(o.side in (Side.BUY, Side.SELL) for o in v.approved)


def test_max_gross_when_book_exceeds_nav_ratio_then_scaled():
    """max_gross_ratio 0.1 of NAV $10,000 allows $1,000 gross: the $2,000 book is halved."""
    _, v = run(snapshot(EX1), limits(max_gross_ratio="0.1"))
    assert v.scale == D("0.5") and {f.code for f in v.scaled_by} == {"MAX_GROSS"}
    assert sum(o.notional for o in v.approved) == D("1000")


def test_max_order_notional_when_exceeded_then_that_order_denied():
    _, v = run(snapshot(EX1), limits(max_order_notional="999"))
    assert {c for c, _ in codes(v)} == {"MAX_ORDER_NOTIONAL"} and v.approved == ()


def test_halted_when_kill_switch_then_everything_denied():
    _, v = run(snapshot(EX1), limits(halted=True))
    assert v.state is TradingState.HALTED and v.approved == ()
    assert {c for c, _ in codes(v)} == {"HALTED"}


def test_reducing_when_set_then_only_reduce_only_orders_pass():
    snap = snapshot({"BTC": ("0.15", "40000"), "ETH": ("2.5", "2000")}, positions={"BTC": "-0.05"})
    pl, v = run(snap, limits(reducing=True))
    assert v.state is TradingState.REDUCING
    assert v.approved and all(o.reduce_only for o in v.approved)
    assert {c for c, _ in codes(v)} == {"REDUCING"}


def test_liquidation_price_near_then_reducing_and_warning():
    """A position whose exchange-reported liquidation price is 10% away puts the gate in REDUCING."""
    snap = snapshot(EX1, positions={"BTC": "-0.01"})
    pos = replace(snap.positions["BTC"], liquidation_price=D("44000"))
    snap = replace(snap, positions={"BTC": pos})
    _, v = run(snap)
    assert v.state is TradingState.REDUCING
    assert v.liquidation_distances["BTC/USDT:USDT"] == D("0.1")
    assert [f.code for f in v.warnings] == ["LIQUIDATION"]


def test_stale_price_when_older_than_max_age_then_asset_denied():
    snap = snapshot(EX1)
    old = Quote(D("40000"), NOW - timedelta(seconds=61))
    snap = replace(snap, mark_prices={**snap.mark_prices, "BTC": old})
    _, v = run(snap)
    assert codes(v) == {("STALE_PRICE", "BTC/USDT:USDT")}


def test_no_price_when_mark_missing_then_denied():
    snap = snapshot(EX1)
    pl = plan(snap, P50)
    snap = replace(snap, mark_prices={"ETH": snap.mark_prices["ETH"]})
    v = gate(snap, pl, limits(), now=NOW)
    assert ("NO_PRICE", "BTC/USDT:USDT") in codes(v)


def test_basis_when_mark_far_from_spot_then_denied():
    _, v = run(snapshot(EX1, marks={"BTC": "40500"}))
    assert codes(v) == {("BASIS", "BTC/USDT:USDT")}


def test_funding_missing_then_growing_leg_denied():
    snap = snapshot(EX1)
    snap = replace(snap, funding={"ETH": snap.funding["ETH"]})
    _, v = run(snap)
    assert codes(v) == {("FUNDING", "BTC/USDT:USDT")}


def test_report_funding_cost_per_day_positive_when_paying():
    """Short $1,000 BTC at -0.01%/8h pays 3 x 0.1 = $0.30 a day; long ETH $1,000 at +0.01% pays $0.30."""
    _, v = run(snapshot(EX1, funding={"BTC": "-0.0001", "ETH": "0.0001"}, equity="10000"))
    assert v.funding_cost_per_day == D("0.6")


def test_report_stressed_equity_is_equity_minus_shock_loss():
    """Equity 10,000 minus 25% of the $2,000 gross book."""
    _, v = run(snapshot(EX1, equity="10000"))
    assert v.stressed_equity == D("9500")
    # maintenance after the shock: short 1000 x 1.25 x 0.005 + long 1000 x 0.75 x 0.005
    assert v.stressed_maintenance == D("10.00000")


def test_scaling_below_minimum_then_order_dropped_with_code():
    """Orders that fall under the minimum notional after scaling are dropped and reported."""
    _, v = run(snapshot(EX1, equity="10"), limits(leverage=2, min_liquidation_distance="0.1"))
    assert v.approved == ()
    assert all("MARGIN" in c for c, _ in codes(v))
