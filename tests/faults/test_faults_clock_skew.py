"""A timestamp rejection (Binance -1021, Bybit 10002, OKX 50102) after the exchange's clock jumps:
resync the clock and succeed, on every dialect.

The exchange rejects such a request before matching, so even an order is certainly not executed and may
be resent.
"""

from __future__ import annotations


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


class SkewBeforeWrites(VenueProxy):
    """The exchange's clock jumps right before the cycle's writes (the executor prepares leverage and
    margin mode before any order): the next signed calls are the setup and the orders, not the
    cycle's own reads such as the open-order check after the snapshot."""

    def __init__(self, inner, ex, skew_ms: int) -> None:
        super().__init__(inner)
        self.ex, self.skew_ms, self.skewed = ex, skew_ms, False

    async def prepare(self, symbols):
        if not self.skewed:
            self.skewed = True
            await sim_post(self.ex, "faults", {"clock_skew_ms": self.skew_ms})
        return await self.inner.prepare(symbols)


@pytest.mark.parametrize("direction", [0, 1], ids=["exchange-ahead", "exchange-behind"])
async def test_clock_skew_when_reads_hit_1021_then_resync_and_cycle_done(dialect, tmp_path, fault_row, direction):
    """The exchange clock moves after connect (ahead, or behind, by more than the venue accepts: Binance
    30 s ahead / 5 s behind, OKX 35 s): the snapshot's signed reads get the timestamp rejection,
    the venue resyncs (the dialect's clock, e.g. GET /api/v3/time) and retries, and the cycle lands on plan."""
    skew_ms = dialect.clock_skews_ms[direction]
    async with serve(example_scenario(), dialect) as ex:
        settings = settings_for(tmp_path, ex, TARGETS)
        rb = make_rebalancer(settings)
        try:
            await rb.start()
            syncs_before = (await sim_state(ex))["requests"].get(dialect.time_route, 0)
            await sim_post(ex, "faults", {"clock_skew_ms": skew_ms})
            report = await rb.cycle(execute=True)
            state = await sim_state(ex)
            result = audit(state, rb.journal, dialect)
        finally:
            await rb.close()
    assert report.outcome == "done", report.error
    assert state["requests"].get(dialect.time_route, 0) > syncs_before
    assert positions(state) == EXAMPLE_1
    assert (result.orders_placed, result.duplicates, result.lost) == (2, [], [])
    fault_row(f"clock skew {skew_ms:+d} ms on reads ({dialect.timestamp_rejected})", 1, result)


@pytest.mark.parametrize("prepared", [True, False], ids=["orders", "leverage-setup-and-orders"])
async def test_clock_skew_when_writes_hit_1021_then_resync_resend_same_id_and_done(dialect, tmp_path, fault_row, prepared):
    """The clock jumps between snapshot and orders: the writes get the timestamp rejection, the clock is resynced and each
    order is sent again with the same client id (it was refused before matching); no duplicate.
    Without an earlier cycle, leverage/margin setup meets the skew first and is retried after a resync."""
    cycles = 0
    async with serve(example_scenario(), dialect) as ex:
        settings = settings_for(tmp_path, ex, TARGETS)
        rb = make_rebalancer(settings, wrap=lambda v: SkewBeforeWrites(v, ex, dialect.clock_skews_ms[0]))
        try:
            await rb.start()
            if prepared:  # leverage and margin mode already set by an earlier order in this process
                await rb.venue.inner.prepare(["BTC/USDT:USDT", "ETH/USDT:USDT"])
            # (the executor calls prepare even when every symbol is prepared: the skew lands there)
            report = await rb.cycle(execute=True)
            cycles += 1
            state = await sim_state(ex)
            result = audit(state, rb.journal, dialect)
        finally:
            await rb.close()
    assert report.outcome == "done", report.error
    assert all(e.result.state is OrderState.FILLED for e in report.executed)
    if prepared:
        assert all(e.sends == 2 and "clock skew" in e.note for e in report.executed)
    assert positions(state) == EXAMPLE_1
    assert (result.orders_placed, result.duplicates, result.lost) == (2, [], [])
    fault_row(f"clock skew ({dialect.timestamp_rejected}) on " + ("orders" if prepared else "leverage setup + orders"),
              cycles, result)
