"""Faults around protective stops (issue 14), on every dialect: a stop placement whose reply is lost,
a stop cancel whose reply is lost, a stop cancel answered 5xx (not executed; once with the old stop
firing before the retry), and a stop that fires while no bot runs.

The invariants: the bot never places a second stop while one of its own rests on the hedge (each
placement is watched against the exchange's resting stops), it never sends a stop twice (no duplicate
client id on the exchange), every hedge is protected by exactly one stop once the fault has passed,
and the journal's `stops` (and a fired stop's `orders` row) match the exchange (audit). The faults are
conftest.StopFault middlewares on the dialect's own stop routes (conftest.STOP_ROUTES).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from rebalancer.journal import STOP_CANCEL_REQUESTED, STOP_CANCELED, STOP_FIRED, STOP_RESTING, STOP_UNKNOWN
from tests.faults.conftest import (
    STOP_ROUTES,
    TARGETS,
    StopFault,
    VenueProxy,
    audit,
    example_scenario,
    make_rebalancer,
    serve,
    settings_for,
    sim_post,
    sim_state,
)
from tests.integration.conftest import journal_rows

pytestmark = [pytest.mark.faults, pytest.mark.integration]
D = Decimal

# DOMAIN.md example 1 (short 0.025 BTC, long 0.5 ETH) on a wallet small enough that the exchange
# reports liquidation prices, as in tests/integration/test_protective_stops.py.
SCENARIO = example_scenario(wallet=800)
PROTECTED = "\n[protection]\nenabled = true\n"
PLAN = {"BTC": D("-0.025"), "ETH": D("0.5")}


def settings(tmp_path, ex, **kw: Any):
    kw.setdefault("max_margin_usage", 0.9)  # $2,000 gross at leverage 3 on an $800 wallet
    return settings_for(tmp_path, ex, TARGETS, extra=PROTECTED, **kw)


def stops(state: dict) -> dict[str, list[dict]]:
    """The stops resting on the exchange, per asset."""
    out: dict[str, list[dict]] = {}
    for o in state["open_orders"]:
        if o["type"] == "STOP_MARKET":
            out.setdefault(o["symbol"][:3], []).append(o)
    return out


def held(state: dict) -> dict[str, Decimal]:
    return {a: D(p["amount"]) for a, p in state["futures"]["positions"].items() if D(p["amount"]) != 0}


def protected_once(state: dict) -> None:
    """Every held hedge has exactly one resting stop, for its whole size, and nothing else rests."""
    found = stops(state)
    assert sorted(found) == sorted(held(state)), (found, held(state))
    for asset, rows in found.items():
        assert len(rows) == 1, (asset, rows)
        assert D(rows[0]["orig_qty"]) == abs(held(state)[asset]), (asset, rows, held(state))


def stop_orders(state: dict) -> list[dict]:
    """Every stop the exchange ever took (resting, cancelled, fired)."""
    return [o for o in state["orders"] if o["type"] == "STOP_MARKET"]


def watched(ex: Any, seen: list[tuple[str, int]]):
    """make_rebalancer(wrap=...): before each stop placement, how many stops rest on its symbol."""

    def wrap(venue: Any) -> VenueProxy:
        proxy = VenueProxy(venue)

        async def place_stop(symbol: str, *args: Any, **kw: Any) -> Any:
            on_symbol = stops(await sim_state(ex)).get(symbol[:3], [])
            seen.append((symbol[:3], len(on_symbol)))
            return await venue.place_stop(symbol, *args, **kw)

        proxy.place_stop = place_stop  # type: ignore[attr-defined]
        return proxy

    return wrap


def journaled_stops(rb: Any) -> dict[str, str]:
    return {s.client_order_id: s.state for s in rb.journal.stops()}


async def test_stop_placement_when_its_reply_is_lost_then_the_next_cycle_adopts_it_and_places_none(
        dialect, tmp_path, fault_row):
    """The exchange takes both stops, their replies never arrive (the bot journals them unknown). The
    next cycle finds each resting by its client id (MEXC, which lists none: by symbol, side and
    trigger), adopts it and sends nothing: one stop per hedge, no client id twice."""
    fault = StopFault(dialect, "place", "drop", count=2)
    seen: list[tuple[str, int]] = []
    async with serve(SCENARIO, dialect, middlewares=[fault]) as ex:
        rb = make_rebalancer(settings(tmp_path, ex, timeout_ms=600), wrap=watched(ex, seen))
        try:
            first = await rb.cycle(execute=True)
            between, journal_between = await sim_state(ex), journaled_stops(rb)
            second = await rb.cycle(execute=True)
            state = await sim_state(ex)
            result = audit(state, rb.journal, dialect)
            live = rb.journal.live_stops()
        finally:
            await rb.close()
    assert fault.hits == [STOP_ROUTES[dialect.name].place] * 2
    assert first.outcome not in ("failed",), first.error
    assert held(between) == PLAN
    assert first.protection.count("unknown") == 2 and first.protection.count("placed") == 0
    assert sorted(journal_between.values()) == [STOP_UNKNOWN] * 2
    protected_once(between)  # the exchange took them
    assert second.protection.count("adopted") == 2 and second.protection.count("placed") == 0
    protected_once(state)
    assert len(stop_orders(state)) == 2, stop_orders(state)  # never sent again
    assert {o["client_order_id"] for o in stop_orders(state)} == set(journal_between)
    assert sorted((s.asset, s.state) for s in live) == [("BTC", STOP_RESTING), ("ETH", STOP_RESTING)]
    assert all(s.exchange_order_id for s in live), live
    assert sorted(seen) == [("BTC", 0), ("ETH", 0)]  # placed once each, onto a bare hedge
    assert (result.duplicates, result.lost, result.unknown) == ([], [], [])
    fault_row("stops: placement reply lost", 2, result)


async def test_stop_cancel_when_its_reply_is_lost_then_confirmed_gone_and_replaced_at_once_never_two_on_a_hedge(
        dialect, tmp_path, fault_row):
    """The spot BTC shrinks, so both hedges shrink and their stops must be re-sized (cancel, then
    place). The exchange executes both cancels but their replies are lost: the bot places nothing
    until it has seen each old stop gone from the exchange's list (never two stops on a hedge), and
    it looks at once, so the hedges get their new stops in the same cycle (regression: they were
    left without any stop until the next cycle). The next cycle keeps them."""
    fault = StopFault(dialect, "cancel", "drop")
    seen: list[tuple[str, int]] = []
    async with serve(SCENARIO, dialect, middlewares=[fault]) as ex:
        rb = make_rebalancer(settings(tmp_path, ex, timeout_ms=600), wrap=watched(ex, seen))
        try:
            first = await rb.cycle(execute=True)
            before = await sim_state(ex)
            await sim_post(ex, "balances", {"spot": {"BTC": 0.13}})  # NAV $9,200: short 0.015 BTC, long 0.3 ETH
            fault.arm(2)
            second = await rb.cycle(execute=True)
            between, journal_between = await sim_state(ex), journaled_stops(rb)
            third = await rb.cycle(execute=True)
            state = await sim_state(ex)
            result = audit(state, rb.journal, dialect)
            final = journaled_stops(rb)
        finally:
            await rb.close()
    assert first.outcome == "done", first.error
    protected_once(before)
    old = {o["client_order_id"] for rows in stops(before).values() for o in rows}
    assert fault.hits == [STOP_ROUTES[dialect.name].cancel] * 2
    assert second.outcome == "done", second.error
    assert held(between) == {"BTC": D("-0.015"), "ETH": D("0.3")}
    assert second.protection.count("cancel_failed") == 0, second.protection.events
    assert second.protection.count("canceled") == 2 and second.protection.count("placed") == 2
    protected_once(between)  # the new size, in the same cycle
    assert not old & {o["client_order_id"] for rows in stops(between).values() for o in rows}
    assert {journal_between[c] for c in old} == {STOP_CANCELED}
    assert third.outcome == "nothing_to_do", third.error
    assert third.protection.count("kept") == 2 and third.protection.count("placed") == 0
    protected_once(state)
    assert stops(state) == stops(between)
    assert {final[c] for c in old} == {STOP_CANCELED}
    assert sorted(s for c, s in final.items() if c not in old) == [STOP_RESTING] * 2
    assert len(stop_orders(state)) == 4  # two placed, two replacements: nothing sent twice
    assert len(seen) == 4 and all(n == 0 for _, n in seen), seen  # no placement while a stop rested on its hedge
    assert (result.duplicates, result.lost, result.unknown) == ([], [], [])
    fault_row("stops: cancel reply lost", 3, result)


async def test_stop_cancel_when_5xx_then_the_old_stop_rests_alone_and_the_next_cycle_replaces_it(
        dialect, tmp_path, fault_row):
    """The mark moves 10 %: both stops want a new trigger. Their cancels answer 503 (not executed):
    the old stops keep protecting, nothing is placed next to them; the next cycle cancels and
    replaces them. Never two stops on a hedge, never none."""
    fault = StopFault(dialect, "cancel", "5xx")
    seen: list[tuple[str, int]] = []
    async with serve(SCENARIO, dialect, middlewares=[fault]) as ex:
        rb = make_rebalancer(settings(tmp_path, ex), wrap=watched(ex, seen))
        try:
            first = await rb.cycle(execute=True)
            before = await sim_state(ex)
        finally:
            await rb.close()
        await sim_post(ex, "prices", {"BTC": {"spot": 44000, "mark": 44000}, "ETH": {"spot": 2200, "mark": 2200}})
        # the same journal with a wide band: the cycles trade nothing, they only re-price the stops
        rb = make_rebalancer(settings(tmp_path, ex, band=0.5), wrap=watched(ex, seen))
        try:
            fault.arm(2)
            second = await rb.cycle(execute=True)
            between, journal_between = await sim_state(ex), journaled_stops(rb)
            third = await rb.cycle(execute=True)
            state = await sim_state(ex)
            result = audit(state, rb.journal, dialect)
            final = journaled_stops(rb)
        finally:
            await rb.close()
    assert first.outcome == "done", first.error
    protected_once(before)
    old = {o["client_order_id"] for rows in stops(before).values() for o in rows}
    assert fault.hits == [STOP_ROUTES[dialect.name].cancel] * 2
    assert second.protection.count("cancel_failed") == 2 and second.protection.count("placed") == 0
    protected_once(between)  # the old ones, alone
    assert {o["client_order_id"] for rows in stops(between).values() for o in rows} == old
    assert {journal_between[c] for c in old} == {STOP_CANCEL_REQUESTED}
    assert third.outcome in ("done", "nothing_to_do"), third.error
    assert third.protection.count("canceled") == 2 and third.protection.count("placed") == 2
    protected_once(state)
    found = stops(state)
    assert D(found["BTC"][0]["trigger_price"]) > 44000 and D(found["ETH"][0]["trigger_price"]) < 2200
    assert not old & {o["client_order_id"] for rows in found.values() for o in rows}
    assert {final[c] for c in old} == {STOP_CANCELED}
    assert sorted(s for c, s in final.items() if c not in old) == [STOP_RESTING] * 2
    assert seen and all(n == 0 for _, n in seen), seen
    assert (result.duplicates, result.lost, result.unknown) == ([], [], [])
    fault_row("stops: 5xx on cancel", 3, result)


async def test_stop_fired_when_no_bot_runs_then_the_next_process_journals_it_and_freezes_the_asset(
        dialect, tmp_path, fault_row):
    """The bot places its stops and exits; the BTC mark runs through the buy stop while nothing runs.
    A new process's first cycle journals the fill as its own order (leg "stop", the exchange's fill
    and fee), freezes BTC (STOP_COOLDOWN) and keeps the book's net within the residual; the cycle
    after it journals nothing twice."""
    async with serve(SCENARIO, dialect) as ex:
        cfg = settings(tmp_path, ex)
        rb = make_rebalancer(cfg)
        try:
            first = await rb.cycle(execute=True)
            placed = stops(await sim_state(ex))
        finally:
            await rb.close()
        assert first.outcome == "done", first.error
        (btc_stop,) = placed["BTC"]
        up = D(btc_stop["trigger_price"]) * D("1.02")
        await sim_post(ex, "prices", {"BTC": {"spot": float(up), "mark": float(up)}})
        closed = await sim_state(ex)

        rb = make_rebalancer(cfg)  # a new process on the same journal
        try:
            report = await rb.cycle(execute=True)
            state = await sim_state(ex)
            again = await rb.cycle(execute=True)
            after = await sim_state(ex)
            result = audit(after, rb.journal, dialect)
            fired_state = rb.journal.stop(btc_stop["client_order_id"]).state
        finally:
            await rb.close()
    assert "BTC" not in held(closed), "the stop closed the short on the exchange"
    (fired_on_exchange,) = [o for o in stop_orders(closed) if o["client_order_id"] == btc_stop["client_order_id"]]
    assert D(fired_on_exchange["executed_qty"]) == D("0.025")
    assert [e.asset for e in report.protection.fired] == ["BTC"]
    rows = journal_rows(tmp_path / "journal.db",
                        "SELECT client_order_id, leg, order_type, state, filled, average, fee, reduce_only,"
                        " exchange_order_id FROM orders WHERE leg = 'stop'")
    assert len(rows) == 1, [dict(r) for r in rows]
    (row,) = rows
    assert row["client_order_id"] == btc_stop["client_order_id"] and row["order_type"] == "stop_market"
    assert row["state"] == "filled" and row["reduce_only"] == 1
    assert dialect.base("BTC", D(row["filled"])) == D(fired_on_exchange["executed_qty"])
    assert row["fee"] is not None and D(row["fee"]) == D(fired_on_exchange["commission"]), dict(row)
    assert D(row["average"]) == D(fired_on_exchange["avg_price"])
    assert fired_state == STOP_FIRED
    # the external-change check counts the stop's fill as the bot's own: no halt
    assert report.external_action == "" and report.external_change is not None and report.external_change.clean
    v = report.verdict
    assert v.boxes["BTC"].frozen and "STOP_COOLDOWN" in v.boxes["BTC"].codes
    positions = held(state)
    marks = {a: D(p["mark_price"]) for a, p in state["futures"]["positions"].items()}
    net = sum((positions[a] * marks[a] for a in positions), D(0))
    assert positions.get("BTC", D(0)) == 0
    assert abs(net - v.planned_net) <= v.residual_bound, (net, positions)
    protected_once(state)  # nothing rests for the closed short; whatever is held has its one stop
    assert again.protection.count("fired") == 0
    assert len(journal_rows(tmp_path / "journal.db", "SELECT 1 FROM orders WHERE leg = 'stop'")) == 1
    assert again.verdict.boxes["BTC"].frozen
    assert (result.duplicates, result.lost, result.unknown) == ([], [], [])
    fault_row("stops: fired while no bot runs", 3, result)


async def test_stop_cancel_when_5xx_and_the_old_stop_fires_before_the_retry_then_it_is_journaled_as_fired(
        dialect, tmp_path, fault_row):
    """The cancels of a re-pricing answer 503, so the old stops rest on; before the next cycle the BTC
    mark runs through the old BTC stop. The next cycle journals that stop as fired (its fill, the
    asset frozen) instead of cancelling or replacing it, and re-prices the ETH one: no stop on the
    closed hedge, one on the held one."""
    fault = StopFault(dialect, "cancel", "5xx")
    async with serve(SCENARIO, dialect, middlewares=[fault]) as ex:
        rb = make_rebalancer(settings(tmp_path, ex))
        try:
            first = await rb.cycle(execute=True)
        finally:
            await rb.close()
        await sim_post(ex, "prices", {"BTC": {"spot": 44000, "mark": 44000}, "ETH": {"spot": 2200, "mark": 2200}})
        rb = make_rebalancer(settings(tmp_path, ex, band=0.5))
        try:
            fault.arm(2)
            second = await rb.cycle(execute=True)
            (btc_stop,) = stops(await sim_state(ex))["BTC"]
            up = D(btc_stop["trigger_price"]) * D("1.02")
            await sim_post(ex, "prices", {"BTC": {"spot": float(up), "mark": float(up)}})
            third = await rb.cycle(execute=True)
            state = await sim_state(ex)
            result = audit(state, rb.journal, dialect)
            final = journaled_stops(rb)
        finally:
            await rb.close()
    assert first.outcome == "done", first.error
    assert second.protection.count("cancel_failed") == 2
    assert [(e.asset, e.client_order_id) for e in third.protection.fired] == [("BTC", btc_stop["client_order_id"])]
    assert final[btc_stop["client_order_id"]] == STOP_FIRED
    assert third.verdict.boxes["BTC"].frozen and "STOP_COOLDOWN" in third.verdict.boxes["BTC"].codes
    assert "BTC" not in held(state) and held(state)["ETH"] == D("0.5")
    protected_once(state)
    assert D(stops(state)["ETH"][0]["trigger_price"]) < 2200
    assert (result.duplicates, result.lost, result.unknown) == ([], [], [])
    fault_row("stops: 5xx on cancel, then the stop fires", 3, result)
