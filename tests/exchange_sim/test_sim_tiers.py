"""Maintenance tiers (leverage brackets): scenario `brackets`, GET /fapi/v1/leverageBracket, tiered
maintenance margin and liquidation price, and -2027 (position above what the leverage allows).

Every expected number is worked out by hand from the brackets below:
  tier 1: (0, 50,000]        mmr 0.004  125x  cum 0
  tier 2: (50,000, 250,000]  mmr 0.005  100x  cum 0 + 50,000 * 0.001 = 50
  tier 3: (250,000, 3M]      mmr 0.01    50x  cum 50 + 250,000 * 0.005 = 1,300
  tier 4: (3M, 1e9]          mmr 0.025   20x  cum 1,300 + 3,000,000 * 0.015 = 46,300
"""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from typing import Any

import ccxt
import pytest

from rebalancer.exchange_sim.dialects.binance.codes import binance_body
from rebalancer.exchange_sim import Rejection, Engine, OrderRequest, RunningExchange, scenario_from_dict
from rebalancer.exchange_sim.engine import tiered_liquidation_price

from tests.exchange_sim.conftest import base_scenario, expect_error

pytestmark = pytest.mark.integration

PERP_BTC, PERP_ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
BRACKETS = [
    {"notional_cap": 50000, "mmr": 0.004, "max_leverage": 125},
    {"notional_cap": 250000, "mmr": 0.005, "max_leverage": 100},
    {"notional_cap": 3000000, "mmr": 0.01, "max_leverage": 50},
    {"mmr": 0.025, "max_leverage": 20},
]


def tiered(**futures: Any) -> dict[str, Any]:
    scenario = base_scenario(futures={"wallet": 30000, "leverage": 20, **futures})
    scenario["markets"]["BTC"] = {**scenario["markets"]["BTC"], "brackets": BRACKETS}
    return scenario


@pytest.fixture
def scenario() -> dict[str, Any]:
    return tiered()


@pytest.fixture
def stock_binance() -> Any:
    return ccxt.binance()


def engine_for(**futures: Any) -> Engine:
    return Engine(scenario_from_dict(tiered(**futures)), clock=lambda: 1_700_000_000_000)


def buy(qty: str, **kw: Any) -> OrderRequest:
    return OrderRequest(symbol="BTCUSDT", side="BUY", type="MARKET", quantity=D(qty), **kw)


def sell(qty: str, **kw: Any) -> OrderRequest:
    return OrderRequest(symbol="BTCUSDT", side="SELL", type="MARKET", quantity=D(qty), **kw)


# --------------------------------------------------------------------------- scenario


def test_brackets_get_floors_and_cum_from_continuity() -> None:
    """Floors are the previous caps; cum_i = cum_(i-1) + floor_i * (mmr_i - mmr_(i-1)); the open last ends at 1e9."""
    spec = scenario_from_dict(tiered()).market("BTC")
    assert [(b.bracket, b.floor, b.cap, b.mmr, b.max_leverage, b.cum) for b in spec.brackets] == [
        (1, D(0), D(50000), D("0.004"), 125, D(0)),
        (2, D(50000), D(250000), D("0.005"), 100, D(50)),
        (3, D(250000), D(3000000), D("0.01"), 50, D(1300)),
        (4, D(3000000), D(1000000000), D("0.025"), 20, D(46300)),
    ]
    assert (spec.mmr, spec.max_leverage) == (D("0.004"), 125)  # the first bracket's


def test_without_brackets_one_bracket_from_mmr_and_max_leverage() -> None:
    """Back-compatible: ETH (mmr 0.01) keeps one bracket 0..1e9 at mmr 0.01, 50x, cum 0."""
    eth = scenario_from_dict(tiered()).market("ETH")
    assert [(b.floor, b.cap, b.mmr, b.max_leverage, b.cum) for b in eth.brackets] == [
        (D(0), D(1000000000), D("0.01"), 50, D(0))
    ]


def bad(brackets: Any = None, **market: Any) -> dict[str, Any]:
    table: dict[str, Any] = {"spot_price": 40000, **market}
    if brackets is not None:
        table["brackets"] = brackets
    return {"markets": {"BTC": table}}


B1 = {"notional_cap": 50000, "mmr": 0.004, "max_leverage": 125}


