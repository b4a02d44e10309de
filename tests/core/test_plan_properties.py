"""Property tests over random portfolios: the planner's and the gate's invariants (hypothesis)."""

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rebalancer.domain import D, NavBasis
from rebalancer.planner import plan
from rebalancer.risk import gate, post_trade_positions
from tests.fakes import NOW, after_execution, limits, params, snapshot

STEPS = ["0.001", "0.01", "0.1", "1"]


@st.composite
def portfolios(draw, *, with_positions=True):
    n = draw(st.integers(1, 6))
    assets = [f"A{i}" for i in range(n)]
    spot, positions, market_kw = {}, {}, {}
    for a in assets:
        price = D(draw(st.integers(1, 100_000)))
        qty = D(draw(st.integers(0, 10_000))) / 100
        step = D(draw(st.sampled_from(STEPS)))
        spot[a] = (qty, price)
        market_kw[a] = {"step": str(step), "min_cost": str(draw(st.integers(0, 10)))}
        if with_positions and draw(st.booleans()):
            positions[a] = step * draw(st.integers(-2000, 2000))
    raw = [draw(st.integers(1, 10)) for _ in assets]
    total = sum(raw)
    weights = {a: D(r) / D(total) for a, r in zip(assets, raw)}
    # Make the weights sum to exactly 1 so the property is about the planner, not Decimal division.
    weights[assets[-1]] = D(1) - sum((w for a, w in weights.items() if a != assets[-1]), D(0))
    equity = D(draw(st.integers(0, 1_000_000)))
    return spot, positions, market_kw, weights, equity


def _nonzero_nav(spot):
    return sum(q * p for q, p in spot.values()) > 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(portfolios(), st.sampled_from([NavBasis.SPOT, NavBasis.ACCOUNT]), st.integers(0, 50))
def test_replanning_after_perfect_execution_gives_no_orders(pf, basis, min_notional):
    """Whatever the portfolio, planning the snapshot perfect execution leaves yields no orders."""
    spot, positions, market_kw, weights, equity = pf
    if not _nonzero_nav(spot):
        return
    snap = snapshot(spot, positions=positions, market_kw=market_kw, equity=equity + 1)
    p = params(weights, nav_basis=basis, min_order_notional=D(min_notional))
    first = plan(snap, p)
    second = plan(after_execution(snap, first.orders), p)
    assert second.orders == ()


@settings(max_examples=300, deadline=None)
@given(portfolios())
def test_nav_spot_without_cash_target_desired_perps_sum_to_zero(pf):
    """With nav = "spot" and no cash target the planned book nets to zero before rounding."""
    spot, positions, market_kw, weights, _ = pf
    if not _nonzero_nav(spot):
        return
    p = plan(snapshot(spot, positions=positions, market_kw=market_kw), params(weights))
    # Exact up to Decimal's 28-digit context (weights like 1/6 are not finite decimals).
    assert abs(sum(line.desired_perp_notional for line in p.assets)) <= p.nav * D("1e-24")


@settings(max_examples=300, deadline=None)
@given(portfolios())
def test_rounding_never_overshoots_the_target(pf):
    """Per asset, the orders move the position toward the target and never past it."""
    spot, positions, market_kw, weights, _ = pf
    if not _nonzero_nav(spot):
        return
    p = plan(snapshot(spot, positions=positions, market_kw=market_kw), params(weights))
    for line in p.assets:
        moved = sum((o.signed_base * o.price for o in p.orders if o.asset == line.asset), D(0))
        assert abs(moved) <= abs(line.adjustment)
        assert moved == 0 or (moved > 0) == (line.adjustment > 0)


@settings(max_examples=300, deadline=None)
@given(
    portfolios(),
    st.integers(1, 20),
    st.sampled_from(["0.1", "0.5", "0.9"]),
    st.sampled_from(["0.1", "0.25", "0.5"]),
    st.sampled_from(["0.2", "1", "3"]),
    st.integers(100, 100_000),
)
def test_no_approved_order_breaks_a_limit_and_scaling_never_flips_or_grows(pf, lev, usage, dist, gross, max_order):
    """Approved orders respect every limit; a scaled order keeps its side and never grows."""
    spot, positions, market_kw, weights, equity = pf
    if not _nonzero_nav(spot):
        return
    snap = snapshot(spot, positions=positions, market_kw=market_kw, equity=equity)
    lim = limits(leverage=lev, max_margin_usage=usage, min_liquidation_distance=dist,
                 max_gross_ratio=gross, max_order_notional=max_order)
    p = plan(snap, params(weights))
    v = gate(snap, p, lim, now=NOW)

    planned = {(o.symbol, o.leg): o for o in p.orders}
    for o in v.approved:
        src = planned[(o.symbol, o.leg)]
        assert o.side is src.side and o.reduce_only == src.reduce_only
        assert 0 < o.amount <= src.amount
        assert o.notional <= lim.max_order_notional

    if any(not o.reduce_only for o in v.approved):
        post = post_trade_positions(snap, v.approved)
        marks = {a: q.price for a, q in snap.mark_prices.items()}
        gross_notional = sum((abs(h) * marks[a] for a, h in post.items()), D(0))
        assert gross_notional / lim.leverage <= lim.max_margin_usage * snap.account.equity * (1 + D("1e-20"))
        assert gross_notional <= lim.max_gross_ratio * p.nav * (1 + D("1e-20"))
        assert v.stressed_equity >= v.stressed_maintenance * (1 - D("1e-20"))
