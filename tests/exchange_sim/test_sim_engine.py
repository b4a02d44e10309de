"""Unit tests for the local exchange's money math: fills, average entry, realized P&L, fees, margin, liquidation, funding.

The engine is called directly (no HTTP) with a fixed clock, so every number is exact.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from rebalancer.exchange_sim.dialects.binance.codes import binance_body
from rebalancer.exchange_sim import Rejection, Engine, OrderRequest, scenario_from_dict
from rebalancer.exchange_sim.engine import cross_liquidation_price, fill_position

NOW = 1_700_000_000_000


def make_engine(**futures: Any) -> Engine:
    data: dict[str, Any] = {
        "markets": {
            "BTC": {"spot_price": 40000, "funding_rate": 0.0001, "amount_step": 0.001, "price_tick": 0.1},
            "ETH": {"spot_price": 2000, "funding_rate": 0.0001, "amount_step": 0.001, "price_tick": 0.01},
        },
        "spot": {"BTC": 0.1, "ETH": 1},
        "futures": {"wallet": 3000, "leverage": 5, **futures},
    }
    return Engine(scenario_from_dict(data), clock=lambda: NOW)


def market(symbol: str, side: str, qty: str, **kw: Any) -> OrderRequest:
    return OrderRequest(symbol=symbol, side=side, type="MARKET", quantity=D(qty), **kw)


def limit(symbol: str, side: str, qty: str, price: str, tif: str = "GTC", **kw: Any) -> OrderRequest:
    return OrderRequest(symbol=symbol, side=side, type="LIMIT", quantity=D(qty), price=D(price), time_in_force=tif, **kw)


def rejected(engine: Engine, req: OrderRequest) -> int:
    with pytest.raises(Rejection) as info:
        engine.place_order(req)
    return binance_body(info.value)[0]


# --------------------------------------------------------------------------- pure functions


def test_fill_position_when_growing_then_entry_is_size_weighted_average() -> None:
    """Adding 0.03 @ 44,000 to 0.01 @ 40,000 gives 0.04 @ 43,000 and realizes nothing."""
    assert fill_position(D("0.01"), D("40000"), D("0.03"), D("44000")) == (D("0.04"), D("43000"), D(0))


def test_fill_position_when_reducing_then_entry_unchanged_and_pnl_realized() -> None:
    """Selling 0.01 of a 0.04 @ 43,000 long at 45,000 realizes +20 and keeps the entry."""
    assert fill_position(D("0.04"), D("43000"), D("-0.01"), D("45000")) == (D("0.03"), D("43000"), D("20"))


def test_fill_position_when_short_is_bought_back_lower_then_profit() -> None:
    """A 0.025 short from 40,000 bought back at 36,000 realizes +100 and is flat with entry 0."""
    assert fill_position(D("-0.025"), D("40000"), D("0.025"), D("36000")) == (D(0), D(0), D("100"))


def test_fill_position_when_crossing_zero_then_entry_resets_to_fill_price() -> None:
    """Selling 0.03 against a 0.01 @ 100 long at 110 realizes +0.1 and leaves -0.02 @ 110."""
    assert fill_position(D("0.01"), D("100"), D("-0.03"), D("110")) == (D("-0.02"), D("110"), D("0.1"))


def test_cross_liquidation_price_for_a_short_matches_the_formula() -> None:
    """Short 0.025 @ 40,000, wallet 3,000, mmr 0.005: P = (0 - 3000 + (-0.025*40000)) / (-0.025 * 1.005)."""
    price = cross_liquidation_price(D("-0.025"), D("40000"), D("0.005"), D("3000"))
    assert price == D(-4000) / D("-0.025125")
    assert round(price, 2) == D("159203.98")


def test_cross_liquidation_price_for_a_leveraged_long() -> None:
    """Long 0.1 @ 40,000 on a 1,000 wallet (4x) liquidates at 3000 / 0.0995 = 30,150.75."""
    price = cross_liquidation_price(D("0.1"), D("40000"), D("0.005"), D("1000"))
    assert round(price, 2) == D("30150.75")


def test_cross_liquidation_price_when_long_is_overcollateralised_then_none() -> None:
    """A 1x long backed by more than its notional can never be liquidated."""
    assert cross_liquidation_price(D("0.1"), D("40000"), D("0.005"), D("5000")) is None


# --------------------------------------------------------------------------- engine: fills and fees


def test_market_sell_fills_at_mark_and_charges_taker_fee() -> None:
    """Selling 0.025 BTC at mark 40,000 opens a short at 40,000 and takes 0.04% fee (0.4 USDT)."""
    engine = make_engine()
    order = engine.place_order(market("BTCUSDT", "SELL", "0.025", client_order_id="c1"))
    assert (order.status, order.executed_qty, order.avg_price, order.cum_quote) == ("FILLED", D("0.025"), D(40000), D(1000))
    assert order.commission == D("0.4")
    assert engine.positions["BTCUSDT"].amount == D("-0.025")
    assert engine.positions["BTCUSDT"].entry_price == D(40000)
    assert engine.wallet == D("2999.6")
    assert [(i.income_type, i.income) for i in engine.income] == [("COMMISSION", D("-0.4"))]


def test_market_buy_with_spread_fills_at_the_ask() -> None:
    """A 0.1% spread puts the ask at mark * 1.0005 = 40,020 on the 0.1 tick."""
    engine = make_engine(spread=0.001)
    order = engine.place_order(market("BTCUSDT", "BUY", "0.01"))
    assert order.avg_price == D("40020.0")
    assert engine.book(engine.markets["BTCUSDT"]) == (D("39980.0"), D("40020.0"))


def test_round_trip_realizes_pnl_and_both_fees() -> None:
    """Short 0.025 @ 40,000, mark drops to 36,000, reduce-only buy back: wallet 3000 - 0.4 + 100 - 0.36."""
    engine = make_engine()
    engine.place_order(market("BTCUSDT", "SELL", "0.025"))
    engine.set_prices("BTC", spot=D(36000), mark=D(36000))
    assert engine.position_risk("BTCUSDT").unrealized_pnl == D(100)
    close = engine.place_order(market("BTCUSDT", "BUY", "0.025", reduce_only=True))
    assert close.realized_pnl == D(100)
    assert engine.wallet == D("3099.24")
    assert engine.positions["BTCUSDT"].amount == 0 and engine.positions["BTCUSDT"].entry_price == 0
    kinds = [i.income_type for i in engine.income]
    assert kinds == ["COMMISSION", "REALIZED_PNL", "COMMISSION"]


def test_domain_example_2_hedge_pnl_offsets_spot_move() -> None:
    """DOMAIN.md example 2: short BTC $1,000, long ETH $1,000; BTC -10%, ETH +10% gives the perps +$200."""
    engine = make_engine(fee_rate=0)
    engine.place_order(market("BTCUSDT", "SELL", "0.025"))
    engine.place_order(market("ETHUSDT", "BUY", "0.5"))
    engine.set_prices("BTC", spot=D(36000), mark=D(36000))
    engine.set_prices("ETH", spot=D(2200), mark=D(2200))
    spot_change = D("0.1") * (36000 - 40000) + D(1) * (2200 - 2000)
    assert spot_change == D(-200)
    assert engine.account().unrealized_pnl == D(200)
    assert engine.account().margin_balance == D(3200)


def test_account_totals_are_consistent() -> None:
    """Margin balance = wallet + uPnL; available = margin balance - initial margin; IM = notional / leverage."""
    engine = make_engine(fee_rate=0)
    engine.place_order(market("BTCUSDT", "SELL", "0.025"))
    engine.set_prices("BTC", mark=D(42000))
    a = engine.account()
    assert a.unrealized_pnl == D(-50)
    assert a.margin_balance == D(2950)
    assert a.position_initial_margin == D(1050) / 5
    assert a.maint_margin == D(1050) * D("0.005")
    assert a.available_balance == a.margin_balance - a.initial_margin


def test_liquidation_price_puts_margin_balance_at_maintenance_margin() -> None:
    """Moving BTC's mark to its reported liquidation price leaves margin balance == maintenance margin."""
    engine = make_engine(fee_rate=0, wallet=700)
    engine.place_order(market("BTCUSDT", "SELL", "0.05"))  # $2,000 at 5x
    engine.place_order(market("ETHUSDT", "BUY", "0.5"))  # $1,000 at 5x
    engine.set_prices("ETH", mark=D(1900))  # the other position's loss counts against the wallet
    liq = engine.position_risk("BTCUSDT").liquidation_price
    assert liq is not None and liq > 40000
    engine.set_prices("BTC", mark=liq)
    a = engine.account()
    assert abs(a.margin_balance - a.maint_margin) < D("1e-12")
    assert a.margin_ratio == pytest.approx(1)


