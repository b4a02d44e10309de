"""CcxtVenue on the BingX, MEXC and WEEX dialects of the local exchange (issue 13): connect, snapshot,
place, lookup, and the WEEX size hazard read from the request ccxt really sent.

The venue builds the exchange's own ccxt class in mode "local" and talks HTTP to the dialect. One
exchange per dialect for the module; the engine is reset before each test.
"""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any, AsyncIterator
from urllib.parse import urlsplit

import pytest
import pytest_asyncio

from rebalancer.core.planner import make_order
from rebalancer.domain import OrderState, Side
from rebalancer.exchange_sim.runner import RunningExchange, start_exchange
from rebalancer.venues.ccxt_venue import CcxtVenue
from tests.exchange_sim.dialect_checks import reset, sim_state
from tests.venues.test_venue_local_dialects import config, order

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

DIALECTS = ["bingx", "mexc", "weex"]
# The venues' real contract sizes: MEXC counts whole contracts (BTC 0.0001, ETH 0.01); WEEX publishes
# contractVal (BTC 0.0001, ETH 0.001) but its quantities are base units; BingX linear is base units.
SCENARIO_SIZES = {"mexc": {"BTC": Decimal("0.0001"), "ETH": Decimal("0.01")},
                  "weex": {"BTC": Decimal("0.0001"), "ETH": Decimal("0.001")}}
# What the planner must see (Market.contract_size): WEEX 1, whatever contractVal says.
PLANNER_SIZES = {"bingx": {"BTC": Decimal(1), "ETH": Decimal(1)},
                 "mexc": SCENARIO_SIZES["mexc"],
                 "weex": {"BTC": Decimal(1), "ETH": Decimal(1)}}


def scenario(dialect: str) -> dict[str, Any]:
    sizes = SCENARIO_SIZES.get(dialect, {})
    whole_contracts = dialect == "mexc"

    def market(asset: str, price: int, funding: float, hours: int) -> dict[str, Any]:
        step = 1 if whole_contracts else 0.001
        out: dict[str, Any] = {"spot_price": price, "funding_rate": funding, "amount_step": step, "min_qty": step,
                               "funding_interval_hours": hours, "min_notional": 5}
        if asset in sizes:
            out["contract_size"] = float(sizes[asset])
        return out

    return {
        "markets": {"BTC": market("BTC", 40000, 0.0001, 8), "ETH": market("ETH", 2000, -0.0002, 4)},
        "spot": {"BTC": 0.1, "ETH": 1.0, "USDT": 0},
        "futures": {"wallet": 3000, "leverage": 3,
                    "positions": [{"symbol": "BTC", "amount": -0.02, "entry_price": 40000}]},
    }


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=DIALECTS)
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[RunningExchange]:
    async with start_exchange(scenario(request.param), dialect=request.param) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(sim: RunningExchange) -> None:
    reset(sim)


@pytest_asyncio.fixture(loop_scope="module")
async def venue(sim: RunningExchange) -> AsyncIterator[CcxtVenue]:
    cfg = config(sim)
    v = CcxtVenue(hedge=cfg, spot=cfg, quote="USDT", assets=["BTC", "ETH"])
    await v.connect()
    yield v
    await v.close()


async def test_connect_when_local_then_markets_in_the_planners_units(sim: RunningExchange, venue: CcxtVenue) -> None:
    """MEXC's contracts keep their size; WEEX's contractVal is not a contract size for the planner."""
    assert {a: m.contract_size for a, m in venue.markets.items()} == PLANNER_SIZES[sim.dialect]
    reported = venue.hedge_client.markets["BTC/USDT:USDT"].get("contractSize")
    if sim.dialect == "weex":
        assert Decimal(str(reported)) == SCENARIO_SIZES["weex"]["BTC"]  # what ccxt says, and we ignore


