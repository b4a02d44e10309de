"""The local exchange over HTTP: Binance spot (/api/v3) and USDⓈ-M (/fapi) routes that unmodified ccxt calls.

Routing, HMAC auth, faults, request counters, Binance JSON shapes and the /_sim admin API; state lives in Engine.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import random
import re
import tempfile
from collections import Counter
from dataclasses import asdict, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping
from urllib.parse import parse_qsl

from aiohttp import web

from .engine import (
    BinanceError,
    Engine,
    MarketState,
    Order,
    OrderRequest,
    SimClock,
    decimals_of,
    fixed,
    plain,
    MESSAGES,
    SIM_UNSUPPORTED,
)
from .scenario import (
    DEFAULT_FUNDING_INTERVAL_HOURS,
    QUOTE,
    Bracket,
    FaultSpec,
    Scenario,
    ScenarioError,
    parse_faults,
    to_decimal,
)

Handler = Callable[[web.Request, dict[str, str]], Awaitable[Any]]  # (request, verified params) -> JSON body
RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]

log = logging.getLogger(__name__)

UNKNOWN_ROUTE_CODE = -5000  # what Binance's fapi answers for a path/method it does not serve
MAX_RECV_WINDOW = 60_000
FUTURE_TOLERANCE_MS = 1_000  # Binance accepts timestamps at most 1 s ahead of its clock
DROP_HOLD_SECONDS = 300  # a dropped response is held this long at most, then the connection is closed
RETRY_AFTER_SECONDS = 1
ADMIN_PREFIX = "/_sim/"
SIM_INTERNAL_ERROR = -9901  # unmapped by ccxt -> ExchangeError, so a sim bug is not retried away
ORDER_PATHS = frozenset({"/fapi/v1/order", "/api/v3/order"})
_CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
_NUMBER_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
_ACCOUNT_UID = 354937868


# --------------------------------------------------------------------------- faults


class FaultInjector:
    """The live [faults] settings plus the seeded RNG; "next N" counters are consumed here.

    Semantics (admin /_sim requests are never faulted; faulted requests are still counted):
    - latency_ms: sleep before handling every targeted request.
    - reset_connections: the next N targeted requests get their TCP connection aborted with no
      response, before processing (an order is NOT executed). aiohttp clients retry an
      idempotent request (GET/DELETE) once on a closed connection, so one async ccxt GET uses 2.
    - rate_limit_429: the next N targeted requests get HTTP 429, `Retry-After: 1` and
      {"code": -1003}; ccxt raises DDoSProtection.
    - error_rate_5xx: each targeted request fails with this probability (seeded RNG, `seed`)
      as HTTP 503 {"code": -1001}; ccxt raises OperationFailed. Not executed.
    - drop_order_responses: the next N accepted orders (POST /fapi/v1/order) ARE executed and
      stored, but the response is held until the client gives up (it sees a timeout:
      ccxt RequestTimeout) or the server stops, then the connection is closed unanswered.
      The order is queryable by client id. Not subject to faults_on.
    - reject_orders_with: while non-empty, every new order is rejected with that Binance code
      (Binance's own message when known), before execution. Not subject to faults_on.
    - clock_skew_ms: offset of the server clock (/time, timestamp checks, order times).
    - faults_on: which requests latency/reset/429/5xx target: "all", "orders" (order
      placement: POST /fapi/v1/order and /api/v3/order) or "reads" (every GET).
    """

    def __init__(self, spec: FaultSpec, clock: SimClock) -> None:
        self.clock = clock
        self.spec = spec
        self.rng = random.Random(spec.seed)
        clock.skew_ms = spec.clock_skew_ms

    def update(self, raw: Mapping[str, Any]) -> FaultSpec:
        """Merge a POST /_sim/faults body; a given `seed` restarts the RNG so runs repeat."""
        self.spec = parse_faults(raw, self.spec)
        if "seed" in raw:
            self.rng = random.Random(self.spec.seed)
        self.clock.skew_ms = self.spec.clock_skew_ms
        return self.spec

    def reset(self, spec: FaultSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.clock.skew_ms = spec.clock_skew_ms

    def targets(self, request: web.Request) -> bool:
        """Whether request-level faults apply: faults_on = all | orders (placement) | reads (GET)."""
        if self.spec.faults_on == "orders":
            return request.method == "POST" and request.path in ORDER_PATHS
        if self.spec.faults_on == "reads":
            return request.method == "GET"
        return True

    def take(self, counter: str) -> bool:
        """Consume one unit of a "next N requests" counter; False when it is used up."""
        remaining = getattr(self.spec, counter)
        if remaining <= 0:
            return False
        self.spec = replace(self.spec, **{counter: remaining - 1})
        return True

    def roll_5xx(self) -> bool:
        return self.spec.error_rate_5xx > 0 and self.rng.random() < self.spec.error_rate_5xx


# --------------------------------------------------------------------------- helpers


def binance_error(
    code: int, msg: str | None = None, status: int = 400, headers: Mapping[str, str] | None = None
) -> web.Response:
    body = {"code": code, "msg": msg if msg is not None else MESSAGES.get(code, "")}
    return web.json_response(body, status=status, headers=headers)


def _required(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
    return value


def _decimal_param(params: Mapping[str, str], name: str, required: bool = True) -> Decimal | None:
    value = params.get(name)
    if value is None:
        if required:
            _required(params, name)
        return None
    if not _NUMBER_RE.match(value):
        raise BinanceError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'.",
        )
    return Decimal(value)


def _int_param(params: Mapping[str, str], name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if not value.lstrip("-").isdigit():
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.")
    return int(value)


def _bool_param(params: Mapping[str, str], name: str, default: bool = False) -> bool:
    value = params.get(name)
    if value is None:
        return default
    if value.lower() not in ("true", "false"):
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal range is 'true, false'.")
    return value.lower() == "true"


def _px(value: Decimal, m: MarketState) -> str:
    """A price on the market's tick grid precision (e.g. "40000.0")."""
    return fixed(value, decimals_of(m.spec.price_tick))


def _qty(value: Decimal, m: MarketState) -> str:
    return fixed(value, decimals_of(m.spec.amount_step))


# --------------------------------------------------------------------------- payloads


def _price_filter(m: MarketState) -> dict[str, Any]:
    tick = m.spec.price_tick
    return {
        "filterType": "PRICE_FILTER", "minPrice": plain(tick), "maxPrice": plain(m.spec.spot_price * 1000),
        "tickSize": plain(tick),
    }


def _lot_filters(m: MarketState) -> list[dict[str, Any]]:
    """LOT_SIZE bounds limit orders (max_qty), MARKET_LOT_SIZE market orders (market_max_qty), as on Binance."""
    spec = m.spec
    assert spec.market_max_qty is not None
    return [
        {"filterType": name, "minQty": plain(spec.min_qty), "maxQty": plain(max_qty), "stepSize": plain(spec.amount_step)}
        for name, max_qty in (("LOT_SIZE", spec.max_qty), ("MARKET_LOT_SIZE", spec.market_max_qty))
    ]


def _json_number(value: Decimal) -> int | float:
    """A Decimal as the JSON number Binance sends (50000, 0.004)."""
    return int(value) if value == value.to_integral_value() else float(value)


def bracket_json(b: Bracket) -> dict[str, Any]:
    """One GET /fapi/v1/leverageBracket tier, Binance's field names and JSON number types."""
    return {
        "bracket": b.bracket, "initialLeverage": b.max_leverage, "notionalCap": _json_number(b.cap),
        "notionalFloor": _json_number(b.floor), "maintMarginRatio": float(b.mmr), "cum": float(b.cum),
    }


def spot_symbol_info(m: MarketState) -> dict[str, Any]:
    return {
        "symbol": m.symbol, "status": "TRADING", "baseAsset": m.asset, "baseAssetPrecision": 8,
        "quoteAsset": QUOTE, "quotePrecision": 8, "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True, "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True, "cancelReplaceAllowed": True, "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            _price_filter(m),
            *_lot_filters(m),
            {"filterType": "NOTIONAL", "minNotional": plain(m.spec.min_notional), "applyMinToMarket": True,
             "maxNotional": "9000000", "applyMaxToMarket": False, "avgPriceMins": 5},
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        ],
        "permissions": [], "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


def perp_symbol_info(m: MarketState) -> dict[str, Any]:
    spec = m.spec
    return {
        "symbol": m.symbol, "pair": m.symbol, "contractType": "PERPETUAL", "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000, "status": "TRADING", "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000", "baseAsset": m.asset, "quoteAsset": QUOTE, "marginAsset": QUOTE,
        "pricePrecision": decimals_of(spec.price_tick), "quantityPrecision": decimals_of(spec.amount_step),
        "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [],
        "triggerProtect": "0.0500", "liquidationFee": "0.012500", "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            _price_filter(m),
            *_lot_filters(m),
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": plain(spec.min_notional)},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
             "multiplierDecimal": "4"},
        ],
        "orderTypes": [
            "LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET",
        ],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
        "permissionSet": ["GRID", "COPY"],
    }


