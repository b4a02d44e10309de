"""The daemon for real: `rebalancer run` as a subprocess with signals, and in-process scheduling checks."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import time
from datetime import datetime
from decimal import Decimal

import httpx
import pytest
import requests
import respx

from rebalancer.daemon import Daemon, JournalLock, LockHeld
from rebalancer.service import Rebalancer
from rebalancer.settings import load_settings
from tests.integration.conftest import (
    EXAMPLE_1_SCENARIO,
    REBALANCER,
    exchange_in_thread,
    journal_rows,
    start_exchange,
    write_config,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EX1 = EXAMPLE_1_SCENARIO
WEBHOOK = "https://hooks.example.test/rebalancer"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health_toml(port: int) -> str:
    return f'\n[health]\nhost = "127.0.0.1"\nport = {port}\n'


def wait_for(predicate, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def healthz(port: int) -> dict | None:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json()
    except requests.RequestException:
        return None


@pytest.fixture
def daemon_process(dialect, tmp_path):
    """The local exchange in a thread (in `dialect`) and `rebalancer run` as a real subprocess (1 s schedule)."""
    with exchange_in_thread(EX1, dialect) as ex:
        port = free_port()
        path = write_config(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5}, schedule="1s", extra=health_toml(port))
        path.write_text(path.read_text().replace('level = "warning"', 'level = "info"'))
        stderr = (tmp_path / "daemon.stderr").open("w")
        proc = subprocess.Popen([REBALANCER, "run", "--config", str(path)], stdout=subprocess.DEVNULL,
                                stderr=stderr, stdin=subprocess.DEVNULL)
        try:
            yield ex, proc, port, tmp_path
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            stderr.close()


def test_run_when_sigterm_then_cycles_done_exit_0_nothing_pending(daemon_process):
    """Several scheduled cycles complete (journal and /healthz), SIGTERM exits 0 with nothing left open."""
    ex, proc, port, tmp_path = daemon_process
    health = wait_for(lambda: (h := healthz(port)) and h["cycles"] >= 3 and h, timeout=30)
    assert health["status"] == "ok" and health["last_cycle"]["outcome"] in ("done", "nothing_to_do")
    metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    assert 'rebalancer_cycles_total{outcome="done"} 1.0' in metrics
    assert 'rebalancer_request_latency_seconds_count{endpoint="create_order"} 2.0' in metrics

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, (tmp_path / "daemon.stderr").read_text()[-2000:]

    db = tmp_path / "journal.db"
    cycles = journal_rows(db, "SELECT outcome FROM cycles")
    assert len(cycles) >= 3 and "running" not in {c["outcome"] for c in cycles}
    assert journal_rows(db, "SELECT * FROM orders WHERE state IN ('pending', 'unknown', 'open')") == []
    state = requests.get(f"{ex.base_url}/_sim/state", timeout=5).json()
    assert [o for o in state["orders"] if o["status"] in ("NEW", "PARTIALLY_FILLED")] == []
    assert {a: p["amount"] for a, p in state["futures"]["positions"].items()} == {"BTC": "-0.025", "ETH": "0.5"}
    assert len(state["orders"]) == 2  # one cycle traded, the others found nothing to do
    log = (tmp_path / "daemon.stderr").read_text()
    assert '"event": "daemon_stopped"' in log


def test_run_when_prices_move_then_daemon_rebalances(daemon_process):
    """Moving prices on the exchange while the daemon runs leads to reduce-only adjustments."""
    ex, proc, port, tmp_path = daemon_process
    wait_for(lambda: (h := healthz(port)) and h["cycles"] >= 1 and h, timeout=30)
    requests.post(f"{ex.base_url}/_sim/prices", json={"BTC": {"spot": 36000, "mark": 36000},
                                                      "ETH": {"spot": 2200, "mark": 2200}}, timeout=5)

    def adjusted():
        positions = requests.get(f"{ex.base_url}/_sim/state", timeout=5).json()["futures"]["positions"]
        # both legs: they are sent concurrently, so the state can be read between their fills
        moved = (positions.get("BTC", {}).get("amount") not in (None, "-0.025")
                 and positions.get("ETH", {}).get("amount") not in (None, "0.5"))
        return positions if moved else None

    positions = wait_for(adjusted, timeout=30)
    # BTC $5,400 + ETH $4,400 = NAV $9,800, $4,900 each: buy back $400 of BTC (0.0111 -> 0.011)
    # and sell $600 of ETH (0.2727 -> 0.272), orders rounded toward zero at the 0.001 step
    assert Decimal(positions["BTC"]["amount"]) == Decimal("-0.014")
    assert Decimal(positions["ETH"]["amount"]) == Decimal("0.228")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


async def _run_daemon_until(daemon: Daemon, done, timeout: float) -> None:
    task = asyncio.create_task(daemon.run())
    deadline = time.monotonic() + timeout
    try:
        while not done() and time.monotonic() < deadline:
            assert not task.done(), task.exception()
            await asyncio.sleep(0.1)
    finally:
        daemon.request_stop("test")
        assert await asyncio.wait_for(task, 30) == 0


async def test_daemon_when_funding_over_cap_then_leg_denied_and_alert_sent(dialect, tmp_path):
    """BTC funding -0.05%/8h (shorts pay 54.75% a year): the short is denied, ETH's long stays unsent
    (alone it would leave the book net long), and a webhook alert goes out."""
    scenario = {**EX1, "markets": {**EX1["markets"], "BTC": {**EX1["markets"]["BTC"], "funding_rate": -0.0005}}}
    async with start_exchange(scenario, dialect) as ex:
        extra = health_toml(0) + f'\n[alerts]\nwebhook_url = "{WEBHOOK}"\nformat = "generic"\n'
        settings = load_settings(write_config(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5}, schedule="1h", extra=extra),
                                 env={})
        with respx.mock(assert_all_called=False) as mock:
            route = mock.post(WEBHOOK).mock(return_value=httpx.Response(200))
            daemon = Daemon(settings)
            await _run_daemon_until(daemon, lambda: daemon.cycles_run >= 1 and route.called, timeout=20)
        bodies = [json.loads(call.request.content) for call in route.calls]
        denied = [b for b in bodies if b["kind"] == "risk_denied"]
        assert denied and "FUNDING" in json.dumps(denied[0]) and "BTC/USDT:USDT" in json.dumps(denied[0])
        state = (await asyncio.to_thread(requests.get, f"{ex.base_url}/_sim/state", timeout=5)).json()
        assert {a: p["amount"] for a, p in state["futures"]["positions"].items()} == {}


class SlowVenue:
    """Wraps the real venue; each snapshot takes longer than the schedule's interval."""

    def __init__(self, venue, delay: float, spans: list) -> None:
        self._venue, self._delay, self.spans, self.active, self.max_active = venue, delay, spans, 0, 0

    def __getattr__(self, name):
        return getattr(self._venue, name)

    async def snapshot(self):
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        start = time.monotonic()
        try:
            await asyncio.sleep(self._delay)
            return await self._venue.snapshot()
        finally:
            self.active -= 1
            self.spans.append((start, time.monotonic()))