async def test_snapshot_when_local_then_positions_in_base_units_marks_and_funding(
        sim: RunningExchange, venue: CcxtVenue) -> None:
    """The short 0.02 BTC is -0.02 on every dialect, each asset has a mark and its funding with the
    interval. BingX and MEXC report no maintenance margin: it is the position's at the mark with the
    venue's tiers, and equals the exchange's own. WEEX reports balance and unrealizePnl (equity is their
    sum, initial margin equity - availableBalance) and neither maintenance nor tiers: that one figure
    is unknown (None), the account is complete."""
    snap = await venue.snapshot()
    assert {a: p.amount for a, p in snap.positions.items()} == {"BTC": Decimal("-0.02")}
    assert set(snap.mark_prices) == {"BTC", "ETH"} and snap.mark_prices["BTC"].price == Decimal(40000)
    assert {a: (f.rate, f.interval_hours) for a, f in snap.funding.items()} == {
        "BTC": (Decimal("0.0001"), Decimal(8)), "ETH": (Decimal("-0.0002"), Decimal(4))}
    engine = sim.engine.account()
    if sim.dialect == "weex":
        assert snap.account is not None and snap.account.maintenance_margin is None
        assert snap.account.equity == Decimal(str(engine.margin_balance))
        # the venue's texts carry 8 decimals (the engine's figure is exact: 40000 x 0.02 / 3)
        assert abs(snap.account.initial_margin - engine.initial_margin) < Decimal("1e-7") and engine.initial_margin > 0
        return
    assert snap.account is not None and snap.account.maintenance_margin > 0
    assert snap.account.maintenance_margin == Decimal(str(engine.maint_margin))
    assert snap.account.equity == Decimal(str(engine.margin_balance))


async def test_prepare_when_restarted_then_already_set_answers_are_success(sim: RunningExchange, venue: CcxtVenue) -> None:
    """A second process preparing the same symbols meets the venue's "not modified" answers (BingX
    109400): no failure, every symbol prepared."""
    symbols = [m.symbol for m in venue.markets.values()]
    await venue.prepare(symbols)
    cfg = config(sim)
    again = CcxtVenue(hedge=cfg, spot=cfg, quote="USDT", assets=["BTC", "ETH"])
    try:
        await again.connect()
        await again.prepare(symbols)
    finally:
        await again.close()
    assert set(again._prepared) == set(symbols)


async def test_place_and_lookup_when_local_then_final_and_found_by_client_id(
        sim: RunningExchange, venue: CcxtVenue) -> None:
    """A reduce-only market buy of 0.01 BTC comes back FILLED (after the one lookup), the lookup by
    client id finds it, a made-up id is None, and the position is -0.01 BTC."""
    await venue.prepare([venue.markets["BTC"].symbol])
    planned = order(venue, "BTC", Side.BUY, Decimal("0.01"), reduce_only=True)
    result = await venue.place(planned, "rb13dialect1", "market", None)
    assert (result.state, result.filled) == (OrderState.FILLED, planned.amount), result
    found = await venue.lookup(planned.symbol, "rb13dialect1")
    assert found is not None and (found.state, found.filled, found.exchange_order_id) == (
        OrderState.FILLED, planned.amount, result.exchange_order_id)
    assert await venue.lookup(planned.symbol, "rb13nosuchorder") is None
    positions = await venue.positions()
    assert positions["BTC"].amount == Decimal("-0.01")


