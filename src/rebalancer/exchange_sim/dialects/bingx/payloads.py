"""BingX JSON shapes built from the engine's state, key for key as the recorded real payloads
(tests/fixtures/ccxt-recorded/bingx_responses.json and bingx_markets.json), numbers as strings as
BingX sends most of them.

Units: a BingX USDT-M perpetual is traded in the base coin (ccxt sets contractSize 1 on every
linear swap and sends `quantity` in base units), so every quantity here is in base units; a
scenario's contract_size only scales its lot filters (tradeMinQuantity = min_qty x contract_size).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from ...engine import ZERO, Engine, Fill, Income, MarketState, Order, Transfer, decimals_of, plain
from ...scenario import QUOTE

USER_ID = "116***295"
SHORT_UID = "12851936"
# Engine status -> BingX swap status. An order whose unfilled rest expired (market / IOC / FOK) is
# CANCELLED; a refused one FAILED (ccxt: canceled).
ORDER_STATUS = {
    "NEW": "NEW", "PARTIALLY_FILLED": "PARTIALLY_FILLED", "FILLED": "FILLED",
    "CANCELED": "CANCELLED", "EXPIRED": "CANCELLED", "REJECTED": "FAILED",
}
TIME_IN_FORCE = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "GTX": "PostOnly"}
_ASIA_SHANGHAI = timezone(timedelta(hours=8))


def text(value: Decimal | int | None) -> str:
    return "" if value is None else plain(value)


def market_id(m: MarketState) -> str:
    """BingX's id: BTC-USDT (spot and swap alike)."""
    return f"{m.asset}-{QUOTE}"


def engine_symbol(venue_id: str) -> str:
    """BTC-USDT -> the engine's BTCUSDT (unknown shapes pass through and fail the market lookup)."""
    return venue_id.replace("-", "")


# --------------------------------------------------------------------------- markets


def swap_contract(m: MarketState, index: int, fee_rate: Decimal, maker_rate: Decimal) -> dict[str, Any]:
    """One /openApi/swap/v2/quote/contracts row. quantityPrecision/pricePrecision are decimals (ccxt
    turns them into 10^-n steps), so a scenario step must be a power of ten to be expressed exactly."""
    spec = m.spec
    return {
        "contractId": str(100 + index), "symbol": market_id(m), "size": "0",
        "quantityPrecision": str(decimals_of(spec.base_step)), "pricePrecision": str(decimals_of(spec.price_tick)),
        "feeRate": text(fee_rate), "makerFeeRate": text(maker_rate), "takerFeeRate": text(fee_rate),
        "tradeMinLimit": "0", "tradeMinQuantity": text(spec.base_min_qty), "tradeMinUSDT": text(spec.min_notional),
        "maxLongLeverage": str(spec.max_leverage), "maxShortLeverage": str(spec.max_leverage), "currency": QUOTE,
        "asset": m.asset, "status": "1", "apiStateOpen": "true", "apiStateClose": "true", "ensureTrigger": True,
        "triggerFeeRate": "0.00020000",
    }


def spot_symbol(m: MarketState) -> dict[str, Any]:
    spec = m.spec
    return {
        "symbol": market_id(m), "minQty": text(spec.base_min_qty), "maxQty": text(spec.base_max_qty),
        "minNotional": text(spec.min_notional), "maxNotional": "5000000", "status": "1",
        "tickSize": text(spec.price_tick), "stepSize": text(spec.base_step), "apiStateSell": True,
        "apiStateBuy": True, "timeOnline": "0",
    }


def currency(asset: str) -> dict[str, Any]:
    """One /openApi/wallets/v1/capital/config/getall row (ccxt's fetch_currencies, signed)."""
    return {"coin": asset, "name": asset, "networkList": [{
        "name": asset, "network": asset, "isDefault": True, "minConfirm": 12, "withdrawEnable": True,
        "depositEnable": True, "withdrawFee": "0", "withdrawMax": "1000000", "withdrawMin": "0",
        "depositMin": "0", "withdrawPrecision": 8,
    }]}