async def test_daemon_when_cycle_longer_than_interval_then_cycles_never_overlap(dialect, tmp_path):
    """A 1 s schedule with 1.5 s cycles: runs are skipped or coalesced, never concurrent."""
    async with start_exchange(EX1, dialect) as ex:
        settings = load_settings(write_config(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5}, schedule="1s",
                                              extra=health_toml(0)), env={})
        spans: list = []
        venues: list[SlowVenue] = []

        def factory(s):
            rb = Rebalancer(s)
            rb.venue = rb.executor.venue = SlowVenue(rb.venue, 1.5, spans)
            venues.append(rb.venue)
            return rb

        daemon = Daemon(settings, rebalancer_factory=factory)
        await _run_daemon_until(daemon, lambda: daemon.cycles_run >= 3, timeout=30)
    assert daemon.cycles_run >= 3 and venues[0].max_active == 1
    spans.sort()
    assert all(prev_end <= start for (_, prev_end), (start, _) in zip(spans, spans[1:]))
    rows = journal_rows(tmp_path / "journal.db", "SELECT started_at, finished_at FROM cycles ORDER BY started_at")
    times = [(datetime.fromisoformat(r["started_at"]), datetime.fromisoformat(r["finished_at"])) for r in rows]
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(times, times[1:]))


