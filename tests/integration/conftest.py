"""Fixtures for end-to-end tests: the local exchange in-process in any dialect, and settings pointing at it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlite3
import sys

import aiohttp
import pytest

from rebalancer.settings import load_settings
from rebalancer.exchange_sim import runner
from tests.integration.dialects import Dialect, adapt_scenario, facts

# The `rebalancer` console script of this venv, for tests that run the real program.
REBALANCER = str(Path(sys.executable).with_name("rebalancer"))

# DOMAIN.md example 1 on the local exchange: spot BTC $6,000 / ETH $4,000, a $10,000 hedge wallet.
# Tests that change it build a new dict ({**EXAMPLE_1_SCENARIO, ...}); never mutate this one.
EXAMPLE_1_SCENARIO: dict[str, Any] = {
    "markets": {"BTC": {"spot_price": 40000, "amount_step": 0.001}, "ETH": {"spot_price": 2000, "amount_step": 0.001}},
    "spot": {"BTC": 0.15, "ETH": 2, "USDT": 0},
    "futures": {"wallet": 10000},
}

CONFIG = """\
[portfolio]
quote = "USDT"
nav = "{nav}"
targets = {{ {targets} }}

[rebalance]
schedule = "{schedule}"
band = {band}
min_order_notional = {min_order_notional}

[venues.main]
exchange = "{exchange}"
mode = "local"
base_url = "{base_url}"
roles = ["spot", "hedge"]
leverage = {leverage}
api_key = "{api_key}"
api_secret = "{api_secret}"
{password_line}timeout_ms = {timeout_ms}

[risk]
max_margin_usage = {max_margin_usage}
min_liquidation_distance = {min_liquidation_distance}
kill_switch_file = "{var}/HALT"

[journal]
path = "{var}/journal.db"

[logging]
level = "warning"
format = "json"
file = ""
"""


def write_config(tmp_path: Path, ex: Any, targets: dict[str, float], *, extra: str = "", **kw: Any) -> Path:
    """A config for the exchange `ex` (anything with base_url/api_key/api_secret, and `dialect` and
    `password` when it speaks another dialect than binance): the venue's exchange is the dialect's, and
    `password` is written when the exchange has one. `extra` is appended TOML."""
    values = dict(nav="spot", band=0.02, min_order_notional=10, leverage=3, timeout_ms=3000,
                  max_margin_usage=0.5, min_liquidation_distance=0.25, schedule="15m")
    values.update(kw)
    password = getattr(ex, "password", None)
    text = CONFIG.format(
        targets=", ".join(f"{a} = {w}" for a, w in targets.items()),
        exchange=facts(getattr(ex, "dialect", "binance")).exchange,
        password_line=f'password = "{password}"\n' if password is not None else "",
        base_url=ex.base_url, api_key=ex.api_key, api_secret=ex.api_secret, var=tmp_path.as_posix(), **values,
    )
    if "[protection]" not in extra:
        # Protective stops rest on the exchange as orders: the suites written before them count the
        # exchange's orders and requests exactly, so they run without; the protection suite
        # (test_protection.py) and the fault rows for stops turn them on with their own [protection].
        text += "\n[protection]\nenabled = false\n"
    path = tmp_path / "rebalancer.toml"
    path.write_text(text + extra)
    return path


def start_exchange(scenario: Any, dialect: Dialect | str, **kw: Any):
    """runner.start_exchange in `dialect`, a dict scenario adjusted for it (dialects.adapt_scenario)."""
    return runner.start_exchange(_for(scenario, dialect), dialect=facts(dialect).name, **kw)


def exchange_in_thread(scenario: Any, dialect: Dialect | str, **kw: Any):
    """runner.exchange_in_thread in `dialect`, a dict scenario adjusted for it."""
    return runner.exchange_in_thread(_for(scenario, dialect), dialect=facts(dialect).name, **kw)


def _for(scenario: Any, dialect: Dialect | str) -> Any:
    return adapt_scenario(scenario, dialect) if isinstance(scenario, dict) else scenario


def settings_for(tmp_path: Path, ex: Any, targets: dict[str, float], **kw: Any):
    return load_settings(write_config(tmp_path, ex, targets, **kw), env={})


def journal_rows(db: Path, sql: str) -> list[sqlite3.Row]:
    """Rows of a query on a journal file, read with plain sqlite3 as an operator would."""
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


async def sim_state(ex: Any) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{ex.base_url}/_sim/state") as resp:
            return await resp.json()


async def sim_post(ex: Any, path: str, body: dict) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{ex.base_url}/_sim/{path}", json=body) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()


@pytest.fixture
def fast_executor() -> dict:
    """Executor timing for tests: short lookup spacing so retries don't slow the suite."""
    return {"lookup_delay_s": 0.05}
