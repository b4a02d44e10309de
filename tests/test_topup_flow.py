"""The margin top-up's decisions (rebalancer.topup) over a hand-written venue and a real journal: intent
before the request, never a second transfer after an unknown one, settling from the transfer history,
refusals, failures, and the Journal's transfer rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from rebalancer.domain import Holding, Snapshot, TradingState, Verdict
from rebalancer.journal import Journal, JournalError
from rebalancer.topup import top_up, top_up_alert
from rebalancer.venues.errors import FatalError, InsufficientMarginError, UnknownOutcomeError, VenueError
from rebalancer.venues.exchanges import WalletTransfer, WalletTransfers

D = Decimal
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=timezone.utc)


@dataclass
class FakeVenue:
    """The top-up's slice of CcxtVenue: every transfer it is asked for, and a scripted answer."""

    history: list[WalletTransfer] | None = field(default_factory=list)  # None: the venue has no history
    fail_with: VenueError | None = None
    executes_on_failure: bool = True  # an UnknownOutcomeError after the exchange moved the money
    history_error: VenueError | None = None
    refusal: str | None = None
    sent: list[tuple[str, Decimal, str]] = field(default_factory=list)
    spot_cfg: Any = field(default_factory=lambda: SimpleNamespace(name="main"))
    hedge_cfg: Any = field(default_factory=lambda: SimpleNamespace(
        name="main", exchange="fakex", spec=SimpleNamespace(transfers=WalletTransfers("spot", "swap"))))

    @property
    def transfer_refusal(self) -> str | None:
        return self.refusal

    @property
    def transfer_history_known(self) -> bool:
        return self.history is not None

    def transfer_client_id(self, hex32: str) -> str:
        return hex32

    async def transfer_to_futures(self, currency: str, amount: Decimal, client_id: str) -> str | None:
        self.sent.append((currency, amount, client_id))
        executed = self.fail_with is None or (isinstance(self.fail_with, UnknownOutcomeError) and self.executes_on_failure)
        if executed and self.history is not None:
            self.history.append(WalletTransfer(f"t{len(self.sent)}", currency, amount, NOW + timedelta(seconds=1)))
        if self.fail_with is not None:
            raise self.fail_with
        return f"t{len(self.sent)}"

    async def transfers_since(self, currency: str, since: datetime) -> list[WalletTransfer]:
        if self.history_error is not None:
            raise self.history_error
        return [t for t in self.history or () if t.at >= since]


def settings(enabled=True, cap="500") -> Any:
    return SimpleNamespace(protection=SimpleNamespace(top_up_from_spot=enabled, top_up_max_per_day=D(cap)))


def snapshot(spot_usdt="3000") -> Snapshot:
    return Snapshot(taken_at=NOW, quote="USDT", holdings=(Holding("USDT", D(spot_usdt), "main:spot"),
                                                          Holding("USDT", D(99999), "cold", external=True)))


def verdict(equity="-50", maint="100") -> Verdict:
    return Verdict(state=TradingState.ACTIVE, approved=(), denials=(), stressed_equity=D(equity),
                   stressed_maintenance=D(maint))


@pytest.fixture
def journal():
    with Journal(":memory:") as j:
        yield j


async def run(venue, journal, *, now=NOW, **kw):
    return await top_up(venue, journal, kw.pop("settings", settings()), kw.pop("snapshot", snapshot()),
                        kw.pop("verdict", verdict()), cycle_id="cy1", now=now)


async def test_when_disabled_or_not_needed_then_none_and_nothing_sent(journal):
    venue = FakeVenue()
    assert await run(venue, journal, settings=settings(enabled=False)) is None
    assert await run(venue, journal, verdict=verdict("100", "100")) is None
    assert venue.sent == [] and journal.transfers() == []


async def test_when_needed_then_moves_the_shortfall_with_headroom_journaled_done(journal):
    """Stressed equity -50 under maintenance 100: 110 - (-50) = 160 moved, journaled done with the id."""
    venue = FakeVenue()
    result = await run(venue, journal)
    assert (result.state, result.amount, result.currency) == ("done", D("160.00"), "USDT")
    assert venue.sent == [("USDT", D("160.00"), result.client_id)]
    [row] = journal.transfers()
    assert (row.state, row.amount, row.transfer_id, row.cycle_id, row.from_wallet, row.to_wallet) == (
        "done", D("160.00"), "t1", "cy1", "spot", "swap")


async def test_free_spot_is_the_venues_own_wallets_not_cold_holdings(journal):
    result = await run(FakeVenue(), journal, snapshot=snapshot("40"))
    assert result.amount == D("40.00") and "free spot USDT 40" in result.reason


async def test_when_the_answer_is_lost_and_history_shows_it_then_done_and_never_resent(journal):
    venue = FakeVenue(fail_with=UnknownOutcomeError("timed out"))
    result = await run(venue, journal)
    assert result.state == "done" and "history shows it" in result.reason and result.error == "timed out"
    assert journal.transfers()[0].transfer_id == "t1" and len(venue.sent) == 1


async def test_when_the_answer_is_lost_and_history_does_not_show_it_then_unknown_and_no_second_today(journal):
    venue = FakeVenue(fail_with=UnknownOutcomeError("timed out"), executes_on_failure=False)
    first = await run(venue, journal)
    assert first.state == "unknown" and "does not show it" in first.reason
    venue.fail_with = None
    second = await run(venue, journal, now=NOW + timedelta(hours=1))
    assert second.state == "refused" and "unknown outcome" in second.reason and "2026-12-03" in second.reason
    assert len(venue.sent) == 1
    # the next UTC day the allowance is fresh again (the unknown one stays unknown, counted on its own day)
    third = await run(venue, journal, now=NOW + timedelta(days=1))
    assert third.state == "done" and len(venue.sent) == 2


