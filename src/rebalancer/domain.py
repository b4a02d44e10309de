"""Typed, frozen records shared by every layer: snapshot in, plan and verdict out.

Money and quantities are Decimal everywhere past the venue layer; no ccxt dicts leak in here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Iterable, Mapping, TypeVar

T = TypeVar("T")

ZERO = Decimal(0)
ONE = Decimal(1)


def evolve(record: T, **changes: object) -> T:
    """dataclasses.replace for the plain frozen records here (no __post_init__, no slots), about
    5x cheaper: the gate copies thousands of orders per cycle (slices, planned amounts, ids)."""
    if not changes.keys() <= record.__dict__.keys():
        raise TypeError(f"{type(record).__name__} has no field {sorted(changes.keys() - record.__dict__.keys())}")
    new = object.__new__(type(record))
    new.__dict__.update(record.__dict__, **changes)
    return new


def D(value: object) -> Decimal:
    """Convert a number to Decimal without float noise (floats go through str)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


class Side(str, enum.Enum):
    BUY = "buy"
    SELL = "sell"


class TradingState(str, enum.Enum):
    """NautilusTrader's trading states: ACTIVE trades, REDUCING only shrinks, HALTED sends nothing."""

    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"


class CycleKind(enum.StrEnum):
    """What a cycle was run for (journaled in cycles.kind)."""

    REBALANCE = "rebalance"
    UNWIND = "unwind"
    STATUS = "status"  # read-only, never journaled
    DEMO = "demo"
    # The daemon's start when rebalance.run_at_start is false: settle crash leftovers, recognise fired
    # stops, put back missing stops and read the ledger; nothing is planned or traded.
    PROTECT = "protect"


class CycleOutcome(enum.StrEnum):
    """How a cycle ended; the one list the journal, metrics, alerts and tables use."""

    RUNNING = "running"  # journaled at start; a cycle still running after a restart is INTERRUPTED
    DONE = "done"
    PARTIAL = "partial"
    DENIED = "denied"
    NOTHING_TO_DO = "nothing_to_do"
    DRY_RUN = "dry_run"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @property
    def finished(self) -> bool:
        return self is not CycleOutcome.RUNNING


@dataclass(frozen=True)
class TradingStateInfo:
    """The trading state and why, as its one owner (app trading_state) reports it: `reason` in plain
    words ("kill switch file /abs/var/HALT", "config risk.halted", "forced after 5 consecutive
    failures", "liquidation distance", "operator"); empty for ACTIVE."""

    state: "TradingState"
    reason: str = ""
    since: datetime | None = None


class NavBasis(str, enum.Enum):
    SPOT = "spot"
    ACCOUNT = "account"


# --------------------------------------------------------------------------- snapshot


@dataclass(frozen=True)
class Quote:
    """A price with the time it was observed (for the STALE_PRICE check)."""

    price: Decimal
    timestamp: datetime


@dataclass(frozen=True)
class Holding:
    """Spot quantity of one asset in one source (an exchange wallet or a cold wallet)."""

    asset: str
    amount: Decimal
    source: str
    external: bool = False


@dataclass(frozen=True)
class Tier:
    """One maintenance-margin bracket of a market (the exchange's leverage tiers).

    For a position notional `n` with floor <= n < cap: maintenance = n * mmr - cum. `cap` None is
    the open-ended last tier; `max_leverage` is the highest leverage the tier allows (None: unknown).
    """

    floor: Decimal
    cap: Decimal | None
    mmr: Decimal
    cum: Decimal = ZERO
    max_leverage: Decimal | None = None


def tiers_with_cum(tiers: "Iterable[Tier]") -> tuple[Tier, ...]:
    """Sort tiers by floor and fill `cum` from continuity where a venue gives none (DOMAIN.md:
    cum_i = cum_(i-1) + floor_i * (mmr_i - mmr_(i-1))), so maintenance is continuous in notional.
    Tiers whose cum was given keep it."""
    out: list[Tier] = []
    for t in sorted(tiers, key=lambda t: t.floor):
        if out and t.cum == ZERO:
            prev = out[-1]
            t = Tier(t.floor, t.cap, t.mmr, prev.cum + t.floor * (t.mmr - prev.mmr), t.max_leverage)
        out.append(t)
    return tuple(out)