def futures_order_json(order: Order, m: MarketState, *, with_time: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "orderId": order.order_id, "symbol": order.symbol, "status": order.status,
        "clientOrderId": order.client_order_id, "price": _px(order.price, m),
        "avgPrice": fixed(order.avg_price, max(decimals_of(m.spec.price_tick), 2)) if order.executed_qty else "0.00",
        "origQty": _qty(order.orig_qty, m), "executedQty": _qty(order.executed_qty, m),
        "cumQty": _qty(order.executed_qty, m), "cumQuote": fixed(order.cum_quote, 5),
        "timeInForce": order.time_in_force, "type": order.type, "reduceOnly": order.reduce_only,
        "closePosition": False, "side": order.side, "positionSide": order.position_side, "stopPrice": "0",
        "workingType": "CONTRACT_PRICE", "priceProtect": False, "origType": order.type, "priceMatch": "NONE",
        "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0, "updateTime": order.update_time,
    }
    if with_time:
        body["time"] = order.time
    return body


def _account_totals(engine: Engine) -> dict[str, str]:
    a = engine.account()
    return {
        "totalInitialMargin": fixed(a.initial_margin), "totalMaintMargin": fixed(a.maint_margin),
        "totalWalletBalance": fixed(a.wallet), "totalUnrealizedProfit": fixed(a.unrealized_pnl),
        "totalMarginBalance": fixed(a.margin_balance), "totalPositionInitialMargin": fixed(a.position_initial_margin),
        "totalOpenOrderInitialMargin": fixed(a.open_order_initial_margin), "totalCrossWalletBalance": fixed(a.wallet),
        "totalCrossUnPnl": fixed(a.unrealized_pnl), "availableBalance": fixed(a.available_balance),
        "maxWithdrawAmount": fixed(a.max_withdraw),
    }


def _usdt_asset(engine: Engine) -> dict[str, Any]:
    a = engine.account()
    return {
        "asset": QUOTE, "walletBalance": fixed(a.wallet), "unrealizedProfit": fixed(a.unrealized_pnl),
        "marginBalance": fixed(a.margin_balance), "maintMargin": fixed(a.maint_margin),
        "initialMargin": fixed(a.initial_margin), "positionInitialMargin": fixed(a.position_initial_margin),
        "openOrderInitialMargin": fixed(a.open_order_initial_margin), "crossWalletBalance": fixed(a.wallet),
        "crossUnPnl": fixed(a.unrealized_pnl), "availableBalance": fixed(a.available_balance),
        "maxWithdrawAmount": fixed(a.max_withdraw),
        # ccxt drops assets whose updateTime is 0 (ccxt issue #27997), so it is never 0 here.
        "updateTime": max(engine.wallet_update_time, 1),
    }


