"""Properties of the balanced book over random books (hypothesis): 2-30 assets, denials, unhedgeable
assets, cash targets, contract sizes other than 1, exchange tiers and tight limits."""

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rebalancer.core.gate import gate
from rebalancer.core.planner import PlanError, plan
from rebalancer.domain import D, HedgeAccount, Quote, TradingState
from tests.fakes import NOW, after_execution, limits, params, snapshot, tiers

STEPS = ["0.001", "0.01", "0.1", "1"]
CONTRACTS = ["1", "1", "0.01", "0.001", "10"]
TIERS = tiers(("50000", "0.005", "50"), ("250000", "0.01", "20"), ("1000000", "0.025", "10"), (None, "0.05", "5"))


@st.composite
def books(draw, *, with_positions=True, steps=STEPS):
    n = draw(st.integers(2, 30))
    assets = [f"A{i}" for i in range(n)]
    spot, positions, market_kw, funding, no_perp, stale, basis, held = {}, {}, {}, {}, [], [], {}, []
    for a in assets:
        price = D(draw(st.integers(1, 100_000)))
        qty = D(draw(st.integers(0, 10_000))) / 100
        step = D(draw(st.sampled_from(steps)))
        cs = D(draw(st.sampled_from(CONTRACTS)))
        spot[a] = (qty, price)
        market_kw[a] = {"step": str(step), "contract_size": str(cs), "min_cost": str(draw(st.integers(0, 10))),
                        "tiers": TIERS if draw(st.booleans()) else (), "ro_exempt": draw(st.booleans())}
        situation = draw(st.sampled_from(["free"] * 6 + ["no_perp", "stale", "basis", "funding+", "funding-"]))
        if situation == "no_perp":
            no_perp.append(a)
        elif situation == "stale":
            stale.append(a)
        elif situation == "basis":
            basis[a] = price * D("1.05")
        elif situation == "funding+":
            funding[a] = "0.001"
        elif situation == "funding-":
            funding[a] = "-0.001"
        if with_positions and situation != "no_perp" and draw(st.booleans()):
            held.append((a, D(draw(st.integers(-100, 100))) / 100, price, step * cs))
    nav = sum((q * p for q, p in spot.values()), D(0))
    for a, fraction, price, unit in held:
        # a position of up to the average asset's value, on the market's step
        units = (fraction * nav / n / price / unit).to_integral_value()
        if units:
            positions[a] = units * unit
    raw = [draw(st.integers(1, 10)) for _ in assets]
    cash = draw(st.sampled_from([None, None, "0.1", "0.3"]))
    total = sum(raw)
    scale = D(1) - (D(cash) if cash else D(0))
    weights = {a: D(r) / D(total) * scale for a, r in zip(assets, raw)}
    weights[assets[-1]] = scale - sum((w for a, w in weights.items() if a != assets[-1]), D(0))
    if cash:
        weights["USDT"] = D(cash)
    equity = (nav * D(draw(st.integers(0, 300))) / 100).quantize(D("0.01"))
    snap = snapshot(spot, positions=positions, market_kw=market_kw, funding=funding, no_perp=tuple(no_perp),
                    marks=basis, equity=str(equity), cash="0" if cash else None)
    if stale:
        old = {a: Quote(snap.mark_prices[a].price, NOW - timedelta(seconds=300)) for a in stale}
        snap = replace(snap, mark_prices={**snap.mark_prices, **old})
    return snap, weights


LIMITS = st.builds(
    lambda lev, usage, dist, gross, max_order: limits(leverage=lev, max_margin_usage=usage,
                                                       min_liquidation_distance=dist, max_gross_ratio=gross,
                                                       max_order_notional=max_order),
    st.sampled_from([1, 2, 3, 10, 20]), st.sampled_from(["0.1", "0.5", "1"]), st.sampled_from(["0.1", "0.25", "0.5"]),
    st.sampled_from(["0.2", "1", "3"]), st.sampled_from([1000, 20_000, 10**9]),
)


# Limits that never bind on these books (5x is the highest leverage every tier above allows).
AMPLE = limits(max_margin_usage="1", leverage=5, max_gross_ratio="1000", min_liquidation_distance="0.01",
               max_order_notional=10**15)


def _run(snap, weights, lim, min_notional=D(10)):
    try:
        p = plan(snap, params(weights, min_order_notional=min_notional))
    except PlanError:
        return None, None
    return p, gate(snap, p, lim, now=NOW, min_order_notional=min_notional)