async def test_when_no_history_then_a_lost_answer_stays_unknown(journal):
    venue = FakeVenue(history=None, fail_with=UnknownOutcomeError("reset"))
    first = await run(venue, journal)
    assert first.state == "unknown" and "no transfer history" in first.reason
    assert (await run(venue, journal)).state == "refused" and len(venue.sent) == 1


async def test_when_history_read_fails_then_unknown(journal):
    venue = FakeVenue(fail_with=UnknownOutcomeError("reset"), history_error=FatalError("route not found"))
    first = await run(venue, journal)
    assert first.state == "unknown" and "could not be read: route not found" in first.reason


async def test_a_pending_intent_left_by_a_crash_is_settled_from_history_before_deciding(journal):
    """A crash after the intent: the next top-up finds the transfer in the history (done), and counts it."""
    venue = FakeVenue(history=[WalletTransfer("x9", "USDT", D("160.00"), NOW + timedelta(seconds=2))])
    journal.record_transfer_intent("crashed", cycle_id="cy0", currency="USDT", amount=D("160.00"),
                                   from_wallet="spot", to_wallet="swap", reason="r", at=NOW)
    result = await run(venue, journal, settings=settings(cap="200"), now=NOW + timedelta(minutes=15))
    assert journal.transfer("crashed").state == "done" and journal.transfer("crashed").transfer_id == "x9"
    assert result.state == "done" and result.amount == D("40.00")  # 200 - 160 left today
    assert [s[1] for s in venue.sent] == [D("40.00")]


async def test_history_rows_of_another_journaled_transfer_or_another_id_are_not_taken(journal):
    venue = FakeVenue(history=[WalletTransfer("t1", "USDT", D("160.00"), NOW + timedelta(seconds=1)),
                               WalletTransfer("b", "USDT", D("160.00"), NOW, client_id="someone-else")])
    journal.record_transfer_intent("old", cycle_id="c", currency="USDT", amount=D("160.00"), from_wallet="spot",
                                   to_wallet="swap", reason="", at=NOW)
    journal.update_transfer("old", state="done", at=NOW, transfer_id="t1")
    journal.record_transfer_intent("new", cycle_id="c", currency="USDT", amount=D("160.00"), from_wallet="spot",
                                   to_wallet="swap", reason="", at=NOW)
    await run(venue, journal, settings=settings(cap="320"))
    assert journal.transfer("new").state == "unknown"


async def test_when_the_exchange_refuses_then_failed_not_counted(journal):
    venue = FakeVenue(fail_with=InsufficientMarginError("balance insufficient", code="131212"))
    first = await run(venue, journal)
    assert (first.state, first.error) == ("failed", "balance insufficient")
    assert journal.transfers()[0].state == "failed"
    venue.fail_with = None
    assert (await run(venue, journal)).amount == D("160.00")  # a failed transfer took nothing from the day


async def test_when_the_venue_cannot_transfer_then_refused_with_its_reason(journal):
    venue = FakeVenue(refusal="ccxt has no wallet transfer for weex")
    result = await run(venue, journal)
    assert (result.state, result.client_id, result.reason) == ("refused", None, "ccxt has no wallet transfer for weex")
    assert venue.sent == [] and journal.transfers() == []


async def test_when_the_daily_cap_is_zero_then_refused_naming_the_key(journal):
    venue = FakeVenue()
    result = await run(venue, journal, settings=settings(cap="0"))
    assert result.state == "refused" and "top_up_max_per_day is 0" in result.reason and venue.sent == []


async def test_when_verdict_lacks_the_stress_figures_then_refused_with_the_reason(journal):
    result = await run(FakeVenue(), journal, verdict=None)
    assert result.state == "refused" and "no stressed equity" in result.reason


def test_alert_severity_follows_the_outcome():
    from rebalancer.topup import TopUpResult

    cases = {"done": "info", "unknown": "critical", "failed": "critical", "refused": "warning"}
    for state, severity in cases.items():
        alert = top_up_alert(TopUpResult("c", "USDT", D(5), state, "why", "boom"), cycle_id="cy")
        assert (alert.kind, alert.severity, alert.key) == ("margin_top_up", severity, f"margin_top_up:{state}")
        assert alert.fields["cycle_id"] == "cy" and "why" in alert.detail


def test_journal_transfer_rows_refuse_contradictions(journal):
    journal.record_transfer_intent("a", cycle_id=None, currency="USDT", amount=D("1.5"), from_wallet="spot",
                                   to_wallet="swap", reason="r", at=NOW)
    with pytest.raises(JournalError):
        journal.record_transfer_intent("a", cycle_id=None, currency="USDT", amount=D("1.5"), from_wallet="spot",
                                       to_wallet="swap", reason="r", at=NOW)
    journal.update_transfer("a", state="done", at=NOW, transfer_id="x")
    with pytest.raises(JournalError):
        journal.update_transfer("a", state="unknown", at=NOW)
    with pytest.raises(JournalError):
        journal.update_transfer("nope", state="done", at=NOW)
    with pytest.raises(ValueError):
        journal.update_transfer("a", state="refused", at=NOW)
    assert [t.client_id for t in journal.transfers(since=NOW, states={"done"})] == ["a"]
    assert journal.transfers(since=NOW + timedelta(seconds=1)) == []
