"""The risk gate and the balanced book: DOMAIN.md examples 1-10 through the gate, every check's
box, the common scale, tiers, funding intervals, minimums, slices and flips, with exact numbers."""

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from rebalancer.core.gate import gate
from rebalancer.core.planner import plan
from rebalancer.domain import D, Position, Quote, Side, TradingState
from tests.fakes import NOW, after_execution, limits, params, snapshot, tiers

EX1 = {"BTC": ("0.15", "40000"), "ETH": ("2", "2000")}
P50 = params({"BTC": "0.5", "ETH": "0.5"})


def run(snap, lim=None, p=P50, now=NOW, **kw):
    pl = plan(snap, p)
    return pl, gate(snap, pl, lim or limits(), now=now, min_order_notional=p.min_order_notional, **kw)


def codes(verdict):
    return {(f.code, f.symbol) for f in verdict.denials}


def legs(verdict):
    """(asset, side, notional, reduce_only) of every approved leg, sorted."""
    return sorted((o.asset, o.side.value, o.notional, o.reduce_only) for o in verdict.approved)


def net(verdict):
    return sum(verdict.post_trade.values(), D(0))


# --------------------------------------------------------------------------- examples 1-4, 7: the gate passes the plan


def test_example_1_when_within_limits_then_the_plan_is_approved_unscaled():
    """Example 1 with ample equity: short BTC $1,000, long ETH $1,000 at scale 1, net 0."""
    pl, v = run(snapshot(EX1, equity="10000"))
    assert v.all_approved and v.state is TradingState.ACTIVE and v.scale == 1
    assert legs(v) == [("BTC", "sell", D("1000"), False), ("ETH", "buy", D("1000"), False)]
    assert [o.amount for o in v.approved] == [o.amount for o in pl.orders]
    assert v.net_residual == 0 and v.planned_net == 0
    assert all(o.planned_amount is None for o in v.approved)


def test_example_2_when_prices_move_then_both_reduce_only_and_the_book_nets_to_zero():
    """BTC -10% / ETH +10% after the hedge: buy back $200 BTC, sell $400 ETH, both reduce-only."""
    snap = snapshot({"BTC": ("0.1", "36000"), "ETH": ("1", "2200")},
                    positions={"BTC": "-0.025", "ETH": "0.5"}, equity="10000")
    _, v = run(snap)
    # 200/36,000 and 400/2,200 rounded toward zero at the 0.00001 step
    assert [(o.asset, o.side.value, o.reduce_only, o.base_amount) for o in v.approved] == [
        ("BTC", "buy", True, D("0.00555")), ("ETH", "sell", True, D("0.18181"))]
    assert abs(v.net_residual) <= v.residual_bound == D("0.382")


def test_example_3_drift_75_25_vs_60_40_then_1500_each_way():
    _, v = run(snapshot({"A": ("7500", "1"), "B": ("2500", "1")}), p=params({"A": "0.6", "B": "0.4"}))
    assert legs(v) == [("A", "sell", D("1500"), False), ("B", "buy", D("1500"), False)]


def test_example_4_closing_when_spot_rebalanced_by_hand_then_both_close_reduce_only():
    snap = snapshot({"BTC": ("0.125", "40000"), "ETH": ("2.5", "2000")}, positions={"BTC": "-0.025", "ETH": "0.5"})
    _, v = run(snap)
    assert [(o.asset, o.leg, o.reduce_only, o.base_amount) for o in v.approved] == [
        ("BTC", "close", True, D("0.025")), ("ETH", "close", True, D("0.5"))]
    assert v.post_trade == {"BTC": 0, "ETH": 0}


def test_example_7_sectors_are_weights_the_solver_spreads_by():
    """SOL 0.3 / AVAX 0.3 / UNI 0.2 / AAVE 0.2 with UNI unhedgeable: its gap goes 3:3:2 to the rest."""
    spot = {a: ("1", "2500") for a in ("SOL", "AVAX", "UNI", "AAVE")}
    p = params({"SOL": "0.3", "AVAX": "0.3", "UNI": "0.2", "AAVE": "0.2"})
    _, v = run(snapshot(spot, no_perp=("UNI",)), p=p)
    # P*: SOL +500, AVAX +500, UNI -500 (impossible), AAVE -500; UNI's -500 spread by 0.3/0.3/0.2 of 0.8
    assert v.post_trade["SOL"] == D("312.5") and v.post_trade["AVAX"] == D("312.5")
    assert v.post_trade["AAVE"] == D("-625") and v.post_trade["UNI"] == 0
    assert net(v) == 0


