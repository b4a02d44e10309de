"""Running the local exchange: loopback-only binding, startup time, the CLI entry point, restarts, the admin API.

The CLI path is exercised in a subprocess exactly as `rebalancer exchange-sim` would run it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from rebalancer.exchange_sim import (
    RemoteBindRefused,
    RunningExchange,
    ScenarioError,
    example_scenario,
    exchange_in_thread,
    serve_forever,
    start_exchange,
)
from rebalancer.venues.binance_local import make_local_binance

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "sim-example.toml"
PERP_BTC = "BTC/USDT:USDT"


async def test_binds_loopback_by_default_and_starts_fast() -> None:
    """start_exchange listens on 127.0.0.1 on a free port and is up in well under a second."""
    started = time.perf_counter()
    async with start_exchange(EXAMPLE) as sim:
        elapsed = time.perf_counter() - started
        assert sim.host == "127.0.0.1" and sim.base_url == f"http://127.0.0.1:{sim.port}" and sim.port > 0
        async with aiohttp.ClientSession() as session:
            async with session.get(sim.base_url + "/api/v3/time") as response:
                assert "serverTime" in await response.json()
    assert elapsed < 1.0


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com"])
async def test_refuses_non_loopback_without_allow_remote(host: str) -> None:
    """Any non-loopback address is refused with a clear ValueError unless allow_remote=True."""
    with pytest.raises(RemoteBindRefused, match="--allow-remote"):
        async with start_exchange(example_scenario(), host=host):
            pass
    with pytest.raises(ValueError, match=f"refusing to bind {host}"):
        serve_forever(EXAMPLE, host=host)


async def test_allow_remote_binds_all_interfaces() -> None:
    """With allow_remote=True, 0.0.0.0 is accepted."""
    async with start_exchange(example_scenario(), host="0.0.0.0", allow_remote=True) as sim:
        assert sim.base_url.startswith("http://0.0.0.0:")


def test_serve_forever_rejects_a_bad_scenario_before_binding(tmp_path: Path) -> None:
    """A scenario error surfaces as ScenarioError naming the key, before anything listens."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[markets.BTC]\nspot_price = -5\n")
    with pytest.raises(ScenarioError, match=r"markets\.BTC\.spot_price"):
        serve_forever(bad)


def _spawn(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "rebalancer.exchange_sim.runner", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_cli_prints_base_url_first_and_stops_cleanly_on_signal(stop_signal: int) -> None:
    """The first stdout line is the base URL; the server answers; SIGINT/SIGTERM ends it with exit 0."""
    started = time.perf_counter()
    proc = _spawn("--scenario", str(EXAMPLE))
    try:
        assert proc.stdout is not None
        first_line = proc.stdout.readline().strip()
        startup = time.perf_counter() - started
        assert first_line.startswith("http://127.0.0.1:"), first_line
        client = make_local_binance(first_line, "local-key", "local-secret", sync=True)
        assert client.fetch_balance()["total"]["BTC"] == 0.1
        assert startup < 3.0  # includes interpreter start and imports; the server itself needs ~10 ms
        proc.send_signal(stop_signal)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_reports_errors_on_stderr_with_exit_2(tmp_path: Path) -> None:
    """Bad scenario -> one line on stderr naming the key, exit 2, nothing on stdout."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[markets.BTC]\nspot_price = 1\nbogus = 2\n")
    proc = _spawn("--scenario", str(bad))
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 2 and out == ""
    assert "markets.BTC.bogus" in err and "Traceback" not in err


async def test_state_file_survives_a_restart(tmp_path: Path) -> None:
    """With a state file, balances, positions and orders (by client id) are kept across a restart."""
    state_file = tmp_path / "var" / "sim-state.json"
    async with start_exchange(example_scenario(), state_file=state_file) as sim:
        client = make_local_binance(sim.base_url, sim.api_key, sim.api_secret)
        client.timeout_on_exit = 0
        try:
            await client.create_order(PERP_BTC, "market", "sell", 0.025, None, {"clientOrderId": "keep-me"})
        finally:
            await client.close()
        before = sim.engine.state_view()
    assert json.loads(state_file.read_text())["positions"]["BTCUSDT"]["amount"] == "-0.025"
    assert [p.name for p in state_file.parent.iterdir()] == ["sim-state.json"]  # no temp files left
    async with start_exchange(example_scenario(), state_file=state_file) as sim:
        client = make_local_binance(sim.base_url, sim.api_key, sim.api_secret)
        client.timeout_on_exit = 0
        try:
            found = await client.fetch_order(None, PERP_BTC, {"clientOrderId": "keep-me"})
            positions = await client.fetch_positions([PERP_BTC])
        finally:
            await client.close()
        after = sim.engine.state_view()
    assert found["status"] == "closed" and positions[0]["contracts"] == 0.025
    assert {k: v for k, v in after.items() if k != "time"} == {k: v for k, v in before.items() if k != "time"}


def test_exchange_in_thread_serves_sync_callers() -> None:
    """exchange_in_thread runs the server on its own loop so plain synchronous code can use it."""
    with exchange_in_thread(example_scenario()) as sim:
        client = make_local_binance(sim.base_url, sim.api_key, sim.api_secret, sync=True)
        assert client.fetch_balance()["total"]["ETH"] == 1.0
        order = client.create_order(PERP_BTC, "market", "buy", 0.01)
        assert order["status"] == "closed"


async def test_admin_api(sim: RunningExchange, admin: Any) -> None:
    """prices (shorthand and split), balances, position mode, reset; unknown admin routes are JSON 404s."""
    markets = await admin("POST", "prices", {"BTC": 36000, "ETH": {"mark": 2100}})
    assert (markets["BTC"]["spot"], markets["BTC"]["mark"], markets["ETH"]["spot"], markets["ETH"]["mark"]) == (
        "36000", "36000", "2000", "2100")
    balances = await admin("POST", "balances", {"spot": {"BTC": 0.2}, "wallet": 1000})
    assert balances == {"spot": {"USDT": "50", "BTC": "0.2", "ETH": "1", "BNB": "2"}, "wallet": "1000"}
    assert (await admin("POST", "position-mode", {"dualSidePosition": True})) == {"dualSidePosition": True}
    state = await admin("POST", "reset")
    assert state["spot"]["BTC"] == "0.1" and state["futures"]["wallet"] == "3000"
    assert state["futures"]["dual_side_position"] is False and state["markets"]["BTC"]["spot"] == "40000"
    async with aiohttp.ClientSession() as session:
        async with session.get(sim.base_url + "/_sim/nope") as response:
            assert response.status == 404 and "error" in await response.json()
        async with session.post(sim.base_url + "/_sim/prices", json={"XRP": 1}) as response:
            assert response.status == 400 and "XRP" in (await response.json())["error"]


async def test_concurrent_clients_are_served(sim: RunningExchange) -> None:
    """Many concurrent signed requests from separate clients all succeed (no shared-state corruption)."""
    clients = [make_local_binance(sim.base_url, sim.api_key, sim.api_secret) for _ in range(4)]
    try:
        results = await asyncio.gather(*(c.fetch_balance({"type": "future"}) for c in clients for _ in range(5)))
        assert all(r["total"]["USDT"] == 3000.0 for r in results)
    finally:
        for c in clients:
            c.timeout_on_exit = 0
            await c.close()
