"""WEEX JSON shapes built from the engine's state, key for key as the recorded real payloads
(tests/fixtures/ccxt-recorded/weex_responses.json and weex_markets.json), numbers as strings as WEEX
sends them.

Units (THE WEEX hazard): a contract market publishes `contractVal` (ccxt's contractSize, e.g. 0.0001
BTC), but every size on the wire -- order `quantity`, `origQty`/`executedQty`, position `size`,
trade `qty`, `minOrderSize`/`maxOrderSize` -- is in BASE units (the recorded ETH position: size
0.036 ETH with contractVal 0.001, openValue = 0.036 x entry). Here contractVal is the scenario's
contract_size and every quantity is the engine's base amount, untouched.
"""

from __future__ import annotations

import zlib
from decimal import Decimal
from typing import Any

from ...engine import ZERO, Engine, Fill, Income, MarketState, Order, decimals_of, plain
from ...scenario import QUOTE

ACCOUNT_UID = "8886281669"
POSITION_ID_BASE = 749_422_000_000_000_000  # a stable, WEEX-sized id per symbol
# Engine status -> WEEX contract order status. ccxt 4.5.90 maps NEW -> open, FILLED -> closed,
# CANCELED -> canceled and PARTIAL_FILL -> closed (sic: a resting, partly filled order reads as
# closed in ccxt). An order whose unfilled rest expired (market / IOC / FOK) is CANCELED.
ORDER_STATUS = {
    "NEW": "NEW", "PARTIALLY_FILLED": "PARTIAL_FILL", "FILLED": "FILLED",
    "CANCELED": "CANCELED", "EXPIRED": "CANCELED", "REJECTED": "REJECTED",
}
INCOME_TYPES = {"FUNDING_FEE": "position_funding", "COMMISSION": "order_fill_fee_income",
                "REALIZED_PNL": "position_close_long"}


def text(value: Decimal | int) -> str:
    return plain(value)


def lev(value: int) -> str:
    """Leverage as WEEX writes it in symbolConfig and positions ("20.00")."""
    return f"{value}.00"


def side_of(amount: Decimal) -> str:
    return "LONG" if amount > 0 else "SHORT"


# --------------------------------------------------------------------------- markets


def coin(asset: str) -> dict[str, Any]:
    """An /api/v3/coins row; ccxt's load_markets always reads it (fetchCurrencies). No networks here."""
    return {"coin": asset, "depositAllEnable": True, "withdrawAllEnable": True, "name": asset, "networkList": []}


def spot_symbol(m: MarketState) -> dict[str, Any]:
    spec = m.spec
    return {
        "symbol": m.symbol, "status": "TRADING", "baseAsset": m.asset, "baseAssetPrecision": "8",
        "quoteAsset": QUOTE, "quoteAssetPrecision": "8", "tickSize": text(spec.price_tick),
        "stepSize": text(spec.base_step), "minTradeAmount": text(spec.base_min_qty),
        "maxTradeAmount": text(spec.base_max_qty), "takerFeeRate": "0.001", "makerFeeRate": "0.001",
        "buyLimitPriceRatio": "0.1", "sellLimitPriceRatio": "0.1", "marketBuyLimitSize": text(spec.base_max_qty),
        "marketSellLimitSize": text(spec.base_max_qty), "marketFallbackPriceRatio": "0", "enableTrade": True,
        "enableDisplay": True, "displayDigitMerge": text(spec.price_tick), "displayNew": False, "displayHot": False,
    }


def _delivery(hours: int) -> list[str]:
    return [f"{h:02d}:00:00" for h in range(0, 24, hours)] if hours and 24 % hours == 0 else []


def contract_symbol(engine: Engine, m: MarketState) -> dict[str, Any]:
    """precision as decimals (WEEX publishes no step): quantityPrecision from the base lot step."""
    spec = m.spec
    futures = engine.scenario.futures
    return {
        "symbol": m.symbol, "baseAsset": m.asset, "quoteAsset": QUOTE, "marginAsset": QUOTE,
        "pricePrecision": str(decimals_of(spec.price_tick)), "quantityPrecision": str(decimals_of(spec.base_step)),
        "baseAssetPrecision": str(decimals_of(spec.base_step)), "quotePrecision": "8",
        "contractVal": text(spec.contract_size), "delivery": _delivery(spec.funding_interval_hours),
        "forwardContractFlag": True, "minLeverage": "1", "maxLeverage": str(spec.max_leverage),
        "buyLimitPriceRatio": "0.01", "sellLimitPriceRatio": "0.01",
        "makerFeeRate": text(futures.maker_fee_rate), "takerFeeRate": text(futures.fee_rate),
        "minOrderSize": text(spec.base_min_qty), "maxOrderSize": text(spec.base_max_qty),
        "maxPositionSize": text(spec.base_max_qty), "marketOpenLimitSize": text(spec.base_market_max_qty),
    }


