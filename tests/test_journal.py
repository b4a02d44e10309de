"""The SQLite journal: durability settings, the order transition table, idempotent intent, restarts
and crashes, concurrent writers, consistency checks, and `--since` durations."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from itertools import product
from pathlib import Path

import pytest

from rebalancer.domain import OrderResult, OrderState, PlannedOrder, Side
from rebalancer.journal import (
    SCHEMA_VERSION,
    TRANSITIONS,
    Journal,
    JournalError,
    parse_duration,
)

S = OrderState
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def planned(asset: str = "BTC", side: Side = Side.SELL, amount: str = "0.025", **kw) -> PlannedOrder:
    return PlannedOrder(
        asset=asset,
        symbol=f"{asset}/USDT:USDT",
        side=side,
        amount=Decimal(amount),
        base_amount=Decimal(amount),
        price=Decimal("40000"),
        reduce_only=kw.pop("reduce_only", False),
        **kw,
    )


def denied_leg(cid: str, asset: str = "BTC", codes: tuple[str, ...] = ("FUNDING",), **kw) -> PlannedOrder:
    return planned(asset, client_order_id=cid, denied_by=codes, **kw)


def start(j: Journal, cycle_id: str = "c1", seconds: float = 0, kind: str = "rebalance") -> None:
    j.start_cycle(cycle_id, kind=kind, execute=True, venue="main", started_at=at(seconds),
                  snapshot_summary={"nav": Decimal("10000")})


def intent(j: Journal, cid: str, cycle_id: str = "c1", seconds: float = 0, **kw):
    return j.record_intent(cycle_id, planned(**kw), client_order_id=cid, order_type="market", limit_price=None,
                           at=at(seconds))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "journal.db"


@pytest.fixture
def journal(db_path: Path):
    with Journal(db_path) as j:
        start(j)
        yield j


def reach(j: Journal, cid: str, state: OrderState) -> None:
    """Record an intent and move it to `state` along allowed transitions (DENIED: record_denied,
    the only way in)."""
    if state is S.DENIED:
        j.record_denied("c1", [denied_leg(cid)], at=at(1))
        assert j.order(cid).state is S.DENIED
        return
    intent(j, cid)
    if state is S.PENDING:
        return
    assert j.transition(cid, state, at=at(1))
    assert j.order(cid).state is state


ALLOWED = sorted(((a, b) for a, targets in TRANSITIONS.items() for b in targets), key=lambda p: (p[0].value, p[1].value))
DISALLOWED = sorted(
    ((a, b) for a, b in product(OrderState, OrderState) if a is not b and b not in TRANSITIONS[a]),
    key=lambda p: (p[0].value, p[1].value),
)


def pair_id(pair) -> str:
    return f"{pair[0].value}->{pair[1].value}"


def raw(path: Path) -> sqlite3.Connection:
    """A second, unrestricted connection (foreign keys off) to plant what a buggy writer could."""
    return sqlite3.connect(path, isolation_level=None)


# --------------------------------------------------------------------------- opening


def test_open_when_file_path_then_wal_full_sync_and_foreign_keys(db_path):
    """A file journal runs in WAL mode with synchronous=FULL, foreign keys on and the current schema."""
    with Journal(db_path) as j:
        conn = j._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
        assert j.schema_version == SCHEMA_VERSION
    # WAL is a property of the file: another connection sees it too.
    with raw(db_path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_open_when_parent_directory_missing_then_created(tmp_path):
    """The journal creates its parent directories (e.g. a fresh var/)."""
    path = tmp_path / "a" / "b" / "c" / "journal.db"
    with Journal(path):
        pass
    assert path.exists()


def test_open_when_memory_then_usable_for_tests():
    """':memory:' gives a working, empty journal."""
    with Journal(":memory:") as j:
        start(j)
        intent(j, "rb1")
        assert [o.client_order_id for o in j.unresolved_orders()] == ["rb1"]


def test_open_when_schema_is_newer_then_journal_error(db_path):
    """A file written by a newer program is refused instead of being misread."""
    Journal(db_path).close()
    with raw(db_path) as c:
        c.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(JournalError, match="newer"):
        Journal(db_path)


def test_reopen_when_already_migrated_then_migrations_not_rerun(db_path):
    """Opening an existing journal keeps its version and does not fail on existing tables."""
    Journal(db_path).close()
    with Journal(db_path) as j:
        assert j.schema_version == SCHEMA_VERSION


def test_use_when_closed_then_journal_error(db_path):
    """A closed journal refuses work with a clear error instead of a sqlite3 one."""
    j = Journal(db_path)
    j.close()
    j.close()  # idempotent
    with pytest.raises(JournalError, match="closed"):
        j.order("rb1")


# --------------------------------------------------------------------------- cycles


def test_start_cycle_when_new_then_running_with_summary(journal):
    """A started cycle is 'running' and returns its snapshot summary with Decimals as strings."""
    c = journal.cycle("c1")
    assert c.outcome == "running" and c.execute is True and c.kind == "rebalance" and c.venue == "main"
    assert c.started_at == T0 and c.started_at.tzinfo is not None and c.finished_at is None
    assert c.snapshot_summary == {"nav": "10000"}
    assert c.plan is None and c.verdict is None and c.result is None and c.error is None


def test_start_cycle_when_id_exists_then_journal_error(journal):
    """Two cycles never share an id."""
    with pytest.raises(JournalError, match="already exists"):
        start(journal)


def test_start_cycle_when_kind_unknown_then_value_error(journal):
    """Only rebalance, unwind and demo cycles exist."""
    with pytest.raises(ValueError, match="kind"):
        start(journal, "c2", kind="hedge")


def test_update_and_finish_cycle_when_running_then_fields_round_trip(journal):
    """Plan, verdict, result, outcome and finish time are stored and read back."""
    journal.update_cycle("c1", plan={"orders": [{"amount": Decimal("0.025"), "side": Side.SELL}]})
    journal.update_cycle("c1", verdict={"approved": True})
    journal.finish_cycle("c1", outcome="partial", finished_at=at(5), result={"filled": 1}, error="one rejected")
    c = journal.cycle("c1")
    assert c.plan == {"orders": [{"amount": "0.025", "side": "sell"}]}
    assert c.verdict == {"approved": True}
    assert (c.outcome, c.finished_at, c.result, c.error) == ("partial", at(5), {"filled": 1}, "one rejected")


def test_finish_cycle_when_already_finished_then_journal_error(journal):
    """A late 'interrupted' cannot overwrite a recorded outcome."""
    journal.finish_cycle("c1", outcome="done", finished_at=at(1))
    with pytest.raises(JournalError, match="already finished"):
        journal.finish_cycle("c1", outcome="interrupted", finished_at=at(2))
    assert journal.cycle("c1").outcome == "done"


@pytest.mark.parametrize("outcome", ["running", "failed_hard", ""])
def test_finish_cycle_when_outcome_invalid_then_value_error(journal, outcome):
    """Only the documented final outcomes are accepted."""
    with pytest.raises(ValueError, match="outcome"):
        journal.finish_cycle("c1", outcome=outcome, finished_at=at(1))


def test_update_cycle_when_cycle_missing_then_journal_error(journal):
    """Updating or finishing a cycle that was never started is an error."""
    with pytest.raises(JournalError, match="does not exist"):
        journal.update_cycle("nope", plan={})
    with pytest.raises(JournalError, match="does not exist"):
        journal.finish_cycle("nope", outcome="done", finished_at=at(1))


def test_cycles_when_since_and_limit_then_recent_oldest_first(journal):
    """cycles() filters by start time and keeps the latest `limit`, oldest first; last_cycle is the newest."""
    for n in range(2, 6):
        start(journal, f"c{n}", seconds=n * 60)
    assert [c.id for c in journal.cycles()] == ["c1", "c2", "c3", "c4", "c5"]
    assert [c.id for c in journal.cycles(since=at(180))] == ["c3", "c4", "c5"]
    assert [c.id for c in journal.cycles(limit=2)] == ["c4", "c5"]
    assert journal.last_cycle().id == "c5"
    assert [c.id for c in journal.running_cycles()] == ["c1", "c2", "c3", "c4", "c5"]


def test_last_cycle_when_journal_empty_then_none(db_path):
    """An empty journal has no last cycle and no orders."""
    with Journal(db_path) as j:
        assert j.last_cycle() is None and j.cycles() == [] and j.orders() == [] and j.order("x") is None


# --------------------------------------------------------------------------- intent


def test_record_intent_when_new_then_pending_with_intent_event(journal):
    """The intent is PENDING, never sent, with Decimals and aware datetimes, and one 'intent' event."""
    rec = journal.record_intent("c1", planned(reduce_only=True, leg="close"), client_order_id="rb1",
                                order_type="limit_ioc", limit_price=Decimal("40400.5"), at=at(1))
    assert rec.state is S.PENDING and rec.attempts == 0 and rec.filled == 0
    assert rec.amount == Decimal("0.025") and rec.limit_price == Decimal("40400.5")
    assert rec.side is Side.SELL and rec.reduce_only is True and rec.leg == "close"
    assert rec.created_at == at(1) == rec.updated_at
    assert journal.order("rb1") == rec
    [event] = journal.events("rb1")
    assert (event["kind"], event["from_state"], event["to_state"], event["at"]) == ("intent", None, S.PENDING, at(1))


def test_record_intent_when_same_content_twice_then_same_record_and_one_event(journal):
    """Recording the same intent again (a retried step) returns the original, unchanged."""
    first = intent(journal, "rb1", seconds=1)
    again = intent(journal, "rb1", seconds=9, amount="0.0250")  # same value written differently, later
    assert again == first
    assert len(journal.events("rb1")) == 1


def test_record_intent_when_id_exists_with_other_content_then_journal_error(journal):
    """Two different orders must never share a client order id."""
    intent(journal, "rb1")
    with pytest.raises(JournalError, match="different content.*amount"):
        intent(journal, "rb1", amount="0.03")
    with pytest.raises(JournalError, match="side"):
        intent(journal, "rb1", side=Side.BUY)
    assert journal.order("rb1").amount == Decimal("0.025")


def test_record_intent_when_planned_order_has_other_id_then_journal_error(journal):
    """The planner's client id and the journaled one must agree."""
    with pytest.raises(JournalError, match="carries client id"):
        journal.record_intent("c1", planned(client_order_id="rbA"), client_order_id="rbB", order_type="market",
                              limit_price=None, at=T0)


