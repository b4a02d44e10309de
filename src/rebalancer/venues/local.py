"""Unmodified ccxt classes of any supported exchange pointed at the local exchange (another base URL).

Only the URL table changes (and, for Binance, the URL-to-error-map lookup), so the local exchange is
spoken to with the production request paths and its errors map to the same ccxt classes as in production.
"""

from __future__ import annotations

import urllib.parse
from functools import lru_cache
from typing import Any, TypeVar

import ccxt
import ccxt.async_support

from .exchanges import EXCHANGES, ExchangeSpec

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


def _get_exceptions_by_url(self: Any, url: str | None, exactOrBroad: str) -> dict:  # noqa: N803 - ccxt's name
    return _exceptions_by_path(self, url, exactOrBroad)


class LocalBinance(ccxt.async_support.binance):
    """ccxt.async_support.binance with path-aware error maps (see _exceptions_by_path)."""

    get_exceptions_by_url = _get_exceptions_by_url


class LocalBinanceSync(ccxt.binance):
    """ccxt.binance (requests) with path-aware error maps (see _exceptions_by_path)."""

    get_exceptions_by_url = _get_exceptions_by_url


@lru_cache(maxsize=None)
def local_class(exchange: str, sync: bool = False) -> type:
    """The ccxt class that talks to the local exchange for `exchange`: the stock class, or a subclass
    with path-aware error maps where the spec says ccxt chooses them by host."""
    base = getattr(ccxt if sync else ccxt.async_support, exchange)
    if not EXCHANGES[exchange].path_error_maps:
        return base
    if base is ccxt.async_support.binance:
        return LocalBinance
    if base is ccxt.binance:
        return LocalBinanceSync
    return type(f"Local{base.__name__}", (base,), {"get_exceptions_by_url": _get_exceptions_by_url,
                                                    "__doc__": f"{base.__name__} with path-aware error maps"})


E = TypeVar("E")


def point_at(exchange: E, base_url: str) -> E:
    """Rewrite every `urls['api']` entry to `base_url` + the entry's path (/api/v3, /fapi/v1, /v5 ...).

    Each key must be rewritten: a key left out would keep talking to production. Templated hosts
    (bybit's https://api.{hostname}, okx's https://{hostname}) have an empty path: base_url itself.
    Nested tables (MEXC's) are rewritten at every level."""
    base = base_url.rstrip("/")
    api = exchange.urls["api"]  # type: ignore[attr-defined]
    if isinstance(api, str):
        exchange.urls["api"] = base + urllib.parse.urlsplit(api).path  # type: ignore[attr-defined]
        return exchange
    exchange.urls["api"] = _rewritten(api, base)  # type: ignore[attr-defined]
    return exchange


def _rewritten(api: Any, base: str) -> Any:
    """Every URL in a (possibly nested: MEXC spot/contract -> public/private) urls['api'] table."""
    if isinstance(api, dict):
        return {key: _rewritten(value, base) for key, value in api.items()}
    return base + urllib.parse.urlsplit(api).path


def lean_options(spec: ExchangeSpec | None = None, **overrides: Any) -> dict[str, Any]:
    """The options that keep ccxt to the endpoints the local exchange serves (notes §2): the spec's."""
    options = (spec or EXCHANGES["binance"]).ccxt_options()
    # A bare ccxt client has no CcxtVenue.connect to read the clock offset beside the markets: let
    # load_markets do it, as ccxt would.
    options["adjustForTimeDifference"] = True
    options.update(overrides)
    return options


def make_local_client(
    exchange: str,
    base_url: str,
    api_key: str,
    secret: str,
    *,
    password: str | None = None,
    sync: bool = False,
    session: Any = None,
    **options: Any,
) -> Any:
    """`exchange`'s ccxt class with its spec's lean options, reached the way the spec's "local" mode
    says (OKX: sandbox first, so the paths and the demo header are the demo ones), pointed at `base_url`.

    `options` are merged into ccxt's `options`, except top-level constructor keys such as
    `timeout` or `enableRateLimit`, which are passed as such. The rate limiter is off by
    default: the local exchange has no weight limits (429s are injected faults), and ccxt's
    throttler would otherwise wait up to 1 s before each spot account call (weight 20 x 50 ms).
    A `session` is passed through the config so `close()` never closes a shared session.
    """
    spec = EXCHANGES[exchange]
    config: dict[str, Any] = {"apiKey": api_key, "secret": secret, "enableRateLimit": False}
    if password is not None:
        config["password"] = password
    ccxt_options: dict[str, Any] = {}
    for key, value in options.items():
        (config if key in _TOP_LEVEL_CONFIG else ccxt_options)[key] = value
    config["options"] = lean_options(spec, **ccxt_options)
    if session is not None:
        config["session"] = session
    client = local_class(exchange, sync)(config)
    apply_steps(client, spec, spec.modes["local"], base_url)
    return client


def apply_steps(client: Any, spec: ExchangeSpec, steps: tuple[str, ...], base_url: str | None) -> Any:
    """Reach a mode from a freshly built client: the spec's has-overrides, then each step in order."""
    for key, value in spec.has_overrides.items():
        client.has[key] = value
    for step in steps:
        if step == "demo_trading":
            client.enable_demo_trading(True)  # the constructor option only sets a flag; this moves the URLs
        elif step == "sandbox":
            client.set_sandbox_mode(True)
        elif step == "local":
            point_at(client, base_url or "")
        else:  # pragma: no cover - a spec naming an unknown step is a programming error
            raise ValueError(f"unknown mode step {step!r}")
    return client


def make_local_binance(base_url: str, api_key: str, secret: str, *, sync: bool = False, session: Any = None,
                       **options: Any) -> Any:
    """A LocalBinance (or LocalBinanceSync) with the lean options, pointed at `base_url`."""
    return make_local_client("binance", base_url, api_key, secret, sync=sync, session=session, **options)
