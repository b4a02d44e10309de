"""A process that dies mid-cycle, in-process and deterministic: after the intent is journaled but before
the order leaves, and after the exchange executed it but before the response came back. A new
Rebalancer on the same journal file settles both at restart without placing anything twice."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

import pytest

from rebalancer.domain import OrderState
from tests.faults.conftest import (
    EXAMPLE_1,
    TARGETS,
    VenueProxy,
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


class Killed(BaseException):
    """The process dies here: nothing catches it, so nothing after it runs (like SIGKILL)."""


class Hang(VenueProxy):
    """Every place() reports `reached` and then never returns: where the process will be killed.
    With `send` the request goes out first (the exchange executes it; its response is dropped)."""

    def __init__(self, inner, *, send: bool) -> None:
        super().__init__(inner)
        self.send = send
        self.reached = asyncio.Event()

    async def place(self, order, client_order_id, order_type, limit_price, **kwargs):
        self.reached.set()
        if self.send:
            return await self.inner.place(order, client_order_id, order_type, limit_price, **kwargs)
        await asyncio.Event().wait()


async def kill_when(task: asyncio.Task, ready) -> None:
    """Cancel the cycle at the crash point: nothing after it runs, the cycle is never finished."""
    await asyncio.wait_for(ready(), timeout=10)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def wait_for_orders(ex, count: int) -> None:
    while len((await sim_state(ex))["orders"]) < count:
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("where", ["before_mark_sent", "before_request"])
async def test_crash_when_intent_journaled_but_not_sent_then_restart_marks_not_placed_and_trades_once(
        dialect, tmp_path, fault_row, where):
    """Killed after journaling the intents and before any request left (before or after the journal
    counted the send): at restart nothing is found, the orders become NOT_PLACED with a reason, the dead
    cycle is closed as interrupted, and the next cycle places each leg once."""
    async with serve(example_scenario(), dialect) as ex:
        settings = settings_for(tmp_path, ex, TARGETS)
        hang: list[Hang] = []
        rb = make_rebalancer(settings, wrap=lambda v: hang.append(Hang(v, send=False)) or hang[0])
        task = asyncio.create_task(rb.cycle(execute=True))
        if where == "before_mark_sent":
            def die(*args, **kw):
                raise Killed  # the process dies between recording the intents and counting the sends
            rb.journal.mark_sent = rb.journal.mark_sent_many = die
            with contextlib.suppress(Killed):
                await asyncio.wait_for(task, timeout=10)
        else:
            await kill_when(task, lambda: hang[0].reached.wait())
        dead_cycle = rb.journal.running_cycles()[0].id
        pending = rb.journal.unresolved_orders()
        await rb.close()
        assert (await sim_state(ex))["orders"] == []
        assert [r.state for r in pending] == [OrderState.PENDING] * 2

        restarted = make_rebalancer(settings)
        try:
            still = await restarted.resolve()
            settled = [restarted.journal.order(r.client_order_id) for r in pending]
            report = await restarted.cycle(execute=True)
            state = await sim_state(ex)
            result = audit(state, restarted.journal, dialect)
            closed = restarted.journal.cycle(dead_cycle)
            reasons = [reason(restarted.journal, r.client_order_id) for r in settled]
        finally:
            await restarted.close()
    assert still == []
    assert [r.state for r in settled] == [OrderState.NOT_PLACED] * 2
    assert all("never sent" in why for why in reasons), reasons
    assert closed.outcome == "interrupted"
    assert report.outcome == "done", report.error
    assert positions(state) == EXAMPLE_1
    assert (result.orders_placed, result.duplicates, result.lost) == (2, [], [])
    fault_row(f"killed after intent, {where.replace('_', ' ')}", 2, result)


def reason(journal, cid: str) -> str:
    return journal.events(cid)[-1]["detail"].get("reason", "")


async def test_crash_when_exchange_executed_but_response_lost_then_restart_finds_both_and_places_nothing(
        dialect, tmp_path, fault_row):
    """Killed after both orders executed on the exchange and before their responses arrived: at restart
    each is found by client id and journaled FILLED with the exchange's fill; the next cycle has nothing
    to do; the exchange holds exactly the two orders."""
    async with serve(example_scenario(faults={"drop_order_responses": 10}), dialect) as ex:
        settings = settings_for(tmp_path, ex, TARGETS)
        rb = make_rebalancer(settings, wrap=lambda v: Hang(v, send=True))
        task = asyncio.create_task(rb.cycle(execute=True))
        await kill_when(task, lambda: wait_for_orders(ex, 2))
        dead_cycle = rb.journal.running_cycles()[0].id
        before = {r.client_order_id: r for r in rb.journal.unresolved_orders()}
        await rb.close()
        await sim_post(ex, "faults", {"drop_order_responses": 0})

        restarted = make_rebalancer(settings)
        try:
            still = await restarted.resolve()
            settled = [restarted.journal.order(cid) for cid in before]
            report = await restarted.cycle(execute=True)
            state = await sim_state(ex)
            result = audit(state, restarted.journal, dialect)
            closed = restarted.journal.cycle(dead_cycle)
        finally:
            await restarted.close()
    assert [r.state for r in before.values()] == [OrderState.PENDING] * 2
    assert all(r.attempts == 1 for r in before.values())
    assert still == []
    assert [(r.state, dialect.base(r.asset, r.filled)) for r in settled] == [(OrderState.FILLED, Decimal("0.025")),
                                                                            (OrderState.FILLED, Decimal("0.5"))]
    assert report.outcome == "nothing_to_do", report.error
    assert closed.outcome == "interrupted"
    assert positions(state) == EXAMPLE_1
    assert (result.orders_placed, result.duplicates, result.lost) == (2, [], [])
    fault_row("killed after send, before the response", 2, result)


async def test_crash_when_restart_cannot_ask_the_exchange_then_orders_unknown_with_reason_and_no_new_orders(
        dialect, tmp_path, fault_row):
    """Killed after the sends were counted; at restart every read answers 503, so nobody can tell
    whether the orders exist: they become UNKNOWN with the reason (never left PENDING in a finished
    cycle), the cycle refuses new orders and says why; once the exchange answers, they are settled
    (NOT_PLACED) and the next cycle trades each leg once."""
    async with serve(example_scenario(), dialect) as ex:
        settings = settings_for(tmp_path, ex, TARGETS)
        hang: list[Hang] = []
        rb = make_rebalancer(settings, wrap=lambda v: hang.append(Hang(v, send=False)) or hang[0])
        task = asyncio.create_task(rb.cycle(execute=True))
        await kill_when(task, lambda: hang[0].reached.wait())
        cids = [r.client_order_id for r in rb.journal.unresolved_orders()]
        await rb.close()

        restarted = make_rebalancer(settings)
        try:
            await restarted.start()
            await sim_post(ex, "faults", {"error_rate_5xx": 1.0, "faults_on": "reads"})
            blocked = await restarted.cycle(execute=True)
            problems = restarted.journal.check_consistency()
            unknown = [restarted.journal.order(cid) for cid in cids]
            reasons = [reason(restarted.journal, cid) for cid in cids]
            await sim_post(ex, "faults", {"error_rate_5xx": 0.0})
            report = await restarted.cycle(execute=True)
            settled = [restarted.journal.order(cid).state for cid in cids]
            state = await sim_state(ex)
            result = audit(state, restarted.journal, dialect)
        finally:
            await restarted.close()
    assert (blocked.outcome, blocked.exit_code) == ("failed", 1)
    assert "unresolved" in blocked.error and blocked.executed == []
    assert problems == []
    assert [r.state for r in unknown] == [OrderState.UNKNOWN] * 2
    assert all(reasons), reasons
    assert settled == [OrderState.NOT_PLACED] * 2
    assert report.outcome == "done", report.error
    assert positions(state) == EXAMPLE_1
    assert (result.orders_placed, result.duplicates, result.lost) == (2, [], [])
    fault_row("killed after send counted; restart while reads fail", 3, result)