@dataclass(frozen=True)
class Market:
    """The perp market that hedges `base` on the hedge venue, with its trading rules.

    `amount_step`, `min_amount`, `max_amount` and `max_market_amount` are in contracts; one
    contract is `contract_size` base units. `max_market_amount` is the largest market order
    (Binance MARKET_LOT_SIZE), `max_amount` the largest limit order (LOT_SIZE). `tiers` are the
    exchange's maintenance brackets (empty: the venue publishes none; the gate then uses
    default_mmr and says so). `reduce_only_min_cost_exempt`: the venue waives min_cost for
    reduce-only orders (Binance: -4164 "unless reduce only").
    """

    symbol: str
    base: str
    quote: str
    contract_size: Decimal = ONE
    amount_step: Decimal | None = None
    min_amount: Decimal | None = None
    min_cost: Decimal | None = None
    mmr: Decimal | None = None
    max_leverage: Decimal | None = None
    max_amount: Decimal | None = None
    max_market_amount: Decimal | None = None
    tiers: tuple[Tier, ...] = ()
    reduce_only_min_cost_exempt: bool = False
    # The largest position notional the venue allows at the configured leverage, where its tiers do
    # not say which leverage each allows (BingX: maxPositionLongVal / maxPositionShortVal of its
    # leverage endpoint). None: unknown, or the tiers say it. LEVERAGE_TIER uses the smaller of both.
    position_cap: Decimal | None = None


@dataclass(frozen=True)
class Position:
    """Signed perp position in base units (+ long, - short), one-way mode."""

    asset: str
    symbol: str
    amount: Decimal
    entry_price: Decimal | None = None
    liquidation_price: Decimal | None = None
    unrealized_pnl: Decimal | None = None


@dataclass(frozen=True)
class Funding:
    """Last funding rate of a perp, per interval of `interval_hours`."""

    rate: Decimal
    interval_hours: Decimal = Decimal(8)
    timestamp: datetime | None = None

    @property
    def periods_per_year(self) -> Decimal:
        return Decimal(365 * 24) / self.interval_hours

    @property
    def periods_per_day(self) -> Decimal:
        return Decimal(24) / self.interval_hours


@dataclass(frozen=True)
class HedgeAccount:
    """Margin figures of the hedge (futures) account, in the quote currency."""

    equity: Decimal  # wallet + unrealized P&L
    wallet: Decimal
    initial_margin: Decimal = ZERO
    maintenance_margin: Decimal | None = ZERO  # None: the venue reports none and publishes no tiers (WEEX)
    available: Decimal = ZERO


@dataclass(frozen=True)
class Snapshot:
    """Everything one cycle knows about the world, read concurrently and then frozen."""

    taken_at: datetime
    quote: str
    holdings: tuple[Holding, ...] = ()
    positions: Mapping[str, Position] = field(default_factory=dict)  # by asset
    markets: Mapping[str, Market] = field(default_factory=dict)  # perp market by asset
    spot_prices: Mapping[str, Quote] = field(default_factory=dict)
    mark_prices: Mapping[str, Quote] = field(default_factory=dict)
    funding: Mapping[str, Funding] = field(default_factory=dict)
    account: HedgeAccount | None = None
    # Assets the spot venue lists no market for (a cold coin): valued at mark, BASIS not checked.
    # An asset that is listed but has no spot price is NO_PRICE (frozen), never valued at mark.
    spot_unlisted: frozenset[str] = frozenset()

    def spot_amounts(self) -> dict[str, Decimal]:
        """Spot quantity per asset, summed over every source (exchange wallets and cold holdings)."""
        totals: dict[str, Decimal] = {}
        for h in self.holdings:
            totals[h.asset] = totals.get(h.asset, ZERO) + h.amount
        return totals

    def position_amount(self, asset: str) -> Decimal:
        pos = self.positions.get(asset)
        return pos.amount if pos is not None else ZERO


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class PlanParams:
    """What the planner needs from settings, flattened (groups already resolved to weights)."""

    targets: Mapping[str, Decimal]  # may include the quote currency: a cash target
    quote: str = "USDT"
    nav_basis: NavBasis = NavBasis.SPOT
    band: Decimal = Decimal("0.02")
    relative_band: Decimal | None = None
    min_order_notional: Decimal = Decimal(10)


