"""Order-size limits and book depth: MARKET_LOT_SIZE vs LOT_SIZE (-4005), and `depth` levels that make market
and IOC orders fill partially (status EXPIRED with executedQty < origQty), with exact fills, fees and positions.

The BTC book here: depth [0.5, 1.0, 2.0] every 0.05% (depth_step 0.0005) from mark 40,000, no spread:
  asks 40,000 x 0.5 | 40,020 x 1.0 | 40,040 x 2.0        bids 40,000 x 0.5 | 39,980 x 1.0 | 39,960 x 2.0
"""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from typing import Any

import ccxt
import pytest

from rebalancer.exchange_sim.dialects.binance.codes import binance_body
from rebalancer.exchange_sim import Rejection, Engine, OrderRequest, RunningExchange, scenario_from_dict
from tests.exchange_sim.conftest import base_scenario, expect_error

pytestmark = pytest.mark.integration

PERP_BTC, PERP_ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
NOW = 1_700_000_000_000


def deep(**btc: Any) -> dict[str, Any]:
    scenario = base_scenario(futures={"wallet": 100000, "leverage": 5})
    scenario["markets"]["BTC"] = {**scenario["markets"]["BTC"], "depth": [0.5, 1.0, 2.0], **btc}
    scenario["markets"]["ETH"] = {**scenario["markets"]["ETH"], "max_qty": 500, "market_max_qty": 50}
    return scenario


@pytest.fixture
def scenario() -> dict[str, Any]:
    return deep()


@pytest.fixture
def stock_binance() -> Any:
    return ccxt.binance()


def engine_for(**btc: Any) -> Engine:
    return Engine(scenario_from_dict(deep(**btc)), clock=lambda: NOW)


def market(side: str, qty: str, symbol: str = "BTCUSDT", **kw: Any) -> OrderRequest:
    return OrderRequest(symbol=symbol, side=side, type="MARKET", quantity=D(qty), **kw)


def limit(side: str, qty: str, price: str, tif: str, symbol: str = "BTCUSDT", **kw: Any) -> OrderRequest:
    return OrderRequest(symbol=symbol, side=side, type="LIMIT", quantity=D(qty), price=D(price), time_in_force=tif, **kw)


def fills(order: Any) -> list[tuple[D, D]]:
    return [(f.price, f.qty) for f in order.fills]


# --------------------------------------------------------------------------- scenario keys


def test_depth_and_market_max_qty_defaults_and_values() -> None:
    """Without the keys: no depth, step 0.0005, market_max_qty = max_qty; with them, as given."""
    sc = scenario_from_dict(deep())
    btc, eth = sc.market("BTC"), sc.market("ETH")
    assert (btc.depth, btc.depth_step, btc.market_max_qty, btc.max_qty) == (
        (D("0.5"), D("1.0"), D("2.0")), D("0.0005"), D(10000), D(10000))
    assert (eth.depth, eth.market_max_qty, eth.max_qty) == ((), D(50), D(500))


@pytest.mark.parametrize(
    ("market_keys", "key"),
    [
        ({"depth": 1}, "markets.BTC.depth"),
        ({"depth": [0.5, 0.0005]}, "markets.BTC.depth[1]"),  # off the 0.001 step
        ({"depth": [-1]}, "markets.BTC.depth[0]"),
        ({"depth": [1], "depth_step": 0.5}, "markets.BTC.depth_step"),
        ({"depth_step": 0}, "markets.BTC.depth_step"),
        ({"market_max_qty": 20000}, "markets.BTC.market_max_qty"),  # above max_qty 10,000
        ({"market_max_qty": 0.0001, "min_qty": 0.001}, "markets.BTC.market_max_qty"),
    ],
)
def test_bad_depth_and_market_max_qty_name_the_key(market_keys: dict[str, Any], key: str) -> None:
    from rebalancer.exchange_sim import ScenarioError

    with pytest.raises(ScenarioError) as info:
        scenario_from_dict({"markets": {"BTC": {"spot_price": 40000, "amount_step": 0.001, **market_keys}}})
    assert info.value.key == key


# --------------------------------------------------------------------------- engine: quantity limits


