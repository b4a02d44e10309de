"""Benchmark: does an open dashboard slow the daemon's cycles? (issue 15)

A real Daemon in process (its health server and dashboard on a free loopback port) against the local exchange
in its own process, adding L ms per request; `--cycles` executing cycles through daemon.run_cycle(), prices
moving every cycle so each one trades and re-places its protective stops. Three cases, one after another:

- no page: nobody reads the dashboard;
- data poller: another process GETs /dashboard/data every --poll-s seconds (each new cycle makes the daemon
  rebuild its cost report once, in a worker thread);
- browser: headless Chromium (Debian's chromium + chromium-driver) with /dashboard open, refreshing every
  dashboard_refresh_s (1 s); skipped when Chromium is not installed.

The cases take turns in blocks of --block cycles, so a change in the machine's load weighs on all alike.
Cycles run back to back (a real schedule leaves minutes between them): the worst case for overlap.

Run: `.venv/bin/python benchmarks/bench_dashboard.py [--cycles 20] [--latency-ms 5] [--poll-s 1] [--block 5]`. Printed,
not asserted: median and p90 of the cycle time per case, and each case's difference from "no page".
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cycle import Exchange  # noqa: E402

from rebalancer.daemon import Daemon  # noqa: E402
from rebalancer.exchange_sim.scenario import DEFAULT_API_KEY, DEFAULT_API_SECRET  # noqa: E402
from rebalancer.logs import configure_logging  # noqa: E402
from rebalancer.settings import load_settings  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")

SCENARIO = """\
[markets.BTC]
spot_price = 4000
amount_step = "0.0001"
funding_rate = 0.0001

[markets.ETH]
spot_price = 2000
amount_step = "0.001"
funding_rate = 0.0001

[spot]
BTC = 1
ETH = 1
USDT = 0

[futures]
wallet = 20000
leverage = 5

[faults]
latency_ms = {latency_ms}
"""

CONFIG = """\
[portfolio]
quote = "USDT"
nav = "spot"
targets = {{ BTC = 0.5, ETH = 0.5 }}

[rebalance]
schedule = "1h"
run_at_start = false
band = 0.02
min_order_notional = 10

[venues.main]
exchange = "binance"
mode = "local"
base_url = "{base_url}"
roles = ["spot", "hedge"]
leverage = 3
api_key = "{api_key}"
api_secret = "{api_secret}"
timeout_ms = 10000

[risk]
max_margin_usage = 0.9
kill_switch_file = "{var}/HALT"

[journal]
path = "{var}/journal.db"

[logging]
level = "error"
format = "json"
file = ""

[health]
host = "127.0.0.1"
port = {port}
dashboard_refresh_s = 1

[protection]
enabled = true
"""

# Prices of cycle k: BTC and ETH swap 10 % moves, so every cycle trades (and moves its stops).
PRICES = ({"BTC": {"spot": 4000, "mark": 4000}, "ETH": {"spot": 2000, "mark": 2000}},
          {"BTC": {"spot": 3600, "mark": 3600}, "ETH": {"spot": 2200, "mark": 2200}})

POLLER = r"""
import sys, time, urllib.request
url, every = sys.argv[1], float(sys.argv[2])
while True:
    started = time.monotonic()
    try:
        urllib.request.urlopen(url, timeout=10).read()
    except Exception as exc:
        print("poll failed:", exc, file=sys.stderr)
    time.sleep(max(0.0, every - (time.monotonic() - started)))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]


class Browser:
    """Headless Chromium with the dashboard open (its own processes, as a person's browser would be)."""

    def __init__(self, url: str) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="bench-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,2000", f"--user-data-dir={self.profile}"):
            options.add_argument(arg)
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.open(url)

    def open(self, url: str) -> None:
        """Navigate; the dashboard counts as open once its first data fetch is drawn."""
        self.driver.get(url)
        if "/dashboard" not in url:
            return
        deadline = time.monotonic() + 20
        while not self.driver.execute_script("return window.__dashboardRefreshes || 0"):
            if time.monotonic() > deadline:
                raise RuntimeError("the dashboard did not load in the browser")
            time.sleep(0.1)

    def refreshes(self) -> int:
        return int(self.driver.execute_script("return window.__dashboardRefreshes || 0"))

    def close(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)


async def timed_cycles(daemon: Daemon, ex: Exchange, n: int, start: int) -> list[float]:
    times = []
    for k in range(start, start + n):
        await ex.admin("POST", "prices", PRICES[k % 2])
        t0 = time.perf_counter()
        report = await daemon.run_cycle()
        times.append(time.perf_counter() - t0)
        if report.outcome not in ("done", "nothing_to_do"):
            raise RuntimeError(f"cycle {report.cycle_id} ended {report.outcome}: {report.error}")
    return times


async def fetch_times(url: str, n: int) -> list[float]:
    """Wall time of n GETs of /dashboard/data between cycles (the daemon's cost of one refresh)."""
    import aiohttp

    times = []
    async with aiohttp.ClientSession() as http:
        for _ in range(n):
            t0 = time.perf_counter()
            async with http.get(url) as resp:
                await resp.read()
            times.append(time.perf_counter() - t0)
    return times


