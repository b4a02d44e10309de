"""A loopback fault proxy of the project's own, between the bot's real ccxt client and the local exchange.

It forwards every request to the exchange unchanged and, for the requests a queued fault targets,
spoils the answer *after* the exchange has handled the request (so an order hit by a write fault
IS executed), or forges an answer without asking the exchange at all (lookups):

It speaks any dialect: the exchange's dialect (tests/integration/dialects.py) says which request places
an order and which look one up.

write faults (the dialect's order placement, e.g. POST /fapi/v1/order), each consumed by one request,
in the order queued:
- "reset":     forward, then abort the TCP connection without a byte of response.
- "cut_body":  forward, send the status line, headers and half of the body, then abort
               (aiohttp: ClientPayloadError "Response payload is not completed").
- "truncated": forward, answer 200 with the first half of the JSON body (a complete HTTP message).
- "garbage":   forward, answer 200 with bytes that are not JSON.
- "html_502":  forward, answer 502 with a gateway's HTML page.
- "late":      forward, then hold the answer `late_s` seconds (past the client timeout), then send it.

lookup faults: `forge_not_found(n)` answers the next n lookups of a spoiled order (by its client id)
with the dialect's "no such order" (Binance -2013, OKX 51603, Bybit an empty realtime and history list)
without asking the exchange (propagation lag, a wrong symbol, a proxy: the exchange executed it all the
same). Lookups of other orders pass: on Bybit and OKX every order is looked up (their replies carry ids
only). A lookup that reads several routes (Bybit: open orders and history, concurrently; BingX and MEXC:
their query by client id, confirmed against open orders and history) is forged on each of them; a
listing the venue cannot filter by client id (BingX, MEXC and WEEX open orders and history) is forwarded
and answered without the spoiled orders' rows.

Binds 127.0.0.1 only, on a free port; its lifetime is bounded by the `running_proxy` context
(and `max_lifetime_s`: after that it stops forwarding and answers 503).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from collections import Counter
from typing import Any, AsyncIterator

import aiohttp
from aiohttp import web
from yarl import URL

from tests.integration.dialects import Dialect, facts

WRITE_MODES = ("reset", "cut_body", "truncated", "garbage", "html_502", "late")
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}
HTML_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
            b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


@dataclass
class FaultProxy:
    """The proxy's state: queued write faults, the forged-lookup counter, and what it did."""

    upstream: str
    dialect: Dialect
    late_s: float = 5.0
    max_lifetime_s: float = 120.0
    writes: deque[str] = field(default_factory=deque)
    forge_lookups: Counter[str] = field(default_factory=Counter)  # lookup route -> forged answers left
    applied: list[str] = field(default_factory=list)  # every fault as it was applied
    forged: Counter[str] = field(default_factory=Counter)  # lookup route -> forged answers given
    spoiled: set[str] = field(default_factory=set)  # client ids of the orders a write fault hit
    forwarded: int = 0
    base_url: str = ""
    api_key: str = ""
    api_secret: str = ""
    password: str | None = None
    _started: float = field(default_factory=time.monotonic)
    _session: aiohttp.ClientSession | None = None

    def fail_next_write(self, mode: str, times: int = 1) -> None:
        if mode not in WRITE_MODES:
            raise ValueError(f"unknown write fault {mode!r}; one of {WRITE_MODES}")
        self.writes.extend([mode] * times)

    def forge_not_found(self, n: int) -> None:
        for route in self.dialect.lookup_routes:
            self.forge_lookups[route] += n

    @property
    def forged_lookups(self) -> int:
        """Lookups answered "no such order" by the proxy (each of a lookup's routes was forged)."""
        return min(self.forged[route] for route in self.dialect.lookup_routes)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if time.monotonic() - self._started > self.max_lifetime_s:
            return web.Response(status=503, text="fault proxy past its lifetime")
        lookup = self.dialect.lookup_of(request)
        if lookup is not None and self.forge_lookups[lookup.route] > 0 and self.spoiled:
            if lookup.client_id is not None and lookup.client_id_of(request) in self.spoiled:
                self._count_forged(lookup)
                status, body = lookup.not_found
                return web.json_response(dict(body), status=status)
            if lookup.client_id is None:  # a listing: the venue's own answer without the spoiled orders
                status, headers, body = await self._forward(request)
                if status == 200:
                    body, _ = lookup.without(body, self.spoiled)
                    self._count_forged(lookup)
                return web.Response(status=status, headers=headers, body=body)
        mode = self.writes.popleft() if self.dialect.is_order(request) and self.writes else None
        status, headers, body = await self._forward(request)
        if mode is None:
            return web.Response(status=status, headers=headers, body=body)
        self.applied.append(mode)
        cid = self.dialect.placed_client_id(await request.read(), request.query)
        if cid:
            self.spoiled.add(cid)
        if mode == "reset":
            _abort(request)
            return web.Response(status=500)
        if mode == "cut_body":
            response = web.StreamResponse(status=status, headers=headers)
            response.content_length = len(body)
            await response.prepare(request)
            await response.write(body[: max(1, len(body) // 2)])
            await asyncio.sleep(0.05)
            _abort(request)
            return response
        if mode == "truncated":
            return web.Response(status=200, headers=headers, body=body[: max(1, len(body) // 2)])
        if mode == "garbage":
            return web.Response(status=200, body=b"\x00\x9f<<garbage>>\xff{not json", content_type="application/json")
        if mode == "html_502":
            return web.Response(status=502, body=HTML_502, content_type="text/html")
        # late: the client has timed out and closed by then; the write fails quietly
        await asyncio.sleep(self.late_s)
        return web.Response(status=status, headers=headers, body=body)

    def _count_forged(self, lookup: Any) -> None:
        self.forge_lookups[lookup.route] -= 1
        self.forged[lookup.route] += 1
        self.applied.append("forged not found")

    async def _forward(self, request: web.Request) -> tuple[int, dict[str, str], bytes]:
        assert self._session is not None
        self.forwarded += 1
        data = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        # The raw path and query, byte for byte: venues that sign the request path (OKX) would see a
        # re-encoded query (%2C -> ",") as a bad signature.
        url = URL(self.upstream + request.raw_path, encoded=True)
        async with self._session.request(request.method, url, headers=headers, data=data,
                                         allow_redirects=False) as resp:
            body = await resp.read()
            out = {k: v for k, v in resp.headers.items() if k.lower() not in HOP_HEADERS}
            return resp.status, out, body


def _abort(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.abort()


@asynccontextmanager
async def running_proxy(exchange: Any, *, late_s: float = 5.0, max_lifetime_s: float = 120.0) -> AsyncIterator[FaultProxy]:
    """A FaultProxy in front of `exchange` (a RunningExchange), on 127.0.0.1 and a free port; it is
    stopped when the block ends. `base_url`, `api_key`, `api_secret`, `password` and `dialect` make it
    usable by settings_for."""
    proxy = FaultProxy(upstream=exchange.base_url, dialect=facts(exchange.dialect), late_s=late_s,
                       max_lifetime_s=max_lifetime_s, api_key=exchange.api_key, api_secret=exchange.api_secret,
                       password=exchange.password)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    proxy._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        proxy.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        yield proxy
    finally:
        await proxy._session.close()
        await runner.cleanup()


__all__ = ["FaultProxy", "WRITE_MODES", "running_proxy"]