@pytest.mark.parametrize(
    ("data", "key"),
    [
        (bad("tiers"), "markets.BTC.brackets"),
        (bad([]), "markets.BTC.brackets"),
        (bad([B1, {"notional_cap": 40000, "mmr": 0.005, "max_leverage": 100}]), "markets.BTC.brackets[1].notional_cap"),
        (bad([B1, {"notional_cap": 50000, "mmr": 0.005, "max_leverage": 100}]), "markets.BTC.brackets[1].notional_cap"),
        (bad([B1, {"mmr": 0.003, "max_leverage": 100}]), "markets.BTC.brackets[1].mmr"),
        (bad([B1, {"mmr": 0.005, "max_leverage": 126}]), "markets.BTC.brackets[1].max_leverage"),
        (bad([{**B1, "max_leverage": 100}, {"mmr": 0.005, "max_leverage": 110}]), "markets.BTC.brackets[1].max_leverage"),
        (bad([{**B1, "mmr": 0}]), "markets.BTC.brackets[0].mmr"),
        (bad([{**B1, "mmr": 1}]), "markets.BTC.brackets[0].mmr"),
        (bad([{**B1, "max_leverage": 0}]), "markets.BTC.brackets[0].max_leverage"),
        (bad([{**B1, "max_leverage": 2.5}]), "markets.BTC.brackets[0].max_leverage"),
        (bad([{**B1, "mmr": 0.01}]), "markets.BTC.brackets[0].max_leverage"),  # 0.01 * 125 >= 1
        (bad([{"mmr": 0.004, "max_leverage": 125}, {"mmr": 0.005, "max_leverage": 100}]), "markets.BTC.brackets[0].notional_cap"),
        (bad([{"notional_cap": 2e9, "mmr": 0.004, "max_leverage": 125}, {"mmr": 0.005, "max_leverage": 100}]),
         "markets.BTC.brackets[0].notional_cap"),
        (bad([{**B1, "cap": 1}]), "markets.BTC.brackets[0].cap"),
        (bad([{"notional_cap": 50000, "max_leverage": 125}]), "markets.BTC.brackets[0].mmr"),
        (bad([{"notional_cap": 50000, "mmr": 0.004}]), "markets.BTC.brackets[0].max_leverage"),
        (bad(["x"]), "markets.BTC.brackets[0]"),
        (bad([B1], mmr=0.004), "markets.BTC.mmr"),
        (bad([B1], max_leverage=100), "markets.BTC.max_leverage"),
    ],
)
def test_bad_brackets_name_the_key(data: dict[str, Any], key: str) -> None:
    """Caps increasing, mmr non-decreasing in (0, 1), leverage non-increasing integers >= 1, each with its path."""
    from rebalancer.exchange_sim import ScenarioError

    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data)
    assert info.value.key == key
    assert key in str(info.value)


# --------------------------------------------------------------------------- engine math


def test_maintenance_margin_in_tier_2_is_n_mmr2_minus_cum2() -> None:
    """2 BTC at 40,000 = 80,000 notional (tier 2): mm = 80,000 * 0.005 - 50 = 350 (single-bracket would say 320)."""
    engine = engine_for()
    engine.place_order(buy("2"))
    risk = engine.position_risk("BTCUSDT")
    assert risk.maint_margin == D(80000) * D("0.005") - D(50) == D(350)
    assert engine.account().maint_margin == D(350)


def test_maintenance_margin_follows_the_mark_into_tier_3() -> None:
    """The same 2 BTC marked at 150,000 = 300,000 (tier 3): mm = 300,000 * 0.01 - 1,300 = 1,700."""
    engine = engine_for()
    engine.place_order(buy("2"))
    engine.set_prices("BTC", mark=D(150000))
    assert engine.position_risk("BTCUSDT").maint_margin == D(1700)


def test_liquidation_price_of_a_tier_3_long() -> None:
    """Long 10 @ 40,000 (400,000, tier 3), wallet 30,000 - 160 fee: P = (-1,300 - 29,840 + 400,000) / (10 - 0.1)."""
    engine = engine_for()
    engine.place_order(buy("10"))
    assert engine.wallet == D(29840)
    expected = D(368860) / D("9.9")
    assert engine.position_risk("BTCUSDT").liquidation_price == expected
    assert round(expected, 2) == D("37258.59")


def test_liquidation_price_of_a_short_that_crosses_into_tier_3() -> None:
    """Short 6 @ 40,000 is 240,000 (tier 2) now, but at its liquidation price the notional is in tier 3.

    Tier 2's formula would give 269,954 / 6.03 = 44,768.49, i.e. 268,610 of notional, outside tier 2;
    tier 3's gives P = (-1,300 - 29,904 - 240,000) / (-6 - 0.06) = 271,204 / 6.06, inside it; at P the
    margin balance equals n * 0.01 - 1,300 exactly.
    """
    engine = engine_for()
    engine.place_order(sell("6"))
    assert engine.wallet == D(29904)
    liq = engine.position_risk("BTCUSDT").liquidation_price
    assert liq == D(271204) / D("6.06")
    notional = 6 * liq
    equity = D(29904) - 6 * (liq - 40000)
    assert D(250000) < notional < D(3000000)
    assert abs(equity - (notional * D("0.01") - 1300)) < D("1e-18")


