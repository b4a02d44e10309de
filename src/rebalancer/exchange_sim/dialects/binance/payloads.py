"""Binance JSON shapes built from the engine's state: exchangeInfo symbols, orders, positions, account
totals, brackets; field names and string/number types as the recorded Binance payloads have them.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Mapping

from ...engine import ZERO, Engine, MarketState, Order, decimals_of, fixed, plain
from ...scenario import QUOTE, Bracket
from .codes import BinanceError

_NUMBER_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")


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
    if order.type == "STOP_MARKET":
        # A fired stop as the matching engine holds it: the MARKET order the algo service placed
        # (origType keeps STOP_MARKET, stopPrice the trigger). Unfired stops live only on the algo routes.
        body.update(type="MARKET", origType="STOP_MARKET", stopPrice=_px(order.stop_price, m),
                    closePosition=order.close_position)
    if with_time:
        body["time"] = order.time
    return body


# Algo ids are their own number space on Binance (the recorded dapi algoId is 1000000114315066), apart
# from the id of the order the matching engine gets when the stop fires (actualOrderId): the sim shows the
# engine's order id plus this base as algoId, so a bot that mixes the two ids up is caught here too.
ALGO_ID_BASE = 1_000_000_000_000_000


def is_resting_stop(order: Order) -> bool:
    """A conditional order the algo service still holds (not yet in the matching engine)."""
    return order.type == "STOP_MARKET" and not order.fills


def algo_status(order: Order) -> str:
    """Binance algoStatus: NEW until it fires, FINISHED once its order went through the matching engine,
    CANCELED (by the user, or a close-position stop whose position went flat), EXPIRED (the system
    dropped it: its position was gone when it fired)."""
    if order.fills:
        return "FINISHED"
    if order.is_open:
        return "NEW"
    return "CANCELED" if order.status == "CANCELED" else "EXPIRED"


def algo_order_json(order: Order, m: MarketState, *, working_type: str = "CONTRACT_PRICE",
                    price_protect: bool = False) -> dict[str, Any]:
    """An algo (CONDITIONAL) order as POST/GET /fapi/v1/algoOrder and openAlgoOrders answer it."""
    fired = bool(order.fills)
    return {
        "algoId": ALGO_ID_BASE + order.order_id, "clientAlgoId": order.client_order_id, "algoType": "CONDITIONAL",
        "orderType": order.type, "symbol": order.symbol, "side": order.side, "positionSide": order.position_side,
        "timeInForce": order.time_in_force, "quantity": _qty(order.orig_qty, m), "algoStatus": algo_status(order),
        "actualOrderId": str(order.order_id) if fired else "",
        "actualPrice": fixed(order.avg_price, 5) if fired else "0.00000",
        "triggerPrice": _px(order.stop_price, m), "price": _px(ZERO, m), "icebergQuantity": None,
        "tpTriggerPrice": "0.000", "tpPrice": "0.000", "slTriggerPrice": "0.000", "slPrice": "0.000",
        "tpOrderType": "", "selfTradePreventionMode": "EXPIRE_MAKER", "workingType": working_type,
        "priceMatch": "NONE", "closePosition": order.close_position, "priceProtect": price_protect,
        "reduceOnly": order.reduce_only, "createTime": order.time,
        "updateTime": order.update_time, "triggerTime": order.update_time if fired else 0, "goodTillDate": 0,
    }


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