def test_market_orders_are_bounded_by_market_max_qty_and_limits_by_max_qty() -> None:
    """ETH: MARKET above 50 is -4005; a LIMIT of 60 (<= LOT_SIZE 500) rests; a LIMIT of 500.01 is -4005."""
    engine = engine_for()
    with pytest.raises(Rejection) as info:
        engine.place_order(market("BUY", "50.001", "ETHUSDT"))
    assert binance_body(info.value)[:2] == (-4005, "Quantity greater than max quantity.")
    assert engine.place_order(limit("BUY", "60", "1500", "GTC", "ETHUSDT")).status == "NEW"
    with pytest.raises(Rejection) as info:
        engine.place_order(limit("BUY", "500.001", "1500", "GTC", "ETHUSDT"))
    assert binance_body(info.value)[0] == -4005
    assert engine.place_order(market("BUY", "5", "ETHUSDT")).status == "FILLED"


# --------------------------------------------------------------------------- engine: depth


def test_market_order_walks_the_levels_and_the_rest_expires() -> None:
    """Buy 5 against 0.5 + 1.0 + 2.0: 3.5 filled for 20,000 + 40,020 + 80,080 = 140,100, avg 40,028.57..., EXPIRED.

    Only the filled part moves the account: position 3.5 at the average, fee 140,100 x 0.0004 = 56.04 in three
    COMMISSION rows (one per trade), wallet 100,000 - 56.04.
    """
    engine = engine_for()
    order = engine.place_order(market("BUY", "5", client_order_id="deep-1"))
    assert (order.status, order.orig_qty, order.executed_qty) == ("EXPIRED", D(5), D("3.5"))
    assert fills(order) == [(D(40000), D("0.5")), (D(40020), D("1.0")), (D(40040), D("2.0"))]
    assert order.cum_quote == D(140100)
    assert order.avg_price == D(140100) / D("3.5")
    assert order.commission == D("56.04")
    pos = engine.positions["BTCUSDT"]
    assert (pos.amount, pos.entry_price) == (D("3.5"), D(140100) / D("3.5"))
    assert engine.wallet == D(100000) - D("56.04")
    assert [(i.income_type, i.income) for i in engine.income] == [
        ("COMMISSION", D("-8")), ("COMMISSION", D("-16.008")), ("COMMISSION", D("-32.032"))]
    assert engine.find_order("BTCUSDT", client_order_id="deep-1") is order


def test_a_sell_walks_the_bids_down_and_a_small_order_fills_whole() -> None:
    """Sell 1.2: 0.5 @ 40,000 + 0.7 @ 39,980, FILLED; the next 0.5 again gets 40,000 (the book replenishes)."""
    engine = engine_for()
    order = engine.place_order(market("SELL", "1.2"))
    assert (order.status, fills(order)) == ("FILLED", [(D(40000), D("0.5")), (D(39980), D("0.7"))])
    again = engine.place_order(market("SELL", "0.5"))
    assert fills(again) == [(D(40000), D("0.5"))]
    assert engine.positions["BTCUSDT"].amount == D("-1.7")


def test_reduce_only_market_order_closes_what_the_depth_allows() -> None:
    """Long 3 (0.5 + 1.0 + 1.5): a reduce-only sell of 3 fills 0.5 + 1.0 + 1.5 at 40,000 / 39,980 / 39,960."""
    engine = engine_for()
    engine.place_order(market("BUY", "3"))
    close = engine.place_order(market("SELL", "3", reduce_only=True))
    assert (close.status, fills(close)) == ("FILLED", [(D(40000), D("0.5")), (D(39980), D(1)), (D(39960), D("1.5"))])
    assert engine.positions["BTCUSDT"].amount == 0
    # bought 20,000 + 40,020 + 60,060 = 120,080; sold 20,000 + 39,980 + 59,940 = 119,920: -160 realized
    # (the entry 120,080 / 3 repeats, so the Decimal sum is -160 to 20 decimals)
    assert round(sum(o.realized_pnl for o in engine.orders), 20) == D(-160)


def test_ioc_limit_fills_only_levels_within_its_price() -> None:
    """IOC buy 5 @ 40,020 takes 0.5 + 1.0 and expires the rest; IOC sell 2 @ 39,990 takes only 0.5 @ 40,000."""
    engine = engine_for()
    buy = engine.place_order(limit("BUY", "5", "40020", "IOC"))
    assert (buy.status, buy.executed_qty, fills(buy)) == ("EXPIRED", D("1.5"), [(D(40000), D("0.5")), (D(40020), D(1))])
    sell = engine.place_order(limit("SELL", "2", "39990", "IOC"))
    assert (sell.status, sell.executed_qty, sell.avg_price) == ("EXPIRED", D("0.5"), D(40000))
    assert engine.positions["BTCUSDT"].amount == D(1)


