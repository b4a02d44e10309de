"""The ccxt adapter: builds clients per mode, reads one cycle's snapshot concurrently, places orders.

This package is the only ccxt importer; everything it returns is a typed domain record.
"""

from __future__ import annotations

import asyncio
import time
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Awaitable, Callable, Iterable, Mapping, Protocol

import ccxt
import ccxt.async_support as ccxt_async
import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_exponential, wait_random

from ..domain import (
    ZERO,
    D,
    Funding,
    HedgeAccount,
    Holding,
    Market,
    OpenOrder,
    OrderResult,
    OrderState,
    PlannedOrder,
    Position,
    Quote,
    Snapshot,
    Tier,
    tiers_with_cum,
)
from .errors import (
    ClockSkewError,
    FatalError,
    RateLimitedError,
    TransientError,
    VenueError,
    Where,
    translate,
)
from .exchanges import ExchangeSpec, FundingPayment, WalletTransfer, WalletTransfers, dig, spec as exchange_spec
from .local import apply_steps, local_class
from ..core.margin import maintenance as tiered_maintenance
from ..core.protection import RestingStop
from ..logs import add_secret

TIME_RESYNC_S = 600.0  # ccxt only syncs the clock inside load_markets: refresh it on a timer too
TIERS_MAX_AGE_S = 3600.0  # leverage tiers are read at connect and again when older than this
# The last tier's cap at or above this is "no cap" (the local exchange's 1,000,000,000 for an
# open-ended bracket, Long.MAX-style sentinels): reported as cap None, the open-ended last tier.
OPEN_ENDED_NOTIONAL = Decimal(1_000_000_000)

log = structlog.get_logger("rebalancer.venues")

# Retry-After lives in the response headers. ccxt keeps them in one `last_response_headers` attribute
# per client, which concurrent requests on the same client overwrite before the error reaches us (the
# aiohttp response's `async with` exit yields to the loop between storing the headers and raising), so
# a 429 could be read with another response's headers. Instead each ccxt error raised for an HTTP
# response carries that response's own headers (`response_headers`).
_RESPONSE_HEADERS: ContextVar[Mapping[str, Any] | None] = ContextVar("rebalancer_response_headers", default=None)


def track_response_headers(client: Any) -> Any:
    """Attach the response's headers to every error ccxt raises for it. ccxt calls handle_errors (which
    gets the headers) and then handle_http_status_code (which does not) in one synchronous step of the
    same task, so a context variable carries the headers from the first hook to the second."""
    if getattr(client, "_rb_tracks_headers", False) or not hasattr(client, "handle_errors"):
        return client
    handle_errors, handle_status = client.handle_errors, client.handle_http_status_code

    def handle_errors_with_headers(code: Any, reason: Any, url: Any, method: Any, headers: Any, *rest: Any) -> Any:
        _RESPONSE_HEADERS.set(headers)
        try:
            return handle_errors(code, reason, url, method, headers, *rest)
        except ccxt.BaseError as exc:
            exc.response_headers = headers  # type: ignore[attr-defined]
            raise

    def handle_status_with_headers(*args: Any) -> Any:
        try:
            return handle_status(*args)
        except ccxt.BaseError as exc:
            exc.response_headers = _RESPONSE_HEADERS.get()  # type: ignore[attr-defined]
            raise

    client.handle_errors = handle_errors_with_headers
    client.handle_http_status_code = handle_status_with_headers
    client._rb_tracks_headers = True
    return client


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _local_ms(client: Any, ms: Any) -> Any:
    """An exchange timestamp (ms) on this machine's clock: ccxt measures options['timeDifference'] =
    local - server at connect and at every resync, so a price is aged against the same clock the
    gate uses and a skewed exchange clock cannot make an old price look fresh (or a new one stale)."""
    offset = (getattr(client, "options", None) or {}).get("timeDifference")
    if ms in (None, 0, "") or not offset:
        return ms
    return int(ms) + int(offset)


def _ms_to_dt(ms: Any, fallback: datetime) -> datetime:
    if ms in (None, 0, ""):
        return fallback
    return datetime.fromtimestamp(int(ms) / 1000, tz=timezone.utc)


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return D(value)


def _positive(value: Any) -> Decimal | None:
    """A limit that exists: None for absent, zero or negative (Binance sends 0 for "no limit")."""
    number = _dec(value)
    return number if number is not None and number > 0 else None


def _plain(value: Decimal) -> str:
    return format(value, "f")


def parse_tiers(raw: Iterable[Mapping[str, Any]]) -> tuple[Tier, ...]:
    """ccxt leverage tiers -> Tier records sorted by floor: floor = minNotional, cap = maxNotional
    (the last tier's cap None when absent or >= OPEN_ENDED_NOTIONAL), mmr = maintenanceMarginRate,
    max_leverage = maxLeverage, cum = the venue's own (Binance: info['cum']) when every tier has
    one, else from continuity (tiers_with_cum). A tier without its floor or mmr makes the table
    unusable: ()."""
    tiers: list[Tier] = []
    cum_given = True
    for entry in raw:
        floor, mmr = _dec(entry.get("minNotional")), _dec(entry.get("maintenanceMarginRate"))
        if floor is None or mmr is None:
            return ()
        info = entry.get("info")
        cum = _dec(info.get("cum")) if isinstance(info, Mapping) else None
        cum_given = cum_given and cum is not None
        tiers.append(Tier(floor, _positive(entry.get("maxNotional")), mmr, cum if cum is not None else ZERO,
                          _positive(entry.get("maxLeverage"))))
    tiers.sort(key=lambda t: t.floor)
    if tiers and (tiers[-1].cap is None or tiers[-1].cap >= OPEN_ENDED_NOTIONAL):
        tiers[-1] = replace(tiers[-1], cap=None)
    if cum_given:
        return tuple(tiers)
    return tiers_with_cum(replace(t, cum=ZERO) for t in tiers)


@dataclass(frozen=True)
class VenueConfig:
    """What the adapter needs to build one ccxt client (settings stay out of this layer)."""

    name: str
    exchange: str
    mode: str
    base_url: str | None = None
    api_key: str | None = None
    api_secret: str | None = None
    password: str | None = None
    timeout_ms: int = 10000
    leverage: int = 3
    margin_mode: str = "cross"
    spot_wallet_types: tuple[str, ...] = ("spot",)

    @property
    def spec(self) -> ExchangeSpec:
        return exchange_spec(self.exchange)


class Venue(Protocol):
    """What the executor and the commands need from an exchange; CcxtVenue is the real one."""

    async def connect(self, *, overlap: bool = False) -> None: ...
    async def snapshot(self) -> Snapshot: ...
    async def prepare(self, symbols: Iterable[str]) -> None: ...
    async def place(self, order: PlannedOrder, client_order_id: str, order_type: str,
                    limit_price: Decimal | None, *, settle: bool = True) -> OrderResult: ...
    async def fees(self, fills: Iterable[tuple[str, str, Decimal]], since: datetime) -> dict[str, tuple[Decimal, str | None]]: ...
    async def funding_payments(self, since: datetime) -> list[FundingPayment]: ...
    async def lookup(self, symbol: str, client_order_id: str) -> OrderResult | None: ...
    async def fills_since(self, symbol: str, since: datetime) -> list[Fill]: ...
    async def positions(self) -> dict[str, Position]: ...
    async def open_orders(self, symbols: Iterable[str]) -> list[OpenOrder]: ...
    async def resync_clock(self) -> None: ...
    async def close(self) -> None: ...