# --------------------------------------------------------------------------- example 5: funding, with intervals


def test_example_5_funding_under_the_cap_then_the_paying_long_is_allowed():
    """+0.01% per 8h is 10.95% a year: under 30%, ETH's long (paying) and BTC's short pass."""
    _, v = run(snapshot(EX1, funding={"BTC": "0.0001", "ETH": "0.0001"}, equity="10000"))
    assert v.all_approved and len(v.approved) == 2
    assert D("0.0001") * 1095 == D("0.1095")


def test_example_5_funding_over_the_cap_then_no_orders_because_a_lone_short_would_be_net_short():
    """+0.05% per 8h (54.75%) denies ETH's long; BTC alone would leave the book net short: no orders."""
    _, v = run(snapshot(EX1, funding={"BTC": "0.0001", "ETH": "0.0005"}, equity="10000"))
    assert v.approved == ()
    assert codes(v) == {("FUNDING", "ETH/USDT:USDT")}
    assert "54.75%" in v.denials[0].detail
    assert v.boxes["ETH"].hi == 0 and v.boxes["ETH"].codes == ("FUNDING",)
    assert v.boxes["BTC"].lo is None and v.boxes["BTC"].hi is None  # the short receives: not bounded
    assert [(o.asset, o.denied_by) for o in v.denied] == [("ETH", ("FUNDING",))]
    assert v.net_residual == 0


def test_example_5_a_short_at_plus_005_receives_funding_and_is_never_denied():
    """Only ETH's long pays at a positive rate: with ETH short-needed, nothing is denied."""
    snap = snapshot({"BTC": ("0.1", "40000"), "ETH": ("3", "2000")}, funding={"ETH": "0.0005", "BTC": "0.0005"})
    _, v = run(snap)
    # BTC needs +1000 (long, pays, denied) and ETH -1000 (short, receives): the solve leaves both at 0
    assert codes(v) == {("FUNDING", "BTC/USDT:USDT")}
    assert v.approved == ()


def test_example_5_on_a_4h_symbol_the_same_rate_reads_twice_the_apr():
    """+0.02% per 4h is 43.8% a year (denied); read wrongly as 8h it would be 21.9% (allowed)."""
    _, v4 = run(snapshot(EX1, funding={"ETH": ("0.0002", "4")}, equity="10000"))
    assert codes(v4) == {("FUNDING", "ETH/USDT:USDT")} and "43.80%" in v4.denials[0].detail
    assert v4.approved == ()
    _, v8 = run(snapshot(EX1, funding={"ETH": ("0.0002", "8")}, equity="10000"))
    assert v8.all_approved and len(v8.approved) == 2
    _, v4b = run(snapshot(EX1, funding={"ETH": ("0.0005", "4")}, equity="10000"))
    assert "109.50%" in v4b.denials[0].detail


def test_funding_on_a_1h_symbol_uses_24_periods_a_day_in_the_cost():
    """Funding cost per day counts each symbol's own interval: 1h = 24 payments."""
    _, v = run(snapshot(EX1, funding={"BTC": ("-0.00001", "1"), "ETH": ("0.00001", "8")}, equity="10000"))
    # short BTC $1,000 at -0.001%/1h pays 1000 x 0.00001 x 24 = 0.24; long ETH pays 1000 x 0.00001 x 3 = 0.03
    assert v.funding_cost_per_day == D("0.27")


def test_funding_missing_then_the_asset_may_only_shrink():
    snap = snapshot(EX1)
    snap = replace(snap, funding={"ETH": snap.funding["ETH"]})
    _, v = run(snap)
    assert codes(v) == {("FUNDING", "BTC/USDT:USDT")}
    assert (v.boxes["BTC"].lo, v.boxes["BTC"].hi) == (0, 0)
    assert v.approved == ()  # ETH alone would be net long


# --------------------------------------------------------------------------- example 6 and 10: one common scale