def test_record_intent_when_cycle_missing_then_journal_error(journal):
    """An order always belongs to a journaled cycle."""
    with pytest.raises(JournalError, match="cycle c9 does not exist"):
        intent(journal, "rb1", cycle_id="c9")
    assert journal.order("rb1") is None


def test_record_intent_when_time_is_naive_then_value_error(journal):
    """Naive datetimes are refused: the journal stores UTC and cannot guess a zone."""
    with pytest.raises(ValueError, match="naive"):
        journal.record_intent("c1", planned(), client_order_id="rb1", order_type="market", limit_price=None,
                              at=datetime(2026, 1, 1))


def test_record_intent_when_time_has_offset_then_stored_as_utc(journal):
    """An aware time in another zone comes back as the same instant in UTC."""
    cet = timezone(timedelta(hours=1))
    rec = journal.record_intent("c1", planned(), client_order_id="rb1", order_type="market", limit_price=None,
                                at=datetime(2026, 11, 25, 13, 0, tzinfo=cet))
    assert rec.created_at == T0 and rec.created_at.utcoffset() == timedelta(0)


# --------------------------------------------------------------------------- sending


def test_mark_sent_when_pending_then_attempts_counted_and_sent_event(journal):
    """Each send is counted and leaves a 'sent' event without changing the state."""
    intent(journal, "rb1")
    journal.mark_sent("rb1", at=at(1))
    rec = journal.order("rb1")
    assert rec.state is S.PENDING and rec.attempts == 1 and rec.updated_at == at(1)
    assert [e["kind"] for e in journal.events("rb1")] == ["intent", "sent"]
    assert journal.events("rb1")[-1]["detail"] == {"attempt": 1}


@pytest.mark.parametrize("state", [S.UNKNOWN, S.OPEN, S.FILLED, S.REJECTED, S.NOT_PLACED, S.DENIED])
def test_mark_sent_when_not_pending_then_journal_error(journal, state):
    """Only a PENDING order may be sent: resending an unknown, open or final one could double it."""
    reach(journal, "rb1", state)
    with pytest.raises(JournalError, match="not pending"):
        journal.mark_sent("rb1", at=at(2))
    assert journal.order("rb1").attempts == 0


