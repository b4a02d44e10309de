"""Protective stops in the local exchange's WEEX dialect, driven by ccxt 4.5.90's unmodified `weex`
class over HTTP (the exchange, client and admin fixtures of test_dialect_weex).

What ccxt sends on a USDT-M contract: create_order(symbol, "market", side, amount, None,
{"triggerPrice": p, "reduceOnly": True, "clientOrderId": cid}) is POST /capi/v3/algoOrder with
type STOP_MARKET, the closing positionSide, clientAlgoId (not newClientOrderId), triggerPrice and
reduceOnly; {"stopLossPrice": p} sends the same without reduceOnly. Resting stops are listed by
GET /capi/v3/openAlgoOrders (fetch_open_orders(symbol, params={"trigger": True})), never by
/capi/v3/openOrders; they are cancelled on DELETE /capi/v3/algoOrder?orderId=<algoId>
(cancel_order(id, symbol, {"trigger": True})); GET /capi/v3/order reads them as regular rows
(UNTRIGGERED, then FILLED), so fetch_order(id, symbol, {"clientOrderId": cid}) finds a fired stop.
ccxt 4.5.90's weex has no transfer (has["transfer"] is False).
"""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import urlsplit

import ccxt
import pytest
from ccxt.test.exchange.base import test_order as ccxt_order
from ccxt.test.exchange.base import test_trade as ccxt_trade

from rebalancer.exchange_sim.runner import RunningExchange
from tests.exchange_sim.dialect_checks import sent_query, sim_state
from tests.exchange_sim.test_dialect_weex import (  # noqa: F401 (fixtures)
    BTC, D, _raises, admin, client, fresh, sent, sim)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

SHORT = 0.02  # BTC, at the 40,000 mark


async def short_btc(client: Any) -> None:
    await client.create_order(BTC, "market", "sell", SHORT, None, {"clientOrderId": "rb-open"})


async def buy_stop(client: Any, price: float, cid: str, **extra: Any) -> dict[str, Any]:
    """The rebalancer's protective stop on a short: a reduce-only buy stop-market above the mark."""
    params = {"triggerPrice": price, "reduceOnly": True, "clientOrderId": cid, **extra}
    return await client.create_order(BTC, "market", "buy", SHORT, None, params)


async def test_stop_is_posted_to_algo_order_with_client_algo_id_and_the_closing_position_side(
        client: Any, sim: RunningExchange) -> None:
    await short_btc(client)
    params = {"triggerPrice": 42000, "reduceOnly": True, "clientOrderId": "rb-stop-1"}
    placed = await client.create_order(BTC, "market", "buy", SHORT, None, params)
    assert urlsplit(client.last_request_url).path == "/capi/v3/algoOrder"
    assert sent(client) == {"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.02", "type": "STOP_MARKET",
                            "positionSide": "SHORT", "clientAlgoId": "rb-stop-1", "triggerPrice": "42000",
                            "reduceOnly": True}
    # HAZARD: ccxt writes into the caller's params dict (type and a string triggerPrice).
    assert params["type"] == "STOP_MARKET" and params["triggerPrice"] == "42000"
    assert (placed["clientOrderId"], placed["status"], placed["triggerPrice"], placed["stopLossPrice"]) == (
        "rb-stop-1", "open", 42000, 42000)
    order = sim.engine.find_order("BTCUSDT", client_order_id="rb-stop-1")
    assert placed["id"] == str(order.order_id) and placed["info"]["algoId"] == placed["id"]
    assert (order.type, order.status, order.stop_price, order.orig_qty, order.reduce_only) == (
        "STOP_MARKET", "NEW", 42000, D("0.02"), True)


