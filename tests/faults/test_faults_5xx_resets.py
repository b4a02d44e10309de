"""5xx bursts and connection resets, on reads and on order placement.

Reads retry with backoff; an order whose request failed is looked up by client id and resent with the
same id only when the exchange says it does not have it.
"""

from __future__ import annotations


import pytest

from rebalancer.domain import OrderState
from tests.faults.conftest import (
    EXAMPLE_1,
    TARGETS,
    RecordingSleep,
    audit,
    example_scenario,
    make_rebalancer,
    positions,
    serve,
    settings_for,
    sim_post,
    sim_state,
)

pytestmark = [pytest.mark.faults, pytest.mark.integration]

# Alternating regimes, so every cycle has orders to place.
MOVES = [{"BTC": 44000, "ETH": 1900}, {"BTC": 40000, "ETH": 2000}, {"BTC": 44000, "ETH": 1900}]


@pytest.mark.parametrize("target", ["reads", "orders"])
async def test_connection_resets_when_a_burst_hits_then_cycle_done_on_plan(dialect, tmp_path, fault_row, target):
    """The next 6 requests (reads) or 2 order requests (placement) have their connection reset:
    reads are retried, orders are looked up, found missing and resent with the same id. (The snapshot's
    reads go out concurrently and aiohttp retries each reset GET once by itself, so a burst must
    outnumber them to reach the venue's own retry and its backoff.)"""
    count = 6 if target == "reads" else 2
    faults = {"reset_connections": count, "faults_on": target}
    async with serve(example_scenario(faults=faults), dialect) as ex:
        settings = settings_for(tmp_path, ex, TARGETS)
        sleep = RecordingSleep()
        rb = make_rebalancer(settings, sleep=sleep)
        try:
            await rb.start()  # connect before the burst: markets load is not what this test is about
            await sim_post(ex, "faults", faults)
            report = await rb.cycle(execute=True)
            again = await rb.cycle(execute=True)
            state = await sim_state(ex)
            result = audit(state, rb.journal, dialect)
        finally:
            await rb.close()
    assert state["faults"]["reset_connections"] == 0
    assert report.outcome == "done", report.error
    assert all(e.result.state is OrderState.FILLED for e in report.executed)
    sends = sum(e.sends for e in report.executed)
    assert sends == (2 if target == "reads" else 2 + count)
    assert positions(state) == EXAMPLE_1
    assert again.outcome == "nothing_to_do"
    if target == "reads":
        assert sleep.waits, "reads were retried after a backoff"
    assert (result.orders_placed, result.duplicates, result.lost) == (2, [], [])
    fault_row(f"connection resets on {target} (burst of {count})", 2, result)


async def test_5xx_when_every_order_request_fails_then_nothing_placed_reported_and_next_cycle_repairs(
        dialect, tmp_path, fault_row):
    """A 5xx burst on placement that outlasts the send budget: no order exists, each is NOT_PLACED
    with the reason, the cycle is partial (exit 1); once the exchange recovers the next cycle lands on plan."""
    async with serve(example_scenario(), dialect) as ex:
        settings = settings_for(tmp_path, ex, TARGETS)
        rb = make_rebalancer(settings)
        try:
            await rb.start()
            await sim_post(ex, "faults", {"error_rate_5xx": 1.0, "faults_on": "orders"})
            failed = await rb.cycle(execute=True)
            assert (await sim_state(ex))["orders"] == []
            await sim_post(ex, "faults", {"error_rate_5xx": 0.0})
            repaired = await rb.cycle(execute=True)
            state = await sim_state(ex)
            result = audit(state, rb.journal, dialect)
            records = rb.journal.orders(cycle_id=failed.cycle_id)
        finally:
            await rb.close()
    assert (failed.outcome, failed.exit_code) == ("partial", 1)
    assert [e.result.state for e in failed.executed] == [OrderState.NOT_PLACED] * 2
    assert [e.sends for e in failed.executed] == [3, 3]
    assert all(r.state is OrderState.NOT_PLACED and r.attempts == 3 for r in records)
    assert repaired.outcome == "done", repaired.error
    assert positions(state) == EXAMPLE_1
    assert (result.orders_placed, result.duplicates, result.lost) == (2, [], [])
    fault_row("5xx burst on every order request", 2, result)


@pytest.mark.parametrize("target", ["reads", "orders"])
async def test_5xx_when_seeded_rate_then_no_duplicate_and_final_cycle_on_plan(dialect, tmp_path, fault_row, target):
    """A seeded 30% of requests (reads or order requests) answer 503 over four cycles with prices moving:
    a cycle either lands or reports why; no order is executed twice; after the exchange recovers,
    one more cycle puts the positions on plan."""
    reports = []
    faults = {"error_rate_5xx": 0.3, "faults_on": target, "seed": 11}
    async with serve(example_scenario(), dialect) as ex:
        settings = settings_for(tmp_path, ex, TARGETS)
        sleep = RecordingSleep()
        rb = make_rebalancer(settings, sleep=sleep)
        try:
            await rb.start()
            await sim_post(ex, "faults", faults)
            reports.append(await rb.cycle(execute=True))
            for prices in MOVES:
                await sim_post(ex, "prices", prices)
                reports.append(await rb.cycle(execute=True))
            await sim_post(ex, "faults", {"error_rate_5xx": 0.0})
            final = await rb.cycle(execute=True)
            replan = await rb.cycle(execute=False)
            state = await sim_state(ex)
            result = audit(state, rb.journal, dialect)
        finally:
            await rb.close()
    for r in reports:
        assert r.outcome in ("done", "nothing_to_do", "partial", "failed"), r.outcome
        if r.outcome in ("partial", "failed"):  # reported, with the reason
            reasons = [r.error or ""] + [e.note for e in r.executed if e.result.state is not OrderState.FILLED]
            assert any(reasons), r
            assert r.exit_code == 1
    # The snapshot's reads go out concurrently, so the seed no longer fixes which read draws a 503:
    # how many of the cycles land varies from run to run (a run on okx landed only one); at least one must.
    assert sum(r.outcome == "done" for r in reports) >= 1
    assert final.outcome in ("done", "nothing_to_do"), final.error
    assert replan.plan.orders == () or not replan.plan.triggered
    assert sleep.waits, "the 5xx answers were retried after backoff"
    assert result.duplicates == [] and result.lost == []
    fault_row(f"5xx seeded 30% on {target}", len(reports) + 1, result)