def test_funding_settlement_moves_wallet_by_minus_position_times_mark_times_rate() -> None:
    """Rate +0.01%: the 0.025 BTC short receives 0.1 USDT, the 0.5 ETH long pays 0.1 USDT."""
    engine = make_engine(fee_rate=0)
    engine.place_order(market("BTCUSDT", "SELL", "0.025"))
    engine.place_order(market("ETHUSDT", "BUY", "0.5"))
    paid = engine.settle_funding()
    assert {(i.symbol, i.income_type, i.income) for i in paid} == {
        ("BTCUSDT", "FUNDING_FEE", D("0.1")),
        ("ETHUSDT", "FUNDING_FEE", D("-0.1")),
    }
    assert engine.wallet == D(3000)
    engine.set_funding_rate("BTC", D("0.0005"))
    engine.settle_funding()
    assert engine.wallet == D(3000) + D("0.5") - D("0.1")


def test_next_funding_time_is_the_next_interval_boundary() -> None:
    """With 8h funding, the next settlement is the next multiple of 8h after now."""
    engine = make_engine()
    nxt = engine.next_funding_time(engine.markets["BTCUSDT"])
    assert nxt > NOW and nxt % (8 * 3_600_000) == 0 and nxt - NOW <= 8 * 3_600_000


# --------------------------------------------------------------------------- engine: rejections