def build_client(cfg: VenueConfig, *, session: Any = None) -> Any:
    """A ccxt async client for one venue in its mode; the only place that knows how modes are reached
    (the steps are the spec's data: demo trading, sandbox, the local exchange's base URL)."""
    spec = cfg.spec
    steps = spec.modes.get(cfg.mode)
    if steps is None:
        raise FatalError(f"venues.{cfg.name}.mode: {cfg.mode!r} is not available for {cfg.exchange}")
    local = "local" in steps
    if local and not cfg.base_url:
        raise FatalError(f"venues.{cfg.name}.base_url: required with mode = \"local\"")
    for secret in (cfg.api_key, cfg.api_secret, cfg.password):
        add_secret(secret)  # redacted wherever they might surface, whoever configured logging
    config: dict[str, Any] = {"timeout": cfg.timeout_ms, "options": spec.ccxt_options()}
    if local:
        # The local exchange has no weight limits (429s are injected faults); ccxt's throttler would
        # otherwise wait up to 1 s before some account calls.
        config["enableRateLimit"] = False
    if cfg.api_key:
        config["apiKey"] = cfg.api_key
    if cfg.api_secret:
        config["secret"] = cfg.api_secret
    if cfg.password:
        config["password"] = cfg.password
    if session is not None:
        config["session"] = session  # through the config, so close() never closes a shared session
    cls = local_class(cfg.exchange) if local else getattr(ccxt_async, cfg.exchange)
    client = apply_steps(cls(config), spec, steps, cfg.base_url)
    if spec.nonce_ignores_offset:
        _offset_nonce(client)
    return client


def _offset_nonce(client: Any) -> None:
    """BingX signs with nonce() = milliseconds(), ignoring the measured offset, so resync_clock would
    change nothing: sign with the exchange's time (our clock - timeDifference), as Binance's nonce does."""
    def nonce() -> int:
        return client.milliseconds() - int(client.options.get("timeDifference") or 0)

    client.nonce = nonce


