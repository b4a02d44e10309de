"""The one table of supported exchanges: one ExchangeSpec per exchange, read by settings and the venue.

Data where data suffices (modes and how ccxt reaches them, id rules, lean options, batching), a small
strategy object where it does not (account parser, margin setup, order lookup, fee and funding readers).
Nothing here imports ccxt; nothing anywhere branches on an exchange's name.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Awaitable, Callable, Mapping, Protocol

from ..domain import ZERO, HedgeAccount

# CcxtVenue._read: (label, bound ccxt method, *args) -> the call's result, retried on transient errors and
# translated into venue errors.
Read = Callable[..., Awaitable[Any]]

MODES = ("live", "demo", "testnet", "local")
# What each step of reaching a mode does to a freshly built ccxt client (applied in order by build_client):
#   demo_trading = client.enable_demo_trading(True)  (the constructor option only sets a flag)
#   sandbox      = client.set_sandbox_mode(True)     (OKX: the header x-simulated-trading: 1, same host)
#   local        = every urls['api'] entry rewritten to base_url + its path (the local exchange)
STEPS = ("demo_trading", "sandbox", "local")


def _number(value: Any) -> Decimal | None:
    """A number the exchange sent, or None when it sent nothing usable (never a zero in its place)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def dig(info: Any, path: tuple[str | int, ...]) -> Any:
    """The value at `path` (keys and list indexes) in a raw reply, None where the path breaks."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(info, list) or len(info) <= step:
                return None
            info = info[step]
        else:
            if not isinstance(info, Mapping):
                return None
            info = info.get(step)
    return info


def _error_code(exc: BaseException) -> str | None:
    return getattr(exc, "code", None)


# --------------------------------------------------------------------------- account: what "equity" is


@dataclass(frozen=True)
class AccountFields:
    """Where the hedge account's totals sit in the raw balance reply (ccxt's balance['info']).

    `path` leads from the reply to the object holding them; `available` is a key there, or None when
    the venue gives none: then equity - initial margin. Any missing figure makes the whole account
    None (a denial downstream), never a zero. A key of None is a figure the venue's reply does not
    carry at all (BingX, MEXC and WEEX report no maintenance margin): CcxtVenue then derives it from
    the venue's tiers at the marks. Where the venue publishes no tiers either (WEEX), the account's
    maintenance margin stays None ("unknown", shown as such) while the account itself is complete:
    the gate never reads that figure (its LIQUIDATION check computes maintenance per position from
    the tiers, or default_mmr and says so).

    `unrealized`: a key added to `equity` (WEEX reports balance = wallet and unrealizePnl, no equity).
    `initial_margin_from_available`: the venue reports no initial margin (WEEX); it is equity - available
    (available = equity less the positions' and open orders' initial margin, as Binance's
    totalInitialMargin counts both).

    `row_key`: the object at `path` is a list of one row per coin (BingX asset, MEXC currency, WEEX
    asset), and the row whose `row_key` is the quote holds the totals."""

    path: tuple[str | int, ...]
    equity: str | None
    wallet: str | None
    initial_margin: str | None
    maintenance_margin: str | None
    available: str | None = None
    row_key: str | None = None
    unrealized: str | None = None
    initial_margin_from_available: bool = False
    maintenance_optional: bool = False  # the venue publishes no tiers: None is "unknown", not missing

    def parse(self, balance: Mapping[str, Any], quote: str | None = None,
              maintenance: Decimal | None = None) -> HedgeAccount | None:
        """`maintenance`: the caller's own figure where `maintenance_margin` is None (the venue's
        tiers at the marks); None leaves the account incomplete."""
        totals = dig(balance.get("info"), self.path)
        if self.row_key is not None:
            rows = totals if isinstance(totals, list) else []
            totals = next((r for r in rows if isinstance(r, Mapping) and r.get(self.row_key) == quote), None)
        if not isinstance(totals, Mapping):
            return None

        def figure(key: str | None) -> Decimal | None:
            return _number(totals.get(key)) if key is not None else None

        equity, wallet = figure(self.equity), figure(self.wallet)
        if self.unrealized is not None:
            upnl = figure(self.unrealized)
            equity = equity + upnl if equity is not None and upnl is not None else None
        im = figure(self.initial_margin)
        mm = figure(self.maintenance_margin) if self.maintenance_margin is not None else maintenance
        available = _number(totals.get(self.available)) if self.available else (
            equity - im if equity is not None and im is not None else None)
        if self.initial_margin_from_available:
            im = equity - available if equity is not None and available is not None else None
        if None in (equity, wallet, im, available) or (mm is None and not self.maintenance_optional):
            return None
        return HedgeAccount(equity=equity, wallet=wallet, initial_margin=im, maintenance_margin=mm,
                            available=available)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- account checks at connect


class AccountCheck(Protocol):
    """One read at connect that says whether the account can be traded as configured: a problem
    sentence (the venue raises it as a FatalError) or None."""

    async def problem(self, read: Read, client: Any, symbols: list[str], margin_mode: str) -> str | None: ...


@dataclass(frozen=True)
class PositionModeCheck:
    """fetch_position_mode: one-way wanted. `key`/`one_way` read the raw answer where ccxt's `hedged`
    is not precise enough (OKX posMode must be exactly net_mode); `per_symbol` passes the first symbol
    (Binance's answer is account-wide but ccxt wants a market to pick USDⓈ-M)."""

    per_symbol: bool = True
    key: str | None = None
    one_way: str | None = None
    # The mode is each symbol's own (WEEX separatedType): every hedged symbol is read, concurrently.
    every_symbol: bool = False

    async def problem(self, read: Read, client: Any, symbols: list[str], margin_mode: str) -> str | None:
        if not symbols:
            return None
        if self.every_symbol:
            modes = await asyncio.gather(*(read("fetch_position_mode", client.fetch_position_mode, s) for s in symbols))
            hedged = [s for s, mode in zip(symbols, modes) if (mode or {}).get("hedged")]
            if hedged:
                return (f"{', '.join(hedged)} {'is' if len(hedged) == 1 else 'are'} in hedge (separated) position "
                        "mode; switch each to one-way (combined) mode in the exchange's futures settings, then run "
                        "again")
            return None
        args = (symbols[0],) if self.per_symbol else ()
        mode = await read("fetch_position_mode", client.fetch_position_mode, *args) or {}
        if self.key is not None:
            value = (mode.get("info") or {}).get(self.key)
            if value != self.one_way:
                return (f"the account's position mode is {self.key}={value!r}, not {self.one_way!r} (one-way); "
                        "switch it to one-way (net) mode in the exchange's settings, then run again")
            return None
        if mode.get("hedged"):
            return ("the futures account is in hedge (dual-side) position mode; switch it to one-way mode "
                    "in the exchange's futures settings, then run again")
        return None


@dataclass(frozen=True)
class UnifiedAccountCheck:
    """Bybit: the margin mode of a unified account is account-wide (GET /v5/account/info marginMode),
    so it is read once here and never switched by a start (ccxt's set_margin_mode would send an
    account-wide setMarginMode on every start). A classic (non-unified) account is refused: ccxt is
    told the account is unified (lean options), which spares its two signed detection reads."""

    margin_modes: Mapping[str, str] = field(default_factory=lambda: {"cross": "REGULAR_MARGIN"})
    classic_status: frozenset[int] = frozenset({1})  # unifiedMarginStatus 1 = classic account

    async def problem(self, read: Read, client: Any, symbols: list[str], margin_mode: str) -> str | None:
        reply = await read("fetch_account_info", client.privateGetV5AccountInfo)
        result = (reply or {}).get("result") or {}
        status = _number(result.get("unifiedMarginStatus"))
        if status is not None and int(status) in self.classic_status:
            return ("the account is a classic account; only a unified trading account is supported "
                    "(upgrade it to UTA in Bybit's account settings)")
        wanted, actual = self.margin_modes.get(margin_mode), result.get("marginMode")
        if wanted is None or actual != wanted:
            return (f"the unified account's margin mode is {actual!r}, not {wanted!r} ({margin_mode}); it is "
                    "account-wide, so it is never switched for you: set it in Bybit's account settings")
        return None


# --------------------------------------------------------------------------- leverage and margin setup


class MarginSetup(Protocol):
    async def prepare(self, read: Read, client: Any, symbol: str, margin_mode: str, leverage: int) -> None: ...


async def _setting(read: Read, already_set: frozenset[str], label: str, fn: Any, *args: Any,
                   text: str | None = None) -> None:
    """An idempotent setting: the venue's "already as wanted" answers are success. `text`: the code is
    a generic one (BingX 109400 "Invalid parameters, ...", WEEX -1142) and only its "not modified"
    wording means already set."""
    from .errors import VenueError

    try:
        await read(label, fn, *args)
    except VenueError as exc:
        if _error_code(exc) not in already_set or (text is not None and text not in str(exc)):
            raise


@dataclass(frozen=True)
class MarginThenLeverage:
    """set_margin_mode(mode, symbol) then set_leverage(n, symbol) (Binance: -4046 "No need to change
    margin type" is success). `margin_per_symbol` False: the margin mode is account-wide and checked
    at connect (Bybit unified), so only the leverage is set; 110043 "leverage not modified" is success."""

    margin_already_set: frozenset[str] = frozenset()
    leverage_already_set: frozenset[str] = frozenset()
    margin_per_symbol: bool = True
    # Extra set_leverage params: BingX side=BOTH (ccxt's check_required_argument: LONG/SHORT/BOTH; BOTH
    # is the one-way position). `leverage_margin_param` names the param that carries the margin mode
    # (WEEX marginMode: ccxt then sends crossLeverage or isolatedLong/ShortLeverage).
    leverage_params: Mapping[str, Any] = field(default_factory=dict)
    leverage_margin_param: str | None = None
    already_set_text: str | None = None  # see _setting

    async def prepare(self, read: Read, client: Any, symbol: str, margin_mode: str, leverage: int) -> None:
        text = self.already_set_text
        if self.margin_per_symbol:
            await _setting(read, self.margin_already_set, "set_margin_mode", client.set_margin_mode, margin_mode,
                           symbol, text=text)
        params = dict(self.leverage_params)
        if self.leverage_margin_param:
            params[self.leverage_margin_param] = margin_mode
        extra = (params,) if params else ()
        await _setting(read, self.leverage_already_set, "set_leverage", client.set_leverage, leverage, symbol, *extra,
                       text=text)


@dataclass(frozen=True)
class LeveragePerPositionType:
    """MEXC: set_leverage needs `openType` (1 isolated, 2 cross) and `positionType` (1 long, 2 short)
    and sets the margin mode with the leverage (POST /api/v1/private/position/change_leverage); ccxt's
    set_margin_mode sends the same request and needs a leverage too. Both position types are set,
    concurrently, so a one-way account's long and short sides agree."""

    open_types: Mapping[str, int] = field(default_factory=lambda: {"isolated": 1, "cross": 2})
    position_types: tuple[int, ...] = (1, 2)
    already_set: frozenset[str] = frozenset()

    async def prepare(self, read: Read, client: Any, symbol: str, margin_mode: str, leverage: int) -> None:
        open_type = self.open_types[margin_mode]
        await asyncio.gather(*(
            _setting(read, self.already_set, "set_leverage", client.set_leverage, leverage, symbol,
                     {"openType": open_type, "positionType": position_type})
            for position_type in self.position_types))


@dataclass(frozen=True)
class MarginWithLever:
    """OKX: set_margin_mode needs `lever` and goes to /account/set-leverage, the same request
    set_leverage sends: one call sets both."""

    already_set: frozenset[str] = frozenset()

    async def prepare(self, read: Read, client: Any, symbol: str, margin_mode: str, leverage: int) -> None:
        await _setting(read, self.already_set, "set_margin_mode", client.set_margin_mode, margin_mode, symbol,
                       {"lever": leverage})


# --------------------------------------------------------------------------- finding an order by client id


class OrderLookup(Protocol):
    async def find(self, read: Read, client: Any, symbol: str, client_order_id: str) -> Mapping[str, Any] | None: ...


@dataclass(frozen=True)
class FetchOrderByClientId:
    """fetch_order(None, symbol, {param: cid}): Binance origClientOrderId (-2013 -> not found), OKX
    clOrdId (51603 -> not found)."""

    param: str

    async def find(self, read: Read, client: Any, symbol: str, client_order_id: str) -> Mapping[str, Any] | None:
        from .errors import OrderNotFoundError

        try:
            return await read("fetch_order", client.fetch_order, None, symbol, {self.param: client_order_id})
        except OrderNotFoundError:
            return None


_FINAL = ("closed", "canceled", "expired", "rejected")


@dataclass(frozen=True)
class OpenOrHistoryByClientId:
    """Bybit: fetch_order raises ArgumentsRequired on unified accounts (and drops the client id even
    with `acknowledged`). The open orders (GET /v5/order/realtime) and the order history (GET
    /v5/order/history, closed and cancelled alike, so a partly filled IOC is found too) are read
    concurrently, filtered by orderLinkId: one round trip. A final state wins over an open one."""

    param: str | None = "orderLinkId"  # None: the venue takes no client-id filter (WEEX); filtered here
    # The history read: closed and cancelled orders (MEXC has no such call: fetch_orders, every state).
    history: str = "fetch_canceled_and_closed_orders"
    # Raw keys holding the client id where ccxt's parse_order leaves clientOrderId empty (MEXC externalOid).
    info_keys: tuple[str, ...] = ()

    def _ours(self, order: Mapping[str, Any], client_order_id: str) -> bool:
        if order.get("clientOrderId") == client_order_id:
            return True
        info = order.get("info") if isinstance(order.get("info"), Mapping) else {}
        return any(info.get(k) == client_order_id for k in self.info_keys)

    async def find(self, read: Read, client: Any, symbol: str, client_order_id: str) -> Mapping[str, Any] | None:
        params = {self.param: client_order_id} if self.param else {}
        open_, done = await asyncio.gather(
            read("lookup_open_orders", client.fetch_open_orders, symbol, None, None, dict(params)),
            read("lookup_closed_orders", getattr(client, self.history), symbol, None, None, dict(params)),
        )
        found = [o for o in (*(done or ()), *(open_ or ())) if self._ours(o, client_order_id)]
        found.sort(key=lambda o: o.get("status") not in _FINAL)
        return found[0] if found else None


@dataclass(frozen=True)
class EndpointByClientId:
    """The venue's own query-by-client-id endpoint through ccxt's implicit method, its reply parsed by
    ccxt's parse_order: MEXC GET /api/v1/private/order/external/{symbol}/{external_oid} (ccxt's
    fetch_order sends GET /order/get/None for a client id); BingX GET /openApi/swap/v2/trade/order
    with clientOrderId alone (ccxt's fetch_order also sends orderId=None).

    A "not found" answer (BingX 80016/80017, MEXC's) right after a send is no proof of absence (the
    venue's query may lag its matching engine): with `confirm`, the open orders and the order history
    are read too, and the order is absent only when none of the three has it."""

    method: str
    symbol_key: str
    client_id_key: str
    reply_path: tuple[str | int, ...] = ("data",)
    confirm: OpenOrHistoryByClientId | None = None
    # The venue's "no such order" codes that ccxt does not map to OrderNotFound (MEXC 2040 is a bare
    # ExchangeError there).
    not_found_codes: frozenset[str] = frozenset()

    async def find(self, read: Read, client: Any, symbol: str, client_order_id: str) -> Mapping[str, Any] | None:
        from .errors import OrderNotFoundError, VenueError

        market = client.market(symbol)
        try:
            reply = await read("fetch_order_by_client_id", getattr(client, self.method),
                               {self.symbol_key: market["id"], self.client_id_key: client_order_id})
        except OrderNotFoundError:
            reply = None
        except VenueError as exc:
            if _error_code(exc) not in self.not_found_codes:
                raise
            reply = None
        raw = dig(reply, self.reply_path)
        if isinstance(raw, Mapping) and isinstance(raw.get("order"), Mapping):
            raw = raw["order"]
        if isinstance(raw, Mapping) and raw:
            order = client.parse_order(dict(raw), market)
            # MEXC's parse_order leaves clientOrderId empty for swaps (the raw order carries externalOid).
            if order.get("clientOrderId") in (None, "", client_order_id):
                return {**order, "clientOrderId": client_order_id}
        if self.confirm is not None:
            return await self.confirm.find(read, client, symbol, client_order_id)
        return None


# --------------------------------------------------------------------------- fees and funding payments


@dataclass(frozen=True)
class FundingPayment:
    """One funding payment on the hedge account: `amount` > 0 received, < 0 paid, in `currency`."""

    symbol: str
    amount: Decimal
    currency: str | None
    at: datetime
    payment_id: str | None


def _at(ms: Any) -> datetime | None:
    number = _number(ms)
    return datetime.fromtimestamp(int(number) / 1000, tz=timezone.utc) if number is not None else None


class FeeReader(Protocol):
    async def fees(self, read: Read, client: Any, fills: list[tuple[str, str, Decimal]],
                   since_ms: int) -> dict[str, tuple[Decimal, str | None]]: ...


@dataclass(frozen=True)
class IncomeLedgerFees:
    """Binance USDⓈ-M: one read of the account's COMMISSION ledger (GET /fapi/v1/income) serves every
    symbol; a symbol's commission is shared among this cycle's orders on it by notional (all taker
    orders, so the share is exact unless someone else traded the symbol in the same seconds)."""

    method: str = "fapiPrivateGetIncome"
    income_type: str = "COMMISSION"

    async def fees(self, read: Read, client: Any, fills: list[tuple[str, str, Decimal]],
                   since_ms: int) -> dict[str, tuple[Decimal, str | None]]:
        rows = await read("fetch_commissions", getattr(client, self.method),
                          {"incomeType": self.income_type, "startTime": since_ms, "limit": 1000})
        paid: dict[str, tuple[Decimal, str | None]] = {}
        for row in rows or ():
            income = _number(row.get("income"))
            if income is None:
                continue
            market_id = row.get("symbol")
            paid[market_id] = (paid.get(market_id, (ZERO, None))[0] - income, row.get("asset"))
        by_symbol: dict[str, list[tuple[str, Decimal]]] = {}
        for symbol, order_id, notional in fills:
            by_symbol.setdefault(client.market(symbol)["id"], []).append((order_id, notional))
        out: dict[str, tuple[Decimal, str | None]] = {}
        for market_id, orders in by_symbol.items():
            if market_id not in paid:
                continue
            total_fee, asset = paid[market_id]
            total_notional = sum((n for _, n in orders), ZERO)
            for order_id, notional in orders:
                if len(orders) == 1:
                    out[order_id] = (total_fee, asset)
                    continue
                share = notional / total_notional if total_notional else Decimal(1) / len(orders)
                out[order_id] = ((total_fee * share).quantize(Decimal("1e-8")), asset)
        return out


@dataclass(frozen=True)
class TradeFees:
    """Each trade's fee by its order id, from fetch_my_trades (Bybit GET /v5/execution/list execFee;
    OKX GET /api/v5/trade/fills-history fee, which ccxt negates so a paid fee is positive). With
    `all_params` one read covers every symbol (Bybit category=linear, OKX instType=SWAP: the venue
    takes no symbol), so a cycle's fee read is one request whatever its number of assets; a reply
    that fills the page (`page` rows) may have left trades out, and the symbols are then read one by
    one, concurrently. Without `all_params`, per symbol."""

    all_params: Mapping[str, Any] | None = None
    page: int = 100

    async def fees(self, read: Read, client: Any, fills: list[tuple[str, str, Decimal]],
                   since_ms: int) -> dict[str, tuple[Decimal, str | None]]:
        symbols = sorted({symbol for symbol, _, _ in fills})
        replies: list[Any] | None = None
        if self.all_params is not None and len(symbols) > 1:
            reply = await read("fetch_my_trades", client.fetch_my_trades, None, since_ms, self.page,
                               dict(self.all_params))
            if len(reply or ()) < self.page:
                wanted = set(symbols)
                replies = [[t for t in (reply or ()) if t.get("symbol") in wanted]]
        if replies is None:
            replies = await asyncio.gather(*(read("fetch_my_trades", client.fetch_my_trades, s, since_ms)
                                             for s in symbols))
        out: dict[str, tuple[Decimal, str | None]] = {}
        for trade in (t for reply in replies for t in (reply or ())):
            fee = trade.get("fee") or {}
            cost = _number(fee.get("cost"))
            if trade.get("order") is None or cost is None:
                continue
            oid = str(trade["order"])
            out[oid] = (out.get(oid, (ZERO, None))[0] + cost, fee.get("currency"))
        return out


class SettingsReader(Protocol):
    async def already_set(self, read: Read, client: Any, symbols: list[str], margin_mode: str,
                          leverage: int) -> set[str]: ...


@dataclass(frozen=True)
class FetchLeveragesSettings:
    """ccxt fetch_leverages for every symbol in one read (Binance GET /fapi/v1/symbolConfig; ccxt loads
    its bracket cache first, which connect has already seeded). The symbols in `margin_mode` at
    `leverage` on both sides need no set_margin_mode / set_leverage before their first order."""

    async def already_set(self, read: Read, client: Any, symbols: list[str], margin_mode: str,
                          leverage: int) -> set[str]:
        if not client.has.get("fetchLeverages"):
            return set()
        settings = await read("fetch_leverages", client.fetch_leverages, symbols)
        return {symbol for symbol, lev in (settings or {}).items()
                if symbol in symbols and lev.get("marginMode") == margin_mode
                and lev.get("longLeverage") == leverage and lev.get("shortLeverage") == leverage}


@dataclass(frozen=True)
class PerSymbolLeverageSettings:
    """ccxt fetch_leverage per symbol, concurrently (MEXC: both position types with their openType;
    BingX: the leverage without a margin mode, so fetch_margin_mode beside it). The symbols in
    `margin_mode` at `leverage` on both sides need no setting before their first order."""

    async def already_set(self, read: Read, client: Any, symbols: list[str], margin_mode: str,
                          leverage: int) -> set[str]:
        if not client.has.get("fetchLeverage"):
            return set()

        async def settled(symbol: str) -> bool:
            reads = [read("fetch_leverage", client.fetch_leverage, symbol)]
            if client.has.get("fetchMarginMode"):
                reads.append(read("fetch_margin_mode", client.fetch_margin_mode, symbol))
            replies = await asyncio.gather(*reads)
            lev = replies[0] or {}
            mode = lev.get("marginMode")
            if mode is None and len(replies) > 1:
                mode = (replies[1] or {}).get("marginMode")
            return (mode == margin_mode and _number(lev.get("longLeverage")) == leverage
                    and _number(lev.get("shortLeverage")) == leverage)

        outcomes = await asyncio.gather(*(settled(s) for s in symbols), return_exceptions=True)
        return {s for s, ok in zip(symbols, outcomes) if ok is True}


@dataclass(frozen=True)
class LeverageInfoSettings:
    """OKX GET /api/v5/account/leverage-info: the leverage of up to `chunk` instruments per request
    (instId comma-separated) in the given margin mode; ccxt has no batch call for it. The symbols
    at `leverage` need no set-leverage before their first order."""

    chunk: int = 20

    async def already_set(self, read: Read, client: Any, symbols: list[str], margin_mode: str,
                          leverage: int) -> set[str]:
        call = getattr(client, "privateGetAccountLeverageInfo", None)
        by_id = {(client.markets.get(s) or {}).get("id"): s for s in symbols}
        by_id.pop(None, None)
        ids = list(by_id)
        if call is None or not ids:
            return set()
        replies = await asyncio.gather(*(
            read("fetch_leverage_info", call,
                 {"instId": ",".join(ids[i:i + self.chunk]), "mgnMode": margin_mode})
            for i in range(0, len(ids), self.chunk)))
        done: set[str] = set()
        for reply in replies:
            for row in (reply or {}).get("data") or ():
                symbol = by_id.get(row.get("instId"))
                if symbol and row.get("mgnMode") == margin_mode and _number(row.get("lever")) == leverage:
                    done.add(symbol)
        return done


@dataclass(frozen=True)
class PositionLeverageSettings:
    """Bybit: GET /v5/position/list with a symbol answers that symbol's leverage whether or not it
    holds a position (with settleCoin only the open ones): one read per symbol, concurrently, at
    connect. The margin mode is the unified account's own (UnifiedAccountCheck)."""

    async def already_set(self, read: Read, client: Any, symbols: list[str], margin_mode: str,
                          leverage: int) -> set[str]:
        call = getattr(client, "fetch_position", None)
        if call is None:
            return set()
        replies = await asyncio.gather(*(read("fetch_position_settings", call, s) for s in symbols),
                                       return_exceptions=True)
        return {s for s, p in zip(symbols, replies)
                if isinstance(p, Mapping) and _number(p.get("leverage")) == leverage}


class PositionCapReader(Protocol):
    async def caps(self, read: Read, client: Any, symbols: list[str], leverage: int) -> dict[str, Decimal | None]: ...


@dataclass(frozen=True)
class LeverageEndpointCaps:
    """BingX GET /openApi/swap/v2/trade/leverage per symbol (ccxt fetch_leverage; its raw `info` keeps
    maxPositionLongVal / maxPositionShortVal, the largest position value the leverage in force allows).
    Its tiers carry no max leverage, so this is the only word on the position limit. A cap counts only
    when both sides are at the configured `leverage` (else it is another leverage's: None until
    prepare sets it). At connect it is the same read the settings reader makes (shared there)."""

    async def caps(self, read: Read, client: Any, symbols: list[str], leverage: int) -> dict[str, Decimal | None]:
        if not client.has.get("fetchLeverage") or not symbols:
            return {}
        replies = await asyncio.gather(*(read("fetch_leverage", client.fetch_leverage, s) for s in symbols),
                                       return_exceptions=True)
        out: dict[str, Decimal | None] = {}
        for symbol, reply in zip(symbols, replies):
            data = reply.get("info") if isinstance(reply, Mapping) else None
            if not isinstance(data, Mapping):
                out[symbol] = None
                continue
            levs = (_number(reply.get("longLeverage")), _number(reply.get("shortLeverage")))
            caps = [_number(data.get(k)) for k in ("maxPositionLongVal", "maxPositionShortVal")]
            known = [c for c in caps if c is not None and c > 0]
            out[symbol] = min(known) if levs == (leverage, leverage) and len(known) == 2 else None
        return out


@dataclass(frozen=True)
class StopOrders:
    """How the venue takes, lists and cancels a protective reduce-only stop-market order through ccxt
    4.5.90 (issue 14): `create_order(symbol, "market", side, contracts, None, params)` with params =
    {"triggerPrice", "reduceOnly", "clientOrderId"} + `params` + the side's `side_params`;
    `fetch_open_orders(symbol, None, None, list_params)` lists them (None: they sit in the plain open
    orders, told apart by `stop_types` of the raw type); `cancel_order(id, symbol, cancel_params)`.
    Venue notes: Binance and WEEX use their algo-order APIs (`trigger`), and default to the last price
    (workingType MARK_PRICE asks for the mark); Bybit needs triggerDirection (ccxt refuses without it)
    and triggerBy MarkPrice; MEXC plan orders need triggerType 2 for a sell stop (ccxt always sends 1,
    ">="), trend 2 for the fair price, and list no client id (the order id from create_order is the
    handle); BingX keeps stops in its plain open orders."""

    params: Mapping[str, Any] = field(default_factory=dict)
    side_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    list_params: Mapping[str, Any] | None = field(default_factory=lambda: {"trigger": True})
    cancel_params: Mapping[str, Any] = field(default_factory=lambda: {"trigger": True})
    stop_types: frozenset[str] = frozenset()  # raw info types of a stop where they share the plain list

    def place_params(self, side: str, trigger: Decimal, client_order_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {"triggerPrice": float(trigger), "reduceOnly": True, "clientOrderId": client_order_id}
        out.update(self.params)
        out.update(self.side_params.get(side, {}))
        return out  # a fresh dict per order: ccxt's weex writes into the params it gets


class FundingReader(Protocol):
    async def payments(self, read: Read, client: Any, symbols: list[str], quote: str,
                       since_ms: int) -> list[FundingPayment]: ...


@dataclass(frozen=True)
class FundingHistoryPayments:
    """fetch_funding_history: Binance in one read for every symbol (GET /fapi/v1/income
    incomeType=FUNDING_FEE, amount > 0 received); Bybit one symbol per read (GET /v5/execution/list
    execType=Funding), whose amount is execFee, > 0 when the account paid: `paid_positive` flips it."""

    per_symbol: bool = False
    paid_positive: bool = False

    async def payments(self, read: Read, client: Any, symbols: list[str], quote: str,
                       since_ms: int) -> list[FundingPayment]:
        if self.per_symbol:
            replies = await asyncio.gather(*(read("fetch_funding_history", client.fetch_funding_history, s, since_ms)
                                             for s in symbols))
        else:
            replies = [await read("fetch_funding_history", client.fetch_funding_history, None, since_ms)]
        wanted, out = set(symbols), []
        for entry in (e for reply in replies for e in (reply or ())):
            amount, at = _number(entry.get("amount")), _at(entry.get("timestamp"))
            if entry.get("symbol") not in wanted or amount is None or at is None:
                continue
            out.append(FundingPayment(entry["symbol"], -amount if self.paid_positive else amount,
                                      entry.get("code"), at, entry.get("id")))
        return sorted(out, key=lambda p: p.at)


@dataclass(frozen=True)
class BillsFundingPayments:
    """OKX: the account bills of type 8 (funding fee) for swaps (GET /api/v5/account/bills
    instType=SWAP&type=8), one read for every symbol; balChg > 0 received. ccxt's fetch_ledger cannot
    send the bill type (its `type` param is taken as the market type), so the implicit endpoint is
    called and its rows parsed by ccxt's own parse_ledger."""

    bill_type: str = "8"

    async def payments(self, read: Read, client: Any, symbols: list[str], quote: str,
                       since_ms: int) -> list[FundingPayment]:
        reply = await read("fetch_funding_bills", client.privateGetAccountBills,
                           {"instType": "SWAP", "type": self.bill_type, "ccy": quote, "begin": since_ms})
        wanted, out = set(symbols), []
        for entry in client.parse_ledger((reply or {}).get("data") or []):
            # ccxt's safe_ledger_entry drops the symbol it parsed: read the bill's own instId.
            symbol = client.safe_symbol((entry.get("info") or {}).get("instId"))
            amount, at = _number(entry.get("amount")), _at(entry.get("timestamp"))
            if symbol not in wanted or amount is None or at is None:
                continue
            out.append(FundingPayment(symbol, amount, entry.get("currency"), at, entry.get("id")))
        return sorted(out, key=lambda p: p.at)


class FundingRatesReader(Protocol):
    async def rates(self, read: Read, client: Any, symbols: list[str]) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class BatchFundingRates:
    """fetch_funding_rates(symbols): one read for every symbol (Binance premiumIndex, Bybit tickers,
    OKX, BingX premiumIndex, WEEX premiumIndex)."""

    async def rates(self, read: Read, client: Any, symbols: list[str]) -> Mapping[str, Any]:
        return await read("fetch_funding_rates", client.fetch_funding_rates, symbols) or {}


@dataclass(frozen=True)
class PerSymbolFundingRates:
    """MEXC: has['fetchFundingRates'] is False; fetch_funding_rate per symbol (GET
    /api/v1/contract/funding_rate/{symbol}), concurrently, so a snapshot still waits one round trip."""

    async def rates(self, read: Read, client: Any, symbols: list[str]) -> Mapping[str, Any]:
        replies = await asyncio.gather(*(read("fetch_funding_rate", client.fetch_funding_rate, s) for s in symbols))
        return {r.get("symbol") or s: r for s, r in zip(symbols, replies) if isinstance(r, Mapping)}


# --------------------------------------------------------------------------- wallet transfers (issue 14)


@dataclass(frozen=True)
class WalletTransfer:
    """One transfer into the futures wallet as the venue's history reports it."""

    transfer_id: str | None
    currency: str
    amount: Decimal
    at: datetime
    client_id: str | None = None  # where the history carries the id we sent (Bybit transferId)


class TransferHistory(Protocol):
    async def into_futures(self, read: Read, client: Any, currency: str, since_ms: int) -> list[WalletTransfer]: ...


@dataclass(frozen=True)
class IncomeTransfers:
    """Binance: the USDⓈ-M income ledger's TRANSFER rows (GET /fapi/v1/income incomeType=TRANSFER),
    income > 0 = into the futures wallet. No client id (the universal transfer takes none)."""

    async def into_futures(self, read: Read, client: Any, currency: str, since_ms: int) -> list[WalletTransfer]:
        rows = await read("fetch_transfer_income", client.fapiPrivateGetIncome,
                          {"incomeType": "TRANSFER", "startTime": since_ms, "limit": 1000})
        out = []
        for row in rows or ():
            amount, at = _number(row.get("income")), _at(row.get("time"))
            if row.get("asset") == currency and amount is not None and amount > 0 and at is not None:
                out.append(WalletTransfer(str(row.get("tranId")) if row.get("tranId") is not None else None,
                                          currency, amount, at))
        return out


@dataclass(frozen=True)
class BillsTransfers:
    """OKX: the trading account's bills of type 1 (transfer), subType 11 = in (GET /api/v5/account/bills
    type=1); the bill carries no clientId, so a transfer is told by its amount and time."""

    async def into_futures(self, read: Read, client: Any, currency: str, since_ms: int) -> list[WalletTransfer]:
        reply = await read("fetch_transfer_bills", client.privateGetAccountBills,
                           {"ccy": currency, "type": "1", "begin": since_ms})
        out = []
        for row in (reply or {}).get("data") or ():
            amount, at = _number(row.get("balChg")), _at(row.get("ts"))
            if str(row.get("subType")) == "11" and amount is not None and amount > 0 and at is not None:
                out.append(WalletTransfer(row.get("billId"), currency, amount, at))
        return out


@dataclass(frozen=True)
class FetchTransfersHistory:
    """ccxt's fetch_transfers(currency, since, None, params): BingX transferRecord (fromAccount spot,
    toAccount swap), MEXC capital/transfer history (fromAccountType SPOT, toAccountType FUTURES), Bybit
    query-inter-transfer-list (every direction: `to_info` keeps the rows into the unified account, and
    its transferId is the id we sent)."""

    params: Mapping[str, Any] = field(default_factory=dict)
    to_info: tuple[str, str] | None = None  # (raw key, value) of a row into the futures wallet
    client_id_key: str | None = None  # raw key of the id we sent

    async def into_futures(self, read: Read, client: Any, currency: str, since_ms: int) -> list[WalletTransfer]:
        rows = await read("fetch_transfers", client.fetch_transfers, currency, since_ms, None, dict(self.params))
        out = []
        for row in rows or ():
            info = row.get("info") if isinstance(row.get("info"), Mapping) else {}
            if self.to_info is not None and str(info.get(self.to_info[0])) != self.to_info[1]:
                continue
            amount, at = _number(row.get("amount")), _at(row.get("timestamp"))
            if amount is None or amount <= 0 or at is None or row.get("status") in ("failed", "canceled"):
                continue
            cid = info.get(self.client_id_key) if self.client_id_key else None
            out.append(WalletTransfer(str(row["id"]) if row.get("id") is not None else None,
                                      row.get("currency") or currency, amount, at, str(cid) if cid else None))
        return out


@dataclass(frozen=True)
class WalletTransfers:
    """How the margin top-up moves stablecoin spot -> futures through ccxt 4.5.90's transfer(currency,
    amount, source, target, params) (a transfer, never a trade), and how a timed-out one is settled.

    `source`/`target` are ccxt's account names (options.accountsByType): Binance spot -> swap = universal
    transfer MAIN_UMFUTURE; Bybit funding -> unified (FUND -> UNIFIED); OKX funding -> trading (6 -> 18);
    BingX spot -> swap (spot -> USDTMPerp); MEXC spot -> swap (SPOT -> FUTURES). `client_id_param` is
    where the venue takes our id (Bybit transferId, a UUID, unique per account; OKX clientId, <= 32
    alphanumerics), None where it takes none. `history` settles a timeout; None: the venue has no history
    ccxt reads, and a timed-out transfer stays unknown."""

    source: str
    target: str
    history: TransferHistory | None = None
    client_id_param: str | None = None
    client_id_uuid: bool = False

    def client_id(self, hex32: str) -> str:
        """Our transfer id from 32 hex digits (a UUID's hex), in the form the venue takes."""
        if not self.client_id_uuid:
            return hex32
        return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:32]}"

    def params(self, client_id: str) -> dict[str, Any]:
        return {self.client_id_param: client_id} if self.client_id_param else {}


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class ExchangeSpec:
    """Everything the config layer and the venue know about one exchange (ccxt id `exchange`)."""

    exchange: str
    # mode -> the steps (STEPS) that reach it from a freshly built client; live = ().
    modes: Mapping[str, tuple[str, ...]]
    mode_hints: Mapping[str, str]  # why a mode is unavailable and what to use instead
    client_id_max: int
    client_id_pattern: str  # characters the exchange accepts in a client order id
    account: AccountFields
    setup: MarginSetup
    lookup: OrderLookup
    fee_reader: FeeReader
    funding_reader: FundingReader
    has_spot: bool = True
    no_spot_modes: frozenset[str] = frozenset()  # modes whose markets have no spot (BingX VST: swaps only)
    needs_password: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)  # lean ccxt options
    has_overrides: Mapping[str, Any] = field(default_factory=dict)  # where ccxt ignores its own option
    # ccxt picks Binance's spot/linear error maps by production host; the local exchange needs the path.
    path_error_maps: bool = False
    futures_balance_params: Mapping[str, Any] = field(default_factory=dict)
    account_check: AccountCheck | None = None
    # Positions: "symbols" = fetch_positions(symbols) in one read; "settle_coin" = one read of every
    # position settled in the quote (fetch_positions(None, {"settleCoin": quote})), filtered here
    # (Bybit refuses more than one symbol per call).
    position_read: str = "symbols"
    # Open orders of every symbol in one read with these params, or None: one read per symbol.
    open_orders_all_params: Mapping[str, Any] | None = None
    # Where the mark price comes from: "funding" = fetch_funding_rates carries it; "mark_prices" = a
    # fetch_mark_prices(symbols) beside it in the same snapshot (OKX funding has no mark); "tickers" =
    # fetch_tickers(symbols) beside it, the mark read from the raw ticker's `mark_info_key` (MEXC
    # fairPrice: ccxt's mexc has no fetch_mark_prices and leaves the funding rate's markPrice None).
    mark_source: str = "funding"
    mark_info_key: str | None = None
    funding_rates: FundingRatesReader = field(default_factory=BatchFundingRates)
    # The venue's sizes are base units although ccxt reports a contractSize (WEEX: contractSize =
    # contractVal, yet the position's size and the order's quantity are base units, sent unchanged):
    # Market.contract_size is 1 and positions are contracts as reported, never x contractSize.
    sizes_in_base_units: bool = False
    # ccxt's nonce ignores options['timeDifference'] (BingX): the venue signs with the offset applied.
    nonce_ignores_offset: bool = False
    # Why this exchange cannot be traded safely yet, or None: prepare() and place() raise a FatalError
    # saying so, while connect, snapshot (status, plan) and lookups work read-only.
    trading_refused: str | None = None
    # The venue's codes for "timestamp outside the window" that ccxt maps to something other than
    # InvalidNonce (BingX 100421 -> BadSymbol, MEXC 513 -> BadRequest, WEEX -1046 -> BadRequest): the
    # venue treats them as clock skew (resync, retry) instead of a fatal or rejected request.
    timestamp_codes: frozenset[str] = frozenset()
    # The venue's own side codes in an order's or a trade's raw info, where ccxt's unified side is wrong:
    # MEXC contracts count 1 open long, 2 close short, 3 open short, 4 close long, and ccxt 4.5.90 maps
    # "2" to sell and passes "3"/"4" through.
    raw_sides: Mapping[str, str] | None = None
    # How protective stops are placed, listed and cancelled (None: not known for this venue).
    stops: StopOrders | None = None
    # How the margin top-up moves stablecoin spot -> futures (None: not supported; WEEX: ccxt has no transfer).
    transfers: WalletTransfers | None = None
    # How a limit IOC order is asked for: ccxt's order type and extra params. MEXC contracts encode the
    # execution in the type (3 = IOC) and ccxt 4.5.90 ignores timeInForce there (a GTC limit would rest).
    ioc_order: tuple[Any, Mapping[str, Any]] = ("limit", {"timeInForce": "IOC"})
    # The create reply's status is final ("RESULT" on Binance); else the order is looked up once,
    # right after create_order, so it is not journaled UNKNOWN (Bybit, OKX reply with ids only).
    create_reply_final: bool = True
    # Keys of a trade's raw info that carry the client order id (Binance's trade list has none).
    trade_client_id_keys: tuple[str, ...] = ()
    # Leverage tiers: "batch" = fetch_leverage_tiers(symbols); "per_symbol" =
    # fetch_market_leverage_tiers(symbol), concurrently; "none". ccxt's `has` must agree.
    leverage_tiers: str = "per_symbol"
    # ccxt option caching the brackets for fetch_positions / fetch_leverages (Binance leverageBrackets).
    bracket_cache_option: str | None = None
    # "intervals" = fetch_funding_intervals beside the rates (lists only symbols off
    # funding_interval_default_hours); "rates" = the unified `interval` of fetch_funding_rates.
    funding_interval_source: str = "rates"
    funding_interval_default_hours: Decimal | None = None
    reduce_only_min_cost_exempt: bool = False  # Binance -4164 "... unless reduce only"
    # How connect reads the symbols' leverage settings, sparing prepare() where already as configured
    # (Binance fetch_leverages, OKX leverage-info, Bybit position/list per symbol); None: not read.
    settings_reader: SettingsReader | None = None
    # The venue's own position limit at the leverage, where its tiers carry no max leverage (BingX):
    # read at connect and again after prepare() set the leverage.
    position_caps: PositionCapReader | None = None
    # Where a market order's own maximum quantity (contracts) sits in ccxt's raw market info when
    # ccxt does not unify it (Binance: ccxt's limits['market']): Bybit lotSizeFilter.maxMktOrderQty,
    # OKX maxMktSz. Larger market orders are cut into slices.
    market_max_info: tuple[str, ...] | None = None
    # The venue's leverage tiers bound the position size in contracts (OKX position-tiers minSz /
    # maxSz; ccxt passes them as min/maxNotional): converted to notional at each snapshot's mark.
    tiers_in_contracts: bool = False

    def valid_client_id(self, cid: str) -> bool:
        return len(cid) <= self.client_id_max and re.fullmatch(self.client_id_pattern, cid) is not None

    @property
    def mode_names(self) -> frozenset[str]:
        return frozenset(self.modes)

    def mode_problem(self, mode: str) -> str | None:
        """None when `mode` is available, else why not and what to use instead."""
        if mode in self.modes:
            return None
        return self.mode_hints.get(mode) or f"use one of {', '.join(sorted(self.modes))}"

    def ccxt_options(self) -> dict[str, Any]:
        """A fresh copy (ccxt mutates its options)."""
        return {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in self.options.items()}


