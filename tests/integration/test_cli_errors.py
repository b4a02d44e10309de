"""User-caused failures through the real `rebalancer` command: one clear line, non-zero exit, journaled."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from rebalancer.exchange_sim.runner import exchange_in_thread
from tests.integration.conftest import EXAMPLE_1_SCENARIO, REBALANCER, journal_rows, write_config

pytestmark = pytest.mark.integration

SCENARIO = EXAMPLE_1_SCENARIO


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([REBALANCER, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def journal_cycles(tmp_path: Path) -> list[sqlite3.Row]:
    return journal_rows(tmp_path / "journal.db", "SELECT * FROM cycles ORDER BY started_at")


def journal_orders(tmp_path: Path) -> list[sqlite3.Row]:
    return journal_rows(tmp_path / "journal.db", "SELECT * FROM orders")


def assert_one_clear_line(proc: subprocess.CompletedProcess, *needles: str) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_rebalance_when_api_key_wrong_then_one_line_exit_1_and_journaled(tmp_path):
    """A wrong key is named as such, exits 1, and the journal records the failed cycle."""
    with exchange_in_thread(SCENARIO) as ex:
        bad = SimpleNamespace(base_url=ex.base_url, api_key="wrong-key", api_secret=ex.api_secret)
        path = write_config(tmp_path, bad, {"BTC": 0.5, "ETH": 0.5})
        proc = cli("rebalance", "--execute", "--config", str(path))
    assert proc.returncode == 1
    assert_one_clear_line(proc, "refused the API key", "REBALANCER_VENUES__MAIN__API_KEY")
    (cycle,) = journal_cycles(tmp_path)
    assert cycle["outcome"] == "failed" and "API-key" in cycle["error"]


def test_rebalance_when_exchange_unreachable_then_one_line_exit_1_and_journaled(tmp_path):
    """A closed port is reported as unreachable after bounded retries."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gone = SimpleNamespace(base_url=f"http://127.0.0.1:{port}", api_key="k", api_secret="s")
    path = write_config(tmp_path, gone, {"BTC": 0.5, "ETH": 0.5})
    proc = cli("rebalance", "--execute", "--config", str(path))
    assert proc.returncode == 1
    assert_one_clear_line(proc, "cannot reach", f"127.0.0.1:{port}")
    (cycle,) = journal_cycles(tmp_path)
    assert cycle["outcome"] == "failed"


def test_rebalance_when_target_symbol_unknown_then_one_line_naming_it(tmp_path):
    """A target the exchange does not list is named with its config key."""
    with exchange_in_thread(SCENARIO) as ex:
        path = write_config(tmp_path, ex, {"BTC": 0.5, "DOGE": 0.5})
        proc = cli("rebalance", "--execute", "--config", str(path))
    assert proc.returncode == 1
    assert_one_clear_line(proc, "portfolio.targets.DOGE")
    (cycle,) = journal_cycles(tmp_path)
    assert cycle["outcome"] == "failed" and "DOGE" in cycle["error"]


def test_rebalance_when_hedge_mode_on_then_refused_with_fix(tmp_path):
    """An account in hedge (dual-side) mode is refused before any order, with the fix named."""
    with exchange_in_thread(SCENARIO) as ex:
        requests.post(f"{ex.base_url}/_sim/position-mode", json={"dualSidePosition": True}, timeout=5).raise_for_status()
        path = write_config(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5})
        proc = cli("rebalance", "--execute", "--config", str(path))
        orders = requests.get(f"{ex.base_url}/_sim/state", timeout=5).json()["orders"]
    assert proc.returncode == 1
    assert_one_clear_line(proc, "hedge", "one-way mode")
    assert orders == []
    assert journal_cycles(tmp_path)[0]["outcome"] == "failed"


def test_rebalance_when_max_order_notional_under_a_market_minimum_then_refused_naming_the_key(tmp_path):
    """A market whose minimum order (min_notional 20) is over risk.max_order_notional (15) could never be
    traded in slices: refused at connect with the key and the fix, no order sent."""
    scenario = {**SCENARIO, "markets": {**SCENARIO["markets"],
                                        "ETH": {"spot_price": 2000, "amount_step": 0.001, "min_notional": 20}}}
    with exchange_in_thread(scenario) as ex:
        path = write_config(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5}, min_order_notional=10)
        path.write_text(path.read_text().replace("[risk]\n", "[risk]\nmax_order_notional = 15\n"))
        proc = cli("rebalance", "--execute", "--config", str(path))
        orders = requests.get(f"{ex.base_url}/_sim/state", timeout=5).json()["orders"]
    assert proc.returncode == 1
    assert_one_clear_line(proc, "risk.max_order_notional", "ETH/USDT:USDT", "at least 20")
    assert orders == []


def test_check_config_when_max_order_notional_under_min_order_notional_then_rejected_with_the_key(tmp_path):
    """No slice of a large order could be sent: check-config names risk.max_order_notional, exit 2."""
    with exchange_in_thread(SCENARIO) as ex:
        path = write_config(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5}, min_order_notional=100)
    path.write_text(path.read_text().replace("[risk]\n", "[risk]\nmax_order_notional = 50\n"))
    proc = cli("check-config", "--config", str(path))
    assert proc.returncode == 2
    assert "risk.max_order_notional" in proc.stderr and "min_order_notional 100" in proc.stderr


def test_rebalance_when_margin_insufficient_then_rejections_journaled_with_code(tmp_path):
    """-2019 on both legs: exit 1, one line, each order journaled REJECTED with the exchange's code."""
    scenario = {**SCENARIO, "futures": {"wallet": 10000}}
    with exchange_in_thread(scenario) as ex:
        requests.post(f"{ex.base_url}/_sim/faults", json={"reject_orders_with": "-2019"}, timeout=5).raise_for_status()
        path = write_config(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5})
        proc = cli("rebalance", "--execute", "--config", str(path), "--json")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert {o["status"] for o in doc["orders"]} == {"rejected"}
    assert {o["error_code"] for o in doc["orders"]} == {"-2019"}
    rows = journal_orders(tmp_path)
    assert len(rows) == 2 and {r["state"] for r in rows} == {"rejected"} and {r["error_code"] for r in rows} == {"-2019"}
    assert_one_clear_line(proc, "rejected")


def test_status_when_no_api_key_configured_then_says_which_variable_to_set(tmp_path):
    """A venue without keys is named with the env variable to set, not reported as a refused key."""
    with exchange_in_thread(SCENARIO) as ex:
        path = write_config(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5})
        path.write_text("\n".join(line for line in path.read_text().splitlines() if not line.startswith("api_")))
        proc = cli("status", "--config", str(path))
    assert proc.returncode == 1
    assert_one_clear_line(proc, "venues.main has no API key", "REBALANCER_VENUES__MAIN__API_KEY")


def test_files_the_cli_creates_are_private_to_the_user(tmp_path):
    """The journal, its lock and the log file hold balances and order history: created 0600."""
    import stat

    with exchange_in_thread(SCENARIO) as ex:
        path = write_config(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5})
        path.write_text(path.read_text().replace('file = ""', f'file = "{tmp_path.as_posix()}/rebalancer.log"'))
        proc = cli("rebalance", "--config", str(path))
    assert proc.returncode in (0, 3), proc.stderr
    created = [p for p in tmp_path.iterdir() if p.is_file() and p.name != "rebalancer.toml"]
    assert {p.name for p in created} >= {"journal.db", "rebalancer.log"}
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in created} == {p.name: "0o600" for p in created}
