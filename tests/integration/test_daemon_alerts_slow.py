"""A webhook that trickles its answer (one byte every 3 s) or never answers must not slow trading:
the daemon's cycle rate equals the rate with a fast webhook, and the alerts count as failed."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from aiohttp import web

from rebalancer.daemon import Daemon
from rebalancer.exchange_sim.runner import start_exchange
from rebalancer.settings import load_settings
from tests.integration.conftest import journal_rows, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# BTC funding over the cap: the gate denies a leg every cycle, so every cycle raises a risk_denied alert.
SCENARIO = {
    "markets": {"BTC": {"spot_price": 40000, "amount_step": 0.001, "funding_rate": -0.0005},
                "ETH": {"spot_price": 2000, "amount_step": 0.001}},
    "spot": {"BTC": 0.15, "ETH": 2, "USDT": 0},
    "futures": {"wallet": 10000},
}
WINDOW_S = 7.0


async def _webhook(mode: str, received: list) -> tuple[web.AppRunner, str]:
    async def handle(request: web.Request) -> web.StreamResponse:
        received.append(await request.read())
        if mode == "fast":
            return web.json_response({"ok": True})
        if mode == "hang":
            await asyncio.sleep(3600)  # accepted, never answered
        response = web.StreamResponse(status=200, headers={"Content-Length": "1000"})
        await response.prepare(request)
        for _ in range(1000):  # every read completes well inside httpx's read timeout
            await response.write(b"x")
            await asyncio.sleep(3)
        return response

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"


async def _cycles_in_window(tmp_path, mode: str) -> tuple[int, str, list]:
    tmp_path.mkdir()
    received: list = []
    runner, url = await _webhook(mode, received)
    try:
        async with start_exchange(SCENARIO) as ex:
            extra = (f'\n[health]\nhost = "127.0.0.1"\nport = 0\n'
                     f'\n[alerts]\nwebhook_url = "{url}"\nformat = "generic"\nmin_interval_s = 0\n'
                     f'timeout_s = 1.0\nmax_retries = 1\nqueue_size = 5\n')
            settings = load_settings(write_config(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5}, schedule="1s", extra=extra),
                                     env={})
            daemon = Daemon(settings)
            task = asyncio.create_task(daemon.run())
            try:
                # Count from the first cycle on, over a fixed window.
                deadline = time.monotonic() + 20
                while daemon.cycles_run < 1:
                    assert not task.done(), task.exception()
                    assert time.monotonic() < deadline, "no first cycle"
                    await asyncio.sleep(0.05)
                first = daemon.cycles_run
                await asyncio.sleep(WINDOW_S)
                cycles = daemon.cycles_run - first
                metrics = daemon.metrics.render().decode()
            finally:
                daemon.request_stop("test")
                started = time.monotonic()
                assert await asyncio.wait_for(task, 30) == 0
                stop_s = time.monotonic() - started
        rows = journal_rows(tmp_path / "journal.db", "SELECT outcome FROM cycles")
        assert len(rows) >= cycles and {r["outcome"] for r in rows} <= {"denied", "nothing_to_do", "done"}
        assert stop_s < 10, f"shutdown took {stop_s:.1f}s with a {mode} webhook"
        return cycles, metrics, received
    finally:
        await runner.cleanup()


def _counter(metrics: str, name: str, kind: str) -> float:
    m = re.search(rf'^{name}{{kind="{kind}"}} ([0-9.e+]+)$', metrics, re.M)
    return float(m.group(1)) if m else 0.0


async def test_daemon_when_webhook_trickles_or_hangs_then_cycle_rate_unchanged_and_alerts_failed(tmp_path):
    fast, fast_metrics, fast_received = await _cycles_in_window(tmp_path / "fast", "fast")
    assert fast >= 4, f"only {fast} cycles in {WINDOW_S}s on a 1 s schedule with a fast webhook"
    assert fast_received and _counter(fast_metrics, "rebalancer_alerts_total", "risk_denied") >= 1
    assert _counter(fast_metrics, "rebalancer_alerts_failed_total", "risk_denied") == 0

    for mode in ("trickle", "hang"):
        cycles, metrics, received = await _cycles_in_window(tmp_path / mode, mode)
        # Unchanged: within two cycles of the fast webhook's count (scheduler jitter), never frozen.
        assert cycles >= fast - 2, f"{mode} webhook: {cycles} cycles vs {fast} with a fast one"
        assert received, f"the {mode} webhook was never called"
        assert _counter(metrics, "rebalancer_alerts_failed_total", "risk_denied") >= 1, metrics
        assert _counter(metrics, "rebalancer_alerts_total", "risk_denied") == 0
