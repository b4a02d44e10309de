"""The MEXC dialect: the spot v3 and contract v1 routes ccxt 4.5.90's `mexc` class calls for the
rebalancer (markets, time, balances, positions, funding rates, tickers, leverage and margin mode,
position mode, orders by id or by externalOid, open and history orders, deals, funding records,
trigger (plan) orders as protective stops, the spot <-> futures wallet transfer), over the
dialect-neutral engine.

MEXC's rules kept here: a contract order's `side` says open/close (1 open long, 2 close short,
3 open short, 4 close long: reduce-only is 2 / 4, there is no reduceOnly field) and its `type` the
execution (1 limit, 2 post only, 3 IOC, 4 FOK, 5 / 6 market); `vol` is a whole number of contracts
(x contractSize base units); the create reply carries the order id only; an externalOid (<= 32
characters) finds an order through `/order/external/{symbol}/{external_oid}`; leverage is set per
symbol and position type with its margin mode (openType) in one call, and a no-op change is accepted.
The account is one-way (positionMode 2) and cross; hedge mode and isolated orders are not simulated.

Trigger orders (ccxt: create_order with params.triggerPrice -> planorder/place) are MEXC's own
list: untriggered ones are in planorder/list/orders only (not in order/list/open_orders, not found
by order/get), canceled through planorder/cancel; one that fires places a market order with its own
order id (the plan row's `orderId`), found by order/get and in history_orders and order_deals.
"""

from __future__ import annotations

from contextvars import ContextVar
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from aiohttp import web

from ...engine import ZERO, MarketState, Order, OrderRequest
from ...rejections import Reason, Rejection
from ...scenario import QUOTE
from ..base import Dialect, Route
from . import auth, codes, payloads

ORDER_CREATE_PATH = "/api/v1/private/order/create"
PLAN_PLACE_PATH = "/api/v1/private/planorder/place"
CONTRACT = "/api/v1/contract"
PRIVATE = "/api/v1/private"
SPOT = "/api/v3"
EXTERNAL_OID_MAX = 32
MAX_PAGE_SIZE = 100
# Whether the request being answered is a spot v3 one (its errors are in spot's words and shape).
# The server builds error bodies without the request, so this is set when a request's parameters
# are read (before any handler refusal). A refusal raised earlier (fault 429 / 5xx, unknown route)
# may see the previous request's value on a kept-alive connection: either shape maps to the same
# ccxt class for those reasons (510 / 429 -> RateLimitExceeded, text 503, 404 -> ExchangeError).
_SPOT_REQUEST: ContextVar[bool] = ContextVar("mexc_spot_request", default=False)
# MEXC order type -> (engine type, time in force)
ORDER_TYPES = {1: ("LIMIT", "GTC"), 2: ("LIMIT", "GTX"), 3: ("LIMIT", "IOC"), 4: ("LIMIT", "FOK"),
               5: ("MARKET", None), 6: ("MARKET", None)}
# MEXC side -> (engine side, reduce only)
SIDES = {1: ("BUY", False), 2: ("BUY", True), 3: ("SELL", False), 4: ("SELL", True)}


