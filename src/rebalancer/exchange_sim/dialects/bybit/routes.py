"""The Bybit v5 dialect: the unified-trading-account (UTA) routes ccxt 4.5.90's `bybit` class calls for
the rebalancer (markets, wallet, positions, tickers, risk limits, leverage, margin mode, orders by
orderLinkId, executions, transaction log), over the dialect-neutral engine.

Bybit's rules kept here: the create reply carries only orderId and orderLinkId; an orderLinkId is
unique across every order of the account, open or not (110072); /v5/order/realtime lists open
orders, and any recent order when asked by orderId/orderLinkId; /v5/order/history lists finished
orders; setting the leverage already in force answers 110043.

Protective stops: a linear conditional order (triggerPrice + triggerDirection on /v5/order/create,
reduceOnly or closeOnTrigger) and a position's Full-mode stop loss (/v5/position/trading-stop) are
engine STOP_MARKET orders, Untriggered -> Filled (or Deactivated) under one orderId; orderFilter
StopOrder / Order splits realtime and history. Transfers: FUND <-> UNIFIED (/v5/asset/transfer/inter-transfer).
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
from .payloads import FINAL_STATUSES, ORDER_STATUS

ORDER_CREATE_PATH = "/v5/order/create"
RECENT_ORDERS = 500  # /v5/order/realtime answers by id for the account's latest 500 orders
_LINK_ID_RE = re.compile(r"^[A-Za-z0-9_\-.:]{1,36}$")
_TIME_IN_FORCE = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "POSTONLY": "GTX"}


_PARAMS = ParamReader(
    missing="params error: {name} is required",
    bad_number="params error: {name} invalid",
    bad_integer="params error: {name} invalid",
    bad_bool="params error: {name} invalid",
)
_str, _required, _decimal, _int, _bool = (_PARAMS.str, _PARAMS.required, _PARAMS.decimal, _PARAMS.int,
                                          _PARAMS.bool)


def _status(order: Order) -> str:
    return payloads.stop_status(order) if payloads.is_stop(order) else ORDER_STATUS.get(order.status, order.status)


# A UTA 2.0 account has two wallets a transfer moves USDT between: FUND (the funding account: the
# engine's spot USDT) and UNIFIED (the trading account: the engine's futures wallet).
TRANSFER_ACCOUNTS = {"FUND": "spot", "UNIFIED": "futures"}
KNOWN_ACCOUNT_TYPES = frozenset({"UNIFIED", "CONTRACT", "SPOT", "OPTION", "INVESTMENT", "FUND"})


class BybitDialect(Dialect):
    """Bybit v5 over the engine; its handlers return whole Bybit bodies (retCode 0 envelopes)."""

    name: ClassVar[str] = "bybit"
    order_paths = frozenset({ORDER_CREATE_PATH})

    # Bybit's linear contract is one unit of the base coin: its quantities are base units whatever
    # the scenario's contract_size (which only scales the lot filters, see payloads.base_units).
    def contracts(self, m: Any, base: Decimal) -> Decimal:
        return base

    def base(self, m: Any, contracts: Decimal) -> Decimal:
        return contracts

    # ------------------------------------------------------------------ Dialect interface

    def routes(self) -> list[Route]:
        public = [
            ("GET", "/v5/market/time", self.market_time),
            ("GET", "/v5/market/instruments-info", self.instruments_info),
            ("GET", "/v5/market/tickers", self.tickers),
            ("GET", "/v5/market/risk-limit", self.risk_limit),
        ]
        signed = [
            ("GET", "/v5/asset/coin/query-info", self.coin_query_info),
            ("GET", "/v5/user/query-api", self.query_api),
            ("GET", "/v5/account/info", self.account_info),
            ("GET", "/v5/account/wallet-balance", self.wallet_balance),
            ("GET", "/v5/position/list", self.position_list),
            ("POST", "/v5/position/set-leverage", self.set_leverage),
            ("POST", "/v5/account/set-margin-mode", self.set_margin_mode),
            ("POST", ORDER_CREATE_PATH, self.create_order),
            ("POST", "/v5/order/cancel", self.cancel_order),
            ("GET", "/v5/order/realtime", self.order_realtime),
            ("GET", "/v5/order/history", self.order_history),
            ("GET", "/v5/execution/list", self.execution_list),
            ("GET", "/v5/account/transaction-log", self.transaction_log),
            ("POST", "/v5/asset/transfer/inter-transfer", self.inter_transfer),
            ("POST", "/v5/position/trading-stop", self.trading_stop),
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

    def ok(self, result: Any, message: str = "OK") -> dict[str, Any]:
        return codes.envelope(0, message, result, self.server.clock())

    @staticmethod
    def _category(params: dict[str, Any], allowed: tuple[str, ...] = ("linear", "spot")) -> str:
        category = _required(params, "category")
        if category not in allowed:
            raise Rejection(Reason.BAD_PARAMETER, f"params error: category only support {', '.join(allowed)}")
        return category

    def _linear_symbols(self, params: dict[str, Any], *, need_filter: bool = True) -> list[str]:
        """Symbols a linear query names: `symbol`, else `baseCoin`, else `settleCoin` (USDT: all);
        Bybit wants one of them on linear list endpoints (10001 without)."""
        symbol = _str(params, "symbol")
        if symbol is not None:
            return [self.engine.market(symbol).symbol]
        base_coin, settle = _str(params, "baseCoin"), _str(params, "settleCoin")
        if base_coin is not None:
            return [m.symbol for m in self.engine.perp_markets() if m.asset == base_coin]
        if settle is None and need_filter:
            raise Rejection(Reason.MISSING_PARAMETER, "params error: symbol or settleCoin is required")
        if settle not in (None, QUOTE):
            return []
        return [m.symbol for m in self.engine.perp_markets()]

    # ------------------------------------------------------------------ market data (public)

    async def market_time(self, request: web.Request, params: dict[str, Any]) -> Any:
        now = self.server.clock()
        return self.ok({"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)})

    async def instruments_info(self, request: web.Request, params: dict[str, Any]) -> Any:
        category = self._category(params)
        symbol = _str(params, "symbol")
        status = _str(params, "status")
        if category == "spot":
            markets = self.engine.spot_markets()
            rows = [payloads.spot_instrument(m) for m in markets if symbol in (None, m.symbol)]
        else:
            markets = self.engine.perp_markets()
            rows = [payloads.linear_instrument(m) for m in markets if symbol in (None, m.symbol)]
        if status not in (None, "Trading"):
            rows = []  # nothing is pre-launch, settling or delivering here
        return self.ok({"category": category, "list": rows, "nextPageCursor": ""})

    async def tickers(self, request: web.Request, params: dict[str, Any]) -> Any:
        category = self._category(params)
        symbol = _str(params, "symbol")
        perp = category == "linear"
        if symbol is not None:
            markets = [self.engine.market(symbol, perp=perp)]
        else:
            markets = self.engine.perp_markets() if perp else self.engine.spot_markets()
        build = payloads.linear_ticker if perp else payloads.spot_ticker
        return self.ok({"category": category, "list": [build(self.engine, m) for m in markets]})

    async def risk_limit(self, request: web.Request, params: dict[str, Any]) -> Any:
        self._category(params, ("linear",))
        symbol = _str(params, "symbol")
        markets = [self.engine.market(symbol)] if symbol is not None else self.engine.perp_markets()
        rows = [row for m in markets for row in payloads.risk_limits(m)]
        return self.ok({"category": "linear", "list": rows, "nextPageCursor": ""})

    # ------------------------------------------------------------------ account (signed)

    async def coin_query_info(self, request: web.Request, params: dict[str, Any]) -> Any:
        coin = _str(params, "coin")
        assets = [QUOTE, *(m.asset for m in self.engine.markets.values())]
        return self.ok({"rows": [payloads.coin_info(a) for a in dict.fromkeys(assets) if coin in (None, a)]})

    async def query_api(self, request: web.Request, params: dict[str, Any]) -> Any:
        """The key's own record; ccxt's is_unified_enabled reads `uta` (1: a unified account)."""
        return self.ok({
            "id": payloads.API_KEY_ID, "note": "exchange-sim", "apiKey": self.server.scenario.auth.api_key,
            "readOnly": 0, "secret": "",
            "permissions": {"ContractTrade": ["Order", "Position"], "Spot": ["SpotTrade"], "Wallet": ["AccountTransfer"],
                            "Options": [], "Derivatives": [], "CopyTrading": [], "BlockTrade": [], "Exchange": [],
                            "NFT": []},
            "ips": ["*"], "type": 1, "deadlineDay": 90, "expiredAt": "", "createdAt": "", "unified": 0, "uta": 1,
            "userID": payloads.ACCOUNT_UID, "inviterID": 0, "vipLevel": "No VIP", "mktMakerLevel": "0",
            "affiliateID": 0, "rsaPublicKey": "", "isMaster": True,
        })

    async def account_info(self, request: web.Request, params: dict[str, Any]) -> Any:
        """UTA 2.0 (unifiedMarginStatus 5), cross margin account-wide (REGULAR_MARGIN)."""
        return self.ok({
            "marginMode": "REGULAR_MARGIN", "updatedTime": str(self.engine.wallet_update_time),
            "unifiedMarginStatus": 5, "dcpStatus": "OFF", "timeWindow": 10, "smpGroup": 0,
            "isMasterTrader": False, "spotHedgingStatus": "OFF",
        })

    async def wallet_balance(self, request: web.Request, params: dict[str, Any]) -> Any:
        account_type = _required(params, "accountType")
        if account_type != "UNIFIED":
            raise Rejection(Reason.BAD_PARAMETER, "accountType only support UNIFIED")
        result = payloads.wallet_balance(self.engine, self.server.clock())
        coins = _str(params, "coin")
        if coins is not None:
            wanted = set(coins.split(","))
            for account in result["list"]:
                account["coin"] = [c for c in account["coin"] if c["coin"] in wanted]
        return self.ok(result)

    async def position_list(self, request: web.Request, params: dict[str, Any]) -> Any:
        """By symbol: that row, flat or not; by settleCoin / baseCoin: the open positions only."""
        self._category(params, ("linear",))
        by_symbol = _str(params, "symbol") is not None
        symbols = self._linear_symbols(params)
        now = self.server.clock()
        rows = [
            payloads.position(self.engine, s, now) for s in symbols
            if by_symbol or self.engine.positions[s].amount
        ]
        return self.ok({"list": rows, "nextPageCursor": "", "category": "linear"})

    async def set_leverage(self, request: web.Request, params: dict[str, Any]) -> Any:
        self._category(params, ("linear",))
        symbol = _required(params, "symbol")
        buy, sell = _decimal(params, "buyLeverage"), _decimal(params, "sellLeverage")
        if buy is None or sell is None:
            raise Rejection(Reason.MISSING_PARAMETER, "params error: buyLeverage and sellLeverage are required")
        if buy != sell:
            raise Rejection(Reason.BAD_PARAMETER, "params error: buy leverage must equal sell leverage in one-way mode")
        if buy != buy.to_integral_value():
            raise Rejection(Reason.UNSUPPORTED, "exchange-sim simulates whole-number leverage only")
        market = self.engine.market(symbol)
        if int(buy) == market.leverage:
            raise Rejection(Reason.LEVERAGE_UNCHANGED)
        self.engine.set_leverage(market.symbol, int(buy))
        self.server.persist()
        return self.ok({})

    async def set_margin_mode(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Account-wide on a unified account. REGULAR_MARGIN (cross) is what every position here is;
        ISOLATED_MARGIN and PORTFOLIO_MARGIN are not simulated."""
        mode = _required(params, "setMarginMode")
        if mode not in ("REGULAR_MARGIN", "ISOLATED_MARGIN", "PORTFOLIO_MARGIN"):
            raise Rejection(Reason.BAD_PARAMETER, "params error: setMarginMode invalid")
        if mode != "REGULAR_MARGIN":
            raise Rejection(Reason.UNSUPPORTED, f"exchange-sim simulates REGULAR_MARGIN (cross) only, not {mode}")
        for m in self.engine.perp_markets():
            if m.margin_type != "CROSSED":
                self.engine.set_margin_type(m.symbol, "CROSSED")
        self.server.persist()
        return self.ok({"reasons": []}, "Request accepted")

    # ------------------------------------------------------------------ orders (signed)

    def _order_request(self, params: dict[str, Any]) -> OrderRequest:
        self._category_for_orders(params)
        symbol = self.engine.market(_required(params, "symbol")).symbol
        side = {"Buy": "BUY", "Sell": "SELL"}.get(_required(params, "side"))
        if side is None:
            raise Rejection(Reason.BAD_SIDE)
        order_type = {"Market": "MARKET", "Limit": "LIMIT"}.get(_required(params, "orderType"))
        if order_type is None:
            raise Rejection(Reason.BAD_ORDER_TYPE)
        unsupported = [k for k in ("takeProfit", "stopLoss", "trailingStop", "isLeverage", "tpslMode")
                       if _str(params, k) not in (None, "0")]
        if unsupported:
            raise Rejection(Reason.UNSUPPORTED, f"exchange-sim does not simulate {', '.join(unsupported)} on orders")
        position_idx = _int(params, "positionIdx", 0)
        if position_idx not in (0, 1, 2):
            raise Rejection(Reason.BAD_PARAMETER, "params error: positionIdx invalid")
        quantity = _decimal(params, "qty")
        if quantity is None:
            raise Rejection(Reason.MISSING_PARAMETER, "params error: qty is required")
        link_id = _str(params, "orderLinkId")
        if link_id is not None:
            if not _LINK_ID_RE.match(link_id):
                raise Rejection(Reason.BAD_PARAMETER, "params error: orderLinkId invalid")
            # Bybit keeps an orderLinkId unique across the account's orders, finished ones included.
            if any(o.client_order_id == link_id for o in self.engine.orders):
                raise Rejection(Reason.DUPLICATE_CLIENT_ID)
        tif_text = (_str(params, "timeInForce") or ("IOC" if order_type == "MARKET" else "GTC")).upper()
        time_in_force = _TIME_IN_FORCE.get(tif_text)
        if time_in_force is None:
            raise Rejection(Reason.BAD_TIME_IN_FORCE)
        trigger = _decimal(params, "triggerPrice")
        if trigger is not None and trigger != 0:
            return self._stop_request(params, symbol, side, order_type, quantity, link_id, position_idx, trigger)
        price = _decimal(params, "price") if order_type == "LIMIT" else None  # Bybit ignores a market price
        if order_type == "LIMIT" and price is None:
            raise Rejection(Reason.MISSING_PARAMETER, "params error: price is required for Limit orders")
        return OrderRequest(
            symbol=symbol, side=side, type=order_type, quantity=quantity, price=price,
            time_in_force=time_in_force if order_type == "LIMIT" else None, client_order_id=link_id,
            reduce_only=_bool(params, "reduceOnly"),
            position_side={0: None, 1: "LONG", 2: "SHORT"}[position_idx or 0],
        )

    def _stop_request(self, params: dict[str, Any], symbol: str, side: str, order_type: str, quantity: Decimal,
                      link_id: str | None, position_idx: int, trigger: Decimal) -> OrderRequest:
        """A linear conditional order (triggerPrice + triggerDirection, as ccxt sends it) as an engine
        STOP_MARKET. Bybit's checks first: triggerDirection 1 (rises to) needs triggerPrice above the
        current price (110092 otherwise), 2 (falls to) below it (110093). The sim then simulates only
        protective stops: Market, reduceOnly (or closeOnTrigger), a Buy rising / a Sell falling."""
        direction = _int(params, "triggerDirection")
        if direction is None:
            raise Rejection(Reason.MISSING_PARAMETER, "params error: triggerDirection is required for conditional orders")
        if direction not in (1, 2):
            raise Rejection(Reason.BAD_PARAMETER, "params error: triggerDirection invalid")
        trigger_by = _str(params, "triggerBy") or "LastPrice"
        if trigger_by not in ("LastPrice", "MarkPrice", "IndexPrice"):
            raise Rejection(Reason.BAD_PARAMETER, "params error: triggerBy invalid")
        if trigger_by == "IndexPrice":
            raise Rejection(Reason.UNSUPPORTED, "exchange-sim triggers on the mark (= its last price), not on the index")
        if trigger <= 0:
            raise Rejection(Reason.BAD_PARAMETER, "params error: triggerPrice invalid")
        current = self.engine.markets[symbol].mark_price  # the sim's last price is its mark
        if direction == 1 and trigger <= current:
            raise Rejection(Reason.STOP_WOULD_TRIGGER, code="110092",
                            detail=f"expect Rising, but trigger_price[{payloads.text(trigger)}] <= current[{payloads.text(current)}]")
        if direction == 2 and trigger >= current:
            raise Rejection(Reason.STOP_WOULD_TRIGGER, code="110093",
                            detail=f"expect Falling, but trigger_price[{payloads.text(trigger)}] >= current[{payloads.text(current)}]")
        if order_type != "MARKET":
            raise Rejection(Reason.UNSUPPORTED, "exchange-sim simulates conditional Market orders only")
        if (side == "BUY") != (direction == 1):
            raise Rejection(Reason.UNSUPPORTED, "exchange-sim simulates protective stops only: a Buy rising (1) or a Sell falling (2)")
        close_on_trigger = _bool(params, "closeOnTrigger")
        if not (_bool(params, "reduceOnly") or close_on_trigger):
            raise Rejection(Reason.UNSUPPORTED, "exchange-sim simulates reduceOnly (or closeOnTrigger) conditional orders only")
        return OrderRequest(
            symbol=symbol, side=side, type="STOP_MARKET", quantity=quantity, stop_price=trigger,
            client_order_id=link_id, reduce_only=True,
            position_side={0: None, 1: "LONG", 2: "SHORT"}[position_idx or 0],
        )

    def _stop_extra(self, order: Order) -> dict[str, Any] | None:
        """What Bybit shows of a conditional order beyond the engine's record (triggerBy, closeOnTrigger);
        kept in memory only (after a restart: Bybit's defaults, LastPrice / false)."""
        return getattr(self, "_stops", {}).get((order.order_id, order.time))

    async def trading_stop(self, request: web.Request, params: dict[str, Any]) -> Any:
        """POST /v5/position/trading-stop, tpslMode Full: the position's stop loss, a close-position
        engine stop (one per position: a new one replaces it, stopLoss "0" removes it). The reply is
        an empty result, as Bybit's; the order shows in /v5/order/realtime as stopOrderType StopLoss,
        qty 0, no orderLinkId. Take profit, trailing stops and Partial mode are not simulated."""
        self._category(params, ("linear",))
        symbol = self.engine.market(_required(params, "symbol")).symbol
        mode = _str(params, "tpslMode") or "Full"
        if mode not in ("Full", "Partial"):
            raise Rejection(Reason.BAD_PARAMETER, "params error: tpslMode invalid")
        unsupported = [k for k in ("takeProfit", "trailingStop") if _str(params, k) not in (None, "0", "")]
        if mode != "Full" or unsupported or (_str(params, "slOrderType") or "Market") != "Market":
            raise Rejection(Reason.UNSUPPORTED, "exchange-sim simulates a Full-mode Market stopLoss only on trading-stop")
        if _int(params, "positionIdx", 0) not in (0, None):
            raise Rejection(Reason.POSITION_SIDE_MISMATCH)
        trigger_by = _str(params, "slTriggerBy") or "LastPrice"
        if trigger_by not in ("LastPrice", "MarkPrice", "IndexPrice"):
            raise Rejection(Reason.BAD_PARAMETER, "params error: slTriggerBy invalid")
        if trigger_by == "IndexPrice":
            raise Rejection(Reason.UNSUPPORTED, "exchange-sim triggers on the mark (= its last price), not on the index")
        stop_loss = _decimal(params, "stopLoss")
        amount = self.engine.positions[symbol].amount
        if amount == 0:
            raise Rejection(Reason.BAD_PARAMETER, "can not set tp/sl/ts for zero position")
        current = [o for o in self.engine.open_orders(symbol) if payloads.is_stop(o) and o.close_position]
        if stop_loss is None:
            return self.ok({})
        side = "BUY" if amount < 0 else "SELL"
        mark = self.engine.markets[symbol].mark_price
        if stop_loss != 0 and ((side == "BUY" and stop_loss <= mark) or (side == "SELL" and stop_loss >= mark)):
            position_side = "Sell" if amount < 0 else "Buy"
            relation = "greater" if amount < 0 else "lower"
            raise Rejection(Reason.BAD_PARAMETER, f"StopLoss:{payloads.text(stop_loss)} set for {position_side} position "
                                                  f"should {relation} base_price:{payloads.text(mark)}??{trigger_by}")
        for order in current:
            self.engine.cancel_order(symbol, order.order_id)
        if stop_loss != 0:
            order = await self.server.place(request, OrderRequest(
                symbol=symbol, side=side, type="STOP_MARKET", quantity=Decimal(0), stop_price=stop_loss,
                close_position=True))
            if not hasattr(self, "_stops"):
                self._stops = {}
            self._stops[(order.order_id, order.time)] = {"triggerBy": trigger_by, "closeOnTrigger": True}
        self.server.persist()
        return self.ok({})

    def _category_for_orders(self, params: dict[str, Any]) -> str:
        category = self._category(params)
        if category == "spot":
            raise Rejection(Reason.UNSUPPORTED, "exchange-sim does not simulate spot trading (the rebalancer never trades spot)")
        return category

    async def create_order(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Place; the reply carries only the ids, as Bybit's does (status comes from a lookup)."""
        order_request = self._order_request(params)
        order = await self.server.place(request, order_request)
        if order_request.type == "STOP_MARKET":
            if not hasattr(self, "_stops"):
                self._stops: dict[tuple[int, int], dict[str, Any]] = {}
            self._stops[(order.order_id, order.time)] = {
                "triggerBy": _str(params, "triggerBy") or "LastPrice", "closeOnTrigger": _bool(params, "closeOnTrigger")}
        return self.ok({"orderId": payloads.order_id(order), "orderLinkId": order.client_order_id})

    def _find(self, params: dict[str, Any], symbol: str | None) -> Order | None:
        order_id, link_id = _str(params, "orderId"), _str(params, "orderLinkId")
        if order_id is None and link_id is None:
            raise Rejection(Reason.MISSING_PARAMETER, "params error: orderId or orderLinkId is required")
        for order in reversed(self.engine.orders):
            if symbol is not None and order.symbol != symbol:
                continue
            # Bybit's priority: orderId over orderLinkId.
            if (order_id is not None and payloads.order_id(order) == order_id) or (
                    order_id is None and order.client_order_id == link_id):
                return order
        return None

    async def cancel_order(self, request: web.Request, params: dict[str, Any]) -> Any:
        self._category_for_orders(params)
        symbol = self.engine.market(_required(params, "symbol")).symbol
        found = self._find(params, symbol)
        if found is None or not found.is_open:
            raise Rejection(Reason.CANCEL_UNKNOWN_ORDER)
        order = self.engine.cancel_order(symbol, found.order_id)
        self.server.persist()
        return self.ok({"orderId": payloads.order_id(order), "orderLinkId": order.client_order_id})

    def _order_rows(self, orders: list[Order], params: dict[str, Any], default_limit: int) -> list[dict[str, Any]]:
        limit = min(max(_int(params, "limit", default_limit) or default_limit, 1), 50)
        start, end = _int(params, "startTime"), _int(params, "endTime")
        rows = [o for o in orders if (start is None or o.time >= start) and (end is None or o.time <= end)]
        rows.sort(key=lambda o: (o.time, o.order_id), reverse=True)  # newest first, as Bybit lists them
        return [payloads.order_json(o, self._stop_extra(o)) for o in rows[:limit]]

    def _orders_for(self, params: dict[str, Any], *, need_filter: bool) -> tuple[str, list[Order]]:
        category = self._category(params)
        if category == "spot":
            return category, []  # no spot order ever exists here
        symbols = set(self._linear_symbols(params, need_filter=need_filter))
        orders = [o for o in self.engine.orders if o.symbol in symbols]
        # orderFilter: Order (active orders), StopOrder (conditional); none: every kind (a UTA's default).
        order_filter = _str(params, "orderFilter")
        if order_filter == "Order":
            orders = [o for o in orders if not payloads.is_stop(o)]
        elif order_filter == "StopOrder":
            orders = [o for o in orders if payloads.is_stop(o)]
        elif order_filter is not None:
            orders = []  # tpslOrder / OcoOrder / BidirectionalTpslOrder: none exist here
        return category, orders

    async def order_realtime(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Open orders; by orderId / orderLinkId any of the account's recent orders, so an order that
        filled at once is still found here (ccxt's fetch_open_order reads this endpoint)."""
        by_id = _str(params, "orderId") is not None or _str(params, "orderLinkId") is not None
        category, orders = self._orders_for(params, need_filter=not by_id)
        if by_id:
            recent = set(id(o) for o in self.engine.orders[-RECENT_ORDERS:])
            found = self._find(params, None)
            orders = [found] if found is not None and found in orders and id(found) in recent else []
        else:
            open_only = _int(params, "openOnly", 0)
            if open_only == 0:
                orders = [o for o in orders if o.is_open]
            else:
                orders = [o for o in orders[-RECENT_ORDERS:] if not o.is_open]
        return self.ok({"nextPageCursor": "", "category": category, "list": self._order_rows(orders, params, 20)})

    async def order_history(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Finished orders (Filled, Cancelled, ...), filtered by orderStatus / ids / time."""
        category, orders = self._orders_for(params, need_filter=False)
        orders = [o for o in orders if _status(o) in FINAL_STATUSES]
        status = _str(params, "orderStatus")
        if status is not None:
            wanted = set(status.split(","))
            orders = [o for o in orders if _status(o) in wanted]
        if _str(params, "orderId") is not None or _str(params, "orderLinkId") is not None:
            found = self._find(params, None)
            orders = [o for o in orders if o is found]
        return self.ok({"nextPageCursor": "", "category": category, "list": self._order_rows(orders, params, 20)})

    # ------------------------------------------------------------------ executions and ledger (signed)

    async def execution_list(self, request: web.Request, params: dict[str, Any]) -> Any:
        """Trade executions (one per fill, execFee = commission) and Funding executions (execFee > 0
        paid), newest first; filtered by symbol, orderId / orderLinkId, execType and time."""
        category = self._category(params)
        exec_type = _str(params, "execType")
        symbol = _str(params, "symbol")
        if symbol is not None:
            symbol = self.engine.market(symbol).symbol
        start, end = _int(params, "startTime"), _int(params, "endTime")
        limit = min(max(_int(params, "limit", None) or _int(params, "size", 50) or 50, 1), 100)
        order_id, link_id = _str(params, "orderId"), _str(params, "orderLinkId")
        rows: list[tuple[int, dict[str, Any]]] = []
        if category == "linear":
            fee_rate = self.server.scenario.futures.fee_rate
            maker_rate = self.server.scenario.futures.maker_fee_rate
            if exec_type in (None, "Trade"):
                for order in self.engine.orders:
                    if (symbol is not None and order.symbol != symbol) or (
                            order_id is not None and payloads.order_id(order) != order_id) or (
                            link_id is not None and order.client_order_id != link_id):
                        continue
                    done = Decimal(0)
                    for fill in order.fills:
                        done += fill.qty
                        rate = maker_rate if fill.maker else fee_rate
                        rows.append((fill.time, payloads.trade_execution(order, fill, order.orig_qty - done, rate)))
            if exec_type in (None, "Funding") and order_id is None and link_id is None:
                for income in self.engine.income:
                    if income.income_type == "FUNDING_FEE" and symbol in (None, income.symbol):
                        rows.append((income.time, payloads.funding_execution(income)))
        rows = [(t, r) for t, r in rows if (start is None or t >= start) and (end is None or t <= end)]
        rows.sort(key=lambda row: row[0], reverse=True)
        return self.ok({"nextPageCursor": "", "category": category, "list": [r for _, r in rows[:limit]]})

    async def transaction_log(self, request: web.Request, params: dict[str, Any]) -> Any:
        """The UNIFIED account's USDT transaction log: SETTLEMENT (funding) and TRADE rows, newest first."""
        account_type = _str(params, "accountType")
        if account_type not in (None, "UNIFIED"):
            raise Rejection(Reason.BAD_PARAMETER, "accountType only support UNIFIED")
        currency = _str(params, "currency")
        if currency not in (None, QUOTE):
            return self.ok({"nextPageCursor": "", "list": []})
        wallet_now = self.engine.wallet + self.engine.spot_balances.get(QUOTE, Decimal(0))
        rows = payloads.ledger_rows(self.engine, wallet_now)
        kind, category = _str(params, "type"), _str(params, "category")
        start, end = _int(params, "startTime"), _int(params, "endTime")
        rows = [
            r for r in rows
            if kind in (None, r["type"]) and category in (None, r["category"])
            and (start is None or int(r["transactionTime"]) >= start) and (end is None or int(r["transactionTime"]) <= end)
        ]
        limit = min(max(_int(params, "limit", 20) or 20, 1), 50)
        rows.reverse()
        return self.ok({"nextPageCursor": "", "list": rows[:limit]})


    # ------------------------------------------------------------------ wallet transfers (signed)

    async def inter_transfer(self, request: web.Request, params: dict[str, Any]) -> Any:
        """POST /v5/asset/transfer/inter-transfer: USDT between FUND and UNIFIED over engine.transfer.
        A transferId already used answers 131214 (Bybit keeps it unique), never a second move."""
        transfer_id = _required(params, "transferId")
        coin = _required(params, "coin")
        amount = _decimal(params, "amount")
        if amount is None:
            raise Rejection(Reason.MISSING_PARAMETER, "params error: amount is required")
        source, target = _required(params, "fromAccountType"), _required(params, "toAccountType")
        for account in (source, target):
            if account not in KNOWN_ACCOUNT_TYPES:
                raise Rejection(Reason.BAD_PARAMETER, "params error: accountType invalid")
        if source == target:
            raise Rejection(Reason.BAD_PARAMETER, code="131211")
        if source not in TRANSFER_ACCOUNTS or target not in TRANSFER_ACCOUNTS:
            raise Rejection(Reason.UNSUPPORTED, "exchange-sim's account is a UTA 2.0: transfers between FUND and "
                                                f"UNIFIED only, not {source} -> {target}")
        if coin != QUOTE:
            raise Rejection(Reason.UNSUPPORTED, f"exchange-sim transfers {QUOTE} only")
        if any(x.client_id == transfer_id for x in self.engine.transfers):
            raise Rejection(Reason.BAD_PARAMETER, code="131214")
        self.engine.transfer(coin, amount, TRANSFER_ACCOUNTS[source], TRANSFER_ACCOUNTS[target], client_id=transfer_id)
        self.server.persist()
        return self.ok({"transferId": transfer_id, "status": "SUCCESS"}, "success")


__all__ = ["BybitDialect", "ORDER_CREATE_PATH"]
