"""What one exchange's dialect gives the local exchange's server: its routes, its auth, its error
bodies. The server (server.py) owns everything dialect-neutral: the engine, the clock, faults,
request counters, persistence and the /_sim admin API.

A dialect is a class built with the server (`Dialect(server)`); its handlers reach the state through
`self.server.engine` and place orders through `await self.server.place(request, order_request)`,
which applies the order faults (reject_orders_with, drop_order_responses) and persists.

The engine's vocabulary is its own (market ids "BTCUSDT", sides "BUY"/"SELL", types "MARKET"/"LIMIT",
margin "CROSSED"/"ISOLATED", every quantity in base units): a dialect translates its venue's ids,
enums and contract counts (quantity = contracts x contract_size) at its edge, never inside the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Awaitable, Callable, ClassVar

from aiohttp import web

from ..rejections import Reason, Rejection

if TYPE_CHECKING:  # pragma: no cover
    from ..engine import Engine, MarketState
    from ..server import SimServer

Handler = Callable[[web.Request, dict[str, Any]], Awaitable[Any]]  # (request, verified params) -> JSON body


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    signed: bool = False


class Dialect:
    """Base class: subclasses set `name` and implement routes/auth/errors."""

    name: ClassVar[str] = ""
    # Whether the venue signs with a passphrase too (okx, weex): the scenario's [auth] password is checked.
    uses_password: ClassVar[bool] = False
    # Whether the venue publishes (and enforces) a minimum order value; OKX swaps have only a minimum size.
    enforces_min_notional: ClassVar[bool] = True
    # Which order maxima the venue publishes (and so enforces): "market" a separate one for market orders
    # (Binance MARKET_LOT_SIZE, Bybit maxMktOrderQty, OKX maxMktSz, WEEX marketOpenLimitSize) beside the
    # limit orders' one; "one" a single maximum for every order (MEXC maxVol); "none" (BingX swaps).
    order_maxima: ClassVar[str] = "market"
    # The paths a POST to places an order (faults_on = "orders", drop_order_responses).
    order_paths: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, server: "SimServer") -> None:
        self.server = server

    # ------------------------------------------------------------------ required

    def routes(self) -> list[Route]:
        raise NotImplementedError

    async def public_params(self, request: web.Request) -> dict[str, Any]:
        """Parameters of an unsigned request (query string, and the body where the venue uses one)."""
        raise NotImplementedError

    async def authenticate(self, request: web.Request) -> dict[str, Any]:
        """Verify key, signature (over the exact bytes ccxt signed) and timestamp against
        `self.server.clock()` (ms, skew included); return the request's parameters. Raise
        Rejection(AUTH_MISSING_KEY | AUTH_BAD_KEY | BAD_SIGNATURE | TIMESTAMP_OUTSIDE_WINDOW)."""
        raise NotImplementedError

    def error_response(self, rejection: Rejection) -> web.Response:
        """The venue's own error body for a refusal: its code for `rejection.reason` (or
        `rejection.code` for Reason.FORCED), `rejection.detail` or its default message, and
        `rejection.status` or the venue's usual HTTP status for that error."""
        raise NotImplementedError

    def is_order_placement(self, request: web.Request) -> bool:
        """Whether this request places an order (faults_on = "orders"): a POST to one of `order_paths`."""
        return request.method == "POST" and request.path in self.order_paths

    # ------------------------------------------------------------------ shared helpers

    @property
    def engine(self) -> "Engine":
        return self.server.engine

    def contracts(self, m: "MarketState", base: Decimal) -> Decimal:
        """Base units -> the venue's contracts for this market (contract_size 1: unchanged)."""
        return base / m.spec.contract_size

    def base(self, m: "MarketState", contracts: Decimal) -> Decimal:
        return contracts * m.spec.contract_size


def rejection_table_complete(table: dict[Reason, Any]) -> list[Reason]:
    """The reasons a dialect's code table leaves out (a test asserts this is empty)."""
    return [r for r in Reason if r not in table and r is not Reason.FORCED]


__all__ = ["Dialect", "Handler", "Route", "rejection_table_complete"]
