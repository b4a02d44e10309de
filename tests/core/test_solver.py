"""The balanced-book solver: the weighted solve that keeps the net, and the common scale k,
checked against independent brute-force solutions (active-set enumeration and a dense grid)."""

from fractions import Fraction
from itertools import product

from hypothesis import given, settings
from hypothesis import strategies as st

from rebalancer.core.checks import stress_term
from rebalancer.core.margin import leverage_cap, maintenance
from rebalancer.core.solver import Leg, Term, abs_phi, max_scale, per_position_scale, solve_net
from rebalancer.domain import D, Box
from tests.fakes import limits, market, tiers

FREE = Box(None, None)


def test_example_8_doge_gap_spreads_half_and_half():
    legs = [Leg("BTC", D("0.4"), D("-1000"), D(0), FREE), Leg("ETH", D("0.4"), D("2000"), D(0), FREE),
            Leg("DOGE", D("0.2"), D("-1000"), D(0), Box(D(0), D(0), ("UNHEDGEABLE",)))]
    s = solve_net(legs, D(0))
    assert s.targets == {"BTC": D("-1500"), "ETH": D("1500"), "DOGE": D(0)} and s.residual == 0
    assert s.mu == D("-1250")


def test_example_9_funding_box_spreads_four_sevenths_and_three_sevenths():
    legs = [Leg("BTC", D("0.4"), D("-1000"), D(0), FREE), Leg("ETH", D("0.3"), D("1000"), D(0), Box(None, D(0))),
            Leg("SOL", D("0.3"), D(0), D(0), FREE)]
    s = solve_net(legs, D(0))
    assert s.targets["ETH"] == 0
    assert s.targets["BTC"] == D("-428.5714285714") and s.targets["SOL"] == D("428.5714285714")


def test_example_5_lone_short_gives_no_orders():
    legs = [Leg("BTC", D("0.5"), D("-1000"), D(0), FREE), Leg("ETH", D("0.5"), D("1000"), D(0), Box(None, D(0)))]
    assert solve_net(legs, D(0)).targets == {"BTC": 0, "ETH": 0}


def test_unreachable_net_takes_the_closest_book_and_reports_the_residual():
    legs = [Leg("A", D("0.5"), D("100"), D(0), Box(D(0), D(50))), Leg("B", D("0.5"), D("100"), D(0), Box(D(0), D(20)))]
    s = solve_net(legs, D("500"))
    assert s.targets == {"A": D(50), "B": D(20)} and s.residual == D(-430)


def test_zero_weight_takes_no_share():
    legs = [Leg("A", D("0"), D("-300"), D(0), FREE), Leg("B", D("1"), D("100"), D(0), FREE)]
    assert solve_net(legs, D(0)).targets == {"A": D(-300), "B": D(300)}


# --------------------------------------------------------------------------- differential: solve_net


def brute_force(legs, net):
    """Enumerate which bound binds for each asset (lo, hi or none), solve each equality-constrained
    case in closed form with exact fractions, keep the feasible one with the smallest objective;
    if none reaches the net, the one closest to it."""
    F = Fraction
    best = None
    options = []
    for leg in legs:
        opts = ["free"]
        if leg.box.lo is not None:
            opts.append("lo")
        if leg.box.hi is not None:
            opts.append("hi")
        options.append(opts)
    for choice in product(*options):
        fixed = {leg.asset: F(leg.box.lo if c == "lo" else leg.box.hi) for leg, c in zip(legs, choice) if c != "free"}
        free = [leg for leg, c in zip(legs, choice) if c == "free"]
        wsum = sum((F(leg.weight) for leg in free), F(0))
        rest = F(net) - sum(fixed.values(), F(0)) - sum((F(leg.desired) for leg in free), F(0))
        if wsum == 0:
            if free:
                continue
            values = dict(fixed)
        else:
            mu = rest / wsum
            values = {**fixed, **{leg.asset: F(leg.desired) + mu * F(leg.weight) for leg in free}}
        ok = all((leg.box.lo is None or values[leg.asset] >= F(leg.box.lo))
                 and (leg.box.hi is None or values[leg.asset] <= F(leg.box.hi)) for leg in legs)
        if not ok:
            continue
        gap = abs(sum(values.values(), F(0)) - F(net))
        objective = sum(((values[l.asset] - F(l.desired)) ** 2 / F(l.weight) for l in legs), F(0))
        key = (gap, objective)
        if best is None or key < best[0]:
            best = (key, values)
    return best


