"""Orders settled at restart get their commission journaled like any other fill.

The process dies after the exchange executed both orders and before their responses arrived (the
local exchange drops them); a new Rebalancer on the same journal finds them by client id and reads
their commission from the exchange (taker 0.0004 x notional), instead of leaving `fee` null.
"""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal

import pytest

from rebalancer.domain import OrderState
from tests.faults.conftest import (
    TARGETS,
    VenueProxy,
    example_scenario,
    make_rebalancer,
    serve,
    settings_for,
    sim_post,
    sim_state,
)
from tests.integration.conftest import journal_rows

pytestmark = [pytest.mark.integration]

TAKER = Decimal("0.0004")


class SendThenHang(VenueProxy):
    """place() sends the order (the exchange executes it, its response is dropped) and never returns."""

    async def place(self, order, client_order_id, order_type, limit_price, **kwargs):
        return await self.inner.place(order, client_order_id, order_type, limit_price, **kwargs)


async def _crash_after_send(ex, settings) -> list[str]:
    rb = make_rebalancer(settings, wrap=SendThenHang)
    task = asyncio.create_task(rb.cycle(execute=True))
    try:
        async with asyncio.timeout(15):
            while len((await sim_state(ex))["orders"]) < 2:
                await asyncio.sleep(0.01)
    finally:
        task.cancel()  # the process dies here: nothing after the sends runs
        with contextlib.suppress(asyncio.CancelledError):
            await task
    cids = [r.client_order_id for r in rb.journal.unresolved_orders()]
    await rb.close()
    return cids


async def test_restart_when_orders_filled_but_responses_lost_then_fee_is_the_exchange_commission(dialect, tmp_path):
    async with serve(example_scenario(faults={"drop_order_responses": 10}), dialect) as ex:
        settings = settings_for(tmp_path, ex, TARGETS)
        cids = await _crash_after_send(ex, settings)
        await sim_post(ex, "faults", {"drop_order_responses": 0})
        assert len(cids) == 2

        restarted = make_rebalancer(settings)
        try:
            still = await restarted.resolve()
            settled = [restarted.journal.order(cid) for cid in cids]
        finally:
            await restarted.close()
        state = await sim_state(ex)

    assert still == []
    by_cid = {o["client_order_id"]: o for o in state["orders"]}
    for record in settled:
        assert record.state is OrderState.FILLED
        exchange = by_cid[record.client_order_id]
        notional = Decimal(exchange["cum_quote"]) if exchange.get("cum_quote") else record.filled * record.average
        assert record.fee == (TAKER * notional), (record.client_order_id, record.fee, notional)
        assert record.fee == Decimal(exchange["commission"])
        assert record.fee_currency == "USDT"
    # what an operator reads with sqlite3: each order's notional was $1,000, so 0.4 USDT each
    rows = journal_rows(tmp_path / "journal.db", "SELECT state, fee, fee_currency FROM orders")
    assert [(r["state"], Decimal(r["fee"] or "NaN"), r["fee_currency"]) for r in rows] == [
        ("filled", Decimal("0.4"), "USDT")] * 2
