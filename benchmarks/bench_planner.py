"""Benchmark: plan + risk gate wall time for 10, 100 and 1,000 assets (printed, not asserted).

Run: `make bench` or `.venv/bin/python benchmarks/bench_planner.py`. Target: 1,000 assets well under 50 ms.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rebalancer.domain import Funding, HedgeAccount, Holding, Market, PlanParams, Position, Quote, RiskLimits, Snapshot  # noqa: E402
from rebalancer.core.planner import plan  # noqa: E402
from rebalancer.core.gate import gate  # noqa: E402

NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)


def make(n: int, seed: int = 1) -> tuple[Snapshot, PlanParams]:
    rng = random.Random(seed)
    holdings, markets, spot, mark, funding, positions = [], {}, {}, {}, {}, {}
    for i in range(n):
        a = f"C{i}"
        price = Decimal(rng.randint(1, 50_000))
        holdings.append(Holding(a, Decimal(rng.randint(1, 10_000)) / 100, "exchange"))
        markets[a] = Market(f"{a}/USDT:USDT", a, "USDT", amount_step=Decimal("0.001"), min_cost=Decimal(5))
        spot[a] = Quote(price, NOW)
        mark[a] = Quote(price, NOW)
        funding[a] = Funding(Decimal("0.0001"))
        if rng.random() < 0.5:
            positions[a] = Position(a, f"{a}/USDT:USDT", Decimal(rng.randint(-1000, 1000)) / 1000)
    weights = {f"C{i}": Decimal(1) / n for i in range(n)}
    snap = Snapshot(NOW, "USDT", tuple(holdings), positions, markets, spot, mark, funding,
                    HedgeAccount(Decimal(10_000_000), Decimal(10_000_000)))
    return snap, PlanParams(targets=weights, relative_band=Decimal("0.2"))


def main() -> None:
    print(f"{'assets':>7} {'orders':>7} {'plan ms':>9} {'gate ms':>9} {'total ms (median of 20)':>24}")
    for n in (10, 100, 1000):
        snap, params = make(n)
        limits = RiskLimits(max_gross_ratio=Decimal(3))
        plans, gates, totals = [], [], []
        for _ in range(20):
            t0 = time.perf_counter()
            p = plan(snap, params)
            t1 = time.perf_counter()
            gate(snap, p, limits, now=NOW)
            t2 = time.perf_counter()
            plans.append(t1 - t0)
            gates.append(t2 - t1)
            totals.append(t2 - t0)
        print(f"{n:>7} {len(p.orders):>7} {statistics.median(plans)*1e3:>9.2f} "
              f"{statistics.median(gates)*1e3:>9.2f} {statistics.median(totals)*1e3:>24.2f}")


if __name__ == "__main__":
    main()
