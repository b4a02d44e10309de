"""Protective stops and wallet transfers in the local exchange's Bybit v5 dialect, driven by ccxt
4.5.90's unmodified `bybit` class over HTTP (the exchange, client and admin fixtures of
test_dialect_bybit).

What ccxt sends on a linear USDT perpetual: a conditional order is POST /v5/order/create with
triggerPrice and triggerDirection (1 rises to / 2 falls to); ccxt refuses a bare triggerPrice on a
contract without triggerDirection (ArgumentsRequired, nothing sent), and `stopLossPrice` makes it pick
the direction from the side and add reduceOnly. Bybit lists conditional orders in /v5/order/realtime
(orderFilter=StopOrder with ccxt's trigger=True; every kind without a filter on a UTA), cancels them
with the same /v5/order/cancel, and keeps the orderId when one fires: Untriggered -> Filled, or
Deactivated when cancelled before it fired. The close-position variant is the position's Full-mode
stop loss (stopLossPrice + tradingStopEndpoint, no amount: /v5/position/trading-stop). Transfers: a
UTA 2.0 account moves USDT between FUND ("funding") and UNIFIED ("unified").
"""

from __future__ import annotations

import json
from typing import Any, Callable

import ccxt
import pytest
from ccxt.test.exchange.base import test_order as ccxt_order
from ccxt.test.exchange.base import test_trade as ccxt_trade

from rebalancer.exchange_sim.runner import RunningExchange
from tests.exchange_sim.dialect_checks import sent_query, sim_state
from tests.exchange_sim.test_dialect_bybit import BTC, D, admin, client, fresh, sim  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

SHORT = 0.02  # BTC, at the 40,000 mark


def sent(client: Any) -> dict[str, Any]:
    return json.loads(client.last_request_body)


async def short_btc(client: Any) -> None:
    await client.create_order(BTC, "market", "sell", SHORT)


async def buy_stop(client: Any, price: float, cid: str, **extra: Any) -> dict[str, Any]:
    """The rebalancer's protective stop on a short: a reduce-only buy stop-market above the mark."""
    params = {"triggerPrice": price, "triggerDirection": "ascending", "reduceOnly": True, "clientOrderId": cid,
              "triggerBy": "MarkPrice", **extra}
    return await client.create_order(BTC, "market", "buy", SHORT, None, params)


async def _raises(call: Callable[[], Any], cls: type[Exception], code: str | None = None) -> Exception:
    with pytest.raises(cls) as caught:
        await call()
    assert type(caught.value) is cls, f"{type(caught.value).__name__}: {caught.value}"
    if code is not None:
        assert f'"retCode":{code}' in str(caught.value).replace(" ", "")
    return caught.value


async def test_a_bare_trigger_price_on_a_contract_is_refused_by_ccxt_before_sending(client: Any) -> None:
    """The hazard: ccxt's bybit wants triggerDirection for a contract trigger order (nothing is sent)."""
    await short_btc(client)
    params = {"triggerPrice": 42000, "reduceOnly": True, "clientOrderId": "rb-bare"}
    with pytest.raises(ccxt.ArgumentsRequired, match="triggerDirection"):
        await client.create_order(BTC, "market", "buy", SHORT, None, params)


async def test_reduce_only_buy_stop_then_listed_with_its_trigger_fields(client: Any, sim: RunningExchange) -> None:
    await short_btc(client)
    placed = await buy_stop(client, 42000, "rb-stop-1")
    assert sent(client) == {
        "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "orderLinkId": "rb-stop-1", "category": "linear",
        "qty": "0.02", "triggerDirection": 1, "triggerPrice": "42000", "reduceOnly": True, "triggerBy": "MarkPrice",
    }
    assert set(placed["info"]) == {"orderId", "orderLinkId"} and placed["clientOrderId"] == "rb-stop-1"
    [engine_stop] = sim.engine.open_orders("BTCUSDT")
    assert (engine_stop.type, engine_stop.stop_price, engine_stop.orig_qty) == ("STOP_MARKET", 42000, D(SHORT))

    now = client.milliseconds()
    [seen] = await client.fetch_open_orders(BTC, None, None, {"trigger": True})
    assert sent_query(client)["orderFilter"] == "StopOrder"
    assert (seen["id"], seen["clientOrderId"], seen["status"]) == (placed["id"], "rb-stop-1", "open")
    assert (seen["triggerPrice"], seen["reduceOnly"], seen["side"], seen["type"]) == (42000, True, "buy", "market")
    assert seen["stopLossPrice"] == 42000 and seen["amount"] == SHORT and seen["filled"] == 0
    info = seen["info"]
    assert (info["orderStatus"], info["stopOrderType"], info["triggerDirection"], info["triggerBy"]) == (
        "Untriggered", "Stop", 1, "MarkPrice")
    ccxt_order(client, {}, "fetchOpenOrders", seen, BTC, now)
    # A UTA lists every kind of order without a filter; orderFilter=Order leaves conditional ones out.
    assert [o["id"] for o in await client.fetch_open_orders(BTC)] == [placed["id"]]
    assert await client.fetch_open_orders(BTC, None, None, {"orderFilter": "Order"}) == []
    by_link = await client.fetch_open_orders(BTC, None, None, {"trigger": True, "orderLinkId": "rb-stop-1"})
    assert [o["id"] for o in by_link] == [placed["id"]]


