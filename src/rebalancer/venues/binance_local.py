"""Unmodified ccxt binance classes pointed at a Binance-compatible server on another URL (the local exchange).

Only the URL table and the URL-to-error-map lookup change, so errors map to the same ccxt classes as in production.
"""

from __future__ import annotations

import urllib.parse
from typing import Any, TypeVar

import ccxt
import ccxt.async_support

_MARKET_TYPE_BY_PATH = (
    ("/fapi/", "linear"),
    ("/dapi/", "inverse"),
    ("/eapi/", "option"),
    ("/papi/", "portfolioMargin"),
    ("/api/", "spot"),
    ("/sapi/", "spot"),
)

# ccxt constructor keys that are exchange attributes, not entries of `options`.
_TOP_LEVEL_CONFIG = frozenset({
    "timeout", "enableRateLimit", "rateLimit", "verbose", "userAgent", "headers", "proxies",
    "httpProxy", "httpsProxy", "socksProxy", "aiohttp_trust_env", "requests_trust_env", "asyncio_loop",
})


def _exceptions_by_path(exchange: Any, url: str | None, exact_or_broad: str) -> dict:
    """ccxt picks the spot/linear/... error map from the production *host* (B:12577); loopback URLs
    would fall back to the common map (-2019 -> ExchangeError instead of InsufficientFunds).
    The path says the same thing on any host: /fapi/ is linear, /api/ and /sapi/ are spot."""
    path = urllib.parse.urlsplit(url or "").path
    for prefix, market_type in _MARKET_TYPE_BY_PATH:
        if path.startswith(prefix):
            by_type = exchange.safe_dict(exchange.exceptions, market_type, {})
            return exchange.safe_dict(by_type, exact_or_broad, {})
    return {}


class LocalBinance(ccxt.async_support.binance):
    """ccxt.async_support.binance with path-aware error maps (see _exceptions_by_path)."""

    def get_exceptions_by_url(self, url: str | None, exactOrBroad: str) -> dict:  # noqa: N803 - ccxt's name
        return _exceptions_by_path(self, url, exactOrBroad)


class LocalBinanceSync(ccxt.binance):
    """ccxt.binance (requests) with path-aware error maps (see _exceptions_by_path)."""

    def get_exceptions_by_url(self, url: str | None, exactOrBroad: str) -> dict:  # noqa: N803 - ccxt's name
        return _exceptions_by_path(self, url, exactOrBroad)


E = TypeVar("E")


def point_at(exchange: E, base_url: str) -> E:
    """Rewrite every `urls['api']` entry to `base_url` + the entry's path (/api/v3, /fapi/v1, /sapi/v1 ...).

    Binance URLs are plain strings (no {hostname} template), so each key must be rewritten;
    a key left out would keep talking to production.
    """
    base = base_url.rstrip("/")
    api = exchange.urls["api"]  # type: ignore[attr-defined]
    exchange.urls["api"] = {  # type: ignore[attr-defined]
        key: base + urllib.parse.urlsplit(value).path for key, value in api.items()
    }
    return exchange


def lean_options(**overrides: Any) -> dict[str, Any]:
    """The options that keep ccxt to the endpoints the local exchange serves (notes §2)."""
    options: dict[str, Any] = {
        "fetchMarkets": {"types": ["spot", "linear"]},
        "fetchCurrencies": False,  # else a signed /sapi/v1/capital/config/getall
        "fetchMargins": False,  # else signed /sapi/v1/margin/(isolated/)allPairs
        "adjustForTimeDifference": True,  # GET /api/v3/time during load_markets
    }
    options.update(overrides)
    return options


def make_local_binance(
    base_url: str,
    api_key: str,
    secret: str,
    *,
    sync: bool = False,
    session: Any = None,
    **options: Any,
) -> Any:
    """A LocalBinance (or LocalBinanceSync) with the lean options, pointed at `base_url`.

    `options` are merged into ccxt's `options`, except top-level constructor keys such as
    `timeout` or `enableRateLimit`, which are passed as such. The rate limiter is off by
    default: the local exchange has no weight limits (429s are injected faults), and ccxt's
    throttler would otherwise wait up to 1 s before each spot account call (weight 20 x 50 ms).
    A `session` is passed through the config so `close()` never closes a shared session.
    """
    config: dict[str, Any] = {"apiKey": api_key, "secret": secret, "enableRateLimit": False}
    ccxt_options: dict[str, Any] = {}
    for key, value in options.items():
        (config if key in _TOP_LEVEL_CONFIG else ccxt_options)[key] = value
    config["options"] = lean_options(**ccxt_options)
    if session is not None:
        config["session"] = session
    exchange = (LocalBinanceSync if sync else LocalBinance)(config)
    return point_at(exchange, base_url)
