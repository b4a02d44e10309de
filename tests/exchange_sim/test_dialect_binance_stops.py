"""Protective stops and wallet transfers on the Binance dialect, driven by the unmodified ccxt class.

ccxt 4.5.90 sends a linear conditional order to the algo order API (POST /fapi/v1/algoOrder,
algoType=CONDITIONAL, type=STOP_MARKET, triggerPrice, clientAlgoId); it lists, queries and cancels
those with params {"trigger": True} (openAlgoOrders / algoOrder); a fired stop's algo order turns
FINISHED with actualOrderId, the id of the MARKET order the matching engine filled (GET
/fapi/v1/order, userTrades). transfer() is POST /sapi/v1/asset/transfer (MAIN_UMFUTURE / UMFUTURE_MAIN).
"""

from __future__ import annotations

from typing import Any

import ccxt
import pytest

from tests.exchange_sim.dialect_checks import sim_state
from tests.exchange_sim.conftest import expect_error, record_responses

pytestmark = pytest.mark.integration

PERP_BTC = "BTC/USDT:USDT"


@pytest.fixture(scope="module")
def stock_binance() -> Any:
    return ccxt.binance()


async def short_btc(client: Any, amount: float = 0.025) -> None:
    await client.create_order(PERP_BTC, "market", "sell", amount)


def stop_params(price: float, cid: str | None = None, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"triggerPrice": price, "reduceOnly": True, **extra}
    if cid is not None:
        params["clientOrderId"] = cid
    return params


async def test_ccxt_sends_a_reduce_only_stop_to_the_algo_order_api(ready_client: Any, sim: Any) -> None:
    await short_btc(ready_client)
    seen = record_responses(ready_client)
    order = await ready_client.create_order(PERP_BTC, "market", "buy", 0.025, None, stop_params(45000, "stop-1"))
    status, _, url, method, body = seen[-1]
    assert (status, method) == (200, "POST") and url.endswith("/fapi/v1/algoOrder")
    assert order["id"] == str(ready_client.parse_json(body)["algoId"])
    assert (order["clientOrderId"], order["status"], order["triggerPrice"], order["reduceOnly"]) == (
        "stop-1", "open", 45000, True)
    assert (order["side"], order["amount"], order["filled"]) == ("buy", 0.025, 0)
    info = order["info"]
    assert (info["algoType"], info["orderType"], info["algoStatus"], info["actualOrderId"]) == (
        "CONDITIONAL", "STOP_MARKET", "NEW", "")
    assert sim.server.requests["POST /fapi/v1/algoOrder"] == 1

    # the conditional list is separate: openAlgoOrders with {"trigger": True}; the regular list has no stop
    assert await ready_client.fetch_open_orders(PERP_BTC) == []
    [listed] = await ready_client.fetch_open_orders(PERP_BTC, None, None, {"trigger": True})
    assert (listed["id"], listed["clientOrderId"], listed["triggerPrice"], listed["reduceOnly"]) == (
        order["id"], "stop-1", 45000, True)
    assert listed["status"] == "open" and listed["symbol"] == PERP_BTC
    # by client id on the algo query; the regular order query does not know an unfired stop
    fetched = await ready_client.fetch_order(None, PERP_BTC, {"trigger": True, "clientOrderId": "stop-1"})
    assert fetched["id"] == order["id"] and fetched["status"] == "open"
    with pytest.raises(ccxt.OrderNotFound):
        await ready_client.fetch_order(order["id"], PERP_BTC)
    state = (await sim_state(sim))["open_orders"]
    assert [(o["client_order_id"], o["type"], o["trigger_price"]) for o in state] == [
        ("stop-1", "STOP_MARKET", "45000")]


async def test_a_stop_on_the_wrong_side_is_order_immediately_fillable(ready_client: Any, stock_binance: Any) -> None:
    """-2021 "Order would immediately trigger." (a buy stop at or under the mark 40,000)."""
    await short_btc(ready_client)
    error = await expect_error(
        ready_client, stock_binance, ccxt.OrderImmediatelyFillable,
        lambda: ready_client.create_order(PERP_BTC, "market", "buy", 0.025, None, stop_params(39000)), code=-2021,
    )
    assert isinstance(error, ccxt.InvalidOrder) and "Order would immediately trigger." in str(error)
    assert await ready_client.fetch_open_orders(PERP_BTC, None, None, {"trigger": True}) == []


