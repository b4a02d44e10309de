"""What the integration and fault suites must know about each dialect of the local exchange: the
config's exchange name, the request paths tests count or intercept, the venue's own error codes, and
the one per-dialect scenario adjustment (OKX counts contracts: BTC 0.01, ETH 0.1 base units each).

The tests stay the same on every dialect; everything that differs between exchanges is in this file.
Assertions stay in base units (`/_sim/state` `amount`), so a scenario gives the same base positions
on every dialect.
"""

from __future__ import annotations

import copy
import functools
import json
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import parse_qsl

from aiohttp import web

DIALECTS = ("binance", "bybit", "okx", "bingx", "mexc", "weex")


@dataclass(frozen=True)
class Lookup:
    """One request by which the venue finds an order by its client id, and how "no such order" looks.

    `route` is "METHOD /path"; a "{name}" segment matches any one path segment (MEXC puts the client id
    in the path). `client_id` says where the looked-up id is: a query key, or "{name}" for that path
    segment; None for a listing the venue cannot filter by client id (open orders, order history):
    there the tests' "not found" is the venue's own answer with the order's rows taken out."""

    route: str
    client_id: str | None
    not_found: tuple[int, Mapping[str, Any]] = (400, {})  # by client id: (HTTP status, JSON body)
    rows: tuple[str | int, ...] = ()  # a listing: where its list of orders sits in the answer
    row_client_id: str = ""  # a listing: a row's client-id key

    @property
    def method(self) -> str:
        return self.route.split(" ", 1)[0]

    @property
    def path(self) -> str:
        return self.route.split(" ", 1)[1]

    def match(self, request: web.Request) -> dict[str, str] | None:
        """The path's {name} segments when `request` is this lookup, else None."""
        if request.method != self.method:
            return None
        want, got = self.path.split("/"), request.path.split("/")
        if len(want) != len(got):
            return None
        names: dict[str, str] = {}
        for w, g in zip(want, got):
            if w.startswith("{") and w.endswith("}"):
                names[w] = g
            elif w != g:
                return None
        return names

    def client_id_of(self, request: web.Request) -> str | None:
        names = self.match(request)
        if names is None or self.client_id is None:
            return None
        if self.client_id.startswith("{"):
            return names.get(self.client_id)
        return request.query.get(self.client_id)

    def without(self, body: bytes, client_ids: set[str]) -> tuple[bytes, int]:
        """A listing's answer with the rows of `client_ids` taken out, and how many were."""
        doc = json.loads(body)
        holder: Any = doc
        for key in self.rows[:-1]:
            holder = holder[key]
        last = self.rows[-1] if self.rows else None
        rows = holder[last] if last is not None else holder
        kept = [r for r in rows if not (isinstance(r, Mapping) and r.get(self.row_client_id) in client_ids)]
        if last is None:
            doc = kept
        else:
            holder[last] = kept
        return json.dumps(doc).encode(), len(rows) - len(kept)


