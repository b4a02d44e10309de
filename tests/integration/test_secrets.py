"""API keys and secrets never reach a log line, a journal row or JSON output, even on errors."""

from __future__ import annotations

import sqlite3
import subprocess

import pytest
import requests

from rebalancer.exchange_sim.runner import exchange_in_thread
from tests.integration.conftest import REBALANCER, write_config

pytestmark = pytest.mark.integration

KEY = "KEYzq7Hn4Vb9Tx2Lm8Rp5Wc3"
SECRET = "SECq9Zr2Kd7Yf4Nh6Bs1Xv8Jw"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([REBALANCER, *args], capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)


def test_secrets_absent_from_logs_journal_and_json_output(tmp_path):
    """Debug logs, every journal table and every command's JSON are scanned for the key and the secret."""
    scenario = {
        "markets": {"BTC": {"spot_price": 40000, "amount_step": 0.001}, "ETH": {"spot_price": 2000, "amount_step": 0.001}},
        "spot": {"BTC": 0.15, "ETH": 2, "USDT": 0},
        "futures": {"wallet": 10000},
        "auth": {"api_key": KEY, "api_secret": SECRET},
    }
    with exchange_in_thread(scenario) as ex:
        path = write_config(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5})
        text = path.read_text().replace('level = "warning"', 'level = "debug"').replace(
            'file = ""', f'file = "{(tmp_path / "log.jsonl").as_posix()}"')
        path.write_text(text)
        outputs = [
            run("check-config", "--config", str(path), "--json"),
            run("status", "--config", str(path), "--json"),
            run("plan", "--config", str(path), "--json"),
        ]
        # an order whose response is dropped and one rejected: the error paths log the most
        requests.post(f"{ex.base_url}/_sim/faults", json={"drop_order_responses": 1}, timeout=5).raise_for_status()
        outputs.append(run("rebalance", "--execute", "--config", str(path), "--json"))
        requests.post(f"{ex.base_url}/_sim/faults", json={"reject_orders_with": "-2019"}, timeout=5).raise_for_status()
        requests.post(f"{ex.base_url}/_sim/prices", json={"BTC": {"spot": 30000, "mark": 30000}}, timeout=5)
        outputs.append(run("rebalance", "--execute", "--config", str(path), "--json"))
        outputs.append(run("orders", "--config", str(path), "--json"))
        # a wrong secret: the signature error path
        bad = path.read_text().replace(SECRET, SECRET[::-1])
        (tmp_path / "bad.toml").write_text(bad)
        outputs.append(run("status", "--config", str(tmp_path / "bad.toml"), "--json"))

    assert outputs[3].returncode == 0, outputs[3].stderr  # the dropped response was resolved by client id
    assert '"sends"' in outputs[3].stdout
    haystacks = {f"output {i} {o.args[1]}": o.stdout + o.stderr for i, o in enumerate(outputs)}
    haystacks["log file"] = (tmp_path / "log.jsonl").read_text()
    assert haystacks["log file"].count("\n") > 10  # debug logging really ran
    con = sqlite3.connect(tmp_path / "journal.db")
    try:
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            rows = con.execute(f"SELECT * FROM {table}").fetchall()  # noqa: S608 - table names from sqlite_master
            haystacks[f"journal {table}"] = repr(rows)
    finally:
        con.close()
    assert "journal orders" in haystacks and "rb" in haystacks["journal orders"]
    for where, text in haystacks.items():
        for secret in (KEY, SECRET, SECRET[::-1]):
            assert secret not in text, f"{secret[:3]}... leaked into {where}"
