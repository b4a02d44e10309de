"""Benchmark: one executing cycle's wall time and HTTP requests against the local exchange adding a fixed
latency L per request, for 2, 10 and 50 hedged assets that all drift (so every asset trades).

Run: `.venv/bin/python benchmarks/bench_cycle.py [--latency-ms 50] [--assets 2,10,50]`. Printed, not asserted.
Targets: under 4 L at 10 assets and under 5 L at 50; at most 6 reads + 2 requests per order per cycle.
The exchange runs in its own process (as a real exchange would be), so its work is not on the bot's clock.
Markets are loaded once (connect), then cycles are timed: snapshot -> plan -> gate -> execute -> confirm.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rebalancer.exchange_sim.scenario import DEFAULT_API_KEY, DEFAULT_API_SECRET  # noqa: E402
from rebalancer.logs import configure_logging  # noqa: E402
from rebalancer.service import Rebalancer  # noqa: E402
from rebalancer.settings import load_settings  # noqa: E402

LEVERAGE = 3

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
exchange = "binance"
mode = "local"
base_url = "{base_url}"
roles = ["spot", "hedge"]
leverage = {leverage}
api_key = "{api_key}"
api_secret = "{api_secret}"
timeout_ms = 10000

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


class Exchange:
    """`python -m rebalancer.exchange_sim.runner` in a subprocess, and its admin API."""

    def __init__(self, scenario: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rebalancer.exchange_sim.runner", "--scenario", str(scenario), "--port", "0"],
            stdout=subprocess.PIPE, text=True,
        )
        self.base_url = self.proc.stdout.readline().strip()
        if not self.base_url.startswith("http://"):
            raise RuntimeError("the local exchange did not start")

    async def admin(self, method: str, path: str, body: dict | None = None) -> Any:
        async with aiohttp.ClientSession() as http:
            async with http.request(method, f"{self.base_url}/_sim/{path}", json=body) as resp:
                return await resp.json()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def split_requests(counts: dict[str, int]) -> tuple[int, int, int, Counter]:
    reads = sum(v for k, v in counts.items() if k.startswith("GET "))
    orders = counts.get("POST /fapi/v1/order", 0)
    setup = sum(v for k, v in counts.items() if k.startswith("POST ") and k != "POST /fapi/v1/order")
    return reads, orders, setup, Counter(counts)


async def bench(n: int, latency_ms: float, *, fresh_account: bool) -> list[dict]:
    """Connect, then two timed executing cycles (the second after prices move so every asset trades again)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        var = Path(tmp)
        # A fresh account still has another leverage than the config: its first orders need
        # set_margin_mode + set_leverage first. A configured account already has them as wanted.
        (var / "scenario.toml").write_text(scenario_toml(n, latency_ms, LEVERAGE + 2 if fresh_account else LEVERAGE))
        ex = Exchange(var / "scenario.toml")
        try:
            targets = ", ".join(f"{a} = {1 / n!r}" for a in asset_names(n))
            (var / "rebalancer.toml").write_text(CONFIG.format(
                targets=targets, base_url=ex.base_url, leverage=LEVERAGE, api_key=DEFAULT_API_KEY,
                api_secret=DEFAULT_API_SECRET, var=var.as_posix()))
            settings = load_settings(var / "rebalancer.toml", env={})
            rb = Rebalancer(settings)
            for client in {id(c): c for c in (rb.venue.hedge_client, rb.venue.spot_client)}.values():
                client.timeout_on_exit = 0
            try:
                await ex.admin("POST", "reset-counters")
                started = time.perf_counter()
                await rb.start()
                connect_s = time.perf_counter() - started
                connect_counts = (await ex.admin("GET", "state"))["requests"]
                # Each later cycle: even assets +20%, odd -20%, so every asset trades again, on the same side
                # as before (no position crosses zero, which would add a second leg).
                labels = ("first cycle", "next cycle", "next cycle", "next cycle")
                for k, label in enumerate(labels):
                    if k:
                        await ex.admin("POST", "prices", {a: round(100 * (1.2 if i % 2 == 0 else 0.8) ** k, 4)
                                                          for i, a in enumerate(asset_names(n))})
                    await ex.admin("POST", "reset-counters")
                    started, cpu = time.perf_counter(), time.process_time()
                    report = await rb.cycle(execute=True)
                    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
                    counts = (await ex.admin("GET", "state"))["requests"]
                    if report.outcome != "done":
                        raise RuntimeError(f"{n} assets, {label}: {report.outcome} {report.error}")
                    reads, orders, setup, by_endpoint = split_requests(counts)
                    rows.append({"assets": n, "account": "fresh" if fresh_account else "configured",
                                 "cycle": label, "wall": wall, "L": wall / (latency_ms / 1000), "cpu": cpu,
                                 "orders": len(report.executed), "reads": reads, "order_requests": orders,
                                 "setup": setup, "by_endpoint": by_endpoint, "connect_s": connect_s,
                                 "connect_requests": sum(connect_counts.values())})
            finally:
                await rb.close()
        finally:
            ex.stop()
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    """The first cycle as measured; the later ones as their median (by wall time)."""
    out = []
    for key in dict.fromkeys((r["assets"], r["account"], r["cycle"]) for r in rows):
        group = sorted((r for r in rows if (r["assets"], r["account"], r["cycle"]) == key), key=lambda r: r["wall"])
        out.append({**group[len(group) // 2], "runs": len(group)})
    return out


def print_tables(rows: list[dict], latency_ms: float) -> None:
    rows = summarize(rows)
    print(f"\nCycle latency, local exchange adding L = {latency_ms:g} ms per request (markets loaded once; "
          "'next cycle' = median of 3)")
    head = f"{'assets':>6} {'account':>10} {'cycle':>11} {'orders':>6} {'wall ms':>8} {'in L':>6} {'bot CPU ms':>10} " \
           f"{'reads':>5} {'order req':>9} {'setup req':>9} {'connect ms':>10}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['assets']:>6} {r['account']:>10} {r['cycle']:>11} {r['orders']:>6} {r['wall'] * 1000:>8.0f} "
              f"{r['L']:>6.2f} {r['cpu'] * 1000:>10.0f} {r['reads']:>5} {r['order_requests']:>9} {r['setup']:>9} "
              f"{r['connect_s'] * 1000:>10.0f}")
    print("\nHTTP requests per cycle by endpoint (configured account, next cycle)")
    picked = [r for r in rows if r["account"] == "configured" and r["cycle"] == "next cycle"]
    endpoints = sorted(set().union(*(r["by_endpoint"] for r in picked)))
    print(f"{'endpoint':<32}" + "".join(f"{str(r['assets']) + ' assets':>11}" for r in picked))
    for e in endpoints:
        print(f"{e:<32}" + "".join(f"{r['by_endpoint'].get(e, 0):>11}" for r in picked))
    print(f"{'reads (GET)':<32}" + "".join(f"{r['reads']:>11}" for r in picked))
    print(f"{'budget 6 + 2 x orders':<32}" + "".join(f"{6 + 2 * r['orders']:>11}" for r in picked))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--assets", default="2,10,50")
    args = parser.parse_args()
    configure_logging(level="error", fmt="json", file=None)
    rows: list[dict] = []
    for n in (int(x) for x in args.assets.split(",")):
        rows += await bench(n, args.latency_ms, fresh_account=False)
        rows += await bench(n, args.latency_ms, fresh_account=True)
    print_tables(rows, args.latency_ms)


if __name__ == "__main__":
    asyncio.run(main())
