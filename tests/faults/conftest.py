"""Fault-suite helpers: the local exchange in any dialect with extra fault middlewares, rebalancers
wired for tests, an exchange-vs-journal audit, and the rows of the fault table printed at the end.

Every test records one row (dialect, fault, cycles run, orders placed, duplicates, lost records) with
`fault_row`; every test takes the `dialect` fixture (tests/conftest.py) and runs on each dialect.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import astuple, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable

import pytest
from aiohttp import web

from rebalancer.domain import OrderState
from rebalancer.exchange_sim.rejections import Reason, Rejection
from rebalancer.exchange_sim.runner import RunningExchange
from rebalancer.exchange_sim.scenario import coerce_scenario
from rebalancer.exchange_sim.server import SimServer
from rebalancer.journal import (
    STOP_CANCELED,
    STOP_FIRED,
    STOP_LIVE_STATES,
    STOP_RESTING,
    STOP_UNKNOWN,
    STOP_VANISHED,
    Journal,
)
from rebalancer.service import Rebalancer, make_venue
from tests.conftest import FAULT_ROW
from tests.integration.conftest import settings_for, sim_post, sim_state
from tests.integration.dialects import Dialect, adapt_scenario, facts

__all__ = [
    "STOP_ROUTES", "Audit", "FaultRow", "RecordingSleep", "StopFault", "StopRoutes", "VenueProxy", "audit",
    "example_scenario", "make_rebalancer", "positions", "serve", "settings_for", "sim_post", "sim_state",
]


# --------------------------------------------------------------------------- the summary table


@dataclass(frozen=True)
class FaultRow:
    dialect: str
    fault: str
    cycles: int
    orders: int
    duplicates: int
    lost: int


# DOMAIN.md example 1, the portfolio most fault tests trade, and the book it should end with.
TARGETS = {"BTC": 0.5, "ETH": 0.5}
EXAMPLE_1 = {"BTC": Decimal("-0.025"), "ETH": Decimal("0.5")}


@pytest.fixture
def fault_row(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Record this test's line of the fault table (tests/conftest.py prints it): fault_row(name, cycles,
    audit). The row rides in the test's report, so the table is whole under xdist too."""
    params = getattr(getattr(request.node, "callspec", None), "params", {})
    name = str(params.get("dialect", "binance"))

    def record(fault: str, cycles: int, result: "Audit") -> None:
        row = FaultRow(name, fault, cycles, result.orders_placed, len(result.duplicates), len(result.lost))
        request.node.user_properties.append((FAULT_ROW, astuple(row)))

    return record


# --------------------------------------------------------------------------- the exchange


def example_scenario(*, spot: dict | None = None, prices: dict | None = None, wallet: float = 10000,
                     positions: Iterable[dict] = (), faults: dict | None = None) -> dict[str, Any]:
    """DOMAIN.md example 1 by default: spot BTC $6,000 / ETH $4,000, flat, a large futures wallet."""
    spot = spot if spot is not None else {"BTC": 0.15, "ETH": 2}
    prices = prices if prices is not None else {"BTC": 40000, "ETH": 2000}
    return {
        "markets": {a: {"spot_price": p, "funding_rate": 0.0001, "amount_step": 0.001} for a, p in prices.items()},
        "spot": {**spot, "USDT": 0},
        "futures": {"wallet": wallet, "leverage": 5, "positions": list(positions)},
        "faults": dict(faults or {}),
    }


