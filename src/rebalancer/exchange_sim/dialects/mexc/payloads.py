"""MEXC JSON shapes built from the engine's state: spot v3 key for key as the recorded real payloads
(tests/fixtures/ccxt-recorded/mexc_responses.json, mexc_markets.json), the contract API as the
recorded market `info` and the reply examples in ccxt 4.5.90's mexc.py (the recordings hold no contract
reply). Numbers are strings, as in the recordings (exact decimals, never floats).

Units: a contract quantity (`vol`, `holdVol`, `dealVol`, `minVol`, ...) counts whole contracts of
`contractSize` base units (BTC_USDT 0.0001 BTC); the engine's base units are converted here and only
here. Spot quantities are base units.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ...engine import ZERO, Engine, Fill, Income, MarketState, Order, plain
from ...scenario import QUOTE

CREATE_TIME = "1591242684000"
# Engine status -> MEXC contract order state: 1 uninformed, 2 uncompleted, 3 completed, 4 cancelled, 5 invalid.
ORDER_STATE = {"NEW": 2, "PARTIALLY_FILLED": 2, "FILLED": 3, "CANCELED": 4, "EXPIRED": 4, "REJECTED": 5}
# MEXC order types: 1 limit, 2 post only, 3 IOC, 4 FOK, 5 market, 6 market at the current price.
ORDER_TYPE_BY_ENGINE = {("LIMIT", "GTC"): 1, ("LIMIT", "GTX"): 2, ("LIMIT", "IOC"): 3, ("LIMIT", "FOK"): 4}
MARKET_ORDER_TYPE = 6  # what ccxt sends for type "market"
PLAN_MARKET_ORDER_TYPE = 5  # a trigger order's market execution (orderType 5: 6 does not exist there)
# A trigger (plan) order's id lives apart from the order ids: the order it places when it fires has
# the engine's order id, the plan order this id + PLAN_ID_OFFSET (as on MEXC, two different ids).
PLAN_ID_OFFSET = 1_000_000_000_000
EXECUTE_CYCLE_HOURS = {1: 24, 2: 168}  # executeCycle as sent (1: 24 hours, 2: 7 days) -> as listed (hours)


def text(value: Decimal | int | None) -> str:
    return "" if value is None else plain(value)


def digits(step: Decimal) -> int:
    return max(0, -step.normalize().as_tuple().exponent)  # type: ignore[operator]


def contract_id(m: MarketState) -> str:
    """BTCUSDT -> BTC_USDT (MEXC's contract symbol)."""
    return f"{m.asset}_{QUOTE}"


def contracts(m: MarketState, base: Decimal) -> Decimal:
    return base / m.spec.contract_size


def side_code(order: Order) -> int:
    """MEXC's order side, as sent: 1 open long, 2 close short, 3 open short, 4 close long."""
    if order.side == "BUY":
        return 2 if order.reduce_only else 1
    return 4 if order.reduce_only else 3


def order_type_code(order: Order) -> int:
    if order.type == "MARKET":
        return MARKET_ORDER_TYPE
    if order.type == "STOP_MARKET":  # the market order a trigger order placed (its orderType 5)
        return PLAN_MARKET_ORDER_TYPE
    return ORDER_TYPE_BY_ENGINE.get((order.type, order.time_in_force), 1)


def position_id(engine: Engine, symbol: str) -> int:
    """A stable id per symbol (the engine keeps one net position per symbol)."""
    return 1000 + list(engine.markets).index(symbol)


# --------------------------------------------------------------------------- spot (v3)


def spot_symbol(m: MarketState) -> dict[str, Any]:
    """One /api/v3/exchangeInfo row, keys as the recorded market's info."""
    spec = m.spec
    return {
        "symbol": m.symbol, "status": "1", "baseAsset": m.asset, "baseAssetPrecision": str(digits(spec.base_step)),
        "quoteAsset": QUOTE, "quotePrecision": str(digits(spec.price_tick)),
        "quoteAssetPrecision": str(digits(spec.price_tick)), "baseCommissionPrecision": str(digits(spec.base_step)),
        "quoteCommissionPrecision": "2", "orderTypes": ["LIMIT", "MARKET", "LIMIT_MAKER"],
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "quoteAmountPrecision": text(spec.min_notional), "baseSizePrecision": text(spec.base_min_qty),
        "permissions": ["SPOT"], "filters": [], "maxQuoteAmount": "2000000", "makerCommission": "0",
        "takerCommission": "0.0005", "quoteAmountPrecisionMarket": text(spec.min_notional),
        "maxQuoteAmountMarket": "200000", "fullName": m.asset, "tradeSideType": "1",
    }


def exchange_info(engine: Engine, now: int, symbols: list[MarketState]) -> dict[str, Any]:
    return {"timezone": "CST", "serverTime": now, "rateLimits": [], "exchangeFilters": [],
            "symbols": [spot_symbol(m) for m in symbols]}


def _volume(engine: Engine, m: MarketState) -> Decimal:
    return sum((o.executed_qty for o in engine.orders if o.symbol == m.symbol), ZERO)


def spot_ticker(engine: Engine, m: MarketState, now: int) -> dict[str, Any]:
    """One /api/v3/ticker/24hr row: the scenario's price is the open, the current one the last."""
    bid, ask = engine.book(m, perp=False)
    last, opening = m.spot_price, m.spec.spot_price
    return {
        "symbol": m.symbol, "priceChange": text(last - opening),
        "priceChangePercent": text(((last - opening) / opening).quantize(Decimal("1e-4"))),
        "prevClosePrice": text(opening), "lastPrice": text(last), "bidPrice": text(bid),
        "bidQty": text(m.spec.depth[0] if m.spec.depth else m.spec.base_min_qty * 1000), "askPrice": text(ask),
        "askQty": text(m.spec.depth[0] if m.spec.depth else m.spec.base_min_qty * 1000), "openPrice": text(opening),
        "highPrice": text(max(last, opening)), "lowPrice": text(min(last, opening)), "volume": "0",
        "quoteVolume": "0", "openTime": str(now - 86_400_000), "closeTime": str(now), "count": None,
    }


def spot_account(engine: Engine, now: int) -> dict[str, Any]:
    """/api/v3/account: the engine's spot wallet (nothing is locked: the sim never trades spot)."""
    return {
        "makerCommission": 0, "takerCommission": 20, "buyerCommission": 0, "sellerCommission": 0,
        "canTrade": True, "canWithdraw": True, "canDeposit": True, "updateTime": None, "accountType": "SPOT",
        "balances": [{"asset": a, "free": text(v), "locked": "0"} for a, v in engine.spot_balances.items()],
        "permissions": ["SPOT"],
    }


def currency_config(asset: str) -> dict[str, Any]:
    """One /api/v3/capital/config/getall row (ccxt's fetch_currencies, signed, at load_markets)."""
    return {"coin": asset, "name": asset, "networkList": [{
        "coin": asset, "depositEnable": True, "withdrawEnable": True, "name": asset, "netWork": asset,
        "network": asset, "withdrawFee": "0", "withdrawMin": "0", "withdrawMax": "1000000", "contract": "",
    }]}


# --------------------------------------------------------------------------- contract markets


def contract_detail(m: MarketState, taker: Decimal, maker: Decimal) -> dict[str, Any]:
    """One /api/v1/contract/detail row, keys as the recorded market's info. MEXC's risk tiers are
    counted in contracts (riskBaseVol / riskIncrVol), the engine's in notional: the first bracket is
    given as one tier covering maxVol (riskIncrVol = maxVol), never an invented volume ladder."""
    spec = m.spec
    first = spec.brackets[0]
    max_vol = text(spec.max_qty)
    return {
        "symbol": contract_id(m), "displayName": f"{contract_id(m)}永续", "displayNameEn": f"{contract_id(m)} PERPETUAL",
        "positionOpenType": "3", "baseCoin": m.asset, "quoteCoin": QUOTE, "baseCoinName": m.asset,
        "quoteCoinName": QUOTE, "futureType": "1", "settleCoin": QUOTE, "contractSize": text(spec.contract_size),
        "minLeverage": "1", "maxLeverage": str(spec.max_leverage), "priceScale": str(digits(spec.price_tick)),
        "volScale": str(digits(spec.amount_step)), "amountScale": "4", "priceUnit": text(spec.price_tick),
        "volUnit": text(spec.amount_step), "minVol": text(spec.min_qty), "maxVol": max_vol,
        "bidLimitPriceRate": "0.1", "askLimitPriceRate": "0.1", "takerFeeRate": text(taker),
        "makerFeeRate": text(maker), "maintenanceMarginRate": text(first.mmr),
        "initialMarginRate": text(Decimal(1) / first.max_leverage), "riskBaseVol": max_vol, "riskIncrVol": max_vol,
        "riskLongShortSwitch": "0", "riskIncrMmr": "0", "riskIncrImr": "0", "riskLevelLimit": "1",
        "priceCoefficientVariation": "0.004", "indexOrigin": ["MEXC"], "state": "0", "isNew": False,
        "isHot": False, "isHidden": False, "conceptPlate": [], "riskLimitType": "BY_VOLUME",
        "maxNumOrders": [200, 50], "marketOrderMaxLevel": "20", "marketOrderPriceLimitRate1": "0.2",
        "marketOrderPriceLimitRate2": "0.005", "triggerProtect": "0.1", "appraisal": "0",
        "showAppraisalCountdown": "0", "automaticDelivery": "0", "apiAllowed": True, "depthStepList": [],
        "limitMaxVol": max_vol, "threshold": "0", "baseCoinIconUrl": "",
        "id": "", "vid": "", "baseCoinId": "", "createTime": CREATE_TIME,
        "openingTime": "0", "openingCountdownOption": "1",
    }


def contract_ticker(engine: Engine, m: MarketState, now: int) -> dict[str, Any]:
    """One /api/v1/contract/ticker row: fairPrice is the mark price, indexPrice the spot index;
    volume24 and holdVol in contracts."""
    bid, ask = engine.book(m)
    last, opening = m.mark_price, m.spec.mark_price
    hold = abs(engine.positions[m.symbol].amount)
    return {
        "symbol": contract_id(m), "lastPrice": text(last), "bid1": text(bid), "ask1": text(ask),
        "volume24": text(contracts(m, _volume(engine, m))), "amount24": text(_volume(engine, m) * last),
        "holdVol": text(contracts(m, hold)), "lower24Price": text(min(last, opening)),
        "high24Price": text(max(last, opening)), "riseFallRate": text(((last - opening) / opening).quantize(Decimal("1e-4"))),
        "riseFallValue": text(last - opening), "indexPrice": text(m.spot_price), "fairPrice": text(m.mark_price),
        "fundingRate": text(m.funding_rate), "maxBidPrice": text(last * Decimal("1.1")),
        "minAskPrice": text(last * Decimal("0.9")), "timestamp": now,
    }


def funding_rate(engine: Engine, m: MarketState, now: int) -> dict[str, Any]:
    return {
        "symbol": contract_id(m), "fundingRate": text(m.funding_rate), "maxFundingRate": "0.003",
        "minFundingRate": "-0.003", "collectCycle": m.spec.funding_interval_hours,
        "nextSettleTime": engine.next_funding_time(m), "timestamp": now,
    }


# --------------------------------------------------------------------------- contract account


def contract_assets(engine: Engine) -> list[dict[str, Any]]:
    """/api/v1/private/account/assets: the USDT futures account. equity = wallet + uPnL,
    positionMargin = the positions' initial margin, frozenBalance = the open orders' margin,
    availableBalance = equity - both (never below 0). ccxt's balance `total` is free + used, which
    leaves the position margin out: the equity is in `info`."""
    a = engine.account()
    return [{
        "currency": QUOTE, "positionMargin": text(a.position_initial_margin),
        "availableBalance": text(a.available_balance), "cashBalance": text(a.wallet),
        "frozenBalance": text(a.open_order_initial_margin), "equity": text(a.margin_balance),
        "unrealized": text(a.unrealized_pnl), "bonus": "0", "availableCash": text(a.available_balance),
        "availableOpen": text(a.available_balance),
    }]


def position(engine: Engine, symbol: str, realised: Decimal, hold_fee: Decimal) -> dict[str, Any]:
    """One /api/v1/private/position/open_positions row (an open position: holdVol > 0). unRealizedPnl
    is not in ccxt's example reply but is the key its parse_position reads."""
    r = engine.position_risk(symbol)
    m = engine.markets[symbol]
    entry = text(r.entry_price)
    return {
        "positionId": position_id(engine, symbol), "symbol": contract_id(m),
        "positionType": 1 if r.amount > 0 else 2, "openType": 1 if m.margin_type == "ISOLATED" else 2, "state": 1,
        "holdVol": text(contracts(m, abs(r.amount))), "frozenVol": "0", "closeVol": "0", "holdAvgPrice": entry,
        "openAvgPrice": entry, "closeAvgPrice": "0",
        "liquidatePrice": "0" if r.liquidation_price is None else text(r.liquidation_price.quantize(m.spec.price_tick)),
        "oim": text(r.initial_margin), "im": text(r.initial_margin), "holdFee": text(hold_fee),
        "realised": text(realised), "unRealizedPnl": text(r.unrealized_pnl), "leverage": r.leverage, "createTime": r.update_time, "updateTime": r.update_time,
        "autoAddIm": False,
    }


def position_leverage(m: MarketState) -> list[dict[str, Any]]:
    """/api/v1/private/position/leverage: one row per position type (one-way: the same leverage)."""
    first = m.spec.brackets[0]
    open_type = 1 if m.margin_type == "ISOLATED" else 2
    return [{"positionType": t, "level": 1, "imr": text(Decimal(1) / first.max_leverage), "mmr": text(first.mmr),
             "leverage": m.leverage, "maxVol": text(m.spec.max_qty), "openType": open_type, "limitBySys": False,
             "currentMmr": text(first.mmr)} for t in (1, 2)]


# --------------------------------------------------------------------------- contract orders and deals


def order_json(m: MarketState, order: Order, leverage: int) -> dict[str, Any]:
    """An order as /order/get, /order/external, /order/list/* answer it. vol and dealVol count
    contracts; takerFee/makerFee are the commissions paid (USDT)."""
    taker = sum((f.commission for f in order.fills if not f.maker), ZERO)
    maker = sum((f.commission for f in order.fills if f.maker), ZERO)
    return {
        "orderId": str(order.order_id), "symbol": contract_id(m), "positionId": "0",
        "price": text(order.price), "vol": text(contracts(m, order.orig_qty)), "leverage": str(leverage),
        "side": str(side_code(order)), "category": "1", "orderType": str(order_type_code(order)),
        "dealAvgPrice": text(order.avg_price), "dealVol": text(contracts(m, order.executed_qty)),
        "orderMargin": "0", "takerFee": text(taker), "makerFee": text(maker), "profit": text(order.realized_pnl),
        "feeCurrency": QUOTE, "openType": "1" if m.margin_type == "ISOLATED" else "2",
        "state": str(ORDER_STATE.get(order.status, 5)), "externalOid": order.client_order_id or "",
        "errorCode": "0", "usedMargin": "0", "createTime": str(order.time), "updateTime": str(order.update_time),
        "positionMode": "2",
    }


def plan_id(order: Order) -> int:
    return order.order_id + PLAN_ID_OFFSET


def fired(order: Order) -> bool:
    """A trigger order that fired and placed its market order (which then has fills)."""
    return order.type == "STOP_MARKET" and order.executed_qty > 0


def plan_state(order: Order) -> int:
    """MEXC trigger order state: 1 untriggered, 2 cancelled, 3 executed, 4 invalid (5 execution failed)."""
    if order.status == "NEW":
        return 1
    if order.status == "CANCELED":
        return 2
    if fired(order):
        return 3
    return 4  # expired without a position to reduce: invalid


def plan_order_json(m: MarketState, order: Order, leverage: int, trend: int, execute_cycle: int) -> dict[str, Any]:
    """A trigger order as /planorder/list/orders answers it (the keys of ccxt 4.5.90's example and
    MEXC's field list): no price (stop-market), vol in contracts, `orderId` (the placed order) only
    once executed. MEXC lists no externalOid for trigger orders; the triggerType follows the side
    (the sim takes stop-losses only: a buy stop triggers at >= 1, a sell stop at <= 2)."""
    row: dict[str, Any] = {
        "id": str(plan_id(order)), "symbol": contract_id(m), "leverage": str(leverage),
        "side": str(side_code(order)), "vol": text(contracts(m, order.orig_qty)),
        "openType": "1" if m.margin_type == "ISOLATED" else "2", "state": str(plan_state(order)),
        "orderType": str(PLAN_MARKET_ORDER_TYPE), "errorCode": "0", "createTime": str(order.time),
        "updateTime": str(order.update_time), "triggerType": "1" if order.side == "BUY" else "2",
        "triggerPrice": text(order.stop_price), "executeCycle": str(EXECUTE_CYCLE_HOURS.get(execute_cycle, 24)),
        "trend": str(trend),
    }
    if fired(order):
        row["orderId"] = str(order.order_id)
    return row


def transfer_id(tran_id: int) -> str:
    """MEXC's tranId is 32 hex characters."""
    return f"{tran_id:032x}"


def deal(m: MarketState, order: Order, fill: Fill) -> dict[str, Any]:
    """One /order/list/order_deals row: vol in contracts, fee the commission paid."""
    return {
        "id": str(fill.trade_id), "symbol": contract_id(m), "side": str(side_code(order)),
        "vol": text(contracts(m, fill.qty)), "price": text(fill.price), "feeCurrency": QUOTE,
        "fee": text(fill.commission), "timestamp": str(fill.time), "profit": text(fill.realized_pnl), "category": "1",
        "orderId": str(order.order_id), "positionMode": "2", "taker": not fill.maker,
    }


def funding_record(engine: Engine, income: Income) -> dict[str, Any]:
    """One /position/funding_records row: `funding` is the account's income (received > 0). The
    engine keeps only the amount, so rate and position value are left empty, never invented."""
    m = engine.markets[income.symbol]
    return {
        "id": income.tran_id, "symbol": contract_id(m), "positionType": None, "positionValue": "",
        "funding": text(income.income), "rate": "", "settleTime": income.time,
    }


__all__ = [
    "EXECUTE_CYCLE_HOURS", "MARKET_ORDER_TYPE", "ORDER_STATE", "PLAN_ID_OFFSET", "PLAN_MARKET_ORDER_TYPE",
    "fired", "plan_id", "plan_order_json", "plan_state", "transfer_id",
    "contract_assets", "contract_detail", "contract_id", "contract_ticker",
    "contracts", "currency_config", "deal", "digits", "exchange_info", "funding_rate", "funding_record",
    "order_json", "position", "position_id", "position_leverage", "side_code", "spot_account", "spot_ticker",
    "text",
]
