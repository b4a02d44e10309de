"""The venue layer on the real ccxt binance class against the local exchange: leverage tiers read at connect
and hourly (concurrently with the snapshot's other reads), funding intervals every snapshot, market limits,
spot-unlisted assets, and how many requests each of those costs."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any, AsyncIterator

import ccxt
import pytest

from rebalancer.domain import Market, Tier
from rebalancer.exchange_sim import coerce_scenario
from rebalancer.exchange_sim.runner import RunningExchange, start_exchange
from rebalancer.venues.ccxt_venue import CcxtVenue, VenueConfig

pytestmark = pytest.mark.integration
D = Decimal

SCENARIO = {
    "markets": {
        "BTC": {"spot_price": 40000, "amount_step": 0.001, "mmr": 0.004, "funding_rate": 0.0001,
                "funding_interval_hours": 4},
        "ETH": {"spot_price": 2000, "amount_step": 0.01, "mmr": 0.01, "funding_rate": -0.0002, "max_qty": 5000},
        "SOL": {"spot_price": 100, "spot": False, "funding_interval_hours": 1},  # perp only: a cold coin
    },
    "spot": {"BTC": 0.1, "ETH": 1},
    "futures": {"wallet": 10000},
}
CONNECT_READS = {"load_markets": 1, "load_time_difference": 1, "fetch_leverage_tiers": 1, "fetch_position_mode": 1,
                 "fetch_leverages": 1}
SNAPSHOT_READS = {"fetch_balance_futures": 1, "fetch_balance_spot": 1, "fetch_positions": 1,
                  "fetch_funding_rates": 1, "fetch_funding_intervals": 1, "fetch_tickers": 1}


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def venue_on(scenario: dict, assets=("BTC", "ETH", "SOL", "DOGE"),
                   **kw: Any) -> AsyncIterator[tuple[RunningExchange, CcxtVenue]]:
    async with start_exchange(scenario) as ex:
        cfg = VenueConfig("main", "binance", "local", ex.base_url, ex.api_key, ex.api_secret)
        venue = CcxtVenue(hedge=cfg, spot=cfg, quote="USDT", assets=[*assets, "USDT"], **kw)
        venue.hedge_client.timeout_on_exit = 0
        try:
            yield ex, venue
        finally:
            await venue.close()


def respec(ex: RunningExchange, asset: str, **changes: Any) -> None:
    """Give a live market new scenario keys (as a scenario file would), between requests."""
    table = {**SCENARIO["markets"][asset], **changes}
    ex.engine.markets[asset + "USDT"].spec = coerce_scenario({"markets": {asset: table}}).market(asset)


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


async def test_connect_when_binance_then_one_bracket_read_gives_tiers_limits_and_unlisted_assets():
    """One fetch_leverage_tiers (GET /fapi/v1/leverageBracket) serves every symbol and fills ccxt's bracket
    cache, so fetch_leverages at connect does not read the brackets a second time."""
    async with venue_on(SCENARIO) as (ex, venue):
        await venue.connect()
        assert venue.request_counts == CONNECT_READS
        assert ex.server.requests["GET /fapi/v1/leverageBracket"] == 1
        common = dict(quote="USDT", contract_size=D(1), min_cost=D(5), reduce_only_min_cost_exempt=True)
        assert venue.markets == {
            "BTC": Market("BTC/USDT:USDT", "BTC", amount_step=D("0.001"), min_amount=D("0.001"), max_leverage=D(125),
                          max_amount=D(10000), max_market_amount=D(10000),
                          tiers=(Tier(D(0), None, D("0.004"), D(0), D(125)),), **common),
            "ETH": Market("ETH/USDT:USDT", "ETH", amount_step=D("0.01"), min_amount=D("0.01"), max_leverage=D(50),
                          max_amount=D(5000), max_market_amount=D(5000),
                          tiers=(Tier(D(0), None, D("0.01"), D(0), D(50)),), **common),
            "SOL": Market("SOL/USDT:USDT", "SOL", amount_step=D("0.1"), min_amount=D("0.1"), max_leverage=D(100),
                          max_amount=D(1000000), max_market_amount=D(1000000),
                          tiers=(Tier(D(0), None, D("0.005"), D(0), D(100)),), **common),
        }
        assert all(m.mmr is None for m in venue.markets.values())  # ccxt markets carry no mmr: tiers do
        assert venue.spot_unlisted == frozenset({"SOL", "DOGE"}) and venue.warnings == []
        snap = await venue.snapshot()
        assert snap.spot_unlisted == frozenset({"SOL", "DOGE"}) and snap.markets == venue.markets


async def test_snapshot_when_within_the_hour_then_no_tier_read_and_after_it_one_more():
    """Per snapshot: six reads, fundingInfo among them; the tiers only when an hour old (injected clock),
    and then in the same gather; the positions read never loads ccxt's brackets on its own."""
    clock = Monotonic()
    async with venue_on(SCENARIO, monotonic=clock) as (ex, venue):
        await venue.connect()
        http = dict(ex.server.requests)
        for _ in range(3):
            before = dict(venue.request_counts)
            await venue.snapshot()
            assert delta(before, venue.request_counts) == SNAPSHOT_READS
            clock.now += 1199.0
        assert clock.now == 1000.0 + 3597.0
        clock.now += 3.0  # the tiers are exactly an hour old
        before = dict(venue.request_counts)
        await venue.snapshot()
        assert delta(before, venue.request_counts) == {**SNAPSHOT_READS, "fetch_leverage_tiers": 1}
        before = dict(venue.request_counts)
        await venue.snapshot()
        assert delta(before, venue.request_counts) == SNAPSHOT_READS
        assert delta(http, ex.server.requests) == {
            "GET /fapi/v3/account": 5, "GET /api/v3/account": 5, "GET /fapi/v3/positionRisk": 5,
            "GET /fapi/v1/premiumIndex": 5, "GET /fapi/v1/fundingInfo": 5, "GET /api/v3/ticker/24hr": 5,
            "GET /fapi/v1/leverageBracket": 1,
        }