async def test_stop_loss_price_param_then_ccxt_picks_the_direction_and_reduce_only(client: Any) -> None:
    await short_btc(client)
    order = await client.create_order(BTC, "market", "buy", SHORT, None, {"stopLossPrice": 43000,
                                                                          "clientOrderId": "rb-sl"})
    body = sent(client)
    assert (body["triggerDirection"], body["triggerPrice"], body["reduceOnly"]) == (1, "43000", True)
    [seen] = await client.fetch_open_orders(BTC, None, None, {"trigger": True})
    assert (seen["id"], seen["triggerPrice"], seen["reduceOnly"]) == (order["id"], 43000, True)


async def test_stop_on_the_wrong_side_of_the_mark_then_110092_or_110093_invalid_order(
        client: Any, sim: RunningExchange) -> None:
    await short_btc(client)
    error = await _raises(lambda: buy_stop(client, 39000, "rb-wrong"), ccxt.InvalidOrder, "110092")
    assert "expect Rising, but trigger_price[39000] <= current[40000]" in str(error)
    sell = {"triggerPrice": 41000, "triggerDirection": "descending", "reduceOnly": True}
    error = await _raises(lambda: client.create_order(BTC, "market", "sell", SHORT, None, sell), ccxt.InvalidOrder, "110093")
    assert "expect Falling" in str(error)
    assert sim.engine.open_orders() == []


async def test_cancel_a_stop_then_deactivated_and_found_closed_by_trigger_history(client: Any) -> None:
    await short_btc(client)
    placed = await buy_stop(client, 42000, "rb-cancel")
    cancelled = await client.cancel_order(placed["id"], BTC)
    assert sent(client) == {"symbol": "BTCUSDT", "orderId": placed["id"], "category": "linear"}
    assert cancelled["id"] == placed["id"]
    assert await client.fetch_open_orders(BTC, None, None, {"trigger": True}) == []
    [done] = await client.fetch_canceled_and_closed_orders(BTC, None, None, {"trigger": True})
    assert (done["id"], done["status"], done["info"]["orderStatus"]) == (placed["id"], "canceled", "Deactivated")
    # ccxt's fetch_canceled_orders asks for orderStatus=Cancelled, which a never-fired conditional order is not.
    assert await client.fetch_canceled_orders(BTC, None, None, {"trigger": True}) == []
    with pytest.raises(ccxt.OrderNotFound):
        await client.cancel_order(placed["id"], BTC)


async def test_the_mark_through_the_stop_then_flat_the_stop_filled_and_its_fill_in_my_trades(
        client: Any, sim: RunningExchange, admin: Callable[..., Any]) -> None:
    await short_btc(client)
    placed = await buy_stop(client, 42000, "rb-fire")
    await admin("prices", {"BTC": {"mark": 41999}})
    assert len(await client.fetch_open_orders(BTC, None, None, {"trigger": True})) == 1
    await admin("prices", {"BTC": {"mark": 42500}})
    assert sim.engine.positions["BTCUSDT"].amount == 0
    assert BTC not in [p["symbol"] for p in await client.fetch_positions(None, {"settleCoin": "USDT"})]
    assert (await client.fetch_position(BTC))["contracts"] in (0, None)
    assert await client.fetch_open_orders(BTC, None, None, {"trigger": True}) == []
    now = client.milliseconds()
    filled = await client.fetch_closed_order(placed["id"], BTC, {"trigger": True})
    assert (filled["status"], filled["filled"], filled["clientOrderId"]) == ("closed", SHORT, "rb-fire")
    assert filled["triggerPrice"] == 42000 and filled["average"] > 42000 and filled["fee"]["cost"] > 0
    ccxt_order(client, {}, "fetchClosedOrder", filled, BTC, now)
    [by_link] = await client.fetch_closed_orders(BTC, None, None, {"orderLinkId": "rb-fire", "trigger": True})
    assert by_link["id"] == placed["id"] and by_link["info"]["stopOrderType"] == "Stop"
    [stop_order] = [o for o in sim.engine.orders if o.client_order_id == "rb-fire"]
    trades = [t for t in await client.fetch_my_trades(BTC) if t["order"] == placed["id"]]
    assert len(trades) == 1 and trades[0]["side"] == "buy" and trades[0]["amount"] == SHORT
    assert D(trades[0]["fee"]["cost"]) == stop_order.commission > 0 and trades[0]["fee"]["currency"] == "USDT"
    ccxt_trade(client, {}, "fetchMyTrades", trades[0], BTC, now, False)


