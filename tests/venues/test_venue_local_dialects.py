"""CcxtVenue on every dialect of the local exchange: connect, snapshot, prepare, place, lookup, fees, funding.

The venue builds the configured exchange's own ccxt class in mode "local" (OKX in sandbox mode too), so
these run the same requests a demo account would get, over HTTP, through the dialect's wire protocol.
One exchange per dialect for the module; the engine is reset before each test.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio

from rebalancer.domain import OrderState, PlannedOrder, Side
from rebalancer.exchange_sim.runner import RunningExchange, start_exchange
from rebalancer.venues.ccxt_venue import CcxtVenue, VenueConfig
from tests.exchange_sim.dialect_checks import reset

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

DIALECTS = ["binance", "bybit", "okx"]
# OKX counts swaps in contracts (BTC 0.01, ETH 0.1, as on OKX); the others in base units.
CONTRACT_SIZE = {"okx": {"BTC": Decimal("0.01"), "ETH": Decimal("0.1")}}


def scenario(dialect: str) -> dict[str, Any]:
    sizes = CONTRACT_SIZE.get(dialect, {})

    def market(asset: str, price: int, funding: float, hours: int) -> dict[str, Any]:
        size = sizes.get(asset)
        step = 1 if size else 0.001
        out: dict[str, Any] = {"spot_price": price, "funding_rate": funding, "amount_step": step, "min_qty": step,
                               "funding_interval_hours": hours, "min_notional": 5}
        if size:
            out["contract_size"] = float(size)
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


def config(sim: RunningExchange) -> VenueConfig:
    return VenueConfig("main", sim.dialect, "local", sim.base_url, sim.api_key, sim.api_secret,
                       password=sim.password, timeout_ms=5000, leverage=3)


@pytest_asyncio.fixture(loop_scope="module")
async def venue(sim: RunningExchange) -> AsyncIterator[CcxtVenue]:
    cfg = config(sim)
    v = CcxtVenue(hedge=cfg, spot=cfg, quote="USDT", assets=["BTC", "ETH"])
    await v.connect()
    yield v
    await v.close()


def order(venue: CcxtVenue, asset: str, side: Side, base: Decimal, reduce_only: bool = False) -> PlannedOrder:
    market = venue.markets[asset]
    contracts = base / market.contract_size
    return PlannedOrder(asset, market.symbol, side, contracts, base, Decimal(40000), reduce_only)


async def test_connect_when_local_then_markets_in_the_venues_units(sim: RunningExchange, venue: CcxtVenue) -> None:
    """Each dialect's perps load with their contract size (OKX BTC 0.01 / ETH 0.1, else 1) and no warnings."""
    sizes = {a: m.contract_size for a, m in venue.markets.items()}
    expected = CONTRACT_SIZE.get(sim.dialect, {"BTC": Decimal(1), "ETH": Decimal(1)})
    assert sizes == expected
    assert venue.spot_symbols == {"BTC": "BTC/USDT", "ETH": "ETH/USDT"}
    assert all(m.tiers for m in venue.markets.values()), venue.warnings


async def test_snapshot_when_local_then_positions_in_base_units_account_marks_and_funding(
        sim: RunningExchange, venue: CcxtVenue) -> None:
    """Positions are base units (contracts x size), the account is the venue's own totals, every asset
    has a mark (OKX: from mark-price beside the funding read) and funding with its interval."""
    before = dict(sim.server.requests)
    snap = await venue.snapshot()
    assert {a: p.amount for a, p in snap.positions.items()} == {"BTC": Decimal("-0.02")}
    assert snap.account is not None and snap.account.equity > 0 and snap.account.maintenance_margin > 0
    state = sim.engine
    assert snap.account.wallet >= Decimal(str(state.wallet)) - Decimal("0.01")
    assert set(snap.mark_prices) == {"BTC", "ETH"} and snap.mark_prices["BTC"].price == Decimal(40000)
    assert {a: (f.rate, f.interval_hours) for a, f in snap.funding.items()} == {
        "BTC": (Decimal("0.0001"), Decimal(8)), "ETH": (Decimal("-0.0002"), Decimal(4))}
    positions_reads = {k: v - before.get(k, 0) for k, v in sim.server.requests.items()
                       if "position" in k and v != before.get(k, 0)}
    assert sum(positions_reads.values()) == 1, positions_reads  # one read for every symbol (Bybit: settleCoin)


