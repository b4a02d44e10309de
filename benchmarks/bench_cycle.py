"""Benchmark: round trips on a cycle's critical path per dialect (binance, bybit, okx, bingx, mexc, weex).

For 2, 10 and 50 hedged assets that all drift (so every asset trades), with the HTTP requests by endpoint.

Run: `.venv/bin/python benchmarks/bench_cycle.py [--latency-ms 50] [--cold-latency-ms 200] [--assets 2,10,50]
[--dialects binance,bybit,okx,bingx,mexc,weex] [--cold-runs 3] [--no-cold]`. Printed, not asserted.
The exchange adds L ms to every request and runs in its own process (as a real exchange would), so its work is not
on the bot's clock. Two measures:

- daemon cycle: markets loaded once (connect), the process warm; a cycle = snapshot -> plan -> gate -> execute ->
  confirm -> protect -> journal; 'ledger ms' is the ledger read that follows it. "in L" = wall / L (the bot's own CPU and fsyncs included); "RT" = (wall - the same cycle's
  wall at L = 0) / L, the round trips alone.
- cold CLI: `rebalancer rebalance --execute` in a fresh process (connect + one cycle), timed from the end of its
  imports to its exit. "RT" = (that time - the same command's at L = 0) / L, so process start, imports and the
  bot's own work are left out. The fastest of --cold-runs at each latency is taken, and L is larger (200 ms):
  a fresh process's own time varies by hundreds of ms on a busy machine, which would swamp 50 ms round trips.
Targets (issue 12): a daemon cycle within 3.5 L at 10 assets, a cold CLI within 5 RT; requests per cycle constant in
the number of assets except where a venue forces per-symbol reads (the table marks those rows).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rebalancer.exchange_sim.dialects import dialect_class  # noqa: E402
from rebalancer.exchange_sim.scenario import DEFAULT_API_KEY, DEFAULT_API_SECRET, DEFAULT_PASSWORD  # noqa: E402
from rebalancer.logs import configure_logging  # noqa: E402
from rebalancer.service import Rebalancer  # noqa: E402
from rebalancer.settings import load_settings  # noqa: E402

LEVERAGE = 3
DIALECTS = ("binance", "bybit", "okx", "bingx", "mexc", "weex")
# The requests that place an order, per dialect (ccxt's okx sends one order through batch-orders): everything else
# a cycle POSTs is setup (margin mode, leverage).
ORDER_ENDPOINTS = {
    "binance": {"POST /fapi/v1/order"},
    "bybit": {"POST /v5/order/create"},
    "okx": {"POST /api/v5/trade/order", "POST /api/v5/trade/batch-orders"},
    "bingx": {"POST /openApi/swap/v2/trade/order"},
    "mexc": {"POST /api/v1/private/order/create"},
    "weex": {"POST /capi/v3/order"},
}

CONFIG = """\
[portfolio]
quote = "USDT"
nav = "spot"
targets = {{ {targets} }}

[rebalance]
band = 0.02
relative_band = 0.1
min_order_notional = 10

[venues.main]
exchange = "{exchange}"
mode = "local"
base_url = "{base_url}"
roles = ["spot", "hedge"]
leverage = {leverage}
api_key = "{api_key}"
api_secret = "{api_secret}"
{password}timeout_ms = 10000

[risk]
max_margin_usage = 0.5
max_gross_ratio = 1.0
kill_switch_file = "{var}/HALT"

[journal]
path = "{var}/journal.db"

