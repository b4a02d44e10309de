"""Contract tests: the unmodified ccxt binance classes (async and sync) against the local exchange over HTTP.

Every unified call the product uses is made for real and its parsed result checked against the scenario.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal as D
from typing import Any, Awaitable, Callable

import ccxt
import pytest

from rebalancer.exchange_sim import RunningExchange

pytestmark = pytest.mark.integration

SPOT_BTC, SPOT_ETH, SPOT_BNB = "BTC/USDT", "ETH/USDT", "BNB/USDT"
PERP_BTC, PERP_ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"

Call = Callable[..., Awaitable[Any]]


@pytest.fixture(params=["async", "sync"])
def call(request: pytest.FixtureRequest, make_client: Any) -> Call:
    """`await call("fetch_balance", ...)` on a LocalBinance (async) or LocalBinanceSync (in a worker thread)."""
    client = make_client(sync=request.param == "sync")

    async def invoke(method: str, *args: Any) -> Any:
        fn = getattr(client, method)
        if client.synchronous:
            return await asyncio.to_thread(fn, *args)
        return await fn(*args)

    invoke.client = client  # type: ignore[attr-defined]
    return invoke


async def test_load_markets_builds_spot_and_swap_markets_from_the_scenario(call: Call, sim: RunningExchange) -> None:
    """Spot BTC/USDT and linear swap BTC/USDT:USDT carry the scenario's step, tick, min qty and min notional."""
    markets = await call("load_markets")
    assert {SPOT_BTC, SPOT_ETH, SPOT_BNB, PERP_BTC, PERP_ETH} <= set(markets)
    assert "BNB/USDT:USDT" not in markets  # perp = false
    swap = markets[PERP_BTC]
    assert (swap["type"], swap["linear"], swap["settle"], swap["contractSize"], swap["active"]) == ("swap", True, "USDT", 1.0, True)
    assert swap["precision"] == {"amount": 0.001, "price": 0.1, "base": 1e-08, "quote": 1e-08}
    assert swap["limits"]["amount"]["min"] == 0.001 and swap["limits"]["cost"]["min"] == 5.0
    spot = markets[SPOT_ETH]
    assert (spot["type"], spot["spot"], spot["precision"]["price"], spot["limits"]["cost"]["min"]) == ("spot", True, 0.01, 5.0)
    assert sim.server.requests["GET /api/v3/time"] == 1  # adjustForTimeDifference


async def test_fetch_balance_spot(call: Call) -> None:
    """fetch_balance() reads /api/v3/account: the [spot] wallet, all free."""
    balance = await call("fetch_balance")
    assert balance["total"] == {"USDT": 50.0, "BTC": 0.1, "ETH": 1.0, "BNB": 2.0}
    assert balance["free"]["BTC"] == 0.1 and balance["used"]["BTC"] == 0.0


async def test_fetch_balance_future_total_is_margin_balance(call: Call, sim: RunningExchange, admin: Any) -> None:
    """USDT total = marginBalance (wallet + uPnL), free = availableBalance, used = initial margin."""
    await call("load_markets")
    await call("create_order", PERP_BTC, "market", "sell", 0.025)
    await admin("POST", "prices", {"BTC": {"mark": 41000}})
    balance = await call("fetch_balance", {"type": "future"})
    account = sim.engine.account()
    assert account.margin_balance == D("3000") - D("0.4") - D(25)
    assert balance["total"]["USDT"] == pytest.approx(float(account.margin_balance))
    assert balance["free"]["USDT"] == pytest.approx(float(account.available_balance))
    assert balance["used"]["USDT"] == pytest.approx(1025 / 5)
    assert balance["info"]["totalMaintMargin"] == "5.12500000"


async def test_fetch_positions_parses_a_short_and_a_leveraged_long(call: Call, sim: RunningExchange, admin: Any) -> None:
    """Contracts, side, entry, notional, uPnL and liquidation price come through ccxt's positionRisk parser."""
    await call("load_markets")
    await call("create_order", PERP_BTC, "market", "sell", 0.025)
    await call("create_order", PERP_ETH, "market", "buy", 5)  # $10,005 at 5x: leveraged long
    await admin("POST", "prices", {"BTC": {"mark": 41000}})
    positions = {p["symbol"]: p for p in await call("fetch_positions", [PERP_BTC, PERP_ETH])}
    btc, eth = positions[PERP_BTC], positions[PERP_ETH]
    assert (btc["contracts"], btc["side"], btc["entryPrice"], btc["notional"]) == (0.025, "short", 40000.0, 1025.0)
    assert btc["unrealizedPnl"] == -25.0 and btc["marginMode"] == "cross" and btc["hedged"] is False
    assert btc["liquidationPrice"] == pytest.approx(float(sim.engine.position_risk("BTCUSDT").liquidation_price))
    assert btc["maintenanceMarginPercentage"] == 0.005
    assert (eth["contracts"], eth["side"], eth["entryPrice"]) == (5.0, "long", 2001.0)
    assert eth["liquidationPrice"] is not None and 0 < eth["liquidationPrice"] < 2001
    assert eth["maintenanceMarginPercentage"] == 0.01
    assert [p["symbol"] for p in await call("fetch_positions", [PERP_BTC])] == [PERP_BTC]
    v2 = await call("fetch_positions", [PERP_BTC], {"useV2": True})
    assert (v2[0]["contracts"], v2[0]["leverage"], v2[0]["marginMode"]) == (0.025, 5, "cross")
    via_account = await call("fetch_positions", [PERP_BTC], {"method": "account"})
    assert (via_account[0]["contracts"], via_account[0]["side"]) == (0.025, "short")


