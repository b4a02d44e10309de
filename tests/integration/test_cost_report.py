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


# --------------------------------------------------------------------------- the document, without an exchange


class FakeJournal:
    def __init__(self, cycles, orders, entries=()):
        self._cycles, self._orders, self._entries = cycles, orders, list(entries)

    def cycles(self, **_):
        return self._cycles

    def orders(self, **_):
        return self._orders

    def ledger_entries(self, venue=None, **_):
        return self._entries


def _cycle(cid, at, *, holdings, spot_values, outcome="done", funding_per_day="0.5"):
    from rebalancer.journal import CycleRecord

    plan = {"assets": [{"asset": a, "spot_value": v, "effective_weight": "0.5", "target_weight": "0.5"}
                       for a, v in spot_values.items()]}
    return CycleRecord(id=cid, kind="rebalance", execute=True, venue="main", started_at=at, finished_at=at,
                       outcome=outcome, snapshot_summary={}, plan=plan,
                       verdict={"funding_cost_per_day": funding_per_day},
                       result={"snapshot": {"holdings": holdings, "marks": {"SOL": "150"}}}, error=None)


def _order(cid, cycle_id, asset, side, filled, average, at, leg="adjust"):
    from rebalancer.domain import OrderState, Side
    from rebalancer.journal import OrderRecord

    return OrderRecord(client_order_id=cid, cycle_id=cycle_id, asset=asset, symbol=f"{asset}/USDT:USDT",
                       side=Side(side), amount=Decimal(filled), reduce_only=False, leg=leg, order_type="market",
                       limit_price=None, state=OrderState.FILLED, exchange_order_id="1", filled=Decimal(filled),
                       average=Decimal(average), fee=None, fee_currency=None, error_code=None, error_message=None,
                       created_at=at, updated_at=at, attempts=1)


def test_report_document_prices_missing_basis_and_sources(tmp_path):
    from datetime import timedelta

    from rebalancer.settings import load_settings

    config = tmp_path / "rebalancer.toml"
    config.write_text(
        '[portfolio]\nquote = "USDT"\ntargets = { BTC = 0.5, SOL = 0.5 }\n'
        '[venues.main]\nexchange = "binance"\nmode = "local"\nbase_url = "http://127.0.0.1:1"\n'
        'roles = ["spot", "hedge"]\napi_key = "k"\napi_secret = "s"\n'
        '[journal]\npath = "j.db"\n[costs]\nspot_fee_rate = 0.002\ntax_rate = 0.1\n'
        '[costs.cost_basis]\nSOL = 100\n')
    settings = load_settings(config, env={})
    t0 = datetime(2026, 11, 25, 12, tzinfo=timezone.utc)
    cycles = [_cycle("c1", t0, holdings={"BTC": "0.5", "SOL": "0"}, spot_values={"BTC": "20000", "SOL": "0"})]
    orders = [
        # 0.1 BTC sold at the cycle's spot price 20,000 / 0.5 = 40,000 (the perp filled at 40,100: not used)
        _order("o1", "c1", "BTC", "sell", "0.1", "40100", t0),
        # SOL: no holding to value, the snapshot's mark 150 stands in; bought 2
        _order("o2", "c1", "SOL", "buy", "2", "151", t0),
        # a fired stop recognised by c1 later: priced at its own fill, 160; sells the 2 SOL bought (FIFO/average
        # alike: (160 - 150) * 2 = 20)
        _order("o3", "c1", "SOL", "sell", "2", "160", t0 + timedelta(hours=1), leg="stop"),
    ]
    doc = build_report(settings, FakeJournal(cycles, orders), now=t0 + timedelta(days=1))
    trades = {t["client_order_id"]: t for t in doc["trades"]}
    assert [(trades[k]["price"], trades[k]["price_source"]) for k in ("o1", "o2", "o3")] == \
        [("40000", "spot"), ("150", "mark"), ("160", "fill")]
    # BTC has no cost basis: its sale's gain is unknown, so are the totals' gains and tax; fees are known:
    # 0.002 * (0.1 * 40,000 + 2 * 150 + 2 * 160) = 0.002 * 4,620 = 9.24
    assert doc["spot_equivalent"] == {"fees": "9.24", "realized_gains": None, "tax": None, "cost": None}
    lines = {a["asset"]: a for a in doc["assets"]}
    assert lines["SOL"]["spot_equivalent"]["realized_gains"] == "20"
    assert lines["SOL"]["spot_equivalent"]["tax"] == "2"
    assert lines["BTC"]["spot_equivalent"]["realized_gains"] is None
    # no ledger: the synthetic side is 0 (nothing recorded), the saving unknown (spot cost unknown)
    assert doc["saving"] is None and doc["breakeven_days"] is None
    assert any("BTC: no [costs.cost_basis]" in n for n in doc["notes"])
    assert doc["series"]["weights"]["BTC"] == [{"at": t0.isoformat(), "effective": "0.5", "target": "0.5"}]
    assert doc["funding_cost_per_day"] == "0.5"


def test_report_without_a_journal_says_so(tmp_path):
    config = tmp_path / "rebalancer.toml"
    config.write_text(
        '[portfolio]\nquote = "USDT"\ntargets = { BTC = 0.5, ETH = 0.5 }\n'
        '[venues.main]\nexchange = "binance"\nmode = "local"\nbase_url = "http://127.0.0.1:1"\n'
        'roles = ["spot", "hedge"]\napi_key = "k"\napi_secret = "s"\n'
        '[journal]\npath = "j.db"\n[logging]\nfile = ""\n')
    import structlog

    saved = structlog.get_config()
    try:
        result = CliRunner().invoke(app, ["report", "--config", str(config)])
    finally:
        structlog.configure(**saved)
    assert result.exit_code == 1
    assert "no journal at" in result.output and "run a cycle first" in result.output