def test_example_6_partial_adjustment_when_margin_short_then_both_legs_scaled_by_a_quarter():
    """Leverage 2 needs $1,000 margin; equity $500 at 0.5 usage allows $250: both legs at $250."""
    _, v = run(snapshot(EX1, equity="500"), limits(leverage=2, min_liquidation_distance="0.1"))
    assert v.scale == D("0.25") and {f.code for f in v.scaled_by} == {"MARGIN"}
    assert legs(v) == [("BTC", "sell", D("250"), False), ("ETH", "buy", D("250"), False)]
    assert v.margin_usage == D("0.5") and v.all_approved
    assert {o.planned_amount for o in v.approved} == {D("0.025"), D("0.5")}
    assert net(v) == 0


EX10_SPOT = {"BTC": ("0.115", "40000"), "ETH": ("0.7", "2000"), "SOL": ("40", "100")}
EX10_POS = {"BTC": "-0.025", "ETH": "0.5"}
P10 = params({"BTC": "0.4", "ETH": "0.3", "SOL": "0.3"})


def test_example_10_scaling_keeps_the_net_by_scaling_every_leg_growing_and_reducing():
    """Gross 2,000 + 1,200 k <= 2,600 gives k = 0.5 on every leg: BTC buy $200 (reduce-only),
    SOL sell $500, ETH buy $300; the post-trade book nets to zero."""
    snap = snapshot(EX10_SPOT, positions=EX10_POS, equity="2600")
    pl, v = run(snap, limits(leverage=2), p=P10)
    assert {a: line.desired_perp_notional for a, line in ((l.asset, l) for l in pl.assets)} == {
        "BTC": D("-600.000"), "ETH": D("1600.0"), "SOL": D("-1000")}
    assert v.scale == D("0.5") and [f.code for f in v.scaled_by] == ["MARGIN"]
    assert legs(v) == [("BTC", "buy", D("200.000"), True), ("ETH", "buy", D("300.0"), False),
                       ("SOL", "sell", D("500"), False)]
    assert net(v) == 0 and v.net_residual == 0
    # scaling only the growing legs (SOL, ETH by 0.625, BTC in full) would have left +$150
    assert -600 + D("1600") * 0 + (-1000 * D("0.625")) + (1000 + 600 * D("0.625")) == 150


def test_scale_when_the_current_book_already_fails_then_reducing():
    """Equity too small for the book that is already open: the cycle runs REDUCING (shrink only)."""
    snap = snapshot(EX10_SPOT, positions=EX10_POS, equity="100")
    _, v = run(snap, limits(leverage=2), p=P10)
    assert v.state is TradingState.REDUCING
    assert "MARGIN" in {f.code for f in v.warnings}
    assert all(o.reduce_only for o in v.approved)


def test_margin_when_account_missing_then_fail_closed_to_shrinking():
    """No hedge-account data: nothing may grow; the flat book gets no orders."""
    _, v = run(snapshot(EX1, equity=None))
    assert v.approved == () and v.state is TradingState.REDUCING
    assert "MARGIN" in {f.code for f in v.warnings}


def test_max_gross_when_book_exceeds_nav_ratio_then_scaled():
    """max_gross_ratio 0.1 of NAV $10,000 allows $1,000 gross: the $2,000 book is halved."""
    _, v = run(snapshot(EX1), limits(max_gross_ratio="0.1"))
    assert v.scale == D("0.5") and {f.code for f in v.scaled_by} == {"MAX_GROSS"}
    assert sum(o.notional for o in v.approved) == D("1000")


def test_scaled_reductions_round_toward_the_target_so_rounding_never_breaks_the_limit():
    """With a coarse step, a scaled reduce-only leg rounds up (more reduction), a growing leg down."""
    snap = snapshot(EX10_SPOT, positions=EX10_POS, equity="2600",
                    market_kw={a: {"step": "0.01" if a != "SOL" else "1"} for a in EX10_SPOT})
    _, v = run(snap, limits(leverage=2), p=P10)
    gross = sum(abs(x) for x in v.post_trade.values())
    assert gross <= 2600
    btc = next(o for o in v.approved if o.asset == "BTC")
    assert btc.reduce_only and btc.base_amount == D("0.01")  # 0.005 rounded up to the step, within 0.01 planned
    assert abs(v.net_residual) <= v.residual_bound


# --------------------------------------------------------------------------- examples 8 and 9: what one asset cannot do