def _book_size(m: MarketState) -> str:
    return text(m.spec.depth[0] if m.spec.depth else m.spec.base_min_qty * 1000)


def spot_ticker(engine: Engine, m: MarketState, now: int) -> dict[str, Any]:
    """One /openApi/spot/v1/ticker/24hr row: the scenario's price is the open, the current one the last."""
    bid, ask = engine.book(m, perp=False)
    last, opening = m.spot_price, m.spec.spot_price
    change = last - opening
    return {
        "symbol": market_id(m), "openPrice": text(opening), "highPrice": text(max(last, opening)),
        "lowPrice": text(min(last, opening)), "lastPrice": text(last), "priceChange": text(change),
        "priceChangePercent": f"{plain((change / opening * 100).quantize(Decimal('0.01')))}%",
        "volume": "0", "quoteVolume": "0", "openTime": str(now - 86_400_000), "closeTime": str(now),
        "askPrice": text(ask), "askQty": _book_size(m), "bidPrice": text(bid), "bidQty": _book_size(m),
    }


def premium_index(engine: Engine, m: MarketState, now: int) -> dict[str, Any]:
    """One /openApi/swap/v2/quote/premiumIndex row: mark, index, funding rate, next time and interval."""
    return {
        "symbol": market_id(m), "markPrice": text(m.mark_price), "indexPrice": text(m.spot_price),
        "lastFundingRate": text(m.funding_rate), "nextFundingTime": engine.next_funding_time(m),
        "fundingIntervalHours": m.spec.funding_interval_hours, "updateTime": now,
    }


def maint_margin_tiers(m: MarketState) -> list[dict[str, Any]]:
    """/openApi/swap/v1/maintMarginRatio: the scenario's brackets (notional floor/cap, mmr, cum)."""
    return [
        {"tier": f"Tier {b.bracket}", "symbol": market_id(m), "minPositionVal": text(b.floor),
         "maxPositionVal": text(b.cap), "maintMarginRatio": f"{b.mmr:.6f}", "maintAmount": f"{b.cum:.6f}"}
        for b in m.spec.brackets
    ]


# --------------------------------------------------------------------------- account


def spot_balances(engine: Engine) -> list[dict[str, Any]]:
    return [{"asset": asset, "free": text(amount), "locked": "0"} for asset, amount in engine.spot_balances.items()]


def swap_balance(engine: Engine) -> list[dict[str, Any]]:
    """/openApi/swap/v3/user/balance: the USDT perpetual account (the engine's futures wallet; spot
    is a separate BingX account). equity = wallet + uPnL; usedMargin the positions' initial margin,
    freezedMargin the open orders'; ccxt reads free = availableMargin, used = usedMargin and
    total = maxWithdrawAmount."""
    a = engine.account()
    realised = sum((i.income for i in engine.income if i.income_type == "REALIZED_PNL"), ZERO)
    return [{
        "userId": USER_ID, "asset": QUOTE, "balance": text(a.wallet), "equity": text(a.margin_balance),
        "unrealizedProfit": text(a.unrealized_pnl), "realisedProfit": text(realised),
        "availableMargin": text(a.available_balance), "usedMargin": text(a.position_initial_margin),
        "freezedMargin": text(a.open_order_initial_margin), "maxWithdrawAmount": text(a.max_withdraw),
        "shortUid": SHORT_UID,
    }]