[logging]
level = "error"
format = "json"
file = ""
"""


def asset_names(n: int) -> list[str]:
    return [f"A{i:02d}" for i in range(n)]


def scenario_toml(n: int, latency_ms: float, leverage: int) -> str:
    """N assets at 100 USDT; spot holdings alternate 13 / 7 units, so every asset is 30% off target."""
    lines = []
    for a in asset_names(n):
        lines += [f"[markets.{a}]", "spot_price = 100", "funding_rate = 0.0001", 'amount_step = "0.001"', ""]
    lines.append("[spot]")
    lines += [f"{a} = {13 if i % 2 == 0 else 7}" for i, a in enumerate(asset_names(n))]
    lines += ["USDT = 0", "", "[futures]", "wallet = 1000000", f"leverage = {leverage}", "",
              "[faults]", f"latency_ms = {latency_ms}", ""]
    return "\n".join(lines)


# Protective stops (issue 14) are on by default, as for users: each cycle also keeps one stop per hedge
# (a replacement is a cancel then a place). --no-protection measures without stops. The ledger read the
# daemon runs right after each cycle is timed on its own ('ledger ms'), outside the cycle's wall time.
PROTECTION = True


def config_toml(dialect: str, n: int, base_url: str, var: Path) -> str:
    targets = ", ".join(f"{a} = {1 / n!r}" for a in asset_names(n))
    # The passphrase where the dialect signs with one (okx, weex).
    password = f'password = "{DEFAULT_PASSWORD}"\n' if dialect_class(dialect).uses_password else ""
    return CONFIG.format(exchange=dialect, targets=targets, base_url=base_url, leverage=LEVERAGE,
                         api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET, password=password,
                         var=var.as_posix()) + ("" if PROTECTION else "\n[protection]\nenabled = false\n")


def drifted_prices(n: int, k: int) -> dict[str, float]:
    """Cycle k's prices: even assets +20% per step, odd -20%, so every asset trades again on the same side as
    before (no position crosses zero, which would add a second leg)."""
    return {a: round(100 * (1.2 if i % 2 == 0 else 0.8) ** k, 4) for i, a in enumerate(asset_names(n))}


def path_templates(dialect: str) -> list[tuple[re.Pattern[str], str]]:
    """The dialect's routes with path parameters (MEXC funding_rate/{symbol}, order/external/{symbol}/{external_oid}),
    as (pattern of "METHOD path", "METHOD template"): a request counts under its route, not its concrete path."""
    templates = []
    for route in dialect_class(dialect)(None).routes():  # type: ignore[arg-type]  # routes() reads no state
        if "{" in route.path:
            pattern = re.sub(r"\\{\w+\\}", "[^/]+", re.escape(f"{route.method} {route.path}"))
            templates.append((re.compile(pattern + "$"), f"{route.method} {route.path}"))
    return templates


class Exchange:
    """`python -m rebalancer.exchange_sim.runner --dialect D` in a subprocess, and its admin API."""

    def __init__(self, scenario: Path, dialect: str) -> None:
        self.templates = path_templates(dialect)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rebalancer.exchange_sim.runner", "--scenario", str(scenario), "--port", "0",
             "--dialect", dialect],
            stdout=subprocess.PIPE, text=True,
        )
        self.base_url = (self.proc.stdout.readline() if self.proc.stdout else "").strip()
        if not self.base_url.startswith("http://"):
            self.stop()
            raise RuntimeError(f"the local exchange did not start in the {dialect} dialect")

    async def admin(self, method: str, path: str, body: dict | None = None) -> Any:
        async with aiohttp.ClientSession() as http:
            async with http.request(method, f"{self.base_url}/_sim/{path}", json=body) as resp:
                return await resp.json()

    async def requests(self) -> Counter:
        counts: Counter = Counter()
        for endpoint, n in (await self.admin("GET", "state"))["requests"].items():
            counts[next((t for p, t in self.templates if p.match(endpoint)), endpoint)] += n
        return counts

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def split_requests(dialect: str, counts: Counter) -> tuple[int, int, int]:
    """(reads, order placements, setup POSTs) of one cycle."""
    orders = ORDER_ENDPOINTS[dialect]
    reads = sum(v for k, v in counts.items() if k.startswith("GET "))
    setup = sum(v for k, v in counts.items() if not k.startswith("GET ") and k not in orders)
    return reads, sum(counts.get(k, 0) for k in orders), setup


async def daemon_cycles(dialect: str, n: int, latency_ms: float) -> list[dict]:
    """Connect once, then executing cycles after prices move: a first cycle, three timed at L, one at L = 0."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        var = Path(tmp)
        (var / "scenario.toml").write_text(scenario_toml(n, latency_ms, LEVERAGE))
        ex = Exchange(var / "scenario.toml", dialect)
        try:
            (var / "rebalancer.toml").write_text(config_toml(dialect, n, ex.base_url, var))
            rb = Rebalancer(load_settings(var / "rebalancer.toml", env={}))
            for client in {id(c): c for c in (rb.venue.hedge_client, rb.venue.spot_client)}.values():
                client.timeout_on_exit = 0
            try:
                await ex.admin("POST", "reset-counters")
                started = time.perf_counter()
                await rb.start()
                connect_s = time.perf_counter() - started
                connect_requests = sum((await ex.requests()).values())
                plan = [("first", latency_ms), ("next", latency_ms), ("next", latency_ms), ("next", latency_ms),
                        ("zero", 0.0)]
                for k, (label, lat) in enumerate(plan):
                    if k:
                        await ex.admin("POST", "prices", drifted_prices(n, k))
                    await ex.admin("POST", "faults", {"latency_ms": lat})
                    await ex.admin("POST", "reset-counters")
                    started, cpu = time.perf_counter(), time.process_time()
                    report = await rb.cycle(execute=True)
                    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
                    counts = await ex.requests()
                    ledger_started = time.perf_counter()
                    await rb.sync_ledger(report)  # after the cycle, off its critical path (as the daemon does)
                    ledger_s = time.perf_counter() - ledger_started
                    if report.outcome != "done":
                        raise RuntimeError(f"{dialect}, {n} assets, {label} cycle: {report.outcome} {report.error}")
                    reads, orders, setup = split_requests(dialect, counts)
                    rows.append({"dialect": dialect, "assets": n, "cycle": label, "wall": wall, "cpu": cpu,
                                 "orders": len(report.executed), "reads": reads, "order_requests": orders,
                                 "setup": setup, "by_endpoint": counts, "connect_s": connect_s,
                                 "connect_requests": connect_requests, "ledger_s": ledger_s})
            finally:
                await rb.close()
        finally:
            ex.stop()
    return rows