Middleware = Callable[[web.Request, Callable[[web.Request], Awaitable[web.StreamResponse]]],
                      Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serve(scenario: Any, dialect: Dialect | str, *,
                middlewares: Iterable[Middleware] = ()) -> AsyncIterator[RunningExchange]:
    """Like runner.start_exchange (loopback, free port) in `dialect`, the scenario adjusted for it
    (dialects.adapt_scenario), with test middlewares in front of the exchange's own: faults the
    exchange has no key for (a drop *rate*, HTTP 418)."""
    middlewares = list(middlewares)
    sc = coerce_scenario(adapt_scenario(scenario, dialect) if isinstance(scenario, dict) else scenario)
    server = SimServer(sc, dialect=facts(dialect).name)
    for i, mw in enumerate(middlewares):
        server.app.middlewares.insert(i, web.middleware(mw))
    runner = web.AppRunner(server.app, handler_cancellation=True, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        ex = RunningExchange(base_url=f"http://127.0.0.1:{port}", host="127.0.0.1", port=port,
                             engine=server.engine, scenario=sc, server=server)
        for mw in middlewares:
            if hasattr(mw, "bind"):  # a middleware that needs the exchange it runs in (StopFault)
                mw.bind(ex)
        yield ex
    finally:
        server.stopping.set()
        await runner.cleanup()


def positions(state: dict) -> dict[str, Decimal]:
    return {a: Decimal(p["amount"]) for a, p in state["futures"]["positions"].items()}


# --------------------------------------------------------------------------- faults on protective stops

# Where each dialect takes and cancels a protective stop (what ccxt 4.5.90 sends for the venue's
# StopOrders, see venues/exchanges.py). Bybit and BingX take stops on their ordinary order route, so a
# placement is told to be a stop's by what the exchange made of it (a new STOP_MARKET order), never by
# reading the body (the dialects' auth reads it only while request.can_read_body). Their cancel route is
# the ordinary one too: the fault tests that target it place market orders only, never cancelled.


STOP_MARKET = "STOP_MARKET"  # the exchange's (and /_sim/state's) type of a protective stop order


@dataclass(frozen=True)
class StopRoutes:
    place: str  # "METHOD /path"
    cancel: str


STOP_ROUTES: dict[str, StopRoutes] = {
    "binance": StopRoutes("POST /fapi/v1/algoOrder", "DELETE /fapi/v1/algoOrder"),
    "bybit": StopRoutes("POST /v5/order/create", "POST /v5/order/cancel"),
    "okx": StopRoutes("POST /api/v5/trade/order-algo", "POST /api/v5/trade/cancel-algos"),
    "bingx": StopRoutes("POST /openApi/swap/v2/trade/order", "DELETE /openApi/swap/v2/trade/order"),
    "mexc": StopRoutes("POST /api/v1/private/planorder/place", "POST /api/v1/private/planorder/cancel"),
    "weex": StopRoutes("POST /capi/v3/algoOrder", "DELETE /capi/v3/algoOrder"),
}


class StopFault:
    """A test middleware (serve(..., middlewares=[fault]), which binds it to the exchange) faulting the
    next `count` protective stop placements (`target` "place") or stop cancels ("cancel") of the
    dialect once armed. mode "drop": the exchange executes the request (a placement counts only when
    the exchange took a new stop), its response is held until the client gives up (a timeout: the
    outcome is unknown to the bot), as the drop_order_responses fault does for orders. mode "5xx"
    (cancels): answered HTTP 503 with the dialect's "service unavailable" error before the exchange
    sees it: NOT executed. `hits` lists the requests faulted."""

    def __init__(self, dialect: Dialect | str, target: str, mode: str, count: int = 0) -> None:
        if (target, mode) not in (("place", "drop"), ("cancel", "drop"), ("cancel", "5xx")):
            raise ValueError(f"no such stop fault: {mode} on {target}")
        self.routes = STOP_ROUTES[facts(dialect).name]
        self.target, self.mode, self.left = target, mode, count
        self.hits: list[str] = []
        self.server: SimServer | None = None

    def bind(self, ex: RunningExchange) -> None:
        self.server = ex.server

    def arm(self, count: int) -> None:
        self.left = count

    async def __call__(self, request: web.Request,
                       handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        route = f"{request.method} {request.path}"
        if self.left <= 0 or route != (self.routes.place if self.target == "place" else self.routes.cancel):
            return await handler(request)
        server = self.server
        assert server is not None, "StopFault runs bound to its exchange (serve binds it)"
        if self.mode == "5xx":
            self.left -= 1
            self.hits.append(route)
            return server.dialect.error_response(Rejection(Reason.SERVICE_UNAVAILABLE, status=503))
        before = len(server.engine.orders)
        response = await handler(request)
        if self.target == "place" and not any(o.type == STOP_MARKET for o in server.engine.orders[before:]):
            return response  # not a stop (an ordinary order on a shared route), or refused
        self.left -= 1
        self.hits.append(route)
        await asyncio.sleep(300)  # cancelled when the client times out and closes the connection
        return response


# --------------------------------------------------------------------------- the bot


class RecordingSleep:
    """An injectable sleep that records every wait and lets the event loop run without waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(float(seconds))
        await asyncio.sleep(0)


class VenueProxy:
    """Delegates to a real CcxtVenue; tests override one method to act between two steps of a cycle."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def make_rebalancer(settings: Any, *, sleep: Callable[[float], Awaitable[None]] | None = None,
                    wrap: Callable[[Any], Any] | None = None, **venue_kw: Any) -> Rebalancer:
    """A Rebalancer on the real ccxt venue; `sleep` is injected into both the venue's read retries
    and the executor (lookup spacing, Retry-After), so tests can record waits instead of sleeping."""
    sleep = sleep or RecordingSleep()
    venue = make_venue(settings, sleep=sleep, **venue_kw)
    for client in {id(c): c for c in (venue.hedge_client, venue.spot_client)}.values():
        client.timeout_on_exit = 0  # ccxt sleeps 250 ms in close() for TLS teardown; plain http needs none
    if wrap is not None:
        venue = wrap(venue)
    return Rebalancer(settings, venue=venue, executor_kw={"lookup_delay_s": 0.05, "sleep": sleep})


# --------------------------------------------------------------------------- the audit

FILLED_STATES = (OrderState.FILLED, OrderState.PARTIALLY_FILLED)


@dataclass(frozen=True)
class Audit:
    """The exchange's order list compared with the journal."""

    orders_placed: int  # orders the exchange accepted
    duplicates: list[str] = field(default_factory=list)  # a client order id the exchange executed twice
    lost: list[str] = field(default_factory=list)  # anything the journal does not account for
    unknown: list[str] = field(default_factory=list)  # journaled UNKNOWN (allowed, with a reason)


def audit(state: dict, journal: Journal, dialect: Dialect | str) -> Audit:
    """No duplicates: every client order id appears at most once among the exchange's orders.
    Nothing lost: every exchange order is journaled with the exchange's fill, every journaled fill
    is on the exchange, every order is final (or UNKNOWN with a reason), and check_consistency() is clean.
    Fills are compared in base units: the journal counts the venue's contracts, /_sim/state base units.
    Protective stops (STOP_MARKET on the exchange) are matched with the journal's `stops` by client id
    instead (_audit_stops)."""
    d = facts(dialect)
    ex_orders = state["orders"]
    by_cid: dict[str, list[dict]] = {}
    for o in ex_orders:
        by_cid.setdefault(o["client_order_id"], []).append(o)
    duplicates = [cid for cid, found in by_cid.items() if len(found) > 1]
    lost: list[str] = list(journal.check_consistency())
    unknown: list[str] = []
    records = {r.client_order_id: r for r in journal.orders()}
    stops_on_exchange: dict[str, list[dict]] = {}
    for cid, found in by_cid.items():
        if any(o["type"] == STOP_MARKET for o in found):
            stops_on_exchange[cid] = found
            continue
        record = records.get(cid)
        if record is None:
            lost.append(f"exchange order {cid} is not in the journal")
            continue
        executed = sum(Decimal(o["executed_qty"]) for o in found)
        if record.state is OrderState.UNKNOWN:
            continue  # checked below: it must carry a reason
        filled = d.base(record.asset, record.filled)
        if record.state not in FILLED_STATES and executed > 0:
            lost.append(f"{cid}: journal says {record.state.value}, the exchange filled {executed}")
        elif filled != executed:
            lost.append(f"{cid}: journal filled {filled} (base units), the exchange filled {executed}")
    for cid, record in records.items():
        if record.state in FILLED_STATES and cid not in by_cid:
            lost.append(f"{cid}: journal says {record.state.value}, the exchange has no such order")
        if record.state in (OrderState.PENDING, OrderState.OPEN):
            lost.append(f"{cid}: still {record.state.value} in the journal")
        if record.state is OrderState.UNKNOWN:
            last = journal.events(cid)[-1]
            if not last["detail"].get("reason"):
                lost.append(f"{cid}: unknown without a reason")
            unknown.append(cid)
    _audit_stops(stops_on_exchange, state, journal, records, d, lost, unknown)
    return Audit(len(ex_orders), duplicates, lost, unknown)


def _audit_stops(on_exchange: dict[str, list[dict]], state: dict, journal: Journal, records: dict[str, Any],
                 d: Dialect, lost: list[str], unknown: list[str]) -> None:
    """The exchange's stop orders against the journal's `stops`, by client id. Open on the exchange:
    journaled resting with the exchange's size (or unknown with the error that made it so, listed in
    `unknown`). Filled (it fired): journaled fired, and its `orders` row (leg "stop", type
    "stop_market") holds the exchange's fill. Cancelled or expired unfilled: journaled cancelled (the bot
    cancelled it) or vanished. Journal side: a stop journaled resting or fired is on the exchange, and no
    journaled stop is still pending or cancel_requested (cancel requested but not settled)."""
    journaled = {s.client_order_id: s for s in journal.stops()}
    open_ids = {o["client_order_id"] for o in state.get("open_orders", ()) if o["type"] == STOP_MARKET}
    for cid, found in on_exchange.items():
        stop = journaled.get(cid)
        if stop is None:
            lost.append(f"exchange stop {cid} is not in the journal's stops")
            continue
        (o,) = found[-1:]  # duplicates are reported by the caller
        executed = sum(Decimal(x["executed_qty"]) for x in found)
        if cid in open_ids:
            if stop.state == STOP_UNKNOWN:
                if not stop.error:
                    lost.append(f"stop {cid}: unknown without a reason")
                unknown.append(cid)
            elif stop.state != STOP_RESTING:
                lost.append(f"stop {cid}: journal says {stop.state}, it rests on the exchange")
            elif d.base(stop.asset, stop.amount) != Decimal(o["orig_qty"]):
                lost.append(f"stop {cid}: journal size {d.base(stop.asset, stop.amount)} (base units), "
                            f"the exchange's {o['orig_qty']}")
        elif executed > 0:
            order = records.get(cid)
            if stop.state != STOP_FIRED:
                lost.append(f"stop {cid}: journal says {stop.state}, the exchange filled {executed}")
            if order is None:
                lost.append(f"stop {cid} fired for {executed}: no orders row journals its fill")
            elif (order.leg, order.order_type) != ("stop", "stop_market"):
                lost.append(f"stop {cid}: its orders row is leg {order.leg!r} type {order.order_type!r}")
            elif order.state not in FILLED_STATES or d.base(order.asset, order.filled) != executed:
                lost.append(f"stop {cid}: journal order {order.state.value} filled "
                            f"{d.base(order.asset, order.filled)} (base units), the exchange filled {executed}")
        elif stop.state not in (STOP_CANCELED, STOP_VANISHED):
            lost.append(f"stop {cid}: journal says {stop.state}, the exchange has it {o['status']} unfilled")
    for cid, stop in journaled.items():
        if stop.state in (STOP_RESTING, STOP_FIRED) and cid not in on_exchange:
            lost.append(f"stop {cid}: journal says {stop.state}, the exchange has no such order")
        elif stop.state in STOP_LIVE_STATES and stop.state not in (STOP_RESTING, STOP_UNKNOWN):
            lost.append(f"stop {cid}: still {stop.state} in the journal")
        elif stop.state == STOP_UNKNOWN and cid not in on_exchange:
            unknown.append(cid)  # never reached the exchange, or not yet looked up: it must say why
            if not stop.error:
                lost.append(f"stop {cid}: unknown without a reason")


def journal_at(settings: Any) -> Journal:
    return Journal(Path(settings.journal.path))
