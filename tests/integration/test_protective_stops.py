"""Protective stops end to end on every dialect (issue 14): the real ccxt class over HTTP against the
local exchange.

After a rebalance every hedge has exactly one reduce-only stop resting on the exchange, on its adverse
side, between the mark and the exchange's liquidation price; a price move through a stop closes the
position on the exchange, the next cycle journals the fill as its own order (leg "stop"), freezes the
stopped asset for the cooldown and leaves a book whose net is within the residual; a replacement
killed between its cancel and its place leaves no hedge unprotected after the next start and never two
stops; a stop the exchange refuses puts its asset in STOP_REJECTED (shrink-only) and is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from rebalancer.domain import OrderState
from rebalancer.journal import Journal
from rebalancer.service import Rebalancer
from rebalancer.settings import load_settings
from tests.integration.conftest import journal_rows, sim_post, sim_state, start_exchange, write_config
from tests.integration.dialects import Dialect

pytestmark = pytest.mark.integration
D = Decimal

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
TARGETS = {"BTC": 0.5, "ETH": 0.5}
# DOMAIN.md example 1: spot BTC $6,000 / ETH $4,000 -> short 0.025 BTC, long 0.5 ETH.
SCENARIO = {
    "markets": {"BTC": {"spot_price": 40000, "amount_step": 0.001, "funding_rate": 0.0001},
                "ETH": {"spot_price": 2000, "amount_step": 0.001, "funding_rate": 0.0001}},
    "spot": {"BTC": 0.15, "ETH": 2, "USDT": 0},
    "futures": {"wallet": 800, "leverage": 5},  # small enough that the exchange reports liquidation prices
}


def make(tmp_path: Path, ex: Any, *, protection: str = "", **kw: Any) -> Rebalancer:
    extra = "\n[protection]\nenabled = true\n" + protection
    kw.setdefault("max_margin_usage", 0.9)  # $2,000 gross at leverage 3 on an $800 wallet
    settings = load_settings(write_config(tmp_path, ex, TARGETS, extra=extra, **kw), env={})
    return Rebalancer(settings, executor_kw={"lookup_delay_s": 0.05})


def stops_on_exchange(state: dict) -> list[dict]:
    return [o for o in state["open_orders"] if o["type"] == "STOP_MARKET"]


def by_asset(state: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for o in stops_on_exchange(state):
        out.setdefault(o["symbol"][:3], []).append(o)
    return out


def positions(state: dict) -> dict[str, Decimal]:
    return {a: D(p["amount"]) for a, p in state["futures"]["positions"].items() if D(p["amount"]) != 0}


async def test_after_a_rebalance_each_hedge_has_one_stop_between_mark_and_liquidation(dialect: Dialect, tmp_path):
    async with start_exchange(SCENARIO, dialect) as ex:
        rb = make(tmp_path, ex)
        try:
            report = await rb.cycle(execute=True)
            state = await sim_state(ex)
            again = await rb.cycle(execute=True)  # nothing to do: the stops are kept, not replaced
            state_again = await sim_state(ex)
        finally:
            await rb.close()
    assert report.outcome == "done", report.error
    assert positions(state) == {"BTC": D("-0.025"), "ETH": D("0.5")}
    stops = by_asset(state)
    assert sorted(stops) == ["BTC", "ETH"] and all(len(v) == 1 for v in stops.values()), stops
    for asset, side in (("BTC", "BUY"), ("ETH", "SELL")):
        (stop,) = stops[asset]
        pos = state["futures"]["positions"][asset]
        assert pos["liquidation_price"] is not None, pos
        mark, liq, trigger = D(pos["mark_price"]), D(pos["liquidation_price"]), D(stop["trigger_price"])
        assert stop["side"] == side and stop["reduce_only"] is True
        lo, hi = sorted((mark, liq))
        assert lo < trigger < hi, (asset, mark, trigger, liq)
        # 25 % against the position (risk.min_liquidation_distance), unless the liquidation price is nearer
        expected = mark * (D(1) + D("0.25") if side == "BUY" else D(1) - D("0.25"))
        buffer_cap = mark + D("0.8") * (liq - mark)
        assert trigger == min(expected, buffer_cap) if side == "BUY" else trigger == max(expected, buffer_cap), trigger
    assert {v.asset: v.state for v in report.protection.stops.values()} == {"BTC": "resting", "ETH": "resting"}
    assert again.outcome == "nothing_to_do" and again.protection.count("placed") == 0
    assert again.protection.count("kept") == 2
    assert stops_on_exchange(state_again) == stops_on_exchange(state)


async def test_a_price_move_through_the_stop_closes_the_hedge_and_the_next_cycle_journals_it_and_keeps_the_net(
        dialect: Dialect, tmp_path):
    async with start_exchange(SCENARIO, dialect) as ex:
        rb = make(tmp_path, ex)
        try:
            first = await rb.cycle(execute=True)
            assert first.outcome == "done", first.error
            btc_stop = by_asset(await sim_state(ex))["BTC"][0]
            trigger = D(btc_stop["trigger_price"])
            up = trigger * D("1.02")
            await sim_post(ex, "prices", {"BTC": {"spot": float(up), "mark": float(up)}})
            closed = await sim_state(ex)
            report = await rb.cycle(execute=True)
            state = await sim_state(ex)
        finally:
            await rb.close()
    assert "BTC" not in positions(closed), "the stop closed the short on the exchange"
    fired = report.protection.fired
    assert [e.asset for e in fired] == ["BTC"]
    rows = journal_rows(tmp_path / "journal.db",
                        "SELECT client_order_id, leg, order_type, state, filled, reduce_only, exchange_order_id"
                        " FROM orders WHERE leg = 'stop'")
    assert len(rows) == 1 and rows[0]["state"] == "filled" and rows[0]["reduce_only"] == 1
    assert dialect.base("BTC", D(rows[0]["filled"])) == D("0.025")
    assert rows[0]["client_order_id"] == fired[0].client_order_id
    # the external-change check counts the stop's fill as the bot's own: no halt
    assert report.external_action == "" and report.external_change is not None and report.external_change.clean
    v = report.verdict
    assert v.boxes["BTC"].frozen and "STOP_COOLDOWN" in v.boxes["BTC"].codes
    # BTC cannot be re-hedged during the cooldown: the ETH long is cut so the book nets to the plan
    held = positions(state)
    marks = {a: D(p["mark_price"]) for a, p in state["futures"]["positions"].items()}
    net = sum((held.get(a, D(0)) * marks[a] for a in held), D(0))
    assert held.get("BTC", D(0)) == 0
    assert abs(net - v.planned_net) <= v.residual_bound, (net, held)
    # with BTC frozen at 0 and a planned net of 0, the ETH long is the only free leg: it is closed
    assert "ETH" not in held and [(o.asset, o.reduce_only) for o in v.approved] == [("ETH", True)]
    # and its stop with it: nothing rests for positions that are gone
    assert by_asset(state) == {}


class Killed(BaseException):
    """The process dies here (like SIGKILL): nothing after it runs."""


async def test_killed_between_cancel_and_place_of_a_replacement_the_next_start_protects_with_one_stop(
        dialect: Dialect, tmp_path):
    async with start_exchange(SCENARIO, dialect) as ex:
        rb = make(tmp_path, ex)
        try:
            first = await rb.cycle(execute=True)
            assert first.outcome == "done", first.error
        finally:
            await rb.close()
        # the mark moves 10 %: both stops want a new trigger (more than reprice_threshold 5 %)
        await sim_post(ex, "prices", {"BTC": {"spot": 44000, "mark": 44000}, "ETH": {"spot": 2200, "mark": 2200}})
        rb = make(tmp_path, ex, band=0.5)  # a wide band: the cycle trades nothing, it only re-prices stops
        real_place = rb.venue.place_stop

        async def die(*args: Any, **kw: Any) -> Any:
            raise Killed

        rb.venue.place_stop = die
        with contextlib.suppress(Killed):
            await rb.cycle(execute=True)
        between = await sim_state(ex)
        await rb.venue.close()  # the process is gone; its journal file stays as it was
        rb.journal.close()
        rb.venue.place_stop = real_place

        restarted = make(tmp_path, ex, band=0.5)
        try:
            report = await restarted.cycle(execute=True)
            state = await sim_state(ex)
        finally:
            await restarted.close()
    assert len(stops_on_exchange(between)) < 2, "the kill came after at least one cancel"
    stops = by_asset(state)
    assert sorted(stops) == ["BTC", "ETH"] and all(len(s) == 1 for s in stops.values()), stops
    assert D(stops["BTC"][0]["trigger_price"]) > 44000 and D(stops["ETH"][0]["trigger_price"]) < 2200
    assert report.outcome in ("nothing_to_do", "done"), report.error
    live = Journal(tmp_path / "journal.db").live_stops()
    assert sorted(s.asset for s in live) == ["BTC", "ETH"]


async def test_a_refused_stop_is_an_alert_and_its_asset_may_only_shrink_until_a_stop_rests(dialect: Dialect, tmp_path):
    async with start_exchange(SCENARIO, dialect) as ex:
        rb = make(tmp_path, ex)
        try:
            real = rb.venue.place_stop
            from rebalancer.venues.errors import RejectedError

            async def refuse(symbol: str, *args: Any, **kw: Any) -> Any:
                if symbol == BTC:
                    raise RejectedError("stop refused by the exchange (test)", code="test")
                return await real(symbol, *args, **kw)

            rb.venue.place_stop = refuse
            first = await rb.cycle(execute=True)
            flagged = rb._limits_for(first.snapshot).reducing_assets
            rb.venue.place_stop = real
            second = await rb.cycle(execute=True)
            state = await sim_state(ex)
        finally:
            await rb.close()
    assert [e.asset for e in first.protection.rejected] == ["BTC"]
    assert set(flagged) == {"BTC"} and "refused" in flagged["BTC"]
    assert second.verdict.boxes["BTC"].codes and "STOP_REJECTED" in second.verdict.boxes["BTC"].codes
    assert sorted(by_asset(state)) == ["BTC", "ETH"]