# The real CLI entry point (rebalancer.cli:main) in a fresh interpreter, after importing what it will import, so the
# imports (seconds on a busy 2-core machine, varying by more than the round trips measured) are timed apart.
CLI_WRAPPER = """\
import sys, time
import rebalancer.cli, rebalancer.daemon, rebalancer.report, rebalancer.service
sys.stderr.write(f"bench-imported {time.monotonic()}\\n")
sys.argv = ["rebalancer", *sys.argv[1:]]
rebalancer.cli.main()
"""


def run_cli(args: list[str], env: dict[str, str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall from start, wall after the imports, the finished process): monotonic is system-wide on Linux."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", CLI_WRAPPER, *args], capture_output=True, text=True, env=env,
                          timeout=300)
    ended = time.monotonic()
    imported = next((float(line.split()[1]) for line in done.stderr.splitlines()
                     if line.startswith("bench-imported ")), started)
    return ended - started, ended - imported, done


async def cold_cli(dialect: str, n: int, latency_ms: float, runs: int) -> list[dict]:
    """`rebalancer rebalance --execute --json` in fresh processes, alternately at L and at L = 0, each after a
    price move (so each run connects and trades every asset)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        var = Path(tmp)
        (var / "scenario.toml").write_text(scenario_toml(n, latency_ms, LEVERAGE))
        ex = Exchange(var / "scenario.toml", dialect)
        try:
            config = var / "rebalancer.toml"
            config.write_text(config_toml(dialect, n, ex.base_url, var))
            env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
            k = 0
            for lat in [x for _ in range(runs) for x in (latency_ms, 0.0)]:
                k += 1
                await ex.admin("POST", "prices", drifted_prices(n, k))
                await ex.admin("POST", "faults", {"latency_ms": lat})
                await ex.admin("POST", "reset-counters")
                wall, after_imports, done = run_cli(
                    ["rebalance", "--execute", "--json", "--config", str(config)], env)
                counts = await ex.requests()
                if done.returncode != 0:
                    raise RuntimeError(f"{dialect}, {n} assets, cold CLI exited {done.returncode}: "
                                       f"{done.stderr.strip()[-500:]}")
                reads, orders, setup = split_requests(dialect, counts)
                rows.append({"dialect": dialect, "assets": n, "latency": lat, "wall": wall, "run": after_imports, "reads": reads,
                             "order_requests": orders, "setup": setup, "by_endpoint": counts})
        finally:
            ex.stop()
    return rows


def print_daemon(rows: list[dict], latency_ms: float) -> None:
    L = latency_ms / 1000
    print(f"\nDaemon cycle, local exchange adding L = {latency_ms:g} ms per request (markets loaded once; "
          "'next' = median of 3; RT = (wall - wall at L = 0) / L)")
    head = (f"{'dialect':>8} {'assets':>6} {'cycle':>6} {'orders':>6} {'wall ms':>8} {'in L':>6} {'RT':>5} "
            f"{'bot CPU ms':>10} {'reads':>5} {'order req':>9} {'setup req':>9} {'connect ms':>10} {'connect req':>11} "
            f"{'ledger ms':>9}")
    print(head)
    print("-" * len(head))
    for key in dict.fromkeys((r["dialect"], r["assets"]) for r in rows):
        group = [r for r in rows if (r["dialect"], r["assets"]) == key]
        zero = next(r["wall"] for r in group if r["cycle"] == "zero")
        for label in ("first", "next"):
            picked = sorted((r for r in group if r["cycle"] == label), key=lambda r: r["wall"])
            r = picked[len(picked) // 2]
            print(f"{r['dialect']:>8} {r['assets']:>6} {label:>6} {r['orders']:>6} {r['wall'] * 1000:>8.0f} "
                  f"{r['wall'] / L:>6.2f} {(r['wall'] - zero) / L:>5.2f} {r['cpu'] * 1000:>10.0f} {r['reads']:>5} "
                  f"{r['order_requests']:>9} {r['setup']:>9} {r['connect_s'] * 1000:>10.0f} "
                  f"{r['connect_requests']:>11} {r['ledger_s'] * 1000:>9.0f}")


def print_cold(rows: list[dict], latency_ms: float) -> None:
    L = latency_ms / 1000
    print(f"\nCold CLI `rebalancer rebalance --execute` (a fresh process: connect + one cycle), L = {latency_ms:g} ms; "
          "'run' = from the end of the imports to the exit, fastest of the runs; RT = (run at L - run at L = 0) / L")
    head = (f"{'dialect':>8} {'assets':>6} {'wall ms':>8} {'run ms':>7} {'run L=0':>7} {'RT':>5} {'reads':>5} "
            f"{'order req':>9} {'setup req':>9}")
    print(head)
    print("-" * len(head))
    for key in dict.fromkeys((r["dialect"], r["assets"]) for r in rows):
        group = [r for r in rows if (r["dialect"], r["assets"]) == key]
        at_l = [r for r in group if r["latency"]]
        run, zero = min(r["run"] for r in at_l), min(r["run"] for r in group if not r["latency"])
        r = at_l[0]
        print(f"{r['dialect']:>8} {r['assets']:>6} {min(r['wall'] for r in at_l) * 1000:>8.0f} {run * 1000:>7.0f} "
              f"{zero * 1000:>7.0f} {(run - zero) / L:>5.2f} {r['reads']:>5} {r['order_requests']:>9} {r['setup']:>9}")


def print_endpoints(rows: list[dict], title: str, dialect: str) -> None:
    """Requests by endpoint for each number of assets; '*' marks reads that grow with the assets."""
    picked = {r["assets"]: r for r in rows if r["dialect"] == dialect}
    if not picked:
        return
    sizes = sorted(picked)
    orders = ORDER_ENDPOINTS[dialect]
    print(f"\n{title}: {dialect} (* = grows with the number of assets: per-symbol requests)")
    endpoints = sorted(set().union(*(picked[n]["by_endpoint"] for n in sizes)))
    w = max([40, *(len(e) + 3 for e in endpoints)])
    print(f"{'endpoint':<{w}}" + "".join(f"{str(n) + ' assets':>11}" for n in sizes))
    for e in endpoints:
        counts = [picked[n]["by_endpoint"].get(e, 0) for n in sizes]
        grows = e not in orders and len(set(counts)) > 1
        print(f"{('* ' if grows else '  ') + e:<{w}}" + "".join(f"{c:>11}" for c in counts))
    print(f"{'  all but orders':<{w}}" + "".join(
        f"{sum(v for k, v in picked[n]['by_endpoint'].items() if k not in orders):>11}" for n in sizes))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--assets", default="2,10,50")
    parser.add_argument("--dialects", default=",".join(DIALECTS),
                        help=f"comma-separated local exchange dialects (default: {','.join(DIALECTS)})")
    parser.add_argument("--cold-latency-ms", type=float, default=200, help="L for the cold CLI runs")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold CLI runs at L (each paired with one at L = 0)")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold CLI runs")
    parser.add_argument("--no-protection", action="store_true",
                        help="run without protective stops ([protection] enabled = false); the ledger sync stays")
    args = parser.parse_args()
    configure_logging(level="error", fmt="json", file=None)
    global PROTECTION
    PROTECTION = not args.no_protection
    dialects = [d for d in args.dialects.split(",") if d]
    unknown = [d for d in dialects if d not in ORDER_ENDPOINTS]
    if unknown:
        parser.error(f"--dialects: unknown {', '.join(unknown)} (known: {', '.join(DIALECTS)})")
    sizes = [int(x) for x in args.assets.split(",")]
    daemon: list[dict] = []
    cold: list[dict] = []
    failed: list[str] = []
    for dialect in dialects:
        for n in sizes:
            try:
                daemon += await daemon_cycles(dialect, n, args.latency_ms)
                if not args.no_cold:
                    cold += await cold_cli(dialect, n, args.cold_latency_ms, args.cold_runs)
            except RuntimeError as exc:  # one dialect that cannot trade yet must not hide the others' numbers
                failed.append(str(exc))
    print_daemon(daemon, args.latency_ms)
    if cold:
        print_cold(cold, args.cold_latency_ms)
    for dialect in dialects:
        print_endpoints([r for r in daemon if r["cycle"] == "next"], "HTTP requests per daemon cycle", dialect)
        if cold:
            print_endpoints([r for r in cold if r["latency"]], "HTTP requests per cold CLI run (connect + cycle)",
                            dialect)
    for problem in failed:
        print(f"\nnot measured: {problem}")


if __name__ == "__main__":
    asyncio.run(main())