class CcxtVenue:
    """One hedge venue (and a spot venue, possibly the same account) behind the Venue protocol."""

    def __init__(
        self,
        *,
        hedge: VenueConfig,
        spot: VenueConfig,
        quote: str,
        assets: Iterable[str],
        external: Iterable[Holding] = (),
        session: Any = None,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        read_attempts: int = 4,
        max_wait_s: float = 8.0,
        clients: tuple[Any, Any] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        tiers_max_age_s: float = TIERS_MAX_AGE_S,
    ) -> None:
        self.hedge_cfg, self.spot_cfg = hedge, spot
        self.quote = quote
        self.assets = tuple(a for a in assets if a != quote)
        self.external = tuple(external)
        self.clock, self.sleep = clock, sleep
        self.read_attempts, self.max_wait_s = read_attempts, max_wait_s
        self.monotonic, self.tiers_max_age_s = monotonic, tiers_max_age_s  # the tiers' age only
        if spot.mode in spot.spec.no_spot_modes:
            raise FatalError(f"venues.{spot.name}: {spot.exchange} in {spot.mode!r} mode lists no spot markets; "
                             "take spot balances from another venue")
        if clients is not None:
            self.hedge_client, self.spot_client = clients
        else:
            self.hedge_client = build_client(hedge, session=session)
            same = (spot.name == hedge.name)
            self.spot_client = self.hedge_client if same else build_client(spot, session=session)
        for client in {id(c): c for c in (self.hedge_client, self.spot_client)}.values():
            track_response_headers(client)
        self.markets: dict[str, Market] = {}
        self.spot_symbols: dict[str, str] = {}
        # Target assets the spot venue lists no {asset}/{quote} market for (cold coins, valued at mark).
        self.spot_unlisted: frozenset[str] = frozenset()
        # Funding interval (hours) per asset as read in the last snapshot (spec.funding_interval_source).
        self.intervals: dict[str, Decimal] = {}
        self._tiers_read_at: float | None = None  # self.monotonic() of the last complete tier read
        self._tier_warnings: list[str] = []
        self._funding_warnings: list[str] = []
        self._prepared: set[str] = set()
        # Tiers in contracts as the venue gave them (ExchangeSpec.tiers_in_contracts), and the last mark
        # per asset they were converted at.
        self._contract_tiers: dict[str, tuple[Tier, ...]] = {}
        self._marks: dict[str, Decimal] = {}
        self._connect_rest: asyncio.Future[None] | None = None  # connect's account reads, in flight
        self._account_ready = True  # False from connect until its account reads have succeeded
        self._last_resync = 0.0
        self.request_counts: dict[str, int] = {}
        # Called with (call, seconds) after every exchange call; the daemon feeds its latency histogram.
        self.on_request: Callable[[str, float], None] | None = None

    # ------------------------------------------------------------------ plumbing

    async def _read(self, label: str, fn: Callable[..., Awaitable[Any]], *args: Any, client: Any = None) -> Any:
        """A read (or an idempotent setting) with bounded retries on transient errors only; 429s honour
        Retry-After; -1021 resyncs the clock before the next try."""
        client = client or self.hedge_client

        async def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, ClockSkewError):
                await self.resync_clock()

        backoff = wait_exponential(multiplier=0.2, max=self.max_wait_s) + wait_random(0, 0.2)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
                return min(exc.retry_after, self.max_wait_s * 4)
            return backoff(state)

        async def once() -> Any:
            self.request_counts[label] = self.request_counts.get(label, 0) + 1
            started = time.perf_counter()
            try:
                return await fn(*args)
            except Exception as exc:  # translated once, here
                raise translate(exc, write=False, headers=getattr(exc, "response_headers", None),
                                where=self._where(client)) from exc
            finally:
                self._observe(label, time.perf_counter() - started)

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TransientError),
            stop=stop_after_attempt(self.read_attempts),
            wait=wait,
            before_sleep=before_sleep,
            sleep=self.sleep,
            reraise=True,
        )
        return await retrying(once)

    def _where(self, client: Any) -> Where:
        """Which venue's config keys an error message points the operator at."""
        cfg = self.spot_cfg if client is self.spot_client and client is not self.hedge_client else self.hedge_cfg
        return Where(venue=cfg.name, timeout_s=cfg.timeout_ms / 1000, local=cfg.mode == "local",
                     clock_codes=cfg.spec.timestamp_codes)

    def _observe(self, label: str, seconds: float) -> None:
        if self.on_request is not None:
            self.on_request(label, seconds)

    async def resync_clock(self) -> None:
        clients = {id(c): c for c in (self.hedge_client, self.spot_client)}.values()
        for client in clients:
            if hasattr(client, "load_time_difference"):
                try:
                    await client.load_time_difference()
                except Exception as exc:
                    raise translate(exc, write=False, where=self._where(client)) from exc
        self._last_resync = time.monotonic()

    # ------------------------------------------------------------------ lifecycle

    async def connect(self, *, overlap: bool = False) -> None:
        """Load markets once (lean) with the clock offset, map assets to perp and spot markets, then
        read what only the first snapshot and the first order need: the tiers, the account check
        (one-way mode, margin mode) and, where the spec reads them, the symbols' leverage settings,
        all at once. With `overlap` those go out in the background and the first snapshot's reads
        overlap them (snapshot() and prepare() wait for them and raise what they raised), so a cold
        `rebalance --execute` costs markets + snapshot + orders + confirm round trips."""
        await self._settle_connect(cancel=True)
        clients = list({id(c): c for c in (self.hedge_client, self.spot_client)}.values())
        loads: list[Awaitable[Any]] = []
        for client in clients:
            # ccxt syncs the clock inside fetch_markets, after the markets answer (one more round
            # trip): the spec's options turn that off and the offset is read beside the markets.
            loads.append(self._read("load_markets", client.load_markets, client=client))
            if hasattr(client, "load_time_difference"):
                loads.append(self._read("load_time_difference", client.load_time_difference, client=client))
        await _gather_all(loads)
        self._last_resync = time.monotonic()
        self.markets, self.spot_symbols = {}, {}
        for asset in self.assets:
            market = self._perp_market(asset)
            if market is not None:
                self.markets[asset] = market
            spot_symbol = f"{asset}/{self.quote}"
            if spot_symbol in self.spot_client.markets:
                self.spot_symbols[asset] = spot_symbol
        self.spot_unlisted = frozenset(a for a in self.assets if a not in self.spot_symbols)
        self._tiers_read_at, self._tier_warnings = None, []
        key = self.hedge_cfg.spec.bracket_cache_option
        if key is not None and self.hedge_client.options.get(key) is None:
            # An empty bracket cache until the tier read fills it: ccxt would otherwise read the
            # brackets again before the first positions (Binance fetch_positions), a round trip in
            # series with them. Our tiers come from the tier read; ccxt's own mmr is unused.
            self.hedge_client.options[key] = {}
        self._account_ready = False
        self._connect_rest = asyncio.ensure_future(self._connect_account())
        if not overlap:
            await self._settle_connect()

    async def _connect_account(self) -> None:
        """The second half of connect: tiers, account check and leverage settings, all at once."""
        spec, symbols = self.hedge_cfg.spec, [m.symbol for m in self.markets.values()]
        reads: list[Awaitable[Any]] = [self._read_tiers()]
        check = spec.account_check is not None and bool(self.markets)
        if check:
            reads.append(spec.account_check.problem(self._read, self.hedge_client, symbols, self.hedge_cfg.margin_mode))
        # BingX's settings and position-limit reads both want each symbol's fetch_leverage: one request.
        shared = _shared_reads(self._read)
        if spec.settings_reader is not None:
            reads.append(self._read_symbol_settings(shared))
        if spec.position_caps is not None:
            reads.append(self._read_position_caps(symbols, shared))
        if spec.tiers_in_contracts and symbols and self.hedge_client.has.get("fetchMarkPrices"):
            reads.append(self._read_marks(symbols))  # tiers in contracts become notional at the mark
        outcomes = await _gather_all(reads)
        self._apply_tiers(outcomes[0])
        if check and outcomes[1]:
            raise FatalError(f"{self.hedge_cfg.name}: {outcomes[1]}")

    async def _read_marks(self, symbols: list[str]) -> None:
        by_symbol = {m.symbol: a for a, m in self.markets.items()}
        for symbol, t in (await self._read("fetch_mark_prices", self.hedge_client.fetch_mark_prices, symbols) or {}).items():
            price = _dec((t or {}).get("markPrice"))
            if symbol in by_symbol and price:
                self._marks[by_symbol[symbol]] = price

    async def _settle_connect(self, *, cancel: bool = False) -> None:
        """Wait for the background half of connect, or cancel it (a reconnect, close). When it
        failed, the failure is raised and the reads start again at the next snapshot: a refusal
        (hedge mode, a classic account) is checked anew until the account is fixed."""
        task = self._connect_rest
        if cancel:
            self._connect_rest = None
            if task is not None and not task.done():
                task.cancel()
            if task is not None:
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass  # abandoned: a reconnect reads it all again
            return
        if self._account_ready:
            return
        if task is None:
            task = self._connect_rest = asyncio.ensure_future(self._connect_account())
        try:
            await task
        finally:
            self._connect_rest = None
        self._account_ready = True

    async def _read_symbol_settings(self, read: Callable[..., Awaitable[Any]] | None = None) -> None:
        """Read every hedge market's leverage (and margin mode) once, at connect, the spec's way (a read:
        dry runs stay read-only). Symbols already as configured need no set_margin_mode / set_leverage
        before their first order, which would otherwise add a round trip to the first executing cycle.
        Only a shortcut: if the read fails, prepare() sets them as before."""
        symbols = [m.symbol for m in self.markets.values()]
        reader = self.hedge_cfg.spec.settings_reader
        if not symbols or reader is None:
            return
        try:
            self._prepared |= await reader.already_set(read or self._read, self.hedge_client, symbols,
                                                       self.hedge_cfg.margin_mode, self.hedge_cfg.leverage)
        except VenueError:
            pass  # only a shortcut: prepare() sets them

    async def _read_position_caps(self, symbols: list[str], read: Callable[..., Awaitable[Any]] | None = None) -> None:
        """The venue's position limit at the configured leverage (spec.position_caps, BingX) into the
        markets; a symbol whose cap is unknown (another leverage in force, a failed read) gets None."""
        reader = self.hedge_cfg.spec.position_caps
        if reader is None or not symbols:
            return
        caps = await reader.caps(read or self._read, self.hedge_client, symbols, self.hedge_cfg.leverage)
        for asset, market in list(self.markets.items()):
            if market.symbol in symbols:
                self.markets[asset] = replace(market, position_cap=caps.get(market.symbol))
        unknown = [s for s in symbols if caps.get(s) is None]
        if unknown:
            log.warning("position_cap_unknown", venue=self.hedge_cfg.name, symbols=unknown,
                        reason=f"not at leverage {self.hedge_cfg.leverage} yet, or the read failed; read again "
                               "after the leverage is set")

    def _perp_market(self, asset: str) -> Market | None:
        symbol = f"{asset}/{self.quote}:{self.quote}"
        m = self.hedge_client.markets.get(symbol)
        if not m or not m.get("swap") or not m.get("linear") or m.get("active") is False:
            return None
        precision = (m.get("precision") or {}).get("amount")
        step = _dec(precision)
        if step is not None and self.hedge_client.precisionMode == ccxt.DECIMAL_PLACES:
            step = Decimal(1).scaleb(-int(step))
        limits = m.get("limits") or {}
        # A market order's own maximum: ccxt's limits['market'] (Binance), else the raw instrument's
        # field where ccxt does not unify it (spec.market_max_info: Bybit, OKX).
        market_max = _positive((limits.get("market") or {}).get("max"))
        info_path = self.hedge_cfg.spec.market_max_info
        if market_max is None and info_path is not None:
            market_max = _positive(dig(m.get("info"), info_path))
        return Market(
            symbol=symbol,
            base=asset,
            quote=self.quote,
            # WEEX reports contractVal as contractSize while its sizes are base units (spec).
            contract_size=(Decimal(1) if self.hedge_cfg.spec.sizes_in_base_units
                           else _dec(m.get("contractSize")) or Decimal(1)),
            amount_step=step,
            min_amount=_dec((limits.get("amount") or {}).get("min")),
            min_cost=_dec((limits.get("cost") or {}).get("min")),
            # Both in contracts: LOT_SIZE maxQty and, on Binance, MARKET_LOT_SIZE maxQty, which ccxt
            # 4.5.90 puts in the non-standard limits['market'] (binance.parse_market).
            max_amount=_positive((limits.get("amount") or {}).get("max")),
            max_market_amount=market_max,
            reduce_only_min_cost_exempt=self.hedge_cfg.spec.reduce_only_min_cost_exempt,
        )

    # ------------------------------------------------------------------ leverage tiers

    @property
    def warnings(self) -> list[str]:
        """What the venue could not read and what that means, as of the last connect / snapshot:
        markets without tiers (the gate uses default_mmr), tiers kept after a failed refresh,
        funding left out for want of an interval (the FUNDING check denies those)."""
        return [*self._tier_warnings, *self._funding_warnings]

    def _tiers_due(self) -> bool:
        return bool(self.markets) and (
            self._tiers_read_at is None or self.monotonic() - self._tiers_read_at >= self.tiers_max_age_s
        )

    async def _read_tiers(self) -> dict[str, Any]:
        """Raw ccxt leverage tiers by symbol, or the VenueError that symbol's read ended with; a
        symbol missing from the answer has none. Never raises a VenueError: tiers missing is a
        warning and default_mmr, not a failed connect or snapshot."""
        symbols = [m.symbol for m in self.markets.values()]
        if not symbols:
            return {}
        how, has = self.hedge_cfg.spec.leverage_tiers, self.hedge_client.has
        if how == "batch" and has.get("fetchLeverageTiers"):
            try:
                return dict(await self._read("fetch_leverage_tiers", self.hedge_client.fetch_leverage_tiers, symbols)
                            or {})
            except VenueError as exc:
                return {s: exc for s in symbols}
        if how in ("batch", "per_symbol") and has.get("fetchMarketLeverageTiers"):
            replies = await asyncio.gather(
                *(self._read("fetch_market_leverage_tiers", self.hedge_client.fetch_market_leverage_tiers, s)
                  for s in symbols),
                return_exceptions=True,
            )
            out: dict[str, Any] = {}
            for symbol, reply in zip(symbols, replies):
                if isinstance(reply, BaseException) and not isinstance(reply, VenueError):
                    raise reply
                out[symbol] = reply
            return out
        return {}

    def _apply_tiers(self, raw: Mapping[str, Any]) -> None:
        """Put a tier read into the markets. A symbol whose read failed keeps the tiers it had (none
        at connect) and the read is retried at the next snapshot; one the venue gave no usable
        tiers for gets none. Both are warnings naming the symbols."""
        missing: list[str] = []
        failed: dict[str, list[str]] = {}
        for asset, market in list(self.markets.items()):
            reply = raw.get(market.symbol)
            if isinstance(reply, VenueError):
                failed.setdefault(str(reply), []).append(market.symbol)
                continue
            tiers = parse_tiers(reply or ())
            if not tiers:
                missing.append(market.symbol)
            levs = [t.max_leverage for t in tiers if t.max_leverage is not None]
            if self.hedge_cfg.spec.tiers_in_contracts:
                self._contract_tiers[asset] = tiers
                tiers = self._notional_tiers(asset, tiers)
            self.markets[asset] = replace(market, tiers=tiers, max_leverage=max(levs) if levs else None)
        warnings: list[str] = []
        if missing:
            warnings.append(f"tiers_missing: {', '.join(missing)}: {self.hedge_cfg.name} published no leverage "
                            "tiers; the risk gate uses default_mmr for them")
            log.warning("tiers_missing", venue=self.hedge_cfg.name, symbols=missing, reason="none published")
        for reason, symbols in failed.items():
            kept = [s for s in symbols if self._market_by_symbol(s).tiers]
            lost = [s for s in symbols if s not in kept]
            if lost:
                warnings.append(f"tiers_missing: {', '.join(lost)}: the leverage tier read failed ({reason}); "
                                "the risk gate uses default_mmr for them")
                log.warning("tiers_missing", venue=self.hedge_cfg.name, symbols=lost, reason=reason)
            if kept:
                warnings.append(f"tiers_stale: {', '.join(kept)}: the leverage tier refresh failed ({reason}); "
                                "keeping the tiers read before, retrying at the next snapshot")
                log.warning("tiers_stale", venue=self.hedge_cfg.name, symbols=kept, reason=reason)
        self._tier_warnings = warnings
        if not failed:
            self._tiers_read_at = self.monotonic()
        self._seed_bracket_cache()

    def _notional_tiers(self, asset: str, tiers: tuple[Tier, ...]) -> tuple[Tier, ...]:
        """Tiers that bound the position in contracts (OKX) as notional tiers at the asset's last mark:
        floor, cap and cum x contract size x mark (maintenance n x mmr - cum is linear in the size).
        Exact at that mark; the next snapshot moves them with the price. No mark yet: none."""
        mark = self._marks.get(asset)
        market = self.markets.get(asset)
        if mark is None or market is None or not tiers:
            return ()
        k = market.contract_size * mark

        def cap(t: Tier) -> Decimal | None:
            notional = t.cap * k if t.cap is not None else None
            return None if notional is None or notional >= OPEN_ENDED_NOTIONAL else notional

        return tuple(replace(t, floor=t.floor * k, cap=cap(t), cum=t.cum * k) for t in tiers)

    def _rescale_contract_tiers(self) -> None:
        for asset, tiers in self._contract_tiers.items():
            if asset in self.markets:
                self.markets[asset] = replace(self.markets[asset], tiers=self._notional_tiers(asset, tiers))

    def _market_by_symbol(self, symbol: str) -> Market:
        return next(m for m in self.markets.values() if m.symbol == symbol)

    def _seed_bracket_cache(self) -> None:
        """Hand the brackets just read to ccxt's own cache (Binance options['leverageBrackets']), so
        fetch_leverages and the first fetch_positions do not read /fapi/v1/leverageBracket again."""
        key = self.hedge_cfg.spec.bracket_cache_option
        if key is None:
            return
        cache = {m.symbol: [[_plain(t.floor), _plain(t.mmr)] for t in m.tiers] for m in self.markets.values()
                 if m.tiers}
        if cache:
            self.hedge_client.options[key] = cache

    async def close(self) -> None:
        await self._settle_connect(cancel=True)
        clients = {id(c): c for c in (self.hedge_client, self.spot_client)}.values()
        for client in clients:
            await client.close()

    # ------------------------------------------------------------------ reads

    async def snapshot(self) -> Snapshot:
        """Every read of a cycle issued at once: spot balances, futures account, positions,
        spot tickers, mark prices with funding (one premiumIndex call), the funding intervals where
        they are a separate read (Binance fundingInfo), and the leverage tiers when they are older
        than tiers_max_age_s (hourly)."""
        if time.monotonic() - self._last_resync > TIME_RESYNC_S:
            await self.resync_clock()
        spec = self.hedge_cfg.spec
        perp_symbols = [m.symbol for m in self.markets.values()]
        spot_symbols = list(self.spot_symbols.values())
        tasks: dict[str, Awaitable[Any]] = {
            "futures": self._read("fetch_balance_futures", self.hedge_client.fetch_balance,
                                  dict(spec.futures_balance_params)),
        }
        for wallet in self.spot_cfg.spot_wallet_types:
            params = {} if wallet == "spot" else {"type": wallet}
            tasks[f"spot:{wallet}"] = self._read("fetch_balance_spot", self.spot_client.fetch_balance, params,
                                                 client=self.spot_client)
        if perp_symbols:
            tasks["positions"] = self._read_positions(perp_symbols)
            tasks["funding"] = spec.funding_rates.rates(self._read, self.hedge_client, perp_symbols)
            if spec.mark_source == "mark_prices":
                tasks["marks"] = self._read("fetch_mark_prices", self.hedge_client.fetch_mark_prices, perp_symbols)
            elif spec.mark_source == "tickers":
                tasks["marks"] = self._read("fetch_mark_tickers", self.hedge_client.fetch_tickers, perp_symbols)
            if spec.funding_interval_source == "intervals":
                tasks["intervals"] = self._read("fetch_funding_intervals", self.hedge_client.fetch_funding_intervals,
                                                perp_symbols)
        if not self._account_ready:
            tasks["connect"] = self._settle_connect()  # the first snapshot overlaps connect's account reads
        elif self._tiers_due():
            tasks["tiers"] = self._read_tiers()
        if spot_symbols:
            tasks["tickers"] = self._read("fetch_tickers", self.spot_client.fetch_tickers, spot_symbols,
                                          client=self.spot_client)
        results = dict(zip(tasks, await _gather_all(tasks.values())))
        now = self.clock()
        if "tiers" in results:
            self._apply_tiers(results["tiers"])

        holdings: list[Holding] = []
        for key, balance in results.items():
            if key.startswith("spot:"):
                totals = balance.get("total") or {}
                for asset in (*self.assets, self.quote):
                    amount = _dec(totals.get(asset))
                    if amount:
                        holdings.append(Holding(asset, amount, f"{self.spot_cfg.name}:{key[5:]}"))
        holdings.extend(self.external)

        spot_prices: dict[str, Quote] = {}
        for asset, symbol in self.spot_symbols.items():
            t = (results.get("tickers") or {}).get(symbol)
            if not t:
                continue
            bid, ask, last = _dec(t.get("bid")), _dec(t.get("ask")), _dec(t.get("last"))
            price = (bid + ask) / 2 if bid and ask else last
            if price:
                spot_prices[asset] = Quote(price, _ms_to_dt(_local_ms(self.spot_client, t.get("timestamp")), now))

        mark_prices: dict[str, Quote] = {}
        funding: dict[str, Funding] = {}
        by_symbol = {m.symbol: a for a, m in self.markets.items()}
        listed = results.get("intervals") or {}
        intervals: dict[str, Decimal] = {}
        no_interval: list[str] = []
        for symbol, fr in (results.get("funding") or {}).items():
            asset = by_symbol.get(symbol)
            if asset is None:
                continue
            ts = _ms_to_dt(_local_ms(self.hedge_client, fr.get("timestamp")), now)
            if spec.mark_source == "funding" and fr.get("markPrice"):
                mark_prices[asset] = Quote(D(fr["markPrice"]), ts)
            if fr.get("fundingRate") is None:
                continue
            if spec.funding_interval_source == "intervals":
                # fundingInfo lists only the symbols off the venue's documented default
                hours = (_interval_hours((listed.get(symbol) or {}).get("interval")) if symbol in listed
                         else spec.funding_interval_default_hours)
            else:
                hours = _interval_hours(fr.get("interval"))
            if hours is None:
                no_interval.append(symbol)  # missing data is a denial, never a guess
                continue
            intervals[asset] = hours
            funding[asset] = Funding(D(fr["fundingRate"]), hours, ts)
        for symbol, t in (results.get("marks") or {}).items():
            asset = by_symbol.get(symbol)
            mark = _dec(t.get("markPrice"))
            if mark is None and spec.mark_info_key:  # MEXC: the raw ticker's fairPrice
                mark = _dec((t.get("info") or {}).get(spec.mark_info_key))
            if asset is not None and mark:
                mark_prices[asset] = Quote(mark, _ms_to_dt(_local_ms(self.hedge_client, t.get("timestamp")), now))
        self.intervals = intervals
        self._funding_warnings = []
        if no_interval:
            self._funding_warnings.append(
                f"funding_interval_missing: {', '.join(no_interval)}: {self.hedge_cfg.name} gave no funding "
                "interval; their funding is left out and the FUNDING check denies them")
            log.warning("funding_interval_missing", venue=self.hedge_cfg.name, symbols=no_interval)

        positions = self._parse_positions(results.get("positions") or [])
        if self.hedge_cfg.spec.tiers_in_contracts:
            for asset, quote in mark_prices.items():
                self._marks[asset] = quote.price
            self._rescale_contract_tiers()
        return Snapshot(
            taken_at=now,
            quote=self.quote,
            holdings=tuple(holdings),
            positions=positions,
            markets=dict(self.markets),
            spot_prices=spot_prices,
            mark_prices=mark_prices,
            funding=funding,
            account=self._parse_account(results["futures"], positions, mark_prices),
            spot_unlisted=self.spot_unlisted,
        )

    def _parse_account(self, balance: Mapping[str, Any], positions: Mapping[str, Position] | None = None,
                       marks: Mapping[str, Quote] | None = None) -> HedgeAccount | None:
        """The account's own totals, where the spec says they are; a missing figure is None (a denial).
        Where the venue reports no maintenance margin (BingX, MEXC), it is the positions' at the
        snapshot's marks with the venue's own tiers, as the exchange computes it; a position without
        tiers or a mark leaves it unknown (None), never 0 (WEEX, no tiers at all: always unknown)."""
        fields = self.hedge_cfg.spec.account
        derived = None
        if fields.maintenance_margin is None and positions is not None:
            derived = self._tiered_maintenance(positions, marks or {})
        return fields.parse(balance or {}, self.quote, maintenance=derived)

    def _tiered_maintenance(self, positions: Mapping[str, Position], marks: Mapping[str, Quote]) -> Decimal | None:
        total = ZERO
        for asset, position in positions.items():
            market, quote = self.markets.get(asset), marks.get(asset)
            if market is None or not market.tiers or quote is None:
                return None
            total += tiered_maintenance(abs(position.amount) * quote.price, market.tiers, ZERO)
        return total

    def _parse_positions(self, raw: Iterable[Mapping[str, Any]]) -> dict[str, Position]:
        by_symbol = {m.symbol: a for a, m in self.markets.items()}
        positions: dict[str, Position] = {}
        for p in raw:
            asset = by_symbol.get(p.get("symbol"))
            contracts = _dec(p.get("contracts")) or ZERO
            if asset is None or contracts == 0:
                continue
            if p.get("hedged"):
                raise FatalError(
                    f"{self.hedge_cfg.name}: {p.get('symbol')} is held in hedge (dual-side) mode; "
                    "switch the futures account to one-way mode"
                )
            size = contracts * (Decimal(1) if self.hedge_cfg.spec.sizes_in_base_units
                                else _dec(p.get("contractSize")) or Decimal(1))
            sign = -1 if p.get("side") == "short" else 1
            positions[asset] = Position(
                asset=asset,
                symbol=p["symbol"],
                amount=size * sign,
                entry_price=_dec(p.get("entryPrice")),
                liquidation_price=_dec(p.get("liquidationPrice")),
                unrealized_pnl=_dec(p.get("unrealizedPnl")),
            )
        return positions

    # ------------------------------------------------------------------ protective stops (issue 14)

    def _stop_orders(self) -> Any:
        stops = self.hedge_cfg.spec.stops
        if stops is None:
            raise FatalError(f"{self.hedge_cfg.name}: protective stops are not known for {self.hedge_cfg.exchange}")
        return stops

    @property
    def stops_supported(self) -> bool:
        return self.hedge_cfg.spec.stops is not None

    def price_tick(self, symbol: str) -> Decimal | None:
        """The price step of a perp market (ccxt's precision['price'], as a step), None when unknown."""
        m = self.hedge_client.markets.get(symbol) if self.hedge_client.markets else None
        tick = _dec(((m or {}).get("precision") or {}).get("price"))
        if tick is not None and self.hedge_client.precisionMode == ccxt.DECIMAL_PLACES:
            tick = Decimal(1).scaleb(-int(tick))
        return tick if tick is not None and tick > 0 else None

    async def place_stop(self, symbol: str, side: str, amount: Decimal, trigger: Decimal,
                         client_order_id: str) -> str | None:
        """One reduce-only stop-market order, never retried here (a failure is translated for the
        caller to resolve, as for orders); the exchange's id of the stop."""
        self._refuse_if_unsafe()
        params = self._stop_orders().place_params(side, trigger, client_order_id)
        self.request_counts["create_stop"] = self.request_counts.get("create_stop", 0) + 1
        try:
            raw = await self.hedge_client.create_order(symbol, "market", side, float(amount), None, params)
        except Exception as exc:
            raise translate(exc, write=True, headers=getattr(exc, "response_headers", None),
                            where=self._where(self.hedge_client)) from exc
        return str(raw["id"]) if isinstance(raw, Mapping) and raw.get("id") is not None else None

    async def resting_stops(self, symbols: Iterable[str]) -> list[RestingStop]:
        """The stop orders resting on the hedge symbols (ours or not), per symbol, concurrently."""
        stops, client = self._stop_orders(), self.hedge_client
        symbols = list(symbols)
        extra = (dict(stops.list_params),) if stops.list_params is not None else ()
        replies = await asyncio.gather(*(
            self._read("fetch_open_stops", client.fetch_open_orders, s, None, None, *extra) for s in symbols))
        out: list[RestingStop] = []
        for symbol, reply in zip(symbols, replies):
            for raw in reply or ():
                info = raw.get("info") if isinstance(raw.get("info"), Mapping) else {}
                if stops.list_params is None and str(info.get("type")) not in stops.stop_types:
                    continue
                trigger = _dec(raw.get("triggerPrice")) or _dec(raw.get("stopLossPrice")) or _dec(raw.get("stopPrice"))
                if trigger is None:
                    continue
                amount = _dec(raw.get("amount"))
                out.append(RestingStop(symbol=symbol, client_order_id=raw.get("clientOrderId") or None,
                                       order_id=str(raw["id"]) if raw.get("id") is not None else None,
                                       side=unified_side(raw, self.hedge_cfg.spec.raw_sides),
                                       amount=amount if amount else None, trigger=trigger))
        return out

    async def cancel_stop(self, symbol: str, order_id: str) -> None:
        """Cancel one resting stop by the exchange's id; "no such order" is the caller's to read."""
        params = dict(self._stop_orders().cancel_params)
        try:
            await self.hedge_client.cancel_order(order_id, symbol, params)
        except Exception as exc:
            raise translate(exc, write=True, headers=getattr(exc, "response_headers", None),
                            where=self._where(self.hedge_client)) from exc

    async def open_orders(self, symbols: Iterable[str]) -> list[OpenOrder]:
        """The orders resting on the hedge symbols (ours or not): one request for all symbols where
        the spec gives the all-symbol call's params (Binance: weight 40), else one per symbol,
        concurrently."""
        symbols = list(symbols)
        client = self.hedge_client
        if not symbols or not client.has.get("fetchOpenOrders"):
            return []
        params = self.hedge_cfg.spec.open_orders_all_params
        if params is not None:
            raw = await self._read("fetch_open_orders", client.fetch_open_orders, None, None, None, dict(params))
        else:
            replies = await asyncio.gather(*(self._read("fetch_open_orders", client.fetch_open_orders, s)
                                             for s in symbols))
            raw = [o for reply in replies for o in reply]
        wanted = set(symbols)
        return [parse_open_order(o, self.hedge_cfg.spec.raw_sides) for o in raw if o.get("symbol") in wanted]

    async def _read_positions(self, symbols: list[str]) -> list[Mapping[str, Any]]:
        """One read: fetch_positions(symbols), or (Bybit, which refuses more than one symbol per call)
        every position settled in the quote, filtered to `symbols`."""
        client = self.hedge_client
        if self.hedge_cfg.spec.position_read == "settle_coin":
            raw = await self._read("fetch_positions", client.fetch_positions, None, {"settleCoin": self.quote})
            wanted = set(symbols)
            return [p for p in raw or () if p.get("symbol") in wanted]
        return await self._read("fetch_positions", client.fetch_positions, symbols)

    async def positions(self) -> dict[str, Position]:
        symbols = [m.symbol for m in self.markets.values()]
        if not symbols:
            return {}
        return self._parse_positions(await self._read_positions(symbols))

    # ------------------------------------------------------------------ orders

    async def prepare(self, symbols: Iterable[str]) -> None:
        """Set margin mode and leverage once per symbol per process, symbols concurrently, as the
        spec's setup says (Binance two calls, OKX one with `lever`, Bybit unified the leverage only).
        They are idempotent settings, so they retry like reads (a -1021 resyncs the clock, a 429
        waits Retry-After); the venue's "already as wanted" answers (-4046, 110043) are success."""
        self._refuse_if_unsafe()
        await self._settle_connect()  # the leverage settings read at connect say which need nothing
        todo = [s for s in dict.fromkeys(symbols) if s not in self._prepared]
        outcomes = await asyncio.gather(*(self._prepare_symbol(s) for s in todo), return_exceptions=True)
        for outcome in outcomes:  # every call has finished; report the first failure
            if isinstance(outcome, BaseException):
                raise outcome
        if todo and self.hedge_cfg.spec.position_caps is not None:
            await self._read_position_caps(todo)  # the limit at the leverage just set

    def _refuse_if_unsafe(self) -> None:
        """The spec's reason an exchange is not traded yet (WEEX), before any setting or order is sent."""
        reason = self.hedge_cfg.spec.trading_refused
        if reason:
            raise FatalError(f"{self.hedge_cfg.name}: {self.hedge_cfg.exchange} is refused for trading: {reason}; "
                             "status and plan work read-only")

    async def _prepare_symbol(self, symbol: str) -> None:
        cfg = self.hedge_cfg
        await cfg.spec.setup.prepare(self._read, self.hedge_client, symbol, cfg.margin_mode, cfg.leverage)
        self._prepared.add(symbol)

    @property
    def create_reply_final(self) -> bool:
        """Whether create_order's reply carries the order's final state (Binance RESULT) or ids only
        (Bybit, OKX: the state needs a lookup by client id)."""
        return self.hedge_cfg.spec.create_reply_final

    async def place(self, order: PlannedOrder, client_order_id: str, order_type: str,
                    limit_price: Decimal | None, *, settle: bool = True) -> OrderResult:
        """One create_order, never retried here: a failure is translated for the executor to resolve.
        Where the reply carries ids only (Bybit, OKX), the order is looked up by its client id once,
        right after, so its state is known; if that lookup fails, the reply's UNKNOWN stands. With
        `settle` False the reply is returned as it is (UNKNOWN with the exchange's order id: accepted)
        and the caller looks it up later, beside its confirming reads."""
        self._refuse_if_unsafe()
        params: dict[str, Any] = {"clientOrderId": client_order_id}
        if order.reduce_only:
            params["reduceOnly"] = True
        kind: Any = "market"
        price = None
        if order_type == "limit_ioc":
            kind, extra = self.hedge_cfg.spec.ioc_order
            price = float(limit_price) if limit_price is not None else None
            params.update(extra)
        self.request_counts["create_order"] = self.request_counts.get("create_order", 0) + 1
        started = time.perf_counter()
        try:
            raw = await self.hedge_client.create_order(
                order.symbol, kind, order.side.value, float(order.amount), price, params
            )
        except Exception as exc:
            raise translate(exc, write=True, headers=getattr(exc, "response_headers", None),
                            where=self._where(self.hedge_client)) from exc
        finally:
            self._observe("create_order", time.perf_counter() - started)
        result = parse_order(raw, client_order_id, order.amount)
        if self.hedge_cfg.spec.create_reply_final or result.state is not OrderState.UNKNOWN or not settle:
            return result
        try:
            found = await self.hedge_cfg.spec.lookup.find(self._read, self.hedge_client, order.symbol, client_order_id)
        except VenueError as exc:
            log.warning("order_reply_lookup_failed", client_order_id=client_order_id, error=str(exc))
            return result
        if found is None:
            return result
        looked_up = parse_order(found, client_order_id, order.amount)
        if looked_up.exchange_order_id is None:
            looked_up = replace(looked_up, exchange_order_id=result.exchange_order_id)
        return looked_up

    async def fees(self, fills: Iterable[tuple[str, str, Decimal]], since: datetime) -> dict[str, tuple[Decimal, str | None]]:
        """Commission per exchange order id for `fills` = (symbol, exchange order id, filled notional),
        read the spec's way (Binance: the income ledger, one read; Bybit, OKX: the trades per symbol)."""
        fills = list(fills)
        since_ms = int(since.timestamp() * 1000) - 1000
        return await self.hedge_cfg.spec.fee_reader.fees(self._read, self.hedge_client, fills, since_ms)

    async def funding_payments(self, since: datetime) -> list[FundingPayment]:
        """The funding the hedge symbols paid or received from `since` on, oldest first, read the spec's
        way (Binance: the FUNDING_FEE income ledger; Bybit: funding executions per symbol; OKX: bills of
        type 8). Amounts > 0 were received."""
        symbols = [m.symbol for m in self.markets.values()]
        if not symbols:
            return []
        since_ms = int(since.timestamp() * 1000)
        return await self.hedge_cfg.spec.funding_reader.payments(self._read, self.hedge_client, symbols,
                                                                 self.quote, since_ms)

    async def lookup(self, symbol: str, client_order_id: str) -> OrderResult | None:
        """The order with this client id, or None when the exchange says it does not exist (the
        spec's way: Binance origClientOrderId, OKX clOrdId, Bybit orderLinkId in open + history)."""
        raw = await self.hedge_cfg.spec.lookup.find(self._read, self.hedge_client, symbol, client_order_id)
        return parse_order(raw, client_order_id, None) if raw is not None else None

    async def fills_since(self, symbol: str, since: datetime) -> list["Fill"]:
        """The account's fills on `symbol` from `since` on (fetch_my_trades), oldest first: the
        exchange's own record of what executed, the proof an unknown outcome is settled from. The
        window opens early by the measured clock offset plus a margin, so a fill stamped by an
        exchange clock behind ours is not missed (the caller filters by order id, never by time)."""
        offset_ms = int(getattr(self.hedge_client, "options", {}).get("timeDifference", 0) or 0)
        since_ms = int(since.timestamp() * 1000) - abs(offset_ms) - int(FILL_WINDOW_MARGIN_S * 1000)
        raw = await self._read("fetch_my_trades", self.hedge_client.fetch_my_trades, symbol, since_ms)
        fills: list[Fill] = []
        for t in raw or ():
            if not isinstance(t, Mapping) or t.get("order") is None or t.get("amount") is None:
                continue
            info = t.get("info") if isinstance(t.get("info"), Mapping) else {}
            cid = next((info[k] for k in self.hedge_cfg.spec.trade_client_id_keys if info.get(k)), None)
            fills.append(Fill(
                symbol=symbol,
                order_id=str(t["order"]),
                client_order_id=cid or None,
                side=unified_side(t, self.hedge_cfg.spec.raw_sides),
                amount=D(t["amount"]),
                price=_dec(t.get("price")),
                at=_ms_to_dt(t.get("timestamp"), self.clock()),
                trade_id=str(t["id"]) if t.get("id") is not None else None,
                fee=_dec(fee.get("cost")) if isinstance(fee := t.get("fee"), Mapping) else None,
                fee_currency=fee.get("currency") if isinstance(fee, Mapping) else None,
            ))
        return fills

    # ------------------------------------------------------------------ ledger reads (issue 14)

    async def order_side(self, symbol: str, order_id: str) -> str | None:
        """"buy" / "sell" of one order by the exchange's id (fetch_order), for the ledger's fills whose
        rows carry no side (BingX allFillOrders) and whose order the journal does not know; None when
        the exchange does not say. Transient failures raise (the ledger reads the symbol again later)."""
        try:
            raw = await self._read("fetch_order", self.hedge_client.fetch_order, order_id, symbol)
        except TransientError:
            raise
        except VenueError as exc:
            log.warning("order_side_unknown", symbol=symbol, order_id=order_id, error=str(exc))
            return None
        side = unified_side(raw, self.hedge_cfg.spec.raw_sides) if isinstance(raw, Mapping) else ""
        return side or None

    # ---- margin top-up transfers (issue 14)

    def _wallet_transfers(self) -> WalletTransfers:
        reason = self.transfer_refusal
        if reason is not None:
            raise FatalError(reason)
        transfers = self.hedge_cfg.spec.transfers
        assert transfers is not None
        return transfers

    @property
    def transfer_refusal(self) -> str | None:
        """Why stablecoin cannot be moved from spot to the hedge's futures wallet here, or None."""
        cfg = self.hedge_cfg
        if cfg.spec.transfers is None or not (getattr(self.hedge_client, "has", None) or {}).get("transfer"):
            return (f"venues.{cfg.name}: ccxt has no wallet transfer for {cfg.exchange}, so the margin top-up "
                    f"cannot move {self.quote} from spot to futures; move it by hand or turn "
                    "protection.top_up_from_spot off")
        if self.spot_cfg.name != cfg.name:
            return (f"spot balances come from venues.{self.spot_cfg.name} and the hedge is on venues.{cfg.name}: "
                    "a wallet transfer moves money inside one exchange account only")
        return None

    @property
    def transfer_history_known(self) -> bool:
        """Whether a timed-out transfer can be settled from the venue's transfer history."""
        return self.hedge_cfg.spec.transfers is not None and self.hedge_cfg.spec.transfers.history is not None

    def transfer_client_id(self, hex32: str) -> str:
        """Our id of a transfer, from 32 hex digits, in the form the venue takes (Bybit: a UUID)."""
        return self._wallet_transfers().client_id(hex32)

    async def transfer_to_futures(self, currency: str, amount: Decimal, client_id: str) -> str | None:
        """Move `amount` of `currency` from the spot wallet to the futures wallet (ccxt transfer), sending
        `client_id` where the venue takes one. Never retried here: a timeout or a cut answer is an
        UnknownOutcomeError to settle from transfers_since. The exchange's transfer id, or None."""
        transfers = self._wallet_transfers()
        self.request_counts["transfer"] = self.request_counts.get("transfer", 0) + 1
        started = time.perf_counter()
        try:
            raw = await self.hedge_client.transfer(currency, float(amount), transfers.source, transfers.target,
                                                   transfers.params(client_id))
        except Exception as exc:
            raise translate(exc, write=True, headers=getattr(exc, "response_headers", None),
                            where=self._where(self.hedge_client)) from exc
        finally:
            self._observe("transfer", time.perf_counter() - started)
        return str(raw["id"]) if isinstance(raw, Mapping) and raw.get("id") else None

    async def transfers_since(self, currency: str, since: datetime) -> list[WalletTransfer]:
        """The transfers of `currency` into the futures wallet from `since` on, read the spec's way
        (Binance: TRANSFER income; OKX: transfer bills; Bybit, BingX, MEXC: ccxt fetch_transfers). The
        window opens early by the measured clock offset plus a margin. FatalError where the venue has no
        history ccxt reads."""
        transfers = self._wallet_transfers()
        if transfers.history is None:
            raise FatalError(f"venues.{self.hedge_cfg.name}: {self.hedge_cfg.exchange} has no transfer history "
                             "ccxt reads")
        offset_ms = int(getattr(self.hedge_client, "options", {}).get("timeDifference", 0) or 0)
        since_ms = int(since.timestamp() * 1000) - abs(offset_ms) - int(FILL_WINDOW_MARGIN_S * 1000)
        return await transfers.history.into_futures(self._read, self.hedge_client, currency, since_ms)