EX8 = {"BTC": ("0.1", "50000"), "ETH": ("1", "2000"), "DOGE": ("30000", "0.1")}
P8 = params({"BTC": "0.4", "ETH": "0.4", "DOGE": "0.2"})


def test_example_8_an_unhedgeable_asset_is_spread_over_the_others_by_weight():
    """DOGE has no perp: its -$1,000 goes half to BTC, half to ETH: BTC -$1,500, ETH +$1,500."""
    snap = snapshot(EX8, no_perp=("DOGE",), market_kw={"BTC": {"step": "0.001"}, "ETH": {"step": "0.001"}})
    pl, v = run(snap, p=P8)
    assert pl.planned_net == 0 and pl.unhedgeable == ("DOGE",)
    assert legs(v) == [("BTC", "sell", D("1500.000"), False), ("ETH", "buy", D("1500.000"), False)]
    assert [o.base_amount for o in sorted(v.approved, key=lambda o: o.asset)] == [D("0.030"), D("0.750")]
    assert {o.asset: o.planned_amount for o in v.approved} == {"BTC": D("0.020"), "ETH": D("1.000")}
    assert v.boxes["DOGE"].codes == ("UNHEDGEABLE",) and v.denials == ()
    assert net(v) == 0 and v.net_residual == 0
    # effective mix after: BTC 35%, ETH 35%, DOGE 30% (the drift the bot cannot remove)
    after = plan(after_execution(snap, v.approved), P8)
    assert {l.asset: l.effective_weight for l in after.assets} == {"BTC": D("0.35"), "ETH": D("0.35"), "DOGE": D("0.3")}
    again = gate(after_execution(snap, v.approved), after, limits(), now=NOW)
    assert again.approved == ()


def test_example_9_a_denied_long_goes_to_the_others_by_weight():
    """ETH may not go long (funding): its +$1,000 goes 4/7 to BTC and 3/7 to SOL."""
    spot = {"BTC": ("0.1", "50000"), "ETH": ("1", "2000"), "SOL": ("30", "100")}
    p9 = params({"BTC": "0.4", "ETH": "0.3", "SOL": "0.3"})
    fine = snapshot(spot, funding={"ETH": "0.0005"}, market_kw={a: {"step": "0.00000001"} for a in spot})
    _, v = run(fine, p=p9)
    assert codes(v) == {("FUNDING", "ETH/USDT:USDT")} and v.post_trade["ETH"] == 0
    assert abs(v.post_trade["BTC"] - D("-428.5714")) < D("0.001")
    assert abs(v.post_trade["SOL"] - D("428.5714")) < D("0.001")
    assert abs(v.net_residual) <= v.residual_bound < D("0.01")
    # at the stated steps (BTC 0.001, SOL 0.01) the orders round toward zero
    stated = snapshot(spot, funding={"ETH": "0.0005"}, market_kw={"BTC": {"step": "0.001"}, "SOL": {"step": "0.01"},
                                                                   "ETH": {"step": "0.001"}})
    _, v = run(stated, p=p9)
    assert legs(v) == [("BTC", "sell", D("400.000"), False), ("SOL", "buy", D("428.00"), False)]
    assert v.net_residual == D("28") and v.residual_bound >= D("28")
    assert [(o.asset, o.denied_by) for o in v.denied] == [("ETH", ("FUNDING",))]


def test_a_cold_coin_the_spot_venue_does_not_list_is_valued_at_mark_and_hedged_without_basis():
    """A cold-wallet coin with no spot market: valued at the mark, hedged, BASIS skipped."""
    snap = snapshot(EX1, unlisted=("ETH",), marks={"ETH": "2000"})
    pl, v = run(snap)
    assert pl.valued_at_mark == ("ETH",)
    assert {l.asset: l.note for l in pl.assets}["ETH"] == "valued at mark"
    assert v.all_approved and len(v.approved) == 2


def test_a_listed_coin_without_a_spot_price_is_frozen_no_price_and_the_others_keep_the_net():
    snap = snapshot({**EX1, "SOL": ("0", "100")})
    snap = replace(snap, spot_prices={a: q for a, q in snap.spot_prices.items() if a != "ETH"})
    _, v = run(snap, p=params({"BTC": "0.4", "ETH": "0.3", "SOL": "0.3"}))
    assert ("NO_PRICE", "ETH/USDT:USDT") in codes(v)
    assert v.post_trade["ETH"] == 0 and abs(v.net_residual) <= v.residual_bound < 1


