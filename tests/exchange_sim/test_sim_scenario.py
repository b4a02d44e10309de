"""Scenario parsing and validation for the local exchange: defaults, the example file, and key-path errors.

Bad input must fail with a ScenarioError that names the offending key.
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from rebalancer.exchange_sim import ScenarioError, example_scenario, load_scenario, scenario_from_dict
from rebalancer.exchange_sim.scenario import default_amount_step, default_price_tick

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "sim-example.toml"


def minimal(**extra: Any) -> dict[str, Any]:
    return {"markets": {"BTC": {"spot_price": 40000}}, **extra}


def test_example_file_is_domain_example_2() -> None:
    """config/sim-example.toml parses and equals example_scenario(): BTC 0.1 @ 40k, ETH 1 @ 2k, wallet 3000."""
    loaded = load_scenario(EXAMPLE)
    builtin = example_scenario()
    assert loaded.markets == builtin.markets
    assert dict(loaded.spot) == dict(builtin.spot) == {"BTC": D("0.1"), "ETH": D("1.0"), "USDT": D(0)}
    assert loaded.futures.wallet == D(3000) and loaded.futures.positions == ()
    spot_value = sum(loaded.spot[m.asset] * m.spot_price for m in loaded.markets)
    assert spot_value == D(6000)


def test_defaults() -> None:
    """Mark defaults to spot; fees, mmr, min notional, credentials and faults have documented defaults."""
    sc = scenario_from_dict(minimal())
    btc = sc.market("BTC")
    assert btc.mark_price == btc.spot_price == D(40000)
    assert (btc.amount_step, btc.min_qty, btc.price_tick) == (D("0.001"), D("0.001"), D("0.1"))
    assert (btc.mmr, btc.min_notional, btc.spot, btc.perp) == (D("0.005"), D(5), True, True)
    assert btc.max_leverage == 100  # follows mmr: 1 / (2 * 0.005)
    assert (sc.futures.fee_rate, sc.futures.leverage) == (D("0.0004"), 20)
    assert (sc.auth.api_key, sc.auth.api_secret) == ("local-key", "local-secret")
    assert sc.faults.faults_on == "all" and sc.faults.drop_order_responses == 0


@pytest.mark.parametrize(
    ("price", "step", "tick"),
    [(40000, "0.001", "0.1"), (2000, "0.01", "0.01"), (150, "0.1", "0.001"), (0.5, "100", "0.000001")],
)
def test_filters_picked_by_price(price: float, step: str, tick: str) -> None:
    """Without amount_step/price_tick, one lot step is worth $10-$100 and the tick keeps 5 digits."""
    assert default_amount_step(D(str(price))) == D(step)
    assert default_price_tick(D(str(price))) == D(tick)


def test_positions_accept_asset_or_symbol_forms() -> None:
    """`symbol` may be "BTC", "BTCUSDT" or "BTC/USDT:USDT"."""
    for symbol in ("BTC", "BTCUSDT", "BTC/USDT:USDT"):
        sc = scenario_from_dict(minimal(futures={"positions": [{"symbol": symbol, "amount": -0.025, "entry_price": 40000}]}))
        assert sc.futures.positions[0].asset == "BTC"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        (minimal(extra={}), "extra"),
        ({"markets": {"BTC": {"spot_price": 40000, "stepsize": 1}}}, "markets.BTC.stepsize"),
        ({"markets": {"BTC": {"spot_price": -1}}}, "markets.BTC.spot_price"),
        ({"markets": {"BTC": {"spot_price": "abc"}}}, "markets.BTC.spot_price"),
        ({"markets": {"BTC": {}}}, "markets.BTC.spot_price"),
        ({"markets": {"btc": {"spot_price": 1}}}, "markets.btc"),
        ({"markets": {"BTC": {"spot_price": 1, "spot": "yes"}}}, "markets.BTC.spot"),
        ({"markets": {"BTC": {"spot_price": 40000, "mmr": 0.01, "max_leverage": 125}}}, "markets.BTC.max_leverage"),
        ({"markets": {}}, "markets"),
        (minimal(spot={"BTC": -1}), "spot.BTC"),
        (minimal(futures={"leverage": 0}), "futures.leverage"),
        (minimal(futures={"fee_rate": 4}), "futures.fee_rate"),
        (minimal(futures={"positions": [{"symbol": "ETH", "amount": 1, "entry_price": 1}]}), "futures.positions[0].symbol"),
        (minimal(futures={"positions": [{"symbol": "BTC", "amount": 0.0005, "entry_price": 1}]}), "futures.positions[0].amount"),
        (minimal(futures={"positions": [{"symbol": "BTC", "amount": 1}]}), "futures.positions[0].entry_price"),
        (minimal(auth={"api_key": ""}), "auth.api_key"),
        (minimal(faults={"error_rate_5xx": 2}), "faults.error_rate_5xx"),
        (minimal(faults={"faults_on": "writes"}), "faults.faults_on"),
        (minimal(faults={"reject_orders_with": "margin"}), "faults.reject_orders_with"),
        (minimal(faults={"drop_order_responses": -1}), "faults.drop_order_responses"),
        (minimal(faults={"latency": 5}), "faults.latency"),
    ],
)
def test_bad_input_names_the_key(data: dict[str, Any], key: str) -> None:
    """Every validation error carries the key path, in the exception and its message."""
    with pytest.raises(ScenarioError) as info:
        scenario_from_dict(data)
    assert info.value.key == key
    assert key in str(info.value)


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    """A missing file or broken TOML is a ScenarioError naming the file."""
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[markets.BTC\nspot_price = 1\n")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(bad)