def position_risk_v3(engine: Engine, symbol: str) -> dict[str, Any]:
    r = engine.position_risk(symbol)
    m = engine.markets[symbol]
    return {
        "symbol": symbol, "positionSide": "BOTH", "positionAmt": _qty(r.amount, m),
        "entryPrice": plain(r.entry_price), "breakEvenPrice": plain(r.break_even_price),
        "markPrice": fixed(r.mark_price), "unRealizedProfit": fixed(r.unrealized_pnl),
        "liquidationPrice": "0" if r.liquidation_price is None else fixed(r.liquidation_price),
        "isolatedMargin": "0", "notional": fixed(r.notional), "marginAsset": QUOTE, "isolatedWallet": "0",
        "initialMargin": fixed(r.initial_margin + r.open_order_initial_margin), "maintMargin": fixed(r.maint_margin),
        "positionInitialMargin": fixed(r.initial_margin), "openOrderInitialMargin": fixed(r.open_order_initial_margin),
        "adl": 1 if r.amount else 0, "bidNotional": "0", "askNotional": "0", "updateTime": r.update_time,
    }


def position_risk_v2(engine: Engine, symbol: str) -> dict[str, Any]:
    r = engine.position_risk(symbol)
    m = engine.markets[symbol]
    return {
        "symbol": symbol, "positionAmt": _qty(r.amount, m), "entryPrice": plain(r.entry_price),
        "breakEvenPrice": plain(r.break_even_price), "markPrice": fixed(r.mark_price),
        "unRealizedProfit": fixed(r.unrealized_pnl),
        "liquidationPrice": "0" if r.liquidation_price is None else fixed(r.liquidation_price),
        "leverage": str(r.leverage), "maxNotionalValue": plain(engine.max_notional(symbol)),
        "marginType": "cross" if m.margin_type == "CROSSED" else "isolated", "isolatedMargin": "0.00000000",
        "isAutoAddMargin": "false", "positionSide": "BOTH", "notional": fixed(r.notional), "isolatedWallet": "0",
        "updateTime": r.update_time, "isolated": m.margin_type != "CROSSED", "adlQuantile": 1 if r.amount else 0,
    }


# --------------------------------------------------------------------------- the server


