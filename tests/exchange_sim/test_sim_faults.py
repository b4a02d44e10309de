"""Fault-injection tests: latency, dropped order responses, 5xx, 429, forced rejections, resets, targeting.

Each fault is switched on through POST /_sim/faults and observed through real ccxt clients.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import ccxt
import pytest

from rebalancer.exchange_sim import RunningExchange, start_exchange
from rebalancer.venues.binance_local import make_local_binance

pytestmark = [pytest.mark.integration, pytest.mark.faults]

PERP_BTC = "BTC/USDT:USDT"


async def test_latency_is_added_to_every_request(client: Any, admin: Any) -> None:
    """latency_ms = 150 makes a public call take at least 150 ms (and ~0 without it)."""
    await client.fetch_time()
    started = time.perf_counter()
    await client.fetch_time()
    fast = time.perf_counter() - started
    await admin("POST", "faults", {"latency_ms": 150})
    started = time.perf_counter()
    await client.fetch_time()
    slow = time.perf_counter() - started
    assert slow >= 0.15 > fast


async def test_dropped_order_response_times_out_but_the_order_exists(
    make_client: Any, sim: RunningExchange, admin: Any
) -> None:
    """The next order executes but its response never arrives: RequestTimeout, then found by client id."""
    client = make_client(timeout=1000)
    await client.load_markets()
    await admin("POST", "faults", {"drop_order_responses": 1})
    started = time.perf_counter()
    with pytest.raises(ccxt.RequestTimeout):
        await client.create_order(PERP_BTC, "market", "sell", 0.025, None, {"clientOrderId": "lost-1"})
    assert 0.9 < time.perf_counter() - started < 3
    found = await client.fetch_order(None, PERP_BTC, {"clientOrderId": "lost-1"})
    assert (found["status"], found["filled"], found["side"]) == ("closed", 0.025, "sell")
    state = await admin("GET", "state")
    assert [o["client_order_id"] for o in state["orders"]] == ["lost-1"]
    assert state["futures"]["positions"]["BTC"]["amount"] == "-0.025"
    assert state["faults"]["drop_order_responses"] == 0
    second = await client.create_order(PERP_BTC, "market", "buy", 0.025, None, {"clientOrderId": "next-1"})
    assert second["status"] == "closed"  # the counter was consumed by one order only


async def test_dropped_order_response_with_the_sync_client(make_client: Any, admin: Any) -> None:
    """requests-based ccxt sees the same RequestTimeout, and the order is still queryable."""
    client = make_client(sync=True, timeout=1000)
    await asyncio.to_thread(client.load_markets)
    await admin("POST", "faults", {"drop_order_responses": 1})
    with pytest.raises(ccxt.RequestTimeout):
        await asyncio.to_thread(client.create_order, PERP_BTC, "market", "buy", 0.01, None, {"clientOrderId": "lost-sync"})
    found = await asyncio.to_thread(client.fetch_order, None, PERP_BTC, {"clientOrderId": "lost-sync"})
    assert found["status"] == "closed"


async def outcomes(client: Any, n: int) -> list[bool]:
    """n public calls: True where a 5xx fault answered (ccxt OperationFailed)."""
    result = []
    for _ in range(n):
        try:
            await client.fetch_time()
            result.append(False)
        except ccxt.OperationFailed:
            result.append(True)
    return result


async def test_5xx_rate_is_seeded_and_repeatable(client: Any, admin: Any) -> None:
    """error_rate_5xx = 0.5 with a seed fails about half the calls, in the same pattern on every run."""
    await admin("POST", "faults", {"error_rate_5xx": 0.5, "seed": 7})
    first = await outcomes(client, 40)
    await admin("POST", "faults", {"seed": 7})
    second = await outcomes(client, 40)
    assert first == second
    assert 10 <= sum(first) <= 30


async def test_5xx_on_an_order_is_not_executed(ready_client: Any, sim: RunningExchange, admin: Any) -> None:
    """A 5xx-faulted order gets HTTP 503 {-1001} -> OperationFailed and is never executed."""
    await admin("POST", "faults", {"error_rate_5xx": 1.0})
    seen: list[int] = []
    original = ready_client.on_rest_response
    ready_client.on_rest_response = lambda code, *rest: (seen.append(code), original(code, *rest))[1]
    with pytest.raises(ccxt.OperationFailed):
        await ready_client.create_order(PERP_BTC, "market", "buy", 0.01, None, {"clientOrderId": "five"})
    assert seen == [503]
    assert sim.engine.orders == []


async def test_rate_limit_429_with_retry_after(client: Any, admin: Any, sim: RunningExchange) -> None:
    """rate_limit_429 = 2: two calls get 429 + Retry-After + -1003 (DDoSProtection), the third passes."""
    await admin("POST", "faults", {"rate_limit_429": 2})
    for _ in range(2):
        with pytest.raises(ccxt.DDoSProtection, match="-1003"):
            await client.fetch_time()
        assert client.last_response_headers["Retry-After"] == "1"
    assert await client.fetch_time() > 0
    assert sim.server.requests["GET /api/v3/time"] == 3


async def test_forced_rejection_until_cleared(ready_client: Any, admin: Any, sim: RunningExchange) -> None:
    """reject_orders_with = "-2019" rejects every new order (InsufficientFunds) until set back to ""."""
    await admin("POST", "faults", {"reject_orders_with": "-2019"})
    for _ in range(2):
        with pytest.raises(ccxt.InsufficientFunds):
            await ready_client.create_order(PERP_BTC, "market", "buy", 0.01)
    await admin("POST", "faults", {"reject_orders_with": ""})
    assert (await ready_client.create_order(PERP_BTC, "market", "buy", 0.01))["status"] == "closed"
    assert len(sim.engine.orders) == 1


async def test_reset_connections_closes_without_response(make_client: Any, admin: Any, sim: RunningExchange) -> None:
    """Each reset closes one connection unanswered; aiohttp retries an idempotent GET once, so an async
    GET needs two to fail (ExchangeNotAvailable), requests needs one (NetworkError), a POST order one."""
    async_client, sync_client = make_client(), make_client(sync=True)
    await async_client.load_markets()
    await admin("POST", "faults", {"reset_connections": 2})
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await async_client.fetch_time()
    assert sim.server.requests["GET /api/v3/time"] == 3  # load_markets + the retried GET
    await admin("POST", "faults", {"reset_connections": 1})
    with pytest.raises(ccxt.NetworkError):
        await asyncio.to_thread(sync_client.fetch_time)
    await admin("POST", "faults", {"reset_connections": 1})
    with pytest.raises(ccxt.ExchangeNotAvailable):
        await async_client.create_order(PERP_BTC, "market", "buy", 0.01, None, {"clientOrderId": "reset-1"})
    assert sim.engine.orders == []  # reset before processing: not executed
    assert await async_client.fetch_time() > 0
    assert await asyncio.to_thread(sync_client.fetch_time) > 0


async def test_faults_on_orders_spares_reads(ready_client: Any, admin: Any) -> None:
    """faults_on = "orders": a 100% 5xx rate hits order placement only; reads keep working."""
    await admin("POST", "faults", {"error_rate_5xx": 1.0, "faults_on": "orders"})
    assert (await ready_client.fetch_balance())["total"]["BTC"] == 0.1
    with pytest.raises(ccxt.OperationFailed):
        await ready_client.create_order(PERP_BTC, "market", "buy", 0.01)


async def test_faults_on_reads_spares_orders(ready_client: Any, admin: Any) -> None:
    """faults_on = "reads": GETs fail, order placement goes through."""
    await admin("POST", "faults", {"error_rate_5xx": 1.0, "faults_on": "reads"})
    assert (await ready_client.create_order(PERP_BTC, "market", "buy", 0.01))["status"] == "closed"
    with pytest.raises(ccxt.OperationFailed):
        await ready_client.fetch_positions([PERP_BTC])


async def test_clock_skew_moves_the_server_clock(client: Any, admin: Any) -> None:
    """clock_skew_ms shifts /api/v3/time, so ccxt's time difference follows it after a resync."""
    await admin("POST", "faults", {"clock_skew_ms": -120_000})
    await client.load_time_difference()
    assert 119_000 < client.options["timeDifference"] < 121_000


