"""core.costs: the spot-equivalent route of `rebalancer report` (issue 15), on DOMAIN example 2 by hand for
both cost methods, and its properties (FIFO and average agree once everything is sold; fees are linear)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

import pytest
from hypothesis import given, settings, strategies as st

from rebalancer.core.costs import (
    Adjustment,
    breakeven_days,
    saving,
    spot_equivalent,
    synthetic_cost,
    tax_on,
)

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
T1 = T0 + timedelta(hours=1)
TINY = D("1e-20")

# DOMAIN example 2: spot BTC $4,000 (0.1 BTC at 40,000), ETH $2,000 (1 ETH at 2,000), targets 50/50.
HOLDINGS = {"BTC": D("0.1"), "ETH": D(1)}
BASIS = {"BTC": D(20000), "ETH": D(1000)}


def example_2() -> list[Adjustment]:
    return [
        # cycle 1: short BTC perp $1,000 = sell 0.025 BTC at 40,000; long ETH perp $1,000 = buy 0.5 ETH at 2,000
        Adjustment(T0, "BTC", D("-0.025"), D(40000), "c1-btc"),
        Adjustment(T0, "ETH", D("0.5"), D(2000), "c1-eth"),
        # cycle 2 (BTC -10% to 36,000, ETH +10% to 2,200): buy back $200 of the BTC short = 200/36000 BTC,
        # sell $400 of the ETH long = 400/2200 = 2/11 ETH
        Adjustment(T1, "BTC", D(200) / D(36000), D(36000), "c2-btc"),
        Adjustment(T1, "ETH", -(D(400) / D(2200)), D(2200), "c2-eth"),
    ]


def close(a: D | None, b: D) -> bool:
    return a is not None and abs(a - b) < TINY


@pytest.mark.parametrize("method", ["average", "fifo"])
def test_example_2_fees_by_hand(method):
    route = spot_equivalent(example_2(), HOLDINGS, BASIS, method=method, spot_fee_rate=D("0.001"), tax_rate=D(0))
    # fees: 0.1% of each trade's notional, whatever the method:
    #   BTC: $1,000 * 0.001 = 1.00 and $200 * 0.001 = 0.20  -> 1.20
    #   ETH: $1,000 * 0.001 = 1.00 and $400 * 0.001 = 0.40  -> 1.40
    #   total 2.60
    by = {a.asset: a for a in route.assets}
    assert close(by["BTC"].fees, D("1.2")) and close(by["ETH"].fees, D("1.4"))
    assert close(route.fees, D("2.6"))
    assert route.tax == 0  # a 0 tax rate: no tax
    assert [a.trades for a in route.assets] == [2, 2]


def test_example_2_average_cost_by_hand():
    route = spot_equivalent(example_2(), HOLDINGS, BASIS, method="average", spot_fee_rate=D("0.001"),
                            tax_rate=D("0.25"))
    by = {a.asset: a for a in route.assets}
    # BTC: cycle 1 sells 0.025 at 40,000 against the average cost 20,000: (40,000 - 20,000) * 0.025 = 500.
    #      cycle 2 buys 200/36,000 BTC: a buy realises nothing.                              BTC total 500
    # ETH: cycle 1 buys 0.5 at 2,000: holding 1.5 ETH at (1 * 1,000 + 0.5 * 2,000) / 1.5 = 4,000/3 = 1,333.33
    #      cycle 2 sells 2/11 ETH at 2,200: (2,200 - 4,000/3) * 2/11 = (2,600/3) * (2/11) = 5,200/33 = 157.5757...
    eth = D(5200) / D(33)
    assert close(by["BTC"].realized_gains, D(500))
    assert close(by["ETH"].realized_gains, eth)
    assert close(route.realized_gains, D(500) + eth)  # 657.5757...
    # tax at 25%: 657.5757... * 0.25 = 164.3939...
    assert close(route.tax, (D(500) + eth) / 4)
    assert close(by["BTC"].tax, D(125)) and close(by["ETH"].tax, eth / 4)
    assert close(route.cost, D("2.6") + (D(500) + eth) / 4)
    # holdings after: BTC 0.1 - 0.025 + 1/180; ETH 1.5 - 2/11
    assert close(by["BTC"].holding, D("0.075") + D(200) / D(36000))
    assert close(by["ETH"].holding, D("1.5") - D(400) / D(2200))


def test_example_2_fifo_by_hand():
    route = spot_equivalent(example_2(), HOLDINGS, BASIS, method="fifo", spot_fee_rate=D("0.001"),
                            tax_rate=D("0.25"))
    by = {a.asset: a for a in route.assets}
    # BTC: one lot (the starting 0.1 at 20,000); the sale takes 0.025 of it: (40,000 - 20,000) * 0.025 = 500,
    #      the same as average (one lot: the average is the lot's cost).
    # ETH: lots [1 at 1,000 (start), 0.5 at 2,000 (cycle 1)]; the sale of 2/11 ETH takes the oldest lot:
    #      (2,200 - 1,000) * 2/11 = 2,400/11 = 218.1818...  (average: 157.5757...; FIFO sells the cheap coins first)
    eth = D(2400) / D(11)
    assert close(by["BTC"].realized_gains, D(500))
    assert close(by["ETH"].realized_gains, eth)
    assert close(route.realized_gains, D(500) + eth)  # 718.1818...
    assert close(route.tax, (D(500) + eth) / 4)  # 179.5454...
    assert close(route.fees, D("2.6"))


def test_losses_offset_gains_across_assets_in_the_total_not_in_an_asset():
    adjustments = [Adjustment(T0, "BTC", D(-1), D(30000)), Adjustment(T0, "ETH", D(-1), D(500))]
    route = spot_equivalent(adjustments, {"BTC": D(1), "ETH": D(1)}, {"BTC": D(20000), "ETH": D(1000)},
                            method="average", spot_fee_rate=D(0), tax_rate=D("0.5"))
    by = {a.asset: a for a in route.assets}
    # BTC gains 10,000 (tax 5,000 alone); ETH loses 500 (tax 0); the report nets: 9,500 * 0.5 = 4,750
    assert (by["BTC"].tax, by["ETH"].tax, route.tax) == (D(5000), D(0), D(4750))


def test_unknown_cost_basis_is_unknown_gains_not_zero():
    sell = [Adjustment(T0, "BTC", D("-0.5"), D(30000))]
    for method in ("average", "fifo"):
        route = spot_equivalent(sell, {"BTC": D(1)}, {}, method=method, spot_fee_rate=D("0.001"), tax_rate=D("0.2"))
        assert route.realized_gains is None and route.tax is None
        assert route.fees == D(15)  # 0.5 * 30,000 * 0.001: the fee does not need the basis
        untaxed = spot_equivalent(sell, {"BTC": D(1)}, {}, method=method, spot_fee_rate=D(0), tax_rate=D(0))
        assert untaxed.tax == 0  # no tax at a 0 rate, known whatever the gains


def test_a_buy_then_a_sale_from_an_unknown_basis_is_known_once_the_unknown_lot_is_gone_fifo():
    trades = [Adjustment(T0, "BTC", D(1), D(30000)), Adjustment(T1, "BTC", D(-1), D(31000))]
    # FIFO sells the starting coin first (unknown cost): unknown; average mixes it in: unknown too
    for method in ("average", "fifo"):
        route = spot_equivalent(trades, {"BTC": D(1)}, {}, method=method, spot_fee_rate=D(0), tax_rate=D(0))
        assert route.realized_gains is None
    # from an empty holding both are known: (31,000 - 30,000) * 1
    for method in ("average", "fifo"):
        route = spot_equivalent(trades, {}, {}, method=method, spot_fee_rate=D(0), tax_rate=D(0))
        assert route.realized_gains == D(1000)


def test_a_sale_beyond_the_holding_is_a_short_lot_closed_by_the_next_buy():
    trades = [Adjustment(T0, "BTC", D(-2), D(30000)), Adjustment(T1, "BTC", D(1), D(25000))]
    for method in ("average", "fifo"):
        route = spot_equivalent(trades, {"BTC": D(1)}, {"BTC": D(20000)}, method=method, spot_fee_rate=D(0),
                                tax_rate=D(0))
        # the held coin: (30,000 - 20,000) * 1 = 10,000; the short coin sold at 30,000 bought back at 25,000: 5,000
        assert route.realized_gains == D(15000), method
        assert route.assets[0].holding == 0


def test_since_counts_later_trades_on_the_whole_history():
    route = spot_equivalent(example_2(), HOLDINGS, BASIS, method="fifo", spot_fee_rate=D("0.001"), tax_rate=D(0),
                            since=T1)
    by = {a.asset: a for a in route.assets}
    # only cycle 2 counts: BTC buy (no gain, fee 0.2); ETH sale from the starting lot: 2,400/11, fee 0.4
    assert close(by["BTC"].fees, D("0.2")) and close(by["ETH"].fees, D("0.4"))
    assert by["BTC"].realized_gains == 0 and close(by["ETH"].realized_gains, D(2400) / D(11))
    assert [a.trades for a in route.assets] == [1, 1]


def test_unknown_price_is_unknown_fee():
    route = spot_equivalent([Adjustment(T0, "BTC", D(-1), None)], {"BTC": D(2)}, {"BTC": D(1)}, method="average",
                            spot_fee_rate=D("0.001"), tax_rate=D(0))
    assert route.fees is None and route.realized_gains is None


def test_bad_method():
    with pytest.raises(ValueError):
        spot_equivalent([], {}, {}, method="lifo", spot_fee_rate=D(0), tax_rate=D(0))


def test_saving_and_breakeven():
    # synthetic: fees 1.30 paid, funding 0.50 received -> cost 0.80; spot: fees 2.60 + tax 164.39 -> 166.99
    synth = synthetic_cost(D("1.3"), D("0.5"))
    assert synth == D("0.8")
    saved = saving(D("2.6") + D("164.39"), synth)
    assert saved == D("166.19")
    # paying 0.50 a day in funding, the saving lasts 166.19 / 0.5 = 332.38 days
    assert breakeven_days(saved, D("0.5")) == D("332.38")
    assert breakeven_days(saved, D("-0.5")) is None  # the hedges receive funding: never
    assert breakeven_days(saved, D(0)) is None  # nothing held / no funding
    assert breakeven_days(D(-1), D("0.5")) == 0  # already more expensive
    assert breakeven_days(None, D("0.5")) is None
    assert synthetic_cost(None, D(0)) is None and saving(D(1), None) is None
    assert tax_on(D(-5), D("0.3")) == 0 and tax_on(D(10), D("0.3")) == D(3)


# --------------------------------------------------------------------------- properties

amounts = st.decimals(min_value=D("0.001"), max_value=D(5), places=3)
prices = st.decimals(min_value=D(1), max_value=D(100000), places=2)


@st.composite
def histories(draw):
    """Buys and sales that never sell more than is held, then a sale of everything left."""
    start = draw(amounts)
    held = start
    trades = []
    for i in range(draw(st.integers(0, 8))):
        if draw(st.booleans()) or held == 0:
            x = draw(amounts)
        else:
            x = -min(draw(amounts), held)
        held += x
        trades.append(Adjustment(T0 + timedelta(minutes=i), "BTC", x, draw(prices)))
    if held:
        trades.append(Adjustment(T0 + timedelta(minutes=99), "BTC", -held, draw(prices)))
    return start, draw(prices), trades


@settings(max_examples=150, deadline=None)
@given(histories())
def test_fifo_and_average_realise_the_same_total_when_everything_is_sold(history):
    start, basis, trades = history
    # sum over sales of price * amount - (what was bought + the start's cost): the same whatever the order
    # the lots are taken in
    routes = [spot_equivalent(trades, {"BTC": start}, {"BTC": basis}, method=m, spot_fee_rate=D(0), tax_rate=D(0))
              for m in ("average", "fifo")]
    cash = sum((-t.amount * t.price for t in trades), D(0)) - start * basis
    for route in routes:
        assert route.assets[0].holding == 0
        assert abs(route.realized_gains - cash) < D("1e-15")


@settings(max_examples=100, deadline=None)
@given(histories(), st.decimals(min_value=D(0), max_value=D("0.01"), places=5),
       st.sampled_from(["average", "fifo"]))
def test_fees_are_linear_in_rate_and_amounts(history, rate, method):
    start, basis, trades = history
    route = spot_equivalent(trades, {"BTC": start}, {"BTC": basis}, method=method, spot_fee_rate=rate, tax_rate=D(0))
    assert route.fees == sum((abs(t.amount) * t.price for t in trades), D(0)) * rate
    doubled = [Adjustment(t.at, t.asset, t.amount * 2, t.price) for t in trades]
    twice = spot_equivalent(doubled, {"BTC": start * 2}, {"BTC": basis}, method=method, spot_fee_rate=rate,
                            tax_rate=D(0))
    assert twice.fees == route.fees * 2
    assert abs(twice.realized_gains - route.realized_gains * 2) < D("1e-15")