def _volume(engine: Engine, m: MarketState) -> Decimal:
    return sum((o.executed_qty for o in engine.orders if o.symbol == m.symbol), ZERO)


def spot_ticker(engine: Engine, m: MarketState, now: int) -> dict[str, Any]:
    bid, ask = engine.book(m, perp=False)
    last, opening = m.spot_price, m.spec.spot_price
    size = text(m.spec.base_min_qty * 1000)
    return {
        "symbol": m.symbol, "priceChange": text(last - opening),
        "priceChangePercent": text(((last - opening) / opening).quantize(Decimal("1e-6"))),
        "lastPrice": text(last), "bidPrice": text(bid), "bidQty": size, "askPrice": text(ask), "askQty": size,
        "openPrice": text(opening), "highPrice": text(max(last, opening)), "lowPrice": text(min(last, opening)),
        "volume": "0", "quoteVolume": "0", "openTime": str(now - 86_400_000), "closeTime": str(now), "count": "0",
    }


def contract_ticker(engine: Engine, m: MarketState, now: int) -> dict[str, Any]:
    last, opening = m.mark_price, m.spec.mark_price
    volume = _volume(engine, m)
    return {
        "symbol": m.symbol, "priceChange": text(last - opening),
        "priceChangePercent": text(((last - opening) / opening).quantize(Decimal("1e-6"))),
        "lastPrice": text(last), "openPrice": text(opening), "highPrice": text(max(last, opening)),
        "lowPrice": text(min(last, opening)), "volume": text(volume), "quoteVolume": text(volume * last),
        "openTime": now - 86_400_000, "closeTime": now, "markPrice": text(m.mark_price),
        "indexPrice": text(m.spot_price),
    }


def premium_index(engine: Engine, m: MarketState, now: int) -> dict[str, Any]:
    """Funding: lastFundingRate is the rate the coming settlement charges (ccxt's fundingRate);
    collectCycle the interval in minutes (ccxt: interval = collectCycle / 60 + 'h')."""
    return {
        "symbol": m.symbol, "markPrice": text(m.mark_price), "indexPrice": text(m.spot_price),
        "forecastFundingRate": text(m.funding_rate), "lastFundingRate": text(m.funding_rate),
        "interestRate": "0.001", "nextFundingTime": engine.next_funding_time(m), "time": now,
        "collectCycle": m.spec.funding_interval_hours * 60,
    }


def symbol_price(m: MarketState, price_type: str, now: int) -> dict[str, Any]:
    price = m.spot_price if price_type == "INDEX" else m.mark_price
    return {"symbol": m.symbol, "price": text(price), "time": now}


# --------------------------------------------------------------------------- account


def spot_account(engine: Engine, now: int) -> dict[str, Any]:
    balances = [{"asset": asset, "free": text(amount), "locked": "0"}
                for asset, amount in sorted(engine.spot_balances.items())]
    return {
        "makerCommission": "0", "takerCommission": "0",
        "commissionRates": {"maker": "0.00100000", "taker": "0.00100000"},
        "canTrade": True, "canWithdraw": True, "canDeposit": True, "updateTime": str(now), "accountType": "SPOT",
        "balances": balances, "permissions": ["SPOT"], "uid": ACCOUNT_UID,
    }


def contract_balance(engine: Engine) -> list[dict[str, Any]]:
    """The USDT contract account, read as WEEX's v3 API mirrors Binance's /fapi balance: balance =
    wallet (realised), availableBalance = wallet + unrealised P&L less the initial margin of positions
    and open orders, frozen = the open orders' margin, unrealizePnl. No equity or maintenance figure
    (equity = balance + unrealizePnl). ccxt reads total = balance, free = availableBalance, used =
    frozen: free + used = total only on a flat account (as the recorded row is: 20 / 20 / 0)."""
    account = engine.account()
    return [{
        "asset": QUOTE, "balance": text(account.wallet), "availableBalance": text(account.available_balance),
        "frozen": text(account.open_order_initial_margin), "unrealizePnl": text(account.unrealized_pnl),
    }]


def symbol_config(engine: Engine, m: MarketState) -> dict[str, Any]:
    return {
        "symbol": m.symbol, "marginType": m.margin_type,
        "separatedType": "SEPARATED" if engine.dual_side_position else "COMBINED",
        "crossLeverage": lev(m.leverage), "isolatedLongLeverage": lev(m.leverage),
        "isolatedShortLeverage": lev(m.leverage),
    }


