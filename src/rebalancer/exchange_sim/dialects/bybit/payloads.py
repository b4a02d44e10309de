"""Bybit v5 JSON shapes built from the engine's state, key for key as the recorded real payloads
(tests/fixtures/ccxt-recorded/bybit_responses.json), numbers as strings as Bybit sends them.

Units: a Bybit linear contract is one unit of the base coin (ccxt reports contractSize 1), so every
quantity here is in base units; a scenario's contract_size only scales its lot filters into base
units (qtyStep = amount_step x contract_size).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Iterable

from ...engine import ZERO, Engine, Fill, Income, MarketState, Order, plain
from ...scenario import QUOTE

ACCOUNT_UID = 53428851
API_KEY_ID = "4481011"
LAUNCH_TIME = "1584230400000"
# Engine status -> Bybit orderStatus. An order whose unfilled rest expired (market / IOC / FOK) is
# "Cancelled" on a linear contract (PartiallyFilledCanceled exists on spot only).
ORDER_STATUS = {
    "NEW": "New", "PARTIALLY_FILLED": "PartiallyFilled", "FILLED": "Filled",
    "CANCELED": "Cancelled", "EXPIRED": "Cancelled", "REJECTED": "Rejected",
}
FINAL_STATUSES = frozenset({"Filled", "Cancelled", "Rejected", "PartiallyFilledCanceled", "Deactivated"})
TIME_IN_FORCE = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "GTX": "PostOnly"}


def text(value: Decimal | int | None) -> str:
    """Bybit's number text ("0.001", "40000"); "" where Bybit leaves a field empty."""
    return "" if value is None else plain(value)


def base_units(m: MarketState, contracts: Decimal) -> Decimal:
    """A scenario lot figure (counted in contracts) in base units, Bybit's unit."""
    return contracts * getattr(m.spec, "contract_size", Decimal(1))


def side_of(amount: Decimal) -> str:
    return "Buy" if amount > 0 else "Sell" if amount < 0 else ""


# --------------------------------------------------------------------------- markets


