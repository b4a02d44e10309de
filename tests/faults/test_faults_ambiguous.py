"""Ambiguous order outcomes through the project's fault proxy (tests/faults/proxy.py).

The exchange executes the order; the answer is lost or spoiled on the way back (reset, cut body,
truncated or garbage JSON, an HTML 502, an answer after the client's timeout), and the lookups by
client id may be answered with a forged "no such order" as well (the dialect's own: Binance -2013,
OKX 51603, Bybit empty lists). Binance frees a filled order's client id, so a resend on "not found"
would execute the intent twice: the executor must settle each order from the exchange's fill history
instead, and never send it again. Every test runs on every dialect.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from types import SimpleNamespace

import pytest

from rebalancer.domain import OrderState
from rebalancer.venues.errors import TransientError
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
from tests.faults.proxy import WRITE_MODES, running_proxy

pytestmark = [pytest.mark.faults, pytest.mark.integration]

TIMEOUT_MS = 800  # the client's timeout; the proxy's late answer comes well after it
LATE_S = 2.0


def executed_once(state: dict) -> list[str]:
    """Client ids the exchange holds more than once (an intent executed twice)."""
    return [cid for cid, n in Counter(o["client_order_id"] for o in state["orders"]).items() if n > 1]


def journal_equals_exchange(state: dict, journal, dialect) -> list[str]:
    """Every exchange order journaled with the exchange's order id and fill (in base units), and nothing more."""
    records = {r.client_order_id: r for r in journal.orders()}
    out = []
    for o in state["orders"]:
        r = records.get(o["client_order_id"])
        if r is None:
            out.append(f"{o['client_order_id']} not journaled")
            continue
        filled = dialect.base(r.asset, r.filled)
        if r.exchange_order_id != str(o["order_id"]) or filled != Decimal(o["executed_qty"]):
            out.append(f"{r.client_order_id}: journal {r.exchange_order_id}/{filled}, "
                       f"exchange {o['order_id']}/{o['executed_qty']}")
    return out


@pytest.mark.parametrize("forged", [0, 4], ids=["lookups-true", "not-found-x4"])
@pytest.mark.parametrize("mode", WRITE_MODES)
async def test_ambiguous_when_answer_lost_then_each_intent_executed_once_and_on_plan(
        dialect, tmp_path, fault_row, mode, forged):
    """One order's answer is spoiled after the exchange executed it (and, with not-found-x4, its
    next 4 lookups are answered "no such order"): it is settled from the exchange (by client id, or from the
    fill history), never resent; the journal equals the exchange; the positions are at plan within
    two cycles."""
    async with serve(example_scenario(), dialect) as ex:
        async with running_proxy(ex, late_s=LATE_S) as px:
            settings = settings_for(tmp_path, px, TARGETS, timeout_ms=TIMEOUT_MS)
            rb = make_rebalancer(settings)
            try:
                await rb.start()
                px.fail_next_write(mode)
                px.forge_not_found(forged)
                reports = [await rb.cycle(execute=True)]
                if positions(await sim_state(ex)) != EXAMPLE_1:
                    reports.append(await rb.cycle(execute=True))
                state = await sim_state(ex)
                result = audit(state, rb.journal, dialect)
                mismatch = journal_equals_exchange(state, rb.journal, dialect)
            finally:
                await rb.close()
    assert px.applied.count(mode) == 1
    assert px.forged_lookups == forged, (px.forged, px.applied, px.spoiled, sorted(k for k in state["requests"] if "order" in k))
    assert executed_once(state) == [], state["orders"]
    assert positions(state) == EXAMPLE_1
    assert len(reports) <= 2
    first = reports[0]
    assert first.outcome == "done", (first.error, [e.note for e in first.executed])
    assert [e.sends for e in first.executed] == [1, 1]  # the spoiled one was never sent again
    assert all(e.result.state is OrderState.FILLED for e in first.executed)
    assert any("outcome unknown" in e.note for e in first.executed), [e.note for e in first.executed]
    if forged:
        assert any("fill history" in e.note for e in first.executed)
    assert (result.orders_placed, result.duplicates, result.lost, result.unknown) == (2, [], [], [])
    assert mismatch == []
    fault_row(f"ambiguous: {mode}" + (" + not found x4" if forged else ""), len(reports), result)


async def reset_then_two_cycles(tmp_path, dialect, wrap, *, forged: int, between=lambda: None) -> SimpleNamespace:
    """Through the proxy: the first order's answer is reset after it executed and the next `forged`
    lookups say "not found"; two executing cycles (`between` runs after the first). Returns the
    reports, the first cycle's UNKNOWN legs, the exchange's state after each cycle, the audit, the
    journal-vs-exchange mismatches and the journal row of the first UNKNOWN leg."""
    async with serve(example_scenario(), dialect) as ex:
        async with running_proxy(ex, late_s=LATE_S) as px:
            settings = settings_for(tmp_path, px, TARGETS, timeout_ms=TIMEOUT_MS)
            rb = make_rebalancer(settings, wrap=wrap)
            try:
                await rb.start()
                px.fail_next_write("reset")
                px.forge_not_found(forged)
                first = await rb.cycle(execute=True)
                unknown = [e for e in first.executed if e.result.state is OrderState.UNKNOWN]
                mid = await sim_state(ex)
                between()
                second = await rb.cycle(execute=True)
                state = await sim_state(ex)
                return SimpleNamespace(
                    first=first, unknown=unknown, mid=mid, second=second, state=state,
                    result=audit(state, rb.journal, dialect), mismatch=journal_equals_exchange(state, rb.journal, dialect),
                    record=rb.journal.order(unknown[0].client_order_id) if unknown else None)
            finally:
                await rb.close()


