"""How much stablecoin the optional margin top-up moves from spot to futures (issue 14): pure, no I/O.

When the risk gate's stressed equity (every position moved against itself by
risk.min_liquidation_distance) is under the stressed maintenance margin, the top-up brings it back to
maintenance x HEADROOM (1.1: ten per cent above the line, so the next small move does not ask for
another transfer at once), capped by the free spot stablecoin and by what is left of the day's
allowance (protection.top_up_max_per_day, per UTC day), rounded down to STEP, and nothing under
MINIMUM (moving cents costs a request and a journal row and changes no risk). A missing input means
no transfer, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from decimal import ROUND_DOWN, Decimal
from typing import Iterable

ZERO = Decimal(0)
# Stressed equity is brought back to maintenance x HEADROOM, not just to the line.
HEADROOM = Decimal("1.1")
# Under this (quote units) nothing is moved.
MINIMUM = Decimal(1)
# Amounts are rounded down to this (stablecoins: cents; every supported venue takes two decimals).
STEP = Decimal("0.01")

# Journal states of a transfer: pending = the intent, written before the request; done = the exchange
# confirmed it (reply or history); unknown = it may have happened (timeout, no history to tell);
# failed = the exchange refused it. Pending and unknown count against the day's allowance and block
# a second transfer the same day.
PENDING, DONE, UNKNOWN, FAILED = "pending", "done", "unknown", "failed"
UNRESOLVED = frozenset({PENDING, UNKNOWN})
COUNTED = frozenset({PENDING, UNKNOWN, DONE})


@dataclass(frozen=True)
class TopUpNeed:
    """The amount to move (0: none) and why; `wanted` is the shortfall before the caps (None: unknown)."""

    amount: Decimal
    reason: str
    wanted: Decimal | None = None

    @property
    def transfer(self) -> bool:
        return self.amount > 0


@dataclass(frozen=True)
class TransferRecord:
    """One journaled top-up transfer (table `transfers`): the intent, then what became of it."""

    client_id: str
    cycle_id: str | None
    currency: str
    amount: Decimal
    from_wallet: str
    to_wallet: str
    state: str
    transfer_id: str | None
    reason: str
    error: str | None
    created_at: datetime
    updated_at: datetime


def utc_day_start(now: datetime) -> datetime:
    """Midnight UTC of `now`'s day: the day the allowance counts in."""
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now!r}: pass an aware UTC datetime")
    day = now.astimezone(timezone.utc).date()
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def next_utc_day(now: datetime) -> datetime:
    return utc_day_start(now) + timedelta(days=1)


def used_today(transfers: Iterable[TransferRecord], now: datetime) -> Decimal:
    """What today's (UTC) transfers have taken from the allowance: done ones, and pending or unknown ones
    (they may have moved the money)."""
    start = utc_day_start(now)
    return sum((t.amount for t in transfers if t.created_at >= start and t.state in COUNTED), ZERO)


def allowance_left(max_per_day: Decimal | None, used: Decimal) -> Decimal | None:
    if max_per_day is None:
        return None
    return max(max_per_day - used, ZERO)


def top_up_amount(*, stressed_equity: Decimal | None, stressed_maintenance: Decimal | None,
                  spot_free: Decimal | None, allowance: Decimal | None, currency: str = "USDT",
                  headroom: Decimal = HEADROOM, minimum: Decimal = MINIMUM, step: Decimal = STEP) -> TopUpNeed:
    """The transfer that brings stressed equity back to maintenance x headroom, capped by the free spot
    balance and the allowance left today, rounded down to `step`; 0 when not needed, when an input
    is missing (None) or when the capped amount is under `minimum`."""
    if stressed_equity is None or stressed_maintenance is None:
        return TopUpNeed(ZERO, "no stressed equity or maintenance margin in the verdict (no hedge account figures)")
    if stressed_equity >= stressed_maintenance:
        return TopUpNeed(ZERO, f"not needed: stressed equity {_text(stressed_equity)} >= stressed maintenance "
                               f"{_text(stressed_maintenance)} {currency}", ZERO)
    wanted = stressed_maintenance * headroom - stressed_equity
    why = (f"stressed equity {_text(stressed_equity)} < stressed maintenance {_text(stressed_maintenance)} {currency}: "
           f"{_text(wanted)} brings it to maintenance x {headroom}")
    if spot_free is None:
        return TopUpNeed(ZERO, f"{why}, but the free spot {currency} is unknown", wanted)
    if allowance is None:
        return TopUpNeed(ZERO, f"{why}, but the day's allowance is unknown", wanted)
    caps = [(wanted, "the shortfall"), (max(spot_free, ZERO), f"the free spot {currency} {spot_free}"),
            (allowance, f"today's allowance left {allowance}")]
    cap, bound_by = min(caps, key=lambda c: c[0])
    amount = cap.quantize(step, rounding=ROUND_DOWN) if cap > 0 else ZERO
    if amount < minimum:
        return TopUpNeed(ZERO, f"{why}, but {bound_by} leaves {_text(amount)} < the minimum {minimum}", wanted)
    if bound_by != "the shortfall":
        return TopUpNeed(amount, f"{why}; capped at {_text(amount)} by {bound_by}", wanted)
    return TopUpNeed(amount, why, wanted)


def _text(value: Decimal) -> str:
    return format(value.quantize(STEP, rounding=ROUND_DOWN), "f")


__all__ = ["COUNTED", "DONE", "FAILED", "HEADROOM", "MINIMUM", "PENDING", "STEP", "TopUpNeed", "TransferRecord",
           "UNKNOWN", "UNRESOLVED", "allowance_left", "next_utc_day", "top_up_amount", "used_today", "utc_day_start"]
