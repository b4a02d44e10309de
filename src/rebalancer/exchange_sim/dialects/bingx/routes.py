"""The BingX dialect: the USDT-M perpetual (swap v2/v3) and spot routes ccxt 4.5.90's `bingx` class
calls for the rebalancer (markets, time, balances, positions, premium index, tickers, maintenance
tiers, position mode, leverage, margin type, orders by clientOrderID, fills, income), over the
dialect-neutral engine.

BingX's rules kept here: every parameter travels in the query string, POST and DELETE included;
the create reply echoes the request with the ids and no status; a swap client id is sent as
`clientOrderID` and looked up as `clientOrderId`, unique across the account's orders; the order
lookup takes orderId or clientOrderId, and an orderId that is not a number (ccxt's
`fetch_order(None, ...)` sends `orderId=None`) is a parameter error (80014), not "order not
exist"; a no-op leverage, margin type or position mode change is a success; positions list only
open positions.

Conditional orders (issue 14): TRIGGER_MARKET (ccxt's `triggerPrice`, protective with reduceOnly=true)
and STOP_MARKET (ccxt's `stopLossPrice`, optionally closePosition=true without a quantity) on the
same order route, resting in openOrders, cancelled and queried like any order, filling under the
same order id when the mark crosses. Wallet transfers: POST /openApi/api/asset/v1/transfer and GET
/openApi/api/v3/asset/transferRecord between spot and USDTMPerp.
"""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, Decimal
from typing import Any, ClassVar

from aiohttp import web

from ...engine import Order, OrderRequest
from ...rejections import Reason, Rejection
from ...scenario import QUOTE
from ..base import Dialect, Route
from ..params import ParamReader
from . import auth, codes, payloads
from .payloads import text

SWAP = "/openApi/swap"
ORDER_PATH = f"{SWAP}/v2/trade/order"
_CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_\-.:]{1,40}$")
STOP_TYPES = frozenset({"TRIGGER_MARKET", "STOP_MARKET"})  # the conditional orders simulated
_TIME_IN_FORCE = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "POSTONLY": "GTX"}


_PARAMS = ParamReader(
    missing="Invalid parameters, err: {name} is required",
    bad_number="Invalid parameters, err: {name} is not a number",
    bad_integer="Invalid parameters, err: {name} is not an integer",
    bad_bool="Invalid parameters, err: {name} must be true or false", blank_bool_is_false=True,
)
_str, _required, _decimal, _int, _bool = (_PARAMS.str, _PARAMS.required, _PARAMS.decimal, _PARAMS.int,
                                          _PARAMS.bool)