def _position_history(engine: Engine, m: MarketState) -> dict[str, Decimal]:
    """Open/close sums of the current position, replayed from the symbol's fills; a position carried
    in from the scenario counts as opened at its scenario entry price, without fees."""
    fills = sorted(((o, f) for o in engine.orders if o.symbol == m.symbol for f in o.fills),
                   key=lambda of: of[1].trade_id)
    amount = engine.positions[m.symbol].amount - sum((f.qty if o.side == "BUY" else -f.qty for o, f in fills), ZERO)
    carried = next((p.entry_price for p in engine.scenario.futures.positions if p.asset == m.asset), ZERO)
    sums = {"open_size": abs(amount), "open_value": abs(amount) * carried, "open_fee": ZERO,
            "close_size": ZERO, "close_value": ZERO, "close_fee": ZERO}
    for o, f in fills:
        delta = f.qty if o.side == "BUY" else -f.qty
        closing = min(abs(delta), abs(amount)) if amount and (amount > 0) != (delta > 0) else ZERO
        opening = abs(delta) - closing
        share = f.commission / f.qty if f.qty else ZERO
        new_amount = amount + delta
        if amount and closing == abs(amount):
            sums = {k: ZERO for k in sums}  # that position is closed: the next one starts from nothing
        else:
            sums["close_size"] += closing
            sums["close_value"] += closing * f.price
            sums["close_fee"] += closing * share
        sums["open_size"] += opening
        sums["open_value"] += opening * f.price
        sums["open_fee"] += opening * share
        amount = new_amount
    return sums


def position(engine: Engine, m: MarketState) -> dict[str, Any]:
    """One open position, one-way: side LONG/SHORT by sign, size in base units, openValue =
    size x entry (so ccxt's entryPrice = openValue / size), marginSize = initial margin at mark."""
    pos = engine.positions[m.symbol]
    risk = engine.position_risk(m.symbol)
    size = abs(pos.amount)
    funding = sum((i.income for i in engine.income if i.symbol == m.symbol and i.income_type == "FUNDING_FEE"), ZERO)
    h = _position_history(engine, m)
    return {
        "id": str(POSITION_ID_BASE + zlib.crc32(m.symbol.encode()) % 10**9),
        "asset": QUOTE, "symbol": m.symbol, "side": side_of(pos.amount), "marginType": m.margin_type,
        "separatedMode": "SEPARATED" if engine.dual_side_position else "COMBINED", "separatedOpenOrderId": "0",
        "leverage": lev(m.leverage), "size": text(size), "openValue": text(size * pos.entry_price),
        "openFee": text(h["open_fee"]), "fundingFee": text(funding), "marginSize": text(risk.initial_margin),
        "isolatedMargin": "0", "isAutoAppendIsolatedMargin": False,
        "cumOpenSize": text(h["open_size"]), "cumOpenValue": text(h["open_value"]), "cumOpenFee": text(h["open_fee"]),
        "cumCloseSize": text(h["close_size"]), "cumCloseValue": text(h["close_value"]),
        "cumCloseFee": text(h["close_fee"]), "cumFundingFee": text(funding), "cumLiquidateFee": "0",
        "createdMatchSequenceId": str(pos.update_time), "updatedMatchSequenceId": str(pos.update_time),
        "createdTime": str(pos.update_time), "updatedTime": str(pos.update_time),
        "unrealizePnl": text(risk.unrealized_pnl),
        # WEEX writes the liquidation price on the price grid ("2019.83"); "0" when there is none.
        "liquidatePrice": text(risk.liquidation_price.quantize(m.spec.price_tick))
        if risk.liquidation_price is not None else "0",
    }


# --------------------------------------------------------------------------- orders and fills


def position_side(o: Order) -> str:
    """The side WEEX echoes: the order's own hedge-style side (LONG for buy-open / sell-reduce)."""
    if o.position_side in ("LONG", "SHORT"):
        return o.position_side
    if o.reduce_only:
        return "SHORT" if o.side == "BUY" else "LONG"
    return "LONG" if o.side == "BUY" else "SHORT"


def is_stop(o: Order) -> bool:
    return o.type == "STOP_MARKET"


