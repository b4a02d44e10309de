"""Benchmark: plan + gate (checks, balanced-book solve, scale, rounding, minimums, slices) wall time
for 10, 100 and 1,000 assets, printed, not asserted.

Two books per size: "easy" (every check passes, k = 1) and "hard" (exchange tiers on every market,
funding denials on ~10%, no perp for ~5%, a hedge account small enough that the common scale binds,
and small minimums that freeze and re-solve). Run: `make bench` or
`.venv/bin/python benchmarks/bench_planner.py`. Target: 1,000 assets under 50 ms.
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

from rebalancer.domain import (  # noqa: E402
    Funding, HedgeAccount, Holding, Market, PlanParams, Position, Quote, RiskLimits, Snapshot, Tier, tiers_with_cum,
)
from rebalancer.core.planner import plan  # noqa: E402
from rebalancer.core.gate import gate  # noqa: E402

NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)


TIERS = tiers_with_cum([
    Tier(Decimal(0), Decimal(50_000), Decimal("0.004"), Decimal(0), Decimal(125)),
    Tier(Decimal(50_000), Decimal(250_000), Decimal("0.005"), Decimal(0), Decimal(100)),
    Tier(Decimal(250_000), Decimal(1_000_000), Decimal("0.01"), Decimal(0), Decimal(50)),
    Tier(Decimal(1_000_000), Decimal(5_000_000), Decimal("0.025"), Decimal(0), Decimal(20)),
    Tier(Decimal(5_000_000), None, Decimal("0.05"), Decimal(0), Decimal(10)),
])


def make(n: int, *, hard: bool, seed: int = 1) -> tuple[Snapshot, PlanParams]:
    rng = random.Random(seed)
    holdings, markets, spot, mark, funding, positions = [], {}, {}, {}, {}, {}
    for i in range(n):
        a = f"C{i}"
        price = Decimal(rng.randint(1, 50_000))
        holdings.append(Holding(a, Decimal(rng.randint(1, 10_000)) / 100, "exchange"))
        spot[a] = Quote(price, NOW)
        mark[a] = Quote(price, NOW)
        if hard and rng.random() < 0.05:
            continue  # no perp market: frozen, its gap spread over the others
        markets[a] = Market(f"{a}/USDT:USDT", a, "USDT", amount_step=Decimal("0.001"),
                            min_cost=Decimal(50 if hard else 5), tiers=TIERS if hard else ())
        funding[a] = Funding(Decimal("0.002") if hard and rng.random() < 0.1 else Decimal("0.0001"))
        if rng.random() < 0.5:
            positions[a] = Position(a, f"{a}/USDT:USDT", Decimal(rng.randint(-1000, 1000)) / 1000)
    weights = {f"C{i}": Decimal(1) / n for i in range(n)}
    nav = sum((h.amount * spot[h.asset].price for h in holdings), Decimal(0))
    gross = sum((abs(p.amount) * mark[a].price for a, p in positions.items()), Decimal(0))
    # hard: equity just above what the open book needs, so growth must be scaled
    equity = gross * Decimal("0.75") if hard else Decimal(10_000_000_000)
    snap = Snapshot(NOW, "USDT", tuple(holdings), positions, markets, spot, mark, funding,
                    HedgeAccount(equity, equity))
    return snap, PlanParams(targets=weights, relative_band=Decimal("0.2"))


def main() -> None:
    print(f"{'assets':>7} {'book':>5} {'orders':>7} {'denied':>7} {'scale':>7} {'plan ms':>9} {'gate ms':>9} "
          f"{'total ms':>9}  (median of 20)")
    for n in (10, 100, 1000):
        for hard in (False, True):
            snap, params = make(n, hard=hard)
            limits = RiskLimits(max_gross_ratio=Decimal(3 if hard else 100), max_order_notional=Decimal(1_000_000))
            plans, gates, totals = [], [], []
            for _ in range(20):
                t0 = time.perf_counter()
                p = plan(snap, params)
                t1 = time.perf_counter()
                v = gate(snap, p, limits, now=NOW)
                t2 = time.perf_counter()
                plans.append(t1 - t0)
                gates.append(t2 - t1)
                totals.append(t2 - t0)
            print(f"{n:>7} {'hard' if hard else 'easy':>5} {len(v.approved):>7} {len(v.denied):>7} "
                  f"{float(v.scale):>7.3f} {statistics.median(plans)*1e3:>9.2f} "
                  f"{statistics.median(gates)*1e3:>9.2f} {statistics.median(totals)*1e3:>9.2f}")


if __name__ == "__main__":
    main()
