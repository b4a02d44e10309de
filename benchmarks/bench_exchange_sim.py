"""Benchmark the local exchange: startup time, and N sequential signed requests made by real ccxt clients.

Run: .venv/bin/python benchmarks/bench_exchange_sim.py [--requests 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

import ccxt

from rebalancer.exchange_sim import example_scenario, start_exchange
from rebalancer.venues.binance_local import make_local_binance

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config" / "sim-example.toml"
PERP_BTC = "BTC/USDT:USDT"


async def in_process_startup(runs: int = 20) -> list[float]:
    """Seconds from start_exchange() to a bound, listening server (scenario already parsed)."""
    scenario = example_scenario()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        async with start_exchange(scenario):
            times.append(time.perf_counter() - started)
    return times


def cli_startup(runs: int = 3) -> list[float]:
    """Seconds from spawning `python -m rebalancer.exchange_sim.runner` to its base-URL line (incl. imports)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "rebalancer.exchange_sim.runner", "--scenario", str(EXAMPLE)],
            stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )
        assert proc.stdout is not None
        proc.stdout.readline()
        times.append(time.perf_counter() - started)
        proc.terminate()
        proc.wait(timeout=10)
    return times


async def timed(n: int, call: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    for _ in range(n):
        await call()
    return time.perf_counter() - started


def report(label: str, n: int, seconds: float) -> None:
    print(f"  {label:<44} {seconds:7.3f} s total  {seconds / n * 1000:6.3f} ms/req  {n / seconds:7.0f} req/s")


async def requests_benchmark(n: int) -> None:
    async with start_exchange(example_scenario()) as sim:
        client = make_local_binance(sim.base_url, sim.api_key, sim.api_secret)
        client.timeout_on_exit = 0
        sync_client = make_local_binance(sim.base_url, sim.api_key, sim.api_secret, sync=True)
        try:
            await client.load_markets()
            await client.create_order(PERP_BTC, "market", "sell", 0.025)
            await client.fetch_positions([PERP_BTC])  # caches leverage brackets
            print(f"{n} sequential signed requests through real ccxt {ccxt.__version__} (rate limiter off):")
            report("async fetch_balance({'type':'future'})", n, await timed(n, lambda: client.fetch_balance({"type": "future"})))
            report("async fetch_positions([BTC/USDT:USDT])", n, await timed(n, lambda: client.fetch_positions([PERP_BTC])))
            report("async fetch_balance() spot", n, await timed(n, client.fetch_balance))
            await asyncio.to_thread(sync_client.load_markets)
            report(
                "sync fetch_balance({'type':'future'})",
                n,
                await timed(n, lambda: asyncio.to_thread(sync_client.fetch_balance, {"type": "future"})),
            )
            total = sum(sim.server.requests.values())
            print(f"  server counted {total} requests")
        finally:
            await client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    startup = asyncio.run(in_process_startup())
    print(f"startup in-process: median {statistics.median(startup) * 1000:.1f} ms, max {max(startup) * 1000:.1f} ms")
    cli = cli_startup()
    print(f"startup CLI (interpreter + imports + bind): median {statistics.median(cli) * 1000:.0f} ms, max {max(cli) * 1000:.0f} ms")
    asyncio.run(requests_benchmark(args.requests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
