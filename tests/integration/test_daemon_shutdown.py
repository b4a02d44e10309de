"""SIGTERM while orders are in flight: `rebalancer run` waits for the cycle to settle them, then exits 0."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
import requests

from rebalancer.exchange_sim.runner import exchange_in_thread
from tests.integration.conftest import journal_rows, write_config
from tests.integration.test_daemon import EX1, REBALANCER, free_port, health_toml, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LATENCY_MS = 2500


def start_daemon(tmp_path, ex, *, shutdown_timeout_s: float | None = None):
    extra = health_toml(free_port())
    path = write_config(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5}, schedule="1h", timeout_ms=10000, extra=extra)
    text = path.read_text().replace('level = "warning"', 'level = "info"')
    if shutdown_timeout_s is not None:
        text = text.replace("[rebalance]\n", f"[rebalance]\nshutdown_timeout_s = {shutdown_timeout_s}\n")
    path.write_text(text)
    stderr_path = tmp_path / "daemon.stderr"
    stderr = stderr_path.open("w")
    proc = subprocess.Popen([REBALANCER, "run", "--config", str(path)], stdout=subprocess.DEVNULL,
                            stderr=stderr, stdin=subprocess.DEVNULL)
    return proc, stderr, stderr_path


def sigterm_when_orders_in_flight(ex, proc, stderr_path) -> float:
    """Wait until both orders are journaled and sent (the exchange holds them LATENCY_MS), then SIGTERM."""
    wait_for(lambda: stderr_path.read_text().count('"event": "order_intent"') >= 2, timeout=30, interval=0.05)
    time.sleep(0.3)  # the requests are on the wire, inside the exchange's latency
    assert requests.get(f"{ex.base_url}/_sim/state", timeout=5).json()["orders"] == [], "orders already done"
    proc.send_signal(signal.SIGTERM)
    return time.monotonic()


def test_sigterm_when_orders_in_flight_then_cycle_settles_every_order_and_exit_0(tmp_path):
    """SIGTERM 0.3 s after the orders left (each held 2.5 s by the exchange): exit 0 only after both
    filled, the cycle journaled `done`, nothing pending, the positions at plan."""
    with exchange_in_thread(EX1) as ex:
        requests.post(f"{ex.base_url}/_sim/faults", json={"latency_ms": LATENCY_MS, "faults_on": "orders"},
                      timeout=5).raise_for_status()
        proc, stderr, stderr_path = start_daemon(tmp_path, ex)
        try:
            sent = sigterm_when_orders_in_flight(ex, proc, stderr_path)
            assert proc.wait(timeout=60) == 0, stderr_path.read_text()[-3000:]
            waited = time.monotonic() - sent
            state = requests.get(f"{ex.base_url}/_sim/state", timeout=5).json()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            stderr.close()
    log = stderr_path.read_text()
    assert '"event": "waiting_for_cycle"' in log and "cycle_abandoned_at_shutdown" not in log
    assert "CancelledError" not in log
    assert waited > 1.5, f"exited {waited:.1f}s after SIGTERM: it cannot have waited for the orders"
    db = tmp_path / "journal.db"
    orders = journal_rows(db, "SELECT state FROM orders")
    assert [o["state"] for o in orders] == ["filled", "filled"]
    assert [c["outcome"] for c in journal_rows(db, "SELECT outcome FROM cycles")] == ["done"]
    assert {a: p["amount"] for a, p in state["futures"]["positions"].items()} == {"BTC": "-0.025", "ETH": "0.5"}


def test_sigterm_when_cycle_outlasts_shutdown_timeout_then_abandoned_logged_and_exit_0(tmp_path):
    """Past rebalance.shutdown_timeout_s the cycle is abandoned: logged, exit 0, the orders left
    pending in the journal for the next start to settle by client order id."""
    with exchange_in_thread(EX1) as ex:
        requests.post(f"{ex.base_url}/_sim/faults", json={"latency_ms": 4000, "faults_on": "orders"},
                      timeout=5).raise_for_status()
        proc, stderr, stderr_path = start_daemon(tmp_path, ex, shutdown_timeout_s=0.5)
        try:
            sent = sigterm_when_orders_in_flight(ex, proc, stderr_path)
            assert proc.wait(timeout=30) == 0, stderr_path.read_text()[-3000:]
            assert time.monotonic() - sent < 3.5
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            stderr.close()
    assert '"event": "cycle_abandoned_at_shutdown"' in stderr_path.read_text()
    db = tmp_path / "journal.db"
    assert {o["state"] for o in journal_rows(db, "SELECT state FROM orders")} <= {"pending", "unknown"}
    assert [c["outcome"] for c in journal_rows(db, "SELECT outcome FROM cycles")] == ["running"]