def test_mark_sent_when_order_unknown_to_journal_then_journal_error(journal):
    """An order is journaled before it is sent, never the other way round."""
    with pytest.raises(JournalError, match="record_intent first"):
        journal.mark_sent("ghost", at=T0)


def test_resend_when_timeout_then_not_found_then_same_id_resent_and_filled(journal):
    """A timeout becomes UNKNOWN (never failed); 'not found' allows PENDING and a resend with the same id."""
    intent(journal, "rb1")
    journal.mark_sent("rb1", at=at(1))
    assert journal.transition("rb1", S.UNKNOWN, at=at(2), detail={"reason": "timeout"})
    assert journal.transition("rb1", S.PENDING, at=at(3), detail={"lookup": "not_found"})
    journal.mark_sent("rb1", at=at(4))
    filled = OrderResult("rb1", S.FILLED, exchange_order_id="x1", filled=Decimal("0.025"), average=Decimal("40010"))
    assert journal.transition("rb1", S.FILLED, at=at(5), result=filled)
    rec = journal.order("rb1")
    assert rec.state is S.FILLED and rec.attempts == 2 and rec.exchange_order_id == "x1"
    assert [(e["kind"], e["to_state"]) for e in journal.events("rb1")] == [
        ("intent", S.PENDING), ("sent", S.PENDING), ("transition", S.UNKNOWN), ("transition", S.PENDING),
        ("sent", S.PENDING), ("transition", S.FILLED),
    ]
    assert journal.events("rb1")[2]["detail"]["reason"] == "timeout"


# --------------------------------------------------------------------------- the transition table


# The table as the brief states it, written out independently: changing TRANSITIONS must be deliberate.
SPECIFIED_TABLE = {
    S.PENDING: {S.UNKNOWN, S.OPEN, S.FILLED, S.PARTIALLY_FILLED, S.CANCELED, S.EXPIRED, S.REJECTED, S.NOT_PLACED},
    S.UNKNOWN: {S.OPEN, S.FILLED, S.PARTIALLY_FILLED, S.CANCELED, S.EXPIRED, S.REJECTED, S.NOT_PLACED, S.PENDING},
    S.OPEN: {S.FILLED, S.PARTIALLY_FILLED, S.CANCELED, S.EXPIRED},
    S.PARTIALLY_FILLED: {S.FILLED},
    S.FILLED: set(), S.CANCELED: set(), S.EXPIRED: set(), S.REJECTED: set(), S.NOT_PLACED: set(),
    S.DENIED: set(),
}


def test_transition_table_when_compared_to_specification_then_identical():
    """TRANSITIONS is exactly the specified life cycle."""
    assert {state: set(targets) for state, targets in TRANSITIONS.items()} == SPECIFIED_TABLE
    assert len(ALLOWED) == 21 and len(DISALLOWED) == 10 * 9 - 21


def test_transition_table_when_inspected_then_final_states_are_dead_ends():
    """Every state has a row; final states have no exits except a partial fill's late completion;
    only UNKNOWN may go back to PENDING."""
    assert set(TRANSITIONS) == set(OrderState)
    for state, targets in TRANSITIONS.items():
        if state.final and state is not S.PARTIALLY_FILLED:
            assert targets == frozenset(), state
        assert state not in targets  # same-state updates are handled as duplicates or fill progress
    assert TRANSITIONS[S.PARTIALLY_FILLED] == {S.FILLED}
    assert [s for s, targets in TRANSITIONS.items() if S.PENDING in targets] == [S.UNKNOWN]
    # DENIED is entered only by record_denied: no transition leads into it, none leads out.
    assert S.DENIED.final and TRANSITIONS[S.DENIED] == frozenset()
    assert [s for s, targets in TRANSITIONS.items() if S.DENIED in targets] == []


@pytest.mark.parametrize("pair", ALLOWED, ids=pair_id)
def test_transition_when_allowed_then_applied_and_event_written(journal, pair):
    """Every transition in the table is applied and leaves exactly one event describing it."""
    source, target = pair
    reach(journal, "rb1", source)
    before = len(journal.events("rb1"))
    assert journal.transition("rb1", target, at=at(7), detail={"why": "test"}) is True
    rec = journal.order("rb1")
    assert rec.state is target and rec.updated_at == at(7)
    events = journal.events("rb1")
    assert len(events) == before + 1
    assert (events[-1]["from_state"], events[-1]["to_state"], events[-1]["detail"]["why"]) == (source, target, "test")


@pytest.mark.parametrize("pair", DISALLOWED, ids=pair_id)
def test_transition_when_not_in_table_then_refused_and_nothing_written(journal, pair):
    """A transition outside the table (from a final state, or backwards) returns False and changes nothing."""
    source, target = pair
    reach(journal, "rb1", source)
    before_order, before_events = journal.order("rb1"), journal.events("rb1")
    result = OrderResult("rb1", target, exchange_order_id="late", filled=Decimal("0.025"), error_code="-2019")
    assert journal.transition("rb1", target, at=at(7), result=result) is False
    assert journal.order("rb1") == before_order
    assert journal.events("rb1") == before_events


@pytest.mark.parametrize("state", list(OrderState), ids=lambda s: s.value)
def test_transition_when_same_state_and_same_fill_then_duplicate_ignored(journal, state):
    """A repeated report (same state, same fill) is a duplicate: False, no change, no event."""
    reach(journal, "rb1", state)
    fill = journal.order("rb1").filled
    before_order, before_events = journal.order("rb1"), journal.events("rb1")
    assert journal.transition("rb1", state, at=at(9), result=OrderResult("rb1", state, filled=fill)) is False
    assert journal.transition("rb1", state, at=at(9)) is False
    assert journal.order("rb1") == before_order and journal.events("rb1") == before_events


