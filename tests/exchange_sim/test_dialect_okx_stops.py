"""The OKX dialect's protective stops (algo orders) and funds transfers, driven by the unmodified ccxt
`okx` class: a reduce-only market stop goes to POST trade/order-algo (ordType trigger, or conditional
with slTriggerPx / closeFraction), is listed by trade/orders-algo-pending, refused on the wrong side of
the price with OKX's stop-loss codes, cancelled through trade/cancel-algos, fires when the mark crosses
it and is then found by its algoClOrdId (state effective, the ordId of the market order it placed),
whose fill and fee are in trade/fills. POST asset/transfer moves USDT between the funding (6) and the
trading (18) account.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any, AsyncIterator

import ccxt
import pytest
import pytest_asyncio
from ccxt.test.exchange.base.test_order import test_order as ccxt_test_order
from ccxt.test.exchange.base.test_trade import test_trade as ccxt_test_trade

from rebalancer.exchange_sim.runner import RunningExchange
from tests.exchange_sim.dialect_checks import engine_amount, key_mismatches, move_mark, sim_state
from tests.exchange_sim.test_dialect_okx import (  # noqa: F401 - fixtures, used by name
    BTC, ETH, client, expect_error, fresh, recorded, sim, stock,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]
D = Decimal
SHORT_CONTRACTS = 2  # the scenario's BTC short: -0.02 BTC = 2 contracts of 0.01 at 39,000, mark 40,000
# OKX answers a market trigger order's ordPx as "-1" and ccxt's parse_order reads it as the price (-1.0):
# the validator's price > 0 check fails on that, as it would on the real venue; once it has fired, ccxt's
# safe_order makes cost = filled x that price (< 0) too.
ALGO_SKIPPED = {"price": True, "cost": True}


def sent(client: Any) -> list[tuple[str, str, Any]]:
    """(method, path with query, JSON body) of every request the client sends from now on."""
    seen: list[tuple[str, str, Any]] = []
    original = client.fetch

    async def spy(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        seen.append((method, url.split("/api/v5/", 1)[-1], json.loads(body) if body else None))
        return await original(url, method, headers, body)

    client.fetch = spy
    return seen


@pytest_asyncio.fixture(loop_scope="module")
async def spied(client: Any) -> AsyncIterator[list[tuple[str, str, Any]]]:
    seen = sent(client)
    yield seen
    del client.fetch


def recorded_algo_row() -> dict[str, Any]:
    entry = next(e for e in recorded("responses")["fetchOpenOrders"]
                 if e["description"] == "fetchOpenOrders trigger with since = 0")
    return entry["httpResponse"]["data"][0]


def recorded_algo_ack() -> dict[str, Any]:
    entry = next(e for e in recorded("responses")["createOrder"]
                 if e["description"] == "type2 & type3 together" and "triggerPrice" in e["input"][5])
    return entry["httpResponse"]["data"][0]


# --------------------------------------------------------------------------- placing and listing


async def test_a_reduce_only_trigger_stop_goes_to_order_algo_and_is_listed_as_ccxt_parses_it(
        client: Any, sim: RunningExchange, spied: list[tuple[str, str, Any]]) -> None:
    created = await client.create_order(BTC, "market", "buy", SHORT_CONTRACTS, None,
                                        {"triggerPrice": 45000, "reduceOnly": True, "clientOrderId": "stopA1"})
    method, path, body = spied[-1]
    assert (method, path) == ("POST", "trade/order-algo")
    assert body == {"instId": "BTC-USDT-SWAP", "side": "buy", "ordType": "trigger", "sz": "2", "tdMode": "cross",
                    "triggerPx": "45000", "orderPx": "-1", "clOrdId": "stopA1", "reduceOnly": True}
    assert created["clientOrderId"] == "stopA1" and created["id"] == created["info"]["algoId"]
    assert key_mismatches(created["info"], recorded_algo_ack()) == []
    [stop] = [o for o in sim.server.engine.open_orders("BTCUSDT")]
    assert (stop.type, stop.side, stop.stop_price, stop.orig_qty, stop.reduce_only) == (
        "STOP_MARKET", "BUY", D(45000), D("0.02"), True)

    assert await client.fetch_open_orders(BTC) == []  # not a regular order: trade/orders-pending omits it
    [listed] = await client.fetch_open_orders(BTC, None, None, {"trigger": True})
    assert spied[-1][1] == "trade/orders-algo-pending?instId=BTC-USDT-SWAP&ordType=trigger"
    assert (listed["id"], listed["clientOrderId"], listed["triggerPrice"], listed["reduceOnly"]) == (
        created["id"], "stopA1", 45000.0, True)
    assert (listed["status"], listed["side"], listed["amount"], listed["type"]) == ("open", "buy", 2.0, "trigger")
    assert listed["price"] == -1.0  # ordPx -1: a market order when it fires
    assert key_mismatches(listed["info"], recorded_algo_row()) == []
    ccxt_test_order(client, ALGO_SKIPPED, "fetchOpenOrders", listed, BTC, int(time.time() * 1000))
    # A conditional list does not show a trigger order (ccxt's default ordType for {"trigger": True} is trigger).
    assert await client.fetch_open_orders(BTC, None, None, {"trigger": True, "ordType": "conditional"}) == []


async def test_a_close_position_stop_loss_is_a_conditional_order_without_size(
        client: Any, sim: RunningExchange, spied: list[tuple[str, str, Any]]) -> None:
    created = await client.create_order(BTC, "market", "buy", 0, None, {
        "stopLossPrice": 46000, "closeFraction": "1", "reduceOnly": True, "clientOrderId": "closeAll1"})
    _, path, body = spied[-1]
    assert path == "trade/order-algo" and "sz" not in body
    assert (body["ordType"], body["slTriggerPx"], body["slOrdPx"], body["closeFraction"]) == (
        "conditional", "46000", "-1", "1")
    [stop] = sim.server.engine.open_orders("BTCUSDT")
    assert stop.close_position and stop.stop_price == D(46000)
    [listed] = await client.fetch_open_orders(BTC, None, None, {"trigger": True, "ordType": "conditional"})
    assert (listed["id"], listed["stopLossPrice"], listed["triggerPrice"], listed["reduceOnly"]) == (
        created["id"], 46000.0, None, True)
    assert listed["info"]["closeFraction"] == "1" and listed["info"]["sz"] == ""
    assert key_mismatches(listed["info"], recorded_algo_row()) == []
    assert await client.fetch_open_orders(BTC, None, None, {"trigger": True}) == []  # ordType=trigger only


async def test_a_stop_on_the_wrong_side_of_the_price_is_refused_with_okx_stop_loss_codes(
        client: Any, stock: Any, sim: RunningExchange) -> None:
    # A buy stop (closing the short) under the mark 40,000: 51278; a sell stop above it: 51280.
    await expect_error(client, stock, ccxt.InvalidOrder, lambda: client.create_order(
        BTC, "market", "buy", SHORT_CONTRACTS, None, {"triggerPrice": 39000, "reduceOnly": True}), code="51278")
    await expect_error(client, stock, ccxt.InvalidOrder, lambda: client.create_order(
        BTC, "market", "sell", SHORT_CONTRACTS, None, {"stopLossPrice": 41000, "reduceOnly": True}), code="51280")
    assert sim.server.engine.orders == []


async def test_cancel_a_stop_through_cancel_algos(client: Any, sim: RunningExchange,
                                                  spied: list[tuple[str, str, Any]]) -> None:
    created = await client.create_order(BTC, "market", "buy", SHORT_CONTRACTS, None,
                                        {"triggerPrice": 45000, "reduceOnly": True, "clientOrderId": "stopC1"})
    canceled = await client.cancel_order(created["id"], BTC, {"trigger": True})
    assert spied[-1][1:] == ("trade/cancel-algos", [{"algoId": created["id"], "instId": "BTC-USDT-SWAP"}])
    assert canceled["id"] == created["id"]
    assert sim.server.engine.open_orders() == []
    assert await client.fetch_open_orders(BTC, None, None, {"trigger": True}) == []
    found = await client.fetch_order(created["id"], BTC, {"trigger": True})
    assert (found["status"], found["clientOrderId"]) == ("canceled", "stopC1")
    # fetch_canceled_orders needs ordType even with trigger (ccxt raises ArgumentsRequired without it).
    [listed] = await client.fetch_canceled_orders(BTC, None, None, {"trigger": True, "ordType": "trigger"})
    assert listed["id"] == created["id"]
    # Cancelling it again, or as a regular order: OKX 51400 (OrderNotFound).
    with pytest.raises(ccxt.OrderNotFound):
        await client.cancel_order(created["id"], BTC, {"trigger": True})
    with pytest.raises(ccxt.OrderNotFound):
        await client.fetch_order(created["id"], BTC)  # an algoId is no regular ordId


async def test_the_mark_through_a_stop_fires_it_flat_found_by_client_id_with_its_fill_and_fee(
        client: Any, sim: RunningExchange) -> None:
    stop = await client.create_order(BTC, "market", "buy", SHORT_CONTRACTS, None,
                                     {"triggerPrice": 45000, "reduceOnly": True, "clientOrderId": "stopF1"})
    close_all = await client.create_order(BTC, "market", "buy", 0, None, {
        "stopLossPrice": 47000, "closeFraction": "1", "reduceOnly": True, "clientOrderId": "closeF1"})
    await move_mark(sim, "BTC", 44999, with_spot=True)
    assert len(await client.fetch_open_orders(BTC, None, None, {"trigger": True})) == 1
    await move_mark(sim, "BTC", 45500, with_spot=True)
    assert engine_amount(sim, "BTC") == 0
    assert await client.fetch_open_orders(BTC, None, None, {"trigger": True}) == []
    assert await client.fetch_open_orders(BTC, None, None, {"trigger": True, "ordType": "conditional"}) == []

    fired = await client.fetch_order(stop["id"], BTC, {"trigger": True, "clientOrderId": "stopF1"})
    assert (fired["id"], fired["status"], fired["clientOrderId"], fired["triggerPrice"]) == (
        stop["id"], "closed", "stopF1", 45000.0)
    child_id = fired["info"]["ordId"]
    assert child_id and child_id != stop["id"] and fired["info"]["ordIdList"] == [child_id]
    assert fired["info"]["state"] == "effective" and fired["info"]["actualSz"] == "2"
    ccxt_test_order(client, ALGO_SKIPPED, "fetchOrder", fired, BTC, int(time.time() * 1000))
    [closed] = await client.fetch_closed_orders(BTC, None, None, {"trigger": True})
    assert closed["id"] == stop["id"]
    # The close-position stop went with the position (OKX cancels it).
    gone = await client.fetch_order(close_all["id"], BTC, {"trigger": True})
    assert gone["status"] == "canceled"

    engine_order = next(o for o in sim.server.engine.orders if o.client_order_id == "stopF1")
    child = await client.fetch_order(child_id, BTC)
    assert (child["status"], child["type"], child["filled"], child["side"]) == ("closed", "market", 2.0, "buy")
    assert child["info"]["algoId"] == stop["id"] and child["info"]["algoClOrdId"] == "stopF1"
    assert D(str(child["average"])) == engine_order.avg_price
    ccxt_test_order(client, {}, "fetchOrder", child, BTC, int(time.time() * 1000))

    trades = [t for t in await client.fetch_my_trades(BTC) if t["order"] == child_id]
    assert len(trades) == 1 and trades[0]["amount"] == 2.0
    assert D(str(trades[0]["fee"]["cost"])) == engine_order.commission > 0
    assert trades[0]["fee"]["currency"] == "USDT"
    ccxt_test_trade(client, {}, "fetchMyTrades", trades[0], BTC, int(time.time() * 1000), False)


async def test_a_stop_whose_position_is_gone_is_canceled_when_the_mark_crosses(client: Any, sim: RunningExchange) -> None:
    stop = await client.create_order(BTC, "market", "buy", SHORT_CONTRACTS, None,
                                     {"triggerPrice": 45000, "reduceOnly": True})
    await client.create_order(BTC, "market", "buy", SHORT_CONTRACTS, None, {"reduceOnly": True})  # flat
    await move_mark(sim, "BTC", 46000, with_spot=True)
    found = await client.fetch_order(stop["id"], BTC, {"trigger": True})
    assert found["status"] == "canceled" and found["filled"] is None  # ccxt's reading of order_failed
    assert (found["info"]["state"], found["info"]["failCode"], found["info"]["ordId"]) == ("order_failed", "51169", "")
    [failed] = await client.fetch_closed_orders(BTC, None, None, {"trigger": True, "state": "order_failed"})
    assert failed["id"] == stop["id"]


# --------------------------------------------------------------------------- transfers


async def test_transfer_moves_usdt_between_funding_and_trading(client: Any, stock: Any, sim: RunningExchange,
                                                             spied: list[tuple[str, str, Any]]) -> None:
    engine = sim.server.engine
    wallet, spot = engine.wallet, engine.spot_balances["USDT"]
    into = await client.transfer("USDT", 20, "funding", "trading")
    assert spied[-1][1:] == ("asset/transfer", {"ccy": "USDT", "amt": "20", "type": "0", "from": "6", "to": "18"})
    assert (into["currency"], into["amount"], into["fromAccount"], into["toAccount"]) == ("USDT", 20.0, "funding", "trading")
    assert into["id"]
    out = await client.transfer("USDT", 5, "trading", "funding", {"clientId": "move1"})
    assert out["info"]["clientId"] == "move1"
    again = await client.transfer("USDT", 5, "trading", "funding", {"clientId": "move1"})  # idempotent
    assert again["id"] == out["id"]
    assert (engine.wallet, engine.spot_balances["USDT"]) == (wallet + 15, spot - 15)
    transfers = (await sim_state(sim))["transfers"]
    assert [(x["from"], x["to"], x["amount"]) for x in transfers] == [("spot", "futures", "20"), ("futures", "spot", "5")]

    await expect_error(client, stock, ccxt.InsufficientFunds,
                       lambda: client.transfer("USDT", 1000, "funding", "trading"), code="58350")
    # ccxt maps "spot" and "swap" alike to the unified trading account (18): OKX has no such transfer.
    await expect_error(client, stock, ccxt.BadRequest, lambda: client.transfer("USDT", 1, "spot", "swap"), code="51000")
    assert len(engine.transfers) == 2
    # The trading account's bills carry them (type 1, subType 11 in / 12 out, no instrument: ccxt's
    # fetch_ledger sends its default instType and so never lists them) with the running balance.
    reply = await client.privateGetAccountBills({"ccy": "USDT", "type": "1"})
    moves = [client.parse_ledger_entry(row) for row in reply["data"]]
    assert [(e["type"], e["info"]["subType"], e["info"]["balChg"]) for e in moves] == [
        ("transfer", "12", "-5"), ("transfer", "11", "20")]  # newest first
    assert D(moves[0]["info"]["bal"]) == engine.wallet


async def test_eth_stop_uses_its_own_contract_size(client: Any, sim: RunningExchange) -> None:
    """ETH-USDT-SWAP contracts are 0.1 ETH: a sell stop of 3 contracts under the mark on a long of 0.3 ETH."""
    await client.create_order(ETH, "market", "buy", 3)
    await client.create_order(ETH, "market", "sell", 3, None, {"triggerPrice": 1900, "reduceOnly": True})
    [stop] = sim.server.engine.open_orders("ETHUSDT")
    assert (stop.orig_qty, stop.side) == (D("0.3"), "SELL")
    await move_mark(sim, "ETH", 1899, with_spot=True)
    assert engine_amount(sim, "ETH") == 0