def test_a_held_position_without_a_mark_means_no_orders_this_cycle():
    snap = snapshot(EX1, positions={"BTC": "-0.01"})
    snap = replace(snap, mark_prices={"ETH": snap.mark_prices["ETH"]})
    pl = plan(snapshot(EX1, positions={"BTC": "-0.01"}), P50)
    v = gate(snap, pl, limits(), now=NOW)
    assert v.approved == ()
    assert codes(v) == {("NO_PRICE", "BTC/USDT:USDT")}
    assert "risk is unknown" in v.denials[0].detail


def test_stale_price_freezes_the_asset_and_the_rest_keeps_the_net():
    snap = snapshot(EX1)
    old = Quote(D("40000"), NOW - timedelta(seconds=61))
    snap = replace(snap, mark_prices={**snap.mark_prices, "BTC": old})
    _, v = run(snap)
    assert codes(v) == {("STALE_PRICE", "BTC/USDT:USDT")} and v.approved == ()


def test_basis_when_mark_far_from_spot_then_frozen():
    _, v = run(snapshot(EX1, marks={"BTC": "40500"}))
    assert codes(v) == {("BASIS", "BTC/USDT:USDT")} and v.boxes["BTC"].frozen


def test_every_asset_frozen_is_reported_and_sends_nothing():
    _, v = run(snapshot(EX1, marks={"BTC": "40500", "ETH": "2100"}))
    assert v.approved == () and "ALL_FROZEN" in {f.code for f in v.warnings}


def test_halted_when_kill_switch_then_everything_denied():
    _, v = run(snapshot(EX1), limits(halted=True))
    assert v.state is TradingState.HALTED and v.approved == ()
    assert {c for c, _ in codes(v)} == {"HALTED"}
    assert {o.denied_by for o in v.denied} == {("HALTED",)}


def test_reducing_when_set_then_positions_only_shrink_and_never_cross_zero():
    """REDUCING with BTC short $2,000 wanting +$... : only reduce-only legs, none past zero."""
    snap = snapshot({"BTC": ("0.15", "40000"), "ETH": ("2.5", "2000")}, positions={"BTC": "-0.05"})
    _, v = run(snap, limits(reducing=True))
    assert v.state is TradingState.REDUCING
    assert v.approved and all(o.reduce_only for o in v.approved)
    assert v.boxes["BTC"].lo == D("-2000") and v.boxes["BTC"].hi == 0


def test_reducing_with_an_off_step_flip_still_sends_the_reduce_only_part():
    """A flip wanted in REDUCING: the box stops it at zero, so the close alone is sent."""
    snap = snapshot({"BTC": ("0.1", "40000"), "ETH": ("3", "2000")}, positions={"BTC": "-0.0123", "ETH": "0.0123"},
                    market_kw={"BTC": {"step": "0.001"}, "ETH": {"step": "0.001"}})
    _, v = run(snap, limits(reducing=True))
    assert [(o.asset, o.reduce_only, o.leg) for o in v.approved if o.asset == "BTC"] == [("BTC", True, "close")]
    assert all(o.reduce_only for o in v.approved)


def test_liquidation_price_near_then_reducing_and_warning():
    snap = snapshot(EX1, positions={"BTC": "-0.01"})
    pos = replace(snap.positions["BTC"], liquidation_price=D("44000"))
    snap = replace(snap, positions={"BTC": pos})
    _, v = run(snap)
    assert v.state is TradingState.REDUCING
    assert v.liquidation_distances["BTC/USDT:USDT"] == D("0.1")
    assert "LIQUIDATION" in [f.code for f in v.warnings]


# --------------------------------------------------------------------------- tiers


ETH_TIERS = tiers(("50000", "0.005", "75"), ("250000", "0.01", "50"), ("1000000", "0.025", "20"),
                  (None, "0.05", "10"))


def test_tiers_cum_follows_from_continuity():
    assert [t.cum for t in ETH_TIERS] == [D("0"), D("250"), D("4000"), D("29000")]