def test_transition_when_open_order_fill_grows_then_applied_as_progress(journal):
    """An OPEN order whose fill grows is updated and evented, then a smaller report is ignored."""
    reach(journal, "rb1", S.OPEN)
    assert journal.transition("rb1", S.OPEN, at=at(2), result=OrderResult("rb1", S.OPEN, filled=Decimal("0.01")))
    assert journal.order("rb1").filled == Decimal("0.01")
    assert journal.transition("rb1", S.OPEN, at=at(3), result=OrderResult("rb1", S.OPEN, filled=Decimal("0.005"))) is False
    assert journal.events("rb1")[-1]["detail"]["filled"] == "0.01"


def test_transition_when_final_state_reports_more_fill_then_ignored(journal):
    """A FILLED order never changes, even if a later report claims a different fill."""
    reach(journal, "rb1", S.FILLED)
    assert journal.transition("rb1", S.FILLED, at=at(2), result=OrderResult("rb1", S.FILLED, filled=Decimal("1"))) is False
    assert journal.order("rb1").filled == 0


def test_transition_when_partial_fill_is_completed_late_then_filled(journal):
    """A late fill report moves PARTIALLY_FILLED to FILLED with the full amount."""
    intent(journal, "rb1")
    part = OrderResult("rb1", S.PARTIALLY_FILLED, exchange_order_id="x1", filled=Decimal("0.01"))
    assert journal.transition("rb1", S.PARTIALLY_FILLED, at=at(1), result=part)
    full = OrderResult("rb1", S.FILLED, exchange_order_id="x1", filled=Decimal("0.025"), average=Decimal("40000"))
    assert journal.transition("rb1", S.FILLED, at=at(2), result=full)
    assert journal.order("rb1").filled == Decimal("0.025")
    assert journal.transition("rb1", S.PARTIALLY_FILLED, at=at(3), result=part) is False


def test_transition_when_report_has_smaller_fill_then_known_fill_kept(journal):
    """A cancel response without fill data does not erase a fill the journal already knows."""
    reach(journal, "rb1", S.OPEN)
    journal.transition("rb1", S.OPEN, at=at(2), result=OrderResult("rb1", S.OPEN, filled=Decimal("0.01")))
    assert journal.transition("rb1", S.CANCELED, at=at(3), result=OrderResult("rb1", S.CANCELED))
    rec = journal.order("rb1")
    assert rec.state is S.CANCELED and rec.filled == Decimal("0.01")


def test_transition_when_result_given_then_exchange_fields_copied_and_missing_ones_kept(journal):
    """Exchange id, fill, average, fee and error come from the result; None fields keep earlier values."""
    intent(journal, "rb1")
    journal.transition("rb1", S.OPEN, at=at(1), result=OrderResult("rb1", S.OPEN, exchange_order_id="x9"))
    journal.transition(
        "rb1", S.FILLED, at=at(2),
        result=OrderResult("rb1", S.FILLED, filled=Decimal("0.025"), average=Decimal("40001.5"),
                           fee=Decimal("0.4000150"), fee_currency="USDT"),
    )
    rec = journal.order("rb1")
    assert (rec.exchange_order_id, rec.filled, rec.average, rec.fee, rec.fee_currency) == (
        "x9", Decimal("0.025"), Decimal("40001.5"), Decimal("0.4000150"), "USDT")
    assert isinstance(rec.fee, Decimal)

    intent(journal, "rb2")
    rejected = OrderResult("rb2", S.REJECTED, error_code="-2019", error_message="Margin is insufficient.")
    assert journal.transition("rb2", S.REJECTED, at=at(3), result=rejected)
    rec2 = journal.order("rb2")
    assert (rec2.error_code, rec2.error_message, rec2.filled) == ("-2019", "Margin is insufficient.", 0)


