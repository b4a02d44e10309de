"""The local exchange over HTTP, dialect-neutral: routing, faults, request counters, persistence and the
/_sim admin API. Each exchange's wire protocol (routes, auth, payloads, error codes) is a dialect
(dialects/<exchange>/); state and money math live in Engine.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import tempfile
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping

from aiohttp import web

from .dialects import DEFAULT_DIALECT, dialect_class
from .dialects.base import Dialect, Handler
from .engine import Engine, Order, OrderRequest, SimClock, plain
from .rejections import Reason, Rejection
from .scenario import QUOTE, FaultSpec, Scenario, ScenarioError, parse_faults, to_decimal

RouteHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]

log = logging.getLogger(__name__)

DROP_HOLD_SECONDS = 300  # a dropped response is held this long at most, then the connection is closed
RETRY_AFTER_SECONDS = 1
ADMIN_PREFIX = "/_sim/"


# --------------------------------------------------------------------------- faults


class FaultInjector:
    """The live [faults] settings plus the seeded RNG; "next N" counters are consumed here.

    Semantics (admin /_sim requests are never faulted; faulted requests are still counted):
    - latency_ms: sleep before handling every targeted request.
    - reset_connections: the next N targeted requests get their TCP connection aborted with no
      response, before processing (an order is NOT executed). aiohttp clients retry an
      idempotent request (GET/DELETE) once on a closed connection, so one async ccxt GET uses 2.
    - rate_limit_429: the next N targeted requests get HTTP 429, `Retry-After: 1` and
      the dialect's rate-limit error; ccxt raises DDoSProtection / RateLimitExceeded.
    - error_rate_5xx: each targeted request fails with this probability (seeded RNG, `seed`)
      as HTTP 503 with the dialect's "service unavailable" error (ccxt: a retryable error). Not executed.
    - drop_order_responses: the next N accepted orders (the dialect's order placement) ARE executed and
      stored, but the response is held until the client gives up (it sees a timeout:
      ccxt RequestTimeout) or the server stops, then the connection is closed unanswered.
      The order is queryable by client id. Not subject to faults_on.
    - reject_orders_with: while non-empty, every new order is rejected with that Binance code
      (Binance's own message when known), before execution. Not subject to faults_on.
    - clock_skew_ms: offset of the server clock (/time, timestamp checks, order times).
    - faults_on: which requests latency/reset/429/5xx target: "all", "orders" (order
      placement, as the dialect tells) or "reads" (every GET).
    """

    def __init__(self, spec: FaultSpec, clock: SimClock) -> None:
        self.clock = clock
        self.spec = spec
        self.rng = random.Random(spec.seed)
        clock.skew_ms = spec.clock_skew_ms

    def update(self, raw: Mapping[str, Any]) -> FaultSpec:
        """Merge a POST /_sim/faults body; a given `seed` restarts the RNG so runs repeat."""
        self.spec = parse_faults(raw, self.spec)
        if "seed" in raw:
            self.rng = random.Random(self.spec.seed)
        self.clock.skew_ms = self.spec.clock_skew_ms
        return self.spec

    def reset(self, spec: FaultSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.clock.skew_ms = spec.clock_skew_ms

    def targets(self, request: web.Request, is_order: Callable[[web.Request], bool]) -> bool:
        """Whether request-level faults apply: faults_on = all | orders (placement) | reads (GET)."""
        if self.spec.faults_on == "orders":
            return is_order(request)
        if self.spec.faults_on == "reads":
            return request.method == "GET"
        return True

    def take(self, counter: str) -> bool:
        """Consume one unit of a "next N requests" counter; False when it is used up."""
        remaining = getattr(self.spec, counter)
        if remaining <= 0:
            return False
        self.spec = replace(self.spec, **{counter: remaining - 1})
        return True

    def roll_5xx(self) -> bool:
        return self.spec.error_rate_5xx > 0 and self.rng.random() < self.spec.error_rate_5xx


# --------------------------------------------------------------------------- the server


class SimServer:
    """Wires an Engine to aiohttp in one dialect: one instance per running exchange.

    The dialect gives the routes (each public or signed), checks signatures and timestamps against
    `clock()` and renders every Rejection as its exchange's error body. Unknown paths/methods answer
    the dialect's "unknown route" error with HTTP 404/405 (JSON, never HTML: ccxt maps a bare 404 to a
    retryable ExchangeNotAvailable, which would hide a missing route behind retries).

    Admin API (JSON, no auth, not counted, not faulted, the same in every dialect): GET /_sim/state;
    POST /_sim/prices, /_sim/funding, /_sim/settle-funding (optional {"hours": H}), /_sim/faults,
    /_sim/reset-counters, /_sim/position-mode, /_sim/balances, /_sim/reset. Bad input -> HTTP 400
    {"error": ...}.
    """

    def __init__(self, scenario: Scenario, *, dialect: str = DEFAULT_DIALECT,
                 state_file: str | os.PathLike[str] | None = None) -> None:
        self.scenario = scenario
        self.clock = SimClock()
        self.faults = FaultInjector(scenario.faults, self.clock)
        self.engine = Engine(scenario, self.clock)
        self.state_file = Path(state_file) if state_file is not None else None
        if self.state_file is not None and self.state_file.exists():
            try:
                self.engine.load_state(json.loads(self.state_file.read_text(encoding="utf-8")))
            except (ValueError, KeyError, TypeError) as exc:
                raise ScenarioError(
                    "", f"state file {self.state_file} is unreadable ({exc}); delete it to start fresh"
                ) from None
        self.requests: Counter[str] = Counter()
        self.stopping = asyncio.Event()
        self.dialect_name = dialect
        self.dialect: Dialect = dialect_class(dialect)(self)
        self.engine.enforce_min_notional = self.dialect.enforces_min_notional
        self.engine.order_maxima = self.dialect.order_maxima
        self.app = self._build_app()

    # ------------------------------------------------------------------ app and middleware

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        for route in self.dialect.routes():
            app.router.add_route(route.method, route.path, self._endpoint(route.handler, signed=route.signed))
        admin = [
            ("GET", "state", self.admin_state), ("POST", "prices", self.admin_prices),
            ("POST", "funding", self.admin_funding), ("POST", "settle-funding", self.admin_settle_funding),
            ("POST", "faults", self.admin_faults), ("POST", "reset-counters", self.admin_reset_counters),
            ("POST", "position-mode", self.admin_position_mode), ("POST", "balances", self.admin_balances),
            ("POST", "reset", self.admin_reset),
        ]
        for method, name, admin_handler in admin:
            app.router.add_route(method, ADMIN_PREFIX + name, admin_handler)
        app.on_shutdown.append(self._release_held)
        return app

    async def _release_held(self, _app: web.Application) -> None:
        self.stopping.set()

    def _error(self, rejection: Rejection, headers: Mapping[str, str] | None = None) -> web.Response:
        response = self.dialect.error_response(rejection)
        for key, value in (headers or {}).items():
            response.headers[key] = value
        return response

    @web.middleware
    async def _middleware(self, request: web.Request, handler: RouteHandler) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX):
            return await self._guard_admin(request, handler)
        self.requests[f"{request.method} {request.path}"] += 1
        faults = self.faults
        if faults.targets(request, self.dialect.is_order_placement):
            if faults.spec.latency_ms:
                await asyncio.sleep(faults.spec.latency_ms / 1000)
            if faults.take("reset_connections"):
                # Close the TCP connection without a byte of response (client: connection reset).
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=500)
            if faults.take("rate_limit_429"):
                return self._error(Rejection(Reason.RATE_LIMITED, status=429),
                                   {"Retry-After": str(RETRY_AFTER_SECONDS)})
            if faults.roll_5xx():
                # Rejected before processing: an order hit by this fault is NOT executed.
                return self._error(Rejection(Reason.SERVICE_UNAVAILABLE, status=503))
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return self._unknown_route(request, 404)
        except web.HTTPMethodNotAllowed:
            return self._unknown_route(request, 405)

    def _unknown_route(self, request: web.Request, status: int) -> web.Response:
        return self._error(Rejection(Reason.UNKNOWN_ROUTE, f"Path {request.path}, Method {request.method} is invalid",
                                     status=status))

    async def _guard_admin(self, request: web.Request, handler: RouteHandler) -> web.StreamResponse:
        try:
            return await handler(request)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as exc:
            return web.json_response({"error": f"no admin route {request.method} {request.path}"}, status=exc.status)
        except (ScenarioError, ValueError, KeyError, TypeError) as exc:
            text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            return web.json_response({"error": f"{text}"}, status=400)

    def _endpoint(self, handler: Handler, *, signed: bool) -> RouteHandler:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            try:
                params = await (self.dialect.authenticate(request) if signed else self.dialect.public_params(request))
                result = await handler(request, params)
            except Rejection as exc:
                return self._error(exc)
            except Exception as exc:  # a sim bug: make it loud and permanent, never a retryable 500
                log.exception("exchange-sim: %s %s failed", request.method, request.path)
                return self._error(Rejection(Reason.INTERNAL, f"exchange-sim internal error: {exc!r}", status=500))
            if isinstance(result, web.StreamResponse):
                return result
            return web.json_response(result)

        return endpoint

    # ------------------------------------------------------------------ orders

    async def place(self, request: web.Request, req: OrderRequest) -> Order:
        """Place an order for a dialect: the reject_orders_with fault first (before execution, in the
        dialect's own code), then the engine, persistence, and the drop_order_responses fault (the
        order IS executed and stored, its response never arrives)."""
        forced = self.faults.spec.reject_orders_with
        if forced:
            raise Rejection(Reason.FORCED, code=forced)
        order = self.engine.place_order(req)
        self.persist()
        if self.faults.take("drop_order_responses"):
            await self._hold_response(request)
        return order

    async def _hold_response(self, request: web.Request) -> None:
        """Swallow the response of an executed order: hold it until the client gives up (it sees a
        timeout) or the server stops, then close the connection without answering."""
        try:
            await asyncio.wait_for(self.stopping.wait(), timeout=DROP_HOLD_SECONDS)
        except asyncio.TimeoutError:
            pass
        if request.transport is not None:
            request.transport.abort()

    # ------------------------------------------------------------------ persistence

    def persist(self) -> None:
        """Write the engine state atomically (temp file + rename) so a crash never leaves half a file."""
        if self.state_file is None:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.state_file.name + ".", suffix=".tmp", dir=self.state_file.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(self.engine.to_state(), fh)
            os.replace(tmp, self.state_file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # ------------------------------------------------------------------ admin API (/_sim/...)

    @staticmethod
    async def _json_body(request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        try:
            body = await request.json()
        except ValueError:
            raise ValueError("body must be a JSON object") from None
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        return body

    def state(self) -> dict[str, Any]:
        return {
            **self.engine.state_view(),
            "requests": dict(sorted(self.requests.items())),
            "faults": asdict(self.faults.spec),
        }

    async def admin_state(self, request: web.Request) -> web.Response:
        return web.json_response(self.state())

    async def admin_prices(self, request: web.Request) -> web.Response:
        """{"BTC": {"spot": 36000, "mark": 36000}} or {"BTC": 36000} to move spot and mark together."""
        body = await self._json_body(request)
        for asset, value in body.items():
            if asset + QUOTE not in self.engine.markets:
                raise ValueError(f"{asset}: no such market")
            if isinstance(value, Mapping):
                unknown = set(value) - {"spot", "mark"}
                if unknown:
                    raise ValueError(f"{asset}: unknown key(s) {sorted(unknown)} (allowed: spot, mark)")
                spot = to_decimal(value["spot"], f"{asset}.spot") if "spot" in value else None
                mark = to_decimal(value["mark"], f"{asset}.mark") if "mark" in value else None
            else:
                spot = mark = to_decimal(value, asset)
            self.engine.set_prices(asset, spot, mark)
        self.persist()
        return web.json_response(self.engine.state_view()["markets"])

    async def admin_funding(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        for asset, rate in body.items():
            if asset + QUOTE not in self.engine.markets or not self.engine.markets[asset + QUOTE].spec.perp:
                raise ValueError(f"{asset}: no such perp market")
            self.engine.set_funding_rate(asset, to_decimal(rate, asset))
        self.persist()
        return web.json_response(self.engine.state_view()["markets"])

    async def admin_settle_funding(self, request: web.Request) -> web.Response:
        """{} : every position's next funding time comes once; {"hours": 8}: 8 hours pass, so each
        symbol pays hours // its funding_interval_hours times."""
        body = await self._json_body(request)
        unknown = set(body) - {"hours"}
        if unknown:
            raise ValueError(f"unknown key(s) {sorted(unknown)} (allowed: hours)")
        hours = body.get("hours")
        if hours is not None and (isinstance(hours, bool) or not isinstance(hours, int) or hours < 1):
            raise ValueError(f"hours must be a positive integer, got {hours!r}")
        paid = self.engine.settle_funding(hours)
        self.persist()
        return web.json_response(
            {"payments": [{"symbol": i.symbol, "income": plain(i.income), "time": i.time} for i in paid],
             "wallet": plain(self.engine.wallet)}
        )

    async def admin_faults(self, request: web.Request) -> web.Response:
        spec = self.faults.update(await self._json_body(request))
        return web.json_response(asdict(spec))

    async def admin_reset_counters(self, request: web.Request) -> web.Response:
        self.requests.clear()
        return web.json_response({"requests": {}})

    async def admin_position_mode(self, request: web.Request) -> web.Response:
        """{"dualSidePosition": true}: force hedge mode (bypasses the flat-account rule, for tests)."""
        body = await self._json_body(request)
        value = body.get("dualSidePosition")
        if not isinstance(value, bool):
            raise ValueError("dualSidePosition must be true or false")
        self.engine.dual_side_position = value
        self.persist()
        return web.json_response({"dualSidePosition": value})

    async def admin_balances(self, request: web.Request) -> web.Response:
        """{"spot": {"BTC": 0.2}, "wallet": 3000}: set spot balances and/or the futures wallet."""
        body = await self._json_body(request)
        unknown = set(body) - {"spot", "wallet"}
        if unknown:
            raise ValueError(f"unknown key(s) {sorted(unknown)} (allowed: spot, wallet)")
        for asset, amount in (body.get("spot") or {}).items():
            self.engine.set_spot_balance(asset, to_decimal(amount, f"spot.{asset}"))
        if "wallet" in body:
            self.engine.set_wallet(to_decimal(body["wallet"], "wallet"))
        self.persist()
        view = self.engine.state_view()
        return web.json_response({"spot": view["spot"], "wallet": view["futures"]["wallet"]})

    async def admin_reset(self, request: web.Request) -> web.Response:
        """Back to the scenario: state, request counters and faults."""
        self.engine.reset()
        self.requests.clear()
        self.faults.reset(self.scenario.faults)
        self.persist()
        return web.json_response(self.state())