async def test_close_position_takes_no_reduce_only_or_quantity(ready_client: Any, stock_binance: Any) -> None:
    """-1106 "Parameter 'reduceOnly' sent when not required." as fapi answers closePosition + reduceOnly."""
    await short_btc(ready_client)
    error = await expect_error(
        ready_client, stock_binance, ccxt.BadRequest,
        lambda: ready_client.create_order(PERP_BTC, "market", "buy", None, None,
                                          {"triggerPrice": 45000, "closePosition": True, "reduceOnly": True}),
        code=-1106,
    )
    assert "reduceOnly" in str(error)


async def test_a_stop_on_the_regular_order_endpoint_is_refused_like_fapi(ready_client: Any, stock_binance: Any) -> None:
    """fapi takes conditional types only on the algo API: -4120 -> InvalidOrder."""
    await short_btc(ready_client)
    await expect_error(
        ready_client, stock_binance, ccxt.InvalidOrder,
        lambda: ready_client.fapiPrivatePostOrder({"symbol": "BTCUSDT", "side": "BUY", "type": "STOP_MARKET",
                                                    "quantity": "0.025", "stopPrice": "45000", "reduceOnly": "true"}),
        code=-4120,
    )


async def test_cancel_a_stop_the_way_ccxt_does(ready_client: Any, sim: Any) -> None:
    await short_btc(ready_client)
    order = await ready_client.create_order(PERP_BTC, "market", "buy", 0.025, None, stop_params(45000, "stop-c"))
    with pytest.raises(ccxt.OrderNotFound):  # not on the regular cancel
        await ready_client.cancel_order(order["id"], PERP_BTC)
    seen = record_responses(ready_client)
    await ready_client.cancel_order(order["id"], PERP_BTC, {"trigger": True})
    assert seen[-1][2].split("?")[0].endswith("/fapi/v1/algoOrder") and seen[-1][3] == "DELETE"
    assert '"code":"200"' in seen[-1][4].replace(" ", "")
    assert await ready_client.fetch_open_orders(PERP_BTC, None, None, {"trigger": True}) == []
    canceled = await ready_client.fetch_order(order["id"], PERP_BTC, {"trigger": True})
    assert canceled["status"] == "canceled" and canceled["info"]["algoStatus"] == "CANCELED"
    with pytest.raises(ccxt.OrderNotFound):  # -2011: nothing open to cancel
        await ready_client.cancel_order(order["id"], PERP_BTC, {"trigger": True})
    # by client id too
    again = await ready_client.create_order(PERP_BTC, "market", "buy", 0.025, None, stop_params(45000, "stop-c2"))
    await ready_client.cancel_order(None, PERP_BTC, {"trigger": True, "clientOrderId": "stop-c2"})
    assert (await ready_client.fetch_order(again["id"], PERP_BTC, {"trigger": True}))["status"] == "canceled"
    assert sim.server.engine.open_orders() == []