_BINANCE_OPTIONS = {
    "fetchMarkets": {"types": ["spot", "linear"]},
    "fetchCurrencies": False,  # else a signed sapi call that demo keys cannot make
    "fetchMargins": False,
    # ccxt would sync the clock inside fetch_markets, after the markets (a round trip in series);
    # CcxtVenue.connect reads the offset beside the markets instead, and resyncs on a timer.
    "adjustForTimeDifference": False,
    "fetchOpenOrders": {"warnWithoutSymbol": False},
}
_BINANCE_TESTNET_HINT = (
    'use "demo": ccxt no longer supports the Binance futures testnet, demo trading (demo.binance.com) replaced it'
)


def _binance(exchange: str, *, has_spot: bool, options: Mapping[str, Any]) -> ExchangeSpec:
    return ExchangeSpec(
        exchange=exchange,
        stops=StopOrders(params={"workingType": "MARK_PRICE"}),
        transfers=WalletTransfers("spot", "swap", history=IncomeTransfers()),
        modes={"live": (), "demo": ("demo_trading",), "local": ("local",)},
        mode_hints={"testnet": _BINANCE_TESTNET_HINT},
        client_id_max=36,
        client_id_pattern=r"[.A-Z:/a-z0-9_-]+",
        account=AccountFields(path=(), equity="totalMarginBalance", wallet="totalWalletBalance",
                              initial_margin="totalInitialMargin", maintenance_margin="totalMaintMargin",
                              available="availableBalance"),
        setup=MarginThenLeverage(margin_already_set=frozenset({"-4046"})),
        lookup=FetchOrderByClientId("origClientOrderId"),
        fee_reader=IncomeLedgerFees(),
        funding_reader=FundingHistoryPayments(),
        has_spot=has_spot,
        options=options,
        path_error_maps=True,
        futures_balance_params={"type": "future"},
        account_check=PositionModeCheck(per_symbol=True),
        open_orders_all_params={"type": "future"},
        trade_client_id_keys=("clientOrderId", "origClientOrderId"),
        leverage_tiers="batch",
        bracket_cache_option="leverageBrackets",
        funding_interval_source="intervals",
        funding_interval_default_hours=Decimal(8),
        reduce_only_min_cost_exempt=True,
        settings_reader=FetchLeveragesSettings(),
    )


