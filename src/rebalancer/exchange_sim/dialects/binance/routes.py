"""Binance's dialect: spot /api/v3 and USDⓈ-M /fapi routes that unmodified ccxt calls, over the engine.

The engine's ids are Binance's own (BTCUSDT, BUY/SELL, MARKET/LIMIT, CROSSED) and its contracts are
base units, so this dialect passes them through.

Protective stops are conditional orders, which fapi takes only on its algo order API (what ccxt 4.5.90
calls for a linear order with triggerPrice): POST/GET/DELETE /fapi/v1/algoOrder, openAlgoOrders,
allAlgoOrders, algoOpenOrders. An unfired stop is not in the regular order routes; once it fires, the
MARKET order it became is (actualOrderId), with its fills in userTrades. Wallet transfers are the
universal transfer, POST /sapi/v1/asset/transfer.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any, Mapping

from aiohttp import web

from ...engine import MarketState, OrderRequest, fixed, plain
from ...rejections import Rejection
from ...scenario import DEFAULT_FUNDING_INTERVAL_HOURS, QUOTE
from ..base import Dialect, Route
from . import auth
from .codes import SIM_UNSUPPORTED, BinanceError, error_response
from .payloads import (
    _bool_param,
    _decimal_param,
    _int_param,
    _px,
    _qty,
    _required,
    bracket_json,
    futures_order_json,
    perp_symbol_info,
    position_risk_v2,
    position_risk_v3,
    spot_symbol_info,
    _account_totals,
    _usdt_asset,
    ALGO_ID_BASE,
    algo_order_json,
    is_resting_stop,
)

ORDER_PATHS = frozenset({"/fapi/v1/order", "/fapi/v1/algoOrder", "/api/v3/order"})
# Conditional types fapi takes only on the algo order API since its migration (-4120 on /fapi/v1/order).
_ALGO_TYPES = frozenset({"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"})
_WORKING_TYPES = frozenset({"CONTRACT_PRICE", "MARK_PRICE"})
_TRANSFER_TYPES = {"MAIN_UMFUTURE": ("spot", "futures"), "UMFUTURE_MAIN": ("futures", "spot")}
_CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
_ACCOUNT_UID = 354937868


def _client_id(params: dict[str, str], key: str) -> str | None:
    """The client id under `key` (newClientOrderId, clientAlgoId), -1100 when it breaks Binance's pattern."""
    client_id = params.get(key)
    if client_id is not None and not _CLIENT_ID_RE.match(client_id):
        raise BinanceError(
            -1100, f"Illegal characters found in parameter '{key}'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{{1,36}}$'.",
        )
    return client_id