def test_liquidation_uses_the_exchanges_tier_not_the_default_rate():
    """A $600,000 short shocked +25% is $750,000 in ETH's 2.5% tier: 750,000 x 0.025 - 4,000 = 14,750."""
    snap = snapshot({"ETH": ("0", "2000"), "BTC": ("30", "40000")}, market_kw={"ETH": {"tiers": ETH_TIERS}},
                    equity="10000000")
    _, v = run(snap, p=params({"ETH": "0.5", "BTC": "0.5"}))
    assert sum(o.notional for o in v.approved if o.asset == "BTC") == D("600000")  # in slices of 50,000
    # BTC uses the default rate (no tiers): 750,000 x 0.005; ETH long 600,000 shocked -25% = 450,000 in tier 3
    assert v.stressed_maintenance == D("750000") * D("0.005") + (D("450000") * D("0.025") - 4000)
    assert "TIERS_MISSING" in {f.code for f in v.warnings}
    assert "BTC/USDT:USDT" in next(f.detail for f in v.warnings if f.code == "TIERS_MISSING")


def test_liquidation_scale_is_tighter_with_real_tiers_than_with_the_default():
    """The same book at the default 0.005 passes; with ETH's tiers the stress needs k < 1."""
    spot = {"ETH": ("0", "2000"), "BTC": ("60", "40000")}
    p = params({"ETH": "0.5", "BTC": "0.5"})
    lim = limits(max_margin_usage="1", leverage=20, max_gross_ratio="3")
    _, flat = run(snapshot(spot, equity="640000"), lim, p=p)
    assert flat.scale == 1
    _, tiered = run(snapshot(spot, equity="640000", market_kw={a: {"tiers": ETH_TIERS} for a in spot}), lim, p=p)
    assert tiered.scale < 1 and "LIQUIDATION" in {f.code for f in tiered.scaled_by}
    assert tiered.stressed_equity >= tiered.stressed_maintenance
    assert net(tiered) == 0


def test_leverage_tier_caps_the_position_by_scaling_every_leg():
    """At leverage 20 ETH may hold at most $1,000,000 (tier 3); a $1.2M target scales to fit."""
    spot = {"ETH": ("0", "2000"), "BTC": ("60", "40000")}
    snap = snapshot(spot, equity="100000000", market_kw={"ETH": {"tiers": ETH_TIERS}})
    _, v = run(snap, limits(leverage=20, max_margin_usage="1", max_gross_ratio="3"),
               p=params({"ETH": "0.5", "BTC": "0.5"}))
    assert {f.code for f in v.scaled_by} == {"LEVERAGE_TIER"}
    assert v.post_trade["ETH"] == D("1000000") and net(v) == 0


def test_the_venues_position_cap_bounds_leverage_tier_where_its_tiers_carry_no_leverage():
    """BingX: tiers without max leverage allow any notional; the venue's own limit at the leverage
    ($600,000 for ETH) scales the book like a tier cap would. With tiers that allow more, the smaller wins."""
    spot = {"ETH": ("0", "2000"), "BTC": ("60", "40000")}
    lim, p = limits(leverage=20, max_margin_usage="1", max_gross_ratio="3"), params({"ETH": "0.5", "BTC": "0.5"})
    no_lev = tiers(("1000000", "0.005", None), (None, "0.01", None))
    free = snapshot(spot, equity="100000000", market_kw={"ETH": {"tiers": no_lev}})
    _, unbounded = run(free, lim, p=p)
    assert unbounded.scaled_by == () and unbounded.post_trade["ETH"] == D("1200000")
    capped = snapshot(spot, equity="100000000", market_kw={"ETH": {"tiers": no_lev, "position_cap": "600000"}})
    _, v = run(capped, lim, p=p)
    assert {f.code for f in v.scaled_by} == {"LEVERAGE_TIER"}
    assert v.post_trade["ETH"] == D("600000") and net(v) == 0
    both = snapshot(spot, equity="100000000", market_kw={"ETH": {"tiers": ETH_TIERS, "position_cap": "800000"}})
    _, v = run(both, lim, p=p)
    assert v.post_trade["ETH"] == D("800000") and net(v) == 0  # under ETH_TIERS' $1,000,000 at 20x


# --------------------------------------------------------------------------- minimums, slices, flips