def _str(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _decimal(params: dict[str, Any], name: str) -> Decimal | None:
    value = _str(params, name)
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise Rejection(Reason.BAD_PARAMETER, f"Param error! {name} invalid") from None
    if not number.is_finite():
        raise Rejection(Reason.BAD_PARAMETER, f"Param error! {name} invalid")
    return number


def _int(params: dict[str, Any], name: str, default: int | None = None) -> int | None:
    """An integer parameter; JSON bodies may carry 2 or 2.0 (ccxt sends float(vol))."""
    number = _decimal(params, name)
    if number is None:
        return default
    if number != number.to_integral_value():
        raise Rejection(Reason.BAD_PARAMETER, f"Param error! {name} must be an integer")
    return int(number)


def _required_int(params: dict[str, Any], name: str) -> int:
    value = _int(params, name)
    if value is None:
        raise Rejection(Reason.MISSING_PARAMETER, f"Param error! {name} is required")
    return value


def _side(params: dict[str, Any]) -> tuple[str, bool]:
    """A contract order's side code -> (engine side, reduce-only): 1/3 open, 2/4 close."""
    side = SIDES.get(_required_int(params, "side"))  # type: ignore[arg-type]
    if side is None:
        raise Rejection(Reason.BAD_SIDE)
    return side


def _check_account(params: dict[str, Any]) -> None:
    """What every contract order (and trigger order) must say of the account: cross margin
    (openType 2) and a one-way position (not positionMode 1)."""
    open_type = _required_int(params, "openType")
    if open_type not in (1, 2):
        raise Rejection(Reason.BAD_PARAMETER, "Param error! openType is 1 (isolated) or 2 (cross)")
    if open_type == 1:
        raise Rejection(Reason.UNSUPPORTED, "exchange-sim simulates cross margin orders (openType 2) only")
    if _int(params, "positionMode") == 1:
        raise Rejection(Reason.POSITION_SIDE_MISMATCH)


class MexcDialect(Dialect):
    """MEXC spot v3 + contract v1 over the engine; handlers return whole MEXC bodies."""

    name: ClassVar[str] = "mexc"
    order_paths = frozenset({ORDER_CREATE_PATH, PLAN_PLACE_PATH})
    enforces_min_notional: ClassVar[bool] = False  # contracts have a minimum volume (minVol) only
    order_maxima: ClassVar[str] = "one"  # maxVol bounds every order; no separate market-order maximum

    # ------------------------------------------------------------------ Dialect interface

    def routes(self) -> list[Route]:
        public = [
            ("GET", f"{SPOT}/ping", self.spot_ping),
            ("GET", f"{SPOT}/time", self.spot_time),
            ("GET", f"{SPOT}/exchangeInfo", self.exchange_info),
            ("GET", f"{SPOT}/ticker/24hr", self.spot_tickers),
            ("GET", f"{CONTRACT}/ping", self.contract_ping),
            ("GET", f"{CONTRACT}/detail", self.contract_detail),
            ("GET", f"{CONTRACT}/ticker", self.contract_tickers),
            ("GET", f"{CONTRACT}/funding_rate/{{symbol}}", self.funding_rate),
        ]
        signed = [
            ("GET", f"{SPOT}/account", self.spot_account),
            ("GET", f"{SPOT}/capital/config/getall", self.capital_config),
            ("GET", f"{PRIVATE}/account/assets", self.account_assets),
            ("GET", f"{PRIVATE}/position/open_positions", self.open_positions),
            ("GET", f"{PRIVATE}/position/position_mode", self.position_mode),
            ("GET", f"{PRIVATE}/position/leverage", self.position_leverage),
            ("GET", f"{PRIVATE}/position/funding_records", self.funding_records),
            ("POST", f"{PRIVATE}/position/change_leverage", self.change_leverage),
            ("POST", f"{PRIVATE}/position/change_position_mode", self.change_position_mode),
            ("POST", ORDER_CREATE_PATH, self.create_order),
            ("POST", f"{PRIVATE}/order/cancel", self.cancel_orders),
            ("GET", f"{PRIVATE}/order/get/{{order_id}}", self.get_order),
            ("GET", f"{PRIVATE}/order/external/{{symbol}}/{{external_oid}}", self.get_external_order),
            ("GET", f"{PRIVATE}/order/list/open_orders", self.open_orders),
            ("GET", f"{PRIVATE}/order/list/open_orders/{{symbol}}", self.open_orders),
            ("GET", f"{PRIVATE}/order/list/history_orders", self.history_orders),
            ("GET", f"{PRIVATE}/order/list/order_deals", self.order_deals),
            ("POST", PLAN_PLACE_PATH, self.plan_place),
            ("POST", f"{PRIVATE}/planorder/cancel", self.plan_cancel),
            ("GET", f"{PRIVATE}/planorder/list/orders", self.plan_orders),
            ("POST", f"{SPOT}/capital/transfer", self.capital_transfer),
        ]
        return [Route(m, p, h) for m, p, h in public] + [Route(m, p, h, signed=True) for m, p, h in signed]

    async def public_params(self, request: web.Request) -> dict[str, Any]:
        _SPOT_REQUEST.set(auth.is_spot(request))
        return await auth.public_params(request)

    async def authenticate(self, request: web.Request) -> dict[str, Any]:
        _SPOT_REQUEST.set(auth.is_spot(request))
        a = self.server.scenario.auth
        return await auth.authenticate(request, a.api_key, a.api_secret.encode(), self.server.clock)

    def error_response(self, rejection: Rejection) -> web.Response:
        return codes.error_response(rejection, spot=_SPOT_REQUEST.get())

    # ------------------------------------------------------------------ helpers

    def ok(self, data: Any = None) -> dict[str, Any]:
        body: dict[str, Any] = {"success": True, "code": 0}
        if data is not None:
            body["data"] = data
        return body

    def _market(self, contract_symbol: str | None) -> MarketState:
        """A contract symbol (BTC_USDT) -> the engine's perp market; 1001 if unknown."""
        if contract_symbol is None:
            raise Rejection(Reason.MISSING_PARAMETER, "Param error! symbol is required")
        base, sep, quote = contract_symbol.partition("_")
        if not sep or quote != QUOTE:
            raise Rejection(Reason.UNKNOWN_SYMBOL)
        return self.engine.market(base + quote)

    def _fees(self) -> tuple[Decimal, Decimal]:
        futures = self.server.scenario.futures
        return futures.fee_rate, futures.maker_fee_rate

    def _order_json(self, order: Order) -> dict[str, Any]:
        m = self.engine.markets[order.symbol]
        return payloads.order_json(m, order, m.leverage)

    def _page(self, rows: list[Any], params: dict[str, Any], default: int = 20) -> list[Any]:
        size = min(max(_int(params, "page_size", default) or default, 1), MAX_PAGE_SIZE)
        page = max(_int(params, "page_num", 1) or 1, 1)
        return rows[(page - 1) * size:page * size]

    # ------------------------------------------------------------------ spot (v3)

    async def spot_ping(self, request: web.Request, params: dict[str, Any]) -> Any:
        return {}

    async def spot_time(self, request: web.Request, params: dict[str, Any]) -> Any:
        return {"serverTime": self.server.clock()}

    async def exchange_info(self, request: web.Request, params: dict[str, Any]) -> Any:
        symbol = _str(params, "symbol")
        markets = [m for m in self.engine.spot_markets() if symbol in (None, m.symbol)]
        return payloads.exchange_info(self.engine, self.server.clock(), markets)

    async def spot_tickers(self, request: web.Request, params: dict[str, Any]) -> Any:
        now = self.server.clock()
        symbol = _str(params, "symbol")
        if symbol is not None:
            try:
                market = self.engine.market(symbol, perp=False)
            except Rejection as exc:
                raise Rejection(exc.reason, status=400) from None
            return payloads.spot_ticker(self.engine, market, now)
        return [payloads.spot_ticker(self.engine, m, now) for m in self.engine.spot_markets()]

    async def spot_account(self, request: web.Request, params: dict[str, Any]) -> Any:
        return payloads.spot_account(self.engine, self.server.clock())

    async def capital_config(self, request: web.Request, params: dict[str, Any]) -> Any:
        assets = [QUOTE, *(m.asset for m in self.engine.markets.values())]
        return [payloads.currency_config(a) for a in dict.fromkeys(assets)]

    # ------------------------------------------------------------------ contract market data

    async def contract_ping(self, request: web.Request, params: dict[str, Any]) -> Any:
        return self.ok(self.server.clock())

    async def contract_detail(self, request: web.Request, params: dict[str, Any]) -> Any:
        taker, maker = self._fees()
        symbol = _str(params, "symbol")
        if symbol is not None:
            return self.ok(payloads.contract_detail(self._market(symbol), taker, maker))
        return self.ok([payloads.contract_detail(m, taker, maker) for m in self.engine.perp_markets()])

    async def contract_tickers(self, request: web.Request, params: dict[str, Any]) -> Any:
        """With a symbol, `data` is one object (ccxt's fetch_ticker reads it so); without, a list."""
        now = self.server.clock()
        symbol = _str(params, "symbol")
        if symbol is not None:
            return self.ok(payloads.contract_ticker(self.engine, self._market(symbol), now))
        return self.ok([payloads.contract_ticker(self.engine, m, now) for m in self.engine.perp_markets()])

    async def funding_rate(self, request: web.Request, params: dict[str, Any]) -> Any:
        return self.ok(payloads.funding_rate(self.engine, self._market(_str(params, "symbol")), self.server.clock()))

    # ------------------------------------------------------------------ contract account

    async def account_assets(self, request: web.Request, params: dict[str, Any]) -> Any:
        return self.ok(payloads.contract_assets(self.engine))

    async def open_positions(self, request: web.Request, params: dict[str, Any]) -> Any:
        """The open positions (holdVol > 0), all symbols or the one asked for."""
        symbol = _str(params, "symbol")
        markets = [self._market(symbol)] if symbol is not None else self.engine.perp_markets()
        rows = []
        for m in markets:
            if not self.engine.positions[m.symbol].amount:
                continue
            realised = sum((i.income for i in self.engine.income if i.symbol == m.symbol
                            and i.income_type in ("REALIZED_PNL", "COMMISSION")), ZERO)
            hold_fee = sum((i.income for i in self.engine.income if i.symbol == m.symbol
                            and i.income_type == "FUNDING_FEE"), ZERO)
            rows.append(payloads.position(self.engine, m.symbol, realised, hold_fee))
        return self.ok(rows)

    async def position_mode(self, request: web.Request, params: dict[str, Any]) -> Any:
        return self.ok(1 if self.engine.dual_side_position else 2)

    async def position_leverage(self, request: web.Request, params: dict[str, Any]) -> Any:
        return self.ok(payloads.position_leverage(self._market(_str(params, "symbol"))))

    async def funding_records(self, request: web.Request, params: dict[str, Any]) -> Any:
        symbol = _str(params, "symbol")
        wanted = self._market(symbol).symbol if symbol is not None else None
        rows = [payloads.funding_record(self.engine, i) for i in reversed(self.engine.income)
                if i.income_type == "FUNDING_FEE" and wanted in (None, i.symbol)]
        size = min(max(_int(params, "page_size", 20) or 20, 1), MAX_PAGE_SIZE)
        page = max(_int(params, "page_num", 1) or 1, 1)
        return self.ok({"pageSize": size, "totalCount": len(rows), "totalPage": max(1, -(-len(rows) // size)),
                        "currentPage": page, "resultList": self._page(rows, params)})

    async def change_leverage(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Leverage with its margin mode: {leverage, openType, symbol, positionType} (or positionId of
        an open position). ccxt's set_leverage needs openType and positionType in params; its
        set_margin_mode needs `leverage` (and `direction` for positionType)."""
        leverage = _required_int(params, "leverage")
        position_id = _int(params, "positionId")
        if position_id is not None:
            m = next((x for x in self.engine.perp_markets()
                      if payloads.position_id(self.engine, x.symbol) == position_id
                      and self.engine.positions[x.symbol].amount), None)
            if m is None:
                raise Rejection(Reason.REDUCE_ONLY_REJECTED, "Position is not exists or closed.")
        else:
            m = self._market(_str(params, "symbol"))
            open_type = _required_int(params, "openType")
            position_type = _required_int(params, "positionType")
            if open_type not in (1, 2) or position_type not in (1, 2):
                raise Rejection(Reason.BAD_PARAMETER, "Param error! openType and positionType are 1 or 2")
            wanted = "ISOLATED" if open_type == 1 else "CROSSED"
            if wanted != m.margin_type:
                self.engine.set_margin_type(m.symbol, wanted)
        if leverage != m.leverage:
            self.engine.set_leverage(m.symbol, leverage)
        self.server.persist()
        return self.ok()

    async def change_position_mode(self, request: web.Request, params: dict[str, Any]) -> Any:
        mode = _required_int(params, "positionMode")
        if mode not in (1, 2):
            raise Rejection(Reason.BAD_PARAMETER, "Param error! positionMode is 1 (hedge) or 2 (one-way)")
        if mode == 1:
            raise Rejection(Reason.UNSUPPORTED, "exchange-sim simulates one-way position mode (positionMode 2) only")
        return self.ok()

    # ------------------------------------------------------------------ contract orders

    def _order_request(self, params: dict[str, Any]) -> OrderRequest:
        m = self._market(_str(params, "symbol"))
        side = _side(params)
        kind = ORDER_TYPES.get(_required_int(params, "type"))  # type: ignore[arg-type]
        if kind is None:
            raise Rejection(Reason.BAD_ORDER_TYPE)
        _check_account(params)
        unsupported = [k for k in ("triggerPrice", "stopLossPrice", "takeProfitPrice") if _str(params, k) is not None]
        if unsupported:
            raise Rejection(Reason.UNSUPPORTED, f"exchange-sim does not simulate {', '.join(unsupported)} on orders")
        vol = self._volume(m, params)
        external = _str(params, "externalOid")
        if external is not None:
            if len(external) > EXTERNAL_OID_MAX:
                raise Rejection(Reason.BAD_PARAMETER, codes.MESSAGES[2030])
            if any(o.client_order_id == external and o.symbol == m.symbol for o in self.engine.orders):
                raise Rejection(Reason.DUPLICATE_CLIENT_ID)
        engine_type, tif = kind
        price = _decimal(params, "price") if engine_type == "LIMIT" else None  # a market order's price is ignored
        if engine_type == "LIMIT" and (price is None or price <= 0):
            raise Rejection(Reason.MISSING_PARAMETER, "Param error! price is required for limit orders")
        engine_side, reduce_only = side
        return OrderRequest(
            symbol=m.symbol, side=engine_side, type=engine_type, quantity=self.base(m, vol), price=price,
            time_in_force=tif, client_order_id=external, reduce_only=reduce_only,
        )

    def _volume(self, m: MarketState, params: dict[str, Any]) -> Decimal:
        vol = _decimal(params, "vol")
        if vol is None:
            raise Rejection(Reason.MISSING_PARAMETER, "Param error! vol is required")
        if vol <= 0:
            raise Rejection(Reason.QUANTITY_NOT_POSITIVE)
        if vol % m.spec.amount_step or vol < m.spec.min_qty:
            raise Rejection(Reason.LOT_SIZE)  # MEXC counts and checks whole volUnits of contracts
        if vol > m.spec.max_qty:
            raise Rejection(Reason.QUANTITY_ABOVE_MAX)
        return vol

    async def create_order(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Place; the reply carries the order id and time only (status comes from a lookup)."""
        order = await self.server.place(request, self._order_request(params))
        return self.ok({"orderId": str(order.order_id), "ts": self.server.clock()})

    @staticmethod
    def _is_order(order: Order) -> bool:
        """An order of the order lists: a trigger order is one only once it fired (its market order);
        resting, canceled or invalid trigger orders live in the planorder lists alone."""
        return order.type != "STOP_MARKET" or payloads.fired(order)

    def _by_id(self, order_id: str | None) -> Order | None:
        if order_id is None or not order_id.isdigit():
            return None
        return next((o for o in self.engine.orders if o.order_id == int(order_id) and self._is_order(o)), None)

    async def cancel_orders(self, request: web.Request, params: dict[str, Any]) -> Any:
        """A JSON array of order ids; each answered in `data` (2040 not exist, 2041 not cancellable)."""
        ids = params.get(auth.LIST_BODY)
        if not isinstance(ids, list) or not ids:
            raise Rejection(Reason.MISSING_PARAMETER, "Param error! a list of order ids is required")
        rows = []
        for raw in ids:
            order_id = str(raw)
            found = self._by_id(order_id)
            if found is None:
                rows.append({"orderId": order_id, "errorCode": 2040, "errorMsg": codes.MESSAGES[2040]})
            elif not found.is_open:
                rows.append({"orderId": order_id, "errorCode": 2041, "errorMsg": codes.MESSAGES[2041]})
            else:
                self.engine.cancel_order(found.symbol, found.order_id)
                rows.append({"orderId": order_id, "errorCode": 0, "errorMsg": "success"})
        self.server.persist()
        return self.ok(rows)

    async def get_order(self, request: web.Request, params: dict[str, Any]) -> Any:
        """By MEXC order id. ccxt's fetch_order(None, ...) sends /order/get/None: not found (2040)."""
        found = self._by_id(_str(params, "order_id"))
        if found is None:
            raise Rejection(Reason.ORDER_NOT_FOUND)
        return self.ok(self._order_json(found))

    async def get_external_order(self, request: web.Request, params: dict[str, Any]) -> Any:
        """By externalOid (the client id) within a symbol: the latest order that carried it."""
        m = self._market(_str(params, "symbol"))
        external = _str(params, "external_oid")
        found = next((o for o in reversed(self.engine.orders)
                      if o.symbol == m.symbol and o.client_order_id == external and o.type != "STOP_MARKET"), None)
        if found is None:
            raise Rejection(Reason.ORDER_NOT_FOUND)
        return self.ok(self._order_json(found))

    def _orders(self, params: dict[str, Any]) -> list[Order]:
        symbol = _str(params, "symbol")
        wanted = self._market(symbol).symbol if symbol is not None else None
        start, end = _int(params, "start_time"), _int(params, "end_time")
        rows = [o for o in self.engine.orders if wanted in (None, o.symbol) and self._is_order(o)
                and (start is None or o.time >= start) and (end is None or o.time <= end)]
        rows.sort(key=lambda o: (o.time, o.order_id), reverse=True)  # newest first
        return rows

    async def open_orders(self, request: web.Request, params: dict[str, Any]) -> Any:
        return self.ok(self._page([self._order_json(o) for o in self._orders(params) if o.is_open], params))

    async def history_orders(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Every order (any state), filtered by `states` (e.g. "3,4") and time, newest first."""
        states = _str(params, "states")
        wanted = set(states.split(",")) if states is not None else None
        rows = [self._order_json(o) for o in self._orders(params)]
        rows = [r for r in rows if wanted is None or r["state"] in wanted]
        return self.ok(self._page(rows, params))

    async def order_deals(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Fills (deals) of a symbol, newest first; MEXC requires the symbol."""
        m = self._market(_str(params, "symbol"))
        start, end = _int(params, "start_time"), _int(params, "end_time")
        rows = [(f.time, f.trade_id, payloads.deal(m, o, f)) for o in self.engine.orders if o.symbol == m.symbol
                for f in o.fills if (start is None or f.time >= start) and (end is None or f.time <= end)]
        rows.sort(key=lambda r: (r[0], r[1]), reverse=True)
        return self.ok(self._page([r[2] for r in rows], params))

    # ------------------------------------------------------------------ trigger (plan) orders

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        # What a trigger order was sent with and the engine does not keep: engine order id -> (that
        # order, trend, executeCycle); the order is kept to tell it from a later one reusing the id
        # after an engine reset. Lost on a restart (the listing then shows the defaults 1 / 24 hours).
        self._plan_meta: dict[int, tuple[Order, int, int]] = {}

    async def plan_place(self, request: web.Request, params: dict[str, Any]) -> Any:
        """POST planorder/place, as ccxt 4.5.90 sends a create_order with params.triggerPrice:
        {symbol, vol, side, type, openType, triggerPrice, triggerType, executeCycle, trend, orderType
        [, price, externalOid]}. Simulated: the protective stop-loss, i.e. a reduce-only (side 2 close
        short / 4 close long) market (orderType 5) trigger on the latest or fair price (trend 1 / 2;
        the sim's latest price is the mark) that triggers against the position: a buy at >= (triggerType
        1), a sell at <= (2). A trigger whose condition already holds is refused (3004); it fires in the
        engine when the mark crosses. The reply's `data` is the trigger order's id, bare."""
        m = self._market(_str(params, "symbol"))
        side = _side(params)
        engine_side, reduce_only = side
        _check_account(params)
        trigger_type, trend = _required_int(params, "triggerType"), _required_int(params, "trend")
        cycle, order_type = _required_int(params, "executeCycle"), _required_int(params, "orderType")
        if trigger_type not in (1, 2):
            raise Rejection(Reason.BAD_PARAMETER, codes.MESSAGES[3002])
        if trend not in (1, 2, 3):
            raise Rejection(Reason.BAD_PARAMETER, codes.MESSAGES[3001])
        if cycle not in payloads.EXECUTE_CYCLE_HOURS:
            raise Rejection(Reason.BAD_PARAMETER, codes.MESSAGES[3003])
        if order_type not in ORDER_TYPES or order_type == 6:
            raise Rejection(Reason.BAD_ORDER_TYPE)
        trigger = _decimal(params, "triggerPrice")
        if trigger is None or trigger <= 0:
            raise Rejection(Reason.BAD_PARAMETER, codes.MESSAGES[3004])
        vol = self._volume(m, params)
        if not reduce_only:
            raise Rejection(Reason.UNSUPPORTED, "exchange-sim simulates reduce-only trigger orders (side 2 / 4) only")
        if order_type != payloads.PLAN_MARKET_ORDER_TYPE:
            raise Rejection(Reason.UNSUPPORTED, "exchange-sim simulates market trigger orders (orderType 5) only")
        if trend == 3:
            raise Rejection(Reason.UNSUPPORTED, "exchange-sim triggers on the latest / fair price (trend 1 / 2) only")
        if (trigger_type == 1 and m.mark_price >= trigger) or (trigger_type == 2 and m.mark_price <= trigger):
            raise Rejection(Reason.STOP_WOULD_TRIGGER)
        if trigger_type != (1 if engine_side == "BUY" else 2):
            raise Rejection(Reason.UNSUPPORTED, "exchange-sim simulates stop-loss triggers only: a buy (side 2) "
                                                "at >= (triggerType 1), a sell (side 4) at <= (triggerType 2)")
        external = _str(params, "externalOid")
        if external is not None and len(external) > EXTERNAL_OID_MAX:
            raise Rejection(Reason.BAD_PARAMETER, codes.MESSAGES[2030])
        order = await self.server.place(request, OrderRequest(
            symbol=m.symbol, side=engine_side, type="STOP_MARKET", quantity=self.base(m, vol),
            client_order_id=external, reduce_only=True, stop_price=trigger,
        ))
        self._plan_meta[order.order_id] = (order, trend, cycle)
        return self.ok(payloads.plan_id(order))

    def _plan_by_id(self, plan: Any) -> Order | None:
        text_id = str(plan) if plan is not None else ""
        if not text_id.isdigit():
            return None
        order_id = int(text_id) - payloads.PLAN_ID_OFFSET
        return next((o for o in self.engine.orders if o.order_id == order_id and o.type == "STOP_MARKET"), None)

    def _plan_json(self, order: Order) -> dict[str, Any]:
        m = self.engine.markets[order.symbol]
        kept, trend, cycle = self._plan_meta.get(order.order_id, (order, 1, 1))
        if kept is not order:
            trend, cycle = 1, 1
        return payloads.plan_order_json(m, order, m.leverage, trend, cycle)

    async def plan_orders(self, request: web.Request, params: dict[str, Any]) -> Any:
        """GET planorder/list/orders: trigger orders filtered by symbol, `states` ("1" untriggered, as
        ccxt's fetch_open_orders(params={"trigger": True}) asks; "3" executed for fetch_closed_orders)
        and time, newest first."""
        symbol = _str(params, "symbol")
        wanted = self._market(symbol).symbol if symbol is not None else None
        states = _str(params, "states")
        wanted_states = set(states.split(",")) if states is not None else None
        start, end = _int(params, "start_time"), _int(params, "end_time")
        orders = [o for o in self.engine.orders if o.type == "STOP_MARKET" and wanted in (None, o.symbol)
                  and (start is None or o.time >= start) and (end is None or o.time <= end)]
        orders.sort(key=lambda o: (o.time, o.order_id), reverse=True)
        rows = [self._plan_json(o) for o in orders]
        rows = [r for r in rows if wanted_states is None or r["state"] in wanted_states]
        return self.ok(self._page(rows, params))

    async def plan_cancel(self, request: web.Request, params: dict[str, Any]) -> Any:
        """POST planorder/cancel: a JSON array of {symbol, orderId}; answered with the bare success
        body, or refused as a whole: 2040 unknown, 2041 no longer cancellable (untriggered only)."""
        items = params.get(auth.LIST_BODY)
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            raise Rejection(Reason.MISSING_PARAMETER, "Param error! a list of {symbol, orderId} is required")
        found = []
        for item in items:
            m = self._market(_str(item, "symbol"))
            order = self._plan_by_id(item.get("orderId"))
            if order is None or order.symbol != m.symbol:
                raise Rejection(Reason.CANCEL_UNKNOWN_ORDER)
            if not order.is_open:
                return {"success": False, "code": 2041, "message": codes.MESSAGES[2041]}
            found.append(order)
        for order in found:
            self.engine.cancel_order(order.symbol, order.order_id)
        self.server.persist()
        return self.ok()

    # ------------------------------------------------------------------ wallet transfer (spot v3)

    async def capital_transfer(self, request: web.Request, params: dict[str, Any]) -> Any:
        """POST /api/v3/capital/transfer {asset, amount, fromAccountType, toAccountType} (ccxt's
        transfer: 'spot' -> SPOT, 'swap' / 'future' -> FUTURES); answers {"tranId": 32 hex}."""
        accounts = {"SPOT": "spot", "FUTURES": "futures"}
        asset, amount = _str(params, "asset"), _decimal(params, "amount")
        source, target = _str(params, "fromAccountType"), _str(params, "toAccountType")
        if asset is None or amount is None or source is None or target is None:
            raise Rejection(Reason.MISSING_PARAMETER)
        if source not in accounts or target not in accounts:
            raise Rejection(Reason.UNSUPPORTED,
                            f"exchange-sim transfers between SPOT and FUTURES only, not {source} -> {target}")
        done = self.engine.transfer(asset, amount, accounts[source], accounts[target])
        self.server.persist()
        return {"tranId": payloads.transfer_id(done.tran_id)}


__all__ = ["MexcDialect", "ORDER_CREATE_PATH", "PLAN_PLACE_PATH"]