def test_fok_fills_whole_or_not_at_all() -> None:
    """FOK buy 5 @ 40,040 (only 3.5 there) expires untouched; FOK buy 3 @ 40,040 fills 0.5 + 1.0 + 1.5."""
    engine = engine_for()
    none = engine.place_order(limit("BUY", "5", "40040", "FOK"))
    assert (none.status, none.executed_qty, engine.income) == ("EXPIRED", D(0), [])
    whole = engine.place_order(limit("BUY", "3", "40040", "FOK"))
    assert (whole.status, fills(whole)) == ("FILLED", [(D(40000), D("0.5")), (D(40020), D(1)), (D(40040), D("1.5"))])


def test_gtc_limit_fills_what_it_can_and_rests_the_rest() -> None:
    """GTC buy 5 @ 40,020: 1.5 at once (taker), 3.5 rests PARTIALLY_FILLED reserving 3.5 x 40,020 / 5 of margin;
    when the ask drops to 40,010 the rest fills at 40,020 with the maker fee (0.0002)."""
    engine = engine_for()
    order = engine.place_order(limit("BUY", "5", "40020", "GTC"))
    assert (order.status, order.executed_qty, order.is_open) == ("PARTIALLY_FILLED", D("1.5"), True)
    assert engine.account().open_order_initial_margin == D("3.5") * D(40020) / 5
    engine.set_prices("BTC", mark=D(40010))
    assert (order.status, order.executed_qty) == ("FILLED", D(5))
    assert [(f.price, f.qty, f.maker) for f in order.fills] == [
        (D(40000), D("0.5"), False), (D(40020), D(1), False), (D(40020), D("3.5"), True)]
    assert order.commission == D(60020) * D("0.0004") + D(140070) * D("0.0002")


def test_depth_levels_with_a_spread_start_at_the_bid_and_ask_on_the_tick() -> None:
    """Spread 0.001: ask 40,020, next 40,020 x 1.0005 = 40,040.01 -> 40,040.1 (rounded up); bid 39,980 -> 39,960.0."""
    scenario = deep()
    scenario["futures"]["spread"] = 0.001
    engine = Engine(scenario_from_dict(scenario), clock=lambda: NOW)
    m = engine.markets["BTCUSDT"]
    assert engine.book_levels(m, "BUY") == [(D("40020.0"), D("0.5")), (D("40040.1"), D("1.0")), (D("40060.1"), D("2.0"))]
    assert engine.book_levels(m, "SELL") == [(D("39980.0"), D("0.5")), (D("39960.0"), D("1.0")), (D("39940.0"), D("2.0"))]


def test_without_depth_orders_fill_whole_at_the_best_price() -> None:
    """ETH has no depth: 40 ETH fill at once at mark 2,001."""
    engine = engine_for()
    order = engine.place_order(market("BUY", "40", "ETHUSDT"))
    assert (order.status, fills(order)) == ("FILLED", [(D(2001), D(40))])


def test_partial_fills_survive_a_state_round_trip() -> None:
    """to_state/load_state keep every fill (userTrades rows) and the trade-id counter."""
    engine = engine_for()
    engine.place_order(market("BUY", "5"))
    copy = engine_for()
    copy.load_state(engine.to_state())
    assert [fills(o) for o in copy.orders] == [fills(o) for o in engine.orders]
    assert copy.place_order(market("BUY", "0.5")).fills[0].trade_id == engine.orders[0].fills[-1].trade_id + 1


# --------------------------------------------------------------------------- over HTTP with ccxt


async def test_ccxt_exposes_market_lot_size_as_limits_market(ready_client: Any) -> None:
    """exchangeInfo has LOT_SIZE maxQty 500 and MARKET_LOT_SIZE maxQty 50 for ETH; ccxt: limits.amount / limits.market."""
    eth = ready_client.markets[PERP_ETH]
    assert eth["limits"]["amount"] == {"min": 0.001, "max": 500.0}
    assert eth["limits"]["market"] == {"min": 0.001, "max": 50.0}
    filters = {f["filterType"]: f for f in eth["info"]["filters"]}
    assert (filters["LOT_SIZE"]["maxQty"], filters["MARKET_LOT_SIZE"]["maxQty"]) == ("500", "50")
    assert ready_client.markets[PERP_BTC]["limits"]["market"]["max"] == 10000.0  # default: max_qty


