"""Per-symbol funding intervals: GET /fapi/v1/fundingInfo lists only the non-8h symbols (as Binance does),
premiumIndex's nextFundingTime follows each interval, and settle-funding pays per interval.

Scenario: BTC 8h (default), ETH 4h, SOL 1h.
"""

from __future__ import annotations

import time
from decimal import Decimal as D
from typing import Any

import ccxt
import pytest

from rebalancer.exchange_sim import Engine, RunningExchange, scenario_from_dict
from tests.exchange_sim.conftest import base_scenario

pytestmark = pytest.mark.integration

PERP_BTC, PERP_ETH, PERP_SOL = "BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"
HOUR = 3_600_000


def intervals() -> dict[str, Any]:
    scenario = base_scenario(futures={"wallet": 10000, "leverage": 5})
    scenario["markets"]["ETH"] = {**scenario["markets"]["ETH"], "funding_interval_hours": 4}
    scenario["markets"]["SOL"] = {"spot_price": 100, "spot": False, "funding_rate": 0.0002, "funding_interval_hours": 1}
    return scenario


@pytest.fixture
def scenario() -> dict[str, Any]:
    return intervals()


async def test_funding_info_lists_only_non_default_intervals_in_binances_shape(ready_client: Any) -> None:
    """fundingInfo: ETHUSDT (4) and SOLUSDT (1), not BTCUSDT (8h, the default), with the recorded keys."""
    rows = await ready_client.fapiPublicGetFundingInfo()
    assert sorted((r["symbol"], r["fundingIntervalHours"]) for r in rows) == [("ETHUSDT", 4), ("SOLUSDT", 1)]
    assert all(list(r) == ["symbol", "adjustedFundingRateCap", "adjustedFundingRateFloor", "fundingIntervalHours",
                           "disclaimer"] for r in rows)


async def test_fetch_funding_intervals_gives_1h_and_4h_and_nothing_for_8h(ready_client: Any) -> None:
    """ccxt fetch_funding_intervals: interval '4h' / '1h'; BTC is absent (a consumer must default to 8h), and
    fetch_funding_interval(BTC) raises NullResponse for the same reason."""
    every = await ready_client.fetch_funding_intervals()
    assert {s: r["interval"] for s, r in every.items()} == {PERP_ETH: "4h", PERP_SOL: "1h"}
    assert await ready_client.fetch_funding_intervals([PERP_BTC]) == {}
    assert (await ready_client.fetch_funding_interval(PERP_SOL))["interval"] == "1h"
    with pytest.raises(ccxt.NullResponse):
        await ready_client.fetch_funding_interval(PERP_BTC)


async def test_next_funding_time_follows_each_interval(ready_client: Any) -> None:
    """premiumIndex nextFundingTime (ccxt fundingTimestamp): the next multiple of 8h / 4h / 1h after now, per symbol."""
    before = int(time.time() * 1000)
    rates = await ready_client.fetch_funding_rates([PERP_BTC, PERP_ETH, PERP_SOL])
    after = int(time.time() * 1000)
    for symbol, hours in ((PERP_BTC, 8), (PERP_ETH, 4), (PERP_SOL, 1)):
        step = hours * HOUR
        expected = {(before // step + 1) * step, (after // step + 1) * step}
        assert rates[symbol]["fundingTimestamp"] in expected, symbol
        assert rates[symbol]["fundingTimestamp"] % step == 0


def engine_with_positions() -> Engine:
    from rebalancer.exchange_sim import OrderRequest

    engine = Engine(scenario_from_dict(intervals()), clock=lambda: 1_700_000_000_000)
    for symbol, side, qty in (("BTCUSDT", "SELL", "0.025"), ("ETHUSDT", "BUY", "1"), ("SOLUSDT", "SELL", "10")):
        engine.place_order(OrderRequest(symbol=symbol, side=side, type="MARKET", quantity=D(qty)))
    return engine


def test_settle_funding_over_8_hours_pays_each_symbol_per_interval() -> None:
    """8 hours: BTC once (0.025 x 40,000 x 0.0001 = 0.1 received by the short), ETH twice (1 x 2,001 x -0.0002:
    the long receives 0.4002 each time), SOL eight times (10 x 100 x 0.0002 = 0.2 to the short each time)."""
    engine = engine_with_positions()
    wallet = engine.wallet
    paid = engine.settle_funding(hours=8)
    assert [(i.symbol, i.income) for i in paid] == [
        ("BTCUSDT", D("0.1")), ("ETHUSDT", D("0.4002")), ("ETHUSDT", D("0.4002")), *[("SOLUSDT", D("0.2"))] * 8]
    assert engine.wallet == wallet + D("0.1") + 2 * D("0.4002") + 8 * D("0.2")


def test_settle_funding_for_fewer_hours_than_an_interval_skips_that_symbol() -> None:
    """2 hours: SOL pays twice, ETH (4h) and BTC (8h) nothing; no argument: each position once."""
    engine = engine_with_positions()
    assert [i.symbol for i in engine.settle_funding(hours=2)] == ["SOLUSDT", "SOLUSDT"]
    assert [i.symbol for i in engine.settle_funding()] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


async def test_settle_funding_admin_body_and_funding_history(
    ready_client: Any, admin: Any, sim: RunningExchange
) -> None:
    """POST /_sim/settle-funding {"hours": 4}: ETH once (4h), SOL four times (1h), BTC (8h) not at all;
    fetch_funding_history shows those FUNDING_FEE rows; a bad body is HTTP 400."""
    await ready_client.create_order(PERP_ETH, "market", "buy", 1)
    await ready_client.create_order(PERP_SOL, "market", "sell", 10)
    await ready_client.create_order(PERP_BTC, "market", "sell", 0.025)
    settled = await admin("POST", "settle-funding", {"hours": 4})
    assert [(p["symbol"], p["income"]) for p in settled["payments"]] == [
        ("ETHUSDT", "0.4002"), *[("SOLUSDT", "0.2")] * 4]
    history = await ready_client.fetch_funding_history()
    assert sorted((h["symbol"], h["amount"]) for h in history) == [
        (PERP_ETH, 0.4002), *[(PERP_SOL, 0.2)] * 4]
    with pytest.raises(AssertionError, match="HTTP 400"):
        await admin("POST", "settle-funding", {"hours": 0})
    with pytest.raises(AssertionError, match="HTTP 400"):
        await admin("POST", "settle-funding", {"period": 8})