async def test_transfer_funding_to_unified_then_moves_the_engine_usdt_and_is_in_sim_state(
        client: Any, sim: RunningExchange, admin: Callable[..., Any]) -> None:
    assert client.has["transfer"] is True
    wallet, spot = sim.engine.wallet, sim.engine.spot_balances["USDT"]
    result = await client.transfer("USDT", 20, "funding", "unified", {"transferId": "rb-tx-1"})
    assert sent(client) == {"transferId": "rb-tx-1", "fromAccountType": "FUND", "toAccountType": "UNIFIED",
                            "coin": "USDT", "amount": "20"}
    assert (result["id"], result["status"], result["amount"]) == ("rb-tx-1", "ok", 20)
    assert (sim.engine.wallet, sim.engine.spot_balances["USDT"]) == (wallet + 20, spot - 20)
    back = await client.transfer("USDT", 5, "unified", "funding")
    assert back["status"] == "ok" and len(back["id"]) == 36  # ccxt's own uuid as transferId
    transfers = (await sim_state(sim))["transfers"]
    assert [(x["client_id"], x["amount"], x["from"], x["to"]) for x in transfers] == [
        ("rb-tx-1", "20", "spot", "futures"), (back["id"], "5", "futures", "spot")]


async def test_transfer_refusals_then_ccxt_classes(client: Any, sim: RunningExchange) -> None:
    await client.transfer("USDT", 1, "funding", "unified", {"transferId": "rb-dup"})
    await _raises(lambda: client.transfer("USDT", 1, "funding", "unified", {"transferId": "rb-dup"}),
                  ccxt.BadRequest, "131214")
    await _raises(lambda: client.transfer("USDT", 10_000, "funding", "unified"), ccxt.InsufficientFunds, "131212")
    await _raises(lambda: client.transfer("USDT", 1, "unified", "unified"), ccxt.BadRequest, "131211")
    # ccxt's spot -> swap is SPOT -> CONTRACT: wallets a UTA 2.0 account does not have.
    await _raises(lambda: client.transfer("USDT", 1, "spot", "swap"), ccxt.ExchangeError, "170227")
    assert len(sim.engine.transfers) == 1


async def test_close_on_trigger_stop_then_reduce_only_with_close_on_trigger_shown(client: Any) -> None:
    await short_btc(client)
    params = {"triggerPrice": 42000, "triggerDirection": "above", "closeOnTrigger": True, "clientOrderId": "rb-cot"}
    placed = await client.create_order(BTC, "market", "buy", SHORT, None, params)
    assert sent(client)["closeOnTrigger"] is True and "reduceOnly" not in sent(client)
    [seen] = await client.fetch_open_orders(BTC, None, None, {"trigger": True})
    assert (seen["id"], seen["info"]["closeOnTrigger"], seen["reduceOnly"]) == (placed["id"], True, True)


async def test_position_stop_loss_full_mode_then_closes_the_whole_position_when_the_mark_crosses(
        client: Any, sim: RunningExchange, admin: Callable[..., Any]) -> None:
    """The close-position variant: ccxt's stopLossPrice with tradingStopEndpoint and no amount is
    POST /v5/position/trading-stop tpslMode Full; the reply carries no order id."""
    await short_btc(client)
    params = {"stopLossPrice": 42000, "tradingStopEndpoint": True, "slTriggerBy": "MarkPrice"}
    reply = await client.create_order(BTC, "market", "buy", 0, None, params)
    assert sent(client) == {"symbol": "BTCUSDT", "stopLoss": "42000", "slOrderType": "Market", "tpslMode": "Full",
                            "category": "linear", "slTriggerBy": "MarkPrice"}
    assert reply["id"] is None
    [seen] = await client.fetch_open_orders(BTC, None, None, {"trigger": True})
    info = seen["info"]
    assert (info["stopOrderType"], info["qty"], info["orderLinkId"], info["tpslMode"]) == ("StopLoss", "0", "", "Full")
    assert (seen["triggerPrice"], seen["reduceOnly"], seen["side"]) == (42000, True, "buy")
    assert (await client.fetch_position(BTC))["stopLossPrice"] == 42000
    await client.create_order(BTC, "market", "buy", 0, None, {**params, "stopLossPrice": 43000})  # replaces it
    [seen] = await client.fetch_open_orders(BTC, None, None, {"trigger": True})
    assert seen["triggerPrice"] == 43000
    with pytest.raises(ccxt.BadRequest):
        await client.create_order(BTC, "market", "buy", 0, None, {**params, "stopLossPrice": 39000})
    await admin("prices", {"BTC": {"mark": 43100}})
    assert sim.engine.positions["BTCUSDT"].amount == 0
    filled = await client.fetch_closed_order(seen["id"], BTC, {"trigger": True})
    assert (filled["status"], filled["filled"]) == ("closed", SHORT)
    with pytest.raises(ccxt.BadRequest, match="zero position"):
        await client.create_order(BTC, "market", "buy", 0, None, params)
