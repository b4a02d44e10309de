"""The suites' per-dialect scenario adjustment: OKX's markets count contracts, yet every lot filter is
the same in base units as the scenario wrote it, so the suites' base-unit assertions hold on every dialect."""

from __future__ import annotations

import copy
import tomllib
from decimal import Decimal

import pytest

from rebalancer.exchange_sim.scenario import coerce_scenario
from tests.integration.dialects import DIALECTS, TABLE, adapt_scenario, scenario_toml

D = Decimal

SCENARIO = {
    "markets": {
        "BTC": {"spot_price": 40000, "amount_step": 0.001, "min_qty": 0.002, "market_max_qty": 0.5,
                "depth": [0.01, 0.02]},
        "ETH": {"spot_price": 2000},  # the sim's default step, chosen by price in base units
        "SOL": {"spot_price": 100, "amount_step": 0.1},
    },
    "spot": {"BTC": 0.15, "ETH": 2, "SOL": 10, "USDT": 0},
    "futures": {"wallet": 10000, "positions": [{"symbol": "BTC", "amount": -0.025, "entry_price": 40000}]},
}


def base_filters(scenario: dict) -> dict[str, tuple]:
    return {m.asset: (m.base_step, m.base_min_qty, m.base_max_qty, m.base_market_max_qty, m.depth)
            for m in coerce_scenario(scenario).markets}


def markets(scenario: dict) -> dict:
    return {m.asset: m for m in coerce_scenario(scenario).markets}


@pytest.mark.parametrize("name", DIALECTS)
def test_adapt_when_any_dialect_then_the_base_unit_grid_and_positions_are_the_scenarios(name):
    """Steps, minimum, maximum, market maximum and depth in base units are unchanged by the adjustment."""
    adapted = adapt_scenario(SCENARIO, name)
    assert base_filters(adapted) == base_filters(SCENARIO)
    positions = coerce_scenario(adapted).futures.positions
    assert [(p.asset, p.amount) for p in positions] == [("BTC", D("-0.025"))]


def test_adapt_when_okx_then_btc_and_eth_count_contracts_of_okx_ctval_and_the_input_is_untouched():
    before = copy.deepcopy(SCENARIO)
    adapted = adapt_scenario(SCENARIO, "okx")
    assert SCENARIO == before
    by_asset = markets(adapted)
    assert {a: m.contract_size for a, m in by_asset.items()} == {"BTC": D("0.01"), "ETH": D("0.1"), "SOL": D(1)}
    assert (by_asset["BTC"].amount_step, by_asset["BTC"].min_qty, by_asset["BTC"].market_max_qty) == (
        D("0.1"), D("0.2"), D("50"))
    assert by_asset["ETH"].base_step == markets(SCENARIO)["ETH"].amount_step
    assert TABLE["okx"].base("BTC", D("2.5")) == D("0.025") and TABLE["okx"].contracts("BTC", "0.025") == D("2.5")


def test_scenario_toml_when_parsed_then_the_same_scenario():
    """The exchange started as a process reads the same scenario the in-process tests use."""
    adapted = adapt_scenario(SCENARIO, "okx")
    assert base_filters(tomllib.loads(scenario_toml(adapted))) == base_filters(adapted)