def test_an_order_under_the_minimum_freezes_its_asset_and_the_rest_is_resolved():
    """SOL's -$6 is under min_order_notional $10: SOL is frozen and its -$6 goes 2:3 to BTC and ETH:
    mu = -12, BTC -$2,002.40, ETH +$2,002.40, net 0."""
    spot = {"BTC": ("0.15", "40000"), "ETH": ("1.997", "2000"), "SOL": ("100.06", "100")}
    p = params({"BTC": "0.2", "ETH": "0.3", "SOL": "0.5"})
    pl, v = run(snapshot(spot), p=p)
    assert {a: pl.desired[a] for a in spot} == {"BTC": D("-2000"), "ETH": D("2006.000"), "SOL": D("-6.00")}
    assert [k.asset for k in v.skipped] == ["SOL"] and "under the minimum" in v.skipped[0].reason
    assert v.boxes["SOL"].codes == ("MIN_SIZE",) and v.post_trade["SOL"] == 0
    assert legs(v) == [("BTC", "sell", D("2002.40000"), False), ("ETH", "buy", D("2002.40000"), False)]
    assert v.net_residual == 0 and v.denials == ()


def test_reduce_only_is_exempt_from_the_market_min_cost_where_the_venue_exempts_it():
    """A $20 reduce-only buy under the market's $50 min cost passes on an exempting venue only."""
    spot = {"BTC": ("0.1495", "40000"), "ETH": ("2.01", "2000")}
    pos = {"BTC": "-0.025", "ETH": "0.5"}
    p = params({"BTC": "0.5", "ETH": "0.5"}, min_order_notional=D(5), band=D("0.001"))
    kw = {"min_cost": "50", "ro_exempt": True}
    _, v = run(snapshot(spot, positions=pos, market_kw={"BTC": kw, "ETH": kw}), p=p)
    assert [(o.asset, o.reduce_only, o.notional) for o in v.approved] == [
        ("BTC", True, D("20.00000")), ("ETH", True, D("20.00000"))]
    kw = {"min_cost": "50", "ro_exempt": False}
    _, v = run(snapshot(spot, positions=pos, market_kw={"BTC": kw, "ETH": kw}), p=p)
    assert v.approved == () and len(v.skipped) == 2


def test_a_close_to_zero_is_never_dropped_for_size():
    snap = snapshot({"BTC": ("0.125", "40000"), "ETH": ("2.5", "2000")}, positions={"BTC": "-0.0001", "ETH": "0.002"},
                    market_kw={"BTC": {"min_cost": "100"}, "ETH": {"min_cost": "100"}})
    _, v = run(snap, p=params({"BTC": "0.5", "ETH": "0.5"}, band=D("0.0001")))
    assert [(o.asset, o.leg, o.base_amount) for o in v.approved] == [("BTC", "close", D("0.0001")),
                                                                    ("ETH", "close", D("0.002"))]


def test_max_order_notional_slices_instead_of_denying():
    """$1,000 legs over max_order_notional $300 are sent as 4 equal slices of $250."""
    _, v = run(snapshot(EX1), limits(max_order_notional="300"))
    assert v.denials == ()
    btc = [o for o in v.approved if o.asset == "BTC"]
    assert [o.base_amount for o in btc] == [D("0.00625")] * 4
    assert all(o.notional <= 300 and o.planned_amount == D("0.025") for o in btc)
    assert sum(o.base_amount for o in btc) == D("0.025")


def test_a_large_hedge_can_be_closed_in_slices():
    snap = snapshot({"BTC": ("2.5", "40000"), "ETH": ("50", "2000")}, positions={"BTC": "-2.5", "ETH": "50"},
                    market_kw={"BTC": {"step": "0.001"}, "ETH": {"step": "0.001"}})
    _, v = run(snap, limits(max_order_notional="30000"))
    btc = [o for o in v.approved if o.asset == "BTC"]
    assert len(btc) == 4 and all(o.reduce_only and o.leg == "close" for o in btc)
    assert sum(o.base_amount for o in btc) == D("2.5") and max(o.notional for o in btc) <= 30000


def test_market_max_quantity_slices_market_orders_only():
    """MARKET_LOT_SIZE 0.01 BTC: a 0.025 market order is 3 slices (0.009, 0.008, 0.008)."""
    snap = snapshot(EX1, market_kw={"BTC": {"step": "0.001", "max_market_amount": "0.01"}})
    _, v = run(snap)
    assert [o.amount for o in v.approved if o.asset == "BTC"] == [D("0.009"), D("0.008"), D("0.008")]
    _, v = run(snap, order_type="limit_ioc")
    assert [o.amount for o in v.approved if o.asset == "BTC"] == [D("0.025")]