async def test_snapshot_when_tiers_due_then_read_concurrently_with_rates_intervals_and_positions():
    """No extra round trip: every read waits until all of them are in flight at once; were the tier refresh
    issued before or after the others, the first call would wait alone and time out."""
    clock = Monotonic()
    async with venue_on(SCENARIO, monotonic=clock, read_attempts=1) as (ex, venue):
        await venue.connect()
        names = ("fetch_leverage_tiers", "fetch_funding_rates", "fetch_funding_intervals", "fetch_positions",
                 "fetch_tickers")
        started: set[str] = set()
        all_in = asyncio.Event()

        def barrier(name: str, fn: Any) -> Any:
            async def call(*args: Any, **kwargs: Any) -> Any:
                started.add(name)
                if started == set(names):
                    all_in.set()
                await asyncio.wait_for(all_in.wait(), 5)
                return await fn(*args, **kwargs)
            return call

        for name in names:
            setattr(venue.hedge_client, name, barrier(name, getattr(venue.hedge_client, name)))
        clock.now += 3600.0
        snap = await venue.snapshot()
        assert started == set(names) and snap.markets["BTC"].tiers
        assert venue.warnings == []  # the refresh itself succeeded (a timed-out one would be tiers_stale)


async def test_tier_refresh_when_the_exchange_changes_its_brackets_then_new_tiers_after_the_hour():
    clock = Monotonic()
    async with venue_on(SCENARIO, monotonic=clock) as (ex, venue):
        await venue.connect()
        respec(ex, "BTC", mmr=0.008, max_leverage=60)
        clock.now += 3599.0
        assert (await venue.snapshot()).markets["BTC"].tiers == (Tier(D(0), None, D("0.004"), D(0), D(125)),)
        clock.now += 1.0
        snap = await venue.snapshot()
        assert snap.markets["BTC"].tiers == (Tier(D(0), None, D("0.008"), D(0), D(60)),)
        assert snap.markets["BTC"].max_leverage == D(60)
        assert venue.hedge_client.options["leverageBrackets"]["BTC/USDT:USDT"] == [["0.0", "0.008"]]


async def test_funding_when_intervals_differ_then_each_symbol_has_its_own_read_every_snapshot():
    """BTC 4h, ETH 8h, SOL 1h from fundingInfo; a change shows up at the next snapshot (no hourly cache)."""
    async with venue_on(SCENARIO) as (ex, venue):
        await venue.connect()
        snap = await venue.snapshot()
        assert {a: (f.rate, f.interval_hours) for a, f in snap.funding.items()} == {
            "BTC": (D("0.0001"), D(4)), "ETH": (D("-0.0002"), D(8)), "SOL": (D(0), D(1))}
        assert venue.intervals == {"BTC": D(4), "ETH": D(8), "SOL": D(1)}
        assert snap.funding["SOL"].periods_per_year == D(8760)
        respec(ex, "BTC", funding_interval_hours=8)
        snap = await venue.snapshot()
        assert snap.funding["BTC"].interval_hours == D(8) and venue.intervals["BTC"] == D(8)
        assert venue.warnings == []


