"""`rebalancer report` end to end on every dialect, through real ccxt: DOMAIN example 2 as two real cycles
(spot BTC $4,000 / ETH $2,000 at 50/50; then BTC -10%, ETH +10%), cost basis BTC 20,000 / ETH 1,000, spot fee
0.1%, tax 25%. `report --json` gives synthetic fees and funding equal to the exchange's own COMMISSION and
FUNDING_FEE records to the cent, and spot-equivalent figures equal to core.costs on the exchange's own fills
at the prices the test set."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from rebalancer.cli import app
from rebalancer.core.costs import Adjustment, spot_equivalent
from rebalancer.costs_report import build_report
from rebalancer.journal import Journal
from rebalancer.service import Rebalancer
from tests.integration.conftest import settings_for, sim_post, sim_state, start_exchange, write_config
from tests.integration.test_ledger import cents, income_by_asset

pytestmark = pytest.mark.integration

TARGETS = {"BTC": 0.5, "ETH": 0.5}
BASIS = {"BTC": Decimal(20000), "ETH": Decimal(1000)}
PRICES_1 = {"BTC": Decimal(40000), "ETH": Decimal(2000)}
PRICES_2 = {"BTC": Decimal(36000), "ETH": Decimal(2200)}
COSTS = """
[costs]
spot_fee_rate = 0.001
method = "{method}"
tax_rate = 0.25