@dataclass(frozen=True)
class AssetLine:
    """One row of the allocation table."""

    asset: str
    target_weight: Decimal
    spot_value: Decimal
    perp_notional: Decimal
    effective_value: Decimal
    effective_weight: Decimal
    drift: Decimal
    target_value: Decimal
    desired_perp_notional: Decimal | None  # None for cash and unhedgeable assets
    adjustment: Decimal
    hedgeable: bool
    note: str = ""


@dataclass(frozen=True)
class PlannedOrder:
    """A perp order the plan wants; `amount` is in contracts, `base_amount` in base units."""

    asset: str
    symbol: str
    side: Side
    amount: Decimal
    base_amount: Decimal
    price: Decimal  # the mark price the plan used
    reduce_only: bool
    leg: str = "adjust"  # "adjust" | "close" | "open" (a sign flip is split into close + open)
    client_order_id: str | None = None
    # What the unconstrained plan wanted for this leg (contracts), where the solver, the scale or
    # slicing changed the size; None when the order is as planned.
    planned_amount: Decimal | None = None
    # Denial codes for an order the gate did not let through (Verdict.denied); empty otherwise.
    denied_by: tuple[str, ...] = ()

    @property
    def notional(self) -> Decimal:
        return self.base_amount * self.price

    @property
    def signed_base(self) -> Decimal:
        return self.base_amount if self.side is Side.BUY else -self.base_amount

    @property
    def per_contract(self) -> Decimal:
        """Base units per contract, as the plan sized the order (base_amount / amount; 1 when either is 0)."""
        return self.base_amount / self.amount if self.amount and self.base_amount else ONE


@dataclass(frozen=True)
class Skipped:
    """An adjustment the plan could not turn into an order, and why (it stays as drift)."""

    asset: str
    symbol: str | None
    reason: str
    notional: Decimal