def test_a_flip_is_a_reduce_only_close_then_an_opening_order():
    snap = snapshot({"BTC": ("0.1", "40000"), "ETH": ("3", "2000")}, positions={"BTC": "-0.01", "ETH": "0.2"})
    _, v = run(snap)
    btc = [(o.leg, o.side, o.reduce_only, o.base_amount) for o in v.approved if o.asset == "BTC"]
    assert btc == [("close", Side.BUY, True, D("0.01")), ("open", Side.BUY, False, D("0.025"))]


def test_contract_size_divides_base_into_contracts():
    snap = snapshot(EX1, market_kw={"BTC": {"contract_size": "0.001", "step": "1"}, "ETH": {"contract_size": "0.01",
                                                                                             "step": "1"}})
    _, v = run(snap)
    assert sorted((o.asset, o.amount, o.base_amount) for o in v.approved) == [
        ("BTC", D("25"), D("0.025")), ("ETH", D("50"), D("0.50"))]


def test_inside_the_band_nothing_is_sent_and_the_book_is_still_reported():
    snap = snapshot({"BTC": ("0.1", "40000"), "ETH": ("2", "2000")})
    _, v = run(snap, p=params({"BTC": "0.5", "ETH": "0.5"}, band=D("0.05")))
    assert v.approved == () and set(v.boxes) == {"BTC", "ETH"} and v.net_residual == 0


def test_cash_target_keeps_the_planned_net_short():
    snap = snapshot(EX1, cash="0")
    p = params({"BTC": "0.4", "ETH": "0.4", "USDT": "0.2"})
    pl, v = run(snap, p=p)
    assert pl.planned_net == D("-2000")
    assert net(v) == D("-2000") and v.net_residual == 0


def test_report_funding_cost_per_day_positive_when_paying():
    _, v = run(snapshot(EX1, funding={"BTC": "-0.0001", "ETH": "0.0001"}, equity="10000"))
    assert v.funding_cost_per_day == D("0.6")


def test_report_stressed_equity_is_equity_minus_shock_loss():
    _, v = run(snapshot(EX1, equity="10000"))
    assert v.stressed_equity == D("9500")
    assert v.stressed_maintenance == D("10.00000")


def test_unwind_closes_every_position_and_keeps_the_net_when_one_is_frozen():
    from rebalancer.core.planner import unwind_plan

    snap = snapshot({"BTC": ("0.1", "40000"), "ETH": ("2", "2000"), "SOL": ("0", "100")},
                    positions={"BTC": "-0.025", "ETH": "0.25", "SOL": "5"})
    pl = unwind_plan(snap, params({"BTC": "0.4", "ETH": "0.4", "SOL": "0.2"}))
    v = gate(snap, pl, limits(), now=NOW, min_order_notional=Decimal(0))
    assert v.post_trade == {"BTC": 0, "ETH": 0, "SOL": 0}
    assert all(o.reduce_only for o in v.approved)
    stale = replace(snap, mark_prices={**snap.mark_prices, "SOL": Quote(D("100"), NOW - timedelta(seconds=120))})
    v = gate(stale, pl, limits(), now=NOW, min_order_notional=Decimal(0))
    assert v.post_trade["SOL"] == 500 and net(v) == 0  # SOL frozen long $500: BTC/ETH keep -$500 between them


def test_position_record_survives():
    assert Position("BTC", "BTC/USDT:USDT", D("1")).amount == 1


def test_a_price_dated_in_the_future_beyond_the_clock_skew_is_refused_like_a_stale_one():
    """The exchange's clock an hour ahead: a negative age is a clock problem, never a fresh price."""
    snap = snapshot(EX1)
    ahead = Quote(D("40000"), NOW + timedelta(hours=1))
    _, v = run(replace(snap, mark_prices={**snap.mark_prices, "BTC": ahead}))
    assert codes(v) == {("STALE_PRICE", "BTC/USDT:USDT")} and v.approved == ()
    assert "in the future" in v.denials[0].detail and "clock" in v.denials[0].detail
    slight = Quote(D("40000"), NOW + timedelta(seconds=3))  # within max_clock_skew_s 5: fine
    _, v = run(replace(snap, mark_prices={**snap.mark_prices, "BTC": slight}))
    assert v.all_approved and len(v.approved) == 2