async def test_prepare_when_restarted_then_already_set_answers_are_success(sim: RunningExchange, venue: CcxtVenue) -> None:
    """A second process preparing the same symbols meets "already set" answers (Bybit 110043): no failure."""
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


async def test_place_when_reply_has_ids_only_then_the_lookup_makes_it_final(sim: RunningExchange, venue: CcxtVenue) -> None:
    """A market order comes back FILLED in the venue's units on every dialect (Bybit/OKX by one lookup),
    the lookup by client id finds it, and a made-up client id is None, not an error."""
    await venue.prepare([venue.markets["BTC"].symbol])
    planned = order(venue, "BTC", Side.BUY, Decimal("0.01"), reduce_only=True)
    result = await venue.place(planned, "rbdialect1", "market", None)
    assert (result.state, result.filled) == (OrderState.FILLED, planned.amount), result
    assert result.exchange_order_id and result.average == Decimal(40000)
    found = await venue.lookup(planned.symbol, "rbdialect1")
    assert found is not None and (found.state, found.filled, found.exchange_order_id) == (
        OrderState.FILLED, planned.amount, result.exchange_order_id)
    assert await venue.lookup(planned.symbol, "rbnosuchorder1") is None
    positions = await venue.positions()
    assert positions["BTC"].amount == Decimal("-0.01")


async def test_fees_and_fills_when_an_order_filled_then_read_per_order(sim: RunningExchange, venue: CcxtVenue) -> None:
    """The order's commission is found by its order id, and its fill carries the amount in order units."""
    since = datetime.now(timezone.utc) - timedelta(seconds=2)
    planned = order(venue, "ETH", Side.SELL, Decimal("0.5"))
    result = await venue.place(planned, "rbdialect2", "market", None)
    assert result.state is OrderState.FILLED
    notional = result.filled * venue.markets["ETH"].contract_size * result.average
    fees = await venue.fees([(planned.symbol, result.exchange_order_id, notional)], since)
    fee, currency = fees[result.exchange_order_id]
    assert fee > 0 and currency == "USDT"
    fills = await venue.fills_since(planned.symbol, since)
    assert [(f.order_id, f.amount) for f in fills] == [(result.exchange_order_id, planned.amount)]


async def test_funding_payments_when_settled_then_read_signed(sim: RunningExchange, venue: CcxtVenue) -> None:
    """After a settlement, the short BTC position's funding (rate > 0: shorts receive) is read as received."""
    since = datetime.now(timezone.utc) - timedelta(seconds=2)
    paid = sim.engine.settle_funding()
    expected = {i.symbol: Decimal(str(i.income)) for i in paid}
    payments = await venue.funding_payments(since)
    assert [(p.symbol, p.amount) for p in payments] == [("BTC/USDT:USDT", expected["BTCUSDT"])]
    assert payments[0].amount > 0


async def test_connect_when_leverage_already_as_configured_then_first_orders_need_no_setting(
        sim: RunningExchange) -> None:
    """The account already runs every symbol at the configured leverage (3x): connect reads that (Binance
    symbolConfig, Bybit position/list per symbol, OKX leverage-info for all at once), so a fresh process's
    prepare() sends nothing and its first orders cost no round trip for settings."""
    v = CcxtVenue(hedge=config(sim), spot=config(sim), quote="USDT", assets=["BTC", "ETH"])
    try:
        await v.connect()
        before = dict(sim.server.requests)
        await v.prepare([m.symbol for m in v.markets.values()])
        sent = {k: n - before.get(k, 0) for k, n in sim.server.requests.items() if n != before.get(k, 0)}
        assert sent == {}, sent
    finally:
        await v.close()