def _shared_reads(read: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """`read`, sending one request per (call, arguments) for the reads that use it together: a second
    caller of the same read awaits the first one's answer (or failure)."""
    inflight: dict[Any, asyncio.Future[Any]] = {}

    async def shared(label: str, fn: Callable[..., Awaitable[Any]], *args: Any, client: Any = None) -> Any:
        try:
            key = (label, id(client), args)
            hash(key)
        except TypeError:  # unhashable arguments (params dicts): not shared
            return await read(label, fn, *args, client=client)
        if key not in inflight:
            inflight[key] = asyncio.ensure_future(read(label, fn, *args, client=client))
        return await inflight[key]

    return shared


async def _gather_all(reads: Iterable[Awaitable[Any]]) -> list[Any]:
    """Await every read together; once all have finished, raise the first failure."""
    outcomes = await asyncio.gather(*reads, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return list(outcomes)


FILL_WINDOW_MARGIN_S = 10.0  # fills_since opens this much before the send (clock offset, ms rounding)


@dataclass(frozen=True)
class Fill:
    """One fill (trade) of the account, as the exchange's trade history reports it."""

    symbol: str
    order_id: str
    client_order_id: str | None  # Binance's trade list carries none; other venues may
    side: str  # "buy" | "sell"; "" where the venue's fill rows carry no side (BingX allFillOrders)
    amount: Decimal  # contracts, like PlannedOrder.amount
    price: Decimal | None
    at: datetime
    trade_id: str | None = None  # the exchange's id of this fill
    fee: Decimal | None = None  # the commission ccxt parsed for it (None: not reported)
    fee_currency: str | None = None


_STATUS = {"open": OrderState.OPEN, "closed": OrderState.FILLED, "canceled": OrderState.CANCELED,
           "expired": OrderState.EXPIRED, "rejected": OrderState.REJECTED}


def unified_side(raw: Mapping[str, Any], raw_sides: Mapping[str, str] | None = None) -> str:
    """"buy", "sell" or "" (unknown) of a ccxt order or trade; `raw_sides` maps the venue's own codes in
    its info where ccxt's side is wrong (MEXC contracts: 1/2 buy, 3/4 sell)."""
    if raw_sides is not None:
        info = raw.get("info") if isinstance(raw.get("info"), Mapping) else {}
        mapped = raw_sides.get(str(info.get("side")))
        if mapped is not None:
            return mapped
    side = str(raw.get("side") or "").lower()
    return side if side in ("buy", "sell") else ""


def parse_open_order(raw: Mapping[str, Any], raw_sides: Mapping[str, str] | None = None) -> OpenOrder:
    """ccxt open order -> OpenOrder (what is left of it, at its limit price)."""
    remaining = raw.get("remaining") if raw.get("remaining") is not None else raw.get("amount")
    return OpenOrder(
        symbol=str(raw.get("symbol")),
        order_id=str(raw["id"]) if raw.get("id") is not None else None,
        client_order_id=raw.get("clientOrderId") or None,
        side=unified_side(raw, raw_sides) or "?",
        remaining=_dec(remaining),
        price=_dec(raw.get("price")) or None,
    )


def parse_order(raw: Mapping[str, Any], client_order_id: str, amount: Decimal | None) -> OrderResult:
    """ccxt order -> OrderResult; a closed or cancelled order with a partial fill is PARTIALLY_FILLED."""
    filled = _dec(raw.get("filled")) or ZERO
    requested = _dec(raw.get("amount")) or amount
    state = _STATUS.get(str(raw.get("status")), OrderState.UNKNOWN)
    if state in (OrderState.FILLED, OrderState.CANCELED, OrderState.EXPIRED) and filled > 0:
        if requested is not None and filled < requested:
            state = OrderState.PARTIALLY_FILLED
        elif state is not OrderState.FILLED:
            state = OrderState.FILLED
    fee = raw.get("fee") or {}
    return OrderResult(
        client_order_id=raw.get("clientOrderId") or client_order_id,
        state=state,
        exchange_order_id=str(raw["id"]) if raw.get("id") is not None else None,
        filled=filled,
        average=_dec(raw.get("average")),
        fee=_dec(fee.get("cost")),
        fee_currency=fee.get("currency"),
    )


def _interval_hours(value: Any) -> Decimal | None:
    """ccxt's unified funding interval ('8h', '4h', '1h', '30m') in hours; None if absent or unreadable."""
    if not value:
        return None
    text = str(value).strip().lower()
    number, unit = text[:-1], text[-1:]
    if not number.isdigit() or int(number) == 0:
        return None
    if unit == "h":
        return Decimal(number)
    if unit == "m":
        return Decimal(number) / 60
    return None


__all__ = ["CcxtVenue", "Fill", "FundingPayment", "Venue", "VenueConfig", "VenueError", "build_client", "parse_order", "parse_tiers", "utc_now"]
