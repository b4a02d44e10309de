"""Fixtures for the local-exchange tests: a scenario, a running server, and ccxt clients pointed at it.

Every server gets a fresh free port and state, so tests stay independent and can run in any order.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Awaitable, Callable

import aiohttp
import ccxt
import pytest

from rebalancer.exchange_sim import RunningExchange, start_exchange
from rebalancer.venues.binance_local import make_local_binance


def base_scenario(**overrides: Any) -> dict[str, Any]:
    """BTC and ETH with spot + perp, BNB spot-only; 3000 USDT futures wallet at 5x, flat."""
    scenario: dict[str, Any] = {
        "markets": {
            "BTC": {"spot_price": 40000, "funding_rate": 0.0001, "amount_step": 0.001, "price_tick": 0.1},
            "ETH": {"spot_price": 2000, "mark_price": 2001, "funding_rate": -0.0002, "amount_step": 0.001,
                    "price_tick": 0.01, "mmr": 0.01},
            "BNB": {"spot_price": 300, "perp": False},
        },
        "spot": {"BTC": 0.1, "ETH": 1.0, "BNB": 2, "USDT": 50},
        "futures": {"wallet": 3000, "leverage": 5},
    }
    for section, values in overrides.items():
        if isinstance(values, dict) and isinstance(scenario.get(section), dict):
            scenario[section] = {**scenario[section], **values}
        else:
            scenario[section] = values
    return scenario


@pytest.fixture
def scenario() -> dict[str, Any]:
    """Override in a module (or parametrize indirectly) to start `sim` with another scenario."""
    return base_scenario()


@pytest.fixture
async def sim(scenario: dict[str, Any]) -> AsyncIterator[RunningExchange]:
    async with start_exchange(scenario) as running:
        yield running


@pytest.fixture
async def make_client(sim: RunningExchange) -> AsyncIterator[Any]:
    """Factory for extra clients (async or sync) on `sim`; async ones are closed at teardown."""
    made: list[Any] = []

    def factory(*, sync: bool = False, api_key: str | None = None, secret: str | None = None, **options: Any) -> Any:
        exchange = make_local_binance(
            sim.base_url, api_key or sim.api_key, secret or sim.api_secret, sync=sync, **options
        )
        exchange.timeout_on_exit = 0  # ccxt sleeps 250 ms in close() for TLS teardown; plain http needs none
        made.append(exchange)
        return exchange

    yield factory
    for exchange in made:
        if not exchange.synchronous:
            await exchange.close()


@pytest.fixture
async def client(make_client: Any) -> Any:
    return make_client()


@pytest.fixture
async def ready_client(client: Any) -> Any:
    """An async client with markets loaded."""
    await client.load_markets()
    return client


@pytest.fixture
def admin(sim: RunningExchange) -> Any:
    """`await admin("POST", "prices", {...})`: call the /_sim admin API, return the decoded JSON."""

    async def call(method: str, name: str, body: Any = None) -> Any:
        async with aiohttp.ClientSession() as session:
            async with session.request(method, f"{sim.base_url}/_sim/{name}", json=body) as response:
                payload = await response.json()
                if response.status != 200:
                    raise AssertionError(f"admin {name}: HTTP {response.status} {payload}")
                return payload

    return call


# --------------------------------------------------------------------------- error helpers

PRODUCTION_HOSTS = {"/fapi/": "https://fapi.binance.com", "/api/": "https://api.binance.com"}


def record_responses(client: Any) -> list[tuple[int, str, str, str, str]]:
    """Hook ccxt's on_rest_response to keep (status, reason, url, method, body) of every reply."""
    seen: list[tuple[int, str, str, str, str]] = []
    original = client.on_rest_response

    def hook(code: int, reason: str, url: str, method: str, headers: Any, body: str, *rest: Any) -> Any:
        seen.append((code, reason, url, method, body))
        return original(code, reason, url, method, headers, body, *rest)

    client.on_rest_response = hook
    return seen


def production_class(stock: Any, status: int, reason: str, url: str, method: str, body: str) -> type | None:
    """The exception stock ccxt raises for this reply on the real Binance host (same pipeline as fetch())."""
    path = "/" + url.split("/", 3)[3]
    host = next(h for prefix, h in PRODUCTION_HOSTS.items() if path.startswith(prefix))
    try:
        stock.handle_errors(status, reason, host + path, method, {}, body, stock.parse_json(body), None, None)
        stock.handle_http_status_code(status, reason, host + path, method, body)
    except Exception as exc:  # noqa: BLE001 - the class is the result
        return type(exc)
    return None


async def expect_error(
    client: Any, stock: Any, expected: type, action: Callable[[], Awaitable[Any]], code: int | None = None
) -> ccxt.BaseError:
    """Run `action`, check it raises exactly `expected`, and that production would raise the same."""
    seen = record_responses(client)
    with pytest.raises(ccxt.BaseError) as info:
        await action()
    assert type(info.value) is expected, f"{type(info.value).__name__}: {info.value}"
    status, reason, url, method, body = seen[-1]
    assert production_class(stock, status, reason, url, method, body) is expected
    if code is not None:
        assert f'"code":{code}' in body.replace(" ", "")
    return info.value