def test_tiered_liquidation_with_one_bracket_is_the_single_bracket_formula() -> None:
    """One bracket, cum 0: the same number as before tiers (short 0.025 @ 40,000, wallet 3,000, mmr 0.005)."""
    spec = scenario_from_dict({"markets": {"BTC": {"spot_price": 40000, "mmr": 0.005}}}).market("BTC")
    assert tiered_liquidation_price(D("-0.025"), D(40000), spec.brackets, D(3000)) == D(-4000) / D("-0.025125")


def test_order_above_the_cap_of_the_current_leverage_is_2027() -> None:
    """At 60x only tiers 1-2 allow the leverage: cap 250,000 = 6.25 BTC at 40,000; 6.251 is -2027, 6.25 fills."""
    engine = engine_for()
    engine.set_leverage("BTCUSDT", 60)
    assert engine.max_notional("BTCUSDT") == D(250000)
    with pytest.raises(Rejection) as info:
        engine.place_order(buy("6.251"))
    assert binance_body(info.value) == (
        -2027, "Exceeded the maximum allowable position at current leverage.", 400,
    )
    assert engine.orders == [] and engine.positions["BTCUSDT"].amount == 0
    engine.place_order(buy("6.25"))
    assert engine.positions["BTCUSDT"].amount == D("6.25")


def test_post_trade_notional_counts_the_existing_position_and_reducing_is_allowed() -> None:
    """Long 6 at 60x: +0.251 would be 250,040 (-2027); above the cap after a rally, reduce-only and plain
    sells still go through, a growing buy does not."""
    engine = engine_for()
    engine.set_leverage("BTCUSDT", 60)
    engine.place_order(buy("6"))
    with pytest.raises(Rejection) as info:
        engine.place_order(buy("0.251"))
    assert binance_body(info.value)[0] == -2027
    engine.place_order(buy("0.25"))
    engine.set_prices("BTC", mark=D(41000))  # 6.25 * 41,000 = 256,250 > 250,000
    with pytest.raises(Rejection):
        engine.place_order(buy("0.001"))
    engine.place_order(sell("0.1", reduce_only=True))
    engine.place_order(sell("0.1"))
    assert engine.positions["BTCUSDT"].amount == D("6.05")


def test_raising_leverage_above_what_the_position_allows_is_2027() -> None:
    """Long 3 BTC (120,000) at 20x: 100x allows 250,000 (ok), 101x only 50,000 (-2027, leverage unchanged)."""
    engine = engine_for()
    engine.place_order(buy("3"))
    engine.set_leverage("BTCUSDT", 100)
    with pytest.raises(Rejection) as info:
        engine.set_leverage("BTCUSDT", 101)
    assert binance_body(info.value)[0] == -2027
    assert engine.markets["BTCUSDT"].leverage == 100


# --------------------------------------------------------------------------- over HTTP with ccxt


async def test_fetch_leverage_tiers_parses_the_brackets(ready_client: Any) -> None:
    """ccxt fetch_leverage_tiers: minNotional/maxNotional/maintenanceMarginRate/maxLeverage and info.cum per tier."""
    tiers = await ready_client.fetch_leverage_tiers([PERP_BTC, PERP_ETH])
    assert set(tiers) == {PERP_BTC, PERP_ETH}
    btc = [(t["tier"], t["minNotional"], t["maxNotional"], t["maintenanceMarginRate"], t["maxLeverage"],
            t["info"]["cum"], t["currency"]) for t in tiers[PERP_BTC]]
    assert btc == [
        (1, 0, 50000, 0.004, 125, 0.0, "USDT"),
        (2, 50000, 250000, 0.005, 100, 50.0, "USDT"),
        (3, 250000, 3000000, 0.01, 50, 1300.0, "USDT"),
        (4, 3000000, 1000000000, 0.025, 20, 46300.0, "USDT"),
    ]
    eth = [(t["minNotional"], t["maxNotional"], t["maintenanceMarginRate"], t["maxLeverage"]) for t in tiers[PERP_ETH]]
    assert eth == [(0, 1000000000, 0.01, 50)]


