"""OKX v5's dialect: the /api/v5 routes the unmodified ccxt `okx` class calls, over the engine.

The engine speaks Binance-like ids (BTCUSDT, BUY/SELL, MARKET/LIMIT) in base units; this dialect
translates instIds (BTC-USDT spot, BTC-USDT-SWAP swap), ordTypes and contracts (x ctVal) at its edge.
Only swaps trade (the rebalancer never trades spot); spot instruments, tickers and balances are served.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from aiohttp import web

from ...engine import Order, OrderRequest
from ...rejections import Reason, Rejection
from ..base import Dialect, Route
from . import auth, payloads
from .codes import (
    BATCH_FAILED, BATCH_PARTIAL, MESSAGES, SIM_UNSUPPORTED, OkxError, bad, error_response, missing, okx_code, okx_message,
)

PREFIX = "/api/v5/"
ORDER_PATHS = frozenset({PREFIX + "trade/order", PREFIX + "trade/batch-orders", PREFIX + "trade/order-algo"})
_CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")  # OKX: case-sensitive alphanumerics, 1-32
_NUMBER_RE = re.compile(r"^[0-9]+(\.[0-9]+)?$")
MAX_BATCH = 20
MAX_PAGE = 100
MAX_ALGO_CANCELS = 10
ALGO_TYPES = frozenset({"conditional", "oco", "trigger", "move_order_stop", "iceberg", "twap", "chase"})
SIMULATED_ALGO_TYPES = ("trigger", "conditional")  # a market stop: triggerPx + orderPx -1, or slTriggerPx + slOrdPx -1
PX_TYPES = frozenset({"last", "index", "mark"})
ACCOUNTS = {"6": "spot", "18": "futures"}  # OKX funding (6) / trading (18) account -> the engine's wallets


def ok(data: list[Any], **extra: Any) -> dict[str, Any]:
    return {"code": "0", "data": data, "msg": "", **extra}


def _str(params: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise missing(name)
        return None
    return str(value)


def _number(params: Mapping[str, Any], name: str, *, required: bool = True) -> Decimal | None:
    value = _str(params, name, required=required)
    if value is None:
        return None
    if not _NUMBER_RE.match(value):
        raise bad(name)
    try:
        return Decimal(value)
    except InvalidOperation:
        raise bad(name) from None


def _int(params: Mapping[str, Any], name: str) -> int | None:
    value = _str(params, name, required=False)
    if value is None:
        return None
    if not value.isdigit():
        raise bad(name)
    return int(value)


def _bool(params: Mapping[str, Any], name: str) -> bool:
    value = params.get(name, False)
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise bad(name)


def _check_swap_cross(swap: bool, mode: str | None, side: str | None) -> None:
    """What every order (and algo order) the sim takes must be: on a swap, in cross margin, a buy or sell."""
    if not swap:
        raise OkxError(SIM_UNSUPPORTED, "exchange-sim does not simulate spot trading (the rebalancer never trades spot).")
    if mode not in ("cross", "isolated", "cash", "spot_isolated"):
        raise bad("tdMode")
    if mode != "cross":
        raise OkxError(SIM_UNSUPPORTED, "exchange-sim simulates cross margin only (tdMode=cross).")
    if side not in ("buy", "sell"):
        raise bad("side")


def _check_size(spec: Any, sz: Decimal) -> None:
    """OKX's own size checks, in contracts, before the engine's (which speak base units)."""
    if sz <= 0:
        raise bad("sz")
    if sz % spec.amount_step != 0:
        raise OkxError("51121")
    if sz < spec.min_qty:
        raise OkxError("51020")


class OkxDialect(Dialect):
    """OKX v5 demo trading: spot instruments and USDT-margined linear swaps, net mode, cross margin."""

    name = "okx"
    order_paths = ORDER_PATHS
    uses_password = True
    enforces_min_notional = False  # OKX swaps publish a minimum size (minSz), no minimum order value

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        # OKX echoes an order's `tag` (ccxt's broker id); the engine has no field for it. Kept in
        # memory: after a restart an order's tag reads "" (nothing in ccxt or the rebalancer reads it).
        self.tags: dict[int, str] = {}
        # Per stop: the ordType it was placed with and its trigger price type (in memory like the tags:
        # after a restart a stop reads as "trigger" / "last", a close-position one as "conditional").
        self.algo_kinds: dict[int, tuple[str, str]] = {}

    def clock(self) -> int:
        return self.server.clock()

    def routes(self) -> list[Route]:
        public = [
            ("GET", "public/time", self.time),
            ("GET", "public/instruments", self.instruments),
            ("GET", "public/funding-rate", self.funding_rate),
            ("GET", "public/mark-price", self.mark_price),
            ("GET", "public/position-tiers", self.position_tiers),
            ("GET", "market/tickers", self.tickers),
            ("GET", "market/ticker", self.ticker),
        ]
        signed = [
            ("GET", "account/balance", self.balance),
            ("GET", "asset/balances", self.funding_balances),
            ("GET", "asset/currencies", self.currencies),
            ("GET", "account/config", self.config),
            ("GET", "account/positions", self.positions),
            ("GET", "account/leverage-info", self.leverage_info),
            ("POST", "account/set-leverage", self.set_leverage),
            ("GET", "account/bills", self.bills),
            ("GET", "account/bills-archive", self.bills),
            ("POST", "trade/order", self.place_order),
            ("POST", "trade/batch-orders", self.place_batch),
            ("GET", "trade/order", self.get_order),
            ("GET", "trade/orders-pending", self.orders_pending),
            ("POST", "trade/cancel-order", self.cancel_order),
            ("GET", "trade/fills", self.fills),
            ("GET", "trade/fills-history", self.fills),
            ("POST", "trade/order-algo", self.place_algo),
            ("GET", "trade/orders-algo-pending", self.algo_pending),
            ("GET", "trade/orders-algo-history", self.algo_history),
            ("GET", "trade/order-algo", self.get_algo),
            ("POST", "trade/cancel-algos", self.cancel_algos),
            ("POST", "asset/transfer", self.transfer),
        ]
        return [*(Route(m, PREFIX + p, h) for m, p, h in public),
                *(Route(m, PREFIX + p, h, signed=True) for m, p, h in signed)]

    async def public_params(self, request: web.Request) -> dict[str, Any]:
        return await auth.public_params(request)

    async def authenticate(self, request: web.Request) -> dict[str, Any]:
        a = self.server.scenario.auth
        return await auth.authenticate(request, a.api_key, a.api_secret.encode(), a.password, self.clock)

    def error_response(self, rejection: Rejection) -> web.Response:
        return error_response(rejection)

    # ------------------------------------------------------------------ helpers

    def _swap(self, inst_id: str):  # noqa: ANN202 - MarketState
        m, swap = payloads.resolve(self.engine, inst_id)
        if not swap:
            raise OkxError("51001")
        return m

    def _inst_type(self, params: Mapping[str, Any], *, required: bool) -> str | None:
        inst_type = _str(params, "instType", required=required)
        if inst_type is not None and inst_type not in ("SPOT", "MARGIN", "SWAP", "FUTURES", "OPTION"):
            raise bad("instType")
        return inst_type

    def _swaps(self, params: Mapping[str, Any]) -> list[Any]:
        """Swap markets named by instId (comma-separated) or instFamily/uly, else all of them."""
        if params.get("instId"):
            return [self._swap(i) for i in str(params["instId"]).split(",")]
        fam = params.get("instFamily") or params.get("uly")
        markets = self.engine.perp_markets()
        if fam:
            markets = [m for m in markets if payloads.family(m) == fam]
            if not markets:
                raise OkxError("51001")
        return markets

    def _tag(self, o: Order) -> str:
        return self.tags.get(o.order_id, "")

    # ------------------------------------------------------------------ public

    async def time(self, request: web.Request, params: dict[str, Any]) -> Any:
        return ok([{"ts": str(self.clock())}])

    async def instruments(self, request: web.Request, params: dict[str, Any]) -> Any:
        inst_type = self._inst_type(params, required=True)
        if inst_type == "SPOT":
            rows = [payloads.spot_instrument(m) for m in self.engine.spot_markets()]
        elif inst_type == "SWAP":
            rows = [payloads.swap_instrument(m) for m in self.engine.perp_markets()]
        else:
            rows = []  # the sim lists no margin, futures or options instruments
        if params.get("instId"):
            rows = [r for r in rows if r["instId"] == params["instId"]]
        return ok(rows)

    async def funding_rate(self, request: web.Request, params: dict[str, Any]) -> Any:
        inst_id = _str(params, "instId")
        markets = self.engine.perp_markets() if inst_id == "ANY" else [self._swap(str(inst_id))]
        now = self.clock()
        return ok([payloads.funding_rate(self.engine, m, now) for m in markets])

    async def mark_price(self, request: web.Request, params: dict[str, Any]) -> Any:
        inst_type = self._inst_type(params, required=not params.get("instId"))
        markets = self._swaps(params) if inst_type in (None, "SWAP") else []
        now = self.clock()
        return ok([payloads.mark_price(m, now) for m in markets])

    async def position_tiers(self, request: web.Request, params: dict[str, Any]) -> Any:
        inst_type = self._inst_type(params, required=True)
        mode = _str(params, "tdMode")
        if mode not in ("cross", "isolated"):
            raise bad("tdMode")
        if inst_type != "SWAP":
            return ok([])
        if not (params.get("instFamily") or params.get("uly") or params.get("instId")):
            raise OkxError("50014", "Parameter instFamily can not be empty.")
        return ok([tier for m in self._swaps(params) for tier in payloads.position_tiers(m)])

    async def tickers(self, request: web.Request, params: dict[str, Any]) -> Any:
        inst_type = self._inst_type(params, required=True)
        now = self.clock()
        if inst_type == "SPOT":
            rows = [payloads.ticker(self.engine, m, False, now) for m in self.engine.spot_markets()]
        elif inst_type == "SWAP":
            rows = [payloads.ticker(self.engine, m, True, now) for m in self._swaps(params)]
        else:
            rows = []
        return ok(rows)

    async def ticker(self, request: web.Request, params: dict[str, Any]) -> Any:
        m, swap = payloads.resolve(self.engine, str(_str(params, "instId")))
        return ok([payloads.ticker(self.engine, m, swap, self.clock())])

    # ------------------------------------------------------------------ account

    async def balance(self, request: web.Request, params: dict[str, Any]) -> Any:
        ccy = params.get("ccy")
        return ok([payloads.account_balance(self.engine, str(ccy).split(",") if ccy else None)])

    async def funding_balances(self, request: web.Request, params: dict[str, Any]) -> Any:
        return ok([])  # the funding account is empty: every coin of the sim sits in the trading account

    async def currencies(self, request: web.Request, params: dict[str, Any]) -> Any:
        return ok([])

    async def config(self, request: web.Request, params: dict[str, Any]) -> Any:
        return ok([payloads.account_config(self.engine)])

    async def positions(self, request: web.Request, params: dict[str, Any]) -> Any:
        inst_type = self._inst_type(params, required=False)
        if inst_type not in (None, "SWAP"):
            return ok([])
        markets = self._swaps({"instId": params.get("instId")})
        return ok([payloads.position(self.engine, m) for m in markets if self.engine.positions[m.symbol].amount])

    async def leverage_info(self, request: web.Request, params: dict[str, Any]) -> Any:
        mode = _str(params, "mgnMode")
        if mode not in ("cross", "isolated"):
            raise bad("mgnMode")
        if mode == "isolated":
            raise OkxError(SIM_UNSUPPORTED, "exchange-sim simulates cross margin only (mgnMode=cross).")
        inst_ids = str(_str(params, "instId")).split(",")
        rows = []
        for inst_id in inst_ids:
            m, swap = payloads.resolve(self.engine, inst_id)
            if not swap:
                raise OkxError(SIM_UNSUPPORTED, "exchange-sim has no margin trading for spot instruments.")
            rows.append(payloads.leverage_info(m))
        return ok(rows)

    async def set_leverage(self, request: web.Request, params: dict[str, Any]) -> Any:
        """set-leverage is also how ccxt sets the margin mode: `lever` is mandatory either way.
        OKX accepts a leverage that is already set (no "not modified" error)."""
        lever_raw = params.get("lever")
        if lever_raw is None or lever_raw == "":
            raise missing("lever")
        try:
            lever = int(str(lever_raw))
        except ValueError:
            raise bad("lever") from None
        mode = _str(params, "mgnMode")
        if mode not in ("cross", "isolated"):
            raise bad("mgnMode")
        if mode == "isolated":
            raise OkxError(SIM_UNSUPPORTED, "exchange-sim simulates cross margin only (mgnMode=cross).")
        m = self._swap(str(_str(params, "instId")))
        if lever != m.leverage:
            self.engine.set_leverage(m.symbol, lever)
            self.server.persist()
        return ok([{"instId": payloads.swap_id(m), "lever": str(m.leverage), "mgnMode": mode, "posSide": "net"}])

    async def bills(self, request: web.Request, params: dict[str, Any]) -> Any:
        """account/bills (7 days) and bills-archive (3 months) alike: newest first, filtered by the
        documented keys; `after`/`before` page by billId."""
        rows = payloads.bills(self.engine, self.tags)
        filters = {"instType": "instType", "ccy": "ccy", "type": "type", "subType": "subType",
                   "mgnMode": "mgnMode", "instId": "instId"}
        for param, key in filters.items():
            value = params.get(param)
            if value:
                rows = [r for r in rows if r[key] == str(value)]
        if params.get("ctType") and params["ctType"] != "linear":
            rows = []
        begin, end = _int(params, "begin"), _int(params, "end")
        after, before = _int(params, "after"), _int(params, "before")
        rows = [r for r in rows
                if (begin is None or int(r["ts"]) >= begin) and (end is None or int(r["ts"]) <= end)
                and (after is None or int(r["billId"]) < after) and (before is None or int(r["billId"]) > before)]
        limit = min(_int(params, "limit") or MAX_PAGE, MAX_PAGE)
        return ok(list(reversed(rows))[:limit])

    # ------------------------------------------------------------------ trading

    def _pos_side(self, entry: Mapping[str, Any]) -> str | None:
        """posSide: none or net in one-way mode (long/short only in hedge mode, which is refused)."""
        pos_side = _str(entry, "posSide", required=False)
        if pos_side not in (None, "net", "long", "short"):
            raise bad("posSide")
        if pos_side in ("long", "short") and not self.engine.dual_side_position:
            raise bad("posSide")
        return pos_side

    def _order_request(self, entry: Mapping[str, Any]) -> tuple[OrderRequest, str]:
        """One OKX order object -> the engine's OrderRequest (base units) and its tag."""
        if not isinstance(entry, Mapping):
            raise OkxError("50002", "Json data format error", status=400)
        inst_id = str(_str(entry, "instId"))
        mode = _str(entry, "tdMode")
        side = _str(entry, "side")
        ord_type = _str(entry, "ordType")
        sz = _number(entry, "sz")
        m, swap = payloads.resolve(self.engine, inst_id)
        _check_swap_cross(swap, mode, side)
        if ord_type not in payloads.ORD_TYPES:
            raise bad("ordType")
        engine_type, tif = payloads.ORD_TYPES[str(ord_type)]
        client_id = _str(entry, "clOrdId", required=False)
        if client_id is not None and not _CLIENT_ID_RE.match(client_id):
            raise bad("clOrdId")
        pos_side = self._pos_side(entry)
        price = _number(entry, "px", required=engine_type == "LIMIT") if engine_type == "LIMIT" else None
        assert sz is not None
        spec = m.spec
        _check_size(spec, sz)
        req = OrderRequest(
            symbol=m.symbol, side=str(side).upper(), type=engine_type, quantity=payloads.base_units(m, sz),
            price=price, time_in_force=tif, client_order_id=client_id, reduce_only=_bool(entry, "reduceOnly"),
            position_side=None if pos_side in (None, "net") else pos_side.upper(),
        )
        return req, str(entry.get("tag") or "")

    async def _place_one(self, request: web.Request, entry: Any) -> dict[str, Any]:
        """Place one order; a refusal becomes its sCode/sMsg row (OKX answers it inside data)."""
        client_id = str(entry.get("clOrdId") or "") if isinstance(entry, Mapping) else ""
        tag = str(entry.get("tag") or "") if isinstance(entry, Mapping) else ""
        try:
            req, tag = self._order_request(entry)
            o = await self.server.place(request, req)
        except Rejection as exc:
            if exc.reason in (Reason.RATE_LIMITED, Reason.SERVICE_UNAVAILABLE):
                raise
            return payloads.order_failure(client_id, tag, okx_code(exc), okx_message(exc), self.clock())
        if tag:
            self.tags[o.order_id] = tag
        return payloads.order_ack(o, tag, self.clock())

    def _reply(self, rows: list[dict[str, Any]], started_us: int) -> dict[str, Any]:
        failed = sum(1 for r in rows if r["sCode"] != "0")
        code = "0" if not failed else BATCH_FAILED if failed == len(rows) else BATCH_PARTIAL
        msg = ("" if not failed else "All operations failed" if code == BATCH_FAILED
               else "Bulk operation partially succeeded")
        return {"code": code, "data": rows, "inTime": str(started_us), "msg": msg,
                "outTime": str(self.clock() * 1000)}

    async def place_order(self, request: web.Request, params: dict[str, Any]) -> Any:
        started = self.clock() * 1000
        if auth.BATCH_KEY in params:
            raise OkxError("50002", "Json data format error", status=400)
        return self._reply([await self._place_one(request, params)], started)

    async def place_batch(self, request: web.Request, params: dict[str, Any]) -> Any:
        started = self.clock() * 1000
        entries = params.get(auth.BATCH_KEY)
        if not isinstance(entries, list) or not entries:
            raise OkxError("50002", "Json data format error", status=400)
        if len(entries) > MAX_BATCH:
            raise OkxError("51111", f"Maximum {MAX_BATCH} orders can be placed in bulk.")
        return self._reply([await self._place_one(request, entry) for entry in entries], started)

    def _find(self, params: Mapping[str, Any]) -> Order:
        m = self._swap(str(_str(params, "instId")))
        ord_id = _str(params, "ordId", required=False)
        client_id = _str(params, "clOrdId", required=False)
        if ord_id is None and client_id is None:
            raise OkxError("51003")
        if ord_id is not None and not ord_id.isdigit():
            raise OkxError("51603")
        o = self.engine.find_order(m.symbol, int(ord_id) if ord_id is not None else None, client_id)
        if o.type == "STOP_MARKET" and not o.fills:
            raise OkxError("51603")  # an algo order has no regular order until it fires (trade/order-algo)
        return o

    async def get_order(self, request: web.Request, params: dict[str, Any]) -> Any:
        o = self._find(params)
        return ok([payloads.order(self.engine, o, self._tag(o))])

    async def orders_pending(self, request: web.Request, params: dict[str, Any]) -> Any:
        inst_type = self._inst_type(params, required=False)
        markets = self._swaps({"instId": params.get("instId"), "instFamily": params.get("instFamily"),
                               "uly": params.get("uly")})
        symbols = {m.symbol for m in markets}
        ord_type = params.get("ordType")
        rows = [
            payloads.order(self.engine, o, self._tag(o)) for o in reversed(self.engine.open_orders())
            if o.symbol in symbols and inst_type in (None, "SWAP") and o.type != "STOP_MARKET"
        ]
        if ord_type:
            rows = [r for r in rows if r["ordType"] in str(ord_type).split(",")]
        return ok(rows[: min(_int(params, "limit") or MAX_PAGE, MAX_PAGE)])

    async def cancel_order(self, request: web.Request, params: dict[str, Any]) -> Any:
        started = self.clock() * 1000
        client_id = str(params.get("clOrdId") or "")
        try:
            o = self._find(params)
            self.engine.cancel_order(o.symbol, o.order_id)
        except Rejection as exc:
            if exc.reason not in (Reason.ORDER_NOT_FOUND, Reason.CANCEL_UNKNOWN_ORDER):
                raise
            row = payloads.order_failure(client_id, "", "51400", okx_message(Rejection(Reason.CANCEL_UNKNOWN_ORDER)),
                                         self.clock())
            row["ordId"] = str(params.get("ordId") or "")
            row.pop("tag")
            return self._reply([row], started)
        self.server.persist()
        return self._reply([{"clOrdId": o.client_order_id, "ordId": str(o.order_id), "sCode": "0", "sMsg": "",
                             "ts": str(self.clock())}], started)

    async def fills(self, request: web.Request, params: dict[str, Any]) -> Any:
        """trade/fills (3 days) and fills-history (3 months, instType required): newest first."""
        inst_type = self._inst_type(params, required=request.path.endswith("fills-history"))
        markets = self._swaps({"instId": params.get("instId"), "instFamily": params.get("instFamily"),
                               "uly": params.get("uly")})
        symbols = {m.symbol for m in markets}
        ord_id = _str(params, "ordId", required=False)
        begin, end = _int(params, "begin"), _int(params, "end")
        after, before = _int(params, "after"), _int(params, "before")
        rows = [
            (o, f) for o in self.engine.orders if o.symbol in symbols and inst_type in (None, "SWAP")
            and (ord_id is None or str(o.order_id) == ord_id)
            for f in o.fills
            if (begin is None or f.time >= begin) and (end is None or f.time <= end)
            and (after is None or f.trade_id < after) and (before is None or f.trade_id > before)
        ]
        rows.sort(key=lambda row: row[1].trade_id, reverse=True)
        limit = min(_int(params, "limit") or MAX_PAGE, MAX_PAGE)
        return ok([payloads.fill(self.engine, o, f, self._tag(o)) for o, f in rows[:limit]])

    # ------------------------------------------------------------------ algo (stop) orders

    def _algo_request(self, entry: Mapping[str, Any]) -> tuple[OrderRequest, str, str]:
        """POST trade/order-algo as ccxt sends a market stop -> (engine STOP_MARKET request, ordType,
        trigger price type). `trigger`: triggerPx, orderPx -1; `conditional`: slTriggerPx, slOrdPx -1;
        closeFraction 1 (conditional only, with reduceOnly in net mode) closes the whole position."""
        if not isinstance(entry, Mapping):
            raise OkxError("50002", "Json data format error", status=400)
        inst_id = str(_str(entry, "instId"))
        mode = _str(entry, "tdMode")
        side = _str(entry, "side")
        kind = str(_str(entry, "ordType"))
        m, swap = payloads.resolve(self.engine, inst_id)
        if kind not in ALGO_TYPES:
            raise bad("ordType")
        if kind not in SIMULATED_ALGO_TYPES:
            raise OkxError(SIM_UNSUPPORTED, f"exchange-sim does not simulate {kind} algo orders (only market "
                                            "stops: trigger or conditional stop loss).")
        _check_swap_cross(swap, mode, side)
        pos_side = self._pos_side(entry)
        if kind == "trigger":
            if entry.get("slTriggerPx") or entry.get("tpTriggerPx"):
                raise OkxError(SIM_UNSUPPORTED, "exchange-sim does not simulate trigger orders with attached TP/SL.")
            stop_price = _number(entry, "triggerPx")
            limit = _str(entry, "orderPx")
            px_type = str(entry.get("triggerPxType") or "last")
            if entry.get("closeFraction"):
                raise bad("closeFraction")  # OKX: closeFraction is for conditional and oco orders only
        else:
            if entry.get("tpTriggerPx"):
                raise OkxError(SIM_UNSUPPORTED, "exchange-sim simulates stop-loss conditional orders only (no take profit).")
            stop_price = _number(entry, "slTriggerPx")
            limit = _str(entry, "slOrdPx")
            px_type = str(entry.get("slTriggerPxType") or "last")
        if limit != "-1":
            if limit is not None and not _NUMBER_RE.match(limit):
                raise bad("orderPx" if kind == "trigger" else "slOrdPx")
            raise OkxError(SIM_UNSUPPORTED, "exchange-sim simulates market stops only (orderPx / slOrdPx -1).")
        if px_type not in PX_TYPES:
            raise bad("triggerPxType" if kind == "trigger" else "slTriggerPxType")
        client_id = _str(entry, "algoClOrdId", required=False) or _str(entry, "clOrdId", required=False)
        if client_id is not None and not _CLIENT_ID_RE.match(client_id):
            raise bad("algoClOrdId" if entry.get("algoClOrdId") else "clOrdId")
        reduce_only = _bool(entry, "reduceOnly")
        fraction = _str(entry, "closeFraction", required=False)
        spec = m.spec
        quantity = Decimal(0)
        if fraction is not None:
            if fraction != "1":
                raise bad("closeFraction")  # the only value OKX takes: close the whole position
            if not reduce_only and pos_side in (None, "net"):
                raise bad("reduceOnly")  # OKX: with closeFraction in net mode reduceOnly must be true
        else:
            sz = _number(entry, "sz")
            assert sz is not None
            _check_size(spec, sz)
            quantity = payloads.base_units(m, sz)
        req = OrderRequest(
            symbol=m.symbol, side=str(side).upper(), type="STOP_MARKET", quantity=quantity, stop_price=stop_price,
            client_order_id=client_id, reduce_only=reduce_only and fraction is None, close_position=fraction is not None,
            position_side=None if pos_side in (None, "net") else pos_side.upper(),
        )
        return req, kind, px_type

    async def place_algo(self, request: web.Request, params: dict[str, Any]) -> Any:
        """One algo order (OKX takes no batch here); a refusal is answered as code 1 with its sCode row."""
        if auth.BATCH_KEY in params:
            raise OkxError("50002", "Json data format error", status=400)
        client_id = str(params.get("algoClOrdId") or params.get("clOrdId") or "")
        tag = str(params.get("tag") or "")
        try:
            req, kind, px_type = self._algo_request(params)
            try:
                o = await self.server.place(request, req)
            except Rejection as exc:
                if exc.reason is Reason.STOP_WOULD_TRIGGER and req.side == "BUY":
                    raise OkxError("51278", MESSAGES["51278"]) from None
                raise
        except Rejection as exc:
            if exc.reason in (Reason.RATE_LIMITED, Reason.SERVICE_UNAVAILABLE):
                raise
            row = payloads.algo_failure(client_id, tag, okx_code(exc), okx_message(exc))
            return {"code": BATCH_FAILED, "data": [row], "msg": ""}
        if tag:
            self.tags[o.order_id] = tag
        self.algo_kinds[o.order_id] = (kind, px_type)
        return ok([payloads.algo_ack(o, tag)])

    def _algo_kind(self, o: Order) -> tuple[str, str]:
        return self.algo_kinds.get(o.order_id, ("conditional" if o.close_position else "trigger", "last"))

    def _algo_row(self, o: Order) -> dict[str, Any]:
        kind, px_type = self._algo_kind(o)
        return payloads.algo_order(self.engine, o, kind, px_type, self._tag(o))

    def _algo_orders(self, params: Mapping[str, Any], *, kinds_required: bool = True) -> list[Order]:
        """Stops, newest first, filtered by instType / instId / instFamily, ordType (comma-separated),
        algoId and algoClOrdId."""
        inst_type = self._inst_type(params, required=False)
        ord_type = _str(params, "ordType", required=kinds_required)
        kinds = set(str(ord_type).split(",")) if ord_type else None
        if kinds and not kinds <= ALGO_TYPES:
            raise bad("ordType")
        markets = self._swaps({"instId": params.get("instId"), "instFamily": params.get("instFamily"),
                               "uly": params.get("uly")})
        symbols = {m.symbol for m in markets}
        wanted_id = _str(params, "algoId", required=False)
        wanted_cid = _str(params, "algoClOrdId", required=False)
        rows = []
        for o in reversed(self.engine.orders):
            if o.type != "STOP_MARKET" or o.symbol not in symbols or inst_type not in (None, "SWAP"):
                continue
            if kinds is not None and self._algo_kind(o)[0] not in kinds:
                continue
            if wanted_id is not None and payloads.algo_id(o) != wanted_id:
                continue
            if wanted_cid is not None and o.client_order_id != wanted_cid:
                continue
            rows.append(o)
        return rows

    async def algo_pending(self, request: web.Request, params: dict[str, Any]) -> Any:
        """GET trade/orders-algo-pending: the live stops (ordType required, as OKX requires it)."""
        rows = [o for o in self._algo_orders(params) if o.is_open]
        limit = min(_int(params, "limit") or MAX_PAGE, MAX_PAGE)
        return ok([self._algo_row(o) for o in rows[:limit]])

    async def algo_history(self, request: web.Request, params: dict[str, Any]) -> Any:
        """GET trade/orders-algo-history: stops no longer live; ordType and one of state / algoId required."""
        state = _str(params, "state", required=False)
        if state is None and not params.get("algoId"):
            raise missing("state")
        if state is not None and state not in ("effective", "canceled", "order_failed"):
            raise bad("state")
        rows = [o for o in self._algo_orders(params) if not o.is_open]
        if state is not None:
            rows = [o for o in rows if payloads.ALGO_STATES.get(o.status) == state]
        limit = min(_int(params, "limit") or MAX_PAGE, MAX_PAGE)
        return ok([self._algo_row(o) for o in rows[:limit]])

    def _find_algo(self, params: Mapping[str, Any]) -> Order:
        algo = _str(params, "algoId", required=False)
        client_id = _str(params, "algoClOrdId", required=False)
        if algo is None and client_id is None:
            raise OkxError("51000", "Parameter algoId error")  # OKX: either algoId or algoClOrdId is required
        inst_id = _str(params, "instId", required=False)
        symbol = self._swap(inst_id).symbol if inst_id else None
        wanted = payloads.engine_order_id(algo) if algo is not None else None
        for o in reversed(self.engine.orders):
            if o.type != "STOP_MARKET" or (symbol is not None and o.symbol != symbol):
                continue
            if algo is not None and o.order_id == wanted:
                return o
            if algo is None and o.client_order_id == client_id:
                return o
        raise OkxError("51603")

    async def get_algo(self, request: web.Request, params: dict[str, Any]) -> Any:
        """GET trade/order-algo by algoId or algoClOrdId: live, effective (with the ordId it placed) or canceled."""
        return ok([self._algo_row(self._find_algo(params))])

    async def cancel_algos(self, request: web.Request, params: dict[str, Any]) -> Any:
        """POST trade/cancel-algos: a JSON array of {instId, algoId | algoClOrdId}, up to 10."""
        entries = params.get(auth.BATCH_KEY)
        if not isinstance(entries, list) or not entries:
            raise OkxError("50002", "Json data format error", status=400)
        if len(entries) > MAX_ALGO_CANCELS:
            raise OkxError("51000", "Parameter algoId error")
        rows: list[dict[str, Any]] = []
        changed = False
        for entry in entries:
            if not isinstance(entry, Mapping):
                raise OkxError("50002", "Json data format error", status=400)
            _str(entry, "instId")
            client_id = str(entry.get("algoClOrdId") or "")
            try:
                o = self._find_algo(entry)
                self.engine.cancel_order(o.symbol, o.order_id)
            except Rejection as exc:
                if exc.reason not in (Reason.ORDER_NOT_FOUND, Reason.CANCEL_UNKNOWN_ORDER) and okx_code(exc) != "51603":
                    raise
                rows.append({"algoClOrdId": client_id, "algoId": str(entry.get("algoId") or ""), "sCode": "51400",
                             "sMsg": okx_message(Rejection(Reason.CANCEL_UNKNOWN_ORDER))})
                continue
            changed = True
            rows.append({"algoClOrdId": o.client_order_id, "algoId": payloads.algo_id(o), "sCode": "0", "sMsg": ""})
        if changed:
            self.server.persist()
        failed = sum(1 for r in rows if r["sCode"] != "0")
        code = "0" if not failed else BATCH_FAILED if failed == len(rows) else BATCH_PARTIAL
        return {"code": code, "data": rows, "msg": ""}

    # ------------------------------------------------------------------ funds

    async def transfer(self, request: web.Request, params: dict[str, Any]) -> Any:
        """POST asset/transfer within the account (type 0) between the funding (6) and the trading (18)
        account: the engine's spot and futures wallets. ccxt maps "spot", "swap", "future", "margin"
        and "trading" all to 18 (OKX's unified account), "funding" to 6."""
        ccy = str(_str(params, "ccy"))
        amt = _number(params, "amt")
        source, target = str(_str(params, "from")), str(_str(params, "to"))
        kind = str(params.get("type") or "0")
        if kind not in ("0", "1", "2", "3", "4"):
            raise bad("type")
        if kind != "0":
            raise OkxError(SIM_UNSUPPORTED, "exchange-sim has no sub-accounts (transfer type 0 only).")
        if source not in ACCOUNTS:
            raise bad("from")
        if target not in ACCOUNTS or target == source:
            raise bad("to")
        client_id = _str(params, "clientId", required=False) or ""
        if client_id and not _CLIENT_ID_RE.match(client_id):
            raise bad("clientId")
        assert amt is not None
        if amt <= 0:
            raise OkxError("58114")
        done = self.engine.transfer(ccy, amt, ACCOUNTS[source], ACCOUNTS[target], client_id)
        self.server.persist()
        ids = {v: k for k, v in ACCOUNTS.items()}
        return ok([payloads.transfer(done, ids[done.source], ids[done.target])])


__all__ = ["OkxDialect", "ORDER_PATHS"]
