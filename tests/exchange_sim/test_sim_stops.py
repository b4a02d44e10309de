"""The engine's protective stops (STOP_MARKET, reduce-only or close-position) and wallet transfers,
called directly with a fixed clock: placement rules, the trigger when the mark crosses, the fill as a
market order, expiry and cancellation with the position, persistence, and idempotent transfers."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

import pytest

from rebalancer.exchange_sim import Engine, OrderRequest, Rejection
from rebalancer.exchange_sim.rejections import Reason
from tests.exchange_sim.test_sim_engine import NOW, make_engine, market


def stop(side: str, price: str, qty: str = "0", *, close: bool = False, cid: str | None = None) -> OrderRequest:
    return OrderRequest(symbol="BTCUSDT", side=side, type="STOP_MARKET", quantity=D(qty), stop_price=D(price),
                        reduce_only=not close, close_position=close, client_order_id=cid)


def short_btc(engine: Engine, qty: str = "0.025") -> None:
    engine.place_order(market("BTCUSDT", "SELL", qty))


def reason(engine: Engine, req: OrderRequest) -> Reason:
    with pytest.raises(Rejection) as info:
        engine.place_order(req)
    return info.value.reason


def test_a_stop_rests_without_margin_and_is_listed_open() -> None:
    engine = make_engine()
    short_btc(engine)
    before = engine.account().available_balance
    order = engine.place_order(stop("BUY", "50000", "0.025", cid="stop-1"))
    assert (order.type, order.status, order.stop_price, order.reduce_only) == ("STOP_MARKET", "NEW", D(50000), True)
    assert engine.open_orders("BTCUSDT") == [order]
    assert engine.account().available_balance == before  # a reduce-only stop reserves nothing
    assert engine.positions["BTCUSDT"].amount == D("-0.025")


def test_a_stop_that_would_trigger_at_once_or_grows_exposure_is_refused() -> None:
    engine = make_engine()
    short_btc(engine)
    assert reason(engine, stop("BUY", "39000", "0.025")) is Reason.STOP_WOULD_TRIGGER  # under the mark 40,000
    assert reason(engine, stop("BUY", "40000", "0.025")) is Reason.STOP_WOULD_TRIGGER  # at the mark
    assert reason(engine, stop("BUY", "50000.05", "0.025")) is Reason.BAD_PRICE_TICK
    assert reason(engine, stop("BUY", "50000", "0.0255")) is Reason.LOT_SIZE
    plain = OrderRequest(symbol="BTCUSDT", side="BUY", type="STOP_MARKET", quantity=D("0.025"), stop_price=D(50000))
    assert reason(engine, plain) is Reason.UNSUPPORTED  # neither reduce-only nor close-position
    engine.place_order(stop("BUY", "50000", "0.025", cid="dup"))
    assert reason(engine, stop("BUY", "51000", "0.025", cid="dup")) is Reason.DUPLICATE_CLIENT_ID
    assert len(engine.open_orders("BTCUSDT")) == 1


def test_the_mark_crossing_fires_the_stop_as_a_market_order_with_its_fee() -> None:
    """Short 0.025 at 40,000; a buy stop at 50,000. The mark to 49,999: nothing. To 50,500: it fires,
    fills 0.025 at the ask (mark + half the spread), the position is flat, the loss and fee are booked."""
    engine = make_engine()
    short_btc(engine)
    order = engine.place_order(stop("BUY", "50000", "0.025"))
    assert engine.set_prices("BTC", mark=D(49999)) == []
    wallet = engine.wallet
    fired = engine.set_prices("BTC", mark=D(50500))
    assert fired == [order] and order.status == "FILLED" and order.executed_qty == D("0.025")
    assert engine.positions["BTCUSDT"].amount == 0
    price = order.avg_price
    assert price >= D(50500)
    fee = D("0.025") * price * engine.scenario.futures.fee_rate
    assert order.commission == fee
    assert engine.wallet == wallet + order.realized_pnl - fee and order.realized_pnl < 0
    assert [i.income_type for i in engine.income[-2:]] == ["REALIZED_PNL", "COMMISSION"]


def test_a_price_move_away_from_the_stop_leaves_it_resting() -> None:
    """A sell stop under a long's mark has no limit price: a rise is no cross (it used to be matched as
    a resting limit order at price 0 and filled on any move)."""
    engine = make_engine()
    engine.place_order(market("BTCUSDT", "BUY", "0.025"))
    order = engine.place_order(stop("SELL", "30000", "0.025", cid="long-stop"))
    assert engine.set_prices("BTC", spot=D(44000), mark=D(44000)) == []
    assert (order.status, order.executed_qty, engine.positions["BTCUSDT"].amount) == ("NEW", D(0), D("0.025"))


def test_a_close_position_stop_closes_what_is_held_when_it_fires() -> None:
    engine = make_engine()
    short_btc(engine, "0.02")
    order = engine.place_order(stop("BUY", "45000", close=True))
    assert order.orig_qty == 0 and order.close_position
    short_btc(engine, "0.01")  # the position grew after the stop was placed
    engine.set_prices("BTC", mark=D(46000))
    assert order.status == "FILLED" and order.executed_qty == D("0.03")
    assert engine.positions["BTCUSDT"].amount == 0


def test_a_reduce_only_stop_never_flips_and_expires_without_its_position() -> None:
    engine = make_engine()
    short_btc(engine, "0.01")
    bigger = engine.place_order(stop("BUY", "45000", "0.05"))
    engine.set_prices("BTC", mark=D(45000))  # at the stop: fires
    assert bigger.executed_qty == D("0.01") and engine.positions["BTCUSDT"].amount == 0
    engine.set_prices("BTC", mark=D(40000))
    short_btc(engine, "0.01")
    orphan = engine.place_order(stop("BUY", "45000", "0.01"))
    engine.place_order(OrderRequest(symbol="BTCUSDT", side="BUY", type="MARKET", quantity=D("0.01"), reduce_only=True))
    assert orphan.status == "NEW"  # a reduce-only stop outlives its position until it fires
    engine.set_prices("BTC", mark=D(46000))
    assert orphan.status == "EXPIRED" and orphan.executed_qty == 0 and engine.positions["BTCUSDT"].amount == 0


def test_a_flat_position_cancels_its_close_position_stops() -> None:
    engine = make_engine()
    short_btc(engine)
    order = engine.place_order(stop("BUY", "50000", close=True))
    engine.place_order(market("BTCUSDT", "BUY", "0.025"))
    assert order.status == "CANCELED" and engine.open_orders("BTCUSDT") == []


def test_a_long_position_is_protected_by_a_sell_stop_under_the_mark() -> None:
    engine = make_engine()
    engine.place_order(market("BTCUSDT", "BUY", "0.02"))
    assert reason(engine, stop("SELL", "41000", "0.02")) is Reason.STOP_WOULD_TRIGGER
    order = engine.place_order(stop("SELL", "35000", "0.02"))
    engine.set_prices("BTC", mark=D(34000))
    assert order.status == "FILLED" and engine.positions["BTCUSDT"].amount == 0


def test_stops_survive_a_restart() -> None:
    engine = make_engine()
    short_btc(engine)
    engine.place_order(replace(stop("BUY", "50000", close=True, cid="keep"), venue_type="STOP_MARKET"))
    again = make_engine()
    again.load_state(engine.to_state())
    (order,) = again.open_orders("BTCUSDT")
    assert (order.client_order_id, order.stop_price, order.close_position, order.venue_type) == (
        "keep", D(50000), True, "STOP_MARKET")
    again.set_prices("BTC", mark=D(51000))
    assert order.status == "FILLED" and again.positions["BTCUSDT"].amount == 0


def test_transfers_move_the_quote_between_wallets_once_per_client_id() -> None:
    engine = make_engine()
    engine.set_spot_balance("USDT", D(500))
    wallet = engine.wallet
    first = engine.transfer("USDT", D(200), "spot", "futures", client_id="t1")
    assert engine.transfer("USDT", D(200), "spot", "futures", client_id="t1") is first  # answered again
    assert (engine.spot_balances["USDT"], engine.wallet) == (D(300), wallet + 200)
    assert engine.income[-1].income_type == "TRANSFER" and engine.income[-1].tran_id == first.tran_id
    with pytest.raises(Rejection) as info:
        engine.transfer("USDT", D(301), "spot", "futures")
    assert info.value.reason is Reason.INSUFFICIENT_BALANCE
    engine.transfer("USDT", D(50), "futures", "spot")
    assert (engine.spot_balances["USDT"], engine.wallet) == (D(350), wallet + 150)
    again = make_engine()
    again.load_state(engine.to_state())
    assert [(x.amount, x.source) for x in again.transfers] == [(D(200), "spot"), (D(50), "futures")]
    assert engine.state_view()["transfers"][0]["client_id"] == "t1" and NOW == engine.transfers[0].time


def test_the_admin_state_lists_resting_stops_as_open_orders() -> None:
    engine = make_engine()
    short_btc(engine)
    engine.place_order(stop("BUY", "50000", close=True, cid="s1"))
    (row,) = engine.state_view()["open_orders"]
    assert {k: row[k] for k in ("client_order_id", "symbol", "side", "type", "reduce_only", "close_position",
                                "trigger_price")} == {
        "client_order_id": "s1", "symbol": "BTCUSDT", "side": "BUY", "type": "STOP_MARKET", "reduce_only": True,
        "close_position": True, "trigger_price": "50000"}