async def test_resting_stop_is_in_the_trigger_list_only_with_ccxt_fields(client: Any) -> None:
    await short_btc(client)
    placed = await buy_stop(client, 42000, "rb-stop-2")
    now = client.milliseconds()
    [listed] = await client.fetch_open_orders(BTC, None, None, {"trigger": True})
    assert urlsplit(client.last_request_url).path == "/capi/v3/openAlgoOrders"
    assert (listed["id"], listed["clientOrderId"], listed["triggerPrice"], listed["reduceOnly"]) == (
        placed["id"], "rb-stop-2", 42000, True)
    assert (listed["side"], listed["type"], listed["amount"], listed["status"]) == ("buy", "market", SHORT, "open")
    assert listed["info"]["algoStatus"] == "UNTRIGGERED" and listed["info"]["closePosition"] is False
    ccxt_order(client, {}, "fetchOpenOrders", listed, BTC, now)
    assert await client.fetch_open_orders(BTC) == []  # /capi/v3/openOrders: regular orders only
    resting = await client.fetch_order(placed["id"], BTC)
    assert (resting["info"]["status"], resting["status"], resting["triggerPrice"]) == ("UNTRIGGERED", "open", 42000)


async def test_stop_on_the_wrong_side_of_the_mark_is_invalid_order(client: Any, sim: RunningExchange) -> None:
    await short_btc(client)
    await _raises(lambda: buy_stop(client, 39000, "rb-wrong"), ccxt.InvalidOrder, "-1116")
    await _raises(lambda: client.create_order(BTC, "market", "sell", SHORT, None, {
        "triggerPrice": 41000, "reduceOnly": True}), ccxt.InvalidOrder, "-1116")
    assert [o for o in sim.engine.orders if o.type == "STOP_MARKET"] == []


async def test_cancel_with_trigger_deletes_the_algo_order_and_again_is_order_not_found(
        client: Any, sim: RunningExchange) -> None:
    await short_btc(client)
    placed = await buy_stop(client, 42000, "rb-cancel")
    await _raises(lambda: client.cancel_order(placed["id"], BTC), ccxt.OrderNotFound)  # not a regular order
    canceled = await client.cancel_order(placed["id"], BTC, {"trigger": True})
    assert urlsplit(client.last_request_url).path == "/capi/v3/algoOrder"
    assert sent_query(client) == {"orderId": placed["id"]}
    assert (canceled["id"], canceled["status"]) == (placed["id"], "canceled")
    assert sim.engine.find_order("BTCUSDT", client_order_id="rb-cancel").status == "CANCELED"
    assert await client.fetch_open_orders(BTC, None, None, {"trigger": True}) == []
    await _raises(lambda: client.cancel_order(placed["id"], BTC, {"trigger": True}), ccxt.OrderNotFound)


async def test_mark_through_the_stop_flattens_and_the_fill_is_found_by_client_id_with_its_fee(
        client: Any, sim: RunningExchange, admin: Callable[..., Any]) -> None:
    await short_btc(client)
    first = await buy_stop(client, 42000, "rb-first")
    await client.cancel_order(first["id"], BTC, {"trigger": True})
    placed = await buy_stop(client, 42500, "rb-fire")
    await admin("prices", {"BTC": {"mark": 42499}})
    assert sim.engine.positions["BTCUSDT"].amount == D("-0.02")
    await admin("prices", {"BTC": {"mark": 42600}})
    assert sim.engine.positions["BTCUSDT"].amount == 0
    assert await client.fetch_positions([BTC]) == []
    assert await client.fetch_open_orders(BTC, None, None, {"trigger": True}) == []
    now = client.milliseconds()
    fired = await client.fetch_order("0", BTC, {"clientOrderId": "rb-fire"})
    assert sent_query(client) == {"origClientOrderId": "rb-fire"}
    assert (fired["id"], fired["status"], fired["filled"], fired["triggerPrice"]) == (
        placed["id"], "closed", SHORT, 42500)
    assert fired["info"]["type"] == "STOP_MARKET" and fired["reduceOnly"] is True
    ccxt_order(client, {}, "fetchOrder", fired, BTC, now)
    closed = await client.fetch_closed_orders(BTC)
    assert placed["id"] in [o["id"] for o in closed]
    order = sim.engine.find_order("BTCUSDT", client_order_id="rb-fire")
    [trade] = [t for t in await client.fetch_my_trades(BTC) if t["order"] == placed["id"]]
    assert (trade["side"], trade["amount"], trade["fee"]["currency"]) == ("buy", SHORT, "USDT")
    fee = order.fills[0].commission
    assert D(trade["fee"]["cost"]) == fee == D("0.02") * order.fills[0].price * sim.engine.scenario.futures.fee_rate
    ccxt_trade(client, {}, "fetchMyTrades", trade, BTC, now, False)