def test_second_process_on_same_journal_refuses_to_trade(tmp_path):
    """The journal lock: a second trading process is refused and told which pid holds it."""
    with JournalLock(tmp_path / "j.db"):
        with pytest.raises(LockHeld, match=r"pid \d+"):
            JournalLock(tmp_path / "j.db").acquire()
    with JournalLock(tmp_path / "j.db"):  # released: the next one gets it
        pass


async def test_reload_when_file_invalid_then_old_config_kept_and_alert_sent(dialect, tmp_path):
    """SIGHUP's reload validates first: a broken file keeps the running config and alerts; a good one applies."""
    async with start_exchange(EX1, dialect) as ex:
        extra = health_toml(0) + f'\n[alerts]\nwebhook_url = "{WEBHOOK}"\n'
        path = write_config(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5}, schedule="1h", extra=extra)
        good = path.read_text()
        with respx.mock(assert_all_called=False) as mock:
            route = mock.post(WEBHOOK).mock(return_value=httpx.Response(200))
            daemon = Daemon(load_settings(path, env={}), config_path=path)
            task = asyncio.create_task(daemon.run())
            await asyncio.sleep(0.5)
            try:
                path.write_text(good.replace("band = 0.02", "band = -1"))
                assert await daemon.reload() is False
                assert daemon.settings.rebalance.band == Decimal("0.02")
                assert await daemon.alert_queue.drain(timeout=5)  # alerts go out from their own task
                assert [json.loads(c.request.content)["kind"] for c in route.calls][-1] == "config_reload_failed"
                path.write_text(good.replace("band = 0.02", "band = 0.05").replace('"1h"', '"2h"'))
                assert await daemon.reload() is True
                assert daemon.rebalancer.settings.rebalance.band == Decimal("0.05")
                assert daemon.scheduler.get_job("cycle").trigger.interval.total_seconds() == 7200
            finally:
                daemon.request_stop("test")
                assert await asyncio.wait_for(task, 30) == 0


def test_halt_then_rebalance_denied_and_status_shows_it_then_resume(dialect, tmp_path):
    """`rebalancer halt` stops new orders at once (exit 3, HALTED); `resume` lets the next cycle trade."""
    with exchange_in_thread(EX1, dialect) as ex:
        path = write_config(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5})
        run = lambda *a: subprocess.run([REBALANCER, *a, "--config", str(path)], capture_output=True, text=True,  # noqa: E731
                                        timeout=60, stdin=subprocess.DEVNULL)
        assert run("halt", "--reason", "test").returncode == 0
        assert (tmp_path / "HALT").exists()
        halted = run("rebalance", "--execute", "--json")
        assert halted.returncode == 3, halted.stderr
        doc = json.loads(halted.stdout)
        assert doc["risk"]["state"] == "HALTED" and {d["code"] for d in doc["risk"]["denials"]} == {"HALTED"}
        assert json.loads(run("status", "--json").stdout)["risk"]["state"] == "HALTED"
        assert requests.get(f"{ex.base_url}/_sim/state", timeout=5).json()["orders"] == []
        assert run("resume").returncode == 0
        assert run("rebalance", "--execute").returncode == 0
        assert len(requests.get(f"{ex.base_url}/_sim/state", timeout=5).json()["orders"]) == 2