def order(o: Order, working_type: str = "CONTRACT_PRICE") -> dict[str, Any]:
    """GET /capi/v3/order, openOrders and order/history rows (base units). A conditional order reads
    here too, as recorded (fetchOrder "fetch swap order": a resting TAKE_PROFIT_MARKET with status
    UNTRIGGERED, its trigger in stopPrice, timeInForce IOC and its workingType)."""
    stop = is_stop(o)
    status = "UNTRIGGERED" if stop and o.status == "NEW" else ORDER_STATUS.get(o.status, o.status)
    return {
        "avgPrice": text(o.avg_price), "clientOrderId": o.client_order_id, "cumQuote": text(o.cum_quote),
        "executedQty": text(o.executed_qty), "orderId": str(o.order_id), "origQty": text(o.orig_qty),
        "price": text(o.price), "reduceOnly": o.reduce_only, "side": o.side, "positionSide": position_side(o),
        "status": status, "stopPrice": text(o.stop_price) if stop else "0", "symbol": o.symbol,
        "time": str(o.time), "timeInForce": "IOC" if o.type in ("MARKET", "STOP_MARKET") else o.time_in_force,
        "type": o.type, "updateTime": str(o.update_time),
        "workingType": working_type if stop else "UNKNOWN_PRICE_TYPE",
    }


# Engine status -> WEEX algoStatus (UNTRIGGERED is recorded; the others are WEEX's order statuses).
ALGO_STATUS = {"NEW": "UNTRIGGERED", "FILLED": "FILLED", "CANCELED": "CANCELED", "EXPIRED": "CANCELED",
               "PARTIALLY_FILLED": "FILLED", "REJECTED": "REJECTED"}


def algo_order(o: Order, working_type: str = "CONTRACT_PRICE") -> dict[str, Any]:
    """A GET /capi/v3/openAlgoOrders row, key for key as recorded ("fetch open swap trigger orders").
    The sim keeps one id per stop: algoId = actualOrderId = the orderId its regular row carries
    (real WEEX numbers them separately). A close-position stop's quantity is 0 until it fires."""
    fired = o.status != "NEW"
    return {
        "algoId": str(o.order_id), "clientAlgoId": o.client_order_id, "algoType": "CONDITIONAL",
        "orderType": o.type, "symbol": o.symbol, "side": o.side, "positionSide": position_side(o),
        "timeInForce": "IOC", "quantity": text(o.orig_qty), "algoStatus": ALGO_STATUS.get(o.status, o.status),
        "actualOrderId": str(o.order_id), "actualPrice": text(o.avg_price), "triggerPrice": text(o.stop_price),
        "price": "0", "tpTriggerPrice": None, "tpPrice": None, "slTriggerPrice": None, "slPrice": None,
        "tpOrderType": None, "workingType": working_type, "closePosition": o.close_position,
        "reduceOnly": o.reduce_only, "createTime": str(o.time), "updateTime": str(o.update_time),
        "triggerTime": str(o.update_time) if fired and o.fills else "0",
    }


def order_ack(o: Order) -> dict[str, Any]:
    """The create reply: ids only (the recorded spot reply's shape; the contract reply is not
    recorded), so the status comes from a lookup."""
    return {"symbol": o.symbol, "orderId": str(o.order_id), "clientOrderId": o.client_order_id,
            "transactTime": str(o.time)}


def trade(o: Order, f: Fill) -> dict[str, Any]:
    return {
        "id": str(f.trade_id), "orderId": str(o.order_id), "symbol": o.symbol, "buyer": o.side == "BUY",
        "commission": text(f.commission), "commissionAsset": QUOTE, "maker": f.maker, "price": text(f.price),
        "qty": text(f.qty), "quoteQty": text(f.qty * f.price), "realizedPnl": text(f.realized_pnl),
        "side": o.side, "positionSide": position_side(o), "time": str(f.time),
    }


def income_rows(engine: Engine) -> list[tuple[Income, dict[str, Any]]]:
    """Every ledger entry with the wallet after it (replayed back from today's wallet), oldest first."""
    after = engine.wallet
    rows: list[tuple[Income, dict[str, Any]]] = []
    for i in reversed(engine.income):
        rows.append((i, {
            "billId": str(i.tran_id), "asset": i.asset, "symbol": i.symbol, "income": text(i.income),
            "incomeType": INCOME_TYPES.get(i.income_type, i.income_type.lower()), "balance": text(after),
            "fillFee": text(-i.income) if i.income_type == "COMMISSION" else "0", "time": str(i.time),
            "transferReason": "UNKNOWN_TRANSFER_REASON",
        }))
        after -= i.income
    rows.reverse()
    return rows


__all__ = [
    "ORDER_STATUS", "coin", "contract_balance", "contract_symbol", "contract_ticker", "income_rows", "order",
    "order_ack", "position", "premium_index", "spot_account", "spot_symbol", "spot_ticker", "symbol_config",
    "symbol_price", "trade",
]