[costs.cost_basis]
BTC = 20000
ETH = 1000
"""


def scenario() -> dict:
    """DOMAIN example 2: 0.1 BTC at 40,000 ($4,000), 1 ETH at 2,000 ($2,000); funding so both routes cost."""
    return {
        "markets": {"BTC": {"spot_price": 40000, "amount_step": 0.001, "funding_rate": 0.0001},
                    "ETH": {"spot_price": 2000, "amount_step": 0.001, "funding_rate": 0.0002}},
        "spot": {"BTC": 0.1, "ETH": 1, "USDT": 0},
        "futures": {"wallet": 10000},
    }


def report_json(config) -> dict:
    import structlog

    saved = structlog.get_config()  # the command configures logging in-process: put it back (see test_ledger)
    try:
        result = CliRunner().invoke(app, ["report", "--json", "--config", str(config)])
    finally:
        structlog.configure(**saved)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def d(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


async def test_report_matches_the_exchange_and_core_costs(dialect, tmp_path, fast_executor):
    async with start_exchange(scenario(), dialect) as ex:
        settings = settings_for(tmp_path, ex, TARGETS, extra=COSTS.format(method="fifo"))
        config = write_config(tmp_path, ex, TARGETS, extra=COSTS.format(method="fifo"))
        rb = Rebalancer(settings, executor_kw=fast_executor)
        try:
            first = await rb.cycle(execute=True)
            assert first.outcome == "done", first.error
            first_orders = len((await sim_state(ex))["orders"])
            await sim_post(ex, "settle-funding", {})
            await sim_post(ex, "prices", {a: {"spot": float(p), "mark": float(p)} for a, p in PRICES_2.items()})
            await sim_post(ex, "settle-funding", {})
            second = await rb.cycle(execute=True)
            assert second.outcome == "done", second.error
            assert all(o.reduce_only for o in second.plan.orders)
        finally:
            await rb.close()

        state = await sim_state(ex)
        doc = await asyncio.to_thread(report_json, config)

    # The exchange's own fills, each at the spot price of its cycle (the test set them): the same trades as
    # spot trades, through core.costs.
    fills = [o for o in state["orders"] if Decimal(o["executed_qty"])]
    assert len(fills) == 4
    trades = []
    for n, o in enumerate(fills):
        asset = o["symbol"].removesuffix("USDT")
        qty = Decimal(o["executed_qty"])
        prices = PRICES_1 if n < first_orders else PRICES_2
        trades.append(Adjustment(datetime.fromtimestamp(o["time"] / 1000, timezone.utc), asset,
                                 qty if o["side"] == "BUY" else -qty, prices[asset]))
    by_asset = {t.asset: [x.amount for x in trades if x.asset == t.asset] for t in trades}
    # cycle 1: short BTC $1,000 (0.025), long ETH $1,000 (0.5); cycle 2: BTC back $200 -> 0.005 at the 0.001
    # step, ETH $400 / 2,200 = 0.1818 -> 0.181
    assert by_asset == {"BTC": [Decimal("-0.025"), Decimal("0.005")], "ETH": [Decimal("0.5"), Decimal("-0.181")]}
    holdings = {"BTC": Decimal("0.1"), "ETH": Decimal(1), "USDT": Decimal(0)}
    fifo = spot_equivalent(trades, holdings, BASIS, method="fifo", spot_fee_rate=Decimal("0.001"),
                           tax_rate=Decimal("0.25"))
    # by hand: fees 0.001 * (1,000 + 1,000 + 0.005 * 36,000 + 0.181 * 2,200) = 0.001 * 2,578.2 = 2.5782;
    # FIFO gains (40,000 - 20,000) * 0.025 + (2,200 - 1,000) * 0.181 = 500 + 217.2 = 717.2, tax 179.3
    assert (fifo.fees, fifo.realized_gains, fifo.tax) == (Decimal("2.5782"), Decimal("717.2"), Decimal("179.3"))
    spot = doc["spot_equivalent"]
    assert (d(spot["fees"]), d(spot["realized_gains"]), d(spot["tax"])) == (fifo.fees, fifo.realized_gains, fifo.tax)
    assert doc["method"] == "fifo" and doc["quote"] == "USDT"

    # synthetic: the exchange's commissions and funding, per asset and in total, to the cent
    income = income_by_asset(state)
    lines = {a["asset"]: a for a in doc["assets"]}
    assert sorted(lines) == ["BTC", "ETH"]
    for asset, figures in income.items():
        assert cents(lines[asset]["synthetic"]["fees"]) == cents(figures["fees"]), asset
        assert cents(lines[asset]["synthetic"]["funding"]) == cents(figures["funding"]), asset
    fees = sum(f["fees"] for f in income.values())
    funding = sum(f["funding"] for f in income.values())
    assert fees > 0 and funding != 0
    assert cents(doc["synthetic"]["fees"]) == cents(fees)
    assert cents(doc["synthetic"]["funding"]) == cents(funding)
    assert d(doc["synthetic"]["pnl"]) is not None
    # saving = (spot fees + tax) - (perp fees - funding)
    assert d(doc["saving"]) == fifo.fees + fifo.tax - (d(doc["synthetic"]["fees"]) - d(doc["synthetic"]["funding"]))
    # break-even: the last cycle's funding cost per day (positive: the hedges pay) over the saving
    per_day = d(doc["funding_cost_per_day"])
    assert per_day is not None
    if per_day > 0:
        assert d(doc["breakeven_days"]) == d(doc["saving"]) / per_day
    else:
        assert doc["breakeven_days"] is None

    # the series the HTML charts draw
    series = doc["series"]
    assert [p["target"] for p in series["weights"]["BTC"]] == ["0.5", "0.5"]
    # cycle 1 saw BTC 4,000 / 6,000 = 2/3 before trading; cycle 2 saw (3,600 - 900) / 5,800 (DOMAIN: $2,700)
    assert Decimal(series["weights"]["BTC"][0]["effective"]).quantize(Decimal("0.0001")) == Decimal("0.6667")
    assert Decimal(series["weights"]["BTC"][1]["effective"]).quantize(Decimal("0.0001")) == Decimal("0.4655")
    costs = series["costs"]
    assert [p["at"] for p in costs] == sorted(p["at"] for p in costs)
    assert costs[-1]["synthetic"] == doc["synthetic"]["cost"] and costs[-1]["spot_equivalent"] == spot["cost"]
    for asset, points in series["funding"].items():
        assert len(points) == 2 and cents(points[-1]["cumulative"]) == cents(income[asset]["funding"])

    # the other method on the same journal: average cost, by hand on ETH (1 at 1,000 + 0.5 at 2,000 = 4,000/3)
    (tmp_path / "avg").mkdir()
    average_settings = settings_for(tmp_path / "avg", ex, TARGETS, extra=COSTS.format(method="average"))
    average_settings = average_settings.model_copy(update={"journal": settings.journal})
    with Journal(settings.journal_path()) as journal:
        avg = build_report(average_settings, journal)
    eth_gain = (Decimal(2200) - Decimal(4000) / Decimal(3)) * Decimal("0.181")
    assert abs(d(avg["spot_equivalent"]["realized_gains"]) - (Decimal(500) + eth_gain)) < Decimal("1e-20")
    assert d(avg["spot_equivalent"]["fees"]) == fifo.fees
