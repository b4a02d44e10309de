"""The WEEX dialect: the spot (/api/v3) and USDT-M contract (/capi/v3) routes ccxt 4.5.90's `weex`
class calls for the rebalancer (markets, coins, time, tickers, premium index, mark price, balances,
symbol config, positions, leverage, margin type, orders, open orders, order history, trades, income,
and protective stops on /capi/v3/algoOrder + openAlgoOrders), over the dialect-neutral engine.

WEEX's rules kept here:
- sizes are base units on the wire, whatever contractVal says (see payloads);
- a create reply carries ids only; GET /capi/v3/order finds an order by `orderId` or by
  `origClientOrderId` (what ccxt sends for fetch_order(<any id>, symbol, {"clientOrderId": ...}):
  the client id wins over the id), across symbols, open or finished; unknown: -3200;
- one-way ("COMBINED") accounts still receive ccxt's positionSide LONG/SHORT on every order: here
  such an order is netted on the one position, and positionSide only tells the intent ccxt encoded
  (BUY+LONG / SELL+SHORT open or add, SELL+LONG / BUY+SHORT reduce): a reducing pair is executed
  reduce-only even without `reduceOnly`, and reduceOnly=true is honoured whatever positionSide says;
- a leverage or margin type already in force is accepted (no "not modified" error);
- an unknown order on DELETE /capi/v3/order answers HTTP 200 {"status": "FAILED", "errorMsg":
  "FAILED_ORDER_NOT_FOUND"}, which ccxt's parse_order raises as OrderNotFound.
- a conditional (trigger) order is POST /capi/v3/algoOrder (type STOP_MARKET, clientAlgoId,
  triggerPrice), listed by GET /capi/v3/openAlgoOrders only (not openOrders), cancelled by
  DELETE /capi/v3/algoOrder?orderId=<algoId> only (the regular cancel does not find it), and read as a
  regular row by GET /capi/v3/order and order/history (UNTRIGGERED while resting, as recorded). The sim
  gives a stop one id (algoId = actualOrderId = orderId); real WEEX numbers them separately.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, ClassVar

from aiohttp import web

from ...engine import Order, OrderRequest
from ...rejections import Reason, Rejection
from ...scenario import QUOTE
from ..base import Dialect, Route
from ..params import ParamReader
from . import auth, codes, payloads

ORDER_PATH = "/capi/v3/order"
ALGO_PATH = "/capi/v3/algoOrder"
_WORKING_TYPES = ("CONTRACT_PRICE", "MARK_PRICE")
MAX_LIMIT = 1000
_CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,40}$")
_TIME_IN_FORCE = ("GTC", "IOC", "FOK")
_UNSUPPORTED_ORDER_KEYS = ("triggerPrice", "tpTriggerPrice", "slTriggerPrice", "presetStopLossPrice",
                           "presetTakeProfitPrice", "marginType")
# On POST /capi/v3/algoOrder: attached take profit / stop loss of a conditional order, not simulated.
_UNSUPPORTED_ALGO_KEYS = ("price", "timeInForce", "presetStopLossPrice", "presetTakeProfitPrice", "TpWorkingType",
                          "tpTriggerPrice", "slTriggerPrice", "marginType")


_PARAMS = ParamReader(
    missing="Parameter cannot be empty. {name}",
    bad_number="Parameter is invalid. {name}",
    bad_integer="Parameter is invalid. {name}",
    bad_bool="Parameter is invalid. {name}",
)
_str, _required, _decimal, _int, _bool = (_PARAMS.str, _PARAMS.required, _PARAMS.decimal, _PARAMS.int,
                                          _PARAMS.bool)


def _limit(params: dict[str, Any], default: int) -> int:
    limit = _int(params, "limit")
    return default if limit is None else min(max(limit, 1), MAX_LIMIT)


class WeexDialect(Dialect):
    """WEEX over the engine; handlers return WEEX's bare JSON bodies (no envelope on success)."""

    name: ClassVar[str] = "weex"
    order_paths = frozenset({ORDER_PATH, ALGO_PATH})
    uses_password: ClassVar[bool] = True
    enforces_min_notional: ClassVar[bool] = False  # contracts publish minOrderSize only, no minimum value

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        # A stop's workingType as sent (MARK_PRICE), by (order id, time): echoed only, not persisted
        # (after a restart it reads CONTRACT_PRICE). The engine triggers every stop on the mark price.
        self._working_types: dict[tuple[int, int], str] = {}

    # Sizes on WEEX's wire are base units: the contract count is never used.
    def contracts(self, m: Any, base: Decimal) -> Decimal:
        return base

    def base(self, m: Any, contracts: Decimal) -> Decimal:
        return contracts

    # ------------------------------------------------------------------ Dialect interface

    def routes(self) -> list[Route]:
        public = [
            ("GET", "/api/v3/time", self.server_time),
            ("GET", "/api/v3/ping", self.ping),
            ("GET", "/api/v3/coins", self.coins),
            ("GET", "/api/v3/exchangeInfo", self.spot_exchange_info),
            ("GET", "/api/v3/market/ticker/24hr", self.spot_tickers),
            ("GET", "/capi/v3/market/time", self.server_time),
            ("GET", "/capi/v3/market/exchangeInfo", self.contract_exchange_info),
            ("GET", "/capi/v3/market/ticker/24hr", self.contract_tickers),
            ("GET", "/capi/v3/market/premiumIndex", self.premium_index),
            ("GET", "/capi/v3/market/symbolPrice", self.symbol_price),
        ]
        signed = [
            ("GET", "/api/v3/account/", self.spot_account),
            ("GET", "/api/v3/openOrders", self.spot_open_orders),
            ("GET", "/capi/v3/account/balance", self.contract_balance),
            ("GET", "/capi/v3/account/symbolConfig", self.symbol_config),
            ("GET", "/capi/v3/account/position/allPosition", self.all_positions),
            ("GET", "/capi/v3/account/position/singlePosition", self.single_position),
            ("POST", "/capi/v3/account/leverage", self.set_leverage),
            ("POST", "/capi/v3/account/marginType", self.set_margin_type),
            ("POST", "/capi/v3/account/income", self.income),
            ("POST", ORDER_PATH, self.create_order),
            ("GET", ORDER_PATH, self.get_order),
            ("DELETE", ORDER_PATH, self.cancel_order),
            ("GET", "/capi/v3/openOrders", self.open_orders),
            ("GET", "/capi/v3/openAlgoOrders", self.open_algo_orders),
            ("POST", ALGO_PATH, self.create_algo_order),
            ("DELETE", ALGO_PATH, self.cancel_algo_order),
            ("GET", "/capi/v3/order/history", self.order_history),
            ("GET", "/capi/v3/userTrades", self.user_trades),
        ]
        return [Route(m, p, h) for m, p, h in public] + [Route(m, p, h, signed=True) for m, p, h in signed]

    async def public_params(self, request: web.Request) -> dict[str, Any]:
        return await auth.public_params(request)

    async def authenticate(self, request: web.Request) -> dict[str, Any]:
        a = self.server.scenario.auth
        return await auth.authenticate(request, a.api_key, a.api_secret.encode(), a.password, self.server.clock)

    def error_response(self, rejection: Rejection) -> web.Response:
        return codes.error_response(rejection, self.server.clock)

    # ------------------------------------------------------------------ helpers

    def _markets(self, params: dict[str, Any], *, perp: bool) -> list[Any]:
        symbol = _str(params, "symbol")
        if symbol is not None:
            return [self.engine.market(symbol, perp=perp)]
        return self.engine.perp_markets() if perp else self.engine.spot_markets()

    def _symbol(self, params: dict[str, Any]) -> str | None:
        symbol = _str(params, "symbol")
        return None if symbol is None else self.engine.market(symbol).symbol

    # ------------------------------------------------------------------ public

    async def server_time(self, request: web.Request, params: dict[str, Any]) -> Any:
        return {"serverTime": self.server.clock()}

    async def ping(self, request: web.Request, params: dict[str, Any]) -> Any:
        return {}

    async def coins(self, request: web.Request, params: dict[str, Any]) -> Any:
        assets = dict.fromkeys([QUOTE, *(m.asset for m in self.engine.markets.values())])
        return [payloads.coin(a) for a in assets]

    async def spot_exchange_info(self, request: web.Request, params: dict[str, Any]) -> Any:
        return {"timezone": "UTC", "serverTime": self.server.clock(),
                "symbols": [payloads.spot_symbol(m) for m in self._markets(params, perp=False)]}

    async def contract_exchange_info(self, request: web.Request, params: dict[str, Any]) -> Any:
        return {"timezone": "UTC", "serverTime": self.server.clock(),
                "symbols": [payloads.contract_symbol(self.engine, m) for m in self._markets(params, perp=True)]}

    async def spot_tickers(self, request: web.Request, params: dict[str, Any]) -> Any:
        """One symbol: an object (as recorded); none: a list."""
        now = self.server.clock()
        rows = [payloads.spot_ticker(self.engine, m, now) for m in self._markets(params, perp=False)]
        return rows[0] if _str(params, "symbol") is not None else rows

    async def contract_tickers(self, request: web.Request, params: dict[str, Any]) -> Any:
        now = self.server.clock()
        return [payloads.contract_ticker(self.engine, m, now) for m in self._markets(params, perp=True)]

    async def premium_index(self, request: web.Request, params: dict[str, Any]) -> Any:
        now = self.server.clock()
        return [payloads.premium_index(self.engine, m, now) for m in self._markets(params, perp=True)]

    async def symbol_price(self, request: web.Request, params: dict[str, Any]) -> Any:
        m = self.engine.market(_required(params, "symbol"))
        price_type = _str(params, "priceType") or "INDEX"
        if price_type not in ("INDEX", "MARK"):
            raise Rejection(Reason.BAD_PARAMETER, "Parameter is invalid. priceType")
        return payloads.symbol_price(m, price_type, self.server.clock())

    # ------------------------------------------------------------------ account

    async def spot_account(self, request: web.Request, params: dict[str, Any]) -> Any:
        return payloads.spot_account(self.engine, self.server.clock())

    async def spot_open_orders(self, request: web.Request, params: dict[str, Any]) -> Any:
        self._markets(params, perp=False)  # -1121 for an unknown symbol
        return []  # the sim never trades spot

    async def contract_balance(self, request: web.Request, params: dict[str, Any]) -> Any:
        return payloads.contract_balance(self.engine)

    async def symbol_config(self, request: web.Request, params: dict[str, Any]) -> Any:
        return [payloads.symbol_config(self.engine, m) for m in self._markets(params, perp=True)]

    async def all_positions(self, request: web.Request, params: dict[str, Any]) -> Any:
        return [payloads.position(self.engine, m) for m in self.engine.perp_markets()
                if self.engine.positions[m.symbol].amount]

    async def single_position(self, request: web.Request, params: dict[str, Any]) -> Any:
        m = self.engine.market(_required(params, "symbol"))
        return [payloads.position(self.engine, m)] if self.engine.positions[m.symbol].amount else []

    async def set_leverage(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Cross leverage (`crossLeverage`, what ccxt sends for marginMode cross or none); isolated
        leverage is not simulated. The leverage already in force is accepted."""
        m = self.engine.market(_required(params, "symbol"))
        margin_type = _str(params, "marginType")
        if margin_type not in (None, "CROSSED", "ISOLATED"):
            raise Rejection(Reason.BAD_PARAMETER, "Parameter is invalid. marginType")
        if margin_type == "ISOLATED" or _str(params, "isolatedLongLeverage") or _str(params, "isolatedShortLeverage"):
            raise Rejection(Reason.UNSUPPORTED, "exchange-sim simulates cross leverage only (marginType CROSSED).")
        leverage = _decimal(params, "crossLeverage")
        if leverage is None:
            raise Rejection(Reason.MISSING_PARAMETER, "Parameter cannot be empty. crossLeverage")
        if leverage != leverage.to_integral_value():
            raise Rejection(Reason.UNSUPPORTED, "exchange-sim simulates whole-number leverage only.")
        if int(leverage) != m.leverage:
            self.engine.set_leverage(m.symbol, int(leverage))
            self.server.persist()
        return {"symbol": m.symbol, "marginType": m.margin_type, "crossLeverage": str(m.leverage),
                "isolatedLongLeverage": "0", "isolatedShortLeverage": "0"}

    async def set_margin_type(self, request: web.Request, params: dict[str, Any]) -> Any:
        """marginType CROSSED/ISOLATED per symbol (what ccxt's set_margin_mode and set_position_mode
        send), with separatedType COMBINED (one-way) or SEPARATED (hedge: not simulated)."""
        m = self.engine.market(_required(params, "symbol"))
        margin_type = _required(params, "marginType")
        if margin_type not in ("CROSSED", "ISOLATED"):
            raise Rejection(Reason.BAD_PARAMETER, "Parameter is invalid. marginType")
        separated = _str(params, "separatedType")
        if separated not in (None, "COMBINED", "SEPARATED"):
            raise Rejection(Reason.BAD_PARAMETER, "Parameter is invalid. separatedType")
        if separated == "SEPARATED" and not self.engine.dual_side_position:
            raise Rejection(Reason.UNSUPPORTED, "exchange-sim simulates one-way (COMBINED) positions only.")
        if separated == "COMBINED" and self.engine.dual_side_position:
            raise Rejection(Reason.UNSUPPORTED, "exchange-sim cannot switch this account back to COMBINED.")
        if margin_type != m.margin_type:
            self.engine.set_margin_type(m.symbol, margin_type)
            self.server.persist()
        return {"code": "200", "msg": "success", "requestTime": self.server.clock()}

    async def income(self, request: web.Request, params: dict[str, Any]) -> Any:
        """The contract account's bills, newest first, by incomeType / symbol / time (one page)."""
        kind = _str(params, "incomeType")
        symbol = self._symbol(params)
        start, end = _int(params, "startTime"), _int(params, "endTime")
        rows = [
            row for i, row in payloads.income_rows(self.engine)
            if kind in (None, row["incomeType"]) and symbol in (None, i.symbol)
            and (start is None or i.time >= start) and (end is None or i.time <= end)
        ]
        rows.reverse()
        return {"hasNextPage": False, "nextKey": None, "items": rows[:_limit(params, 100)]}

    # ------------------------------------------------------------------ orders

    def _order_request(self, params: dict[str, Any]) -> OrderRequest:
        symbol = self.engine.market(_required(params, "symbol")).symbol
        side = _required(params, "side")
        if side not in ("BUY", "SELL"):
            raise Rejection(Reason.BAD_SIDE)
        order_type = _required(params, "type")
        if order_type not in ("MARKET", "LIMIT"):
            raise Rejection(Reason.BAD_ORDER_TYPE)
        unsupported = [k for k in _UNSUPPORTED_ORDER_KEYS if _str(params, k) is not None]
        if unsupported:
            raise Rejection(Reason.UNSUPPORTED, f"exchange-sim does not simulate {', '.join(unsupported)} on orders.")
        quantity = _decimal(params, "quantity")
        if quantity is None:
            raise Rejection(Reason.MISSING_PARAMETER, "Parameter cannot be empty. quantity")
        client_id = _str(params, "newClientOrderId")
        if client_id is not None and not _CLIENT_ID_RE.match(client_id):
            raise Rejection(Reason.FORCED, code="-1180")
        tif = _str(params, "timeInForce")
        if tif is not None and tif not in _TIME_IN_FORCE:
            raise Rejection(Reason.BAD_TIME_IN_FORCE)
        price = _decimal(params, "price")
        if order_type == "MARKET" and price is not None:
            raise Rejection(Reason.PRICE_NOT_ALLOWED)
        if order_type == "LIMIT" and price is None:
            raise Rejection(Reason.MISSING_PARAMETER, "Parameter cannot be empty. price")
        position_side = _str(params, "positionSide")
        if position_side not in (None, "LONG", "SHORT"):
            raise Rejection(Reason.BAD_PARAMETER, "Parameter is invalid. positionSide")
        reduce_only = _bool(params, "reduceOnly")
        if self.engine.dual_side_position:
            engine_side = position_side  # hedge mode: the engine refuses it as not simulated
        else:
            # One-way (COMBINED): net on the one position; a closing pair is reduce-only.
            closing = position_side == ("SHORT" if side == "BUY" else "LONG")
            reduce_only = reduce_only or closing
            engine_side = None
        return OrderRequest(
            symbol=symbol, side=side, type=order_type, quantity=quantity, price=price,
            time_in_force=(tif or "GTC") if order_type == "LIMIT" else None, client_order_id=client_id,
            reduce_only=reduce_only, position_side=engine_side,
        )

    async def create_order(self, request: web.Request, params: dict[str, Any]) -> Any:
        order = await self.server.place(request, self._order_request(params))
        return payloads.order_ack(order)

    def _find(self, params: dict[str, Any]) -> Order | None:
        """By origClientOrderId if given (ccxt then sends no orderId), else by orderId; any symbol."""
        client_id, order_id = _str(params, "origClientOrderId"), _str(params, "orderId")
        if client_id is None and order_id is None:
            raise Rejection(Reason.FORCED, "Either orderId or origClientOrderId must be sent.", code="-1140")
        symbol = self._symbol(params)
        for o in reversed(self.engine.orders):
            if symbol is not None and o.symbol != symbol:
                continue
            if (client_id is not None and o.client_order_id == client_id) or (
                    client_id is None and str(o.order_id) == order_id):
                return o
        return None

    async def get_order(self, request: web.Request, params: dict[str, Any]) -> Any:
        found = self._find(params)
        if found is None:
            raise Rejection(Reason.ORDER_NOT_FOUND)
        return payloads.order(found, self._working_type(found))

    async def cancel_order(self, request: web.Request, params: dict[str, Any]) -> Any:
        """A regular order; a conditional one is cancelled on DELETE /capi/v3/algoOrder only (ccxt's
        cancel_order(id, symbol, {"trigger": True})): here it is not found."""
        found = self._find(params)
        if found is None or not found.is_open or payloads.is_stop(found):
            order_id = str(found.order_id) if found is not None else (_str(params, "orderId") or "0")
            return {"orderId": order_id, "status": "FAILED", "errorMsg": "FAILED_ORDER_NOT_FOUND"}
        order = self.engine.cancel_order(found.symbol, found.order_id)
        self.server.persist()
        return {"orderId": str(order.order_id), "status": "CANCELED"}

    def _rows(self, orders: list[Order], params: dict[str, Any], default_limit: int) -> list[dict[str, Any]]:
        start, end = _int(params, "startTime"), _int(params, "endTime")
        rows = [o for o in orders if (start is None or o.time >= start) and (end is None or o.time <= end)]
        rows.sort(key=lambda o: (o.time, o.order_id), reverse=True)
        return [payloads.order(o, self._working_type(o)) for o in rows[:_limit(params, default_limit)]]

    async def open_orders(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Regular orders only: resting stops are listed by openAlgoOrders."""
        orders = [o for o in self.engine.open_orders(self._symbol(params)) if not payloads.is_stop(o)]
        return self._rows(orders, params, 100)

    # ------------------------------------------------------------------ conditional (algo) orders

    def _working_type(self, o: Order) -> str:
        return self._working_types.get((o.order_id, o.time), "CONTRACT_PRICE")

    def _algo_request(self, params: dict[str, Any]) -> OrderRequest:
        """What ccxt sends for create_order(symbol, "market", side, amount, None, {"triggerPrice": p,
        "reduceOnly": True, "clientOrderId": cid}) (or {"stopLossPrice": p}): symbol, side, quantity,
        type STOP_MARKET, positionSide (the closing side), clientAlgoId, triggerPrice, reduceOnly;
        a raw "closePosition": true passes through to the body. Only reduce-only / close-position
        STOP_MARKET is simulated (no STOP limit, no take profit, no entry triggers)."""
        symbol = self.engine.market(_required(params, "symbol")).symbol
        side = _required(params, "side")
        if side not in ("BUY", "SELL"):
            raise Rejection(Reason.BAD_SIDE)
        order_type = _required(params, "type")
        if order_type not in ("STOP_MARKET", "STOP", "TAKE_PROFIT_MARKET", "TAKE_PROFIT"):
            raise Rejection(Reason.BAD_ORDER_TYPE)
        if order_type != "STOP_MARKET":
            raise Rejection(Reason.UNSUPPORTED, f"exchange-sim simulates STOP_MARKET conditional orders only, not {order_type}.")
        unsupported = [k for k in _UNSUPPORTED_ALGO_KEYS if _str(params, k) is not None]
        if unsupported:
            raise Rejection(Reason.UNSUPPORTED,
                            f"exchange-sim does not simulate {', '.join(unsupported)} on conditional orders.")
        trigger = _decimal(params, "triggerPrice")
        if trigger is None:
            raise Rejection(Reason.MISSING_PARAMETER, "Parameter cannot be empty. triggerPrice")
        close_position = _bool(params, "closePosition")
        quantity = _decimal(params, "quantity")
        if quantity is None and not close_position:
            raise Rejection(Reason.MISSING_PARAMETER, "Parameter cannot be empty. quantity")
        client_id = _str(params, "clientAlgoId")
        if client_id is not None and not _CLIENT_ID_RE.match(client_id):
            raise Rejection(Reason.FORCED, code="-1180")
        position_side = _str(params, "positionSide")
        if position_side not in (None, "LONG", "SHORT"):
            raise Rejection(Reason.BAD_PARAMETER, "Parameter is invalid. positionSide")
        for key in ("workingType", "SlWorkingType"):
            if _str(params, key) not in (None, *_WORKING_TYPES):
                raise Rejection(Reason.BAD_PARAMETER, f"Parameter is invalid. {key}")
        reduce_only = _bool(params, "reduceOnly")
        if self.engine.dual_side_position:
            engine_side = position_side
        else:
            reduce_only = reduce_only or position_side == ("SHORT" if side == "BUY" else "LONG")
            engine_side = None
        return OrderRequest(
            symbol=symbol, side=side, type="STOP_MARKET", quantity=Decimal(0) if close_position else quantity,
            stop_price=trigger, client_order_id=client_id, reduce_only=reduce_only, close_position=close_position,
            position_side=engine_side,
        )

    async def create_algo_order(self, request: web.Request, params: dict[str, Any]) -> Any:
        """POST /capi/v3/algoOrder. The reply is the new order's algo row (assumed: WEEX's reply to
        this call is not recorded; ccxt reads algoId / clientAlgoId from it)."""
        order = await self.server.place(request, self._algo_request(params))
        working = _str(params, "workingType") or _str(params, "SlWorkingType") or "CONTRACT_PRICE"
        if working != "CONTRACT_PRICE":
            self._working_types[(order.order_id, order.time)] = working
        return payloads.algo_order(order, working)

    async def cancel_algo_order(self, request: web.Request, params: dict[str, Any]) -> Any:
        """DELETE /capi/v3/algoOrder?orderId=<algoId> (ccxt's cancel_order(id, symbol, {"trigger": True})).
        By id only: ccxt documents clientOrderId as for non-trigger orders only. Unknown or no longer
        resting: the FAILED_ORDER_NOT_FOUND item, which ccxt raises as OrderNotFound."""
        order_id = _str(params, "orderId")
        if order_id is None:
            raise Rejection(Reason.MISSING_PARAMETER, "Parameter cannot be empty. orderId")
        found = next((o for o in self.engine.orders if str(o.order_id) == order_id and payloads.is_stop(o)), None)
        if found is None or not found.is_open:
            return {"orderId": order_id, "status": "FAILED", "errorMsg": "FAILED_ORDER_NOT_FOUND"}
        order = self.engine.cancel_order(found.symbol, found.order_id)
        self.server.persist()
        return {"orderId": str(order.order_id), "status": "CANCELED"}

    async def open_algo_orders(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Resting conditional orders (ccxt's fetch_open_orders(symbol, params={"trigger": True})),
        newest first, by symbol / startTime / endTime / limit."""
        start, end = _int(params, "startTime"), _int(params, "endTime")
        rows = [o for o in self.engine.open_orders(self._symbol(params)) if payloads.is_stop(o)
                and (start is None or o.time >= start) and (end is None or o.time <= end)]
        rows.sort(key=lambda o: (o.time, o.order_id), reverse=True)
        return [payloads.algo_order(o, self._working_type(o)) for o in rows[:_limit(params, 100)]]

    async def order_history(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Finished orders (filled, canceled, expired), newest first."""
        symbol = self._symbol(params)
        orders = [o for o in self.engine.orders if not o.is_open and symbol in (None, o.symbol)]
        return self._rows(orders, params, 100)

    async def user_trades(self, request: web.Request, params: dict[str, Any]) -> Any:
        symbol = self._symbol(params)
        order_id = _str(params, "orderId")
        start, end = _int(params, "startTime"), _int(params, "endTime")
        rows = [
            (f, payloads.trade(o, f)) for o in self.engine.orders
            if symbol in (None, o.symbol) and order_id in (None, str(o.order_id))
            for f in o.fills if (start is None or f.time >= start) and (end is None or f.time <= end)
        ]
        rows.sort(key=lambda row: row[0].trade_id)
        return [r for _, r in rows][-_limit(params, 100):]


__all__ = ["ORDER_PATH", "WeexDialect"]
