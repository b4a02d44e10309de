"""429 and 418 with Retry-After: the bot waits exactly what the exchange asked before the next try.

Waits are recorded by the injected sleep of the venue (read retries) and the executor (orders).
"""

from __future__ import annotations


import pytest
from aiohttp import web

from rebalancer.domain import OrderState
from rebalancer.exchange_sim.server import RETRY_AFTER_SECONDS
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

LOOKUP_DELAY = 0.05  # make_rebalancer's executor lookup spacing


def ban_middleware(dialect, count: int, retry_after: int, *, orders: bool):
    """The next `count` reads (GET) or order requests answer HTTP 418 (IP banned) with Retry-After and
    the dialect's own "too many requests" body."""
    state = {"left": count, "sent": 0}

    async def middleware(request, handler):
        targeted = dialect.is_order(request) if orders else (
            request.method == "GET" and not request.path.startswith("/_sim/"))
        if targeted and state["left"] > 0:
            state["left"] -= 1
            state["sent"] += 1
            return web.json_response(dict(dialect.rate_limited), status=418,
                                     headers={"Retry-After": str(retry_after)})
        return await handler(request)

    middleware.state = state  # type: ignore[attr-defined]
    return middleware


@pytest.mark.parametrize("status", [429, 418])
@pytest.mark.parametrize("target", ["reads", "orders"])
async def test_rate_limited_when_retry_after_then_waits_exactly_that_and_lands_on_plan(
        dialect, tmp_path, fault_row, status, target):
    """One 429 (exchange fault rate_limit_429) or 418 (IP ban) with Retry-After on a read or on an order:
    the bot waits exactly Retry-After before trying again (an order: before looking it up by client id),
    and the cycle lands on plan with one order per leg."""
    retry_after = RETRY_AFTER_SECONDS if status == 429 else 3
    middlewares = [ban_middleware(dialect, 1, retry_after, orders=target == "orders")] if status == 418 else []
    async with serve(example_scenario(), dialect, middlewares=middlewares) as ex:
        settings = settings_for(tmp_path, ex, TARGETS)
        sleep = RecordingSleep()
        rb = make_rebalancer(settings, sleep=sleep)
        try:
            await rb.start()
            if status == 429:
                await sim_post(ex, "faults", {"rate_limit_429": 1, "faults_on": target})
            report = await rb.cycle(execute=True)
            state = await sim_state(ex)
            result = audit(state, rb.journal, dialect)
        finally:
            await rb.close()
    if status == 429:
        assert state["faults"]["rate_limit_429"] == 0
    else:
        assert middlewares[0].state["sent"] == 1
    assert report.outcome == "done", report.error
    backoffs = [w for w in sleep.waits if w != LOOKUP_DELAY]
    assert backoffs == [float(retry_after)]  # exactly one wait, exactly Retry-After
    if target == "orders":
        # the limited order was looked up (not found: a 429/418 is refused before matching) and resent once
        assert sorted(e.sends for e in report.executed) == [1, 2]
    assert all(e.result.state is OrderState.FILLED for e in report.executed)
    assert positions(state) == EXAMPLE_1
    assert (result.orders_placed, result.duplicates, result.lost) == (2, [], [])
    fault_row(f"HTTP {status} Retry-After {retry_after}s on {target}", 1, result)