@dataclass(frozen=True)
class Dialect:
    """One dialect as the tests see it. Routes are "METHOD /path", the keys of /_sim/state `requests`."""

    name: str
    exchange: str  # [venues.*] exchange
    order_route: str  # where an order is placed
    lookups: tuple[Lookup, ...]  # how the venue looks an order up by client id (all of them per lookup)
    time_route: str  # the clock the venue resyncs from after a timestamp rejection
    client_id_param: str  # the client order id's name in a placement (body, or query where ccxt signs it)
    insufficient_margin: str  # the venue's code for "margin is insufficient" (reject_orders_with)
    insufficient_margin_text: str  # words of the venue's own message for it (lower case)
    timestamp_rejected: str  # the venue's code for "timestamp outside the window"
    # Exchange clock jumps (ahead, behind; ms) past what the venue accepts: Binance and Bybit refuse a
    # timestamp 1 s ahead of their clock or older than recvWindow; OKX anything 30 s off either way.
    clock_skews_ms: tuple[int, int] = (30_000, -5_000)
    # The venue's body for "too many requests" (sent with HTTP 418/429 and Retry-After by fault middlewares).
    rate_limited: Mapping[str, Any] = field(default_factory=dict)
    # base units per contract of the perps whose venue counts contracts (others: 1)
    contract_sizes: Mapping[str, Decimal] = field(default_factory=dict)
    # The order maxima the venue publishes: "market" (one for market orders beside the limit orders'),
    # "one" (a single maximum for every order: MEXC maxVol, which ccxt also makes its tiers' end),
    # "none" (BingX swaps publish no maximum).
    order_maxima: str = "market"
    # The maintenance tiers the venue publishes: "brackets" (any table, with each tier's max leverage),
    # "no_leverage" (brackets without max leverage: BingX), "first_only" (MEXC's contract detail gives an
    # arithmetic ladder only: the sim publishes a scenario's first bracket over the whole range), "none"
    # (WEEX: the gate uses default_mmr). adapt_scenario gives "first_only" and "none" venues the table
    # they can publish, so the exchange enforces what the bot can read.
    tiers: str = "brackets"

    @property
    def order_path(self) -> str:
        return self.order_route.split(" ", 1)[1]

    @property
    def lookup_routes(self) -> tuple[str, ...]:
        return tuple(lk.route for lk in self.lookups)

    def base(self, asset: str, amount: Decimal) -> Decimal:
        """An amount the venue (and so the journal and the order reports) counts, in base units."""
        return amount * self.contract_sizes.get(asset, Decimal(1))

    def contracts(self, asset: str, base: Decimal | float | str) -> Decimal:
        """A base-unit amount as the venue (and ccxt's create_order) counts it."""
        return Decimal(str(base)) / self.contract_sizes.get(asset, Decimal(1))

    def is_order(self, request: web.Request) -> bool:
        return f"{request.method} {request.path}" == self.order_route

    def lookup_of(self, request: web.Request) -> Lookup | None:
        return next((lk for lk in self.lookups if lk.match(request) is not None), None)

    def placed_client_id(self, body: bytes, query: Mapping[str, str] | None = None) -> str | None:
        """The client order id of a placement: in its body (Binance form, Bybit JSON, OKX JSON batch) or,
        where ccxt signs everything into the URL (BingX), in its query."""
        if query and query.get(self.client_id_param):
            return query[self.client_id_param]
        text = body.decode(errors="replace")
        try:
            doc = json.loads(text)
        except ValueError:
            return dict(parse_qsl(text)).get(self.client_id_param)
        if isinstance(doc, list) and doc and isinstance(doc[0], dict):
            doc = doc[0]
        return doc.get(self.client_id_param) if isinstance(doc, dict) else None

    def __str__(self) -> str:
        return self.name


