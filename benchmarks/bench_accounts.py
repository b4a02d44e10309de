"""Benchmark: many accounts in one process, sharing loaded markets and one aiohttp session.

Run: `.venv/bin/python benchmarks/bench_accounts.py [--accounts 100] [--markets 400]`. Printed, not asserted.
Target: RSS under 400 MB for 100 accounts.

The local exchange serves one account, so the N CcxtVenue instances all use its one key and run dry-run
cycles (snapshot -> plan -> gate, no orders): the per-account cost measured is the client, its state and
its reads, which is what N real accounts would cost. The exchange lists `--markets` assets (spot + perp each,
like a real exchange listing far more than a portfolio holds); the portfolio targets 10 of them.
Each mode runs in a fresh interpreter so RSS figures do not mix: "shared" (one template client loads markets,
every account takes them with ccxt's set_markets_from_exchange, one injected aiohttp session) and
"separate" (each account loads its own markets over its own session).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

PORTFOLIO = 10


def rss_mb() -> float:
    """Resident set size from /proc/self/status (VmRSS, kB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def scenario_toml(markets: int, latency_ms: float) -> str:
    lines = []
    for i in range(markets):
        lines += [f"[markets.M{i:03d}]", f"spot_price = {100 + i}", "funding_rate = 0.0001", 'amount_step = "0.001"', ""]
    lines.append("[spot]")
    lines += [f"M{i:03d} = {13 if i % 2 == 0 else 7}" for i in range(PORTFOLIO)]
    lines += ["USDT = 0", "", "[futures]", "wallet = 1000000", "leverage = 3", "",
              "[faults]", f"latency_ms = {latency_ms}", ""]
    return "\n".join(lines)


CONFIG = """\
[portfolio]
quote = "USDT"
nav = "spot"
targets = {{ {targets} }}

[rebalance]
band = 0.02
relative_band = 0.1

[venues.main]
exchange = "binance"
mode = "local"
base_url = "{base_url}"
roles = ["spot", "hedge"]
leverage = 3
api_key = "local-key"
api_secret = "local-secret"
timeout_ms = 30000

[risk]
kill_switch_file = "{var}/HALT"

[journal]
path = "{var}/journal.db"

[logging]
level = "error"
format = "json"
file = ""
"""


async def run_mode(mode: str, accounts: int, base_url: str, var: Path) -> dict:
    import aiohttp

    from rebalancer.journal import Journal
    from rebalancer.logs import configure_logging
    from rebalancer.service import Rebalancer, make_venue
    from rebalancer.settings import load_settings
    from rebalancer.venues.binance_local import make_local_binance

    configure_logging(level="error", fmt="json", file=None)
    targets = ", ".join(f"M{i:03d} = {1 / PORTFOLIO!r}" for i in range(PORTFOLIO))
    (var / "rebalancer.toml").write_text(CONFIG.format(targets=targets, base_url=base_url, var=var.as_posix()))
    settings = load_settings(var / "rebalancer.toml", env={})
    out: dict = {"mode": mode, "accounts": accounts, "rss_start": rss_mb()}
    shared = aiohttp.ClientSession() if mode == "shared" else None
    template = None
    started = time.perf_counter()
    if shared is not None:
        template = make_local_binance(base_url, "local-key", "local-secret", session=shared)
        await template.load_markets()
    out["markets"] = len(template.markets) if template is not None else None
    rebalancers = []
    for _ in range(accounts):
        venue = make_venue(settings, session=shared)
        venue.hedge_client.timeout_on_exit = 0
        if template is not None:
            venue.hedge_client.set_markets_from_exchange(template)  # same dicts, no request, ~0 MB
        rebalancers.append(Rebalancer(settings, venue=venue, journal=Journal(":memory:")))
    out["build_s"] = time.perf_counter() - started
    out["rss_built"] = rss_mb()

    started = time.perf_counter()
    await asyncio.gather(*(rb.start() for rb in rebalancers))
    out["connect_s"] = time.perf_counter() - started
    out["markets"] = out["markets"] or len(rebalancers[0].venue.hedge_client.markets)
    out["rss_connected"] = rss_mb()

    timings = []
    for _ in range(2):
        started = time.perf_counter()
        reports = await asyncio.gather(*(rb.cycle(execute=False, record=False) for rb in rebalancers))
        timings.append(time.perf_counter() - started)
        bad = [r for r in reports if r.outcome != "dry_run"]
        if bad:
            raise RuntimeError(f"{len(bad)} cycles failed: {bad[0].error}")
    out["cycle_all_s"] = timings
    out["orders_planned"] = len(reports[0].plan.orders)
    out["rss_cycled"] = rss_mb()
    for rb in rebalancers:
        await rb.close()
    if template is not None:
        await template.close()
    if shared is not None:
        await shared.close()
    return out


async def admin(base_url: str, path: str) -> dict:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base_url}/_sim/{path}") as resp:
            return await resp.json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--markets", type=int, default=400, help="assets the exchange lists (spot + perp each)")
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--mode", choices=["shared", "separate"], help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--var", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:  # one measurement, in this fresh interpreter
        print(json.dumps(asyncio.run(run_mode(args.mode, args.accounts, args.base_url, Path(args.var)))))
        return

    with tempfile.TemporaryDirectory() as tmp:
        var = Path(tmp)
        (var / "scenario.toml").write_text(scenario_toml(args.markets, args.latency_ms))
        ex = subprocess.Popen([sys.executable, "-m", "rebalancer.exchange_sim.runner", "--scenario",
                               str(var / "scenario.toml"), "--port", "0"], stdout=subprocess.PIPE, text=True)
        base_url = ex.stdout.readline().strip()
        results = []
        try:
            for mode in ("shared", "separate"):
                proc = subprocess.run([sys.executable, __file__, "--mode", mode, "--accounts", str(args.accounts),
                                       "--base-url", base_url, "--var", str(var)],
                                      capture_output=True, text=True, timeout=600)
                if proc.returncode != 0:
                    raise SystemExit(proc.stderr)
                results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            requests = asyncio.run(admin(base_url, "state"))["requests"]
        finally:
            ex.terminate()
            ex.wait(timeout=10)

    print(f"\n{args.accounts} accounts in one process against the local exchange "
          f"({args.markets} assets listed = {results[0]['markets']} ccxt markets; portfolio of {PORTFOLIO}; "
          f"L = {args.latency_ms:g} ms per request; dry-run cycles)")
    head = (f"{'mode':<9} {'RSS start':>9} {'built':>7} {'connected':>9} {'after cycles':>12} "
            f"{'per account':>11} {'build s':>7} {'connect s':>9} {'cycle all s (1st, 2nd)':>23}")
    print(head)
    print("-" * len(head))
    for r in results:
        per = (r["rss_cycled"] - r["rss_start"]) / r["accounts"]
        cycles = ", ".join(f"{t:.2f}" for t in r["cycle_all_s"])
        print(f"{r['mode']:<9} {r['rss_start']:>8.0f}M {r['rss_built']:>6.0f}M {r['rss_connected']:>8.0f}M "
              f"{r['rss_cycled']:>11.0f}M {per:>10.2f}M {r['build_s']:>7.2f} {r['connect_s']:>9.2f} {cycles:>23}")
    print(f"(each dry-run cycle planned {results[0]['orders_planned']} orders; "
          f"exchange requests over both runs: {sum(requests.values())})")


if __name__ == "__main__":
    main()