class BinanceDialect(Dialect):
    """Binance spot + USDⓈ-M futures (one-way, cross margin)."""

    name = "binance"
    order_paths = ORDER_PATHS

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        # workingType / priceProtect as sent, per algo order: the engine keeps no such field (the sim
        # triggers on the mark price whatever was sent), so they are only echoed, and not persisted.
        self._algo_settings: dict[int, tuple[str, bool]] = {}

    def clock(self) -> int:
        return self.server.clock()

    def routes(self) -> list[Route]:
        public = [
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
        signed = [
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
            ("POST", "/fapi/v1/algoOrder", self.new_algo_order),
            ("GET", "/fapi/v1/algoOrder", self.get_algo_order),
            ("DELETE", "/fapi/v1/algoOrder", self.cancel_algo_order),
            ("GET", "/fapi/v1/openAlgoOrders", self.open_algo_orders),
            ("GET", "/fapi/v1/allAlgoOrders", self.all_algo_orders),
            ("DELETE", "/fapi/v1/algoOpenOrders", self.cancel_all_algo_orders),
            ("POST", "/sapi/v1/asset/transfer", self.asset_transfer),
        ]
        return [*(Route(m, p, h) for m, p, h in public), *(Route(m, p, h, signed=True) for m, p, h in signed)]

    async def public_params(self, request: web.Request) -> dict[str, Any]:
        return await auth.public_params(request)

    async def authenticate(self, request: web.Request) -> dict[str, Any]:
        scenario = self.server.scenario
        return await auth.authenticate(request, scenario.auth.api_key, scenario.auth.api_secret.encode(), self.clock)

    def error_response(self, rejection: Rejection) -> web.Response:
        return error_response(rejection)

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
        if params.get("type") in _ALGO_TYPES:
            raise BinanceError(-4120)
        client_id = _client_id(params, "newClientOrderId")
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
        order = await self.server.place(request, req)
        body = futures_order_json(order, self.engine.markets[order.symbol], with_time=False)
        if params.get("newOrderRespType", "ACK") == "ACK":
            # fapi's default: acknowledge before matching, so nothing looks filled yet (ccxt asks for RESULT).
            body.update(status="NEW", avgPrice="0.00", executedQty="0", cumQty="0", cumQuote="0.00000")
        return body

    def _find(self, params: Mapping[str, str]) -> tuple[str, int | None, str | None]:
        symbol = self.engine.market(_required(params, "symbol")).symbol
        order_id = _int_param(params, "orderId")
        client_id = params.get("origClientOrderId")
        if order_id is None and not client_id:
            raise BinanceError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        return symbol, order_id, client_id

    async def get_order(self, request: web.Request, params: dict[str, str]) -> Any:
        order = self.engine.find_order(*self._find(params))
        if is_resting_stop(order):
            raise BinanceError(-2013)  # an unfired conditional order exists only on the algo routes
        return futures_order_json(order, self.engine.markets[order.symbol], with_time=True)

    async def cancel_order(self, request: web.Request, params: dict[str, str]) -> Any:
        symbol, order_id, client_id = self._find(params)
        try:
            found = self.engine.find_order(symbol, order_id, client_id)
        except Rejection:
            found = None
        if found is not None and found.type == "STOP_MARKET":
            raise BinanceError(-2011)  # conditional orders are cancelled on DELETE /fapi/v1/algoOrder
        order = self.engine.cancel_order(symbol, order_id, client_id)
        self.server.persist()
        return futures_order_json(order, self.engine.markets[order.symbol], with_time=False)

    async def open_orders(self, request: web.Request, params: dict[str, str]) -> Any:
        symbol = params.get("symbol")
        if symbol is not None:
            self.engine.market(symbol)
        return [
            futures_order_json(o, self.engine.markets[o.symbol], with_time=True)
            for o in self.engine.open_orders(symbol)
            if o.type != "STOP_MARKET"
        ]

    async def cancel_all_orders(self, request: web.Request, params: dict[str, str]) -> Any:
        symbol = self.engine.market(_required(params, "symbol")).symbol
        for order in self.engine.open_orders(symbol):
            if order.type != "STOP_MARKET":  # conditional orders: DELETE /fapi/v1/algoOpenOrders
                self.engine.cancel_order(symbol, order.order_id)
        self.server.persist()
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    async def set_leverage(self, request: web.Request, params: dict[str, str]) -> Any:
        leverage = _int_param(params, "leverage")
        if leverage is None:
            _required(params, "leverage")
        assert leverage is not None
        m = self.engine.set_leverage(_required(params, "symbol"), leverage)
        self.server.persist()
        return {"leverage": m.leverage, "maxNotionalValue": plain(self.engine.max_notional(m.symbol)), "symbol": m.symbol}

    async def set_margin_type(self, request: web.Request, params: dict[str, str]) -> Any:
        self.engine.set_margin_type(_required(params, "symbol"), _required(params, "marginType").upper())
        self.server.persist()
        return {"code": 200, "msg": "success"}

    async def get_position_mode(self, request: web.Request, params: dict[str, str]) -> Any:
        return {"dualSidePosition": self.engine.dual_side_position}

    async def set_position_mode(self, request: web.Request, params: dict[str, str]) -> Any:
        _required(params, "dualSidePosition")
        self.engine.set_dual_side(_bool_param(params, "dualSidePosition"))
        self.server.persist()
        return {"code": 200, "msg": "success"}

    # ------------------------------------------------------------------ conditional (algo) orders

    def _algo_json(self, order: Any) -> dict[str, Any]:
        working_type, price_protect = self._algo_settings.get(order.order_id, ("CONTRACT_PRICE", False))
        return algo_order_json(order, self.engine.markets[order.symbol], working_type=working_type,
                               price_protect=price_protect)

    async def new_algo_order(self, request: web.Request, params: dict[str, str]) -> Any:
        """POST /fapi/v1/algoOrder (algoType=CONDITIONAL): what ccxt sends for a linear order with
        triggerPrice / stopLossPrice. The sim takes reduce-only or close-position STOP_MARKET."""
        algo_type = _required(params, "algoType")
        if algo_type != "CONDITIONAL":
            raise BinanceError(-1100, "Illegal characters found in parameter 'algoType'; legal range is 'CONDITIONAL'.")
        symbol = _required(params, "symbol")
        order_type = _required(params, "type")
        if order_type != "STOP_MARKET":
            if order_type in _ALGO_TYPES:
                raise BinanceError(
                    SIM_UNSUPPORTED, f"exchange-sim simulates STOP_MARKET conditional orders only, not {order_type}."
                )
            raise BinanceError(-1116)
        client_id = _client_id(params, "clientAlgoId")
        close_position = _bool_param(params, "closePosition")
        if close_position:
            for name in ("reduceOnly", "quantity"):
                if name in params:
                    raise BinanceError(-1106, f"Parameter '{name}' sent when not required.")
        if "price" in params:
            raise BinanceError(-1106, "Parameter 'price' sent when not required.")
        working_type = params.get("workingType", "CONTRACT_PRICE")
        if working_type not in _WORKING_TYPES:
            raise BinanceError(
                -1100, "Illegal characters found in parameter 'workingType'; legal range is 'MARK_PRICE, CONTRACT_PRICE'."
            )
        price_protect = _bool_param(params, "priceProtect")
        req = OrderRequest(
            symbol=symbol,
            side=_required(params, "side"),
            type=order_type,
            quantity=Decimal(0) if close_position else (_decimal_param(params, "quantity") or Decimal(0)),
            stop_price=_decimal_param(params, "triggerPrice"),
            client_order_id=client_id,
            reduce_only=_bool_param(params, "reduceOnly"),
            close_position=close_position,
            position_side=params.get("positionSide"),
        )
        order = await self.server.place(request, req)
        self._algo_settings[order.order_id] = (working_type, price_protect)
        return self._algo_json(order)

    def _find_algo(self, params: Mapping[str, str]) -> Any:
        """The conditional order named by algoId or clientAlgoId (symbol optional, as on Binance); -2013."""
        symbol = params.get("symbol")
        if symbol is not None:
            self.engine.market(symbol)
        algo_id = _int_param(params, "algoId")
        client_id = params.get("clientAlgoId")
        if algo_id is None and not client_id:
            raise BinanceError(-1102, "Param 'clientAlgoId' or 'algoId' must be sent, but both were empty/null!")
        for order in reversed(self.engine.orders):
            if order.type != "STOP_MARKET" or (symbol is not None and order.symbol != symbol):
                continue
            by_id = algo_id is not None and ALGO_ID_BASE + order.order_id == algo_id
            if by_id or (algo_id is None and order.client_order_id == client_id):
                return order
        raise BinanceError(-2013)

    async def get_algo_order(self, request: web.Request, params: dict[str, str]) -> Any:
        return self._algo_json(self._find_algo(params))

    async def cancel_algo_order(self, request: web.Request, params: dict[str, str]) -> Any:
        try:
            order = self._find_algo(params)
        except Rejection:
            raise BinanceError(-2011) from None
        self.engine.cancel_order(order.symbol, order.order_id)
        self.server.persist()
        return {"algoId": ALGO_ID_BASE + order.order_id, "clientAlgoId": order.client_order_id,
                "code": "200", "msg": "success"}

    async def open_algo_orders(self, request: web.Request, params: dict[str, str]) -> Any:
        symbol = params.get("symbol")
        if symbol is not None:
            self.engine.market(symbol)
        algo_id = _int_param(params, "algoId")
        return [
            self._algo_json(o) for o in self.engine.open_orders(symbol)
            if o.type == "STOP_MARKET" and (algo_id is None or ALGO_ID_BASE + o.order_id == algo_id)
        ]

    async def all_algo_orders(self, request: web.Request, params: dict[str, str]) -> Any:
        symbol = self.engine.market(_required(params, "symbol")).symbol
        algo_id = _int_param(params, "algoId")
        start, end = _int_param(params, "startTime"), _int_param(params, "endTime")
        limit = min(_int_param(params, "limit") or 500, 1000)
        rows = [
            o for o in self.engine.orders
            if o.type == "STOP_MARKET" and o.symbol == symbol
            and (algo_id is None or ALGO_ID_BASE + o.order_id >= algo_id)
            and (start is None or o.time >= start) and (end is None or o.time <= end)
        ]
        return [self._algo_json(o) for o in rows[:limit]]

    async def cancel_all_algo_orders(self, request: web.Request, params: dict[str, str]) -> Any:
        symbol = self.engine.market(_required(params, "symbol")).symbol
        for order in self.engine.open_orders(symbol):
            if order.type == "STOP_MARKET":
                self.engine.cancel_order(symbol, order.order_id)
        self.server.persist()
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    # ------------------------------------------------------------------ wallet

    async def asset_transfer(self, request: web.Request, params: dict[str, str]) -> Any:
        """POST /sapi/v1/asset/transfer (ccxt transfer(): type MAIN_UMFUTURE / UMFUTURE_MAIN). Binance's
        universal transfer has no client id, so every request moves money again."""
        transfer_type = _required(params, "type")
        asset = _required(params, "asset")
        amount = _decimal_param(params, "amount")
        assert amount is not None
        if transfer_type not in _TRANSFER_TYPES:
            raise BinanceError(SIM_UNSUPPORTED, f"exchange-sim transfers {QUOTE} between MAIN and UMFUTURE only.")
        source, target = _TRANSFER_TYPES[transfer_type]
        done = self.engine.transfer(asset, amount, source, target)
        self.server.persist()
        return {"tranId": done.tran_id}