def position(engine: Engine, m: MarketState, now: int) -> dict[str, Any]:
    """One /openApi/swap/v2/user/positions row of an open one-way position: positionAmt unsigned,
    positionSide LONG or SHORT (as every recorded row), cross margin (isolated false)."""
    r = engine.position_risk(m.symbol)
    equity = engine.account().margin_balance
    realised = sum((i.income for i in engine.income if i.symbol == m.symbol), ZERO)
    return {
        "positionId": str(1_773_289_330_136_281_088 + len(m.symbol)), "symbol": market_id(m), "currency": QUOTE,
        "positionAmt": text(abs(r.amount)), "availableAmt": text(abs(r.amount)),
        "positionSide": "LONG" if r.amount > 0 else "SHORT", "isolated": False, "avgPrice": text(r.entry_price),
        "initialMargin": text(r.initial_margin), "leverage": str(r.leverage), "unrealizedProfit": text(r.unrealized_pnl),
        "realisedProfit": text(realised),
        "liquidationPrice": "0" if r.liquidation_price is None else text(r.liquidation_price.quantize(m.spec.price_tick)),
        "pnlRatio": text((r.unrealized_pnl / r.initial_margin).quantize(Decimal("1e-4"))) if r.initial_margin else "0",
        "maxMarginReduction": "0.0000",
        "riskRate": text((r.maint_margin / equity).quantize(Decimal("1e-4"))) if equity > 0 else "0",
        "markPrice": text(r.mark_price), "positionValue": text(abs(r.notional)), "onlyOnePosition": True,
        "updateTime": r.update_time or now,
    }


# --------------------------------------------------------------------------- orders and fills


def order_id(order: Order) -> str:
    return str(order.order_id)


def _tp_sl() -> dict[str, Any]:
    return {"type": "", "quantity": "0", "stopPrice": "0", "price": "0", "workingType": "", "stopGuaranteed": ""}


def order_json(order: Order, m: MarketState, leverage: int, venue_type: str | None = None) -> dict[str, Any]:
    """One order as /openApi/swap/v2/trade/order (GET), openOrders and the cancel reply give it. A
    conditional order (engine STOP_MARKET) shows its BingX type (`venue_type`: TRIGGER_MARKET or
    STOP_MARKET) and its stopPrice, as the recorded stop-loss fetchOrder; the same order id fills
    when it fires (status FILLED, executedQty, avgPrice)."""
    is_limit = order.type == "LIMIT"
    is_stop = order.type == "STOP_MARKET"
    return {
        "symbol": market_id(m), "orderId": order_id(order), "side": order.side, "positionSide": "BOTH",
        "type": (venue_type or "TRIGGER_MARKET") if is_stop else order.type, "origQty": text(order.orig_qty),
        "price": text(order.price) if is_limit else "0",
        "executedQty": text(order.executed_qty), "avgPrice": text(order.avg_price) if order.executed_qty else "0.00",
        "cumQuote": text(order.cum_quote), "stopPrice": text(order.stop_price) if is_stop else "",
        "profit": text(order.realized_pnl),
        "commission": text(-order.commission), "status": ORDER_STATUS.get(order.status, order.status),
        "time": str(order.time), "updateTime": str(order.update_time), "clientOrderId": order.client_order_id,
        "leverage": f"{leverage}X", "takeProfit": _tp_sl(), "stopLoss": _tp_sl(), "advanceAttr": "0",
        "positionID": "0", "takeProfitEntrustPrice": "0", "stopLossEntrustPrice": "0", "orderType": "",
        "workingType": "MARK_PRICE", "onlyOnePosition": True, "reduceOnly": order.reduce_only,
        "postOnly": order.time_in_force == "GTX", "stopGuaranteed": "false", "triggerOrderId": "0",
        "trailingStopRate": "0", "trailingStopDistance": "0",
    }


