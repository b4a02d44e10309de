"""Unit tests for venues.binance_local: URL rewriting, path-aware error maps, and the lean client options.

No server is needed: these check the ccxt objects themselves.
"""

from __future__ import annotations

import aiohttp
import ccxt
import pytest

from rebalancer.venues.binance_local import LocalBinance, LocalBinanceSync, make_local_binance, point_at

BASE = "http://127.0.0.1:8765"

PRODUCTION_URLS = [
    "https://api.binance.com/api/v3/order",
    "https://api.binance.com/sapi/v1/capital/config/getall",
    "https://fapi.binance.com/fapi/v1/order",
    "https://dapi.binance.com/dapi/v1/order",
    "https://eapi.binance.com/eapi/v1/order",
    "https://papi.binance.com/papi/v1/um/order",
]


def test_point_at_rewrites_every_api_url_and_keeps_the_path() -> None:
    """Every urls['api'] entry moves to the base URL with its own path; none still points at binance.com."""
    stock = ccxt.binance()
    exchange = point_at(ccxt.binance(), BASE + "/")
    for key, url in stock.urls["api"].items():
        assert exchange.urls["api"][key] == BASE + url.split(".com", 1)[1], key
    assert exchange.urls["api"]["fapiPrivateV3"] == BASE + "/fapi/v3"
    assert exchange.urls["api"]["public"] == BASE + "/api/v3"
    assert not any("binance.com" in url for url in exchange.urls["api"].values())


@pytest.mark.parametrize("url", PRODUCTION_URLS)
@pytest.mark.parametrize("exact_or_broad", ["exact", "broad"])
def test_error_maps_on_loopback_equal_production(url: str, exact_or_broad: str) -> None:
    """LocalBinance picks, from the URL path, the same error map stock ccxt picks from the production host."""
    path = "/" + url.split("/", 3)[3]
    stock = ccxt.binance().get_exceptions_by_url(url, exact_or_broad)
    assert stock or exact_or_broad == "broad", "stock ccxt should know this production host"
    for cls in (LocalBinance, LocalBinanceSync):
        assert cls().get_exceptions_by_url(BASE + path, exact_or_broad) == stock
    if stock:
        assert ccxt.binance().get_exceptions_by_url(BASE + path, exact_or_broad) == {}  # the gotcha being fixed


async def test_make_local_binance_lean_options_and_top_level_keys() -> None:
    """Lean options are set, `timeout` goes to the constructor, extra options merge, the rate limiter is off."""
    exchange = make_local_binance(BASE, "k", "s", timeout=1234, fetchOpenOrders={"warnWithoutSymbol": False})
    exchange.timeout_on_exit = 0
    try:
        assert isinstance(exchange, LocalBinance)
        assert (exchange.apiKey, exchange.secret, exchange.timeout, exchange.enableRateLimit) == ("k", "s", 1234, False)
        assert exchange.options["fetchMarkets"]["types"] == ["spot", "linear"]
        assert exchange.options["fetchCurrencies"] is False and exchange.options["fetchMargins"] is False
        assert exchange.options["adjustForTimeDifference"] is True
        assert exchange.options["fetchOpenOrders"]["warnWithoutSymbol"] is False
        assert exchange.urls["api"]["fapiPrivate"] == BASE + "/fapi/v1"
    finally:
        await exchange.close()


async def test_make_local_binance_shares_an_injected_session_and_builds_sync() -> None:
    """A session passed in is used but never closed by the client; sync=True gives LocalBinanceSync."""
    async with aiohttp.ClientSession() as session:
        exchange = make_local_binance(BASE, "k", "s", session=session, enableRateLimit=True)
        exchange.timeout_on_exit = 0
        assert exchange.session is session and exchange.own_session is False and exchange.enableRateLimit is True
        await exchange.close()
        assert not session.closed
    sync = make_local_binance(BASE, "k", "s", sync=True)
    assert isinstance(sync, LocalBinanceSync) and sync.urls["api"]["public"] == BASE + "/api/v3"
