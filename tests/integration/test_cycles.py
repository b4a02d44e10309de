"""Full cycles with the real ccxt client over HTTP against the local exchange, on every dialect:
DOMAIN.md examples 1-6 give the same base-unit positions on binance, bybit and okx."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rebalancer.domain import OrderState
from rebalancer.service import Rebalancer
from tests.integration.conftest import journal_rows, settings_for, sim_post, sim_state, start_exchange

pytestmark = pytest.mark.integration


def scenario(spot: dict, prices: dict, *, wallet=10000, positions=(), funding=None, step="0.001") -> dict:
    return {
        "markets": {a: {"spot_price": p, "funding_rate": (funding or {}).get(a, 0.0001), "amount_step": float(step)}
                    for a, p in prices.items()},
        "spot": {**spot, "USDT": 0},
        "futures": {"wallet": wallet, "positions": list(positions)},
    }


def positions(state: dict) -> dict[str, Decimal]:
    return {a: Decimal(p["amount"]) for a, p in state["futures"]["positions"].items()}


async def run_cycle(tmp_path, ex, targets, fast_executor, **kw):
    rb = Rebalancer(settings_for(tmp_path, ex, targets, **kw), executor_kw=fast_executor)
    try:
        return await rb.cycle(execute=True), await rb.cycle(execute=True)
    finally:
        await rb.close()


async def test_example_1_when_60_40_then_exchange_holds_short_btc_long_eth_and_replan_is_empty(dialect, tmp_path, fast_executor):
    """Spot BTC $6,000 / ETH $4,000 at 50/50: the exchange ends short 0.025 BTC and long 0.5 ETH."""
    async with start_exchange(scenario({"BTC": 0.15, "ETH": 2}, {"BTC": 40000, "ETH": 2000}), dialect) as ex:
        first, again = await run_cycle(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5}, fast_executor)
        assert first.outcome == "done", first.error
        assert positions(await sim_state(ex)) == {"BTC": Decimal("-0.025"), "ETH": Decimal("0.5")}
        assert again.outcome == "nothing_to_do" and again.plan.orders == ()
        # fills, average price and the exchange's commission (taker 0.04% of $1,000) are journaled
        # (the journal counts the venue's contracts: filled in base units is filled x contract size)
        rows = journal_rows(tmp_path / "journal.db",
                            "SELECT symbol, state, filled, average, fee, fee_currency, asset FROM orders")
        assert sorted((r[0], r[1], dialect.base(r[6], Decimal(r[2])), *(Decimal(v) for v in r[3:5]), r[5])
                      for r in rows) == [
            ("BTC/USDT:USDT", "filled", Decimal("0.025"), Decimal("40000"), Decimal("0.4"), "USDT"),
            ("ETH/USDT:USDT", "filled", Decimal("0.5"), Decimal("2000"), Decimal("0.4"), "USDT"),
        ]


async def test_example_2_when_prices_move_then_reduce_only_adjustments_on_the_exchange(dialect, tmp_path, fast_executor):
    """After BTC -10% / ETH +10% the next cycle buys back $200 BTC and sells $400 ETH, reduce-only."""
    async with start_exchange(scenario({"BTC": 0.1, "ETH": 1}, {"BTC": 40000, "ETH": 2000}), dialect) as ex:
        rb = Rebalancer(settings_for(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5}), executor_kw=fast_executor)
        try:
            first = await rb.cycle(execute=True)
            assert first.outcome == "done", first.error
            await sim_post(ex, "prices", {"BTC": {"spot": 36000, "mark": 36000}, "ETH": {"spot": 2200, "mark": 2200}})
            second = await rb.cycle(execute=True)
            lines = {line.asset: line for line in second.plan.assets}
            assert second.plan.nav == Decimal("5800")
            assert (lines["BTC"].adjustment, lines["ETH"].adjustment) == (Decimal("200"), Decimal("-400"))
            assert all(o.reduce_only for o in second.plan.orders)
            state = await sim_state(ex)
            pnl = sum(Decimal(p["unrealized_pnl"]) for p in state["futures"]["positions"].values())
            # 200/36000 -> 0.005 BTC bought back, 400/2200 -> 0.181 ETH sold (toward zero at 0.001)
            assert positions(state) == {"BTC": Decimal("-0.02"), "ETH": Decimal("0.319")}
            assert (await rb.cycle(execute=True)).outcome == "nothing_to_do"
        finally:
            await rb.close()
        # The hedges made exactly what spot lost (+$200): part realised by the reduce-only trades,
        # the rest still unrealised on the smaller positions (entry prices are kept when reducing).
        realized = sum(Decimal(o["realized_pnl"]) for o in state["orders"])
        assert realized == Decimal("0.005") * 4000 + Decimal("0.181") * 200
        assert pnl + realized == Decimal("200")


async def test_example_3_drift_75_25_vs_60_40(dialect, tmp_path, fast_executor):
    """Spot A $7,500 / B $2,500 at 60/40: short A $1,500, long B $1,500 on the exchange."""
    async with start_exchange(scenario({"SOL": 75, "AVAX": 25}, {"SOL": 100, "AVAX": 100}), dialect) as ex:
        first, again = await run_cycle(tmp_path, ex, {"SOL": 0.6, "AVAX": 0.4}, fast_executor)
        assert first.outcome == "done", first.error
        assert positions(await sim_state(ex)) == {"SOL": Decimal("-15"), "AVAX": Decimal("15")}
        assert again.outcome == "nothing_to_do"


async def test_example_4_when_spot_rebalanced_by_hand_then_both_hedges_closed(dialect, tmp_path, fast_executor):
    """Spot at $5,000 / $5,000 with example 1's hedges open: both close, reduce-only, to flat."""
    sc = scenario({"BTC": 0.125, "ETH": 2.5}, {"BTC": 40000, "ETH": 2000},
                  positions=[{"symbol": "BTC", "amount": -0.025, "entry_price": 40000},
                             {"symbol": "ETH", "amount": 0.5, "entry_price": 2000}])
    async with start_exchange(sc, dialect) as ex:
        first, again = await run_cycle(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5}, fast_executor)
        assert first.outcome == "done", first.error
        assert all(o.reduce_only for o in first.verdict.approved) and len(first.executed) == 2
        assert positions(await sim_state(ex)) == {}
        assert again.outcome == "nothing_to_do"