async def test_market_order_above_market_lot_size_is_bad_request(ready_client: Any, stock_binance: Any) -> None:
    """-4005 "Quantity greater than max quantity." -> BadRequest, as production maps it; a 60 ETH limit order rests."""
    await expect_error(
        ready_client, stock_binance, ccxt.BadRequest,
        lambda: ready_client.create_order(PERP_ETH, "market", "buy", 50.001), code=-4005,
    )
    resting = await ready_client.create_order(PERP_ETH, "limit", "buy", 60, 1500)
    assert (resting["status"], resting["amount"]) == ("open", 60.0)


@pytest.fixture(params=["async", "sync"])
def client_kind(request: pytest.FixtureRequest) -> str:
    return request.param


async def test_partial_market_fill_is_expired_with_filled_through_ccxt(
    make_client: Any, client_kind: str, sim: RunningExchange
) -> None:
    """create_order, fetch_order (by client id), fetch_my_trades, income and /_sim/state all show the same partial fill."""
    client = make_client(sync=client_kind == "sync")

    async def call(method: str, *args: Any) -> Any:
        fn = getattr(client, method)
        return await asyncio.to_thread(fn, *args) if client.synchronous else await fn(*args)

    await call("load_markets")
    order = await call("create_order", PERP_BTC, "market", "buy", 5, None, {"clientOrderId": "deep-ccxt"})
    assert (order["status"], order["amount"], order["filled"], order["remaining"]) == ("expired", 5.0, 3.5, 1.5)
    assert (order["average"], order["cost"]) == (40028.57, 140100.0)
    assert order["info"]["status"] == "EXPIRED" and order["info"]["executedQty"] == "3.500"

    fetched = await call("fetch_order", None, PERP_BTC, {"clientOrderId": "deep-ccxt"})
    assert (fetched["status"], fetched["filled"], fetched["cost"], fetched["id"]) == ("expired", 3.5, 140100.0, order["id"])

    trades = await call("fetch_my_trades", PERP_BTC, order["timestamp"] - 1000)
    assert [(t["order"], t["price"], t["amount"], t["fee"]["cost"], t["takerOrMaker"]) for t in trades] == [
        (order["id"], 40000.0, 0.5, 8.0, "taker"),
        (order["id"], 40020.0, 1.0, 16.008, "taker"),
        (order["id"], 40040.0, 2.0, 32.032, "taker"),
    ]
    commissions = await call("fapiPrivateGetIncome", {"incomeType": "COMMISSION"})
    assert sum(D(r["income"]) for r in commissions) == D("-56.04")
    assert {r["tradeId"] for r in commissions} == {str(t["id"]) for t in trades}

    [position] = await call("fetch_positions", [PERP_BTC])
    assert (position["contracts"], position["entryPrice"]) == (3.5, pytest.approx(40028.571428571))
    state = sim.server.state()
    [row] = state["orders"]
    assert (row["status"], row["orig_qty"], row["executed_qty"], row["cum_quote"]) == ("EXPIRED", "5", "3.5", "140100")
    assert [f["price"] for f in row["fills"]] == ["40000", "40020", "40040"]
    assert state["futures"]["wallet"] == "99943.96"


async def test_ioc_limit_partial_fill_through_ccxt(ready_client: Any) -> None:
    """An IOC buy of 5 @ 40,020 ends 'expired' with 1.5 filled at avg (20,000 + 40,020) / 1.5 = 40,013.33."""
    order = await ready_client.create_order(PERP_BTC, "limit", "buy", 5, 40020, {"timeInForce": "IOC"})
    assert (order["status"], order["filled"], order["remaining"], order["average"]) == ("expired", 1.5, 3.5, 40013.33)
    assert await ready_client.fetch_open_orders(PERP_BTC) == []


async def test_order_book_and_book_ticker_show_the_depth(ready_client: Any) -> None:
    """fetch_order_book (GET /fapi/v1/depth) lists the levels orders fill against; bookTicker's qty is level 0."""
    book = await ready_client.fetch_order_book(PERP_BTC)
    assert book["asks"] == [[40000.0, 0.5], [40020.0, 1.0], [40040.0, 2.0]]
    assert book["bids"] == [[40000.0, 0.5], [39980.0, 1.0], [39960.0, 2.0]]
    ticker = await ready_client.fapiPublicGetTickerBookTicker({"symbol": "BTCUSDT"})
    assert (ticker["askQty"], ticker["bidQty"]) == ("0.500", "0.500")
    eth = await ready_client.fetch_order_book(PERP_ETH, 5)
    assert eth["asks"] == [[2001.0, 1.0]] and eth["bids"] == [[2001.0, 1.0]]  # no depth: one nominal level