EXCHANGES: Mapping[str, ExchangeSpec] = {
    "binance": _binance("binance", has_spot=True, options=_BINANCE_OPTIONS),
    "binanceusdm": _binance("binanceusdm", has_spot=False,
                            options={k: v for k, v in _BINANCE_OPTIONS.items() if k != "fetchMarkets"}),
    "bybit": ExchangeSpec(
        exchange="bybit",
        stops=StopOrders(params={"triggerBy": "MarkPrice"}, cancel_params={},
                         side_params={"buy": {"triggerDirection": "ascending"},
                                      "sell": {"triggerDirection": "descending"}}),
        transfers=WalletTransfers("funding", "unified", client_id_param="transferId", client_id_uuid=True,
                                  history=FetchTransfersHistory(to_info=("toAccountType", "UNIFIED"),
                                                                client_id_key="transferId")),
        modes={"live": (), "demo": ("demo_trading",), "testnet": ("sandbox",), "local": ("local",)},
        mode_hints={},
        client_id_max=36,
        client_id_pattern=r"[A-Za-z0-9_-]+",
        # Unified account: the account's totals (GET /v5/account/wallet-balance accountType=UNIFIED).
        # totalMarginBalance is the collateral value with uPnL that margin is measured against;
        # totalEquity would also count coins that are not collateral.
        account=AccountFields(path=("result", "list", 0), equity="totalMarginBalance", wallet="totalWalletBalance",
                              initial_margin="totalInitialMargin", maintenance_margin="totalMaintenanceMargin",
                              available="totalAvailableBalance"),
        setup=MarginThenLeverage(leverage_already_set=frozenset({"110043"}), margin_per_symbol=False),
        lookup=OpenOrHistoryByClientId(),
        fee_reader=TradeFees(all_params={"category": "linear"}),
        funding_reader=FundingHistoryPayments(per_symbol=True, paid_positive=True),
        options={
            "fetchMarkets": {"types": ["spot", "linear"]},
            "fetchCurrencies": False,
            "adjustForTimeDifference": False,  # connect reads the offset beside the markets
            # Unified trading account (checked at connect by UnifiedAccountCheck): spares ccxt's signed
            # /v5/user/query-api + /v5/account/info detection before the first private call.
            "enableUnifiedAccount": True,
            "enableUnifiedMargin": False,
        },
        has_overrides={"fetchCurrencies": False},  # bybit ignores the option: a signed coin-info call
        account_check=UnifiedAccountCheck(),
        position_read="settle_coin",
        open_orders_all_params={},  # linear + settleCoin USDT by ccxt's defaults: one read
        create_reply_final=False,
        trade_client_id_keys=("orderLinkId",),
        # fetch_leverage_tiers(symbols) pages through the risk limits of symbols[0] only: one per call.
        leverage_tiers="per_symbol",
        market_max_info=("lotSizeFilter", "maxMktOrderQty"),
        settings_reader=PositionLeverageSettings(),
    ),
    "okx": ExchangeSpec(
        exchange="okx",
        stops=StopOrders(),
        transfers=WalletTransfers("funding", "trading", client_id_param="clientId", history=BillsTransfers()),
        # OKX demo trading is ccxt's sandbox (same host, header x-simulated-trading: 1); the local
        # exchange is reached the same way, so its paths and headers are the demo ones.
        modes={"live": (), "demo": ("sandbox",), "local": ("sandbox", "local")},
        mode_hints={"testnet": 'use "demo": OKX demo trading is its testnet (ccxt sandbox mode, demo-trading API keys)'},
        client_id_max=32,
        client_id_pattern=r"[A-Za-z0-9]+",
        # GET /api/v5/account/balance data[0]: adjEq is the account's adjusted (collateral) equity, imr /
        # mmr its margins; totalEq (all coins, USD) stands in for the wallet, which OKX does not total.
        account=AccountFields(path=("data", 0), equity="adjEq", wallet="totalEq", initial_margin="imr",
                              maintenance_margin="mmr", available=None),
        setup=MarginWithLever(),
        lookup=FetchOrderByClientId("clOrdId"),
        fee_reader=TradeFees(all_params={"instType": "SWAP"}),
        funding_reader=BillsFundingPayments(),
        needs_password=True,
        options={"fetchMarkets": {"types": ["spot", "swap"]}, "fetchCurrencies": False,
                 "adjustForTimeDifference": False},  # connect reads the offset beside the markets
        account_check=PositionModeCheck(per_symbol=False, key="posMode", one_way="net_mode"),
        open_orders_all_params={},
        mark_source="mark_prices",
        create_reply_final=False,
        trade_client_id_keys=("clOrdId",),
        leverage_tiers="per_symbol",  # has['fetchLeverageTiers'] is False: /public/position-tiers per symbol
        tiers_in_contracts=True,
        settings_reader=LeverageInfoSettings(),
        market_max_info=("maxMktSz",),
    ),
    "bingx": ExchangeSpec(
        exchange="bingx",
        stops=StopOrders(list_params=None, cancel_params={},
                         stop_types=frozenset({"TRIGGER_MARKET", "STOP_MARKET"})),
        transfers=WalletTransfers("spot", "swap", history=FetchTransfersHistory(
            params={"fromAccount": "spot", "toAccount": "swap"})),
        # BingX VST (ccxt sandbox: open-api-vst) is its demo; it lists swap markets only.
        modes={"live": (), "demo": ("sandbox",), "local": ("local",)},
        mode_hints={"testnet": 'use "demo": BingX\'s VST demo (ccxt sandbox mode) is its testnet; it has '
                               'swap markets only, so spot comes from another venue'},
        no_spot_modes=frozenset({"demo"}),
        client_id_max=40,  # clientOrderID (ccxt maps clientOrderId to it for swaps): 1-40 characters
        client_id_pattern=r"[A-Za-z0-9_-]+",
        # GET /openApi/swap/v3/user/balance data: one row per asset; no maintenance margin in it.
        account=AccountFields(path=("data",), row_key="asset", equity="equity", wallet="balance",
                              initial_margin="usedMargin", maintenance_margin=None,
                              available="availableMargin"),
        # set_leverage raises ArgumentsRequired without side; BOTH is the one-way position's side.
        setup=MarginThenLeverage(leverage_params={"side": "BOTH"}, margin_already_set=frozenset({"109400"}),
                                 leverage_already_set=frozenset({"109400"}), already_set_text="not modified"),
        lookup=EndpointByClientId("swapV2PrivateGetTradeOrder", "symbol", "clientOrderId",
                                  confirm=OpenOrHistoryByClientId(param=None)),
        fee_reader=TradeFees(),
        funding_reader=FundingHistoryPayments(per_symbol=True),
        options={"fetchCurrencies": False, "adjustForTimeDifference": False},
        futures_balance_params={"type": "swap"},  # else the spot wallet
        open_orders_all_params={"type": "swap"},  # one read for every symbol (else spot by default)
        settings_reader=PerSymbolLeverageSettings(),  # at connect: symbols already as configured need no setting
        has_overrides={"fetchCurrencies": False},
        account_check=PositionModeCheck(per_symbol=True),  # /swap/v1/positionSide/dual
        create_reply_final=False,
        trade_client_id_keys=("clientOrderID", "clientOrderId"),
        leverage_tiers="per_symbol",
        nonce_ignores_offset=True,  # resync_clock would have no effect on its signatures
        timestamp_codes=frozenset({"100421"}),  # "Null timestamp or timestamp mismatch"; ccxt: BadSymbol
        position_caps=LeverageEndpointCaps(),  # its tiers (maintMarginRatio) carry no max leverage
    ),
    "mexc": ExchangeSpec(
        exchange="mexc",
        stops=StopOrders(params={"trend": 2}, side_params={"buy": {"triggerType": 1}, "sell": {"triggerType": 2}}),
        transfers=WalletTransfers("spot", "swap", history=FetchTransfersHistory(
            params={"fromAccountType": "SPOT", "toAccountType": "FUTURES"})),
        modes={"live": (), "local": ("local",)},
        mode_hints={"demo": "MEXC has no demo or testnet that ccxt reaches; use \"live\" or \"local\"",
                    "testnet": "MEXC has no demo or testnet that ccxt reaches; use \"live\" or \"local\""},
        client_id_max=32,  # externalOid
        client_id_pattern=r"[A-Za-z0-9_-]+",
        # GET /api/v1/private/account/assets data: one row per currency; no maintenance margin in it.
        account=AccountFields(path=("data",), row_key="currency", equity="equity", wallet="cashBalance",
                              initial_margin="positionMargin", maintenance_margin=None,
                              available="availableBalance"),
        setup=LeveragePerPositionType(),
        lookup=EndpointByClientId("contractPrivateGetOrderExternalSymbolExternalOid", "symbol", "external_oid",
                                  confirm=OpenOrHistoryByClientId(param=None, history="fetch_orders",
                                                                  info_keys=("externalOid",)),
                                  not_found_codes=frozenset({"2040"})),  # "order not exist"
        fee_reader=TradeFees(),
        funding_reader=FundingHistoryPayments(per_symbol=True),
        options={"fetchCurrencies": False, "adjustForTimeDifference": False},
        futures_balance_params={"type": "swap"},  # else the spot wallet
        open_orders_all_params={"type": "swap"},  # one read for every symbol (else spot by default)
        settings_reader=PerSymbolLeverageSettings(),  # at connect: symbols already as configured need no setting
        has_overrides={"fetchCurrencies": False},  # else a signed capital/config/getall at load_markets
        account_check=PositionModeCheck(per_symbol=True),  # positionMode 1 = hedge
        create_reply_final=False,
        trade_client_id_keys=("externalOid",),
        mark_source="tickers",
        mark_info_key="fairPrice",
        funding_rates=PerSymbolFundingRates(),
        leverage_tiers="per_symbol",
        tiers_in_contracts=True,  # ccxt passes the risk limits' vol (contracts) as min/maxNotional
        timestamp_codes=frozenset({"513"}),  # "request time more or less than 10s"; ccxt: BadRequest
        raw_sides={"1": "buy", "2": "buy", "3": "sell", "4": "sell"},
        ioc_order=(3, {}),
    ),
    "weex": ExchangeSpec(
        exchange="weex",
        stops=StopOrders(params={"workingType": "MARK_PRICE"}),
        # ccxt's sandbox keeps the live hosts and swaps the private contract paths to capi/v3/sim/.
        modes={"live": (), "demo": ("sandbox",), "local": ("local",)},
        mode_hints={"testnet": 'use "demo": WEEX demo trading is ccxt\'s sandbox mode (same host, sim paths)'},
        needs_password=True,  # WEEX API keys carry a passphrase (ccxt requiredCredentials)
        client_id_max=36,  # newClientOrderId
        client_id_pattern=r"[A-Za-z0-9_-]+",
        # The contract balance is one row per asset with balance (the wallet), availableBalance, frozen
        # (open orders' margin) and unrealizePnl: equity = balance + unrealizePnl, initial margin =
        # equity - availableBalance; no maintenance figure and no tiers (the gate uses default_mmr and
        # says so; every position's own liquidatePrice is still checked against the distance).
        account=AccountFields(path=(), row_key="asset", equity="balance", unrealized="unrealizePnl",
                              wallet="balance", initial_margin=None, initial_margin_from_available=True,
                              maintenance_margin=None, maintenance_optional=True, available="availableBalance"),
        setup=MarginThenLeverage(leverage_margin_param="marginMode", margin_already_set=frozenset({"-1142"}),
                                 leverage_already_set=frozenset({"-1142"}), already_set_text="not modified"),
        # fetch_order needs an order id for contracts: open orders + history, filtered here.
        lookup=OpenOrHistoryByClientId(param=None),
        fee_reader=TradeFees(),
        funding_reader=FundingHistoryPayments(per_symbol=True),
        options={"fetchCurrencies": False, "adjustForTimeDifference": False},
        futures_balance_params={"type": "swap"},  # else the spot wallet
        open_orders_all_params={"type": "swap"},  # one read for every symbol (else spot by default)
        settings_reader=FetchLeveragesSettings(),  # at connect: symbols already as configured need no setting
        has_overrides={"fetchCurrencies": False},
        account_check=PositionModeCheck(every_symbol=True),  # symbolConfig separatedType SEPARATED = hedged
        create_reply_final=False,
        trade_client_id_keys=("clientOrderId", "newClientOrderId"),
        leverage_tiers="none",  # has['fetchLeverageTiers'] and ['fetchMarketLeverageTiers'] are False
        sizes_in_base_units=True,
        market_max_info=("marketOpenLimitSize",),  # beside maxOrderSize (ccxt's amount max)
        timestamp_codes=frozenset({"-1046"}),  # ccxt: BadRequest
    ),
}
SUPPORTED_EXCHANGES = tuple(EXCHANGES)

# Client order ids are built from this alphabet so one id is valid on every exchange above.
CLIENT_ID_SAFE_MAX = min(s.client_id_max for s in EXCHANGES.values())


def spec(exchange: str) -> ExchangeSpec:
    try:
        return EXCHANGES[exchange]
    except KeyError:
        raise ValueError(
            f"exchange {exchange!r} is not supported; choose one of {', '.join(sorted(EXCHANGES))}"
        ) from None