async def test_fetch_market_leverage_tiers_and_the_raw_binance_shape(make_client: Any) -> None:
    """fetch_market_leverage_tiers(symbol) (sync client too); raw: Binance's keys, a list, or one object with `symbol`."""
    client = make_client(sync=True)  # sync ccxt runs in a worker thread: the server shares this loop
    await asyncio.to_thread(client.load_markets)
    tiers = await asyncio.to_thread(client.fetch_market_leverage_tiers, PERP_BTC)
    assert [(t["tier"], t["maxNotional"], t["info"]["cum"]) for t in tiers] == [
        (1, 50000, 0.0), (2, 250000, 50.0), (3, 3000000, 1300.0), (4, 1000000000, 46300.0),
    ]
    raw_all = await asyncio.to_thread(client.fapiPrivateGetLeverageBracket)
    assert [row["symbol"] for row in raw_all] == ["BTCUSDT", "ETHUSDT"]
    raw_one = await asyncio.to_thread(client.fapiPrivateGetLeverageBracket, {"symbol": "BTCUSDT"})
    assert raw_one["symbol"] == "BTCUSDT"
    assert raw_one["brackets"][1] == {
        "bracket": 2, "initialLeverage": 100, "notionalCap": 250000, "notionalFloor": 50000,
        "maintMarginRatio": 0.005, "cum": 50.0,
    }


async def test_positions_and_account_report_the_tiered_maintenance(ready_client: Any, sim: RunningExchange) -> None:
    """2 BTC long (tier 2): positionRisk maintMargin 350 and account total 350.

    ccxt's unified maintenanceMargin is NOT that: with the brackets cached it is rate * notional
    without cum (0.005 * 80,000 = 400); the exchange's tiered figure is only in info.maintMargin.
    """
    await ready_client.create_order(PERP_BTC, "market", "buy", 2)
    [position] = await ready_client.fetch_positions([PERP_BTC])
    assert position["info"]["maintMargin"] == "350.00000000"
    assert (position["maintenanceMargin"], position["maintenanceMarginPercentage"]) == (400.0, 0.005)
    balance = await ready_client.fetch_balance({"type": "future"})
    assert balance["info"]["totalMaintMargin"] == "350.00000000"
    assert sim.engine.position_risk("BTCUSDT").maint_margin == D(350)


async def test_tier_3_liquidation_price_through_ccxt(ready_client: Any) -> None:
    """Long 10 @ 40,000: liquidationPrice = 368,860 / 9.9 = 37,258.58585858 (8 decimals, as Binance prints it)."""
    await ready_client.create_order(PERP_BTC, "market", "buy", 10)
    [position] = await ready_client.fetch_positions([PERP_BTC])
    assert position["info"]["liquidationPrice"] == "37258.58585859"
    assert position["liquidationPrice"] == pytest.approx(37258.58585859, abs=1e-8)


async def test_order_above_the_leverage_cap_is_operation_rejected(ready_client: Any, stock_binance: Any) -> None:
    """-2027 (HTTP 400) -> OperationRejected, as fapi.binance.com maps it; maxNotionalValue says 250000 at 60x."""
    response = await ready_client.set_leverage(60, PERP_BTC)
    assert response == {"leverage": 60, "maxNotionalValue": "250000", "symbol": "BTCUSDT"}
    error = await expect_error(
        ready_client, stock_binance, ccxt.OperationRejected,
        lambda: ready_client.create_order(PERP_BTC, "market", "buy", 6.251), code=-2027,
    )
    assert "Exceeded the maximum allowable position at current leverage." in str(error)
    order = await ready_client.create_order(PERP_BTC, "market", "buy", 6.25)
    assert order["filled"] == 6.25
    [config] = await ready_client.fapiPrivateGetSymbolConfig({"symbol": "BTCUSDT"})
    assert (config["leverage"], config["maxNotionalValue"]) == (60, "250000")
    [v2] = await ready_client.fapiPrivateV2GetPositionRisk({"symbol": "BTCUSDT"})
    assert v2["maxNotionalValue"] == "250000"


async def test_set_leverage_above_what_the_position_allows_is_operation_rejected(
    ready_client: Any, stock_binance: Any, sim: RunningExchange
) -> None:
    """Long 3 BTC (120,000): set_leverage(101) allows only 50,000 -> -2027 OperationRejected; 100x works."""
    await ready_client.create_order(PERP_BTC, "market", "buy", 3)
    await expect_error(ready_client, stock_binance, ccxt.OperationRejected,
                       lambda: ready_client.set_leverage(101, PERP_BTC), code=-2027)
    assert sim.engine.markets["BTCUSDT"].leverage == 20
    assert (await ready_client.set_leverage(100, PERP_BTC))["maxNotionalValue"] == "250000"