def test_transition_when_state_given_as_text_then_accepted(journal):
    """The target state may be the enum's value (as read from JSON)."""
    intent(journal, "rb1")
    assert journal.transition("rb1", "open", at=at(1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown order state"):
        journal.transition("rb1", "failed", at=at(2))  # type: ignore[arg-type]


def test_transition_when_result_belongs_to_another_order_then_journal_error(journal):
    """A result is only applied to the order it describes."""
    intent(journal, "rb1")
    with pytest.raises(JournalError, match="applied to order rb1"):
        journal.transition("rb1", S.FILLED, at=at(1), result=OrderResult("rb2", S.FILLED))


def test_transition_when_order_unknown_to_journal_then_journal_error(journal):
    """The journal never invents an order from a report."""
    with pytest.raises(JournalError, match="not in the journal"):
        journal.transition("ghost", S.FILLED, at=T0)


# --------------------------------------------------------------------------- denied legs


def test_record_denied_when_legs_given_then_final_denied_rows_with_codes_and_one_event(journal):
    """Each denied leg is journaled as DENIED straight away with its id, order fields and codes."""
    records = journal.record_denied("c1", [
        denied_leg("rb-d0", "BTC", ("FUNDING",)),
        denied_leg("rb-d1", "ETH", ("NO_PRICE", "BASIS"), side=Side.BUY, amount="0.50", reduce_only=True),
    ], at=at(3))
    assert [r.client_order_id for r in records] == ["rb-d0", "rb-d1"]
    eth = journal.order("rb-d1")
    assert eth == records[1]
    assert (eth.cycle_id, eth.asset, eth.symbol, eth.side, eth.amount, eth.reduce_only, eth.leg) == (
        "c1", "ETH", "ETH/USDT:USDT", Side.BUY, Decimal("0.5"), True, "adjust")
    assert (eth.state, eth.error_code, eth.error_message, eth.denied_by) == (
        S.DENIED, "NO_PRICE,BASIS", None, ("NO_PRICE", "BASIS"))
    assert (eth.order_type, eth.limit_price, eth.attempts, eth.filled, eth.exchange_order_id) == (
        "none", None, 0, Decimal(0), None)
    assert (eth.created_at, eth.updated_at) == (at(3), at(3))
    assert journal.order("rb-d0").error_code == "FUNDING" and journal.order("rb-d0").denied_by == ("FUNDING",)
    events = journal.events("rb-d1")
    assert [(e["kind"], e["from_state"], e["to_state"], e["detail"]) for e in events] == [
        ("denied", None, S.DENIED, {"denied_by": ["NO_PRICE", "BASIS"]})]
    assert [o.client_order_id for o in journal.orders(cycle_id="c1")] == ["rb-d0", "rb-d1"]
    assert journal.unresolved_orders() == []


def test_record_denied_when_one_leg_is_bad_then_none_is_journaled(journal):
    """All legs go in one transaction: a leg without a client id rolls back the ones before it."""
    with pytest.raises(JournalError, match="no client order id"):
        journal.record_denied("c1", [denied_leg("rb-d0"), planned("ETH", denied_by=("FUNDING",))], at=at(1))
    assert journal.orders() == []


def test_record_denied_when_same_denial_twice_then_unchanged_and_other_content_refused(journal):
    """A repeated record_denied is harmless; the same id with other codes, size or state is a JournalError."""
    first = journal.record_denied("c1", [denied_leg("rb-d0")], at=at(1))
    assert journal.record_denied("c1", [denied_leg("rb-d0")], at=at(2)) == first
    assert len(journal.events("rb-d0")) == 1
    with pytest.raises(JournalError, match=r"different content \(denied_by\)"):
        journal.record_denied("c1", [denied_leg("rb-d0", codes=("BASIS",))], at=at(3))
    with pytest.raises(JournalError, match=r"different content \(amount\)"):
        journal.record_denied("c1", [denied_leg("rb-d0", amount="1")], at=at(3))
    intent(journal, "rb-sent")
    with pytest.raises(JournalError, match="state pending"):
        journal.record_denied("c1", [denied_leg("rb-sent")], at=at(3))
    assert journal.order("rb-sent").state is S.PENDING and journal.order("rb-d0") == first[0]


def test_record_denied_when_no_codes_then_state_denied_without_code(journal):
    """A denied leg that carries no code is still denied; its code fields stay empty."""
    journal.record_denied("c1", [denied_leg("rb-d0", codes=())], at=at(1))
    rec = journal.order("rb-d0")
    assert (rec.state, rec.error_code, rec.denied_by) == (S.DENIED, None, ())


def test_record_denied_when_cycle_missing_then_journal_error(journal):
    with pytest.raises(JournalError, match="cycle nope does not exist"):
        journal.record_denied("nope", [denied_leg("rb-d0")], at=at(1))


def test_denied_order_when_intent_send_or_report_follows_then_refused(journal):
    """A denied order is never sent: no intent, no send and no exchange report can revive it."""
    journal.record_denied("c1", [denied_leg("rb-d0")], at=at(1))
    with pytest.raises(JournalError, match="denied by the risk gate"):
        journal.record_intent("c1", denied_leg("rb-d0", codes=()), client_order_id="rb-d0", order_type="market",
                              limit_price=None, at=at(2))
    with pytest.raises(JournalError, match="not pending"):
        journal.mark_sent("rb-d0", at=at(2))
    for state in (S.PENDING, S.FILLED, S.NOT_PLACED):
        assert journal.transition("rb-d0", state, at=at(3), result=OrderResult("rb-d0", state)) is False
    assert journal.order("rb-d0").state is S.DENIED and len(journal.events("rb-d0")) == 1


def test_denied_order_when_journal_reopened_then_kept_and_consistent(db_path):
    """Denied rows survive a restart and a finished cycle owning them is consistent."""
    with Journal(db_path) as j:
        start(j)
        j.record_denied("c1", [denied_leg("rb-d0", codes=("MAX_GROSS",))], at=at(1))
        j.finish_cycle("c1", outcome="denied", finished_at=at(2))
        before = j.orders()
    with Journal(db_path) as j:
        assert j.orders() == before and before[0].denied_by == ("MAX_GROSS",)
        assert j.check_consistency() == []
        assert j.unresolved_orders() == []


# --------------------------------------------------------------------------- queries, restart, crash


def test_unresolved_orders_when_states_mixed_then_pending_unknown_open_oldest_first(journal):
    """Only PENDING, UNKNOWN and OPEN orders are unresolved, listed by creation time."""
    for n, state in enumerate([S.OPEN, S.FILLED, S.UNKNOWN, S.REJECTED, S.PENDING, S.PARTIALLY_FILLED]):
        intent(journal, f"rb{n}", seconds=10 - n)  # created newest first, so order by time is reversed
        if state is not S.PENDING:
            journal.transition(f"rb{n}", state, at=at(20))
    journal.record_denied("c1", [denied_leg("denied-oldest")], at=at(-5))  # final: never unresolved
    assert [o.client_order_id for o in journal.unresolved_orders()] == ["rb4", "rb2", "rb0"]


def test_orders_when_filtered_by_since_cycle_and_limit_then_matching_oldest_first(journal):
    """orders() filters by creation time and cycle and keeps the latest `limit`, oldest first."""
    start(journal, "c2", seconds=100)
    for n in range(5):
        intent(journal, f"a{n}", cycle_id="c1", seconds=n * 60)
        intent(journal, f"b{n}", cycle_id="c2", seconds=n * 60 + 30)
    assert [o.client_order_id for o in journal.orders(cycle_id="c2")] == [f"b{n}" for n in range(5)]
    assert [o.client_order_id for o in journal.orders(since=at(180))] == ["a3", "b3", "a4", "b4"]
    assert [o.client_order_id for o in journal.orders(limit=3)] == ["b3", "a4", "b4"]
    assert [o.client_order_id for o in journal.orders(cycle_id="c1", since=at(60), limit=2)] == ["a3", "a4"]
    assert journal.orders(limit=0) == []


def test_reopen_when_process_restarts_then_everything_is_kept(db_path):
    """Closing and reopening the file (a restart) returns the same cycles, orders and events."""
    with Journal(db_path) as j:
        start(j)
        j.update_cycle("c1", plan={"orders": 2})
        intent(j, "rb1")
        j.mark_sent("rb1", at=at(1))
        j.transition("rb1", S.FILLED, at=at(2), result=OrderResult("rb1", S.FILLED, "x1", Decimal("0.025"),
                                                                    Decimal("40000.10"), Decimal("0.01"), "USDT"))
        intent(j, "rb2", asset="ETH", side=Side.BUY, amount="0.5")
        j.finish_cycle("c1", outcome="partial", finished_at=at(3), result={"filled": ["rb1"]})
        before = (j.cycles(), j.orders(), j.events("rb1"), j.events("rb2"))
    with Journal(db_path) as j:
        assert (j.cycles(), j.orders(), j.events("rb1"), j.events("rb2")) == before
        assert j.order("rb1").average == Decimal("40000.10")
        assert [o.client_order_id for o in j.unresolved_orders()] == ["rb2"]


CRASHING_WRITER = textwrap.dedent(
    """
    import os, sys
    from datetime import datetime, timezone
    from decimal import Decimal
    from rebalancer.domain import OrderState, PlannedOrder, Side
    from rebalancer.journal import Journal

    t = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    j = Journal(sys.argv[1])
    j.start_cycle("c1", kind="rebalance", execute=True, venue="main", started_at=t, snapshot_summary={})
    def order(asset):
        return PlannedOrder(asset, asset + "/USDT:USDT", Side.SELL, Decimal("1"), Decimal("1"), Decimal("1"), False)
    j.record_intent("c1", order("BTC"), client_order_id="sent-then-crash", order_type="market", limit_price=None, at=t)
    j.mark_sent("sent-then-crash", at=t)
    j.record_intent("c1", order("ETH"), client_order_id="never-sent", order_type="market", limit_price=None, at=t)
    j.record_intent("c1", order("SOL"), client_order_id="filled", order_type="market", limit_price=None, at=t)
    j.transition("filled", OrderState.FILLED, at=t)
    denied = PlannedOrder("XRP", "XRP/USDT:USDT", Side.BUY, Decimal("1"), Decimal("1"), Decimal("1"), False,
                          client_order_id="denied", denied_by=("FUNDING",))
    j.record_denied("c1", [denied], at=t)
    os._exit(9)  # no close(), no cleanup: the process dies mid-cycle
    """
)


def test_unresolved_orders_when_process_crashed_mid_cycle_then_intents_survive(db_path):
    """After a hard crash, the journal still lists the unresolved intents and tells sent from never-sent."""
    db_path.parent.mkdir(parents=True)
    proc = subprocess.run([sys.executable, "-c", CRASHING_WRITER, str(db_path)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 9, proc.stderr
    with Journal(db_path) as j:
        unresolved = {o.client_order_id: o for o in j.unresolved_orders()}
        assert set(unresolved) == {"sent-then-crash", "never-sent"}
        # attempts says which ones must be looked up on the exchange and which were never sent.
        assert unresolved["sent-then-crash"].attempts == 1 and unresolved["never-sent"].attempts == 0
        assert j.order("filled").state is S.FILLED
        assert j.order("denied").state is S.DENIED  # final: not something a restart looks up
        assert [c.id for c in j.running_cycles()] == ["c1"]
        assert j.check_consistency() == []


# --------------------------------------------------------------------------- concurrency


def _writer(j: Journal, prefix: str, count: int, errors: list) -> None:
    try:
        for n in range(count):
            cid = f"{prefix}{n}"
            intent(j, cid, seconds=n)
            j.mark_sent(cid, at=at(n))
            j.transition(cid, S.OPEN, at=at(n))
            j.transition(cid, S.FILLED, at=at(n), result=OrderResult(cid, S.FILLED, filled=Decimal("0.025")))
    except BaseException as exc:  # surfaced by the test thread
        errors.append(exc)


def test_concurrent_writers_when_two_threads_share_a_journal_then_nothing_lost(journal):
    """Two threads writing through one Journal interleave without losing or corrupting rows."""
    errors: list = []
    threads = [threading.Thread(target=_writer, args=(journal, p, 40, errors)) for p in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    orders = journal.orders()
    assert len(orders) == 80 and all(o.state is S.FILLED and o.attempts == 1 for o in orders)
    assert all(len(journal.events(o.client_order_id)) == 4 for o in orders)
    assert journal.check_consistency() == []


def test_concurrent_writers_when_two_connections_share_the_file_then_nothing_lost(db_path):
    """Two Journal instances on one file (like daemon plus CLI) wait for each other instead of failing."""
    with Journal(db_path) as setup:
        start(setup)
    first, second = Journal(db_path), Journal(db_path)
    try:
        errors: list = []
        threads = [threading.Thread(target=_writer, args=(j, p, 25, errors)) for j, p in ((first, "a"), (second, "b"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
    finally:
        first.close()
        second.close()
    with Journal(db_path) as j:
        assert len(j.orders()) == 50 and j.unresolved_orders() == []
        assert j.check_consistency() == []


# --------------------------------------------------------------------------- consistency


def test_check_consistency_when_journal_is_clean_then_no_problems(journal):
    """A journal written only through the API is consistent, finished cycles included."""
    intent(journal, "rb1")
    journal.transition("rb1", S.FILLED, at=at(1), result=OrderResult("rb1", S.FILLED, filled=Decimal("0.025")))
    journal.finish_cycle("c1", outcome="done", finished_at=at(2))
    assert journal.check_consistency() == []


def test_check_consistency_when_problems_planted_then_each_is_reported(db_path):
    """Orphans, state/event disagreements, pending orders of finished cycles, overfills and bad cycles are found."""
    with Journal(db_path) as j:
        start(j, "c1")
        intent(j, "pending-in-done-cycle", cycle_id="c1")
        intent(j, "state-mismatch", cycle_id="c1")
        intent(j, "overfilled", cycle_id="c1")
        j.transition("overfilled", S.FILLED, at=at(1))
        j.record_denied("c1", [denied_leg("denied-but-sent"), denied_leg("denied-clean", "ETH")], at=at(1))
        j.finish_cycle("c1", outcome="done", finished_at=at(2))
        start(j, "c2", seconds=10)
        intent(j, "orphan", cycle_id="c2")
    with raw(db_path) as c:  # foreign keys are off on this connection, as in a careless tool
        c.execute("UPDATE orders SET state = 'filled' WHERE client_order_id = 'state-mismatch'")
        c.execute("UPDATE orders SET filled = '0.5' WHERE client_order_id = 'overfilled'")
        c.execute("DELETE FROM cycles WHERE id = 'c2'")
        c.execute("INSERT INTO cycles (id, kind, execute, venue, started_at, outcome) "
                  "VALUES ('c3', 'rebalance', 0, 'main', '2026-11-25T12:00:00.000000+00:00', 'done')")
        c.execute("INSERT INTO order_events (client_order_id, at, kind, to_state) VALUES ('ghost', 'x', 'intent', 'pending')")
        c.execute("UPDATE orders SET attempts = 1 WHERE client_order_id = 'denied-but-sent'")
    with Journal(db_path) as j:
        problems = j.check_consistency()
    text = "\n".join(problems)
    assert "order orphan references cycle c2, which does not exist" in text
    assert "order state-mismatch is 'filled' but its last event says 'pending'" in text
    assert "order pending-in-done-cycle is still pending but its cycle c1 finished as 'done'" in text
    assert "order overfilled filled 0.5, more than its amount 0.025" in text
    assert "cycle c3 finished as 'done' without finished_at" in text
    assert "events exist for order ghost, which does not exist" in text
    assert "order denied-but-sent is denied but was sent or traded (sends 1, exchange id None, fill 0)" in text
    assert "denied-clean" not in text  # a denied order in a finished cycle is final, not pending
    assert len(problems) == 7


# --------------------------------------------------------------------------- --since


@pytest.mark.parametrize(
    "text, expected",
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("7d", timedelta(days=7)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(minutes=90)),
        (" 2H ", timedelta(hours=2)),
    ],
)
def test_parse_duration_when_valid_then_timedelta(text, expected):
    """Whole numbers with s/m/h/d/w units (optionally combined) parse to a timedelta."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "30", "m", "2x", "1.5h", "-2h", "2 hours", "0m", "h2"])
def test_parse_duration_when_invalid_then_value_error_names_the_form(text):
    """Bad input raises ValueError quoting the input and showing the expected form."""
    with pytest.raises(ValueError, match=r"invalid duration .*(e\.g\. 90s, 30m|longer than zero)"):
        parse_duration(text)


def test_parse_duration_when_used_for_since_then_selects_recent_orders(journal):
    """`--since 2m` relative to now selects orders created in the last two minutes."""
    intent(journal, "old", seconds=0)
    intent(journal, "new", seconds=200)
    now = at(240)
    assert [o.client_order_id for o in journal.orders(since=now - parse_duration("2m"))] == ["new"]


def test_record_fields_when_replaced_then_frozen_dataclass_semantics():
    """Records are frozen values: replace() makes a copy, assignment fails."""
    with Journal(":memory:") as j:
        start(j)
        rec = intent(j, "rb1")
    assert replace(rec, attempts=3).attempts == 3
    with pytest.raises(Exception):
        rec.attempts = 3  # type: ignore[misc]


def test_record_fee_when_reported_after_fill_then_kept_with_event_and_state_unchanged(tmp_path):
    """A fee reported after the final state is stored, logged as a 'fee' event, and the journal stays consistent."""
    from datetime import datetime, timezone

    from rebalancer.domain import D, OrderResult, OrderState, PlannedOrder, Side
    from rebalancer.journal import Journal

    at = datetime(2026, 11, 25, 12, tzinfo=timezone.utc)
    order = PlannedOrder("BTC", "BTC/USDT:USDT", Side.SELL, D("0.025"), D("0.025"), D("40000"), False)
    with Journal(tmp_path / "j.db") as j:
        j.start_cycle("c1", kind="rebalance", execute=True, venue="main", started_at=at, snapshot_summary={})
        j.record_intent("c1", order, client_order_id="rb1", order_type="market", limit_price=None, at=at)
        j.mark_sent("rb1", at=at)
        j.transition("rb1", OrderState.FILLED, at=at, result=OrderResult("rb1", OrderState.FILLED, "9", D("0.025"), D("40000")))
        assert j.record_fee("rb1", fee=D("0.4"), fee_currency="USDT", at=at) is True
        assert j.record_fee("rb1", fee=D("0.4"), fee_currency="USDT", at=at) is False  # duplicate ignored
        record = j.order("rb1")
        assert (record.state, record.fee, record.fee_currency) == (OrderState.FILLED, D("0.4"), "USDT")
        assert [e["kind"] for e in j.events("rb1")][-1] == "fee"
        j.finish_cycle("c1", outcome="done", finished_at=at)
        assert j.check_consistency() == []


# --------------------------------------------------------------------------- open errors, read-only, forced state


def test_open_when_file_is_not_a_database_then_one_line_naming_file_and_fix(tmp_path):
    """A file that is not SQLite: JournalOpenError naming the absolute path and what to do."""
    from rebalancer.journal import JournalOpenError

    bad = tmp_path / "j.db"
    bad.write_text("not a database " * 200)
    with pytest.raises(JournalOpenError) as err:
        Journal(bad)
    message = str(err.value)
    assert str(bad.absolute()) in message and "not a rebalancer journal" in message
    assert "[journal] path" in message and "\n" not in message


def test_open_when_directory_read_only_then_reads_work_and_writes_name_the_fix(tmp_path, monkeypatch):
    """A journal whose directory this user cannot write (simulated: root ignores chmod) opens
    read-only by itself: reads (status, orders) work, a write says which file and what to do."""
    import os as _os

    from rebalancer.journal import JournalOpenError

    path = tmp_path / "ro" / "j.db"
    with Journal(path) as j:
        j.start_cycle("c1", kind="rebalance", execute=True, venue="main", started_at=T0, snapshot_summary={})
        j.set_forced_state("HALTED", reason="forced after 3 consecutive failures", since=T0)
    real_access = _os.access
    monkeypatch.setattr(_os, "access", lambda p, mode, **kw: False if mode & _os.W_OK else real_access(p, mode))
    with Journal(path) as ro:
        assert ro.read_only
        assert [c.id for c in ro.cycles()] == ["c1"]
        assert ro.forced_state().state == "HALTED"
        with pytest.raises(JournalOpenError, match=rf"{path.absolute()} is open read-only.*writable"):
            ro.start_cycle("c2", kind="rebalance", execute=True, venue="main", started_at=T0, snapshot_summary={})


def test_forced_state_when_set_then_kept_across_opens_until_cleared(tmp_path):
    """The trading state a daemon forces is journaled: another process reads and clears it."""
    path = tmp_path / "j.db"
    with Journal(path) as j:
        assert j.forced_state() is None and j.clear_forced_state() is None
        j.set_forced_state("REDUCING", reason="forced after 3 consecutive failures", since=T0, source="daemon")
    with Journal(path) as other:
        forced = other.forced_state()
        assert (forced.state, forced.reason, forced.since, forced.source) == (
            "REDUCING", "forced after 3 consecutive failures", T0, "daemon")
        assert other.clear_forced_state().state == "REDUCING"
        assert other.forced_state() is None


# --------------------------------------------------------------------------- retention, checkpoints, integrity


def _finish(j: Journal, cycle_id: str, seconds: float, outcome: str, kind: str = "rebalance") -> None:
    start(j, cycle_id, seconds, kind=kind)
    j.update_cycle(cycle_id, plan={"orders": ["x" * 100]}, verdict={"approved": []})
    j.finish_cycle(cycle_id, outcome=outcome, finished_at=at(seconds + 1), result={"snapshot": {"BTC": "1"}})


def test_prune_idle_cycles_when_older_than_cutoff_then_only_idle_json_dropped(journal):
    """Idle cycles (nothing_to_do, dry_run) before the cutoff lose snapshot/plan/verdict/result; newer
    idle cycles, cycles with orders, failed cycles, orders and events are untouched."""
    _finish(journal, "old-idle", 0, "nothing_to_do")
    _finish(journal, "old-dry", 10, "dry_run")
    _finish(journal, "old-failed", 20, "failed")
    start(journal, "old-done", 30)
    intent(journal, "o1", cycle_id="old-done", seconds=30)
    assert journal.transition("o1", S.FILLED, at=at(30))
    journal.finish_cycle("old-done", outcome="nothing_to_do", finished_at=at(31), result={"snapshot": {"a": 1}})
    _finish(journal, "new-idle", 1000, "nothing_to_do")

    assert journal.prune_idle_cycles(at(500)) == 2
    assert journal.prune_idle_cycles(at(500)) == 0  # already pruned

    for cid in ("old-idle", "old-dry"):
        c = journal.cycle(cid)
        assert (c.plan, c.verdict, c.result, c.snapshot_summary) == (None, None, None, {})
        assert c.outcome in ("nothing_to_do", "dry_run") and c.finished_at is not None
    for cid in ("old-failed", "old-done", "new-idle"):
        assert journal.cycle(cid).result is not None, cid
    assert journal.cycle("new-idle").plan is not None
    assert journal.order("o1") is not None and journal.events("o1")
    assert journal.check_consistency() == []


def test_checkpoint_when_wal_has_pages_then_truncated_to_zero(journal, db_path):
    """wal_checkpoint(TRUNCATE) copies the WAL into the file and leaves it empty."""
    for i in range(20):
        _finish(journal, f"k{i}", i * 10, "nothing_to_do")
    wal = Path(f"{db_path}-wal")
    assert wal.stat().st_size > 0
    busy, _, _ = journal.checkpoint()
    assert busy == 0 and wal.stat().st_size == 0
    assert len(journal.cycles()) == 21  # and the fixture's c1


def test_quick_check_when_pages_damaged_then_error_names_file(db_path):
    """A journal whose pages are damaged (but whose header opens) stops the daemon's start with the
    file named and what to do."""
    from rebalancer.journal import JournalOpenError

    with Journal(db_path) as j:
        for i in range(200):
            _finish(j, f"c{i}", i * 10, "nothing_to_do")
        j.checkpoint()
        j.quick_check()  # healthy: no error
    data = bytearray(db_path.read_bytes())
    page = 4096
    assert len(data) > 6 * page
    for p in range(2, len(data) // page):  # every page but the header page: garbage
        data[p * page + 8: p * page + 200] = b"\xff" * 192
    db_path.write_bytes(bytes(data))
    try:
        j = Journal(db_path)
    except JournalOpenError as exc:  # the damage may already show when the schema is read
        assert str(db_path) in str(exc)
        return
    with j, pytest.raises(JournalOpenError) as err:
        j.quick_check()
    assert str(db_path) in str(err.value) and "integrity check" in str(err.value)
    assert "\n" not in str(err.value) and len(str(err.value)) < 500


def test_describe_failure_when_disk_full_or_locked_then_one_line_naming_file(db_path):
    """A raw sqlite error from any journal call becomes one line with the file and the fix."""
    from rebalancer.journal import describe_failure, is_journal_failure

    full = sqlite3.OperationalError("database or disk is full")
    text = describe_failure(db_path, full)
    assert str(db_path) in text and "disk is full" in text and "\n" not in text
    assert "locked" in describe_failure(db_path, sqlite3.OperationalError("database is locked"))
    assert is_journal_failure(full) and not is_journal_failure(ValueError("plan"))


class _FullJournal:
    """A journal whose writes fail as on a full disk; reads work."""

    def __init__(self) -> None:
        self.full, self.row = True, None

    def forced_state(self):
        return self.row

    def set_forced_state(self, state, *, reason, since, source=""):
        if self.full:
            raise sqlite3.OperationalError("database or disk is full")
        from rebalancer.journal import ForcedState

        self.row = ForcedState(state, reason, since, source)

    def clear_forced_state(self):
        row, self.row = self.row, None
        return row


def test_force_when_journal_cannot_be_written_then_held_in_memory_and_saved_later(tmp_path, monkeypatch):
    """Forcing HALTED with a full journal halts at once from memory; once the journal can be
    written the forced state is saved there (so `resume` in another process can clear it)."""
    from rebalancer.domain import TradingState
    from rebalancer.settings import Settings
    from rebalancer.trading_state import TradingStateOwner

    monkeypatch.chdir(tmp_path)
    settings = Settings.model_validate({"portfolio": {"targets": {"BTC": 1}},
                                        "venues": {"main": {"exchange": "binance", "mode": "local",
                                                            "base_url": "http://127.0.0.1:1",
                                                            "roles": ["spot", "hedge"]}}})
    j = _FullJournal()
    owner = TradingStateOwner(settings, j)
    info = owner.force(TradingState.HALTED, "forced after 3 consecutive failures: journal full")
    assert info.state is TradingState.HALTED and owner.halted() and owner.forced is not None
    assert j.row is None
    j.full = False
    owner._next_save = 0  # noqa: SLF001 - skip the retry spacing
    assert owner.refresh().state is TradingState.HALTED
    assert j.row is not None and j.row.state == "HALTED"
    owner.clear_forced()
    assert owner.refresh().state is TradingState.ACTIVE
