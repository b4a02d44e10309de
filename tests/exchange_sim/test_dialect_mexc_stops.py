"""MEXC protective stops and wallet transfers on the local exchange, driven by the unmodified ccxt
4.5.90 `mexc` class: a create_order with params.triggerPrice is a trigger (plan) order
(POST planorder/place, reduce-only as side 2 / 4), listed by fetch_open_orders(params={"trigger": True})
(planorder/list/orders, states 1), canceled by cancel_order(params={"trigger": True})
(planorder/cancel); one that fires places a market order of its own id, found through
fetch_closed_orders(params={"method": "contractPrivateGetPlanorderListOrders"}) and fetch_order, its
fill in fetch_my_trades. transfer("USDT", x, "spot", "swap") is spot v3 POST capital/transfer.

The hazards of ccxt 4.5.90 these tests pin down are in the test docstrings (triggerType defaults to
1 ">=" whatever the side; side "2" close short parses as "sell"; reduceOnly and clientOrderId are
never parsed; a canceled trigger order (state 2) parses as "open"; MEXC's 3004 maps to ExchangeError).
"""

from __future__ import annotations

import json
import urllib.parse
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from ccxt.test.exchange.base.test_order import test_order as ccxt_test_order

from rebalancer.exchange_sim.runner import RunningExchange
from tests.exchange_sim.dialect_checks import engine_amount, move_mark, sim_state
from tests.exchange_sim.test_dialect_mexc import (  # noqa: F401  (fixtures, used by name)
    BTC, SKIPPED, client, expect_error, fresh, recorded, sim, stock,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

D = Decimal
PLAN_PLACE = "/api/v1/private/planorder/place"
TRIGGER = {"trigger": True}
PLAN_LIST = {"method": "contractPrivateGetPlanorderListOrders"}


async def short_250(client: Any) -> None:
    """The scenario's short of 200 contracts (0.02 BTC) plus 50: 250 contracts (0.025 BTC)."""
    await client.create_order(BTC, "market", "sell", 50, None)


async def place_stop(client: Any, price: float, cid: str, amount: float = 250, **extra: Any) -> dict[str, Any]:
    return await client.create_order(BTC, "market", "buy", amount, None,
                                     {"triggerPrice": price, "reduceOnly": True, "clientOrderId": cid, **extra})


# --------------------------------------------------------------------------- place and list


async def test_a_reduce_only_stop_is_a_plan_order_as_ccxt_sends_it(client: Any, sim: RunningExchange) -> None:
    """ccxt: planorder/place with side 2 (close short, no reduceOnly field), type 6 kept, orderType 5,
    triggerPrice as a string, triggerType 1 / executeCycle 1 (24 h) / trend 1 (latest price) by
    default, the client id as externalOid; the keys of the recorded real trigger request (plus
    externalOid; no price for a market trigger). The reply is the bare trigger order id."""
    await short_250(client)
    created = await place_stop(client, 45000, "stop-1")
    assert urllib.parse.urlsplit(client.last_request_url).path == PLAN_PLACE
    body = json.loads(client.last_request_body)
    assert body == {"symbol": "BTC_USDT", "vol": 250.0, "type": 6, "openType": 2, "side": 2, "externalOid": "stop-1",
                    "triggerPrice": "45000", "triggerType": 1, "executeCycle": 1, "trend": 1, "orderType": 5}
    real = next(e for e in recorded("requests")["methods"]["createOrder"]
                if e["url"].endswith("planorder/place"))["output"]
    assert set(body) - {"externalOid"} == set(real) - {"price"}
    order = sim.server.engine.orders[-1]
    assert (order.type, order.status, order.stop_price, order.orig_qty, order.reduce_only, order.client_order_id) == (
        "STOP_MARKET", "NEW", D(45000), D("0.025"), True, "stop-1")
    assert created["id"] == str(order.order_id + 10**12)  # a trigger order id, not an order id
    assert engine_amount(sim, "BTC") == D("-0.025")  # resting: nothing executed


async def test_the_stop_is_in_the_trigger_list_only_as_ccxt_parses_it(client: Any, sim: RunningExchange) -> None:
    """fetch_open_orders(symbol, params={"trigger": True}) reads planorder/list/orders?states=1: the
    stop with its triggerPrice, amount (contracts) and state. ccxt 4.5.90 parses neither reduceOnly
    nor clientOrderId for MEXC (None: read info.side 2 / 4 for reduce-only), and parses side "2"
    (close short, a BUY) as "sell". The plain open-order list and order/get do not know it."""
    await short_250(client)
    created = await place_stop(client, 45000, "stop-1")
    assert await client.fetch_open_orders(BTC) == []
    stops = await client.fetch_open_orders(BTC, None, None, TRIGGER)
    assert "states=1" in client.last_request_url and "planorder/list/orders" in client.last_request_url
    assert [s["id"] for s in stops] == [created["id"]]
    stop = stops[0]
    assert (stop["triggerPrice"], stop["amount"], stop["status"], stop["symbol"]) == (45000, 250, "open", BTC)
    assert (stop["reduceOnly"], stop["clientOrderId"], stop["side"]) == (None, None, "sell")  # ccxt's parse
    info = stop["info"]
    assert (info["side"], info["triggerType"], info["trend"], info["orderType"], info["executeCycle"]) == (
        "2", "1", "1", "5", "24")
    assert "orderId" not in info and "price" not in info
    ccxt_test_order(client, SKIPPED["order"], "fetchOpenOrders", stop, BTC, sim.server.clock() + 1000)
    with pytest.raises(ccxt.ExchangeError, match="2040"):  # not an order (yet): order/get does not know it
        await client.fetch_order(created["id"], BTC)


async def test_stops_on_the_wrong_side_are_refused_with_3004(client: Any, sim: RunningExchange, stock: Any) -> None:
    """A buy stop at or under the mark (triggerType 1: ">=" already true) is refused with MEXC's 3004
    "Trigger price error", which ccxt 4.5.90 does not map: a bare ExchangeError, not InvalidOrder.
    Hazard: ccxt sends triggerType 1 whatever the side, so a sell stop under the mark (a long's
    stop-loss) needs params triggerType 2, or it is refused the same way."""
    await short_250(client)
    await expect_error(client, stock, ccxt.ExchangeError, lambda: place_stop(client, 39000, "low"), code=3004)
    await expect_error(client, stock, ccxt.ExchangeError, lambda: place_stop(client, 40000, "at"), code=3004)
    sell = {"triggerPrice": 35000, "reduceOnly": True}
    await expect_error(client, stock, ccxt.ExchangeError,
                       lambda: client.create_order(BTC, "market", "sell", 10, None, sell), code=3004)
    created = await client.create_order(BTC, "market", "sell", 10, None, {**sell, "triggerType": 2, "trend": 2})
    row = (await client.fetch_open_orders(BTC, None, None, TRIGGER))[0]
    assert row["id"] == created["id"] and (row["info"]["triggerType"], row["info"]["trend"]) == ("2", "2")
    assert [o.type for o in sim.server.engine.open_orders()] == ["STOP_MARKET"]


# --------------------------------------------------------------------------- cancel


async def test_cancel_a_stop_through_planorder_cancel(client: Any, sim: RunningExchange, stock: Any) -> None:
    """cancel_order(id, symbol, params={"trigger": True}) posts [{"symbol", "orderId"}] to
    planorder/cancel; the reply is the bare success body. Without the flag ccxt sends order/cancel,
    where the trigger id is unknown (2040 in data: ccxt raises InvalidOrder itself). A second cancel
    is refused (2041, unmapped in ccxt: ExchangeError). Hazard: the canceled trigger order (state 2)
    parses as "open" in ccxt 4.5.90 (its status table reads 2 as a regular order's "uncompleted")."""
    await short_250(client)
    created = await place_stop(client, 45000, "stop-1")
    with pytest.raises(ccxt.InvalidOrder, match="order not exist"):
        await client.cancel_order(created["id"], BTC)
    canceled = await client.cancel_order(created["id"], BTC, TRIGGER)
    assert json.loads(client.last_request_body) == [{"symbol": "BTC_USDT", "orderId": created["id"]}]
    assert canceled["id"] == created["id"] and canceled["info"] == {"success": True, "code": 0}
    assert sim.server.engine.orders[-1].status == "CANCELED"
    assert await client.fetch_open_orders(BTC, None, None, TRIGGER) == []
    await expect_error(client, stock, ccxt.ExchangeError, lambda: client.cancel_order(created["id"], BTC, TRIGGER),
                       code=2041)
    await expect_error(client, stock, ccxt.ExchangeError, lambda: client.cancel_order("1000000000123", BTC, TRIGGER),
                       code=2040)
    listed = await client.fetch_orders(BTC, None, None, {**PLAN_LIST, "states": "2"})
    assert [(o["id"], o["info"]["state"], o["status"]) for o in listed] == [(created["id"], "2", "open")]


# --------------------------------------------------------------------------- fire


async def test_a_stop_fires_when_the_mark_crosses_and_is_found_with_its_fill(client: Any, sim: RunningExchange) -> None:
    """The mark through the trigger (POST /_sim/prices): the position is flat, the trigger order is
    executed (state 3) with the id of the market order it placed (`orderId`, which ccxt reads first,
    so the parsed id IS that order's id); fetch_order finds it filled with its fee, and
    fetch_my_trades has the fill. Not found by the client id: MEXC trigger orders carry no externalOid."""
    await short_250(client)
    first = await place_stop(client, 41000, "stop-1")
    await client.cancel_order(first["id"], BTC, TRIGGER)
    created = await place_stop(client, 45000, "stop-2")
    await move_mark(sim, "BTC", 44000)
    assert len(await client.fetch_open_orders(BTC, None, None, TRIGGER)) == 1  # not yet
    await move_mark(sim, "BTC", 45000)
    assert engine_amount(sim, "BTC") == 0
    assert await client.fetch_open_orders(BTC, None, None, TRIGGER) == []
    order = sim.server.engine.orders[-1]
    assert (order.status, order.executed_qty, order.client_order_id) == ("FILLED", D("0.025"), "stop-2")
    closed = await client.fetch_closed_orders(BTC, None, None, PLAN_LIST)
    assert "states=3" in client.last_request_url and "planorder/list/orders" in client.last_request_url
    assert len(closed) == 1
    plan = closed[0]
    assert (plan["info"]["id"], plan["info"]["state"], plan["status"]) == (created["id"], "3", "closed")
    assert plan["id"] == plan["info"]["orderId"] == str(order.order_id)
    filled = await client.fetch_order(plan["id"], BTC)
    assert (filled["status"], filled["filled"], filled["amount"]) == ("closed", 250, 250)
    assert filled["info"]["side"] == "2" and filled["info"]["orderType"] == "5"
    assert D(str(filled["fee"]["cost"])) == order.commission > 0
    ccxt_test_order(client, SKIPPED["order"], "fetchOrder", filled, BTC, sim.server.clock() + 1000)
    trades = [t for t in await client.fetch_my_trades(BTC) if t["order"] == plan["id"]]
    assert [t["amount"] for t in trades] == [250]
    assert D(str(trades[0]["fee"]["cost"])) == order.commission
    with pytest.raises(ccxt.ExchangeError, match="2040"):
        await client.contractPrivateGetOrderExternalSymbolExternalOid({"symbol": "BTC_USDT", "external_oid": "stop-2"})


async def test_a_stop_without_its_position_expires_as_invalid(client: Any, sim: RunningExchange) -> None:
    """Closed by hand first, the stop finds nothing to reduce when the mark crosses: state 4 (invalid,
    ccxt "canceled"), no order placed."""
    created = await place_stop(client, 45000, "stop-1", amount=200)
    await client.create_order(BTC, "market", "buy", 200, None, {"reduceOnly": True})
    await move_mark(sim, "BTC", 46000)
    rows = await client.fetch_orders(BTC, None, None, PLAN_LIST)
    assert [(r["id"], r["info"]["state"], r["status"]) for r in rows] == [(created["id"], "4", "canceled")]


# --------------------------------------------------------------------------- transfer


async def test_transfer_moves_usdt_between_spot_and_futures(client: Any, sim: RunningExchange, stock: Any) -> None:
    """transfer("USDT", x, "spot", "swap") posts capital/transfer (signed spot v3, in the query):
    asset, amount, fromAccountType SPOT, toAccountType FUTURES; the reply is {"tranId"} only (ccxt
    fills amount and accounts from its arguments). Over the source wallet: 10101 -> InsufficientFunds."""
    assert client.has["transfer"] is True
    wallet = sim.server.engine.wallet
    done = await client.transfer("USDT", 20, "spot", "swap")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(client.last_request_url).query))
    assert urllib.parse.urlsplit(client.last_request_url).path == "/api/v3/capital/transfer"
    assert {k: query[k] for k in ("asset", "amount", "fromAccountType", "toAccountType")} == {
        "asset": "USDT", "amount": "20", "fromAccountType": "SPOT", "toAccountType": "FUTURES"}
    assert list(done["info"]) == ["tranId"] and len(done["id"]) == 32
    assert (done["amount"], done["fromAccount"], done["toAccount"]) == (20, "spot", "swap")
    assert sim.server.engine.spot_balances["USDT"] == 30 and sim.server.engine.wallet == wallet + 20
    back = await client.transfer("USDT", 5, "future", "spot")
    assert back["id"] != done["id"] and sim.server.engine.spot_balances["USDT"] == 35
    assert (await client.fetch_balance())["USDT"]["free"] == 35
    transfers = (await sim_state(sim))["transfers"]
    assert [(t["amount"], t["from"], t["to"]) for t in transfers] == [
        ("20", "spot", "futures"), ("5", "futures", "spot")]
    await expect_error(client, stock, ccxt.InsufficientFunds, lambda: client.transfer("USDT", 1000, "spot", "swap"),
                       code=10101)
    assert len(sim.server.engine.transfers) == 2