# Codes are the real exchanges' (Binance -2019 / Bybit 110007 / OKX 51008 / BingX 101204 / MEXC 2005 /
# WEEX -1054 "insufficient margin"; -1021 / 10002 / 50102 / 100421 / 513 / -1046 "timestamp outside the
# window"), written here rather than read from the dialects' tables so a wrong table is caught, not copied.
TABLE: dict[str, Dialect] = {
    "binance": Dialect(
        name="binance", exchange="binance",
        order_route="POST /fapi/v1/order",
        lookups=(Lookup("GET /fapi/v1/order", "origClientOrderId",
                        not_found=(400, {"code": -2013, "msg": "Order does not exist."})),),
        time_route="GET /api/v3/time",
        client_id_param="newClientOrderId",
        insufficient_margin="-2019",
        insufficient_margin_text="margin is insufficient",
        timestamp_rejected="-1021",
        rate_limited={"code": -1003, "msg": "Way too many requests; IP banned."},
    ),
    "bybit": Dialect(
        name="bybit", exchange="bybit",
        order_route="POST /v5/order/create",
        lookups=tuple(
            Lookup(route, "orderLinkId", not_found=(200, {
                "retCode": 0, "retMsg": "OK", "result": {"category": "linear", "list": [], "nextPageCursor": ""},
                "retExtInfo": {}, "time": 0}))
            for route in ("GET /v5/order/realtime", "GET /v5/order/history")),
        time_route="GET /v5/market/time",
        client_id_param="orderLinkId",
        insufficient_margin="110007",
        insufficient_margin_text="not enough",  # "ab not enough for new order"
        timestamp_rejected="10002",
        rate_limited={"retCode": 10006, "retMsg": "Too many visits!", "result": {}, "retExtInfo": {}, "time": 0},
    ),
    "okx": Dialect(
        name="okx", exchange="okx",
        order_route="POST /api/v5/trade/batch-orders",  # ccxt's okx create_order sends a batch of one
        lookups=(Lookup("GET /api/v5/trade/order", "clOrdId",
                        not_found=(200, {"code": "51603", "data": [], "msg": "Order does not exist"})),),
        time_route="GET /api/v5/public/time",
        client_id_param="clOrdId",
        insufficient_margin="51008",
        insufficient_margin_text="insufficient",
        timestamp_rejected="50102",
        clock_skews_ms=(35_000, -35_000),
        rate_limited={"code": "50011", "data": [], "msg": "Too Many Requests"},
        contract_sizes={"BTC": Decimal("0.01"), "ETH": Decimal("0.1")},  # OKX's ctVal
    ),
    # BingX: its own query by clientOrderId answers 80016 for an order it does not have, and that answer
    # is confirmed against open orders and allOrders (no client-id filter) before an order is absent.
    "bingx": Dialect(
        name="bingx", exchange="bingx",
        order_route="POST /openApi/swap/v2/trade/order",
        lookups=(
            Lookup("GET /openApi/swap/v2/trade/order", "clientOrderId", not_found=(200, {
                "code": 80016, "msg": "order not exist", "timestamp": 0, "data": {}})),
            Lookup("GET /openApi/swap/v2/trade/openOrders", None, rows=("data", "orders"),
                   row_client_id="clientOrderId"),
            Lookup("GET /openApi/swap/v2/trade/allOrders", None, rows=("data", "orders"),
                   row_client_id="clientOrderId"),
        ),
        time_route="GET /openApi/swap/v2/server/time",
        client_id_param="clientOrderID",  # ccxt signs every parameter into the query string
        insufficient_margin="101204",
        insufficient_margin_text="insufficient margin",
        timestamp_rejected="100421",
        clock_skews_ms=(30_000, -30_000),
        rate_limited={},  # BingX's gateway answers 429 with no business code (the sim's too)
        order_maxima="none",
        tiers="no_leverage",
    ),
    # MEXC: GET /order/external/{symbol}/{externalOid} (2040 "order not exist"), confirmed against the
    # open orders and the order history; contracts of 0.0001 BTC and 0.01 ETH.
    "mexc": Dialect(
        name="mexc", exchange="mexc",
        order_route="POST /api/v1/private/order/create",
        lookups=(
            Lookup("GET /api/v1/private/order/external/{symbol}/{external_oid}", "{external_oid}",
                   not_found=(200, {"success": False, "code": 2040, "message": "order not exist"})),
            Lookup("GET /api/v1/private/order/list/open_orders", None, rows=("data",),
                   row_client_id="externalOid"),
            Lookup("GET /api/v1/private/order/list/history_orders", None, rows=("data",),
                   row_client_id="externalOid"),
        ),
        time_route="GET /api/v3/time",
        client_id_param="externalOid",
        insufficient_margin="2005",
        insufficient_margin_text="insufficient",
        timestamp_rejected="513",
        clock_skews_ms=(30_000, -30_000),
        rate_limited={"success": False, "code": 510, "message": "Requests are too frequent!"},
        contract_sizes={"BTC": Decimal("0.0001"), "ETH": Decimal("0.01")},  # MEXC's contractSize
        order_maxima="one",
        tiers="first_only",
    ),
    # WEEX: no lookup by client id for contracts: open orders and the order history, filtered here.
    "weex": Dialect(
        name="weex", exchange="weex",
        order_route="POST /capi/v3/order",
        lookups=(
            Lookup("GET /capi/v3/openOrders", None, rows=(), row_client_id="clientOrderId"),
            Lookup("GET /capi/v3/order/history", None, rows=(), row_client_id="clientOrderId"),
        ),
        time_route="GET /api/v3/time",
        client_id_param="newClientOrderId",
        insufficient_margin="-1054",
        insufficient_margin_text="not enough",
        timestamp_rejected="-1046",
        clock_skews_ms=(35_000, -35_000),
        rate_limited={},  # WEEX answers HTTP 429 with no business code (the sim's too)
        tiers="none",
    ),
}


def facts(dialect: "Dialect | str") -> Dialect:
    return dialect if isinstance(dialect, Dialect) else TABLE[dialect]


# --------------------------------------------------------------------------- failures whose cause is in src/

# (test function, dialect, a piece of the test id or "") -> why it fails. Each was reported to the lead
# with the first failing request/response; the tests run and are expected to fail (strict: once src/
# is fixed the XPASS fails the run, and the entry must go). Nothing here is a skip.
KNOWN_SRC_FAILURES: dict[tuple[str, str, str], str] = {}


def known_src_failure(test: str, dialect: str, test_id: str) -> str | None:
    for (name, d, piece), why in KNOWN_SRC_FAILURES.items():
        if name == test and d == dialect and piece in test_id:
            return why
    return None


# --------------------------------------------------------------------------- the scenario adjustment