async def test_the_mark_through_the_stop_fills_it_flat_with_its_fee(ready_client: Any, admin: Any, sim: Any) -> None:
    """Short 0.025 BTC at 40,000; a reduce-only buy stop at 45,000 and a close-position one at 46,000.
    The mark to 44,999: nothing. To 45,500: the first fires, the position is flat, the close-position
    stop goes with it; the algo order is FINISHED, its actual order FILLED, its trade has the fee."""
    await short_btc(ready_client)
    stop = await ready_client.create_order(PERP_BTC, "market", "buy", 0.025, None, stop_params(45000, "stop-f"))
    closing = await ready_client.create_order(
        PERP_BTC, "market", "buy", None, None,
        {"triggerPrice": 46000, "closePosition": True, "clientOrderId": "close-f", "workingType": "MARK_PRICE"})
    assert closing["info"]["closePosition"] is True and not closing["amount"]
    assert closing["info"]["workingType"] == "MARK_PRICE"
    await admin("POST", "prices", {"BTC": {"mark": 44999}})
    assert len(await ready_client.fetch_open_orders(PERP_BTC, None, None, {"trigger": True})) == 2
    await admin("POST", "prices", {"BTC": {"mark": 45500}})

    [position] = [p for p in await ready_client.fetch_positions([PERP_BTC]) if p["contracts"]] or [None]
    assert position is None
    assert await ready_client.fetch_open_orders(PERP_BTC, None, None, {"trigger": True}) == []

    fired = await ready_client.fetch_order(None, PERP_BTC, {"trigger": True, "clientOrderId": "stop-f"})
    assert fired["id"] == stop["id"] and fired["status"] == "closed"
    assert fired["info"]["algoStatus"] == "FINISHED" and fired["triggerPrice"] == 45000
    actual_id = fired["info"]["actualOrderId"]
    assert actual_id and actual_id != fired["id"] and float(fired["info"]["actualPrice"]) >= 45500
    # ccxt parses the algo order's fill as 0 (Binance's algo order carries no executedQty): the fill is
    # on the actual order, queried on the regular endpoint by actualOrderId (the algoId is unknown there)
    assert fired["filled"] == 0
    with pytest.raises(ccxt.OrderNotFound):
        await ready_client.fetch_order(fired["id"], PERP_BTC)
    actual = await ready_client.fetch_order(actual_id, PERP_BTC)
    assert (actual["status"], actual["filled"], actual["type"], actual["side"]) == ("closed", 0.025, "market", "buy")
    assert actual["info"]["origType"] == "STOP_MARKET" and actual["triggerPrice"] == 45000
    assert actual["clientOrderId"] == "stop-f"

    gone = await ready_client.fetch_order(closing["id"], PERP_BTC, {"trigger": True})
    assert gone["status"] == "canceled"

    trades = [t for t in await ready_client.fetch_my_trades(PERP_BTC) if t["order"] == actual_id]
    assert len(trades) == 1
    [trade] = trades
    engine_order = sim.server.engine.find_order("BTCUSDT", int(actual_id))
    assert trade["amount"] == 0.025 and trade["side"] == "buy" and trade["price"] == actual["average"]
    assert trade["fee"]["currency"] == "USDT" and trade["fee"]["cost"] == pytest.approx(float(engine_order.commission))
    assert trade["fee"]["cost"] > 0

    history = await ready_client.fetch_orders(PERP_BTC, None, None, {"trigger": True})
    assert [(o["clientOrderId"], o["status"]) for o in history] == [("stop-f", "closed"), ("close-f", "canceled")]


async def test_ccxt_validator_accepts_the_parsed_stop(ready_client: Any) -> None:
    from ccxt.test.exchange.base.test_order import test_order as ccxt_test_order

    await short_btc(ready_client)
    order = await ready_client.create_order(PERP_BTC, "market", "buy", 0.025, None, stop_params(45000, "stop-v"))
    now = ready_client.milliseconds()
    skipped: dict[str, Any] = {}
    for method, parsed in (
        ("createOrder", order),
        ("fetchOpenOrders", (await ready_client.fetch_open_orders(PERP_BTC, None, None, {"trigger": True}))[0]),
        ("fetchOrder", await ready_client.fetch_order(order["id"], PERP_BTC, {"trigger": True})),
    ):
        ccxt_test_order(ready_client, skipped, method, parsed, PERP_BTC, now)


async def test_transfer_moves_usdt_between_spot_and_futures(ready_client: Any, sim: Any, stock_binance: Any) -> None:
    assert ready_client.has["transfer"] is True
    seen = record_responses(ready_client)
    done = await ready_client.transfer("USDT", 20, "spot", "swap")
    assert seen[-1][2].endswith("/sapi/v1/asset/transfer")
    # Binance answers only {"tranId": ...}: ccxt's parsed transfer has the id, and no amount or status
    assert done["id"] == str(sim.server.engine.transfers[-1].tran_id) and done["currency"] == "USDT"
    back = await ready_client.transfer("USDT", 5, "linear", "spot")
    assert back["id"] != done["id"]
    state = await sim_state(sim)
    assert [(x["amount"], x["from"], x["to"]) for x in state["transfers"]] == [
        ("20", "spot", "futures"), ("5", "futures", "spot")]
    assert state["spot"]["USDT"] == "35" and state["futures"]["wallet"] == "3015"

    # over the spot balance: -5013 -> InsufficientFunds (stock ccxt, production sapi host)
    seen = record_responses(ready_client)
    with pytest.raises(ccxt.InsufficientFunds):
        await ready_client.transfer("USDT", 1000, "spot", "swap")
    status, reason, url, method, body = seen[-1]
    assert '"code":-5013' in body.replace(" ", "")
    path = "/" + url.split("/", 3)[3]
    with pytest.raises(ccxt.InsufficientFunds):
        stock_binance.handle_errors(status, reason, "https://api.binance.com" + path, method, {}, body,
                                    stock_binance.parse_json(body), None, None)
    assert len((await sim_state(sim))["transfers"]) == 2