async def test_flat_positions_are_not_listed(call: Call) -> None:
    """A flat account has no positions (ccxt drops entryPrice 0 rows; v3 does not send them)."""
    assert await call("fetch_positions", [PERP_BTC, PERP_ETH]) == []


async def test_funding_rates_and_mark_prices_come_from_premium_index(call: Call) -> None:
    """fetch_funding_rates/fetch_mark_prices parse /fapi/v1/premiumIndex: rate, mark, index, next funding."""
    rates = await call("fetch_funding_rates", [PERP_BTC, PERP_ETH])
    assert rates[PERP_BTC]["fundingRate"] == 0.0001 and rates[PERP_ETH]["fundingRate"] == -0.0002
    assert (rates[PERP_ETH]["markPrice"], rates[PERP_ETH]["indexPrice"]) == (2001.0, 2000.0)
    assert rates[PERP_BTC]["fundingTimestamp"] % (8 * 3_600_000) == 0
    one = await call("fetch_funding_rate", PERP_ETH)
    assert one["fundingRate"] == -0.0002
    marks = await call("fetch_mark_prices", [PERP_BTC, PERP_ETH])
    assert marks[PERP_ETH]["markPrice"] == 2001.0 and marks[PERP_ETH]["indexPrice"] == 2000.0


async def test_spot_tickers_have_bid_and_ask(call: Call, admin: Any) -> None:
    """fetch_tickers([spot symbols]) sends symbols=[...] and gets bid/ask around the spot price."""
    await admin("POST", "faults", {})  # no-op merge keeps faults off
    tickers = await call("fetch_tickers", [SPOT_BTC, SPOT_ETH])
    assert set(tickers) == {SPOT_BTC, SPOT_ETH}
    assert (tickers[SPOT_BTC]["bid"], tickers[SPOT_BTC]["ask"], tickers[SPOT_BTC]["last"]) == (40000.0, 40000.0, 40000.0)
    await admin("POST", "prices", {"ETH": {"spot": 2100}})
    ticker = await call("fetch_ticker", SPOT_ETH)
    assert (ticker["last"], ticker["open"], ticker["percentage"]) == (2100.0, 2000.0, 5.0)


async def test_swap_bid_ask_from_book_ticker(call: Call) -> None:
    """fetch_bids_asks on swaps reads /fapi/v1/bookTicker: bid/ask around the mark price."""
    books = await call("fetch_bids_asks", [PERP_BTC, PERP_ETH])
    assert (books[PERP_ETH]["bid"], books[PERP_ETH]["ask"]) == (2001.0, 2001.0)
    swap_tickers = await call("fetch_tickers", [PERP_BTC])
    assert swap_tickers[PERP_BTC]["last"] == 40000.0 and swap_tickers[PERP_BTC]["bid"] is None


async def test_market_orders_with_client_ids_and_lookup_by_client_id(call: Call, sim: RunningExchange) -> None:
    """create_order market (+clientOrderId, +reduceOnly) fills at mark; fetch_order finds it by client id."""
    await call("load_markets")
    opened = await call("create_order", PERP_BTC, "market", "sell", 0.025, None, {"clientOrderId": "rb-open-1"})
    assert (opened["status"], opened["filled"], opened["average"], opened["clientOrderId"]) == ("closed", 0.025, 40000.0, "rb-open-1")
    assert opened["reduceOnly"] is False and opened["cost"] == 1000.0
    closed = await call(
        "create_order", PERP_BTC, "market", "buy", 0.01, None, {"clientOrderId": "rb-close-1", "reduceOnly": True}
    )
    assert (closed["status"], closed["filled"], closed["reduceOnly"]) == ("closed", 0.01, True)
    found = await call("fetch_order", None, PERP_BTC, {"clientOrderId": "rb-open-1"})
    assert (found["id"], found["status"], found["filled"], found["side"]) == (opened["id"], "closed", 0.025, "sell")
    assert sim.engine.positions["BTCUSDT"].amount == D("-0.015")
    assert [o["client_order_id"] for o in sim.server.state()["orders"]] == ["rb-open-1", "rb-close-1"]