async def test_request_counters_and_reset(client: Any, admin: Any) -> None:
    """GET /_sim/state counts requests by "METHOD /path" (admin calls excluded); reset-counters zeroes them."""
    await client.load_markets()
    await client.fetch_balance()
    state = await admin("GET", "state")
    assert state["requests"] == {
        "GET /api/v3/exchangeInfo": 1, "GET /fapi/v1/exchangeInfo": 1, "GET /api/v3/time": 1, "GET /api/v3/account": 1,
    }
    await admin("POST", "reset-counters")
    assert (await admin("GET", "state"))["requests"] == {}


async def test_bad_fault_keys_are_rejected_by_the_admin_api(sim: RunningExchange) -> None:
    """POST /_sim/faults validates like the scenario: unknown keys and bad values are a 400 naming the key."""
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.post(f"{sim.base_url}/_sim/faults", json={"drop_responses": 1}) as response:
            assert response.status == 400
            assert "faults.drop_responses" in (await response.json())["error"]


async def test_scenario_faults_apply_from_startup() -> None:
    """[faults] in the scenario file is active from the first request."""
    scenario = {"markets": {"BTC": {"spot_price": 40000}}, "faults": {"rate_limit_429": 1}}
    async with start_exchange(scenario) as sim:
        client = make_local_binance(sim.base_url, sim.api_key, sim.api_secret)
        client.timeout_on_exit = 0
        try:
            with pytest.raises(ccxt.DDoSProtection):
                await client.fetch_time()
            assert await client.fetch_time() > 0
        finally:
            await client.close()