@st.composite
def small_books(draw):
    n = draw(st.integers(2, 4))
    legs = []
    for i in range(n):
        w = D(draw(st.integers(1, 10))) / 10
        desired = D(draw(st.integers(-3000, 3000)))
        current = D(draw(st.integers(-1000, 1000)))
        kind = draw(st.sampled_from(["free", "frozen", "hi0", "lo0", "shrink", "range"]))
        box = {"free": FREE, "frozen": Box(current, current), "hi0": Box(None, max(current, D(0))),
               "lo0": Box(min(current, D(0)), None), "shrink": Box(min(current, D(0)), max(current, D(0))),
               "range": Box(current - D(draw(st.integers(0, 2000))), current + D(draw(st.integers(0, 2000))))}[kind]
        legs.append(Leg(f"A{i}", w, desired, current, box))
    net = D(draw(st.integers(-2000, 2000)))
    return legs, net


@settings(max_examples=400, deadline=None)
@given(small_books())
def test_solve_net_agrees_with_brute_force_active_set_enumeration(book):
    """On small books the solver's post-trade book equals the brute-force optimum (to 1e-9)."""
    legs, net = book
    (gap, _obj), expected = brute_force(legs, net)
    got = solve_net(legs, net)
    for leg in legs:
        assert abs(Fraction(got.targets[leg.asset]) - expected[leg.asset]) < Fraction(1, 10**9), (leg, got, expected)
    assert abs(abs(Fraction(got.residual)) - gap) < Fraction(1, 10**9)


# --------------------------------------------------------------------------- the common scale


def test_example_10_gross_sweep_gives_one_half():
    terms = [Term(D(-1000), D(400), abs_phi, (D(0),)), Term(D(0), D(-1000), abs_phi, (D(0),)),
             Term(D(1000), D(600), abs_phi, (D(0),))]
    assert max_scale(D(0), terms, D(2600)) == D("0.5")


def test_scale_through_zero_uses_the_distance_from_zero_not_the_order_size():
    """A short of 1,000 bought by 1,500 ends long 500: gross is |-1000 + 1500 k|, minimal at k = 2/3."""
    terms = [Term(D(-1000), D(1500), abs_phi, (D(0),))]
    assert max_scale(D(0), terms, D(1000)) == 1  # never above 1,000 on the way
    assert max_scale(D(0), terms, D(400)) is None  # the current book already fails
    k = max_scale(D(0), [Term(D(-1000), D(3000), abs_phi, (D(0),))], D(1500))
    assert k == D("0.8333333333333333333333333333")  # -1000 + 3000 k = 1500


def test_nothing_to_scale_gives_one():
    assert max_scale(D(0), [Term(D(100), D(-50), abs_phi, (D(0),))], D(1000)) == 1


def test_per_position_cap():
    assert per_position_scale(D(500), D(1000), D(1000)) == D("0.5")
    assert per_position_scale(D(1500), D(-100), D(1000)) is None
    assert per_position_scale(D(-500), D(2000), D(1000)) == D("0.75")


T = tiers(("50000", "0.004", "125"), ("250000", "0.005", "100"), ("1000000", "0.01", "50"), (None, "0.025", "20"))


def test_maintenance_is_continuous_across_tiers():
    for t in T[1:]:
        assert maintenance(t.floor, T, D("0.005")) == t.floor * T[T.index(t) - 1].mmr - T[T.index(t) - 1].cum
    assert maintenance(D(600000), T, D("0.005")) == D(600000) * D("0.01") - T[2].cum


def test_leverage_cap_is_the_last_tier_allowing_the_leverage():
    assert leverage_cap(T, D(3)) is None  # the open-ended tier allows 20x
    assert leverage_cap(T, D(60)) == D(250000)
    assert leverage_cap(T, D(126)) == 0
    assert leverage_cap((), D(3)) is None


@st.composite
def scale_cases(draw):
    n = draw(st.integers(1, 5))
    rows = [(D(draw(st.integers(-400000, 400000))), D(draw(st.integers(-800000, 800000)))) for _ in range(n)]
    use_tiers = draw(st.booleans())
    limit = D(draw(st.integers(1000, 200000)))
    return rows, use_tiers, limit


@settings(max_examples=200, deadline=None)
@given(scale_cases())
def test_max_scale_agrees_with_a_dense_grid_on_the_stress_check(case):
    """The sweep's k passes the check, and 1/2000 more fails it (or k is 1): checked on a grid."""
    rows, use_tiers, limit = case
    lim = limits(min_liquidation_distance="0.25")
    m = market("X", tiers=T if use_tiers else ())
    terms = [stress_term(x0, dx, m, lim) for x0, dx in rows]

    def g(k):
        return sum((t.phi(t.x0 + k * t.dx) for t in terms), D(0))

    k = max_scale(D(0), terms, limit)
    grid = [D(i) / 2000 for i in range(2001)]
    feasible = [x for x in grid if g(x) <= limit]
    if g(D(0)) > limit:
        assert k is None
        return
    assert g(k) <= limit * (1 + D("1e-20"))
    assert k >= max(feasible) - D("1e-20")  # nothing on the grid beyond k passes
    if k < 1:
        assert g(min(D(1), k + D(1) / 2000)) > limit
