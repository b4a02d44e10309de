"""A property of the money ledger over random sequences of steps on the local exchange (BingX: its fill
rows carry no trade id, no side and whole-second times, so the ledger's synthetic ids are the ones
tested): cycles that trade, funding settlements, crashes (the Rebalancer dropped without closing its
journal, a new one opened on the same file), two syncs in a row, and syncs that fail halfway (one
symbol's trades and the funding read refused). After a last sync, the ledger's totals per asset equal
the exchange's own income records and no trade or payment is stored twice."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rebalancer.core.pnl import summarise
from rebalancer.ledger import sync_ledger
from rebalancer.service import Rebalancer
from rebalancer.venues.errors import TransientError
from tests.integration.conftest import settings_for, sim_post, sim_state, start_exchange
from tests.integration.dialects import TABLE
from tests.integration.test_ledger import income_by_asset

pytestmark = pytest.mark.integration

DIALECT = TABLE["bingx"]
TARGETS = {"BTC": 0.5, "ETH": 0.5}
SCENARIO = {
    "markets": {"BTC": {"spot_price": 40000, "amount_step": 0.001, "funding_rate": 0.0001},
                "ETH": {"spot_price": 2000, "amount_step": 0.001, "funding_rate": -0.0001}},
    "spot": {"BTC": 0.15, "ETH": 2, "USDT": 0},
    "futures": {"wallet": 10000},
}
BTC_PRICES = [36000, 38000, 40000, 42000, 44000]
ETH_PRICES = [1800, 1900, 2000, 2100, 2200]

steps = st.lists(
    st.one_of(
        st.tuples(st.just("trade"), st.sampled_from(BTC_PRICES), st.sampled_from(ETH_PRICES)),
        st.tuples(st.just("settle")),
        st.tuples(st.just("crash")),
        st.tuples(st.just("sync_twice")),
        st.tuples(st.just("sync_fails_halfway")),
    ),
    min_size=2, max_size=7,
)


async def sync(rb: Rebalancer):
    return await sync_ledger(rb.venue, rb.journal, venue_name=rb.venue_name, positions=None,
                             now=datetime.now(timezone.utc))


async def failing_halfway(rb: Rebalancer):
    """A sync whose ETH trade read and funding read are refused (BTC's trades are stored)."""
    venue = rb.venue
    real_fills = venue.fills_since

    async def fills_since(symbol, since):
        if symbol.startswith("ETH"):
            raise TransientError("ETH trades: 503 from the exchange")
        return await real_fills(symbol, since)

    async def funding_payments(since):
        raise TransientError("funding: connection reset")

    venue.fills_since, venue.funding_payments = fills_since, funding_payments
    try:
        return await sync(rb)
    finally:
        del venue.fills_since, venue.funding_payments


async def run(sequence: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        async with start_exchange(SCENARIO, DIALECT) as ex:
            new = lambda: Rebalancer(settings_for(tmp_path, ex, TARGETS), executor_kw={"lookup_delay_s": 0.05})  # noqa: E731
            rb = new()
            await rb.start()
            dropped = []
            try:
                for step in sequence:
                    kind = step[0]
                    if kind == "trade":
                        await sim_post(ex, "prices", {"BTC": {"spot": step[1], "mark": step[1]},
                                                      "ETH": {"spot": step[2], "mark": step[2]}})
                        report = await rb.cycle(execute=True)
                        assert report.outcome in ("done", "nothing_to_do"), report.error
                    elif kind == "settle":
                        await sim_post(ex, "settle-funding", {})
                    elif kind == "crash":
                        await rb.venue.close()  # the process is gone; its journal was never closed
                        dropped.append(rb)
                        rb = new()
                        await rb.start()
                    elif kind == "sync_twice":
                        first = await sync(rb)
                        assert first.errors == ()
                        assert (await sync(rb)) == type(first)(0, 0, ())
                    else:
                        failed = await failing_halfway(rb)
                        assert len(failed.errors) == 2
                outcome = await sync(rb)
                assert outcome.errors == ()
                entries = rb.journal.ledger_entries(rb.venue_name)
                summary = summarise(entries, await rb.venue.positions(), quote="USDT")
            finally:
                await rb.close()
                for old in dropped:
                    old.journal.close()
            state = await sim_state(ex)
    income = income_by_asset(state)
    kinds = [row["income_type"] for row in state["income"]]
    # one COMMISSION per fill (every fill pays a fee here), one FUNDING_FEE per payment
    counts = {"trade": kinds.count("COMMISSION"), "funding": kinds.count("FUNDING_FEE")}
    stored = {k: sum(1 for e in entries if e.kind == k) for k in counts}
    assert stored == counts, sequence
    lines = {a.asset: a for a in summary.assets}
    cent = Decimal("0.01")
    for asset, figures in income.items():
        line = lines[asset]
        got = {"realised": line.realised, "funding": line.funding, "fees": line.fees}
        assert {k: v.quantize(cent) for k, v in got.items()} == {k: v.quantize(cent) for k, v in figures.items()}, \
            (asset, sequence)
    for asset, line in lines.items():
        if asset not in income:
            assert (line.realised, line.funding, line.fees) == (0, 0, 0)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(sequence=steps)
def test_ledger_totals_equal_the_exchanges_income_whatever_the_steps(sequence):
    asyncio.run(run(sequence))