async def bench(cycles: int, latency_ms: float, poll_s: float, browser: bool, block: int
                ) -> tuple[dict[str, tuple[list[float], str]], list[float]]:
    """The cases interleaved in blocks of `block` cycles (none, poller, browser, none, ...), so a machine
    whose load changes during the run weighs on every case alike."""
    names = ["no page", f"data poller ({poll_s:g} s)"] + (["browser (refresh 1 s)"] if browser else [])
    times: dict[str, list[float]] = {name: [] for name in names}
    counts = {name: 0 for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        var = Path(tmp)
        (var / "scenario.toml").write_text(SCENARIO.format(latency_ms=latency_ms))
        ex = Exchange(var / "scenario.toml", "binance")
        page: Browser | None = None
        try:
            port = free_port()
            (var / "rebalancer.toml").write_text(CONFIG.format(base_url=ex.base_url, api_key=DEFAULT_API_KEY,
                                                               api_secret=DEFAULT_API_SECRET, var=var.as_posix(),
                                                               port=port))
            settings = load_settings(var / "rebalancer.toml", env={})
            configure_logging(level="error", fmt="json", file=None)
            daemon = Daemon(settings)
            task = asyncio.create_task(daemon.run())
            try:
                while daemon.health_url is None or daemon.cycles_run < 1:  # the protect cycle at start
                    if task.done():
                        task.result()
                    await asyncio.sleep(0.05)
                data_url = f"{daemon.health_url}/dashboard/data"
                k = 3
                await timed_cycles(daemon, ex, k, 0)  # warm-up: open the hedges, place the stops
                await fetch_times(data_url, 1)  # the first fetch after a cycle rebuilds the cost report
                build = await fetch_times(data_url, 10)
                if browser:
                    page = await asyncio.to_thread(Browser, "about:blank")
                while min(len(v) for v in times.values()) < cycles:
                    for name in names:
                        n = min(block, cycles - len(times[name]))
                        if n <= 0:
                            continue
                        if name.startswith("data poller"):
                            poller = subprocess.Popen([sys.executable, "-c", POLLER, data_url, str(poll_s)],
                                                      stderr=subprocess.DEVNULL)
                            try:
                                t0 = time.monotonic()
                                times[name] += await timed_cycles(daemon, ex, n, k)
                                counts[name] += int((time.monotonic() - t0) / poll_s) + 1
                            finally:
                                poller.terminate()
                                poller.wait(timeout=10)
                        elif name.startswith("browser"):
                            assert page is not None
                            await asyncio.to_thread(page.open, f"{daemon.health_url}/dashboard")
                            before = await asyncio.to_thread(page.refreshes)
                            times[name] += await timed_cycles(daemon, ex, n, k)
                            counts[name] += await asyncio.to_thread(page.refreshes) - before
                            await asyncio.to_thread(page.open, "about:blank")
                        else:
                            times[name] += await timed_cycles(daemon, ex, n, k)
                        k += n
            finally:
                daemon.request_stop("bench")
                await asyncio.wait_for(task, 60)
        finally:
            if page is not None:
                page.close()
            ex.stop()
    notes = {name: (f"~{counts[name]} fetches" if name.startswith("data") else
                    f"{counts[name]} page refreshes" if name.startswith("browser") else "") for name in names}
    return {name: (times[name], notes[name]) for name in names}, build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=5.0, help="added by the local exchange per request")
    parser.add_argument("--poll-s", type=float, default=1.0, help="the data poller's interval")
    parser.add_argument("--block", type=int, default=5, help="cycles per case before switching to the next")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    browser = not args.no_browser and Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()
    results, build = asyncio.run(bench(args.cycles, args.latency_ms, args.poll_s, browser, args.block))
    print(f"\nDashboard cost on a daemon cycle: {args.cycles} executing cycles per case, binance dialect, 2 assets "
          f"with protective stops, L = {args.latency_ms:g} ms per request")
    base = statistics.median(results["no page"][0])
    base90 = p90(results["no page"][0])
    print(f"{'case':<24} {'median ms':>10} {'p90 ms':>9} {'Δ median':>10} {'Δ p90':>9}  note")
    for name, (times, note) in results.items():
        med, q90 = statistics.median(times), p90(times)
        print(f"{name:<24} {med * 1000:>10.1f} {q90 * 1000:>9.1f} {(med - base) * 1000:>+10.1f} "
              f"{(q90 - base90) * 1000:>+9.1f}  {note}")
    print(f"one GET /dashboard/data between cycles (the daemon's work for one refresh): median "
          f"{statistics.median(build) * 1000:.1f} ms, p90 {p90(build) * 1000:.1f} ms")
    if not browser:
        print("browser case skipped: no headless Chromium (apt-get install -y chromium chromium-driver)")


if __name__ == "__main__":
    main()