async def test_close_position_stop_closes_whatever_the_position_is(
        client: Any, sim: RunningExchange, admin: Callable[..., Any]) -> None:
    """{"closePosition": True} passes through ccxt to the algo body; with reduceOnly the closing
    positionSide is sent (without it ccxt would send BUY + LONG, an opening pair)."""
    await short_btc(client)
    placed = await buy_stop(client, 42000, "rb-close", closePosition=True)
    assert sent(client)["closePosition"] is True and sent(client)["positionSide"] == "SHORT"
    assert placed["info"]["closePosition"] is True
    await client.create_order(BTC, "market", "sell", 0.01)  # the short grows to 0.03
    await admin("prices", {"BTC": {"mark": 42000}})
    order = sim.engine.find_order("BTCUSDT", client_order_id="rb-close")
    assert (order.status, order.executed_qty, sim.engine.positions["BTCUSDT"].amount) == ("FILLED", D("0.03"), 0)


async def test_close_position_stop_goes_with_the_position(client: Any, sim: RunningExchange) -> None:
    await short_btc(client)
    await buy_stop(client, 42000, "rb-gone", closePosition=True)
    await client.create_order(BTC, "market", "buy", SHORT, None, {"reduceOnly": True})
    assert sim.engine.find_order("BTCUSDT", client_order_id="rb-gone").status == "CANCELED"
    assert await client.fetch_open_orders(BTC, None, None, {"trigger": True}) == []


async def test_stop_loss_price_sends_the_same_stop_without_reduce_only(client: Any, sim: RunningExchange) -> None:
    await short_btc(client)
    placed = await client.create_order(BTC, "market", "buy", SHORT, None,
                                       {"stopLossPrice": 42000, "clientOrderId": "rb-sl"})
    body = sent(client)
    assert (body["type"], body["positionSide"], body["triggerPrice"], "reduceOnly" in body) == (
        "STOP_MARKET", "SHORT", "42000", False)
    assert placed["stopLossPrice"] == 42000
    assert sim.engine.find_order("BTCUSDT", client_order_id="rb-sl").reduce_only is True


async def test_mark_working_type_is_echoed(client: Any) -> None:
    await short_btc(client)
    await buy_stop(client, 42000, "rb-mark", workingType="MARK_PRICE")
    [listed] = await client.fetch_open_orders(BTC, None, None, {"trigger": True})
    assert listed["info"]["workingType"] == "MARK_PRICE"
    assert (await client.fetch_order(listed["id"], BTC))["info"]["workingType"] == "MARK_PRICE"


async def test_unsimulated_conditional_orders_are_refused(client: Any) -> None:
    await short_btc(client)
    await _raises(lambda: client.create_order(BTC, "limit", "buy", SHORT, 42100, {
        "triggerPrice": 42000, "reduceOnly": True}), ccxt.ExchangeError)  # STOP (limit)
    await _raises(lambda: client.create_order(BTC, "market", "buy", SHORT, None, {
        "triggerPrice": 42000}), ccxt.ExchangeError)  # an entry trigger (BUY + LONG)


async def test_ccxt_weex_has_no_transfer(client: Any, sim: RunningExchange) -> None:
    assert client.has["transfer"] is False
    with pytest.raises(ccxt.NotSupported):
        await client.transfer("USDT", 10, "spot", "swap")
    assert (await sim_state(sim))["transfers"] == []