class SimServer:
    """Wires an Engine to aiohttp: one instance per running exchange.

    Signed routes (USER_DATA/TRADE) need header X-MBX-APIKEY (-2014/-2015, HTTP 401) and an
    HMAC-SHA256 `signature` over the exact preceding query string or form body, last parameter
    (-1022), with `timestamp` no more than `recvWindow` (default 5000, max 60000) behind and
    1000 ms ahead of the server clock (-1021). Unknown paths/methods answer HTTP 404/405 with
    {"code": -5000, "msg": "Path ..., Method ... is invalid"}, like fapi does.

    Admin API (JSON, no auth, not counted, not faulted): GET /_sim/state; POST /_sim/prices,
    /_sim/funding, /_sim/settle-funding (optional {"hours": H}), /_sim/faults, /_sim/reset-counters,
    /_sim/position-mode, /_sim/balances, /_sim/reset. Bad input -> HTTP 400 {"error": ...}.
    """

    def __init__(self, scenario: Scenario, *, state_file: str | os.PathLike[str] | None = None) -> None:
        self.scenario = scenario
        self.clock = SimClock()
        self.faults = FaultInjector(scenario.faults, self.clock)
        self.engine = Engine(scenario, self.clock)
        self.state_file = Path(state_file) if state_file is not None else None
        if self.state_file is not None and self.state_file.exists():
            try:
                self.engine.load_state(json.loads(self.state_file.read_text(encoding="utf-8")))
            except (ValueError, KeyError, TypeError) as exc:
                raise ScenarioError(
                    "", f"state file {self.state_file} is unreadable ({exc}); delete it to start fresh"
                ) from None
        self.requests: Counter[str] = Counter()
        self.stopping = asyncio.Event()
        self._secret = scenario.auth.api_secret.encode()
        self.app = self._build_app()

    # ------------------------------------------------------------------ app and middleware

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        public: list[tuple[str, str, Handler]] = [
            ("GET", "/api/v3/ping", self.ping), ("GET", "/fapi/v1/ping", self.ping),
            ("GET", "/api/v3/time", self.time), ("GET", "/fapi/v1/time", self.time),
            ("GET", "/api/v3/exchangeInfo", self.spot_exchange_info),
            ("GET", "/fapi/v1/exchangeInfo", self.futures_exchange_info),
            ("GET", "/api/v3/ticker/24hr", self.spot_ticker_24hr),
            ("GET", "/api/v3/ticker/bookTicker", self.spot_book_ticker),
            ("GET", "/fapi/v1/ticker/24hr", self.futures_ticker_24hr),
            ("GET", "/fapi/v1/ticker/bookTicker", self.futures_book_ticker),
            ("GET", "/fapi/v1/depth", self.futures_depth),
            ("GET", "/fapi/v1/premiumIndex", self.premium_index),
            ("GET", "/fapi/v1/fundingInfo", self.funding_info),
        ]
        signed: list[tuple[str, str, Handler]] = [
            ("GET", "/api/v3/account", self.spot_account),
            ("GET", "/api/v3/order", self.spot_get_order),
            ("DELETE", "/api/v3/order", self.spot_cancel_order),
            ("POST", "/api/v3/order", self.spot_new_order),
            ("GET", "/api/v3/openOrders", self.spot_open_orders),
            ("GET", "/fapi/v2/account", self.futures_account_v2),
            ("GET", "/fapi/v3/account", self.futures_account_v3),
            ("GET", "/fapi/v2/positionRisk", self.position_risk_v2),
            ("GET", "/fapi/v3/positionRisk", self.position_risk_v3),
            ("GET", "/fapi/v1/leverageBracket", self.leverage_bracket),
            ("POST", "/fapi/v1/order", self.new_order),
            ("GET", "/fapi/v1/order", self.get_order),
            ("DELETE", "/fapi/v1/order", self.cancel_order),
            ("GET", "/fapi/v1/openOrders", self.open_orders),
            ("DELETE", "/fapi/v1/allOpenOrders", self.cancel_all_orders),
            ("POST", "/fapi/v1/leverage", self.set_leverage),
            ("POST", "/fapi/v1/marginType", self.set_margin_type),
            ("GET", "/fapi/v1/positionSide/dual", self.get_position_mode),
            ("POST", "/fapi/v1/positionSide/dual", self.set_position_mode),
            ("GET", "/fapi/v1/income", self.income),
            ("GET", "/fapi/v1/userTrades", self.user_trades),
            ("GET", "/fapi/v1/symbolConfig", self.symbol_config),
        ]
        for method, path, handler in public:
            app.router.add_route(method, path, self._endpoint(handler, signed=False))
        for method, path, handler in signed:
            app.router.add_route(method, path, self._endpoint(handler, signed=True))
        admin = [
            ("GET", "state", self.admin_state), ("POST", "prices", self.admin_prices),
            ("POST", "funding", self.admin_funding), ("POST", "settle-funding", self.admin_settle_funding),
            ("POST", "faults", self.admin_faults), ("POST", "reset-counters", self.admin_reset_counters),
            ("POST", "position-mode", self.admin_position_mode), ("POST", "balances", self.admin_balances),
            ("POST", "reset", self.admin_reset),
        ]
        for method, name, admin_handler in admin:
            app.router.add_route(method, ADMIN_PREFIX + name, admin_handler)
        app.on_shutdown.append(self._release_held)
        return app

    async def _release_held(self, _app: web.Application) -> None:
        self.stopping.set()

    @web.middleware
    async def _middleware(self, request: web.Request, handler: RouteHandler) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX):
            return await self._guard_admin(request, handler)
        self.requests[f"{request.method} {request.path}"] += 1
        faults = self.faults
        if faults.targets(request):
            if faults.spec.latency_ms:
                await asyncio.sleep(faults.spec.latency_ms / 1000)
            if faults.take("reset_connections"):
                # Close the TCP connection without a byte of response (client: connection reset).
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=500)
            if faults.take("rate_limit_429"):
                return binance_error(
                    -1003, status=429, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
                )
            if faults.roll_5xx():
                # Rejected before processing: an order hit by this fault is NOT executed.
                return binance_error(-1001, status=503)
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return self._unknown_route(request, 404)
        except web.HTTPMethodNotAllowed:
            return self._unknown_route(request, 405)

    @staticmethod
    def _unknown_route(request: web.Request, status: int) -> web.Response:
        # JSON, never HTML: ccxt maps a bare 404 to a retryable ExchangeNotAvailable, which would
        # hide a missing route behind retries; -5000 is unmapped and surfaces as ExchangeError.
        return binance_error(UNKNOWN_ROUTE_CODE, f"Path {request.path}, Method {request.method} is invalid", status)

    async def _guard_admin(self, request: web.Request, handler: RouteHandler) -> web.StreamResponse:
        try:
            return await handler(request)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as exc:
            return web.json_response({"error": f"no admin route {request.method} {request.path}"}, status=exc.status)
        except (ScenarioError, ValueError, KeyError, TypeError) as exc:
            text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            return web.json_response({"error": f"{text}"}, status=400)

    def _endpoint(self, handler: Handler, *, signed: bool) -> RouteHandler:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            try:
                params = await (self._authenticate(request) if signed else self._public_params(request))
                result = await handler(request, params)
            except BinanceError as exc:
                return binance_error(exc.code, exc.msg, exc.status)
            except Exception as exc:  # a sim bug: make it loud and permanent, never a retryable 500
                log.exception("exchange-sim: %s %s failed", request.method, request.path)
                return binance_error(SIM_INTERNAL_ERROR, f"exchange-sim internal error: {exc!r}", 500)
            if isinstance(result, web.StreamResponse):
                return result
            return web.json_response(result)

        return endpoint

    # ------------------------------------------------------------------ auth

    @staticmethod
    async def _public_params(request: web.Request) -> dict[str, str]:
        params = dict(parse_qsl(request.query_string, keep_blank_values=True))
        if request.can_read_body:
            params.update(parse_qsl((await request.read()).decode(), keep_blank_values=True))
        return params

    async def _authenticate(self, request: web.Request) -> dict[str, str]:
        """Binance SIGNED check: API key, HMAC-SHA256 of the exact preceding bytes, timestamp vs recvWindow."""
        key = request.headers.get("X-MBX-APIKEY")
        if not key:
            raise BinanceError(-2014, status=401)
        if not hmac.compare_digest(key, self.scenario.auth.api_key):
            raise BinanceError(-2015, status=401)
        query = request.rel_url.raw_query_string
        body = (await request.read()).decode() if request.can_read_body else ""
        # Binance signs totalParams = query string + body (concatenated as is); the signature is
        # the last parameter of whichever part carries it (ccxt: the query for GET/DELETE, the body for POST).
        signed_part = body if body else query
        head, sep, signature = signed_part.rpartition("signature=")
        if not sep or (head and not head.endswith("&")) or "&" in signature:
            raise BinanceError(-1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
        head = head.removesuffix("&")
        payload = query + head if body else head
        expected = hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature.lower(), expected):
            raise BinanceError(-1022)
        params = dict(parse_qsl(query if body else "", keep_blank_values=True))
        params.update(parse_qsl(head, keep_blank_values=True))
        timestamp = _int_param(params, "timestamp")
        if timestamp is None:
            _required(params, "timestamp")
        recv_window = _int_param(params, "recvWindow") or 5000
        if not 0 < recv_window <= MAX_RECV_WINDOW:
            raise BinanceError(-1131, "recvWindow must be less than 60000")
        now = self.clock()
        assert timestamp is not None
        if timestamp > now + FUTURE_TOLERANCE_MS:
            raise BinanceError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if now - timestamp > recv_window:
            raise BinanceError(-1021)
        return params

    # ------------------------------------------------------------------ persistence

    def persist(self) -> None:
        """Write the engine state atomically (temp file + rename) so a crash never leaves half a file."""
        if self.state_file is None:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.state_file.name + ".", suffix=".tmp", dir=self.state_file.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self.engine.to_state(), fh)
            os.replace(tmp, self.state_file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # ------------------------------------------------------------------ public market data

    def _symbols(self, params: Mapping[str, str], *, perp: bool) -> list[MarketState]:
        """Markets named by `symbol` or a JSON `symbols` array, else all of that kind."""
        if "symbol" in params:
            return [self.engine.market(params["symbol"], perp=perp)]
        if "symbols" in params:
            try:
                names = json.loads(params["symbols"])
            except ValueError:
                names = None
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise BinanceError(-1100, "Illegal characters found in parameter 'symbols'.")
            return [self.engine.market(n, perp=perp) for n in names]
        return self.engine.perp_markets() if perp else self.engine.spot_markets()

    @staticmethod
    def _one_or_many(params: Mapping[str, str], rows: list[dict[str, Any]]) -> Any:
        return rows[0] if "symbol" in params else rows

    async def ping(self, request: web.Request, params: dict[str, str]) -> Any:
        return {}

    async def time(self, request: web.Request, params: dict[str, str]) -> Any:
        return {"serverTime": self.clock()}

    def _rate_limits(self) -> list[dict[str, Any]]:
        return [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
        ]

    async def spot_exchange_info(self, request: web.Request, params: dict[str, str]) -> Any:
        return {
            "timezone": "UTC", "serverTime": self.clock(), "rateLimits": self._rate_limits(), "exchangeFilters": [],
            "symbols": [spot_symbol_info(m) for m in self.engine.spot_markets()],
        }

    async def futures_exchange_info(self, request: web.Request, params: dict[str, str]) -> Any:
        return {
            "timezone": "UTC", "serverTime": self.clock(), "futuresType": "U_MARGINED",
            "rateLimits": self._rate_limits(), "exchangeFilters": [],
            "assets": [{"asset": QUOTE, "marginAvailable": True, "autoAssetExchange": "-10000"}],
            "symbols": [perp_symbol_info(m) for m in self.engine.perp_markets()],
        }

    def _ticker_stats(self, m: MarketState, last: Decimal, opening: Decimal) -> dict[str, Any]:
        """24h statistics: the scenario price is the open, the current price the last trade."""
        now = self.clock()
        volume = sum((o.executed_qty for o in self.engine.orders if o.symbol == m.symbol), Decimal(0))
        change = last - opening
        return {
            "priceChange": _px(change, m), "priceChangePercent": fixed(change / opening * 100, 3),
            "weightedAvgPrice": _px((last + opening) / 2, m), "lastPrice": _px(last, m),
            "lastQty": _qty(m.spec.min_qty, m), "openPrice": _px(opening, m),
            "highPrice": _px(max(last, opening), m), "lowPrice": _px(min(last, opening), m),
            "volume": _qty(volume, m), "quoteVolume": fixed(volume * last, 2),
            "openTime": now - 86_400_000, "closeTime": now, "firstId": 1, "lastId": 1 + len(self.engine.orders),
            "count": len(self.engine.orders),
        }

    def _depth_qty(self, m: MarketState, *, perp: bool = False) -> str:
        """Quantity shown at the best bid/ask: the first `depth` level on the perp, else a nominal 1000 lots."""
        if perp and m.spec.depth:
            return _qty(m.spec.depth[0], m)
        return _qty(m.spec.min_qty * 1000, m)

    async def spot_ticker_24hr(self, request: web.Request, params: dict[str, str]) -> Any:
        rows = []
        for m in self._symbols(params, perp=False):
            bid, ask = self.engine.book(m, perp=False)
            stats = self._ticker_stats(m, m.spot_price, m.spec.spot_price)
            # bidQty must be present: ccxt tells spot from contract tickers by it.
            rows.append({
                "symbol": m.symbol, "priceChange": stats["priceChange"],
                "priceChangePercent": stats["priceChangePercent"], "weightedAvgPrice": stats["weightedAvgPrice"],
                "prevClosePrice": stats["openPrice"], "lastPrice": stats["lastPrice"], "lastQty": stats["lastQty"],
                "bidPrice": _px(bid, m), "bidQty": self._depth_qty(m), "askPrice": _px(ask, m),
                "askQty": self._depth_qty(m), **{k: stats[k] for k in (
                    "openPrice", "highPrice", "lowPrice", "volume", "quoteVolume", "openTime", "closeTime",
                    "firstId", "lastId", "count")},
            })
        return self._one_or_many(params, rows)

    async def spot_book_ticker(self, request: web.Request, params: dict[str, str]) -> Any:
        rows = []
        for m in self._symbols(params, perp=False):
            bid, ask = self.engine.book(m, perp=False)
            rows.append({"symbol": m.symbol, "bidPrice": _px(bid, m), "bidQty": self._depth_qty(m),
                         "askPrice": _px(ask, m), "askQty": self._depth_qty(m)})
        return self._one_or_many(params, rows)

    async def futures_ticker_24hr(self, request: web.Request, params: dict[str, str]) -> Any:
        # No bid/ask fields: a fapi 24hr ticker must not carry bidQty or ccxt takes it for spot.
        rows = [
            {"symbol": m.symbol, **self._ticker_stats(m, m.mark_price, m.spec.mark_price)}
            for m in self._symbols(params, perp=True)
        ]
        return self._one_or_many(params, rows)

    async def futures_book_ticker(self, request: web.Request, params: dict[str, str]) -> Any:
        rows = []
        for m in self._symbols(params, perp=True):
            bid, ask = self.engine.book(m)
            rows.append({"symbol": m.symbol, "bidPrice": _px(bid, m), "bidQty": self._depth_qty(m, perp=True),
                         "askPrice": _px(ask, m), "askQty": self._depth_qty(m, perp=True), "time": self.clock(),
                         "lastUpdateId": 1 + len(self.engine.orders)})
        return self._one_or_many(params, rows)

    async def futures_depth(self, request: web.Request, params: dict[str, str]) -> Any:
        """GET /fapi/v1/depth: the levels taker orders fill against (book_levels); one level without `depth`."""
        m = self.engine.market(_required(params, "symbol"))
        limit = _int_param(params, "limit") or 500

        def side(name: str) -> list[list[str]]:
            return [
                [_px(price, m), self._depth_qty(m) if qty is None else _qty(qty, m)]
                for price, qty in self.engine.book_levels(m, name)[:limit]
            ]

        now = self.clock()
        return {"lastUpdateId": 1 + len(self.engine.orders), "E": now, "T": now, "bids": side("SELL"), "asks": side("BUY")}

    async def premium_index(self, request: web.Request, params: dict[str, str]) -> Any:
        rows = [
            {"symbol": m.symbol, "markPrice": fixed(m.mark_price), "indexPrice": fixed(m.spot_price),
             "estimatedSettlePrice": fixed(m.mark_price), "lastFundingRate": fixed(m.funding_rate),
             "interestRate": "0.00010000", "nextFundingTime": self.engine.next_funding_time(m), "time": self.clock()}
            for m in self._symbols(params, perp=True)
        ]
        return self._one_or_many(params, rows)

    async def funding_info(self, request: web.Request, params: dict[str, str]) -> Any:
        """Like Binance: only symbols with a non-default funding setting (here: an interval other than
        8 h) are listed; a symbol that is absent funds every 8 hours."""
        return [
            {"symbol": m.symbol, "adjustedFundingRateCap": "0.02000000", "adjustedFundingRateFloor": "-0.02000000",
             "fundingIntervalHours": m.spec.funding_interval_hours, "disclaimer": False}
            for m in self.engine.perp_markets()
            if m.spec.funding_interval_hours != DEFAULT_FUNDING_INTERVAL_HOURS
        ]

    # ------------------------------------------------------------------ spot account

    async def spot_account(self, request: web.Request, params: dict[str, str]) -> Any:
        return {
            "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
            "commissionRates": {
                "maker": "0.00100000", "taker": "0.00100000", "buyer": "0.00000000", "seller": "0.00000000",
            },
            "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False, "updateTime": self.engine.wallet_update_time,
            "accountType": "SPOT",
            "balances": [
                {"asset": asset, "free": fixed(amount), "locked": "0.00000000"}
                for asset, amount in self.engine.spot_balances.items()
            ],
            "permissions": ["SPOT"], "uid": _ACCOUNT_UID,
        }

    async def spot_get_order(self, request: web.Request, params: dict[str, str]) -> Any:
        # The sim never trades spot, so no spot order can exist: a lookup is always "not found".
        self.engine.market(_required(params, "symbol"), perp=False)
        raise BinanceError(-2013)

    async def spot_cancel_order(self, request: web.Request, params: dict[str, str]) -> Any:
        self.engine.market(_required(params, "symbol"), perp=False)
        raise BinanceError(-2011)

    async def spot_new_order(self, request: web.Request, params: dict[str, str]) -> Any:
        raise BinanceError(
            SIM_UNSUPPORTED, "exchange-sim does not simulate spot trading (the rebalancer never trades spot)."
        )

    async def spot_open_orders(self, request: web.Request, params: dict[str, str]) -> Any:
        if "symbol" in params:
            self.engine.market(params["symbol"], perp=False)
        return []

    # ------------------------------------------------------------------ futures account

    async def futures_account_v3(self, request: web.Request, params: dict[str, str]) -> Any:
        positions = []
        for symbol, pos in self.engine.positions.items():
            if not pos.amount:
                continue
            r = position_risk_v3(self.engine, symbol)
            positions.append({
                "symbol": symbol, "positionSide": "BOTH", "positionAmt": r["positionAmt"],
                "unrealizedProfit": r["unRealizedProfit"], "isolatedMargin": "0", "notional": r["notional"],
                "isolatedWallet": "0", "initialMargin": r["initialMargin"], "maintMargin": r["maintMargin"],
                "updateTime": r["updateTime"],
            })
        return {**_account_totals(self.engine), "assets": [_usdt_asset(self.engine)], "positions": positions}

    async def futures_account_v2(self, request: web.Request, params: dict[str, str]) -> Any:
        positions = []
        for m in self.engine.perp_markets():
            r = self.engine.position_risk(m.symbol)
            positions.append({
                "symbol": m.symbol, "initialMargin": fixed(r.initial_margin + r.open_order_initial_margin),
                "maintMargin": fixed(r.maint_margin), "unrealizedProfit": fixed(r.unrealized_pnl),
                "positionInitialMargin": fixed(r.initial_margin),
                "openOrderInitialMargin": fixed(r.open_order_initial_margin),
                "leverage": str(r.leverage), "isolated": m.margin_type != "CROSSED", "entryPrice": plain(r.entry_price),
                "breakEvenPrice": plain(r.break_even_price), "maxNotional": plain(self.engine.max_notional(m.symbol)),
                "bidNotional": "0", "askNotional": "0", "positionSide": "BOTH", "positionAmt": _qty(r.amount, m),
                "updateTime": r.update_time,
            })
        return {
            "feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True, "tradeGroupId": -1,
            "updateTime": 0, "multiAssetsMargin": False, **_account_totals(self.engine),
            "assets": [{**_usdt_asset(self.engine), "marginAvailable": True}], "positions": positions,
        }

    def _perp_symbols(self, params: Mapping[str, str]) -> list[str]:
        if "symbol" in params:
            return [self.engine.market(params["symbol"]).symbol]
        return [m.symbol for m in self.engine.perp_markets()]

    async def position_risk_v3(self, request: web.Request, params: dict[str, str]) -> Any:
        # v3 lists only symbols with a position or open orders (v2 lists every symbol).
        return [
            position_risk_v3(self.engine, s)
            for s in self._perp_symbols(params)
            if self.engine.positions[s].amount or self.engine.open_orders(s)
        ]

    async def position_risk_v2(self, request: web.Request, params: dict[str, str]) -> Any:
        return [position_risk_v2(self.engine, s) for s in self._perp_symbols(params)]

    async def leverage_bracket(self, request: web.Request, params: dict[str, str]) -> Any:
        """The scenario's maintenance tiers, exactly what the engine's margin math uses. A list, or one
        object when `symbol` is sent (as Binance documents). No notionalCoef: Binance sends it only
        for accounts whose brackets were adjusted."""
        rows = [
            {"symbol": symbol, "brackets": [bracket_json(b) for b in self.engine.markets[symbol].spec.brackets]}
            for symbol in self._perp_symbols(params)
        ]
        return rows[0] if "symbol" in params else rows

    async def symbol_config(self, request: web.Request, params: dict[str, str]) -> Any:
        return [
            {"symbol": s, "marginType": self.engine.markets[s].margin_type, "isAutoAddMargin": False,
             "leverage": self.engine.markets[s].leverage, "maxNotionalValue": plain(self.engine.max_notional(s))}
            for s in self._perp_symbols(params)
        ]

    async def income(self, request: web.Request, params: dict[str, str]) -> Any:
        symbol = params.get("symbol")
        if symbol is not None:
            self.engine.market(symbol)
        income_type = params.get("incomeType")
        start, end = _int_param(params, "startTime"), _int_param(params, "endTime")
        limit = min(_int_param(params, "limit") or 100, 1000)
        rows = [
            i for i in self.engine.income
            if (symbol is None or i.symbol == symbol) and (income_type is None or i.income_type == income_type)
            and (start is None or i.time >= start) and (end is None or i.time <= end)
        ]
        return [
            {"symbol": i.symbol, "incomeType": i.income_type, "income": fixed(i.income), "asset": i.asset,
             "info": i.income_type, "time": i.time, "tranId": i.tran_id, "tradeId": i.trade_id}
            for i in rows[:limit]
        ]

    async def user_trades(self, request: web.Request, params: dict[str, str]) -> Any:
        """GET /fapi/v1/userTrades: the account's fills with commission (where fees come from;
        order responses carry none). One trade per book level an order filled at."""
        symbol = _required(params, "symbol")
        self.engine.market(symbol)
        order_id = _int_param(params, "orderId")
        start, end = _int_param(params, "startTime"), _int_param(params, "endTime")
        limit = min(_int_param(params, "limit") or 500, 1000)
        rows = [
            (o, f) for o in self.engine.orders if o.symbol == symbol and (order_id is None or o.order_id == order_id)
            for f in o.fills if (start is None or f.time >= start) and (end is None or f.time <= end)
        ]
        rows.sort(key=lambda row: row[1].trade_id)
        return [
            {"buyer": o.side == "BUY", "commission": fixed(f.commission), "commissionAsset": QUOTE,
             "id": f.trade_id, "maker": f.maker, "orderId": o.order_id,
             "price": plain(f.price), "qty": plain(f.qty), "quoteQty": plain(f.qty * f.price),
             "realizedPnl": fixed(f.realized_pnl), "side": o.side, "positionSide": o.position_side,
             "symbol": symbol, "time": f.time}
            for o, f in rows[-limit:]
        ]

    # ------------------------------------------------------------------ futures trading

    async def new_order(self, request: web.Request, params: dict[str, str]) -> Any:
        symbol = _required(params, "symbol")
        client_id = params.get("newClientOrderId")
        if client_id is not None and not _CLIENT_ID_RE.match(client_id):
            raise BinanceError(
                -1100,
                "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
            )
        req = OrderRequest(
            symbol=symbol,
            side=_required(params, "side"),
            type=_required(params, "type"),
            quantity=_decimal_param(params, "quantity") or Decimal(0),
            price=_decimal_param(params, "price", required=False),
            time_in_force=params.get("timeInForce"),
            client_order_id=client_id,
            reduce_only=_bool_param(params, "reduceOnly"),
            position_side=params.get("positionSide"),
        )
        forced = self.faults.spec.reject_orders_with
        if forced:
            code = int(forced)
            fallback = f"Order rejected by the exchange-sim fault reject_orders_with={forced}."
            raise BinanceError(code, MESSAGES.get(code, fallback))
        order = self.engine.place_order(req)
        self.persist()
        if self.faults.take("drop_order_responses"):
            await self._hold_response(request)
        body = futures_order_json(order, self.engine.markets[order.symbol], with_time=False)
        if params.get("newOrderRespType", "ACK") == "ACK":
            # fapi's default: acknowledge before matching, so nothing looks filled yet (ccxt asks for RESULT).
            body.update(status="NEW", avgPrice="0.00", executedQty="0", cumQty="0", cumQuote="0.00000")
        return body

    async def _hold_response(self, request: web.Request) -> None:
        """Swallow the response of an executed order: hold it until the client gives up (it sees a
        timeout) or the server stops, then close the connection without answering."""
        try:
            await asyncio.wait_for(self.stopping.wait(), timeout=DROP_HOLD_SECONDS)
        except asyncio.TimeoutError:
            pass
        if request.transport is not None:
            request.transport.abort()

    def _find(self, params: Mapping[str, str]) -> tuple[str, int | None, str | None]:
        symbol = self.engine.market(_required(params, "symbol")).symbol
        order_id = _int_param(params, "orderId")
        client_id = params.get("origClientOrderId")
        if order_id is None and not client_id:
            raise BinanceError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        return symbol, order_id, client_id

    async def get_order(self, request: web.Request, params: dict[str, str]) -> Any:
        order = self.engine.find_order(*self._find(params))
        return futures_order_json(order, self.engine.markets[order.symbol], with_time=True)

    async def cancel_order(self, request: web.Request, params: dict[str, str]) -> Any:
        order = self.engine.cancel_order(*self._find(params))
        self.persist()
        return futures_order_json(order, self.engine.markets[order.symbol], with_time=False)

    async def open_orders(self, request: web.Request, params: dict[str, str]) -> Any:
        symbol = params.get("symbol")
        if symbol is not None:
            self.engine.market(symbol)
        return [
            futures_order_json(o, self.engine.markets[o.symbol], with_time=True)
            for o in self.engine.open_orders(symbol)
        ]

    async def cancel_all_orders(self, request: web.Request, params: dict[str, str]) -> Any:
        symbol = self.engine.market(_required(params, "symbol")).symbol
        for order in self.engine.open_orders(symbol):
            self.engine.cancel_order(symbol, order.order_id)
        self.persist()
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    async def set_leverage(self, request: web.Request, params: dict[str, str]) -> Any:
        leverage = _int_param(params, "leverage")
        if leverage is None:
            _required(params, "leverage")
        assert leverage is not None
        m = self.engine.set_leverage(_required(params, "symbol"), leverage)
        self.persist()
        return {"leverage": m.leverage, "maxNotionalValue": plain(self.engine.max_notional(m.symbol)), "symbol": m.symbol}

    async def set_margin_type(self, request: web.Request, params: dict[str, str]) -> Any:
        self.engine.set_margin_type(_required(params, "symbol"), _required(params, "marginType").upper())
        self.persist()
        return {"code": 200, "msg": "success"}

    async def get_position_mode(self, request: web.Request, params: dict[str, str]) -> Any:
        return {"dualSidePosition": self.engine.dual_side_position}

    async def set_position_mode(self, request: web.Request, params: dict[str, str]) -> Any:
        _required(params, "dualSidePosition")
        self.engine.set_dual_side(_bool_param(params, "dualSidePosition"))
        self.persist()
        return {"code": 200, "msg": "success"}

    # ------------------------------------------------------------------ admin API (/_sim/...)

    @staticmethod
    async def _json_body(request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        try:
            body = await request.json()
        except ValueError:
            raise ValueError("body must be a JSON object") from None
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        return body

    def state(self) -> dict[str, Any]:
        return {
            **self.engine.state_view(),
            "requests": dict(sorted(self.requests.items())),
            "faults": asdict(self.faults.spec),
        }

    async def admin_state(self, request: web.Request) -> web.Response:
        return web.json_response(self.state())

    async def admin_prices(self, request: web.Request) -> web.Response:
        """{"BTC": {"spot": 36000, "mark": 36000}} or {"BTC": 36000} to move spot and mark together."""
        body = await self._json_body(request)
        for asset, value in body.items():
            if asset + QUOTE not in self.engine.markets:
                raise ValueError(f"{asset}: no such market")
            if isinstance(value, Mapping):
                unknown = set(value) - {"spot", "mark"}
                if unknown:
                    raise ValueError(f"{asset}: unknown key(s) {sorted(unknown)} (allowed: spot, mark)")
                spot = to_decimal(value["spot"], f"{asset}.spot") if "spot" in value else None
                mark = to_decimal(value["mark"], f"{asset}.mark") if "mark" in value else None
            else:
                spot = mark = to_decimal(value, asset)
            self.engine.set_prices(asset, spot, mark)
        self.persist()
        return web.json_response(self.engine.state_view()["markets"])

    async def admin_funding(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        for asset, rate in body.items():
            if asset + QUOTE not in self.engine.markets or not self.engine.markets[asset + QUOTE].spec.perp:
                raise ValueError(f"{asset}: no such perp market")
            self.engine.set_funding_rate(asset, to_decimal(rate, asset))
        self.persist()
        return web.json_response(self.engine.state_view()["markets"])

    async def admin_settle_funding(self, request: web.Request) -> web.Response:
        """{} : every position's next funding time comes once; {"hours": 8}: 8 hours pass, so each
        symbol pays hours // its funding_interval_hours times."""
        body = await self._json_body(request)
        unknown = set(body) - {"hours"}
        if unknown:
            raise ValueError(f"unknown key(s) {sorted(unknown)} (allowed: hours)")
        hours = body.get("hours")
        if hours is not None and (isinstance(hours, bool) or not isinstance(hours, int) or hours < 1):
            raise ValueError(f"hours must be a positive integer, got {hours!r}")
        paid = self.engine.settle_funding(hours)
        self.persist()
        return web.json_response(
            {"payments": [{"symbol": i.symbol, "income": plain(i.income), "time": i.time} for i in paid],
             "wallet": plain(self.engine.wallet)}
        )

    async def admin_faults(self, request: web.Request) -> web.Response:
        spec = self.faults.update(await self._json_body(request))
        return web.json_response(asdict(spec))

    async def admin_reset_counters(self, request: web.Request) -> web.Response:
        self.requests.clear()
        return web.json_response({"requests": {}})

    async def admin_position_mode(self, request: web.Request) -> web.Response:
        """{"dualSidePosition": true}: force hedge mode (bypasses the flat-account rule, for tests)."""
        body = await self._json_body(request)
        value = body.get("dualSidePosition")
        if not isinstance(value, bool):
            raise ValueError("dualSidePosition must be true or false")
        self.engine.dual_side_position = value
        self.persist()
        return web.json_response({"dualSidePosition": value})

    async def admin_balances(self, request: web.Request) -> web.Response:
        """{"spot": {"BTC": 0.2}, "wallet": 3000}: set spot balances and/or the futures wallet."""
        body = await self._json_body(request)
        unknown = set(body) - {"spot", "wallet"}
        if unknown:
            raise ValueError(f"unknown key(s) {sorted(unknown)} (allowed: spot, wallet)")
        for asset, amount in (body.get("spot") or {}).items():
            self.engine.set_spot_balance(asset, to_decimal(amount, f"spot.{asset}"))
        if "wallet" in body:
            self.engine.set_wallet(to_decimal(body["wallet"], "wallet"))
        self.persist()
        view = self.engine.state_view()
        return web.json_response({"spot": view["spot"], "wallet": view["futures"]["wallet"]})

    async def admin_reset(self, request: web.Request) -> web.Response:
        """Back to the scenario: state, request counters and faults."""
        self.engine.reset()
        self.requests.clear()
        self.faults.reset(self.scenario.faults)
        self.persist()
        return web.json_response(self.state())
