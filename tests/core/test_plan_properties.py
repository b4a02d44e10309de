"""Property tests over random portfolios: the planner's invariants (hypothesis); the gate's are in
test_book_properties.py."""

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rebalancer.domain import D, NavBasis
from rebalancer.core.planner import plan
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
        assert abs(moved) <= abs(line.adjustment) * (1 + D("1e-20"))  # 28-digit context: weights like 1/3
        assert moved == 0 or (moved > 0) == (line.adjustment > 0)