def _rounding(snap, v):
    """One amount step (times contract size and mark) per asset that can move: the rounding allowance."""
    movable = [a for a, b in v.boxes.items() if a in snap.markets and not b.frozen]
    return sum((snap.markets[a].amount_step * snap.markets[a].contract_size * snap.mark_prices[a].price
                for a in movable), D(0))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books(), LIMITS)
def test_the_approved_book_keeps_the_net_stays_in_its_boxes_and_respects_every_limit(book, lim):
    """Residual within its bound; every asset inside its box; no leg flips a side within an asset;
    margin, gross and the stress test hold on the post-trade book whenever anything grows."""
    snap, weights = book
    p, v = _run(snap, weights, lim)
    if v is None:
        return
    event(f"state {v.state.value}, scale {'< 1' if v.scale < 1 else '= 1'}, {'some' if v.approved else 'no'} orders")
    assert abs(v.net_residual) <= v.residual_bound
    if v.scale == 1 and v.state is TradingState.ACTIVE and snap.positions == {} and any(
            b.codes == () and weights[a] > 0 for a, b in v.boxes.items()):
        # a free asset makes the net reachable and nothing was open: only rounding is left
        assert abs(v.net_residual) <= _rounding(snap, v) + D("1e-6")
    for asset, box in v.boxes.items():
        x = v.post_trade[asset]
        assert box.lo is None or x >= box.lo - D("1e-9"), (asset, box, x)
        assert box.hi is None or x <= box.hi + D("1e-9"), (asset, box, x)
    for asset in {o.asset for o in v.approved}:
        assert len({o.side for o in v.approved if o.asset == asset}) == 1
    for o in v.approved:
        assert o.amount > 0 and o.notional <= lim.max_order_notional * (1 + D("1e-12"))
    grew = any(abs(v.post_trade[a]) > abs(snap.position_amount(a) * snap.mark_prices[a].price)
               for a in v.post_trade if a in snap.mark_prices)
    if grew:
        gross = sum((abs(x) for x in v.post_trade.values()), D(0))
        assert gross / lim.leverage <= lim.max_margin_usage * snap.account.equity * (1 + D("1e-20"))
        assert gross <= lim.max_gross_ratio * p.nav * (1 + D("1e-20"))
        assert v.stressed_equity >= v.stressed_maintenance * (1 - D("1e-20"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books(with_positions=False, steps=["0.0000001"]), LIMITS)
def test_scaling_never_flips_a_side_and_never_overshoots_the_unscaled_target(book, lim):
    """With tight limits each asset ends between where it is and where ample limits would put it
    (compared where both runs froze the same assets: a different freeze set is a different solve)."""
    snap, weights = book
    _, loose = _run(snap, weights, AMPLE, D(0))
    _, tight = _run(snap, weights, replace(lim, max_order_notional=D(10**12)), D(0))
    if loose is None or loose.scale != 1 or tight.state is not TradingState.ACTIVE:
        return  # (an empty hedge account scales even ample limits to nothing)
    if {a: b.codes for a, b in loose.boxes.items()} != {a: b.codes for a, b in tight.boxes.items()}:
        return
    event(f"tight scale {'< 1' if tight.scale < 1 else '= 1'}")
    for asset, x in tight.post_trade.items():
        target = loose.post_trade[asset]
        step = snap.markets[asset].amount_step * snap.markets[asset].contract_size * snap.mark_prices[asset].price \
            if asset in snap.markets else D(0)
        assert (x >= -step if target >= 0 else x <= step), (asset, x, target)
        assert abs(x) <= abs(target) + step, (asset, x, target)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books(), st.integers(0, 50))
def test_replanning_after_perfect_execution_gives_no_orders(book, min_notional):
    """Execute the approved legs perfectly, plan again on that snapshot: nothing to send."""
    snap, weights = book
    snap = replace(snap, account=HedgeAccount(D(10**12), D(10**12)))
    p, v = _run(snap, weights, AMPLE, D(min_notional))
    if v is None or v.scale != 1 or v.state is not TradingState.ACTIVE:
        return
    event(f"{'some' if v.approved else 'no'} orders in the first plan")
    _, again = _run(after_execution(snap, v.approved), weights, AMPLE, D(min_notional))
    assert again.approved == (), (v.approved, again.approved)