@dataclass(frozen=True)
class Plan:
    nav: Decimal
    quote: str
    nav_basis: NavBasis
    triggered: bool
    assets: tuple[AssetLine, ...]
    orders: tuple[PlannedOrder, ...]
    unhedgeable: tuple[str, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    # N* = sum over every risk asset of its desired perp notional (hedgeable or not), DOMAIN.md.
    planned_net: Decimal = ZERO
    valued_at_mark: tuple[str, ...] = ()  # spot valued at the perp mark: the spot venue lists no market
    # What the solver works from: P*_a per risk asset (hedgeable or not) and the weights w_a.
    desired: Mapping[str, Decimal] = field(default_factory=dict)
    weights: Mapping[str, Decimal] = field(default_factory=dict)


# --------------------------------------------------------------------------- verdict


@dataclass(frozen=True)
class Box:
    """The post-trade perp notional an asset may reach this cycle: lo <= P <= hi (None: unbounded),
    and the codes of the checks that bound it (empty: free)."""

    lo: Decimal | None
    hi: Decimal | None
    codes: tuple[str, ...] = ()

    @property
    def frozen(self) -> bool:
        return self.lo is not None and self.lo == self.hi


@dataclass(frozen=True)
class Finding:
    """A denial (or a scaling reason) with a stable code that alerts and tests match on."""

    code: str
    symbol: str | None
    detail: str


@dataclass(frozen=True)
class Verdict:
    state: TradingState
    approved: tuple[PlannedOrder, ...]
    denials: tuple[Finding, ...]
    scale: Decimal = ONE
    scaled_by: tuple[Finding, ...] = ()
    warnings: tuple[Finding, ...] = ()
    margin_usage: Decimal | None = None
    funding_cost_per_day: Decimal | None = None
    stressed_equity: Decimal | None = None
    stressed_maintenance: Decimal | None = None
    liquidation_distances: Mapping[str, Decimal] = field(default_factory=dict)
    boxes: Mapping[str, Box] = field(default_factory=dict)  # by asset, every risk asset
    planned_net: Decimal = ZERO  # N*
    # Post-trade net (perfect execution of `approved`, at the snapshot's marks) minus N*.
    net_residual: Decimal = ZERO
    # What the residual may be: the part the boxes or the scale leave unavoidable, plus one amount
    # step per traded asset for rounding. |net_residual| <= residual_bound always.
    residual_bound: Decimal = ZERO
    post_trade: Mapping[str, Decimal] = field(default_factory=dict)  # notional P_a by asset
    denied: tuple[PlannedOrder, ...] = ()  # planned legs not sent, each with denied_by codes
    skipped: tuple["Skipped", ...] = ()  # legs dropped for size (their asset was frozen and re-solved)

    @property
    def all_approved(self) -> bool:
        return not self.denials


@dataclass(frozen=True)
class RiskLimits:
    """The risk gate's limits (DOMAIN.md defaults) plus the state the operator put it in."""

    max_margin_usage: Decimal = Decimal("0.5")
    min_liquidation_distance: Decimal = Decimal("0.25")
    max_funding_apr: Decimal = Decimal("0.30")
    max_basis: Decimal = Decimal("0.01")
    max_price_age_s: Decimal = Decimal(60)
    max_clock_skew_s: Decimal = Decimal(5)  # a price dated further in the future is refused like a stale one
    max_order_notional: Decimal = Decimal(50000)
    max_gross_ratio: Decimal = Decimal("1.0")
    leverage: Decimal = Decimal(3)
    default_mmr: Decimal = Decimal("0.005")
    halted: bool = False  # kill switch (file present or config flag)
    reducing: bool = False  # operator or daemon asked for REDUCING
    # Per asset, from the protective stops (issue 14): frozen while a fired stop's cooldown lasts
    # (code STOP_COOLDOWN), shrink-only after the exchange refused its stop (STOP_REJECTED); asset -> why.
    frozen_assets: Mapping[str, str] = field(default_factory=dict)
    reducing_assets: Mapping[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- execution


class OrderState(str, enum.Enum):
    """An order's life in the journal. PENDING is journaled before the request is sent;
    UNKNOWN means the request may have executed and must be looked up by client id."""

    PENDING = "pending"
    UNKNOWN = "unknown"
    OPEN = "open"
    FILLED = "filled"
    PARTIALLY_FILLED = "partially_filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"
    DENIED = "denied"  # the risk gate did not let it through: journaled, never sent
    NOT_PLACED = "not_placed"  # resolved: the exchange never received it (crash before send)

    @property
    def final(self) -> bool:
        return self not in (OrderState.PENDING, OrderState.UNKNOWN, OrderState.OPEN)


@dataclass(frozen=True)
class OpenOrder:
    """An order resting on the exchange (ours or not), parsed by the venue layer."""

    symbol: str
    order_id: str | None
    client_order_id: str | None
    side: str
    remaining: Decimal | None
    price: Decimal | None

    @property
    def key(self) -> str:
        return self.order_id or self.client_order_id or ""


@dataclass(frozen=True)
class OrderResult:
    """What the exchange says about one of our orders, parsed from ccxt by the venue layer."""

    client_order_id: str
    state: OrderState
    exchange_order_id: str | None = None
    filled: Decimal = ZERO
    average: Decimal | None = None
    fee: Decimal | None = None
    fee_currency: str | None = None
    error_code: str | None = None
    error_message: str | None = None
