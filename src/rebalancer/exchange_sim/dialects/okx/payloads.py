"""OKX v5 JSON bodies built from the engine's state: instruments, balances, positions, orders, fills,
bills, tickers, funding and tiers, key for key as the recorded OKX replies (tests/fixtures/ccxt-recorded).

Every swap size on the wire (sz, pos, accFillSz, fillSz, minSz, lotSz) is in contracts; the engine
keeps base units (base = contracts x ctVal). Numbers are strings, an absent number is "" (OKX's way),
never "0".
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from typing import Any, Iterable

from ...engine import Engine, Fill, MarketState, Order, plain
from ...scenario import QUOTE
from .codes import OkxError

ZERO = Decimal(0)
LIST_TIME = "1611907686000"
ACCOUNT_UID = "44705892343619584"

STATES = {"NEW": "live", "PARTIALLY_FILLED": "partially_filled", "FILLED": "filled",
          "CANCELED": "canceled", "EXPIRED": "canceled"}
# OKX ordType <-> engine (type, time in force)
ORD_TYPES: dict[str, tuple[str, str | None]] = {
    "market": ("MARKET", None), "optimal_limit_ioc": ("MARKET", None), "limit": ("LIMIT", "GTC"),
    "ioc": ("LIMIT", "IOC"), "fok": ("LIMIT", "FOK"), "post_only": ("LIMIT", "GTX"),
}
_ORD_TYPE_OF = {("LIMIT", "GTC"): "limit", ("LIMIT", "IOC"): "ioc", ("LIMIT", "FOK"): "fok",
                ("LIMIT", "GTX"): "post_only"}


def text(value: Decimal | int | None) -> str:
    """A number as OKX prints it ("40000", "0.01"); None (unknown) as ""."""
    return "" if value is None else plain(value)


def ms(value: int) -> str:
    return str(value)


# --------------------------------------------------------------------------- ids


def spot_id(m: MarketState) -> str:
    return f"{m.asset}-{QUOTE}"


def swap_id(m: MarketState) -> str:
    return f"{m.asset}-{QUOTE}-SWAP"


def family(m: MarketState) -> str:
    return f"{m.asset}-{QUOTE}"


def resolve(engine: Engine, inst_id: str) -> tuple[MarketState, bool]:
    """instId -> (market, is_swap); 51001 for anything the scenario does not list."""
    parts = inst_id.split("-")
    swap = len(parts) == 3 and parts[2] == "SWAP"
    if not (len(parts) == 2 or swap) or parts[1] != QUOTE:
        raise OkxError("51001")
    m = engine.markets.get(parts[0] + QUOTE)
    if m is None or (swap and not m.spec.perp) or (not swap and not m.spec.spot):
        raise OkxError("51001")
    return m, swap


def contracts(m: MarketState, base: Decimal) -> Decimal:
    return base / m.spec.contract_size


def base_units(m: MarketState, sz: Decimal) -> Decimal:
    return sz * m.spec.contract_size


# --------------------------------------------------------------------------- instruments


def spot_instrument(m: MarketState) -> dict[str, Any]:
    spec = m.spec
    return {
        "alias": "", "auctionEndTime": "", "baseCcy": m.asset, "category": "1", "contTdSwTime": "",
        "ctMult": "", "ctType": "", "ctVal": "", "ctValCcy": "", "expTime": "", "futureSettlement": False,
        "instFamily": "", "instId": spot_id(m), "instIdCode": 0, "instType": "SPOT", "lever": "",
        "listTime": LIST_TIME, "lotSz": text(spec.base_step), "maxIcebergSz": text(spec.base_max_qty),
        "maxLmtAmt": "20000000", "maxLmtSz": text(spec.base_max_qty), "maxMktAmt": "1000000",
        "maxMktSz": "1000000", "maxStopSz": "1000000", "maxTriggerSz": text(spec.base_max_qty),
        "maxTwapSz": text(spec.base_max_qty), "minSz": text(spec.base_min_qty), "openType": "",
        "optType": "", "quoteCcy": QUOTE, "ruleType": "normal", "settleCcy": "", "state": "live",
        "stk": "", "tickSz": text(spec.price_tick), "tradeQuoteCcyList": [QUOTE], "uly": "",
    }


def swap_instrument(m: MarketState) -> dict[str, Any]:
    spec = m.spec
    assert spec.market_max_qty is not None
    return {
        "alias": "", "auctionEndTime": "", "baseCcy": "", "category": "1", "contTdSwTime": "",
        "ctMult": "1", "ctType": "linear", "ctVal": text(spec.contract_size), "ctValCcy": m.asset,
        "expTime": "", "futureSettlement": False, "instFamily": family(m), "instId": swap_id(m),
        "instIdCode": 0, "instType": "SWAP", "lever": str(spec.max_leverage), "listTime": LIST_TIME,
        "lotSz": text(spec.amount_step), "maxIcebergSz": text(spec.max_qty), "maxLmtAmt": "20000000",
        "maxLmtSz": text(spec.max_qty), "maxMktAmt": "", "maxMktSz": text(spec.market_max_qty),
        "maxStopSz": text(spec.market_max_qty), "maxTriggerSz": text(spec.max_qty),
        "maxTwapSz": text(spec.max_qty), "minSz": text(spec.min_qty), "openType": "", "optType": "",
        "quoteCcy": "", "ruleType": "normal", "settleCcy": QUOTE, "state": "live", "stk": "",
        "tickSz": text(spec.price_tick), "tradeQuoteCcyList": [], "uly": family(m),
    }


# --------------------------------------------------------------------------- account


_DETAIL_BLANK = {
    "accAvgPx": "", "borrowFroz": "0", "clSpotInUseAmt": "", "colBorrAutoConversion": "0",
    "collateralRestrict": False, "crossLiab": "0", "fixedBal": "0", "interest": "0", "isoEq": "0",
    "isoLiab": "0", "isoUpl": "0", "liab": "0", "maxLoan": "0", "maxSpotInUse": "", "mgnRatio": "",
    "notionalLever": "", "openAvgPx": "", "rewardBal": "", "smtSyncEq": "0", "spotBal": "",
    "spotCopyTradingEq": "0", "spotInUseAmt": "", "spotIsoBal": "0", "spotUpl": "", "spotUplRatio": "",
    "stgyEq": "0", "totalPnl": "", "totalPnlRatio": "", "twap": "0", "uplLiab": "0",
}


def _ratio(numerator: Decimal, denominator: Decimal) -> str:
    return "" if denominator == 0 else text(numerator / denominator)


def account_balance(engine: Engine, ccy: Iterable[str] | None = None) -> dict[str, Any]:
    """GET /api/v5/account/balance data[0]: a multi-currency margin account (acctLv 3) whose only
    collateral is USDT. USDT = the futures wallet plus the spot USDT, with the positions' uPnL and
    margins; every other coin is a spot holding with no collateral value (disEq 0)."""
    a = engine.account()
    now = ms(max(engine.wallet_update_time, 1))
    spot_usdt = engine.spot_balances.get(QUOTE, ZERO)
    cash = a.wallet + spot_usdt
    eq = cash + a.unrealized_pnl
    imr = a.initial_margin
    avail_eq = max(ZERO, eq - imr)
    notional = sum((abs(p.amount) * engine.markets[s].mark_price for s, p in engine.positions.items()), ZERO)
    usdt = {
        **_DETAIL_BLANK, "availBal": text(max(ZERO, cash - imr)), "availEq": text(avail_eq),
        "cashBal": text(cash), "ccy": QUOTE, "collateralEnabled": True, "disEq": text(eq), "eq": text(eq),
        "eqUsd": text(eq), "frozenBal": text(imr), "imr": text(a.position_initial_margin),
        "mgnRatio": _ratio(eq, a.maint_margin), "mmr": text(a.maint_margin),
        "notionalLever": _ratio(notional, eq) if eq > 0 else "", "ordFrozen": text(a.open_order_initial_margin),
        "uTime": now, "upl": text(a.unrealized_pnl),
    }
    details = [usdt]
    total_usd = eq
    for asset, amount in engine.spot_balances.items():
        if asset == QUOTE:
            continue
        m = engine.markets.get(asset + QUOTE)
        value = amount * m.spot_price if m is not None else None
        if value is not None:
            total_usd += value
        details.append({
            **_DETAIL_BLANK, "availBal": text(amount), "availEq": text(amount), "cashBal": text(amount),
            "ccy": asset, "collateralEnabled": False, "disEq": "0", "eq": text(amount), "eqUsd": text(value),
            "frozenBal": "0", "imr": "", "mmr": "", "ordFrozen": "0", "uTime": now, "upl": "0",
        })
    if ccy is not None:
        wanted = set(ccy)
        details = [d for d in details if d["ccy"] in wanted]
    return {
        "adjEq": text(eq), "availEq": text(avail_eq), "borrowFroz": "0", "details": details,
        "imr": text(imr), "isoEq": "0", "mgnRatio": _ratio(eq, a.maint_margin), "mmr": text(a.maint_margin),
        "notionalUsd": text(notional), "notionalUsdForBorrow": "0", "notionalUsdForFutures": "0",
        "notionalUsdForOption": "0", "notionalUsdForSwap": text(notional),
        "ordFroz": text(a.open_order_initial_margin), "totalEq": text(total_usd), "uTime": now,
        "upl": text(a.unrealized_pnl),
    }


def account_config(engine: Engine) -> dict[str, Any]:
    return {
        "acctLv": "3", "acctStpMode": "cancel_maker", "autoLoan": False, "ctIsoMode": "automatic",
        "enableSpotBorrow": False, "feeType": "0", "greeksType": "PA", "ip": "", "kycLv": "2",
        "label": "exchange-sim", "level": "Lv1", "levelTmp": "", "liquidationGear": "-1",
        "mainUid": ACCOUNT_UID, "mgnIsoMode": "automatic", "opAuth": "1", "perm": "read_only,trade",
        "posMode": "long_short_mode" if engine.dual_side_position else "net_mode", "roleType": "0",
        "settleCcy": QUOTE, "settleCcyList": [QUOTE], "spotBorrowAutoRepay": False, "spotOffsetType": "",
        "spotRoleType": "0", "spotTraderInsts": [], "traderInsts": [], "type": "0", "uid": ACCOUNT_UID,
    }


def _income_sum(engine: Engine, symbol: str, income_type: str) -> Decimal:
    return sum((i.income for i in engine.income if i.symbol == symbol and i.income_type == income_type), ZERO)


def position(engine: Engine, m: MarketState) -> dict[str, Any]:
    """One net-mode cross position; pos is signed contracts. pnl/fee/fundingFee are the symbol's
    totals since the scenario started (the sim keeps no per-position history)."""
    r = engine.position_risk(m.symbol)
    pos = contracts(m, r.amount)
    account = engine.account()
    pnl = _income_sum(engine, m.symbol, "REALIZED_PNL")
    fee = _income_sum(engine, m.symbol, "COMMISSION")
    funding = _income_sum(engine, m.symbol, "FUNDING_FEE")
    margin_balance = account.margin_balance + engine.spot_balances.get(QUOTE, ZERO)
    last_trade = max((f.trade_id for o in engine.orders if o.symbol == m.symbol for f in o.fills), default=None)
    return {
        "adl": "1", "availPos": text(abs(pos)), "avgPx": text(r.entry_price), "baseBal": "", "baseBorrowed": "",
        "baseInterest": "", "bePx": text(r.break_even_price), "bizRefId": "", "bizRefType": "",
        "cTime": ms(r.update_time), "ccy": QUOTE, "clSpotInUseAmt": "", "closeOrderAlgo": [], "deltaBS": "",
        "deltaPA": "", "fee": text(fee), "fundingFee": text(funding), "gammaBS": "", "gammaPA": "",
        "idxPx": text(m.spot_price), "imr": text(r.initial_margin), "instId": swap_id(m), "instType": "SWAP",
        "interest": "", "last": text(m.mark_price), "lever": str(r.leverage), "liab": "", "liabCcy": "",
        "liqPenalty": "0", "liqPx": text(r.liquidation_price), "margin": "", "markPx": text(r.mark_price),
        "maxSpotInUseAmt": "", "mgnMode": "cross", "mgnRatio": _ratio(margin_balance, account.maint_margin),
        "mmr": text(r.maint_margin), "notionalUsd": text(abs(r.notional)), "optVal": "",
        "pendingCloseOrdLiabVal": "", "pnl": text(pnl), "pos": text(pos), "posCcy": "",
        "posId": str(1_000_000 + list(engine.markets).index(m.symbol)), "posSide": "net", "quoteBal": "",
        "quoteBorrowed": "", "quoteInterest": "", "realizedPnl": text(pnl + fee + funding), "spotInUseAmt": "",
        "spotInUseCcy": "", "thetaBS": "", "thetaPA": "", "tradeId": text(last_trade),
        "uTime": ms(r.update_time), "upl": text(r.unrealized_pnl), "uplLastPx": text(r.unrealized_pnl),
        "uplRatio": _ratio(r.unrealized_pnl, r.initial_margin),
        "uplRatioLastPx": _ratio(r.unrealized_pnl, r.initial_margin),
        "usdPx": "", "vegaBS": "", "vegaPA": "",
    }


def leverage_info(m: MarketState) -> dict[str, Any]:
    return {"instId": swap_id(m), "lever": str(m.leverage), "mgnMode": "cross", "posSide": "net"}


def position_tiers(m: MarketState) -> list[dict[str, Any]]:
    """The engine's notional brackets as OKX's size tiers: minSz/maxSz are contracts at the current
    mark price (OKX tiers count contracts; the engine's are USDT notional), imr = 1 / maxLever."""
    per_contract = m.mark_price * m.spec.contract_size
    step = m.spec.amount_step

    def size(notional: Decimal) -> Decimal:
        return (notional / per_contract / step).to_integral_value(ROUND_FLOOR) * step

    return [
        {"baseMaxLoan": "", "imr": text(Decimal(1) / b.max_leverage), "instFamily": family(m), "instId": "",
         "instType": "SWAP", "maxLever": str(b.max_leverage), "maxSz": text(size(b.cap)),
         "minSz": text(size(b.floor)), "mmr": text(b.mmr), "optMgnFactor": "", "quoteMaxLoan": "",
         "tier": str(b.bracket), "uly": family(m)}
        for b in m.spec.brackets
    ]


# --------------------------------------------------------------------------- market data


def _depth_sz(m: MarketState, swap: bool) -> str:
    if swap and m.spec.depth:
        return text(contracts(m, m.spec.depth[0]))
    return text(m.spec.min_qty * 1000)


def ticker(engine: Engine, m: MarketState, swap: bool, now: int) -> dict[str, Any]:
    """24h ticker: the scenario price opens the day, the current price is the last trade."""
    last = m.mark_price if swap else m.spot_price
    opening = m.spec.mark_price if swap else m.spec.spot_price
    bid, ask = engine.book(m, perp=swap)
    volume = sum((o.executed_qty for o in engine.orders if o.symbol == m.symbol), ZERO)
    vol = contracts(m, volume) if swap else volume
    return {
        "instType": "SWAP" if swap else "SPOT", "instId": swap_id(m) if swap else spot_id(m),
        "last": text(last), "lastSz": text(m.spec.min_qty), "askPx": text(ask), "askSz": _depth_sz(m, swap),
        "bidPx": text(bid), "bidSz": _depth_sz(m, swap), "open24h": text(opening),
        "high24h": text(max(last, opening)), "low24h": text(min(last, opening)),
        "volCcy24h": text(volume if swap else volume * last), "vol24h": text(vol), "ts": ms(now),
        "sodUtc0": text(opening), "sodUtc8": text(opening),
    }


def mark_price(m: MarketState, now: int) -> dict[str, Any]:
    return {"instId": swap_id(m), "instType": "SWAP", "markPx": text(m.mark_price), "ts": ms(now)}


def funding_rate(engine: Engine, m: MarketState, now: int) -> dict[str, Any]:
    """No mark price here, as on OKX. fundingTime is the coming settlement, nextFundingTime the one
    after it: their difference is the interval ccxt reports."""
    funding_time = engine.next_funding_time(m)
    interval = m.spec.funding_interval_hours * 3_600_000
    return {
        "formulaType": "withRate", "fundingRate": text(m.funding_rate), "fundingTime": ms(funding_time),
        "impactValue": "", "instId": swap_id(m), "instType": "SWAP", "interestRate": "0.0001",
        "maxFundingRate": "0.00375", "method": "current_period", "minFundingRate": "-0.00375",
        "nextFundingRate": "", "nextFundingTime": ms(funding_time + interval), "premium": "0",
        "settFundingRate": text(m.funding_rate), "settState": "settled", "ts": ms(now),
    }


# --------------------------------------------------------------------------- orders and fills


def ord_type(order: Order) -> str:
    if order.type in ("MARKET", "STOP_MARKET"):  # a fired stop's child order is a market order
        return "market"
    return _ORD_TYPE_OF.get((order.type, order.time_in_force), "limit")


def order(engine: Engine, o: Order, tag: str = "") -> dict[str, Any]:
    """GET /api/v5/trade/order and orders-pending rows; fee is negative (a cost), as OKX signs it."""
    m = engine.markets[o.symbol]
    last = o.fills[-1] if o.fills else None
    stop = o.type == "STOP_MARKET"  # the child order a fired algo order placed: it names its algo order
    return {
        "accFillSz": text(contracts(m, o.executed_qty)), "algoClOrdId": o.client_order_id if stop else "",
        "algoId": algo_id(o) if stop else "",
        "attachAlgoClOrdId": "", "attachAlgoOrds": [], "avgPx": text(o.avg_price) if o.executed_qty else "",
        "cTime": ms(o.fills[0].time if stop and o.fills else o.time), "cancelSource": "",
        "cancelSourceReason": "", "category": "normal", "ccy": "",
        "clOrdId": o.client_order_id, "fee": text(-o.commission), "feeCcy": QUOTE,
        "fillPx": text(last.price) if last else "", "fillSz": text(contracts(m, last.qty)) if last else "0",
        "fillTime": ms(last.time) if last else "", "instId": swap_id(m), "instType": "SWAP",
        "isTpLimit": "false", "lever": str(m.leverage), "linkedAlgoOrd": {"algoId": ""}, "ordId": str(o.order_id),
        "ordType": ord_type(o), "pnl": text(o.realized_pnl), "posSide": "net",
        "px": text(o.price) if o.type == "LIMIT" else "", "pxType": "", "pxUsd": "", "pxVol": "",
        "quickMgnType": "", "rebate": "0", "rebateCcy": QUOTE, "reduceOnly": "true" if o.reduce_only else "false",
        "side": o.side.lower(), "slOrdPx": "", "slTriggerPx": "", "slTriggerPxType": "", "source": "",
        "state": STATES.get(o.status, "canceled"), "stpId": "", "stpMode": "cancel_maker",
        "sz": text(contracts(m, o.orig_qty)), "tag": tag, "tdMode": "cross", "tgtCcy": "", "tpOrdPx": "",
        "tpTriggerPx": "", "tpTriggerPxType": "", "tradeId": str(last.trade_id) if last else "",
        "uTime": ms(o.update_time),
    }


def order_ack(o: Order, tag: str, now: int) -> dict[str, Any]:
    """What POST trade/order and trade/batch-orders answer per order: ids only, no state, as OKX."""
    return {"clOrdId": o.client_order_id, "ordId": str(o.order_id), "sCode": "0", "sMsg": "Order placed",
            "tag": tag, "ts": ms(now)}


def order_failure(client_id: str, tag: str, code: str, msg: str, now: int) -> dict[str, Any]:
    return {"clOrdId": client_id, "ordId": "", "sCode": code, "sMsg": msg, "tag": tag, "ts": ms(now)}


def fill(engine: Engine, o: Order, f: Fill, tag: str = "") -> dict[str, Any]:
    """A row of GET /api/v5/trade/fills(-history); billId is the fill's trade bill (account/bills)."""
    m = engine.markets[o.symbol]
    return {
        "billId": str(f.trade_id), "clOrdId": o.client_order_id, "execType": "M" if f.maker else "T",
        "fee": text(-f.commission), "feeCcy": QUOTE,
        "feeRate": text(-(f.commission / (f.qty * f.price))) if f.qty and f.price else "",
        "fillFwdPx": "", "fillIdxPx": text(m.spot_price), "fillMarkPx": text(m.mark_price), "fillMarkVol": "",
        "fillPnl": text(f.realized_pnl), "fillPx": text(f.price), "fillPxUsd": "", "fillPxVol": "",
        "fillSz": text(contracts(m, f.qty)), "fillTime": ms(f.time), "instId": swap_id(m), "instType": "SWAP",
        "ordId": str(o.order_id), "posSide": "net", "side": o.side.lower(), "subType": "1" if o.side == "BUY" else "2",
        "tag": tag, "tradeId": str(f.trade_id), "ts": ms(f.time),
    }


# --------------------------------------------------------------------------- algo (stop) orders

# An algo order's algoId is the engine's order id plus this; the order it places when it fires (its
# child, the one trade/fills and trade/order name) keeps the engine's id, so the two ids differ as on OKX.
ALGO_ID_OFFSET = 1_000_000_000_000
# algo state: live until it fires, effective once it placed its order, canceled by the user (or, for a
# closeFraction one, with its position); order_failed when it fired with no position left to reduce: its
# reduce-only market order was refused (failCode 51169). ccxt reads order_failed as canceled.
ALGO_STATES = {"NEW": "live", "FILLED": "effective", "CANCELED": "canceled", "EXPIRED": "order_failed"}


def algo_id(o: Order) -> str:
    return str(o.order_id + ALGO_ID_OFFSET)


def engine_order_id(algo: str) -> int | None:
    """algoId -> the engine's order id; None for anything that is not one of ours."""
    if not algo.isdigit() or int(algo) <= ALGO_ID_OFFSET:
        return None
    return int(algo) - ALGO_ID_OFFSET


def algo_order(engine: Engine, o: Order, kind: str, px_type: str, tag: str = "") -> dict[str, Any]:
    """A row of GET trade/orders-algo-pending, orders-algo-history and trade/order-algo, key for key as
    the recorded OKX reply. `kind` is the ordType it was placed with: "trigger" (triggerPx, ordPx -1)
    or "conditional" (a stop loss: slTriggerPx, slOrdPx -1). sz is in contracts ("" for a closeFraction
    order until it fires); after it fires ordId/ordIdList name the market order it placed."""
    m = engine.markets[o.symbol]
    fired = o.status == "FILLED"
    trigger = kind == "trigger"
    stop_px = text(o.stop_price)
    child = str(o.order_id) if fired else ""
    sz = "" if o.close_position and not fired else text(contracts(m, o.orig_qty))
    return {
        "activePx": "", "actualPx": text(o.avg_price) if fired else "", "actualSide": "" if trigger or not fired else "sl",
        "actualSz": text(contracts(m, o.executed_qty)) if fired else "0", "algoClOrdId": o.client_order_id,
        "algoId": algo_id(o), "amendPxOnTriggerType": "0", "attachAlgoOrds": [], "cTime": ms(o.time),
        "callbackRatio": "", "callbackSpread": "", "ccy": "", "chaseType": "", "chaseVal": "",
        "clOrdId": o.client_order_id, "closeFraction": "1" if o.close_position else "", "failCode": "51169" if o.status == "EXPIRED" else "0",
        "instId": swap_id(m), "instType": "SWAP", "isTradeBorrowMode": "", "last": text(m.mark_price),
        "lever": str(m.leverage), "linkedOrd": {"ordId": ""}, "maxChaseType": "", "maxChaseVal": "",
        "moveTriggerPx": "", "ordId": child, "ordIdList": [child] if fired else [], "ordPx": "-1" if trigger else "",
        "ordType": kind, "posSide": "net", "pxLimit": "", "pxSpread": "", "pxVar": "", "quickMgnType": "",
        "reduceOnly": "true", "side": o.side.lower(), "slOrdPx": "" if trigger else "-1",
        "slTriggerPx": "" if trigger else stop_px, "slTriggerPxType": "" if trigger else px_type,
        "state": ALGO_STATES.get(o.status, "canceled"), "sz": sz, "szLimit": "", "tag": tag, "tdMode": "cross",
        "tgtCcy": "", "timeInterval": "", "tpOrdPx": "", "tpTriggerPx": "", "tpTriggerPxType": "",
        "triggerPx": stop_px if trigger else "", "triggerPxType": px_type if trigger else "",
        "triggerTime": ms(o.fills[0].time) if fired and o.fills else "", "uTime": ms(o.update_time),
    }


def algo_ack(o: Order, tag: str) -> dict[str, Any]:
    """What POST trade/order-algo answers: the ids only (no ts, no inTime/outTime), as recorded."""
    return {"algoClOrdId": o.client_order_id, "algoId": algo_id(o), "clOrdId": o.client_order_id, "sCode": "0",
            "sMsg": "", "tag": tag}


def algo_failure(client_id: str, tag: str, code: str, msg: str) -> dict[str, Any]:
    return {"algoClOrdId": client_id, "algoId": "", "clOrdId": client_id, "sCode": code, "sMsg": msg, "tag": tag}


def transfer(x: Any, from_id: str, to_id: str) -> dict[str, Any]:
    """POST asset/transfer data[0]."""
    return {"transId": str(x.tran_id), "ccy": x.asset, "clientId": x.client_id, "from": from_id,
            "amt": text(x.amount), "to": to_id}


def _bill(m: MarketState | None, bill_id: str, bill_type: str, sub_type: str, change: Decimal, balance: Decimal,
          time: int, **fields: str) -> dict[str, Any]:
    return {
        "bal": text(balance), "balChg": text(change), "billId": bill_id, "ccy": QUOTE, "clOrdId": "",
        "execType": "", "fee": "0", "fillFwdPx": "", "fillIdxPx": "", "fillMarkPx": "", "fillMarkVol": "",
        "fillPxUsd": "", "fillPxVol": "", "fillTime": "", "from": "", "instId": swap_id(m) if m else "",
        "instType": "SWAP" if m else "", "interest": "0", "mgnMode": "cross" if m else "", "notes": "", "ordId": "", "pnl": "0",
        "posBal": "0", "posBalChg": "0", "px": "", "subType": sub_type, "sz": "0", "tag": "", "to": "",
        "tradeId": "", "ts": ms(time), "type": bill_type, **fields,
    }


def bills(engine: Engine, tags: dict[int, str]) -> list[dict[str, Any]]:
    """The futures wallet's bills, oldest first: one trade bill (type 2) per fill with its realised
    P&L and fee, one funding bill (type 8, subType 173 paid / 174 received) per funding payment, one
    transfer bill (type 1, subType 11 in / 12 out, no instrument) per move to or from the funding account.
    `bal` is the running USDT balance from the scenario's opening wallet."""
    events: list[tuple[int, int, dict[str, Any]]] = []
    for o in engine.orders:
        m = engine.markets[o.symbol]
        for f in o.fills:
            change = f.realized_pnl - f.commission
            events.append((f.time, f.trade_id, {
                "_change": change, "m": m, "id": str(f.trade_id), "type": "2",
                "sub": "1" if o.side == "BUY" else "2",
                "fields": {"clOrdId": o.client_order_id, "execType": "M" if f.maker else "T",
                           "fee": text(-f.commission), "fillIdxPx": text(m.spot_price), "fillTime": ms(f.time),
                           "ordId": str(o.order_id), "pnl": text(f.realized_pnl), "px": text(f.price),
                           "sz": text(contracts(m, f.qty)), "tag": tags.get(o.order_id, ""),
                           "tradeId": str(f.trade_id)},
            }))
    for i in engine.income:
        if i.income_type != "FUNDING_FEE":
            continue
        events.append((i.time, i.tran_id, {
            "_change": i.income, "m": engine.markets[i.symbol], "id": str(i.tran_id), "type": "8",
            "sub": "174" if i.income > 0 else "173", "fields": {"pnl": text(i.income)},
        }))
    for x in engine.transfers:
        inbound = x.target == "futures"
        events.append((x.time, x.tran_id, {
            "_change": x.amount if inbound else -x.amount, "m": None, "id": str(x.tran_id), "type": "1",
            "sub": "11" if inbound else "12",
            "fields": {"from": "6" if inbound else "18", "to": "18" if inbound else "6", "sz": text(x.amount)},
        }))
    events.sort(key=lambda e: (e[0], e[1]))
    balance = engine.scenario.futures.wallet
    rows = []
    for time, _, e in events:
        balance += e["_change"]
        rows.append(_bill(e["m"], e["id"], e["type"], e["sub"], e["_change"], balance, time, **e["fields"]))
    return rows


__all__ = [
    "ALGO_ID_OFFSET", "ORD_TYPES", "algo_ack", "algo_failure", "algo_id", "algo_order", "engine_order_id",
    "transfer", "account_balance", "account_config", "base_units", "bills", "contracts", "fill",
    "funding_rate", "leverage_info", "mark_price", "order", "order_ack", "order_failure", "position",
    "position_tiers", "resolve", "spot_instrument", "swap_id", "swap_instrument", "ticker",
]