class BingxDialect(Dialect):
    """BingX over the engine; its handlers return whole BingX bodies (code 0 envelopes)."""

    name: ClassVar[str] = "bingx"
    order_paths = frozenset({ORDER_PATH})
    order_maxima: ClassVar[str] = "none"  # swap contracts publish a minimum quantity only, no maximum

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        self._stop_kinds: dict[tuple[int, int], str] = {}  # see _venue_type

    # A BingX linear swap is traded in base units (ccxt: contractSize 1) whatever the scenario's
    # contract_size, which only scales the lot filters (see payloads).
    def contracts(self, m: Any, base: Decimal) -> Decimal:
        return base

    def base(self, m: Any, contracts: Decimal) -> Decimal:
        return contracts

    # ------------------------------------------------------------------ Dialect interface

    def routes(self) -> list[Route]:
        public = [
            ("GET", f"{SWAP}/v2/server/time", self.server_time),
            ("GET", f"{SWAP}/v2/quote/contracts", self.swap_contracts),
            ("GET", "/openApi/cswap/v1/market/contracts", self.inverse_contracts),
            ("GET", "/openApi/spot/v1/common/symbols", self.spot_symbols),
            ("GET", f"{SWAP}/v2/quote/premiumIndex", self.premium_index),
            ("GET", "/openApi/spot/v1/ticker/24hr", self.spot_tickers),
        ]
        signed = [
            ("GET", "/openApi/wallets/v1/capital/config/getall", self.currencies),
            ("GET", "/openApi/spot/v1/account/balance", self.spot_balance),
            ("GET", f"{SWAP}/v3/user/balance", self.swap_balance),
            ("GET", f"{SWAP}/v2/user/positions", self.positions),
            ("GET", f"{SWAP}/v1/maintMarginRatio", self.maint_margin_ratio),
            ("GET", f"{SWAP}/v1/positionSide/dual", self.position_mode),
            ("POST", f"{SWAP}/v1/positionSide/dual", self.set_position_mode),
            ("GET", f"{SWAP}/v2/trade/leverage", self.leverage),
            ("POST", f"{SWAP}/v2/trade/leverage", self.set_leverage),
            ("GET", f"{SWAP}/v2/trade/marginType", self.margin_type),
            ("POST", f"{SWAP}/v2/trade/marginType", self.set_margin_type),
            ("POST", ORDER_PATH, self.create_order),
            ("GET", ORDER_PATH, self.query_order),
            ("DELETE", ORDER_PATH, self.cancel_order),
            ("GET", f"{SWAP}/v2/trade/openOrders", self.open_orders),
            ("GET", f"{SWAP}/v2/trade/allOrders", self.all_orders),
            ("GET", f"{SWAP}/v2/trade/allFillOrders", self.fill_orders),
            ("GET", f"{SWAP}/v2/user/income", self.income),
            ("POST", "/openApi/api/asset/v1/transfer", self.transfer),
            ("GET", "/openApi/api/v3/asset/transferRecord", self.transfer_records),
        ]
        return [Route(m, p, h) for m, p, h in public] + [Route(m, p, h, signed=True) for m, p, h in signed]

    async def public_params(self, request: web.Request) -> dict[str, Any]:
        return await auth.public_params(request)

    async def authenticate(self, request: web.Request) -> dict[str, Any]:
        a = self.server.scenario.auth
        return await auth.authenticate(request, a.api_key, a.api_secret.encode(), self.server.clock)

    def error_response(self, rejection: Rejection) -> web.Response:
        return codes.error_response(rejection, self.server.clock)

    # ------------------------------------------------------------------ helpers

    def ok(self, data: Any, message: str = "") -> dict[str, Any]:
        return codes.envelope(0, message, data, self.server.clock())

    def _market(self, venue_id: str, *, perp: bool = True) -> Any:
        if not venue_id.endswith(f"-{QUOTE}"):
            raise Rejection(Reason.UNKNOWN_SYMBOL, f"{venue_id} not exist, please verify it")
        return self.engine.market(payloads.engine_symbol(venue_id), perp=perp)

    def _perps(self, params: dict[str, Any]) -> list[Any]:
        symbol = _str(params, "symbol")
        return [self._market(symbol)] if symbol is not None else self.engine.perp_markets()

    # ------------------------------------------------------------------ market data (public)

    async def server_time(self, request: web.Request, params: dict[str, Any]) -> Any:
        return self.ok({"serverTime": self.server.clock()})

    async def swap_contracts(self, request: web.Request, params: dict[str, Any]) -> Any:
        futures = self.server.scenario.futures
        rows = [payloads.swap_contract(m, i, futures.fee_rate, futures.maker_fee_rate)
                for i, m in enumerate(self.engine.perp_markets())]
        symbol = _str(params, "symbol")
        return self.ok([r for r in rows if symbol in (None, r["symbol"])])

    async def inverse_contracts(self, request: web.Request, params: dict[str, Any]) -> Any:
        return self.ok([])  # no coin-margined swaps here; ccxt's load_markets always asks

    async def spot_symbols(self, request: web.Request, params: dict[str, Any]) -> Any:
        symbol = _str(params, "symbol")
        rows = [payloads.spot_symbol(m) for m in self.engine.spot_markets()]
        return self.ok({"symbols": [r for r in rows if symbol in (None, r["symbol"])]})

    async def premium_index(self, request: web.Request, params: dict[str, Any]) -> Any:
        """By symbol one object, without a list of every perpetual (as BingX, and ccxt reads both)."""
        now = self.server.clock()
        symbol = _str(params, "symbol")
        if symbol is not None:
            return self.ok(payloads.premium_index(self.engine, self._market(symbol), now))
        return self.ok([payloads.premium_index(self.engine, m, now) for m in self.engine.perp_markets()])

    async def spot_tickers(self, request: web.Request, params: dict[str, Any]) -> Any:
        now = self.server.clock()
        symbol = _str(params, "symbol")
        markets = [self._market(symbol, perp=False)] if symbol is not None else self.engine.spot_markets()
        rows = [payloads.spot_ticker(self.engine, m, now) for m in markets]
        return {"code": 0, "timestamp": now, "data": rows}  # the spot market-data envelope has no msg

    # ------------------------------------------------------------------ account (signed)

    async def currencies(self, request: web.Request, params: dict[str, Any]) -> Any:
        assets = [QUOTE, *(m.asset for m in self.engine.markets.values())]
        return self.ok([payloads.currency(a) for a in dict.fromkeys(assets)])

    async def spot_balance(self, request: web.Request, params: dict[str, Any]) -> Any:
        return {**self.ok({"balances": payloads.spot_balances(self.engine)}), "debugMsg": ""}  # spot's envelope

    async def swap_balance(self, request: web.Request, params: dict[str, Any]) -> Any:
        return self.ok(payloads.swap_balance(self.engine))

    async def positions(self, request: web.Request, params: dict[str, Any]) -> Any:
        now = self.server.clock()
        return self.ok([payloads.position(self.engine, m, now) for m in self._perps(params)
                        if self.engine.positions[m.symbol].amount])

    async def maint_margin_ratio(self, request: web.Request, params: dict[str, Any]) -> Any:
        return self.ok(payloads.maint_margin_tiers(self._market(_required(params, "symbol"))))

    async def position_mode(self, request: web.Request, params: dict[str, Any]) -> Any:
        return self.ok({"dualSidePosition": "true" if self.engine.dual_side_position else "false"})

    async def set_position_mode(self, request: web.Request, params: dict[str, Any]) -> Any:
        dual = _required(params, "dualSidePosition").lower()
        if dual not in ("true", "false"):
            raise Rejection(Reason.BAD_PARAMETER, "Invalid parameters, err: dualSidePosition must be true or false")
        if (dual == "true") != self.engine.dual_side_position:
            self.engine.set_dual_side(dual == "true")
            self.server.persist()
        return self.ok({"dualSidePosition": dual})

    async def leverage(self, request: web.Request, params: dict[str, Any]) -> Any:
        """The leverage in force and what it allows: maxPosition*Val is the largest position value at that
        leverage (the cap of the last bracket allowing it), available*Val/Vol what is left of it now."""
        m = self._market(_required(params, "symbol"))
        lev = m.leverage
        cap = m.spec.max_notional(lev)
        held = abs(self.engine.positions[m.symbol].amount) * m.mark_price
        left = max(cap - held, Decimal(0))
        vol = (left / m.mark_price).quantize(m.spec.base_step, rounding=ROUND_DOWN) if m.mark_price > 0 else Decimal(0)
        return self.ok({"longLeverage": lev, "shortLeverage": lev, "maxLongLeverage": m.spec.max_leverage,
                        "maxShortLeverage": m.spec.max_leverage, "availableLongVol": text(vol),
                        "availableShortVol": text(vol), "availableLongVal": text(left), "availableShortVal": text(left),
                        "maxPositionLongVal": text(cap), "maxPositionShortVal": text(cap)})

    async def set_leverage(self, request: web.Request, params: dict[str, Any]) -> Any:
        """side BOTH in one-way mode (LONG / SHORT in hedge mode); the leverage in force is a success."""
        m = self._market(_required(params, "symbol"))
        side = _required(params, "side").upper()
        allowed = ("LONG", "SHORT") if self.engine.dual_side_position else ("BOTH",)
        if side not in allowed:
            raise Rejection(Reason.BAD_PARAMETER, f"Invalid parameters, err: side must be {' or '.join(allowed)}")
        value = _decimal(params, "leverage")
        if value is None:
            raise Rejection(Reason.MISSING_PARAMETER, "Invalid parameters, err: leverage is required")
        if value != value.to_integral_value():
            raise Rejection(Reason.BAD_LEVERAGE)
        if int(value) != m.leverage:
            self.engine.set_leverage(m.symbol, int(value))
            self.server.persist()
        return self.ok({"leverage": int(value), "symbol": payloads.market_id(m)})

    async def margin_type(self, request: web.Request, params: dict[str, Any]) -> Any:
        m = self._market(_required(params, "symbol"))
        return self.ok({"marginType": m.margin_type, "symbol": payloads.market_id(m)})

    async def set_margin_type(self, request: web.Request, params: dict[str, Any]) -> Any:
        m = self._market(_required(params, "symbol"))
        wanted = _required(params, "marginType").upper()
        if wanted not in ("CROSSED", "ISOLATED"):
            raise Rejection(Reason.BAD_PARAMETER, "Invalid parameters, err: marginType must be CROSSED or ISOLATED")
        if wanted != m.margin_type:
            self.engine.set_margin_type(m.symbol, wanted)
            self.server.persist()
        return self.ok({})

    # ------------------------------------------------------------------ orders (signed)

    def _client_id(self, params: dict[str, Any]) -> str | None:
        client_id = _str(params, "clientOrderID") or _str(params, "clientOrderId")
        if client_id is not None:
            if not _CLIENT_ID_RE.match(client_id):
                raise Rejection(Reason.BAD_PARAMETER, "Invalid parameters, err: clientOrderID invalid")
            if any(o.client_order_id == client_id for o in self.engine.orders):
                raise Rejection(Reason.DUPLICATE_CLIENT_ID)
        return client_id

    def _position_side(self, params: dict[str, Any]) -> str | None:
        position_side = (_str(params, "positionSide") or "BOTH").upper()
        if position_side not in ("BOTH", "LONG", "SHORT"):
            raise Rejection(Reason.BAD_PARAMETER, "Invalid parameters, err: positionSide invalid")
        return None if position_side == "BOTH" else position_side

    def _order_request(self, params: dict[str, Any]) -> OrderRequest:
        m = self._market(_required(params, "symbol"))
        side = _required(params, "side").upper()
        if side not in ("BUY", "SELL"):
            raise Rejection(Reason.BAD_SIDE)
        order_type = _required(params, "type").upper()
        if order_type in STOP_TYPES:
            return self._stop_request(params, m, side, order_type)
        if order_type not in ("MARKET", "LIMIT"):
            if order_type in ("STOP", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRIGGER_LIMIT", "TRAILING_STOP_MARKET"):
                raise Rejection(Reason.UNSUPPORTED, f"exchange-sim does not simulate {order_type} orders")
            raise Rejection(Reason.BAD_ORDER_TYPE)
        unsupported = [k for k in ("stopPrice", "stopLoss", "takeProfit", "quoteOrderQty", "priceRate", "closePosition")
                       if _str(params, k) not in (None, "0", "false")]
        if unsupported:
            raise Rejection(Reason.UNSUPPORTED, f"exchange-sim does not simulate {', '.join(unsupported)} on orders")
        position_side = self._position_side(params)
        quantity = _decimal(params, "quantity")
        if quantity is None:
            raise Rejection(Reason.MISSING_PARAMETER, "Invalid parameters, err: quantity is required")
        client_id = self._client_id(params)
        tif_text = (_str(params, "timeInForce") or ("IOC" if order_type == "MARKET" else "GTC")).upper()
        time_in_force = _TIME_IN_FORCE.get(tif_text)
        if time_in_force is None:
            raise Rejection(Reason.BAD_TIME_IN_FORCE)
        price = _decimal(params, "price") if order_type == "LIMIT" else None  # a market price is ignored
        if order_type == "LIMIT" and price is None:
            raise Rejection(Reason.MISSING_PARAMETER, "Invalid parameters, err: price is required for LIMIT orders")
        return OrderRequest(
            symbol=m.symbol, side=side, type=order_type, quantity=quantity, price=price,
            time_in_force=time_in_force if order_type == "LIMIT" else None, client_order_id=client_id,
            reduce_only=_bool(params, "reduceOnly"), position_side=position_side,
        )

    def _stop_request(self, params: dict[str, Any], m: Any, side: str, order_type: str) -> OrderRequest:
        """A conditional market order: TRIGGER_MARKET (ccxt's `triggerPrice`; reduceOnly=true makes it a
        protective stop) or STOP_MARKET (ccxt's `stopLossPrice`: a stop loss, always closing; with
        closePosition=true and no quantity it closes the whole position). Both trigger on the mark
        (workingType MARK_PRICE, BingX's default) and fill as market orders."""
        unsupported = [k for k in ("stopLoss", "takeProfit", "quoteOrderQty", "priceRate", "activationPrice")
                       if _str(params, k) not in (None, "0", "false")]
        if unsupported:
            raise Rejection(Reason.UNSUPPORTED, f"exchange-sim does not simulate {', '.join(unsupported)} on orders")
        working_type = (_str(params, "workingType") or "MARK_PRICE").upper()
        if working_type != "MARK_PRICE":
            raise Rejection(Reason.UNSUPPORTED, f"exchange-sim triggers stops on MARK_PRICE only, not {working_type}")
        stop_price = _decimal(params, "stopPrice")
        if stop_price is None:
            raise Rejection(Reason.MISSING_PARAMETER, "Invalid parameters, err: stopPrice is required")
        close_position = _bool(params, "closePosition")
        if close_position and order_type != "STOP_MARKET":
            raise Rejection(Reason.BAD_PARAMETER,
                            "Invalid parameters, err: closePosition only supports STOP_MARKET and TAKE_PROFIT_MARKET")
        quantity = _decimal(params, "quantity")
        if quantity is None and not close_position:
            raise Rejection(Reason.MISSING_PARAMETER, "Invalid parameters, err: quantity is required")
        position_side = self._position_side(params)
        client_id = self._client_id(params)
        return OrderRequest(
            symbol=m.symbol, side=side, type="STOP_MARKET", quantity=Decimal(0) if close_position else quantity,
            client_order_id=client_id, position_side=position_side, stop_price=stop_price,
            # a stop loss only ever closes; a trigger order reduces only when asked to
            reduce_only=order_type == "STOP_MARKET" or _bool(params, "reduceOnly"), close_position=close_position,
        )

    # The BingX type each conditional order was placed as (the engine keeps one STOP_MARKET kind),
    # by (order id, creation time) so a reset's reused ids never inherit it; unknown (after a
    # restart): STOP_MARKET for close-position stops, else TRIGGER_MARKET.
    def _venue_type(self, order: Order) -> str | None:
        if order.type != "STOP_MARKET":
            return None
        return self._stop_kinds.get((order.order_id, order.time), "STOP_MARKET" if order.close_position else "TRIGGER_MARKET")

    async def create_order(self, request: web.Request, params: dict[str, Any]) -> Any:
        order_request = self._order_request(params)
        order = await self.server.place(request, order_request)
        venue_type = None
        if order.type == "STOP_MARKET":
            venue_type = _required(params, "type").upper()
            self._stop_kinds[(order.order_id, order.time)] = venue_type
        reduce_only = _bool(params, "reduceOnly") if order.type == "STOP_MARKET" else None
        return self.ok({"order": payloads.created_order(order, self.engine.markets[order.symbol], venue_type,
                                                        reduce_only)})

    def _find(self, params: dict[str, Any], symbol: str) -> Order | None:
        order_text = _str(params, "orderId")
        client_id = _str(params, "clientOrderId") or _str(params, "clientOrderID")
        if order_text is not None and not order_text.isdigit():
            # ccxt's fetch_order(None, symbol, {"clientOrderId": ...}) sends orderId=None: BingX's
            # parameter binding refuses it before any lookup.
            raise Rejection(Reason.BAD_PARAMETER,
                            f"Invalid parameters, err: orderId: strconv.ParseInt: parsing {order_text!r}: invalid syntax")
        if order_text is None and client_id is None:
            raise Rejection(Reason.MISSING_PARAMETER, "Invalid parameters, err: orderId or clientOrderId is required")
        for order in reversed(self.engine.orders):
            if order.symbol != symbol:
                continue
            if (order_text is not None and str(order.order_id) == order_text) or (
                    order_text is None and order.client_order_id == client_id):
                return order
        return None

    def _order_json(self, order: Order) -> dict[str, Any]:
        m = self.engine.markets[order.symbol]
        return payloads.order_json(order, m, m.leverage, self._venue_type(order))

    async def query_order(self, request: web.Request, params: dict[str, Any]) -> Any:
        m = self._market(_required(params, "symbol"))
        found = self._find(params, m.symbol)
        if found is None:
            raise Rejection(Reason.ORDER_NOT_FOUND)
        return self.ok({"order": self._order_json(found)})

    async def cancel_order(self, request: web.Request, params: dict[str, Any]) -> Any:
        m = self._market(_required(params, "symbol"))
        found = self._find(params, m.symbol)
        if found is None or not found.is_open:
            raise Rejection(Reason.CANCEL_UNKNOWN_ORDER)
        order = self.engine.cancel_order(m.symbol, found.order_id)
        self.server.persist()
        return self.ok({"order": self._order_json(order)})

    async def open_orders(self, request: web.Request, params: dict[str, Any]) -> Any:
        symbols = {m.symbol for m in self._perps(params)}
        kind = (_str(params, "type") or "").upper()  # BingX's optional order type filter
        rows = [o for o in self.engine.orders if o.is_open and o.symbol in symbols
                and kind in ("", o.type if o.type != "STOP_MARKET" else self._venue_type(o))]
        rows.sort(key=lambda o: (o.time, o.order_id), reverse=True)
        return self.ok({"orders": [self._order_json(o) for o in rows]})

    async def all_orders(self, request: web.Request, params: dict[str, Any]) -> Any:
        """The symbol's orders, open and finished, newest first; startTime/endTime/limit filter."""
        m = self._market(_required(params, "symbol"))
        start, end = _int(params, "startTime"), _int(params, "endTime")
        limit = min(max(_int(params, "limit", 500) or 500, 1), 1000)
        rows = [o for o in self.engine.orders if o.symbol == m.symbol
                and (start is None or o.time >= start) and (end is None or o.time <= end)]
        rows.sort(key=lambda o: (o.time, o.order_id), reverse=True)
        return self.ok({"orders": [self._order_json(o) for o in rows[:limit]]})

    # ------------------------------------------------------------------ fills and income (signed)

    async def fill_orders(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Fills of the symbol between startTs and endTs (both required, as BingX wants), oldest first;
        tradingUnit CONT (base units here, as ccxt sends) or COIN, the same on a linear swap."""
        m = self._market(_required(params, "symbol"))
        start, end = _int(params, "startTs"), _int(params, "endTs")
        if start is None or end is None:
            raise Rejection(Reason.MISSING_PARAMETER, "Invalid parameters, err: startTs and endTs are required")
        unit = (_str(params, "tradingUnit") or "CONT").upper()
        if unit not in ("CONT", "COIN"):
            raise Rejection(Reason.BAD_PARAMETER, "Invalid parameters, err: tradingUnit must be COIN or CONT")
        order_text = _str(params, "orderId")
        rows = [
            payloads.fill_order(o, f, m) for o in self.engine.orders if o.symbol == m.symbol
            and (order_text is None or str(o.order_id) == order_text)
            for f in o.fills if start <= f.time <= end
        ]
        return self.ok({"fill_orders": rows})

    async def income(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Ledger rows, newest first, by incomeType (FUNDING_FEE, TRADING_FEE, REALIZED_PNL), symbol, time."""
        symbol = _str(params, "symbol")
        engine_symbol = self._market(symbol).symbol if symbol is not None else None
        kind = _str(params, "incomeType")
        start, end = _int(params, "startTime"), _int(params, "endTime")
        limit = min(max(_int(params, "limit", 100) or 100, 1), 1000)
        wanted = {"TRADING_FEE": "COMMISSION"}.get(kind or "", kind)
        rows = [
            i for i in self.engine.income
            if (wanted is None or i.income_type == wanted) and engine_symbol in (None, i.symbol)
            and (start is None or i.time >= start) and (end is None or i.time <= end)
        ]
        rows.sort(key=lambda i: (i.time, i.tran_id), reverse=True)
        return self.ok([payloads.income_row(i, self.engine.markets.get(i.symbol)) for i in rows[:limit]])

    # ------------------------------------------------------------------ wallet transfers (signed)

    def _wallet(self, params: dict[str, Any], name: str) -> str:
        account = _required(params, name)
        wallet = payloads.WALLETS.get(account)
        if wallet is None:
            if account in ("fund", "stdFutures", "coinMPerp"):
                raise Rejection(Reason.UNSUPPORTED,
                                f"exchange-sim transfers between spot and USDTMPerp only, not {account}")
            raise Rejection(Reason.BAD_PARAMETER, "illegal transferType")
        return wallet

    async def transfer(self, request: web.Request, params: dict[str, Any]) -> Any:
        """POST /openApi/api/asset/v1/transfer (ccxt's transfer: fromAccount/toAccount ids of
        options.accountsByType, asset, amount): spot <-> USDTMPerp over the engine's wallets."""
        source, target = self._wallet(params, "fromAccount"), self._wallet(params, "toAccount")
        if source == target:
            raise Rejection(Reason.BAD_PARAMETER, "illegal transferType")
        asset = _required(params, "asset").upper()
        amount = _decimal(params, "amount")
        if amount is None:
            raise Rejection(Reason.MISSING_PARAMETER, "Invalid parameters, err: amount is required")
        done = self.engine.transfer(asset, amount, source, target)
        self.server.persist()
        # the reply as ccxt's own sample of it: code, timestamp, data {tranId, transferId}
        return {"code": 0, "timestamp": self.server.clock(),
                "data": {"tranId": str(done.tran_id), "transferId": payloads.transfer_id(done)}}

    async def transfer_records(self, request: web.Request, params: dict[str, Any]) -> Any:
        """GET /openApi/api/v3/asset/transferRecord (ccxt's fetch_transfers): by transferId, or by
        fromAccount + toAccount; startTime/endTime, pageSize (default 10, max 100), newest first;
        {total, rows} without an envelope."""
        transfer_id = _str(params, "transferId")
        pair = None
        if transfer_id is None:
            pair = (self._wallet(params, "fromAccount"), self._wallet(params, "toAccount"))
        start, end = _int(params, "startTime"), _int(params, "endTime")
        size = min(max(_int(params, "pageSize", 10) or 10, 1), 100)
        rows = [x for x in self.engine.transfers
                if (transfer_id is None or payloads.transfer_id(x) == transfer_id)
                and (pair is None or (x.source, x.target) == pair)
                and (start is None or x.time >= start) and (end is None or x.time <= end)]
        rows.sort(key=lambda x: (x.time, x.tran_id), reverse=True)
        return {"total": len(rows), "rows": [payloads.transfer_record(x) for x in rows[:size]]}


__all__ = ["BingxDialect", "ORDER_PATH"]
