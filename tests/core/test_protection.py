"""Protective stop prices and actions (core/protection.py): worked numbers and properties."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebalancer.core.protection import RestingStop, StopRule, stop_actions, stop_trigger, wanted_stops

RULE = StopRule(distance=D("0.25"), buffer=D("0.2"), reprice_threshold=D("0.05"))
BTC = "BTC/USDT:USDT"


def test_a_short_gets_a_buy_stop_25_percent_above_the_mark_when_liquidation_is_far():
    """Short at mark 40,000, liquidation 80,000: the distance gives 50,000; the cap (20 % of the way
    left: 40,000 + 0.8 x 40,000 = 72,000) is further, so 50,000."""
    assert stop_trigger(D("-0.025"), D(40000), D(80000), D("0.1"), RULE) == (D(50000), False)


def test_the_liquidation_price_caps_the_trigger_with_the_buffer_left():
    """Short at 40,000 with liquidation at 45,000: 40,000 + 0.8 x 5,000 = 44,000 < 50,000: capped.
    A long at 2,000 with liquidation 1,800: 2,000 - 0.8 x 200 = 1,840 > 1,500: capped."""
    assert stop_trigger(D("-0.025"), D(40000), D(45000), D("0.1"), RULE) == (D(44000), True)
    assert stop_trigger(D("0.5"), D(2000), D(1800), D("0.01"), RULE) == (D(1840), True)
    assert stop_trigger(D("0.5"), D(2000), None, D("0.01"), RULE) == (D(1500), False)


def test_rounding_goes_toward_the_mark_and_never_onto_it():
    """33,333.33 x 1.25 = 41,666.6625: a buy stop rounds down to 41,666.6 (tick 0.1); a sell stop
    up. A distance under one tick still ends one tick beyond the mark."""
    assert stop_trigger(D(-1), D("33333.33"), None, D("0.1"), RULE)[0] == D("41666.6")
    assert stop_trigger(D(1), D("33333.33"), None, D("0.1"), RULE)[0] == D("25000.0")
    tiny = StopRule(distance=D("0.000001"))
    assert stop_trigger(D(-1), D(100), None, D("0.1"), tiny)[0] == D("100.1")
    assert stop_trigger(D(1), D(100), None, D("0.1"), tiny)[0] == D("99.9")


def test_no_stop_for_a_flat_position_or_a_liquidation_behind_the_mark():
    assert stop_trigger(D(0), D(40000), None, D("0.1"), RULE) is None
    assert stop_trigger(D(-1), D(40000), D(39000), D("0.1"), RULE) is None
    assert stop_trigger(D(1), D(40000), D(41000), D("0.1"), RULE) is None


def test_rule_bounds_are_checked():
    for bad in ({"distance": D(0)}, {"distance": D(1)}, {"distance": D("0.2"), "buffer": D(1)},
                {"distance": D("0.2"), "reprice_threshold": D(-1)}):
        with pytest.raises(ValueError):
            StopRule(**bad)


def wanted(amount="-0.025", mark="40000", liq=None):
    return wanted_stops({"BTC": (BTC, D(amount))}, {"BTC": D(mark)}, {"BTC": D(liq) if liq else None},
                        {"BTC": D("0.1")}, RULE)


def resting(trigger, amount="0.025", side="buy", cid="s1"):
    return RestingStop(BTC, cid, None, side, D(amount) if amount is not None else None, D(trigger))


def kinds(actions):
    return [(a.kind, a.resting.client_order_id if a.resting else None) for a in actions]


def test_actions_place_keep_replace_and_cancel():
    w = wanted()
    assert kinds(stop_actions(w, [], RULE)) == [("place", None)]
    assert kinds(stop_actions(w, [resting("51000")], RULE)) == [("keep", "s1")]  # 2 % off: kept
    assert kinds(stop_actions(w, [resting("53000")], RULE)) == [("cancel", "s1"), ("place", None)]  # 6 %
    assert kinds(stop_actions(w, [resting("50000", amount="0.02")], RULE)) == [("cancel", "s1"), ("place", None)]
    assert kinds(stop_actions(w, [resting("50000", amount=None)], RULE)) == [("keep", "s1")]  # close-position
    assert kinds(stop_actions(w, [resting("30000", side="sell")], RULE)) == [("cancel", "s1"), ("place", None)]
    two = [resting("50000", cid="a"), resting("50100", cid="b")]
    assert kinds(stop_actions(w, two, RULE)) == [("cancel", "b"), ("keep", "a")]  # never two stops
    assert kinds(stop_actions({}, two, RULE)) == [("cancel", "a"), ("cancel", "b")]  # hedge closed


@settings(max_examples=300, deadline=None)
@given(amount=st.integers(-10_000, 10_000).filter(bool), mark=st.integers(1, 10_000_000),
       liq_frac=st.one_of(st.none(), st.integers(1, 400)), tick_exp=st.integers(-4, 1),
       dist=st.integers(1, 99), buf=st.integers(0, 99))
def test_a_stop_is_always_beyond_the_mark_on_the_adverse_side_and_short_of_liquidation(
        amount, mark, liq_frac, tick_exp, dist, buf):
    rule = StopRule(distance=D(dist) / 100, buffer=D(buf) / 100)
    m, tick = D(mark) / 100, D(10) ** tick_exp
    short = amount < 0
    liq = None if liq_frac is None else (m * (1 + D(liq_frac) / 100) if short else m * (1 - D(liq_frac) / 400))
    found = stop_trigger(D(amount), m, liq, tick, rule)
    if liq is not None and liq <= 0:
        liq = None  # venues report 0 for "no liquidation price": the distance alone sets the stop
    if found is None:
        assert m <= tick * 2 or liq is not None  # only tiny prices or an impossible cap leave no stop
        return
    trigger, _ = found
    assert trigger % tick == 0 and trigger > 0
    assert (trigger > m) if short else (trigger < m)
    wide = m * (1 + rule.distance) if short else m * (1 - rule.distance)
    if liq is not None:
        cap = m + (1 - rule.buffer) * (liq - m) if short else m - (1 - rule.buffer) * (m - liq)
        # never past the cap, unless one tick beyond the mark is already past it
        assert (trigger <= max(cap, m + tick)) if short else (trigger >= min(cap, m - tick))
    assert (trigger <= max(wide, m + tick)) if short else (trigger >= min(wide, m - tick))


@settings(max_examples=200, deadline=None)
@given(triggers=st.lists(st.integers(30_000, 70_000), max_size=4), amounts=st.lists(st.sampled_from(
    ["0.025", "0.02", None]), min_size=4, max_size=4), held=st.booleans())
def test_applying_the_actions_leaves_exactly_the_wanted_stop_and_is_stable(triggers, amounts, held):
    w = wanted() if held else {}
    rest = [resting(str(t), amount=a, cid=f"s{i}") for i, (t, a) in enumerate(zip(triggers, amounts))]
    actions = stop_actions(w, rest, RULE)
    cancelled = {a.resting.client_order_id for a in actions if a.kind == "cancel"}
    after = [s for s in rest if s.client_order_id not in cancelled]
    after += [resting(str(a.wanted.trigger), amount=str(a.wanted.amount), cid="new") for a in actions if a.kind == "place"]
    assert len(after) == (1 if held else 0)
    assert all(a.kind == "keep" for a in stop_actions(w, after, RULE))
