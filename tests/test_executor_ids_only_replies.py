"""Ids-only create replies (Bybit, OKX): each symbol's last leg is looked up beside the cycle's confirming
reads, an earlier leg (a flip's close) before the next leg is sent, and an accepted order that cannot be
found yet stays UNKNOWN, is never sent again and is settled by the next cycle.

Real ccxt over HTTP against the local exchange in the bybit and okx dialects (one exchange per test).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from rebalancer.domain import CycleOutcome, OrderState
from rebalancer.service import Rebalancer
from tests.integration.conftest import settings_for, sim_state, start_exchange

pytestmark = pytest.mark.integration

# DOMAIN.md example 1's spot with a long BTC hedge the plan must flip: BTC closes 0.05 and opens 0.025 short
# (two legs on one symbol), ETH opens 0.5 long (OKX in contracts of 0.01 BTC / 0.1 ETH: the suites' adjustment).
SCENARIO = {
    "markets": {"BTC": {"spot_price": 40000, "amount_step": 0.001}, "ETH": {"spot_price": 2000, "amount_step": 0.001}},
    "spot": {"BTC": 0.15, "ETH": 2, "USDT": 0},
    "futures": {"wallet": 10000, "leverage": 3, "positions": [{"symbol": "BTC", "amount": 0.05, "entry_price": 40000}]},
}
LATER = "looked up by client id after an ids-only reply"


@pytest.fixture(params=["bybit", "okx"])
async def rebalancer(request, tmp_path: Path):
    async with start_exchange(SCENARIO, request.param) as ex:
        rb = Rebalancer(settings_for(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5}, min_order_notional=10))
        try:
            yield rb, ex
        finally:
            await rb.close()


def reasons(rb, cid: str) -> list[str]:
    return [ev["detail"].get("reason", "") for ev in rb.journal.events(cid) if ev["kind"] == "transition"]


async def test_cycle_when_replies_carry_ids_only_then_last_legs_settle_with_the_confirmation(rebalancer):
    """Every order ends FILLED in the journal with its fee; the flip's close was looked up (FILLED) before the
    open leg was sent, and only the last legs (BTC open, ETH) were settled by the later lookup."""
    rb, ex = rebalancer
    report = await rb.cycle(execute=True)
    assert report.outcome is CycleOutcome.DONE, report.error
    legs = {(e.order.asset, e.order.leg): e for e in report.executed}
    assert set(legs) == {("BTC", "close"), ("BTC", "open"), ("ETH", "adjust")}
    for e in report.executed:
        record = rb.journal.order(e.client_order_id)
        assert record.state is OrderState.FILLED and record.fee is not None, e.client_order_id
        assert record.base_filled == e.order.base_amount
    close, opened = legs["BTC", "close"], legs["BTC", "open"]
    assert LATER not in reasons(rb, close.client_order_id)
    assert LATER in reasons(rb, opened.client_order_id) and LATER in reasons(rb, legs["ETH", "adjust"].client_order_id)
    close_filled = next(ev["id"] for ev in rb.journal.events(close.client_order_id)
                        if ev["kind"] == "transition" and ev["to_state"] is OrderState.FILLED)
    open_sent = next(ev["id"] for ev in rb.journal.events(opened.client_order_id) if ev["kind"] == "sent")
    assert close_filled < open_sent
    positions = {a: Decimal(str(p["amount"])) for a, p in (await sim_state(ex))["futures"]["positions"].items()}
    assert positions == {"BTC": Decimal("-0.025"), "ETH": Decimal("0.5")}
    assert not report.mismatches


async def test_accepted_order_not_found_yet_then_unknown_never_resent_and_next_cycle_settles_it(rebalancer,
                                                                                             monkeypatch):
    """The lookups after the ids-only replies find nothing (the exchange lags): those orders stay UNKNOWN with
    their exchange ids, nothing is sent twice, and the next cycle settles them by client id and trades nothing
    more, the book on plan."""
    rb, ex = rebalancer
    real_lookup = rb.venue.lookup
    lagging = True

    async def lagging_lookup(symbol, cid):
        if lagging:
            return None
        return await real_lookup(symbol, cid)

    monkeypatch.setattr(rb.venue, "lookup", lagging_lookup)
    rb.executor.lookup_delay_s = 0.01
    first = await rb.cycle(execute=True)
    unknown = [e for e in first.executed if e.result.state is OrderState.UNKNOWN]
    # The flip's close was looked up at once (before the open leg left), so it is FILLED; the last legs wait.
    assert {(e.order.asset, e.order.leg) for e in unknown} == {("BTC", "open"), ("ETH", "adjust")}
    assert first.outcome is CycleOutcome.PARTIAL
    for e in unknown:
        record = rb.journal.order(e.client_order_id)
        assert record.state is OrderState.UNKNOWN and record.exchange_order_id and record.attempts == 1
    lagging = False
    second = await rb.cycle(execute=True)
    assert second.outcome in (CycleOutcome.DONE, CycleOutcome.NOTHING_TO_DO), second.error
    for e in unknown:
        assert rb.journal.order(e.client_order_id).state is OrderState.FILLED
    state = await sim_state(ex)
    sent = [o["client_order_id"] for o in state["orders"]]
    assert len(sent) == len(set(sent))  # nothing sent twice
    positions = {a: Decimal(str(p["amount"])) for a, p in state["futures"]["positions"].items()}
    assert positions == {"BTC": Decimal("-0.025"), "ETH": Decimal("0.5")}


async def test_confirmation_when_positions_read_before_fills_applied_then_read_again_not_a_mismatch(
        rebalancer, monkeypatch):
    """On an ids-only venue the confirming position read runs beside the lookups, so it may see the book
    before the exchange applied the fills: a mismatch then reads the positions once more (here the first
    read is stale on purpose) and the cycle is DONE, with no mismatch reported."""
    rb, _ = rebalancer
    real = rb.venue.positions
    stale = await real()  # the book before the cycle's orders
    calls = []

    async def positions():
        calls.append(1)
        return stale if len(calls) == 1 else await real()

    monkeypatch.setattr(rb.venue, "positions", positions)
    report = await rb.cycle(execute=True)
    assert report.outcome is CycleOutcome.DONE and not report.mismatches, (report.error, report.mismatches)
    assert len(calls) == 2
    assert {a: p.amount for a, p in report.positions_after.items()} == {"BTC": Decimal("-0.025"),
                                                                        "ETH": Decimal("0.5")}