def _risk(m: MarketState) -> dict[str, str]:
    return {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.1"}


def spot_instrument(m: MarketState) -> dict[str, Any]:
    spec = m.spec
    return {
        "symbol": m.symbol, "baseCoin": m.asset, "quoteCoin": QUOTE, "innovation": "0", "status": "Trading",
        "marginTrading": "none", "stTag": "0",
        "lotSizeFilter": {
            "basePrecision": text(base_units(m, spec.amount_step)), "quotePrecision": "0.00000001",
            "minOrderQty": text(base_units(m, spec.min_qty)), "maxOrderQty": text(base_units(m, spec.max_qty)),
            "minOrderAmt": text(spec.min_notional), "maxOrderAmt": "2000000",
        },
        "priceFilter": {"tickSize": text(spec.price_tick)},
        "riskParameters": _risk(m),
    }


def linear_instrument(m: MarketState) -> dict[str, Any]:
    spec = m.spec
    tick = spec.price_tick
    return {
        "symbol": m.symbol, "contractType": "LinearPerpetual", "status": "Trading", "baseCoin": m.asset,
        "quoteCoin": QUOTE, "launchTime": LAUNCH_TIME, "deliveryTime": "0", "deliveryFeeRate": "",
        "priceScale": str(max(0, -tick.normalize().as_tuple().exponent)),
        "leverageFilter": {"minLeverage": "1", "maxLeverage": f"{spec.max_leverage}.00", "leverageStep": "0.01"},
        "priceFilter": {"minPrice": text(tick), "maxPrice": text(spec.spot_price * 1000), "tickSize": text(tick)},
        "lotSizeFilter": {
            "maxOrderQty": text(base_units(m, spec.max_qty)), "minOrderQty": text(base_units(m, spec.min_qty)),
            "qtyStep": text(base_units(m, spec.amount_step)),
            "postOnlyMaxOrderQty": text(base_units(m, spec.max_qty)),
            "maxMktOrderQty": text(base_units(m, spec.market_max_qty or spec.max_qty)),
            "minNotionalValue": text(spec.min_notional),
        },
        "unifiedMarginTrade": True, "fundingInterval": spec.funding_interval_hours * 60, "settleCoin": QUOTE,
        "copyTrading": "both", "upperFundingRate": "0.02", "lowerFundingRate": "-0.02", "isPreListing": False,
        "preListingInfo": None, "riskParameters": _risk(m), "displayName": "",
    }


def coin_info(asset: str) -> dict[str, Any]:
    """One /v5/asset/coin/query-info row (ccxt's fetch_currencies reads it even when told not to)."""
    return {
        "name": asset, "coin": asset, "remainAmount": "1000000",
        "chains": [{
            "chainType": asset, "confirmation": "12", "withdrawFee": "0", "depositMin": "0", "withdrawMin": "0",
            "chain": asset, "chainDeposit": "1", "chainWithdraw": "1", "minAccuracy": "8",
            "withdrawPercentageFee": "0", "contractAddress": "",
        }],
    }


def _day_stats(engine: Engine, m: MarketState, last: Decimal, opening: Decimal) -> dict[str, str]:
    """24h figures: the scenario's price is the open, the current price the last trade."""
    volume = sum((o.executed_qty for o in engine.orders if o.symbol == m.symbol), ZERO)
    change = (last - opening) / opening
    return {
        "lastPrice": text(last), "prevPrice24h": text(opening), "price24hPcnt": text(change.quantize(Decimal("1e-6"))),
        "highPrice24h": text(max(last, opening)), "lowPrice24h": text(min(last, opening)),
        "turnover24h": text(volume * last), "volume24h": text(volume),
    }


def _book_size(m: MarketState) -> str:
    return text(m.spec.depth[0] if m.spec.depth else base_units(m, m.spec.min_qty) * 1000)


def spot_ticker(engine: Engine, m: MarketState) -> dict[str, Any]:
    bid, ask = engine.book(m, perp=False)
    stats = _day_stats(engine, m, m.spot_price, m.spec.spot_price)
    return {
        "symbol": m.symbol, "bid1Price": text(bid), "bid1Size": _book_size(m), "ask1Price": text(ask),
        "ask1Size": _book_size(m), **stats, "usdIndexPrice": text(m.spot_price),
    }


def linear_ticker(engine: Engine, m: MarketState) -> dict[str, Any]:
    """A linear ticker; it carries the funding rate, the next funding time and (as Bybit does since
    2025) fundingIntervalHour, the field the recorded ticker predates."""
    bid, ask = engine.book(m)
    stats = _day_stats(engine, m, m.mark_price, m.spec.mark_price)
    open_interest = sum((abs(p.amount) for s, p in engine.positions.items() if s == m.symbol), ZERO)
    return {
        "symbol": m.symbol, "lastPrice": stats["lastPrice"], "indexPrice": text(m.spot_price),
        "markPrice": text(m.mark_price), "prevPrice24h": stats["prevPrice24h"], "price24hPcnt": stats["price24hPcnt"],
        "highPrice24h": stats["highPrice24h"], "lowPrice24h": stats["lowPrice24h"],
        "prevPrice1h": stats["prevPrice24h"], "openInterest": text(open_interest),
        "openInterestValue": text(open_interest * m.mark_price), "turnover24h": stats["turnover24h"],
        "volume24h": stats["volume24h"], "fundingRate": text(m.funding_rate),
        "nextFundingTime": str(engine.next_funding_time(m)), "predictedDeliveryPrice": "", "basisRate": "",
        "deliveryFeeRate": "", "deliveryTime": "0", "ask1Size": _book_size(m), "bid1Price": text(bid),
        "ask1Price": text(ask), "bid1Size": _book_size(m), "basis": "", "preOpenPrice": "", "preQty": "",
        "curPreListingPhase": "", "fundingIntervalHour": str(m.spec.funding_interval_hours),
    }


def risk_limits(m: MarketState) -> list[dict[str, Any]]:
    """The scenario's maintenance tiers as Bybit risk limits: riskLimitValue is a tier's notional cap,
    maintenanceMargin its rate, initialMargin 1 / maxLeverage, mmDeduction its cum."""
    return [
        {"id": b.bracket, "symbol": m.symbol, "riskLimitValue": text(b.cap), "maintenanceMargin": text(b.mmr),
         "initialMargin": text(Decimal(1) / b.max_leverage), "isLowestRisk": 1 if i == 0 else 0,
         "maxLeverage": f"{b.max_leverage}.00", "mmDeduction": text(b.cum)}
        for i, b in enumerate(m.spec.brackets)
    ]


# --------------------------------------------------------------------------- account


def wallet_balance(engine: Engine, now: int) -> dict[str, Any]:
    """The one UNIFIED account. USDT is the only collateral: its walletBalance is the futures wallet
    plus spot USDT; every other coin is the engine's spot balance, not collateral. The account
    totals are the engine's AccountRisk (plus spot USDT where Bybit counts the wallet)."""
    a = engine.account()
    spot_usdt = engine.spot_balances.get(QUOTE, ZERO)
    wallet = a.wallet + spot_usdt
    equity = a.margin_balance + spot_usdt
    im, mm = a.initial_margin, a.maint_margin
    usdt = {
        "availableToBorrow": "", "bonus": "0", "accruedInterest": "0", "availableToWithdraw": "",
        "totalOrderIM": text(a.open_order_initial_margin), "equity": text(equity),
        "totalPositionMM": text(mm), "usdValue": text(equity), "unrealisedPnl": text(a.unrealized_pnl),
        "collateralSwitch": True, "spotHedgingQty": "0", "borrowAmount": "0", "totalPositionIM": text(a.position_initial_margin),
        "walletBalance": text(wallet), "cumRealisedPnl": text(_cum_realised(engine.income)), "locked": "0",
        "marginCollateral": True, "coin": QUOTE,
    }
    coins = [usdt]
    for asset, amount in engine.spot_balances.items():
        if asset == QUOTE:
            continue
        market = engine.markets.get(asset + QUOTE)
        usd = text(amount * market.spot_price) if market is not None else ""
        coins.append({
            "availableToBorrow": "", "bonus": "0", "accruedInterest": "0", "availableToWithdraw": "",
            "totalOrderIM": "0", "equity": text(amount), "totalPositionMM": "0", "usdValue": usd,
            "unrealisedPnl": "0", "collateralSwitch": False, "spotHedgingQty": "0", "borrowAmount": "0",
            "totalPositionIM": "0", "walletBalance": text(amount), "cumRealisedPnl": "0", "locked": "0",
            "marginCollateral": False, "coin": asset,
        })
    ratio = (lambda x: text((x / equity).quantize(Decimal("1e-4")))) if equity > 0 else (lambda x: "0")
    account = {
        "totalEquity": text(equity), "accountIMRate": ratio(im), "totalMarginBalance": text(equity),
        "totalInitialMargin": text(im), "accountType": "UNIFIED",
        "totalAvailableBalance": text(max(ZERO, equity - im)), "accountMMRate": ratio(mm),
        "totalPerpUPL": text(a.unrealized_pnl), "totalWalletBalance": text(wallet), "accountLTV": "0",
        "totalMaintenanceMargin": text(mm), "coin": coins,
    }
    return {"list": [account]}


def _cum_realised(incomes: Iterable[Income], symbol: str | None = None) -> Decimal:
    """Bybit's cumRealisedPnl: realised P&L net of fees and funding."""
    return sum((i.income for i in incomes if symbol is None or i.symbol == symbol), ZERO)


def position(engine: Engine, symbol: str, now: int) -> dict[str, Any]:
    """One /v5/position/list row (one-way: positionIdx 0, cross: tradeMode 0); a flat row has side ""
    and empty value fields, as Bybit sends it."""
    r = engine.position_risk(symbol)
    m = engine.markets[symbol]
    flat = r.amount == 0
    bracket = m.spec.bracket_for(abs(r.notional))
    stop_loss = next((o.stop_price for o in engine.open_orders(symbol) if is_stop(o) and o.close_position), None)
    return {
        "symbol": symbol, "leverage": str(r.leverage), "autoAddMargin": "0",
        "avgPrice": "0" if flat else text(r.entry_price),
        "liqPrice": "" if r.liquidation_price is None else text(r.liquidation_price.quantize(m.spec.price_tick)),
        "riskLimitValue": text(engine.max_notional(symbol)), "takeProfit": "",
        "positionValue": "" if flat else text(abs(r.amount) * r.entry_price), "isReduceOnly": False,
        "tpslMode": "Full", "riskId": bracket.bracket, "trailingStop": "0",
        "unrealisedPnl": "" if flat else text(r.unrealized_pnl), "markPrice": text(r.mark_price),
        "adlRankIndicator": "0" if flat else "2", "cumRealisedPnl": text(_cum_realised(engine.income, symbol)),
        "positionMM": text(r.maint_margin), "createdTime": LAUNCH_TIME, "positionIdx": 0,
        "positionIM": text(r.initial_margin), "seq": r.update_time, "updatedTime": str(r.update_time or now),
        "side": side_of(r.amount), "bustPrice": "", "positionBalance": text(r.initial_margin),
        "leverageSysUpdatedTime": "", "size": text(abs(r.amount)), "positionStatus": "Normal",
        "mmrSysUpdatedTime": "", "stopLoss": text(stop_loss) if stop_loss is not None else "", "tradeMode": 0,
    }


# --------------------------------------------------------------------------- orders and executions


def order_id(order: Order) -> str:
    return str(order.order_id)


def is_stop(order: Order) -> bool:
    return order.type == "STOP_MARKET"


def stop_status(order: Order) -> str:
    """A conditional order's orderStatus: Untriggered while it rests; once fired, the market order's
    outcome under the same orderId (Filled); Deactivated when cancelled (by the user, or because its
    reduce-only position is gone) before it fired."""
    if order.is_open:
        return "Untriggered"
    if order.status in ("CANCELED", "EXPIRED") and not order.executed_qty:
        return "Deactivated"
    return ORDER_STATUS.get(order.status, order.status)


def order_json(order: Order, stop: dict[str, Any] | None = None) -> dict[str, Any]:
    """One /v5/order/realtime|history row for a linear order. Keys beyond the recorded (spot) row:
    tpslMode (ccxt reads its presence as "a contract order"), cumFeeDetail (the fee ccxt parses)
    and createType, all of which Bybit sends for linear orders.

    A conditional (stop) order: orderType Market, triggerPrice / triggerDirection (1 rising: a buy
    stop; 2 falling: a sell stop) / triggerBy as placed, stopOrderType "Stop", closeOnTrigger as
    sent (`stop`: the dialect's record of triggerBy / closeOnTrigger)."""
    conditional = is_stop(order)
    status = stop_status(order) if conditional else ORDER_STATUS.get(order.status, order.status)
    leaves = ZERO if status in FINAL_STATUSES else order.orig_qty - order.executed_qty
    is_limit = order.type == "LIMIT"
    expired = order.status == "EXPIRED"
    stop = stop or {}
    if conditional:
        cancel_type = {"CANCELED": "CancelByUser", "EXPIRED": "CancelByReduceOnly"}.get(order.status, "UNKNOWN")
        reject_reason = "EC_NoError"
    else:
        cancel_type = "CancelByUser" if order.status == "CANCELED" else "UNKNOWN"
        reject_reason = "EC_CancelForNoFullFill" if expired else "EC_NoError"
    return {
        "symbol": order.symbol, "orderType": "Limit" if is_limit else "Market",
        # A position's Full-mode stop loss has no orderLinkId on Bybit.
        "orderLinkId": "" if order.close_position else order.client_order_id,
        "slLimitPrice": "0", "orderId": order_id(order),
        "cancelType": cancel_type,
        "avgPrice": text(order.avg_price) if order.executed_qty else "", "stopOrderType": ("StopLoss" if order.close_position else "Stop") if conditional else "",
        "lastPriceOnCreated": "", "orderStatus": status, "takeProfit": "", "cumExecValue": text(order.cum_quote),
        "smpType": "None", "triggerDirection": (1 if order.side == "BUY" else 2) if conditional else 0,
        "blockTradeId": "", "rejectReason": reject_reason, "isLeverage": "",
        "price": text(order.price) if is_limit else "0", "orderIv": "", "createdTime": str(order.time),
        "tpTriggerBy": "", "positionIdx": 0, "timeInForce": TIME_IN_FORCE.get(order.time_in_force, "IOC")
        if is_limit else "IOC", "leavesValue": text(leaves * order.price) if is_limit else "0",
        "updatedTime": str(order.update_time), "side": "Buy" if order.side == "BUY" else "Sell", "smpGroup": 0,
        "triggerPrice": text(order.stop_price) if conditional else "", "tpLimitPrice": "",
        "cumExecFee": text(order.commission), "slTriggerBy": "",
        "leavesQty": text(leaves),
        "closeOnTrigger": bool(stop.get("closeOnTrigger", order.close_position)) if conditional else False,
        "placeType": "", "cumExecQty": text(order.executed_qty),
        "reduceOnly": order.reduce_only, "qty": text(order.orig_qty), "stopLoss": "", "marketUnit": "",
        "smpOrderId": "", "triggerBy": stop.get("triggerBy", "LastPrice") if conditional else "",
        "tpslMode": "Full" if order.close_position else "",
        "createType": "CreateByStopLoss" if order.close_position else "CreateByUser",
        "cumFeeDetail": {QUOTE: text(order.commission)} if order.commission else {},
    }


def _execution(symbol: str, exec_type: str, exec_id: str, exec_time: int, fee: Decimal, **fields: Any) -> dict[str, Any]:
    row = {
        "symbol": symbol, "orderType": "UNKNOWN", "underlyingPrice": "", "orderLinkId": "", "orderId": "",
        "stopOrderType": "UNKNOWN", "execTime": str(exec_time), "feeCurrency": QUOTE, "createType": "",
        "feeRate": "", "tradeIv": "", "blockTradeId": "", "markPrice": "", "execPrice": "", "markIv": "",
        "orderQty": "0", "orderPrice": "0", "execValue": "", "closedSize": "", "execType": exec_type, "seq": 0,
        "side": "", "indexPrice": "", "leavesQty": "0", "isMaker": False, "execFee": text(fee), "execId": exec_id,
        "marketUnit": "", "execQty": "",
    }
    row.update(fields)
    return row


def trade_execution(order: Order, fill: Fill, leaves: Decimal, fee_rate: Decimal) -> dict[str, Any]:
    """A fill as a Trade execution: execFee is the commission paid (positive)."""
    return _execution(
        order.symbol, "Trade", str(fill.trade_id), fill.time, fill.commission,
        orderType="Limit" if order.type == "LIMIT" else "Market", orderLinkId=order.client_order_id,
        orderId=order_id(order), createType="CreateByUser", feeRate=text(fee_rate), execPrice=text(fill.price),
        orderQty=text(order.orig_qty), orderPrice=text(order.price) if order.type == "LIMIT" else "0",
        execValue=text(fill.qty * fill.price), seq=fill.trade_id, side="Buy" if order.side == "BUY" else "Sell",
        leavesQty=text(leaves), isMaker=fill.maker, execQty=text(fill.qty),
        stopOrderType=("StopLoss" if order.close_position else "Stop") if is_stop(order) else "",
    )


def funding_execution(income: Income) -> dict[str, Any]:
    """A funding payment as a Funding execution. Bybit's sign: execFee > 0 is paid, < 0 received,
    i.e. minus the engine's income. The engine keeps only the amount of a payment, so the rate,
    size and price fields Bybit fills in are empty here (never invented)."""
    return _execution(income.symbol, "Funding", f"funding-{income.tran_id}", income.time, -income.income,
                      orderId=f"funding-{income.tran_id}", seq=income.tran_id)


def ledger_rows(engine: Engine, wallet_now: Decimal) -> list[dict[str, Any]]:
    """/v5/account/transaction-log rows, oldest first: funding as SETTLEMENT (funding = change = the
    income, signed from the account's side), each trade as one TRADE row (cashFlow = realised P&L,
    fee = commission, change = cashFlow - fee). cashBalance is the USDT balance after the row,
    counted back from today's balance (exact while the wallet moves only by these entries)."""
    fills = {str(f.trade_id): (o, f) for o in engine.orders for f in o.fills}
    grouped: dict[str, list[Income]] = {}
    rows: list[tuple[int, str, dict[str, Any]]] = []
    for income in engine.income:
        if income.income_type in ("REALIZED_PNL", "COMMISSION") and income.trade_id:
            grouped.setdefault(income.trade_id, []).append(income)
        elif income.income_type == "FUNDING_FEE":
            rows.append((income.tran_id, "SETTLEMENT", {
                "symbol": income.symbol, "side": "", "funding": text(income.income), "orderLinkId": "",
                "orderId": "", "fee": "0", "change": text(income.income), "cashFlow": "0",
                "transactionTime": str(income.time), "type": "SETTLEMENT", "feeRate": "", "bonusChange": "",
                "size": "", "qty": "", "currency": QUOTE, "id": f"{income.tran_id}_{income.symbol}",
                "category": "linear", "tradePrice": "", "tradeId": f"funding-{income.tran_id}",
                "_change": income.income,
            }))
    for trade_id, entries in grouped.items():
        realised = sum((e.income for e in entries if e.income_type == "REALIZED_PNL"), ZERO)
        fee = -sum((e.income for e in entries if e.income_type == "COMMISSION"), ZERO)
        order, fill = fills.get(trade_id, (None, None))
        first = entries[0]
        rows.append((min(e.tran_id for e in entries), "TRADE", {
            "symbol": first.symbol, "side": "" if order is None else ("Buy" if order.side == "BUY" else "Sell"),
            "funding": "", "orderLinkId": "" if order is None else order.client_order_id,
            "orderId": "" if order is None else order_id(order), "fee": text(fee), "change": text(realised - fee),
            "cashFlow": text(realised), "transactionTime": str(first.time), "type": "TRADE",
            "feeRate": "" if fill is None or not fill.qty else text(fee / (fill.qty * fill.price)),
            "bonusChange": "", "size": "", "qty": "" if fill is None else text(fill.qty), "currency": QUOTE,
            "id": f"{first.tran_id}_{first.symbol}_{trade_id}", "category": "linear",
            "tradePrice": "" if fill is None else text(fill.price), "tradeId": trade_id, "_change": realised - fee,
        }))
    rows.sort(key=lambda row: row[0])
    balance = wallet_now
    out: list[dict[str, Any]] = []
    for _, _, row in reversed(rows):
        change = row.pop("_change")
        row["cashBalance"] = text(balance)
        balance -= change
        out.append(row)
    out.reverse()
    return out


__all__ = [
    "FINAL_STATUSES", "ORDER_STATUS", "base_units", "is_stop", "stop_status", "coin_info", "funding_execution", "ledger_rows", "linear_instrument",
    "linear_ticker", "order_json", "position", "risk_limits", "spot_instrument", "spot_ticker", "text",
    "trade_execution", "wallet_balance",
]