async def test_hedge_of_0_025_btc_sends_the_venues_units(sim: RunningExchange, venue: CcxtVenue) -> None:
    """The planner's order for a 0.025 BTC short, as the request ccxt sent says: WEEX and BingX
    quantity 0.025 (base units), MEXC vol 250 contracts of 0.0001; the position is then -0.045 BTC."""
    sent: list[tuple[str, Any]] = []
    client = venue.hedge_client
    real_fetch = client.fetch

    async def capture(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        sent.append((url, body))
        return await real_fetch(url, method, headers, body)

    client.fetch = capture
    try:
        market = venue.markets["BTC"]
        planned = make_order("BTC", market, Decimal(40000), Decimal("-0.025"), reduce_only=False, leg="open")
        result = await venue.place(planned, "rb13hedge25", "market", None)
    finally:
        client.fetch = real_fetch
    assert result.state is OrderState.FILLED, result
    url, body = next((u, b) for u, b in sent if (b or "") and "rb13hedge25" in (b or "")
                     or "rb13hedge25" in urlsplit(u).query)
    fields: dict[str, Any] = {}
    if body:
        try:
            fields = json.loads(body)
        except ValueError:
            fields = dict(p.split("=", 1) for p in body.split("&") if "=" in p)
    fields.update(dict(p.split("=", 1) for p in urlsplit(url).query.split("&") if "=" in p))
    quantity = Decimal(str(fields.get("quantity", fields.get("vol"))))
    assert quantity * PLANNER_SIZES[sim.dialect]["BTC"] == Decimal("0.025"), fields
    positions = await venue.positions()
    assert positions["BTC"].amount == Decimal("-0.045")


async def test_fees_and_fills_when_an_order_filled_then_read_per_order(sim: RunningExchange, venue: CcxtVenue) -> None:
    """The order's commission is found by its order id (trades per symbol), and its fill carries
    the amount in order units."""
    from datetime import datetime, timedelta, timezone

    since = datetime.now(timezone.utc) - timedelta(seconds=2)
    planned = order(venue, "ETH", Side.SELL, Decimal("0.5"))
    result = await venue.place(planned, "rb13fees1", "market", None)
    assert result.state is OrderState.FILLED
    notional = result.filled * venue.markets["ETH"].contract_size * result.average
    fees = await venue.fees([(planned.symbol, result.exchange_order_id, notional)], since)
    fee, currency = fees[result.exchange_order_id]
    assert fee > 0 and currency == "USDT"
    fills = await venue.fills_since(planned.symbol, since)
    assert [(f.order_id, f.amount) for f in fills] == [(result.exchange_order_id, planned.amount)]


async def test_funding_payments_when_settled_then_read_signed(sim: RunningExchange, venue: CcxtVenue) -> None:
    """After a settlement the short BTC position (rate > 0: shorts receive) reads as received."""
    from datetime import datetime, timedelta, timezone

    since = datetime.now(timezone.utc) - timedelta(seconds=2)
    paid = sim.engine.settle_funding()
    expected = {i.symbol: Decimal(str(i.income)) for i in paid}
    payments = await venue.funding_payments(since)
    assert [(p.symbol, p.amount) for p in payments] == [("BTC/USDT:USDT", expected["BTCUSDT"])]
    assert payments[0].amount > 0


async def test_bingx_position_limit_at_the_leverage_is_read_at_connect_and_after_a_leverage_change(
        sim: RunningExchange) -> None:
    """BingX's tiers carry no max leverage: its leverage endpoint's maxPositionLong/ShortVal (the sim's:
    the cap of the last bracket allowing the leverage in force) is the market's position_cap, read at
    connect when the account is at the configured leverage, unknown (None) when it is not, and read
    again once prepare() has set it. The other venues give none."""
    cfg = replace(config(sim), leverage=5)  # the account is at 3
    v = CcxtVenue(hedge=cfg, spot=cfg, quote="USDT", assets=["BTC", "ETH"])
    await v.connect()
    try:
        snap = await v.snapshot()
        assert {a: m.position_cap for a, m in snap.markets.items()} == {"BTC": None, "ETH": None}
        if sim.dialect == "bingx":  # the settings read and the position-limit read share one request per symbol
            assert (await sim_state(sim))["requests"]["GET /openApi/swap/v2/trade/leverage"] == 2
        await v.prepare([m.symbol for m in v.markets.values()])
        caps = {a: m.position_cap for a, m in v.markets.items()}
        if sim.dialect == "bingx":
            expected = {m.asset: Decimal(str(m.spec.max_notional(5))) for m in sim.engine.markets.values()}
            assert caps == expected and all(c > 0 for c in caps.values())
        else:
            assert caps == {"BTC": None, "ETH": None}
    finally:
        await v.close()


async def test_a_second_process_reads_the_settings_at_connect_and_sends_no_setting(sim: RunningExchange) -> None:
    """Once one process has set margin mode and leverage, the next reads them at connect (BingX
    fetch_leverage + fetch_margin_mode per symbol, MEXC fetch_leverage per symbol, WEEX fetch_leverages)
    and its prepare() sends no setting request: the first executing cycle has no setup round trip."""
    cfg = replace(config(sim), leverage=5)  # the account is at 3: the first process sets 5
    first = CcxtVenue(hedge=cfg, spot=cfg, quote="USDT", assets=["BTC", "ETH"])
    await first.connect()
    try:
        await first.prepare([m.symbol for m in first.markets.values()])
        assert any(k.startswith("set_") for k in first.request_counts)
    finally:
        await first.close()
    again = CcxtVenue(hedge=cfg, spot=cfg, quote="USDT", assets=["BTC", "ETH"])
    await again.connect()
    try:
        await again.prepare([m.symbol for m in again.markets.values()])
        assert {k: n for k, n in again.request_counts.items() if k.startswith("set_")} == {}
        assert again._prepared == {m.symbol for m in again.markets.values()}
    finally:
        await again.close()