def test_margin_check_when_initial_margin_exceeds_margin_balance_then_2019() -> None:
    """Wallet 100 at 5x carries $500 of notional: $800 is refused, $480 passes."""
    engine = make_engine(wallet=100)
    assert rejected(engine, market("BTCUSDT", "SELL", "0.02")) == -2019
    assert engine.orders == [] and engine.wallet == D(100)
    engine.place_order(market("BTCUSDT", "SELL", "0.012"))


def test_reducing_orders_skip_the_margin_check() -> None:
    """An underwater account can still close: reduce orders never get -2019."""
    engine = make_engine(wallet=100, fee_rate=0)
    engine.place_order(market("BTCUSDT", "SELL", "0.012"))
    engine.set_prices("BTC", mark=D(46000))  # uPnL -72, IM 110 > margin balance 28
    engine.place_order(market("BTCUSDT", "BUY", "0.012"))
    assert engine.positions["BTCUSDT"].amount == 0


def test_reduce_only_when_flat_or_growing_then_2022() -> None:
    """Reduce-only is refused with no position and when it would add to the position."""
    engine = make_engine()
    assert rejected(engine, market("BTCUSDT", "BUY", "0.01", reduce_only=True)) == -2022
    engine.place_order(market("BTCUSDT", "SELL", "0.01"))
    assert rejected(engine, market("BTCUSDT", "SELL", "0.01", reduce_only=True)) == -2022


def test_reduce_only_larger_than_position_is_clamped_to_the_position() -> None:
    """A reduce-only buy of 0.05 against a 0.02 short closes exactly 0.02 (Binance's behaviour)."""
    engine = make_engine()
    engine.place_order(market("BTCUSDT", "SELL", "0.02"))
    order = engine.place_order(market("BTCUSDT", "BUY", "0.05", reduce_only=True))
    assert order.orig_qty == order.executed_qty == D("0.02")
    assert engine.positions["BTCUSDT"].amount == 0


def test_lot_step_min_notional_and_its_reduce_only_waiver() -> None:
    """Off-step amounts get -1013 LOT_SIZE; $4 of ETH gets -4164 unless reduce-only."""
    engine = make_engine()
    with pytest.raises(Rejection) as info:
        engine.place_order(market("BTCUSDT", "BUY", "0.0015"))
    assert binance_body(info.value)[:2] == (-1013, "Filter failure: MARKET_LOT_SIZE")
    with pytest.raises(Rejection) as info:
        engine.place_order(limit("BTCUSDT", "BUY", "0.0015", "39000"))
    assert binance_body(info.value)[1] == "Filter failure: LOT_SIZE"
    with pytest.raises(Rejection) as info:
        engine.place_order(market("ETHUSDT", "BUY", "0.002"))
    assert binance_body(info.value)[0] == -4164
    assert binance_body(info.value)[1] == "Order's notional must be no smaller than 5 (unless you choose reduce only)."
    engine.place_order(market("ETHUSDT", "SELL", "0.5"))
    engine.place_order(market("ETHUSDT", "BUY", "0.002", reduce_only=True))
    assert engine.positions["ETHUSDT"].amount == D("-0.498")


