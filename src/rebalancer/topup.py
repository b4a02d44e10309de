"""The optional margin top-up (protection.top_up_from_spot, issue 14): when the risk gate's stressed
equity is under the maintenance margin, move stablecoin from the spot wallet to the futures wallet.

A transfer, never a trade; at most protection.top_up_max_per_day (quote units) per UTC day, counting
transfers whose outcome is unknown. The intent is journaled before the request; the request is never
retried: a timeout is settled by reading the venue's transfer history, and where the venue has none
(or the history does not show it yet) the transfer stays unknown and no second one is sent that day.
How much to move is core.topup (pure). `top_up` never raises for a VenueError; the result says what
happened, and `top_up_alert` is the operator alert for it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Iterable

import structlog

from .alerts import Alert
from .core.topup import (
    DONE,
    FAILED,
    UNKNOWN,
    UNRESOLVED,
    ZERO,
    TransferRecord,
    allowance_left,
    next_utc_day,
    top_up_amount,
    used_today,
    utc_day_start,
)
from .domain import Snapshot, Verdict
from .venues.errors import UnknownOutcomeError, VenueError

log = structlog.get_logger("rebalancer.topup")

# A transfer in the venue's history is taken for ours when it is at most this much older than our
# intent (clocks differ; ccxt's measured offset is added on top by the venue).
MATCH_WINDOW_S = 60.0
ALERT_KIND = "margin_top_up"
# Unresolved transfers this recent are looked for in the venue's history at every top-up.
SETTLE_DAYS = 7


@dataclass(frozen=True)
class TopUpResult:
    """What one top-up did: "done" (moved), "unknown" (may have moved: counted, no second transfer today),
    "refused" (not attempted, `reason` says why), "failed" (the exchange refused it, `error`)."""

    client_id: str | None
    currency: str
    amount: Decimal
    state: str
    reason: str
    error: str | None = None

    @property
    def moved(self) -> bool:
        return self.state == DONE


async def top_up(venue: Any, journal: Any, settings: Any, snapshot: Snapshot, verdict: Verdict | None, *,
                 cycle_id: str, now: datetime) -> TopUpResult | None:
    """One top-up decision and, when needed, one transfer. None: disabled or not needed. Earlier
    unresolved transfers of today are settled from the venue's history first."""
    protection = settings.protection
    if not protection.top_up_from_spot:
        return None
    currency = snapshot.quote
    for record in journal.transfers(since=now - timedelta(days=SETTLE_DAYS), states=UNRESOLVED):
        await _settle(venue, journal, record, now, again=True)
    today = journal.transfers(since=utc_day_start(now))

    stressed = verdict.stressed_equity if verdict is not None else None
    maintenance = verdict.stressed_maintenance if verdict is not None else None
    if stressed is not None and maintenance is not None and stressed >= maintenance:
        return None
    refusal = _refusal(venue)
    if refusal is not None:
        return TopUpResult(None, currency, ZERO, "refused", refusal)
    open_ones = [t for t in today if t.state in UNRESOLVED]
    if open_ones:
        t = open_ones[0]
        return TopUpResult(None, currency, ZERO, "refused",
                           f"transfer {t.client_id} of {t.amount} {t.currency} at {t.created_at:%H:%M:%S} UTC has an "
                           f"unknown outcome ({t.error or 'not settled'}): no second transfer before "
                           f"{next_utc_day(now):%Y-%m-%d} 00:00 UTC unless it is settled")

    if not protection.top_up_max_per_day and stressed is not None and maintenance is not None:
        return TopUpResult(None, currency, ZERO, "refused",
                           f"stressed equity {stressed:.2f} < stressed maintenance {maintenance:.2f} {currency}, but "
                           "protection.top_up_max_per_day is 0: set it to the most to move per day")
    left = allowance_left(protection.top_up_max_per_day, used_today(today, now))
    need = top_up_amount(stressed_equity=stressed, stressed_maintenance=maintenance,
                         spot_free=spot_free(snapshot, getattr(getattr(venue, "spot_cfg", None), "name", None)),
                         allowance=left, currency=currency)
    if not need.transfer:
        return TopUpResult(None, currency, ZERO, "refused", need.reason)

    client_id = venue.transfer_client_id(uuid.uuid4().hex)
    transfers = venue.hedge_cfg.spec.transfers
    journal.record_transfer_intent(client_id, cycle_id=cycle_id, currency=currency, amount=need.amount,
                                   from_wallet=transfers.source, to_wallet=transfers.target,
                                   reason=need.reason, at=now)
    log.info("top_up_sending", client_id=client_id, amount=str(need.amount), currency=currency, reason=need.reason)
    try:
        transfer_id = await venue.transfer_to_futures(currency, need.amount, client_id)
    except UnknownOutcomeError as exc:
        record = journal.update_transfer(client_id, state=UNKNOWN, at=now, error=str(exc))
        record = await _settle(venue, journal, record, now)
        if record.state == DONE:
            return TopUpResult(client_id, currency, need.amount, DONE,
                               f"{need.reason}; the reply was lost, the transfer history shows it "
                               f"({record.transfer_id})", str(exc))
        return TopUpResult(client_id, currency, need.amount, UNKNOWN,
                           f"{need.reason}; the reply was lost and {record.error or 'the outcome is unknown'}: "
                           f"counted against today's allowance, no second transfer today", str(exc))
    except VenueError as exc:
        journal.update_transfer(client_id, state=FAILED, at=now, error=str(exc))
        log.warning("top_up_failed", client_id=client_id, error=str(exc))
        return TopUpResult(client_id, currency, need.amount, FAILED, need.reason, str(exc))
    journal.update_transfer(client_id, state=DONE, at=now, transfer_id=transfer_id)
    log.info("top_up_done", client_id=client_id, transfer_id=transfer_id, amount=str(need.amount))
    return TopUpResult(client_id, currency, need.amount, DONE, need.reason)