async def test_ambiguous_when_no_proof_then_unknown_not_resent_and_next_cycle_settles(dialect, tmp_path, fault_row):
    """Reset after execution, 4 forged "not found" and the fill history unreadable in that cycle:
    no proof, so the order stays UNKNOWN and is not resent (the cycle is partial). The next
    cycle's settlement reads the fills (its lookups forged too) and journals it FILLED; the book
    is at plan within two cycles, each intent executed once."""
    fail = {"left": 1}

    class NoHistoryOnce(VenueProxy):
        async def fills_since(self, symbol, since):
            if fail["left"]:
                fail["left"] -= 1
                raise TransientError("trade history unavailable (test)")
            return await self.inner.fills_since(symbol, since)

    run = await reset_then_two_cycles(tmp_path, dialect, NoHistoryOnce, forged=8)
    first, unknown, mid, second, state, result = run.first, run.unknown, run.mid, run.second, run.state, run.result
    mismatch, record = run.mismatch, run.record
    assert first.outcome == "partial", first.outcome
    assert len(unknown) == 1 and unknown[0].sends == 1
    assert "fill history could not be read" in unknown[0].note
    assert len(mid["orders"]) == 2  # nothing resent while unknown
    assert record is not None and record.state is OrderState.FILLED
    assert second.outcome in ("done", "nothing_to_do"), second.error
    assert executed_once(state) == []
    assert positions(state) == EXAMPLE_1
    assert (result.duplicates, result.lost, result.unknown) == ([], [], [])
    assert mismatch == []
    fault_row("ambiguous: no proof, settled next cycle", 2, result)


async def test_ambiguous_when_foreign_fill_on_symbol_then_unknown_until_history_clears(dialect, tmp_path, fault_row):
    """The order's connection is reset before the exchange processes it (it did NOT execute) and
    the fill history shows a fill on the symbol that no journaled order explains and that does not
    fit ours (someone else traded it): no proof either way, so it stays UNKNOWN, is not resent,
    and the cycle is partial. Once the history shows nothing unexplained since the send, the next
    cycle settles it NOT_PLACED and re-plans from the real positions with a fresh client id."""
    from datetime import datetime, timezone

    from rebalancer.venues.ccxt_venue import Fill

    foreign = {"on": True}

    class ForeignFill(VenueProxy):
        async def fills_since(self, symbol, since):
            fills = await self.inner.fills_since(symbol, since)
            if foreign["on"] and symbol.startswith("BTC/"):
                fills.append(Fill(symbol, "999", None, "buy", Decimal("0.3"), Decimal("40000"),
                                  datetime.now(timezone.utc)))
            return fills

    async with serve(example_scenario(), dialect) as ex:
        settings = settings_for(tmp_path, ex, TARGETS, timeout_ms=TIMEOUT_MS)
        rb = make_rebalancer(settings, wrap=ForeignFill)
        try:
            await rb.start()
            await sim_post(ex, "faults", {"reset_connections": 1, "faults_on": "orders"})
            first = await rb.cycle(execute=True)
            unknown = [e for e in first.executed if e.result.state is OrderState.UNKNOWN]
            blocked = await rb.cycle(execute=True)  # the foreign fill is still unexplained
            mid = await sim_state(ex)
            foreign["on"] = False
            second = await rb.cycle(execute=True)
            state = await sim_state(ex)
            result = audit(state, rb.journal, dialect)
            record = rb.journal.order(unknown[0].client_order_id) if unknown else None
        finally:
            await rb.close()
    assert first.outcome == "partial", first.outcome
    assert len(unknown) == 1 and unknown[0].order.symbol.startswith("BTC/") and unknown[0].sends == 1
    assert "does not fit" in unknown[0].note
    assert blocked.outcome == "failed" and blocked.unresolved, blocked.outcome
    assert [o["symbol"] for o in mid["orders"]] == ["ETHUSDT"]  # never resent while unknown
    assert record is not None and record.state is OrderState.NOT_PLACED
    assert second.outcome == "done", second.error
    assert executed_once(state) == []
    assert positions(state) == EXAMPLE_1
    assert (result.duplicates, result.lost, result.unknown) == ([], [], [])
    fault_row("ambiguous: foreign fill, settled when history clears", 3, result)


async def test_ambiguous_when_fill_history_lags_then_the_position_stops_the_resend(dialect, tmp_path, fault_row):
    """The order executed, its answer was reset, 4 lookups say "not found" and the fill history is
    behind (shows nothing yet): the fill history alone would "prove" it never executed. The
    position moved by the order's size since the snapshot, so it is not resent: UNKNOWN this cycle,
    settled from the (caught-up) history next cycle, each intent executed once."""
    lagging = {"on": True}

    class LaggingHistory(VenueProxy):
        async def fills_since(self, symbol, since):
            fills = await self.inner.fills_since(symbol, since)
            return [] if lagging["on"] else fills

    run = await reset_then_two_cycles(tmp_path, dialect, LaggingHistory, forged=4,
                                      between=lambda: lagging.update(on=False))
    first, unknown, mid, second, state, result = run.first, run.unknown, run.mid, run.second, run.state, run.result
    assert len(unknown) == 1 and unknown[0].sends == 1, [(e.result.state, e.note) for e in first.executed]
    assert "the position moved" in unknown[0].note
    assert len(mid["orders"]) == 2 and executed_once(mid) == []  # not resent
    assert second.outcome in ("done", "nothing_to_do"), second.error
    assert executed_once(state) == [] and positions(state) == EXAMPLE_1
    assert (result.duplicates, result.lost, result.unknown) == ([], [], [])
    fault_row("ambiguous: fill history lags, position says executed", 2, result)
