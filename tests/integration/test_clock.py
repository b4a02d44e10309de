"""Prices are aged on this machine's clock: the exchange's measured time offset corrects its timestamps."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rebalancer.exchange_sim.runner import start_exchange
from rebalancer.service import Rebalancer
from tests.integration.conftest import EXAMPLE_1_SCENARIO, settings_for

pytestmark = pytest.mark.integration

SCENARIO = EXAMPLE_1_SCENARIO


@pytest.mark.parametrize("skew_ms", [3_600_000, -3_600_000])
async def test_exchange_clock_an_hour_off_then_prices_are_aged_on_the_measured_offset(tmp_path, fast_executor, skew_ms):
    """With the exchange's clock an hour ahead (or behind), ccxt's measured timeDifference brings its
    timestamps back to ours: prices are fresh, not dated in the future (nor an hour stale), and the
    cycle trades example 1."""
    async with start_exchange({**SCENARIO, "faults": {"clock_skew_ms": skew_ms}}) as ex:
        rb = Rebalancer(settings_for(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5}), executor_kw=fast_executor)
        try:
            report = await rb.cycle(execute=True)
        finally:
            await rb.close()
    assert report.error is None, report.error
    age = (report.snapshot.taken_at - report.snapshot.mark_prices["BTC"].timestamp).total_seconds()
    assert abs(age) < 5, age
    assert report.verdict.denials == () and report.outcome == "done"
    assert sorted((o.asset, o.base_amount) for o in report.verdict.approved) == [
        ("BTC", Decimal("0.025")), ("ETH", Decimal("0.5"))]
