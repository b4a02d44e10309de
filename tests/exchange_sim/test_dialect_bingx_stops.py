"""Protective stops and wallet transfers on the local exchange's BingX dialect, driven by the unmodified
ccxt `bingx` class (4.5.90) over HTTP.

What ccxt sends (create_order_request): a market order with `triggerPrice` becomes
type=TRIGGER_MARKET&stopPrice=<p> on POST /openApi/swap/v2/trade/order, `reduceOnly=true` and
`clientOrderID` passed through, positionSide=BOTH, quantity; `stopLossPrice` instead makes a
STOP_MARKET (a stop loss), and `closePosition: True` drops the quantity. BingX keeps conditional
orders in the ordinary lists: trade/openOrders, trade/order (GET, DELETE), allOrders; a fired stop
keeps its order id and fills (status FILLED). ccxt parses a TRIGGER_MARKET's stopPrice as
`triggerPrice`, a STOP_MARKET's as `stopLossPrice` (triggerPrice None). transfer() posts
/openApi/api/asset/v1/transfer with fromAccount/toAccount from options.accountsByType
(spot -> spot, swap/linear -> USDTMPerp).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt
import pytest

from rebalancer.exchange_sim.runner import RunningExchange
from tests.exchange_sim.dialect_checks import engine_amount, key_mismatches, move_mark, sent_by, sim_state
from tests.exchange_sim.test_dialect_bingx import (  # noqa: F401  (fixtures, used by name)
    BTC, ETH, EXTRA_OK, SKIPPED, ccxt_test_order, client, expect_error, fresh, recorded_reply, sim, stock,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

D = Decimal
FEE_RATE = 0.0004  # the scenario's default taker fee (as test_dialect_bingx's fills)


async def short_eth_with_stop(client: Any, cid: str = "rbstop1", trigger: float = 2100) -> dict[str, Any]:
    """A 0.5 ETH short (mark 2001) and its reduce-only buy stop above the mark."""
    await client.create_order(ETH, "market", "sell", 0.5, None)
    return await client.create_order(ETH, "market", "buy", 0.5, None,
                                     {"triggerPrice": trigger, "reduceOnly": True, "clientOrderId": cid})


def validate(client: Any, method: str, order: dict[str, Any], now: int) -> None:
    ccxt_test_order(client, SKIPPED["order"], method, order, order["symbol"], now)


async def test_reduce_only_trigger_stop_is_sent_and_listed_as_ccxt_reads_it(client: Any, sim: RunningExchange) -> None:
    await client.create_order(ETH, "market", "sell", 0.5, None)
    path, query, created = await sent_by(client, lambda: client.create_order(
        ETH, "market", "buy", 0.5, None, {"triggerPrice": 2100, "reduceOnly": True, "clientOrderId": "rbstop1"}))
    assert path == "/openApi/swap/v2/trade/order"
    assert {k: query[k] for k in ("type", "stopPrice", "reduceOnly", "clientOrderID", "quantity", "positionSide", "side")} == {
        "type": "TRIGGER_MARKET", "stopPrice": "2100", "reduceOnly": "true", "clientOrderID": "rbstop1",
        "quantity": "0.5", "positionSide": "BOTH", "side": "BUY"}
    assert created["info"]["type"] == "TRIGGER_MARKET" and created["triggerPrice"] == 2100
    assert created["clientOrderId"] == "rbstop1" and created["reduceOnly"] is True

    listed = await client.fetch_open_orders(ETH)
    assert len(listed) == 1
    stop = listed[0]
    assert (stop["id"], stop["clientOrderId"], stop["triggerPrice"], stop["reduceOnly"]) == (
        created["id"], "rbstop1", 2100, True)
    assert (stop["type"], stop["side"], stop["status"], stop["amount"], stop["filled"]) == ("market", "buy", "open", 0.5, 0)
    assert stop["stopLossPrice"] is None and stop["info"]["stopPrice"] == "2100"
    now = sim.server.clock()
    validate(client, "fetchOpenOrders", stop, now)
    fetched = await client.fetch_order("", ETH, {"clientOrderId": "rbstop1"})
    assert (fetched["id"], fetched["status"], fetched["triggerPrice"]) == (created["id"], "open", 2100)
    validate(client, "fetchOrder", fetched, now)
    # the type filter of openOrders, and the admin view
    assert len((await client.swapV2PrivateGetTradeOpenOrders({"symbol": "ETH-USDT", "type": "TRIGGER_MARKET"}))
               ["data"]["orders"]) == 1
    assert (await client.swapV2PrivateGetTradeOpenOrders({"symbol": "ETH-USDT", "type": "LIMIT"}))["data"]["orders"] == []
    [resting] = (await sim_state(sim))["open_orders"]
    assert (resting["client_order_id"], resting["trigger_price"], resting["reduce_only"]) == ("rbstop1", "2100", True)


async def test_a_stop_the_mark_has_passed_is_refused_as_an_invalid_order(client: Any, stock: Any) -> None:
    await client.create_order(ETH, "market", "sell", 0.5, None)
    body = await expect_error(client, stock, ccxt.InvalidOrder, lambda: client.create_order(
        ETH, "market", "buy", 0.5, None, {"triggerPrice": 1950, "reduceOnly": True, "clientOrderId": "low"}),
        code=101400)
    assert "stop price" in body
    assert await client.fetch_open_orders(ETH) == []


async def test_stops_cancel_by_id_and_by_client_id(client: Any, sim: RunningExchange) -> None:
    first = await short_eth_with_stop(client, "rbstop1")
    second = await client.create_order(ETH, "market", "buy", 0.5, None,
                                       {"triggerPrice": 2200, "reduceOnly": True, "clientOrderId": "rbstop2"})
    canceled = await client.cancel_order(first["id"], ETH)
    assert (canceled["id"], canceled["status"], canceled["triggerPrice"]) == (first["id"], "canceled", 2100)
    assert [o["id"] for o in await client.fetch_open_orders(ETH)] == [second["id"]]
    by_client = await client.cancel_order("", ETH, {"clientOrderId": "rbstop2"})
    assert (by_client["id"], by_client["status"]) == (second["id"], "canceled")
    assert await client.fetch_open_orders(ETH) == []
    assert (await client.fetch_order("", ETH, {"clientOrderId": "rbstop1"}))["status"] == "canceled"
    await expect_error(client, ccxt.bingx(), ccxt.OrderNotFound, lambda: client.cancel_order(first["id"], ETH),
                       code=80016)
    assert engine_amount(sim, "ETH") == D("-0.5")


async def test_a_fired_stop_closes_the_short_and_is_found_filled_with_its_fee(client: Any, sim: RunningExchange) -> None:
    stop = await short_eth_with_stop(client, "rbstop3")
    await move_mark(sim, "ETH", 2099.99)  # not yet
    assert [o["id"] for o in await client.fetch_open_orders(ETH)] == [stop["id"]]
    await move_mark(sim, "ETH", 2150)
    assert engine_amount(sim, "ETH") == 0
    assert await client.fetch_positions([ETH]) == []
    assert await client.fetch_open_orders(ETH) == []
    filled = await client.fetch_order("", ETH, {"clientOrderId": "rbstop3"})
    assert (filled["id"], filled["status"], filled["filled"], filled["triggerPrice"]) == (stop["id"], "closed", 0.5, 2100)
    assert filled["average"] >= 2150 and filled["info"]["type"] == "TRIGGER_MARKET"
    validate(client, "fetchOrder", filled, sim.server.clock())
    fills = [t for t in await client.fetch_my_trades(ETH) if t["order"] == stop["id"]]
    assert len(fills) == 1 and fills[0]["amount"] == 0.5 and fills[0]["info"]["clientOrderID"] == "rbstop3"
    assert fills[0]["fee"]["cost"] == pytest.approx(0.5 * fills[0]["price"] * FEE_RATE)
    history = await client.fetch_canceled_and_closed_orders(ETH)  # trade/allOrders
    assert next(o for o in history if o["id"] == stop["id"])["status"] == "closed"


async def test_close_position_stop_loss_sends_no_quantity_and_closes_the_whole_position(
        client: Any, sim: RunningExchange, stock: Any) -> None:
    """The BTC short (-0.02, mark 40000): stopLossPrice + closePosition -> STOP_MARKET without quantity;
    ccxt parses its stopPrice as stopLossPrice. closePosition on a TRIGGER_MARKET is refused."""
    path, query, created = await sent_by(client, lambda: client.create_order(
        BTC, "market", "buy", 0.02, None, {"stopLossPrice": 41000, "closePosition": True, "clientOrderId": "rbclose1"}))
    assert "quantity" not in query and (query["type"], query["stopPrice"], query["closePosition"]) == (
        "STOP_MARKET", "41000", "true")
    assert created["info"]["closePosition"] == "true"
    [stop] = await client.fetch_open_orders(BTC)
    assert (stop["id"], stop["stopLossPrice"], stop["triggerPrice"], stop["reduceOnly"]) == (created["id"], 41000, None, True)
    assert stop["info"]["type"] == "STOP_MARKET"
    await expect_error(client, stock, ccxt.BadRequest, lambda: client.create_order(
        BTC, "market", "buy", 0.02, None, {"triggerPrice": 41000, "closePosition": True}), code=109400)
    await move_mark(sim, "BTC", 41500)
    assert engine_amount(sim, "BTC") == 0
    filled = await client.fetch_order(created["id"], BTC)
    assert (filled["status"], filled["filled"], filled["clientOrderId"]) == ("closed", 0.02, "rbclose1")


async def test_transfer_moves_usdt_between_spot_and_the_perpetual_account(client: Any, sim: RunningExchange,
                                                                          stock: Any) -> None:
    assert client.has["transfer"] is True
    path, query, done = await sent_by(client, lambda: client.transfer("USDT", 20, "spot", "swap"))
    assert path == "/openApi/api/asset/v1/transfer"
    assert (query["fromAccount"], query["toAccount"], query["asset"], D(query["amount"])) == ("spot", "USDTMPerp", "USDT", 20)
    assert done["id"] and done["amount"] == 20 and (done["fromAccount"], done["toAccount"]) == ("spot", "swap")
    engine = sim.server.engine
    assert engine.spot_balances["USDT"] == 30 and engine.wallet == 3020
    back = await client.transfer("USDT", 5, "linear", "spot")
    assert engine.spot_balances["USDT"] == 35 and engine.wallet == 3015
    state = await sim_state(sim)
    assert [(x["amount"], x["from"], x["to"]) for x in state["transfers"]] == [("20", "spot", "futures"),
                                                                              ("5", "futures", "spot")]
    await expect_error(client, stock, ccxt.InsufficientFunds,
                       lambda: client.transfer("USDT", 1000, "spot", "swap"), code=100202)
    await expect_error(client, stock, ccxt.BadRequest,
                       lambda: client.transfer("USDT", 1, "spot", "funding"), code=109400)
    records = await client.fetch_transfers("USDT", None, None, {"fromAccount": "spot", "toAccount": "swap"})
    assert [(r["id"], r["amount"], r["fromAccount"], r["toAccount"], r["status"]) for r in records] == [
        (done["id"], 20, "spot", "linear", "ok")]
    assert [r["id"] for r in await client.fetch_transfers("USDT", None, None, {"transferId": back["id"]})] == [back["id"]]
    # the perpetual account's ledger shows the transfers (no symbol) without breaking the other rows
    income = (await client.swapV2PrivateGetUserIncome())["data"]
    assert sorted(D(r["income"]) for r in income if r["incomeType"] == "TRANSFER") == [-5, 20]


async def test_stop_payloads_match_the_recorded_trigger_and_stop_loss_replies(client: Any, sim: RunningExchange) -> None:
    """The create reply against the recorded TRIGGER_MARKET create, the order against the recorded
    STOP_MARKET fetchOrder (key for key, the same extras as the plain orders)."""
    created = await short_eth_with_stop(client, "rbshape1")
    raw = await client.swapV2PrivateGetTradeOrder({"symbol": "ETH-USDT", "orderId": created["id"]})
    pairs = [
        ({"code": 0, "msg": "", "data": {"order": created["info"]}},
         recorded_reply("createOrder", "create trigger order")),
        (raw, recorded_reply("fetchOrder", "swap stopLoss order")),
    ]
    for ours, theirs in pairs:
        assert key_mismatches(ours, theirs, extra_ok=EXTRA_OK) == []
    assert raw["data"]["order"]["stopPrice"] == "2100" and raw["data"]["order"]["reduceOnly"] is True
