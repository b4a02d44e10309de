"""Order responses lost after the exchange executed the order: every order, and a seeded 30%.

The executor must find each order by its client id instead of sending it again.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from rebalancer.domain import OrderState
from tests.faults.conftest import (
    EXAMPLE_1,
    TARGETS,
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


async def test_dropped_response_when_every_order_then_exact_plan_and_no_duplicate(dialect, tmp_path, fault_row):
    """drop_order_responses = N for every order: the cycle ends done with exactly the planned positions,
    each order found by client id (one send each), and a re-plan is empty."""
    async with serve(example_scenario(faults={"drop_order_responses": 100}), dialect) as ex:
        settings = settings_for(tmp_path, ex, TARGETS, timeout_ms=600)
        rb = make_rebalancer(settings)
        try:
            report = await rb.cycle(execute=True)
            again = await rb.cycle(execute=True)
            state = await sim_state(ex)
            result = audit(state, rb.journal, dialect)
        finally:
            await rb.close()
    assert report.outcome == "done", report.error
    assert [e.sends for e in report.executed] == [1, 1]
    assert all(e.result.state is OrderState.FILLED and "outcome unknown" in e.note for e in report.executed)
    assert positions(state) == EXAMPLE_1
    assert state["faults"]["drop_order_responses"] == 100 - 2  # both orders' responses were dropped
    assert again.outcome == "nothing_to_do" and again.plan.orders == ()
    assert (result.orders_placed, result.duplicates, result.lost) == (2, [], [])
    fault_row("dropped responses: every order", 2, result)


def drop_rate_middleware(dialect, rate: float, seed: int):
    """Executes the order, then holds the response until the client gives up (as drop_order_responses
    does), for a seeded fraction of the dialect's order placements."""
    rng = random.Random(seed)
    dropped: list[str] = []

    async def middleware(request, handler):
        if not dialect.is_order(request):
            return await handler(request)
        drop = rng.random() < rate
        response = await handler(request)
        if drop and response.status == 200:
            dropped.append(request.path)
            await asyncio.sleep(300)  # cancelled when the client times out and closes the connection
        return response

    middleware.dropped = dropped  # type: ignore[attr-defined]
    return middleware


async def test_dropped_response_when_seeded_30_percent_then_every_cycle_lands_on_plan(dialect, tmp_path, fault_row):
    """A seeded 30% of order responses dropped over six cycles with prices moving between them:
    every cycle ends at its plan, no order is executed twice, the journal holds each one."""
    mw = drop_rate_middleware(dialect, 0.3, seed=7)
    moves = [{"BTC": 44000, "ETH": 1900}, {"BTC": 38000, "ETH": 2150}, {"BTC": 42000, "ETH": 1800},
             {"BTC": 36000, "ETH": 2200}, {"BTC": 41000, "ETH": 2000}]
    reports = []
    async with serve(example_scenario(), dialect, middlewares=[mw]) as ex:
        settings = settings_for(tmp_path, ex, TARGETS, timeout_ms=600)
        rb = make_rebalancer(settings)
        try:
            reports.append(await rb.cycle(execute=True))
            for prices in moves:
                await sim_post(ex, "prices", prices)
                reports.append(await rb.cycle(execute=True))
            replan = await rb.cycle(execute=False)
            state = await sim_state(ex)
            result = audit(state, rb.journal, dialect)
        finally:
            await rb.close()
    assert [r.outcome for r in reports] == ["done"] * len(reports), [r.error for r in reports]
    assert all(not r.mismatches for r in reports)
    assert not replan.plan.triggered or replan.plan.orders == ()
    sends = [e.sends for r in reports for e in r.executed]
    assert sends == [1] * len(sends)  # found by client id, never resent
    assert 0 < len(mw.dropped) < result.orders_placed  # some, not all, were dropped
    assert result.duplicates == [] and result.lost == []
    assert result.orders_placed == len(sends)
    fault_row("dropped responses: seeded 30%", len(reports), result)