def test_duplicate_client_id_rejected_only_while_open() -> None:
    """-4116 while an order with that client id rests; reusable once it is no longer open."""
    engine = make_engine()
    engine.place_order(limit("BTCUSDT", "BUY", "0.01", "39000", client_order_id="dup"))
    assert rejected(engine, market("BTCUSDT", "BUY", "0.01", client_order_id="dup")) == -4116
    engine.cancel_order("BTCUSDT", client_order_id="dup")
    again = engine.place_order(market("BTCUSDT", "BUY", "0.01", client_order_id="dup"))
    assert engine.find_order("BTCUSDT", client_order_id="dup") is again


def test_hedge_mode_orders_without_position_side_get_4061() -> None:
    """In dual-side mode an order without positionSide is refused like Binance does."""
    engine = make_engine()
    engine.set_dual_side(True)
    assert rejected(engine, market("BTCUSDT", "BUY", "0.01")) == -4061


def test_unknown_orders_and_symbols() -> None:
    """Lookups of unknown orders give -2013, cancels -2011, unknown symbols -1121."""
    engine = make_engine()
    with pytest.raises(Rejection, match="order_not_found"):
        engine.find_order("BTCUSDT", client_order_id="nope")
    with pytest.raises(Rejection, match="cancel_unknown_order"):
        engine.cancel_order("BTCUSDT", order_id=1)
    assert rejected(engine, market("XRPUSDT", "BUY", "1")) == -1121


# --------------------------------------------------------------------------- limit orders


def test_limit_order_rests_then_fills_at_its_price_with_maker_fee() -> None:
    """A GTC buy below the ask rests (reserving margin) and fills at 39,000 when the mark drops."""
    engine = make_engine()
    order = engine.place_order(limit("BTCUSDT", "BUY", "0.01", "39000"))
    assert order.status == "NEW" and engine.account().open_order_initial_margin == D(78)
    engine.set_prices("BTC", mark=D("38990"))
    assert order.status == "FILLED" and order.avg_price == D(39000)
    assert order.commission == D("390") * D("0.0002")
    assert engine.open_orders() == []


def test_marketable_limit_fills_at_once_and_ioc_expires_otherwise() -> None:
    """A buy limit above the ask fills at the ask as a taker; a non-marketable IOC expires unfilled."""
    engine = make_engine()
    taker = engine.place_order(limit("BTCUSDT", "BUY", "0.01", "40100", tif="IOC"))
    assert (taker.status, taker.avg_price) == ("FILLED", D(40000))
    expired = engine.place_order(limit("BTCUSDT", "BUY", "0.01", "39000", tif="IOC"))
    assert (expired.status, expired.executed_qty) == ("EXPIRED", D(0))


# --------------------------------------------------------------------------- settings and persistence


def test_margin_type_and_leverage_settings() -> None:
    """CROSSED is the default (-4046 when re-set); ISOLATED symbols refuse orders; leverage 1..125."""
    engine = make_engine()
    with pytest.raises(Rejection, match="margin_mode_unchanged"):
        engine.set_margin_type("BTCUSDT", "CROSSED")
    engine.set_margin_type("BTCUSDT", "ISOLATED")
    assert rejected(engine, market("BTCUSDT", "BUY", "0.01")) == -9900
    engine.set_margin_type("BTCUSDT", "CROSSED")
    with pytest.raises(Rejection, match="bad_leverage"):
        engine.set_leverage("BTCUSDT", 126)
    assert engine.set_leverage("BTCUSDT", 3).leverage == 3


def test_state_round_trip_keeps_balances_positions_and_orders() -> None:
    """to_state -> load_state on a fresh engine reproduces the admin view exactly."""
    engine = make_engine()
    engine.place_order(market("BTCUSDT", "SELL", "0.025", client_order_id="keep"))
    engine.place_order(limit("ETHUSDT", "BUY", "0.5", "1900"))
    engine.set_prices("BTC", spot=D(39000), mark=D(39010))
    engine.settle_funding()
    restored = make_engine()
    restored.load_state(engine.to_state())
    assert restored.state_view() == engine.state_view()
    assert restored.find_order("BTCUSDT", client_order_id="keep").status == "FILLED"