async def test_example_5_when_short_pays_over_cap_then_no_orders_rather_than_a_lone_long(dialect, tmp_path, fast_executor):
    """BTC funding -0.05%/8h (54.75% a year, shorts pay): the BTC short is denied FUNDING, and ETH's
    long alone would leave the book net long, so nothing is sent; exit 3, the legs journaled denied."""
    sc = scenario({"BTC": 0.15, "ETH": 2}, {"BTC": 40000, "ETH": 2000}, funding={"BTC": -0.0005})
    async with start_exchange(sc, dialect) as ex:
        first, _ = await run_cycle(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5}, fast_executor)
        assert [(f.code, f.symbol) for f in first.verdict.denials] == [("FUNDING", "BTC/USDT:USDT")]
        assert first.exit_code == 3 and first.outcome == "denied"
        assert positions(await sim_state(ex)) == {}
        rows = journal_rows(tmp_path / "journal.db", "SELECT symbol, state, error_code FROM orders")
        assert sorted(tuple(r) for r in rows)[:1] == [("BTC/USDT:USDT", "denied", "FUNDING")]


async def test_example_6_when_margin_short_then_both_legs_scaled_on_the_exchange(dialect, tmp_path, fast_executor):
    """Leverage 2, equity $500, max usage 0.5: both legs scale by 0.25 to ~$250 each."""
    sc = scenario({"BTC": 0.15, "ETH": 2}, {"BTC": 40000, "ETH": 2000}, wallet=500)
    async with start_exchange(sc, dialect) as ex:
        rb = Rebalancer(settings_for(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5}, leverage=2), executor_kw=fast_executor)
        try:
            report = await rb.cycle(execute=True)
        finally:
            await rb.close()
        assert report.verdict.scale == Decimal("0.25") and report.outcome == "done", report.error
        # 0.00625 BTC and 0.125 ETH, toward zero at the 0.001 step
        assert positions(await sim_state(ex)) == {"BTC": Decimal("-0.006"), "ETH": Decimal("0.125")}
        assert (await sim_state(ex))["markets"]["BTC"]["leverage"] == 2
        assert all(e.result.state is OrderState.FILLED for e in report.executed)


async def test_limit_ioc_orders_carry_the_slippage_cap_and_fill(dialect, tmp_path, fast_executor):
    """order_type = limit_ioc: each leg is an IOC limit capped at mark ± max_slippage (0.5%), and fills."""
    async with start_exchange(scenario({"BTC": 0.15, "ETH": 2}, {"BTC": 40000, "ETH": 2000}), dialect) as ex:
        base = settings_for(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5})
        settings = base.model_copy(update={"rebalance": base.rebalance.model_copy(update={"order_type": "limit_ioc"})})
        rb = Rebalancer(settings, executor_kw=fast_executor)
        try:
            report = await rb.cycle(execute=True)
        finally:
            await rb.close()
        assert report.outcome == "done", report.error
        orders = {o["symbol"]: o for o in (await sim_state(ex))["orders"]}
        assert {(s, o["type"], o["time_in_force"], o["status"]) for s, o in orders.items()} == {
            ("BTCUSDT", "LIMIT", "IOC", "FILLED"), ("ETHUSDT", "LIMIT", "IOC", "FILLED")}
        assert Decimal(orders["BTCUSDT"]["price"]) == Decimal("39800")  # sell: 40,000 x 0.995
        assert Decimal(orders["ETHUSDT"]["price"]) == Decimal("2010")  # buy: 2,000 x 1.005
        assert positions(await sim_state(ex)) == {"BTC": Decimal("-0.025"), "ETH": Decimal("0.5")}