async def test_open_orders_and_cancel(call: Call) -> None:
    """A resting GTC limit shows in fetch_open_orders(symbol); cancel_order by id or client id cancels it."""
    await call("load_markets")
    first = await call("create_order", PERP_BTC, "limit", "buy", 0.01, 39000, {"clientOrderId": "rest-1"})
    await call("create_order", PERP_BTC, "limit", "buy", 0.01, 38000, {"clientOrderId": "rest-2"})
    assert first["status"] == "open" and first["price"] == 39000.0
    open_orders = await call("fetch_open_orders", PERP_BTC)
    assert [o["clientOrderId"] for o in open_orders] == ["rest-1", "rest-2"]
    canceled = await call("cancel_order", first["id"], PERP_BTC)
    assert canceled["status"] == "canceled"
    by_client_id = await call("cancel_order", None, PERP_BTC, {"clientOrderId": "rest-2"})
    assert by_client_id["status"] == "canceled"
    assert await call("fetch_open_orders", PERP_BTC) == []


async def test_set_leverage_changes_initial_margin(call: Call, sim: RunningExchange) -> None:
    """set_leverage returns Binance's raw dict; fetch_leverage reads it back from symbolConfig."""
    await call("load_markets")
    response = await call("set_leverage", 3, PERP_BTC)
    assert response == {"leverage": 3, "maxNotionalValue": "1000000000", "symbol": "BTCUSDT"}
    leverage = await call("fetch_leverage", PERP_BTC)
    assert (leverage["longLeverage"], leverage["marginMode"]) == (3, "cross")
    assert sim.engine.markets["BTCUSDT"].leverage == 3


async def test_set_margin_mode_cross(call: Call) -> None:
    """Cross is the default: setting it again raises MarginModeAlreadySet; after isolated, cross succeeds once."""
    await call("load_markets")
    with pytest.raises(ccxt.MarginModeAlreadySet):
        await call("set_margin_mode", "cross", PERP_BTC)
    await call("set_margin_mode", "isolated", PERP_BTC)
    assert (await call("fetch_margin_mode", PERP_BTC))["marginMode"] == "isolated"
    assert (await call("set_margin_mode", "cross", PERP_BTC))["code"] == 200
    with pytest.raises(ccxt.MarginModeAlreadySet):
        await call("set_margin_mode", "cross", PERP_BTC)


async def test_position_mode(call: Call) -> None:
    """fetch_position_mode reports one-way; set_position_mode(True) switches a flat account to hedge mode."""
    await call("load_markets")
    assert (await call("fetch_position_mode", PERP_BTC))["hedged"] is False
    await call("set_position_mode", True, PERP_BTC)
    assert (await call("fetch_position_mode", PERP_BTC))["hedged"] is True


async def test_funding_history_after_settlement(call: Call, admin: Any) -> None:
    """POST /_sim/settle-funding records FUNDING_FEE income that fetch_funding_history returns."""
    await call("load_markets")
    await call("create_order", PERP_BTC, "market", "sell", 0.025)
    await admin("POST", "funding", {"BTC": 0.0005})
    settled = await admin("POST", "settle-funding")
    assert settled["payments"][0]["income"] == "0.5"
    history = await call("fetch_funding_history", PERP_BTC)
    assert [(h["symbol"], h["code"], h["amount"]) for h in history] == [(PERP_BTC, "USDT", 0.5)]


async def test_time_and_time_difference(call: Call) -> None:
    """fetch_time (spot and swap clocks) is now; load_time_difference finds no offset."""
    before = int(time.time() * 1000)
    server_time = await call("fetch_time")
    swap_time = await call("fetch_time", {"type": "swap"})
    assert before - 5 <= server_time <= int(time.time() * 1000) + 5
    assert abs(swap_time - server_time) < 1000
    await call("load_time_difference")
    assert abs(call.client.options["timeDifference"]) < 1000  # type: ignore[attr-defined]


async def test_raw_order_without_resp_type_is_acknowledged_like_fapi(make_client: Any) -> None:
    """fapi's default newOrderRespType is ACK: the reply says NEW/0, the stored order is FILLED."""
    client = make_client()
    ack = await client.fapiPrivatePostOrder(
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01", "newClientOrderId": "ack-1"}
    )
    assert (ack["status"], ack["executedQty"]) == ("NEW", "0")
    stored = await client.fapiPrivateGetOrder({"symbol": "BTCUSDT", "origClientOrderId": "ack-1"})
    assert (stored["status"], stored["executedQty"], stored["avgPrice"]) == ("FILLED", "0.010", "40000.00")


async def test_fetch_my_trades_reports_fills_with_commission(call: Call) -> None:
    """userTrades: one trade per filled order, commission = qty x price x taker fee (0.0004) in USDT."""
    await call("load_markets")
    opened = await call("create_order", PERP_BTC, "market", "sell", 0.025, None, {"clientOrderId": "rb-fee-1"})
    await call("create_order", PERP_ETH, "market", "buy", 0.5, None, {"clientOrderId": "rb-fee-2"})
    trades = await call("fetch_my_trades", PERP_BTC, opened["timestamp"] - 1000)
    assert [(t["order"], t["side"], t["amount"], t["price"]) for t in trades] == [(opened["id"], "sell", 0.025, 40000.0)]
    assert trades[0]["fee"] == {"currency": "USDT", "cost": 0.4}