_CONTRACT_KEYS = ("amount_step", "min_qty", "max_qty", "market_max_qty")  # counted in contracts


def adapt_scenario(scenario: Mapping[str, Any], dialect: "Dialect | str") -> dict[str, Any]:
    """`scenario` (base units, as every test writes it) for `dialect`: the markets whose venue counts
    contracts get their contract_size and have their lot filters in contracts, so the base-unit grid
    (and so every expected base position) is the same on every dialect. Depth and positions stay in
    base units (the scenario counts them so). Brackets a venue cannot publish become the table it can
    (Dialect.tiers). A new dict; the argument is never changed."""
    from rebalancer.exchange_sim.scenario import default_amount_step

    out = copy.deepcopy(dict(scenario))
    sizes = facts(dialect).contract_sizes
    tiers = facts(dialect).tiers
    for market in (out.get("markets") or {}).values():
        brackets = market.pop("brackets", None) if tiers in ("first_only", "none") else None
        if brackets and tiers == "first_only":  # MEXC: the first bracket's rates over the whole range
            market["mmr"], market["max_leverage"] = brackets[0]["mmr"], brackets[0]["max_leverage"]
    for asset, market in (out.get("markets") or {}).items():
        size = sizes.get(asset)
        if size is None or "contract_size" in market:
            continue
        base = dict(market)
        if "amount_step" not in base:  # the sim's default is chosen by price, in base units
            base["amount_step"] = default_amount_step(Decimal(str(base["spot_price"])))
        for key in _CONTRACT_KEYS:
            if key in base:
                market[key] = str(Decimal(str(base[key])) / size)
        market["contract_size"] = str(size)
    return out


def scenario_toml(scenario: Mapping[str, Any]) -> str:
    """A scenario dict as a TOML file (the subset scenarios use: tables of scalars, arrays of numbers
    and inline tables), for the tests that start the exchange as a separate process."""

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float, Decimal)):
            return str(v)
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, Mapping):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        raise TypeError(f"no TOML for {v!r}")

    lines: list[str] = []
    for asset, market in (scenario.get("markets") or {}).items():
        lines.append(f"[markets.{asset}]")
        lines.extend(f"{k} = {value(v)}" for k, v in market.items())
        lines.append("")
    for section in ("spot", "futures", "faults", "auth"):
        if scenario.get(section):
            lines.append(f"[{section}]")
            lines.extend(f"{k} = {value(v)}" for k, v in scenario[section].items())
            lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- is the dialect there yet?


@functools.cache
def missing(name: str) -> str | None:
    """Why the suites cannot run on `name` yet, or None when they can: the local exchange has no such
    dialect, the config refuses mode = "local" for the exchange, or the venue builds another
    exchange's ccxt class for it. Once all three are there, any failure is a real one."""
    from rebalancer.exchange_sim.dialects import dialect_class

    try:
        dialect_class(name)
    except (ImportError, ValueError, AttributeError) as exc:
        return f"the local exchange has no {name} dialect yet ({exc})"
    import ccxt.async_support as ccxt_async

    from rebalancer.service import make_venue
    from rebalancer.settings import load_settings
    from tests.integration.conftest import write_config

    probe = _Probe(name, dialect_class(name).uses_password)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            settings = load_settings(write_config(Path(tmp), probe, {"BTC": 0.5, "ETH": 0.5}), env={})
        except Exception as exc:  # noqa: BLE001 - the reason is the message
            return f'the config refuses exchange = "{name}" with mode = "local" ({str(exc).splitlines()[0]})'
        try:
            venue = make_venue(settings)
        except Exception as exc:  # noqa: BLE001
            return f"the venue cannot build a local {name} client ({exc})"
        wanted = getattr(ccxt_async, name)
        built = [type(c) for c in (venue.hedge_client, venue.spot_client)]
        if not all(issubclass(cls, wanted) for cls in built):
            return f"mode = \"local\" builds {[c.__name__ for c in built]} for {name}, not ccxt's {name} class"
    return None


class _Probe:
    """Stands for a running exchange where only the config is wanted (nothing listens here)."""

    base_url = "http://127.0.0.1:9"
    api_key = "local-key"
    api_secret = "local-secret"

    def __init__(self, dialect: str, uses_password: bool) -> None:
        self.dialect = dialect
        self.password = "local-pass" if uses_password else None


__all__ = ["DIALECTS", "KNOWN_SRC_FAILURES", "TABLE", "Dialect", "Lookup", "adapt_scenario", "facts", "known_src_failure",
           "missing", "scenario_toml"]
