"""The daemon and the protective stops / ledger (issue 14), on every dialect, in process against the local
exchange over HTTP: a daemon started without a cycle at start (rebalance.run_at_start = false) still puts
back every missing stop at once (a "protect" cycle that trades nothing) and reads the ledger; /metrics
then carries the exchange's funding per asset; a stop that fires is alerted (webhook) and exported."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal

import httpx
import pytest
import requests
import respx

from rebalancer.daemon import Daemon
from rebalancer.report import report_json
from rebalancer.service import Rebalancer
from rebalancer.settings import load_settings
from tests.integration.conftest import journal_rows, sim_post, sim_state, start_exchange, write_config
from tests.integration.test_daemon import free_port
from tests.integration.test_ledger import income_by_asset
from tests.integration.test_protective_stops import SCENARIO, TARGETS, by_asset, positions

pytestmark = pytest.mark.integration
D = Decimal
WEBHOOK = "https://hooks.example.test/rebalancer"


def gauge(metrics: str, name: str, asset: str | None = None) -> Decimal | None:
    prefix = f'{name}{{asset="{asset}"}} ' if asset is not None else f"{name} "
    for line in metrics.splitlines():
        if line.startswith(prefix):
            return D(line[len(prefix):])
    return None


async def wait_until(done, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def test_daemon_without_a_cycle_at_start_puts_back_missing_stops_reads_the_ledger_and_alerts_a_fired_stop(
        dialect, tmp_path):
    async with start_exchange(SCENARIO, dialect) as ex:
        # Hedges opened by a bot that ran without protection: nothing rests on the exchange.
        bare = Rebalancer(load_settings(write_config(tmp_path, ex, TARGETS, max_margin_usage=0.9), env={}),
                          executor_kw={"lookup_delay_s": 0.05})
        try:
            first = await bare.cycle(execute=True)
        finally:
            await bare.close()
        assert first.outcome == "done", first.error
        assert by_asset(await sim_state(ex)) == {}
        await sim_post(ex, "settle-funding", {})  # the exchange pays/charges funding once while the bot is off

        extra = (f'\n[health]\nhost = "127.0.0.1"\nport = {free_port()}\n'
                 f'\n[alerts]\nwebhook_url = "{WEBHOOK}"\nformat = "generic"\n'
                 "\n[protection]\nenabled = true\n")
        path = write_config(tmp_path, ex, TARGETS, max_margin_usage=0.9, schedule="1h", extra=extra)
        path.write_text(path.read_text().replace('schedule = "1h"', 'schedule = "1h"\nrun_at_start = false', 1))
        settings = load_settings(path, env={})
        assert settings.rebalance.run_at_start is False
        with respx.mock(assert_all_called=False) as mock:
            mock.route(host="127.0.0.1").pass_through()
            route = mock.post(WEBHOOK).mock(return_value=httpx.Response(200))
            daemon = Daemon(settings)
            task = asyncio.create_task(daemon.run())
            try:
                await wait_until(lambda: daemon.cycles_run >= 1 or task.done(), timeout=30)
                assert not task.done(), task.exception()
                protected = await sim_state(ex)
                metrics = (await asyncio.to_thread(requests.get, f"{daemon.health_url}/metrics", timeout=5)).text
                # a stop fires: the next cycle journals it and the webhook hears of it
                btc = by_asset(protected)["BTC"][0]
                up = D(btc["trigger_price"]) * D("1.02")
                await sim_post(ex, "prices", {"BTC": {"spot": float(up), "mark": float(up)}})
                fired = await daemon.run_cycle()
                await wait_until(lambda: any(json.loads(c.request.content)["kind"] == "protective_stop"
                                             for c in route.calls), timeout=10)
                metrics_after = (await asyncio.to_thread(requests.get, f"{daemon.health_url}/metrics",
                                                         timeout=5)).text
            finally:
                daemon.request_stop("test")
                assert await asyncio.wait_for(task, 30) == 0
        income = income_by_asset(await sim_state(ex))

    # the start put one stop on each hedge and traded nothing
    stops = by_asset(protected)
    assert sorted(stops) == ["BTC", "ETH"] and all(len(s) == 1 for s in stops.values()), stops
    assert positions(protected) == {"BTC": D("-0.025"), "ETH": D("0.5")}
    cycles = journal_rows(tmp_path / "journal.db", "SELECT id, kind, outcome FROM cycles ORDER BY started_at")
    assert [(c["kind"], c["outcome"]) for c in cycles[:2]] == [("rebalance", "done"), ("protect", "nothing_to_do")]
    orders = journal_rows(tmp_path / "journal.db", "SELECT cycle_id FROM orders")
    assert cycles[1]["id"] not in {o["cycle_id"] for o in orders}, "the protect cycle sent no order"
    # the ledger was read at start: the exchange's funding per asset is in /metrics, to the cent
    for asset in ("BTC", "ETH"):
        exported = gauge(metrics, "rebalancer_funding", asset)
        assert exported is not None and income[asset]["funding"] != 0
        assert abs(exported - income[asset]["funding"]) < D("0.01"), (asset, exported, income[asset])
    assert gauge(metrics, "rebalancer_hedges_unprotected") == 0
    # the fired stop: journaled, alerted (warning, with the asset), exported
    assert [e.asset for e in fired.protection.fired] == ["BTC"]
    alerts = [json.loads(c.request.content) for c in route.calls]
    stop_alerts = [a for a in alerts if a["kind"] == "protective_stop"]
    assert stop_alerts and stop_alerts[0]["severity"] == "warning" and "BTC" in stop_alerts[0]["title"]
    assert gauge(metrics_after, "rebalancer_fees", "BTC") is not None
    # the cycle's --json carries its ledger step: the stop's fill (and the ETH close) were read as trades
    doc = report_json(fired)
    assert doc["ledger"]["error"] is None and doc["ledger"]["trades_added"] >= 1, doc["ledger"]
    assert D(doc["ledger"]["total"]["funding"]) == income["BTC"]["funding"] + income["ETH"]["funding"]