def spot_free(snapshot: Snapshot, spot_venue: str | None) -> Decimal | None:
    """The quote currency the snapshot saw in the spot venue's own wallets (cold holdings excluded);
    None when the spot venue is unknown. The bot never trades spot, so its balance is free; the exchange
    refuses a transfer above what is really free (a failed top-up, never a second one)."""
    if spot_venue is None:
        return None
    prefix = f"{spot_venue}:"
    return sum((h.amount for h in snapshot.holdings
                if h.asset == snapshot.quote and not h.external and h.source.startswith(prefix)), ZERO)


def _refusal(venue: Any) -> str | None:
    reason = getattr(venue, "transfer_refusal", "this venue has no wallet transfers")
    return reason if reason else None


async def _settle(venue: Any, journal: Any, record: TransferRecord, now: datetime, *,
                  again: bool = False) -> TransferRecord:
    """A pending or unknown transfer settled from the venue's transfer history: done when a transfer
    into futures with our id (or, where the history carries no id, with our amount, at or after our
    intent, not already another journaled transfer's) is there; else it stays unknown, saying why
    (`again`: a later cycle's look, which leaves the journal alone where there is no history)."""
    if not getattr(venue, "transfer_history_known", False):
        if again and record.state == UNKNOWN:
            return record  # nothing new to learn; it stays unknown
        return journal.update_transfer(
            record.client_id, state=UNKNOWN, at=now,
            error=f"{venue.hedge_cfg.exchange} has no transfer history to settle it from")
    try:
        rows = await venue.transfers_since(record.currency, record.created_at - timedelta(seconds=MATCH_WINDOW_S))
    except VenueError as exc:
        return journal.update_transfer(record.client_id, state=UNKNOWN, at=now,
                                       error=f"the transfer history could not be read: {exc}")
    claimed = {t.transfer_id for t in journal.transfers(since=record.created_at - timedelta(days=2))
               if t.transfer_id and t.client_id != record.client_id}
    found = _match(record, rows, claimed)
    if found is None:
        return journal.update_transfer(record.client_id, state=UNKNOWN, at=now,
                                       error="the transfer history does not show it (yet)")
    log.info("top_up_settled", client_id=record.client_id, transfer_id=found.transfer_id)
    return journal.update_transfer(record.client_id, state=DONE, at=now, transfer_id=found.transfer_id or "")


def _match(record: TransferRecord, rows: Iterable[Any], claimed: set[str]) -> Any:
    rows = list(rows)
    by_id = next((r for r in rows if r.client_id and r.client_id == record.client_id), None)
    if by_id is not None:
        return by_id
    earliest = record.created_at - timedelta(seconds=MATCH_WINDOW_S)
    for r in sorted(rows, key=lambda r: r.at):
        if r.client_id is None and r.amount == record.amount and r.at >= earliest and r.transfer_id not in claimed:
            return r
    return None


def top_up_alert(result: TopUpResult, *, cycle_id: str) -> Alert:
    """The operator alert for a top-up result: info when moved, critical when unknown or failed (the book
    is under maintenance in the stress test and the money may not be there), warning when refused."""
    severity = {DONE: "info", UNKNOWN: "critical", FAILED: "critical"}.get(result.state, "warning")
    title = {
        DONE: f"Margin top-up: moved {result.amount} {result.currency} from spot to futures",
        UNKNOWN: f"Margin top-up of {result.amount} {result.currency}: outcome unknown",
        FAILED: f"Margin top-up of {result.amount} {result.currency} failed",
    }.get(result.state, "Margin top-up needed but not sent")
    detail = result.reason + (f" (error: {result.error})" if result.error and result.state != DONE else "")
    fields = {"cycle_id": cycle_id, "state": result.state, "amount": str(result.amount), "currency": result.currency}
    if result.client_id:
        fields["client_id"] = result.client_id
    return Alert(ALERT_KIND, severity, title, detail, f"{ALERT_KIND}:{result.state}", fields)


__all__ = ["ALERT_KIND", "TopUpResult", "spot_free", "top_up", "top_up_alert"]
