"""A real SIGKILL between the cancel and the place of a protective stop's replacement (issue 14), on every
dialect: `rebalancer rebalance --execute` as a subprocess, talking to the local exchange through a loopback
proxy that forwards everything and, the moment the process sends the replacement's placement (after its
cancels went through), SIGKILLs it and drops that request unforwarded. The exchange then holds the hedges
with their old stops cancelled and no new one; the next start must leave exactly one stop per hedge,
never two, and the journal and the exchange must agree."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import types
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from rebalancer.journal import Journal
from tests.integration.conftest import sim_post, sim_state, start_exchange, write_config
from tests.integration.test_protective_stops import SCENARIO, TARGETS, by_asset, positions, stops_on_exchange

pytestmark = [pytest.mark.faults, pytest.mark.integration]

D = Decimal
REBALANCER = Path(sys.executable).parent / "rebalancer"
STOP_ID = re.compile(rb"rs\d{14}[0-9a-f]{6}\d{2}")  # protect.stop_client_id: "rs" + cycle time + hash + index
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


def is_cancel(request: web.Request) -> bool:
    """Every dialect cancels with DELETE or on a path with "cancel" in it (their routes, checked above)."""
    return request.method == "DELETE" or "cancel" in request.path.lower()


class KillAtStopPlacement:
    """Forwards to the exchange; when armed, the first stop placement after a stop cancel kills `victim`."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.victim: subprocess.Popen | None = None
        self.cancels: list[str] = []
        self.killed_on: str | None = None
        self.session: aiohttp.ClientSession | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        seen = request.raw_path.encode() + b" " + body
        if self.victim is not None and self.killed_on is None:
            # The armed run trades nothing (a wide band): its only cancels are the stops' (by the
            # exchange's id on most venues), its only placements with an "rs" id the replacements.
            if is_cancel(request):
                self.cancels.append(request.path)
            elif request.method == "POST" and self.cancels and STOP_ID.search(seen):
                self.victim.kill()  # SIGKILL: the process dies with the placement on the wire
                self.killed_on = f"{request.method} {request.path}"
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=500)
        assert self.session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
        # The raw path and query byte for byte: OKX signs them (a re-encoded query is a bad signature).
        url = URL(self.upstream + request.raw_path, encoded=True)
        async with self.session.request(request.method, url, headers=headers, data=body or None,
                                        allow_redirects=False) as resp:
            payload = await resp.read()
            out = {k: v for k, v in resp.headers.items() if k.lower() not in HOP}
            return web.Response(status=resp.status, body=payload, headers=out)


@asynccontextmanager
async def kill_proxy(upstream: str) -> AsyncIterator[tuple[KillAtStopPlacement, str]]:
    proxy = KillAtStopPlacement(upstream)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    proxy.session = aiohttp.ClientSession(auto_decompress=False)
    try:
        yield proxy, f"http://127.0.0.1:{port}"
    finally:
        await proxy.session.close()
        await runner.cleanup()


async def rebalance(config: Path, proxy: KillAtStopPlacement | None = None) -> tuple[int, str]:
    proc = subprocess.Popen([str(REBALANCER), "rebalance", "--execute", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    if proxy is not None:
        proxy.victim = proc
    try:
        _, err = await asyncio.to_thread(proc.communicate, timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err.decode(errors="replace")


async def test_sigkill_between_the_cancel_and_the_place_of_a_replacement_then_next_start_has_one_stop_per_hedge(
        dialect, tmp_path):
    async with start_exchange(SCENARIO, dialect) as ex, kill_proxy(ex.base_url) as (proxy, url):
        via = types.SimpleNamespace(base_url=url, api_key=ex.api_key, api_secret=ex.api_secret,
                                    dialect=getattr(ex, "dialect", dialect.name),
                                    password=getattr(ex, "password", None))
        extra = "\n[protection]\nenabled = true\n"
        config = write_config(tmp_path, via, TARGETS, max_margin_usage=0.9, extra=extra)
        code, err = await rebalance(config)
        assert code == 0, err
        first = await sim_state(ex)
        # The marks move 10 %: both stops want a new trigger (beyond reprice_threshold 5 %); a wide band
        # keeps the cycle from trading, so its only writes are the stops' cancels and places.
        await sim_post(ex, "prices", {"BTC": {"spot": 44000, "mark": 44000}, "ETH": {"spot": 2200, "mark": 2200}})
        config = write_config(tmp_path, via, TARGETS, max_margin_usage=0.9, band=0.5, extra=extra)
        code, err = await rebalance(config, proxy)
        between = await sim_state(ex)
        assert proxy.killed_on is not None and code == -9, (proxy.killed_on, code, err)
        proxy.victim = None
        code, err = await rebalance(config)  # the next start
        assert code == 0, err
        after = await sim_state(ex)

    held = positions(first)
    assert held == positions(between) == positions(after) == {"BTC": D("-0.025"), "ETH": D("0.5")}
    assert sorted(by_asset(first)) == ["BTC", "ETH"]
    # the kill landed after the cancels and before any replacement reached the exchange
    assert proxy.cancels and len(stops_on_exchange(between)) < len(stops_on_exchange(first)), proxy.cancels
    stops = by_asset(after)
    assert sorted(stops) == ["BTC", "ETH"] and all(len(s) == 1 for s in stops.values()), stops
    for asset, side, beyond in (("BTC", "BUY", lambda t: t > 44000), ("ETH", "SELL", lambda t: t < 2200)):
        (stop,) = stops[asset]
        assert stop["side"] == side and beyond(D(stop["trigger_price"])), stop
    with Journal(tmp_path / "journal.db") as journal:
        live = journal.live_stops()
        assert sorted(s.asset for s in live) == ["BTC", "ETH"], live
        assert {s.client_order_id for s in live} == {o["client_order_id"] for o in stops_on_exchange(after)} or \
            dialect.name == "mexc"  # MEXC lists no client id: matched by symbol, side and trigger
        assert list(journal.check_consistency()) == []