async def test_connect_when_the_bracket_read_fails_then_no_tiers_a_warning_and_a_retry_next_snapshot():
    """A failed tier read (here -1000, not retried) is not a failed connect: every market gets tiers=() and
    one warning naming the symbols; the next snapshot reads them again and the warning is gone."""
    async with venue_on(SCENARIO) as (ex, venue):
        real = venue.hedge_client.fetch_leverage_tiers

        async def refused(*args: Any) -> Any:
            raise ccxt.ExchangeError('binance {"code":-1000,"msg":"An unknown error occurred while processing"}')

        venue.hedge_client.fetch_leverage_tiers = refused
        await venue.connect()
        assert all(m.tiers == () and m.max_leverage is None for m in venue.markets.values())
        assert venue.warnings == [
            "tiers_missing: BTC/USDT:USDT, ETH/USDT:USDT, SOL/USDT:USDT: the leverage tier read failed (An unknown "
            "error occurred while processing); the risk gate uses default_mmr for them"]
        # ccxt does not read the brackets on its own either (fetch_leverages, fetch_positions): connect
        # seeded its cache empty, so a failed tier read costs no second bracket request.
        assert ex.server.requests["GET /fapi/v1/leverageBracket"] == 0
        venue.hedge_client.fetch_leverage_tiers = real
        before = dict(venue.request_counts)
        snap = await venue.snapshot()
        assert delta(before, venue.request_counts) == {**SNAPSHOT_READS, "fetch_leverage_tiers": 1}
        assert snap.markets["ETH"].tiers == (Tier(D(0), None, D("0.01"), D(0), D(50)),)
        assert venue.warnings == []


BRACKETS = [{"notional_cap": 50000, "mmr": 0.004, "max_leverage": 125},
            {"notional_cap": 250000, "mmr": 0.005, "max_leverage": 100},
            {"notional_cap": 3000000, "mmr": 0.01, "max_leverage": 50},
            {"mmr": 0.025, "max_leverage": 20}]


async def test_connect_when_several_brackets_and_market_lot_size_then_every_tier_with_cum_and_both_maxima():
    """Binance's brackets as served (with cum) become the market's tiers, the open-ended last one with cap
    None; MARKET_LOT_SIZE maxQty (ccxt: limits['market']['max']) is max_market_amount, LOT_SIZE max_amount."""
    scenario = {**SCENARIO, "markets": {
        "BTC": {"spot_price": 40000, "amount_step": 0.001, "brackets": BRACKETS},
        "ETH": {"spot_price": 2000, "amount_step": 0.01, "max_qty": 5000, "market_max_qty": 1200},
    }}
    async with venue_on(scenario, assets=("BTC", "ETH")) as (ex, venue):
        await venue.connect()
        await venue.snapshot()
        assert ex.server.requests["GET /fapi/v1/leverageBracket"] == 1  # connect's, for every symbol
        served = await venue.hedge_client.fapiPrivateGetLeverageBracket({"symbol": "BTCUSDT"})
        assert [b["cum"] for b in served["brackets"]] == [0.0, 50.0, 1300.0, 46300.0]
        btc, eth = venue.markets["BTC"], venue.markets["ETH"]
        assert btc.tiers == (
            Tier(D(0), D(50000), D("0.004"), D(0), D(125)),
            Tier(D(50000), D(250000), D("0.005"), D(50), D(100)),
            Tier(D(250000), D(3000000), D("0.01"), D(1300), D(50)),
            Tier(D(3000000), None, D("0.025"), D(46300), D(20)),
        )
        assert btc.max_leverage == D(125)
        assert (eth.max_amount, eth.max_market_amount, eth.amount_step) == (D(5000), D(1200), D("0.01"))
        assert (btc.max_amount, btc.max_market_amount) == (D(10000), D(10000))
        assert venue.hedge_client.options["leverageBrackets"]["BTC/USDT:USDT"] == [
            ["0.0", "0.004"], ["50000.0", "0.005"], ["250000.0", "0.01"], ["3000000.0", "0.025"]]


async def test_funding_when_fundinginfo_lists_only_non_default_symbols_then_absent_ones_are_8h():
    """Binance's fundingInfo omits the 8h symbols; the venue takes those as 8h (the documented default) and
    the listed ones as listed."""
    async with venue_on(SCENARIO, assets=("BTC", "ETH", "SOL")) as (ex, venue):
        await venue.connect()
        listed = await venue.hedge_client.fapiPublicGetFundingInfo()
        assert sorted((r["symbol"], r["fundingIntervalHours"]) for r in listed) == [("BTCUSDT", 4), ("SOLUSDT", 1)]
        snap = await venue.snapshot()
        assert {a: f.interval_hours for a, f in snap.funding.items()} == {"BTC": D(4), "ETH": D(8), "SOL": D(1)}
