"""The margin top-up's amount (core.topup): the shortfall to maintenance x 1.1, capped by the free spot
stablecoin and the day's allowance, nothing under the minimum or when an input is missing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from rebalancer.core.topup import (
    DONE,
    FAILED,
    HEADROOM,
    MINIMUM,
    PENDING,
    UNKNOWN,
    TransferRecord,
    allowance_left,
    top_up_amount,
    used_today,
    utc_day_start,
)

D = Decimal
NOW = datetime(2026, 12, 2, 9, 30, tzinfo=timezone.utc)


def need(equity, maint, free="1000000", allowance="1000000"):
    return top_up_amount(stressed_equity=None if equity is None else D(equity),
                         stressed_maintenance=None if maint is None else D(maint),
                         spot_free=None if free is None else D(free),
                         allowance=None if allowance is None else D(allowance))


def record(amount, state, at=NOW):
    return TransferRecord("c" + state + str(amount), "cy", "USDT", D(amount), "spot", "swap", state, None, "", None, at, at)


def test_when_stressed_equity_under_maintenance_then_moves_it_to_maintenance_times_headroom():
    """Stressed equity 80 under maintenance 100: 100 x 1.1 - 80 = 30 is moved."""
    n = need("80", "100")
    assert (n.amount, n.wanted) == (D("30.0"), D("30.0")) and n.transfer
    assert "maintenance x 1.1" in n.reason


def test_when_stressed_equity_at_or_over_maintenance_then_nothing():
    for equity in ("100", "100.01", "5000"):
        n = need(equity, "100")
        assert n.amount == 0 and not n.transfer and n.reason.startswith("not needed")


def test_when_free_spot_is_smaller_then_capped_by_it_and_says_so():
    n = need("0", "100", free="12.345")
    assert n.amount == D("12.34") and "free spot USDT 12.345" in n.reason


def test_when_allowance_left_is_smaller_then_capped_by_it_and_says_so():
    n = need("0", "100", allowance="25")
    assert n.amount == D("25.00") and "allowance left 25" in n.reason


def test_when_capped_amount_is_under_the_minimum_then_nothing_with_the_cap_named():
    n = need("0", "100", allowance="0.5")
    assert n.amount == 0 and "allowance left 0.5" in n.reason and "minimum 1" in n.reason
    assert need("0", "100", free="0").amount == 0
    assert need("99.5", "100").amount == D("10.5")  # 110 - 99.5: a small shortfall still gets the headroom
    assert need("100", "100.5").amount == D("10.55")  # 110.55 - 100
    assert need("0", "0.9").amount == 0  # 0.99 is under the minimum


def test_when_an_input_is_missing_then_nothing_and_a_reason():
    for args, words in [((None, "100"), "no stressed equity"), (("50", None), "no stressed equity"),
                        (("50", "100", None), "free spot USDT is unknown"),
                        (("50", "100", "1000", None), "allowance is unknown")]:
        n = need(*args)
        assert n.amount == 0 and words in n.reason


def test_used_today_counts_done_pending_and_unknown_of_this_utc_day_only():
    yesterday = utc_day_start(NOW) - timedelta(seconds=1)
    records = [record(10, DONE), record(20, UNKNOWN), record(5, PENDING), record(40, FAILED),
               record(100, DONE, at=yesterday)]
    assert used_today(records, NOW) == D(35)
    assert allowance_left(D(50), D(35)) == D(15) and allowance_left(D(30), D(35)) == 0


def test_utc_day_start_is_midnight_utc_whatever_the_zone():
    local = datetime(2026, 12, 3, 1, 0, tzinfo=timezone(timedelta(hours=5)))  # 2026-12-02 20:00 UTC
    assert utc_day_start(local) == datetime(2026, 12, 2, tzinfo=timezone.utc)


money = st.decimals(min_value=D(0), max_value=D(10_000_000), places=4, allow_nan=False, allow_infinity=False)


@given(equity=st.decimals(min_value=D(-1_000_000), max_value=D(10_000_000), places=4), maint=money,
       free=money, allowance=money)
def test_never_more_than_the_allowance_or_the_free_spot_and_zero_when_not_needed(equity, maint, free, allowance):
    """Whatever the book: the amount is within the free spot balance and the allowance left, at most the
    shortfall to maintenance x headroom, zero or at least the minimum, and zero when not needed."""
    n = top_up_amount(stressed_equity=equity, stressed_maintenance=maint, spot_free=free, allowance=allowance)
    assert 0 <= n.amount <= free and n.amount <= allowance
    assert n.amount == 0 or n.amount >= MINIMUM
    if equity >= maint:
        assert n.amount == 0
    else:
        assert n.amount <= maint * HEADROOM - equity
        if min(free, allowance, maint * HEADROOM - equity) >= MINIMUM + 1:
            assert n.amount > 0
