"""Prices move between the snapshot and the orders: the cycle trades the planned amounts (no more),
its notional error is bounded by the move, and the next cycle corrects the drift the move left."""

from __future__ import annotations

import asyncio
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

BAND = Decimal("0.02")


class MoveBeforeFirstOrder(VenueProxy):
    """Moves the exchange's spot and mark prices once, after the plan and before the first order leaves."""

    def __init__(self, inner, ex, prices: dict) -> None:
        super().__init__(inner)
        self.ex, self.prices, self.moved = ex, prices, False
        self.lock = asyncio.Lock()

    async def place(self, order, client_order_id, order_type, limit_price, **kwargs):
        async with self.lock:
            if not self.moved:
                self.moved = True
                await sim_post(self.ex, "prices", self.prices)
        return await self.inner.place(order, client_order_id, order_type, limit_price, **kwargs)


def weights(state: dict) -> dict[str, Decimal]:
    """Effective weights with nav = spot, from the exchange's own numbers."""
    marks = {a: Decimal(m["mark"]) for a, m in state["markets"].items()}
    spot = {a: Decimal(state["spot"].get(a, "0")) * Decimal(m["spot"]) for a, m in state["markets"].items()}
    nav = sum(spot.values())
    held = positions(state)
    return {a: (spot[a] + held.get(a, Decimal(0)) * marks[a]) / nav for a in spot}


@pytest.mark.parametrize("move", [{"BTC": 44000, "ETH": 1800}, {"BTC": 37000, "ETH": 2150}],
                         ids=["btc+10%-eth-10%", "btc-7.5%-eth+7.5%"])
async def test_price_move_when_between_snapshot_and_orders_then_no_overshoot_and_next_cycle_corrects(
        dialect, tmp_path, fault_row, move):
    """Planned at 40,000 / 2,000, executed after the move: each order fills exactly its planned base
    amount (rounded toward zero, never more), the notional differs from plan by at most the move, and
    the next cycle brings every weight back inside the band; a third cycle has nothing to do."""
    before = {"BTC": Decimal(40000), "ETH": Decimal(2000)}
    async with serve(example_scenario(), dialect) as ex:
        settings = settings_for(tmp_path, ex, TARGETS)
        rb = make_rebalancer(settings, wrap=lambda v: MoveBeforeFirstOrder(v, ex, move))
        try:
            moved = await rb.cycle(execute=True)
            after_move = await sim_state(ex)
            corrected = await rb.cycle(execute=True)
            settled = await rb.cycle(execute=True)
            state = await sim_state(ex)
            result = audit(state, rb.journal, dialect)
        finally:
            await rb.close()
    assert moved.outcome == "done", moved.error
    assert positions(after_move) == EXAMPLE_1  # exactly the planned base amounts, no overshoot
    for e in moved.executed:
        assert e.result.state is OrderState.FILLED and e.result.filled == e.order.amount
        change = abs(Decimal(move[e.order.asset]) / before[e.order.asset] - 1)
        traded = dialect.base(e.order.asset, e.result.filled) * e.result.average
        assert abs(traded - e.order.notional) <= e.order.notional * change
    assert any(abs(w - Decimal("0.5")) > BAND for w in weights(after_move).values())  # the move left drift
    assert corrected.outcome == "done" and corrected.plan.triggered, corrected.error
    assert all(abs(w - Decimal("0.5")) <= BAND for w in weights(state).values())
    assert settled.outcome == "nothing_to_do"
    assert result.duplicates == [] and result.lost == []
    assert result.orders_placed == len(moved.executed) + len(corrected.executed) == 4
    fault_row(f"price move between snapshot and orders ({'/'.join(map(str, move.values()))})", 3, result)
