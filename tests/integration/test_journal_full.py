"""The journal on a tiny filesystem (a 512 KiB tmpfs) filled while the daemon runs: the cycles fail
and are counted, alerts go out from memory, HALTED is forced after the limit, /healthz is 503 with a
one-line cause naming the journal, and no order reaches the exchange while the journal cannot record it.

The tmpfs test needs root (mount -t tmpfs) and is skipped elsewhere; the tests after it make
SQLite's "database or disk is full" through a seam and run anywhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from rebalancer.daemon import Daemon
from rebalancer.exchange_sim.runner import start_exchange
from rebalancer.settings import load_settings
from tests.integration.conftest import EXAMPLE_1_SCENARIO, journal_rows, sim_post, sim_state, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EX1 = EXAMPLE_1_SCENARIO


@pytest.fixture
def tiny_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(disk)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def fill(disk: Path) -> Path:
    """Write zeros until the filesystem says ENOSPC."""
    filler = disk / "filler"
    try:
        with filler.open("wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
    except OSError as exc:
        assert exc.errno == 28, exc
    return filler


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _webhook(received: list) -> tuple[web.AppRunner, str]:
    async def handle(request: web.Request) -> web.Response:
        received.append(json.loads(await request.read()))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"


async def _until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {timeout}s: {what}")


async def test_daemon_when_journal_disk_fills_then_failed_alerted_halted_503_and_nothing_sent(tiny_disk):
    received: list = []
    hook, url = await _webhook(received)
    port = free_port()
    try:
        async with start_exchange(EX1) as ex, aiohttp.ClientSession() as http:
            extra = (f'\n[health]\nhost = "127.0.0.1"\nport = {port}\n'
                     f'\n[alerts]\nwebhook_url = "{url}"\nformat = "generic"\nmin_interval_s = 0\ntimeout_s = 2\n')
            config = write_config(tiny_disk, ex, {"BTC": 0.5, "ETH": 0.5}, schedule="1s", extra=extra)
            config.write_text(config.read_text().replace(
                "[rebalance]\n", '[rebalance]\nmax_consecutive_failures = 3\non_failures = "HALTED"\n'))
            settings = load_settings(config, env={})
            journal = settings.journal_path()
            assert journal.parent == tiny_disk
            daemon = Daemon(settings)
            task = asyncio.create_task(daemon.run())

            async def healthz():
                assert not task.done(), task.exception()
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                        return r.status, await r.json()
                except aiohttp.ClientError:
                    return None

            try:
                # The first cycle trades to plan and is journaled.
                async def traded():
                    h = await healthz()
                    return h and h[1]["cycles"] >= 2 and h[1]["last_cycle"]["outcome"] == "nothing_to_do" and h
                await _until(traded, 30, "first trades and a quiet cycle")
                orders_before = len((await sim_state(ex))["orders"])
                assert orders_before == 2

                # Between cycles (after the cycle's WAL checkpoint freed its space), fill the disk.
                daemon.scheduler.pause()
                await _until(lambda: asyncio.sleep(0, not daemon._cycle_lock.locked()), 10, "cycle done")
                fill(tiny_disk)
                assert Path(f"{journal}-wal").stat().st_size == 0
                daemon.scheduler.resume()
                # A 10% BTC move: the bot would trade if it could journal.
                await sim_post(ex, "prices", {"BTC": {"spot": 44000, "mark": 44000}})

                async def halted():
                    h = await healthz()
                    return h and h[1]["state"] == "HALTED" and h[1]["consecutive_failures"] >= 3 and h
                status, body = await _until(halted, 30, "HALTED after 3 failed cycles")
                assert status == 503 and body["status"] == "unhealthy" and body["ready"] is False
                assert str(journal) in body["cause"] and "disk is full" in body["cause"]
                assert "\n" not in body["cause"]
                assert body["journal"] == {"path": str(journal), "writable": False, "problem": body["cause"]}
                assert "3 consecutive failures" in body["reason"]

                # Nothing reached the exchange while the journal could not record it.
                assert len((await sim_state(ex))["orders"]) == orders_before

                async def alerted():
                    kinds = {a["kind"] for a in received}
                    return {"cycle_failed", "consecutive_failures", "trading_state"} <= kinds
                await _until(alerted, 10, f"alerts; got {[a['kind'] for a in received]}")
                failed = [a for a in received if a["kind"] == "cycle_failed"]
                assert str(journal) in failed[0]["detail"] and "disk is full" in failed[0]["detail"]
                halted_alerts = [a for a in received if a["kind"] == "trading_state"]
                assert halted_alerts[-1]["fields"]["state"] == "HALTED"

                async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                    metrics = await r.text()
                failed_cycles = float(metrics.split('rebalancer_cycles_total{outcome="failed"} ')[1].split()[0])
                assert failed_cycles >= 3
                assert "rebalancer_journal_writable 0.0" in metrics
                assert 'rebalancer_trading_state{state="HALTED"} 1.0' in metrics

                # Space again: the forced HALTED is written to the journal (so `resume` can clear
                # it), trading stays halted, and health names the halt instead of the disk.
                (tiny_disk / "filler").unlink()

                async def saved():
                    await healthz()
                    rows = await asyncio.to_thread(journal_rows, journal, "SELECT * FROM trading_state")
                    return rows
                rows = await _until(saved, 30, "forced state saved to the journal")
                assert rows[0]["state"] == "HALTED"

                async def recovered():
                    h = await healthz()
                    return h and h[1]["journal"]["writable"] and h
                status, body = await _until(recovered, 30, "journal writable again")
                assert status == 503 and body["state"] == "HALTED" and body["status"] in ("halted", "failing")
                assert len((await sim_state(ex))["orders"]) == orders_before
            finally:
                daemon.request_stop("test")
                assert await asyncio.wait_for(task, 30) == 0
    finally:
        await hook.cleanup()


# --------------------------------------------------------------------------- without root: a seam


def _failing(journal, method: str, message: str = "database or disk is full"):
    """Make one journal method raise as SQLite does on a full disk."""
    import sqlite3

    def fail(*args, **kwargs):
        raise sqlite3.OperationalError(message)

    setattr(journal, method, fail)


@pytest.mark.parametrize("method", ["start_cycle", "update_cycle", "record_intents", "mark_sent_many"])
async def test_cycle_when_journal_write_fails_before_send_then_failed_naming_file_and_nothing_sent(
        tmp_path, fast_executor, method):
    """Whichever bookkeeping write fails before the orders would go out, the cycle is FAILED with
    the file named, and the exchange receives nothing."""
    from rebalancer.domain import CycleOutcome
    from rebalancer.service import Rebalancer
    from tests.integration.conftest import settings_for

    async with start_exchange(EX1) as ex:
        rb = Rebalancer(settings_for(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5}), executor_kw=fast_executor)
        try:
            _failing(rb.journal, method)
            report = await rb.cycle(execute=True)
        finally:
            await rb.close()
        assert report.outcome is CycleOutcome.FAILED
        assert report.journal_error and str(tmp_path / "journal.db") in report.journal_error
        assert "disk is full" in report.journal_error and "\n" not in report.journal_error
        assert (await sim_state(ex))["orders"] == []


async def test_cycle_when_finish_fails_after_trading_then_failed_with_cause(tmp_path, fast_executor):
    """The orders were journaled and sent; the cycle's closing write fails: the cycle is FAILED
    (counted by the daemon), the orders stay journaled."""
    from rebalancer.domain import CycleOutcome
    from rebalancer.service import Rebalancer
    from tests.integration.conftest import settings_for

    async with start_exchange(EX1) as ex:
        rb = Rebalancer(settings_for(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5}), executor_kw=fast_executor)
        try:
            _failing(rb.journal, "finish_cycle", "database is locked")
            report = await rb.cycle(execute=True)
            orders = rb.journal.orders()
        finally:
            await rb.close()
        assert report.outcome is CycleOutcome.FAILED and "locked" in report.journal_error
        assert str(tmp_path / "journal.db") in report.error
        assert len(orders) == 2 and {o.state.value for o in orders} == {"filled"}


async def test_daemon_when_journal_damaged_then_start_refused_naming_file(tmp_path):
    """quick_check at start: a journal with damaged pages stops `run` before any cycle."""
    from rebalancer.journal import Journal, JournalOpenError

    async with start_exchange(EX1) as ex:
        settings = load_settings(write_config(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5}, extra='\n[health]\nport = 0\n'), env={})
        path = settings.journal_path()
        with Journal(path) as j:
            for i in range(300):
                j.start_cycle(f"c{i}", kind="rebalance", execute=False, venue="main",
                              started_at=datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=i),
                              snapshot_summary={"pad": "x" * 200})
            j.checkpoint()
        data = bytearray(path.read_bytes())
        pages = len(data) // 4096
        for p in range(pages // 2, pages):  # data pages: the schema (now several pages long) stays readable
            data[p * 4096 + 8: p * 4096 + 200] = b"\xff" * 192
        path.write_bytes(bytes(data))
        with pytest.raises(JournalOpenError) as err:
            await Daemon(settings).run()
        assert str(path) in str(err.value) and "integrity check" in str(err.value) and "\n" not in str(err.value)
        assert (await sim_state(ex))["orders"] == []