def created_order(order: Order, m: MarketState, venue_type: str | None = None,
                  reduce_only: bool | None = None) -> dict[str, Any]:
    """The create reply's data.order: the request echoed with the ids, no status (as BingX's; the
    recorded trigger and take-profit creates: type, quantity, stopPrice, reduceOnly as sent)."""
    is_limit = order.type == "LIMIT"
    is_stop = order.type == "STOP_MARKET"
    return {
        "orderId": order_id(order), "symbol": market_id(m), "positionSide": "BOTH", "side": order.side,
        "type": (venue_type or "TRIGGER_MARKET") if is_stop else order.type,
        "price": text(order.price) if is_limit else "0", "quantity": text(order.orig_qty),
        "stopPrice": text(order.stop_price) if is_stop else "0", "workingType": "MARK_PRICE",
        "clientOrderID": order.client_order_id,
        "timeInForce": TIME_IN_FORCE.get(order.time_in_force, "GTC") if is_limit else "GTC", "priceRate": "0",
        "stopLoss": "", "takeProfit": "", "reduceOnly": order.reduce_only if reduce_only is None else reduce_only,
        "activationPrice": "0", "closePosition": "true" if order.close_position else "", "stopGuaranteed": "",
    }


# ccxt's transfer account ids (options.accountsByType) -> the engine's wallets: spot and the USDT-M
# perpetual account; the funding, standard-futures and coin-M accounts are not simulated.
WALLETS = {"spot": "spot", "USDTMPerp": "futures"}
ACCOUNT_IDS = {v: k for k, v in WALLETS.items()}


def transfer_record(transfer: Transfer) -> dict[str, Any]:
    """One /openApi/api/v3/asset/transferRecord row (ccxt's parse_transfer reads these keys)."""
    return {
        "asset": transfer.asset, "amount": f"{transfer.amount:.20f}", "status": "CONFIRMED",
        "transferId": transfer_id(transfer), "timestamp": transfer.time,
        "fromAccount": ACCOUNT_IDS[transfer.source], "toAccount": ACCOUNT_IDS[transfer.target],
    }


def transfer_id(transfer: Transfer) -> str:
    return str(1_051_461_075_000_000_000_000 + transfer.tran_id)


def fill_order(order: Order, fill: Fill, m: MarketState) -> dict[str, Any]:
    """One /openApi/swap/v2/trade/allFillOrders row: volume in base units, commission negative (paid)."""
    when = datetime.fromtimestamp(fill.time / 1000, tz=timezone.utc)
    return {
        "filledTm": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "volume": text(fill.qty), "price": text(fill.price),
        "amount": text(fill.qty * fill.price), "commission": text(-fill.commission), "currency": QUOTE,
        "orderId": order_id(order), "liquidatedPrice": "", "liquidatedMarginRatio": "",
        "filledTime": when.astimezone(_ASIA_SHANGHAI).strftime("%Y-%m-%dT%H:%M:%S.000+0800"),
        "clientOrderID": order.client_order_id, "symbol": market_id(m), "onlyOnePosition": True,
    }


def income_row(income: Income, m: MarketState | None) -> dict[str, Any]:
    """One /openApi/swap/v2/user/income row (FUNDING_FEE, TRADING_FEE, REALIZED_PNL, and TRANSFER,
    a wallet transfer in or out of the perpetual account: no symbol, `m` None)."""
    kind = {"COMMISSION": "TRADING_FEE"}.get(income.income_type, income.income_type)
    return {
        "symbol": market_id(m) if m is not None else "", "incomeType": kind, "income": text(income.income),
        "asset": income.asset,
        "info": {"FUNDING_FEE": "Funding Fee", "TRADING_FEE": "Trading Fee", "TRANSFER": "Transfer"}.get(
            kind, "Realized PnL"),
        "time": str(income.time), "tranId": f"{income.tran_id}", "tradeId": income.trade_id or f"{income.tran_id}",
    }


__all__ = [
    "ACCOUNT_IDS", "WALLETS", "ORDER_STATUS", "created_order", "transfer_id", "transfer_record", "currency", "engine_symbol", "fill_order", "income_row", "maint_margin_tiers",
    "market_id", "order_id", "order_json", "position", "premium_index", "spot_balances", "spot_symbol",
    "spot_ticker", "swap_balance", "swap_contract", "text",
]
