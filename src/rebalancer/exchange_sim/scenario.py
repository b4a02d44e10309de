"""Scenario files for the local exchange: parse TOML (or a dict) into frozen, validated records.

Every problem is reported as a ScenarioError naming the key path (e.g. `markets.BTC.spot_price`).

Per-market keys beyond prices, funding and filters (`[markets.BTC]`):

- `brackets = [{notional_cap = 50000, mmr = 0.004, max_leverage = 125}, ..., {mmr = 0.5, max_leverage = 1}]`:
  Binance's maintenance tiers (GET /fapi/v1/leverageBracket). Bracket i covers position notional
  n = |amount| x mark from the previous cap (its floor; 0 for the first) to its `notional_cap`;
  the last may omit `notional_cap`, and then ends at 1,000,000,000 USDT (what
  Binance-style responses need as a finite cap), so explicit caps must be below that. `cum`
  follows from continuity: cum_1 = 0, cum_i = cum_(i-1) + floor_i * (mmr_i - mmr_(i-1)); a
  position's maintenance margin is n * mmr_i - cum_i. Caps increase, mmr is non-decreasing with
  0 < mmr < 1, max_leverage is a non-increasing integer in 1..125 with mmr * max_leverage < 1.
  `max_leverage` of a bracket is the highest leverage at which a position may reach its cap:
  at leverage L a non-reduce-only order that grows the position to a post-trade notional (at
  mark) above the cap of the largest bracket with max_leverage >= L is rejected with -2027 (a
  notional equal to the cap is allowed), and so is POST /fapi/v1/leverage to an L whose cap is
  below the current position's notional. Mutually exclusive with `mmr` / `max_leverage`, which
  describe a single bracket (cap 1,000,000,000), the default.
- `market_max_qty`: MARKET_LOT_SIZE maxQty, the largest MARKET order (-4005 above it); LIMIT
  orders are bounded by `max_qty` (LOT_SIZE). Default: `max_qty`; must lie in min_qty..max_qty.
- `depth = [0.5, 1.0, 2.0]`: base quantity available at each successive price level of the perp
  book (multiples of amount_step). Level j sits at best ask * (1 + j * depth_step) rounded up to
  the tick (buys) or best bid * (1 - j * depth_step) rounded down (sells); the best bid/ask are
  the mark +- half `futures.spread`. Taker fills (MARKET and marketable LIMIT orders) walk the
  levels; what they cannot fill expires (MARKET, IOC: status EXPIRED with executedQty < origQty),
  FOK expires whole, GTC rests the remainder at its limit price (PARTIALLY_FILLED). The book
  replenishes: every order sees the full depth. Resting orders fill whole when the mark crosses
  them. Without `depth` an order fills whole at the best price.
- `depth_step`: relative price distance between depth levels, default 0.0005 (5 bp).
- `funding_interval_hours`: 1..24 (default 8); `funding_rate` is the rate paid at each of the
  symbol's funding times. As on Binance, GET /fapi/v1/fundingInfo lists only symbols whose
  interval is not 8 h (an absent symbol funds every 8 h); premiumIndex `nextFundingTime` is the
  next multiple of the interval since the epoch; POST /_sim/settle-funding `{"hours": H}` pays each
  position H // interval times (`{}`: once each).
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Mapping

QUOTE = "USDT"

# Fixed demo credentials: the local exchange is loopback-only by default, so a well-known pair
# is safer than inventing secrets that end up in shell history.
DEFAULT_API_KEY = "local-key"
DEFAULT_API_SECRET = "local-secret"
DEFAULT_PASSWORD = "local-pass"

DEFAULT_LEVERAGE = 20  # Binance's default for a fresh USDⓈ-M account
DEFAULT_FEE_RATE = Decimal("0.0004")  # taker
DEFAULT_MAKER_FEE_RATE = Decimal("0.0002")
DEFAULT_MMR = Decimal("0.005")
DEFAULT_MIN_NOTIONAL = Decimal("5")
DEFAULT_MAX_LEVERAGE = 125
MAX_NOTIONAL_CAP = Decimal(1_000_000_000)  # where an open-ended (or the default single) bracket ends
DEFAULT_DEPTH_STEP = Decimal("0.0005")
DEFAULT_FUNDING_INTERVAL_HOURS = 8
FAULT_TARGETS = ("all", "orders", "reads")

_ASSET_RE = re.compile(r"^[A-Z0-9]{1,20}$")
_CODE_RE = re.compile(r"^-?\d+$")


class ScenarioError(ValueError):
    """A scenario value is missing, unknown or out of range; the message names the key path."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"scenario: {key}: {problem}" if key else f"scenario: {problem}")


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Bracket:
    """One maintenance tier: notional in (floor, cap] uses `mmr` and `cum`; leverage up to `max_leverage`."""

    bracket: int  # 1-based, as Binance numbers them
    floor: Decimal
    cap: Decimal
    mmr: Decimal
    max_leverage: int
    cum: Decimal = Decimal(0)


def single_bracket(mmr: Decimal, max_leverage: int) -> tuple[Bracket, ...]:
    """What a market without `brackets` has: one tier from 0 to MAX_NOTIONAL_CAP."""
    return (Bracket(1, Decimal(0), MAX_NOTIONAL_CAP, mmr, max_leverage, Decimal(0)),)


@dataclass(frozen=True)
class MarketSpec:
    """One base asset quoted in USDT: a spot market and/or a USDⓈ-M perpetual, with its filters."""

    asset: str
    spot_price: Decimal
    mark_price: Decimal
    funding_rate: Decimal = Decimal(0)
    funding_interval_hours: int = 8
    amount_step: Decimal = Decimal("0.001")
    min_qty: Decimal = Decimal("0.001")
    max_qty: Decimal = Decimal("10000")
    min_notional: Decimal = DEFAULT_MIN_NOTIONAL
    price_tick: Decimal = Decimal("0.1")
    mmr: Decimal = DEFAULT_MMR  # the first bracket's
    max_leverage: int = DEFAULT_MAX_LEVERAGE  # the first bracket's
    spot: bool = True
    perp: bool = True
    brackets: tuple[Bracket, ...] = ()  # empty: one bracket from mmr / max_leverage
    market_max_qty: Decimal | None = None  # MARKET_LOT_SIZE maxQty; None: max_qty
    depth: tuple[Decimal, ...] = ()  # base quantity per book level; empty: unlimited at the best price
    depth_step: Decimal = DEFAULT_DEPTH_STEP
    # Base units per contract. amount_step, min_qty, max_qty and market_max_qty count contracts, as
    # the venue does (OKX BTC-USDT-SWAP ctVal 0.01); the engine works in base units (the base_* values).
    contract_size: Decimal = Decimal(1)

    def __post_init__(self) -> None:
        if not self.brackets:
            object.__setattr__(self, "brackets", single_bracket(self.mmr, self.max_leverage))
        if self.market_max_qty is None:
            object.__setattr__(self, "market_max_qty", self.max_qty)

    @property
    def base_step(self) -> Decimal:
        return self.amount_step * self.contract_size

    @property
    def base_min_qty(self) -> Decimal:
        return self.min_qty * self.contract_size

    @property
    def base_max_qty(self) -> Decimal:
        return self.max_qty * self.contract_size

    @property
    def base_market_max_qty(self) -> Decimal:
        assert self.market_max_qty is not None
        return self.market_max_qty * self.contract_size

    @property
    def symbol(self) -> str:
        """Binance market id, shared by the spot and the perp market (e.g. BTCUSDT)."""
        return self.asset + QUOTE

    def bracket_for(self, notional: Decimal) -> Bracket:
        """The tier a position of this (absolute) notional falls in: floor <= n < cap, as ccxt reads
        Binance's brackets (mm is continuous, so a cap itself gives the same margin either way);
        beyond the last cap, the last."""
        for bracket in self.brackets:
            if notional < bracket.cap:
                return bracket
        return self.brackets[-1]

    def maint_margin(self, notional: Decimal) -> Decimal:
        """Binance's tiered maintenance margin: n * mmr_i - cum_i for n in tier i."""
        notional = abs(notional)
        if notional == 0:
            return Decimal(0)
        bracket = self.bracket_for(notional)
        return notional * bracket.mmr - bracket.cum

    def max_notional(self, leverage: int) -> Decimal:
        """The largest position notional allowed at `leverage`: the cap of the last bracket that allows it."""
        caps = [b.cap for b in self.brackets if b.max_leverage >= leverage]
        return max(caps) if caps else Decimal(0)


@dataclass(frozen=True)
class PositionSpec:
    """An opening one-way position: signed base amount (+ long, - short) and its entry price."""

    asset: str
    amount: Decimal
    entry_price: Decimal


@dataclass(frozen=True)
class FuturesSpec:
    """The USDⓈ-M account: USDT wallet, default leverage, fees, quote spread, opening positions."""

    wallet: Decimal = Decimal(0)
    leverage: int = DEFAULT_LEVERAGE
    positions: tuple[PositionSpec, ...] = ()
    fee_rate: Decimal = DEFAULT_FEE_RATE
    maker_fee_rate: Decimal = DEFAULT_MAKER_FEE_RATE
    spread: Decimal = Decimal(0)  # full relative bid/ask spread around the price, e.g. 0.0002


@dataclass(frozen=True)
class AuthSpec:
    """The one API key/secret pair the exchange accepts (HMAC-SHA256), and the passphrase of the
    dialects whose venue signs with one (okx, weex)."""

    api_key: str = DEFAULT_API_KEY
    api_secret: str = DEFAULT_API_SECRET
    password: str = DEFAULT_PASSWORD


@dataclass(frozen=True)
class FaultSpec:
    """Injected failures; counters ("next N") are consumed as requests arrive."""

    latency_ms: float = 0
    drop_order_responses: int = 0
    error_rate_5xx: float = 0.0
    reject_orders_with: str = ""
    rate_limit_429: int = 0
    clock_skew_ms: int = 0
    reset_connections: int = 0
    faults_on: str = "all"
    seed: int = 0


@dataclass(frozen=True)
class Scenario:
    """A whole scenario: markets, spot wallet, futures account, credentials and faults."""

    markets: tuple[MarketSpec, ...] = ()
    spot: Mapping[str, Decimal] = field(default_factory=dict)
    futures: FuturesSpec = field(default_factory=FuturesSpec)
    auth: AuthSpec = field(default_factory=AuthSpec)
    faults: FaultSpec = field(default_factory=FaultSpec)
    source: str = "<dict>"

    def market(self, asset: str) -> MarketSpec:
        for spec in self.markets:
            if spec.asset == asset:
                return spec
        raise KeyError(asset)


# --------------------------------------------------------------------------- value readers


def to_decimal(value: Any, key: str) -> Decimal:
    """A TOML number (or numeric string) as Decimal; floats go through repr to avoid binary noise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ScenarioError(key, f"must be a number, got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ScenarioError(key, f"must be a finite number, got {value!r}")
        return Decimal(repr(value))
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation:
        raise ScenarioError(key, f"must be a number, got {value!r}") from None
    if not result.is_finite():
        raise ScenarioError(key, f"must be a finite number, got {value!r}")
    return result


def _positive(value: Any, key: str) -> Decimal:
    result = to_decimal(value, key)
    if result <= 0:
        raise ScenarioError(key, f"must be > 0, got {value!r}")
    return result


def _non_negative(value: Any, key: str) -> Decimal:
    result = to_decimal(value, key)
    if result < 0:
        raise ScenarioError(key, f"must be >= 0, got {value!r}")
    return result


def _int(value: Any, key: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ScenarioError(key, f"must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ScenarioError(key, f"must be >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise ScenarioError(key, f"must be <= {maximum}, got {value!r}")
    return value


def _bool(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ScenarioError(key, f"must be true or false, got {value!r}")
    return value


def _table(value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ScenarioError(key, f"must be a table, got {type(value).__name__}")
    return value


def _check_keys(table: Mapping[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
    for name in table:
        if name not in allowed:
            where = f"{prefix}.{name}" if prefix else str(name)
            raise ScenarioError(where, f"unknown key (allowed: {', '.join(allowed)})")


def _asset(name: Any, key: str) -> str:
    if not isinstance(name, str) or not _ASSET_RE.match(name):
        raise ScenarioError(key, f"asset codes are upper-case letters/digits, got {name!r}")
    return name


def _pow10(exponent: int) -> Decimal:
    return Decimal(1).scaleb(exponent)


def default_amount_step(price: Decimal) -> Decimal:
    """Lot step picked by price so one step is worth $10-$100 (0.001 at BTC-like prices)."""
    return _pow10(math.ceil(math.log10(10 / float(price))))


def default_price_tick(price: Decimal) -> Decimal:
    """Tick with five significant digits below the price's magnitude (0.1 at 40,000; 0.01 at 2,000)."""
    return _pow10(math.floor(math.log10(float(price))) - 5)


def _is_multiple(value: Decimal, step: Decimal) -> bool:
    return value % step == 0


# --------------------------------------------------------------------------- sections

_MARKET_KEYS = (
    "spot_price", "mark_price", "funding_rate", "funding_interval_hours", "amount_step",
    "min_qty", "max_qty", "min_notional", "price_tick", "mmr", "max_leverage", "spot", "perp",
    "brackets", "market_max_qty", "depth", "depth_step", "contract_size",
)
_BRACKET_KEYS = ("notional_cap", "mmr", "max_leverage")
_FUTURES_KEYS = ("wallet", "leverage", "positions", "fee_rate", "maker_fee_rate", "spread")
_POSITION_KEYS = ("symbol", "amount", "entry_price")
_AUTH_KEYS = ("api_key", "api_secret", "password")
FAULT_KEYS = tuple(f.name for f in fields(FaultSpec))
_TOP_KEYS = ("markets", "spot", "futures", "auth", "faults")


def _parse_market(asset: str, raw: Any) -> MarketSpec:
    prefix = f"markets.{asset}"
    table = _table(raw, prefix)
    _check_keys(table, _MARKET_KEYS, prefix)
    key = lambda name: f"{prefix}.{name}"  # noqa: E731 - local key-path helper
    if "spot_price" not in table and "mark_price" not in table:
        raise ScenarioError(key("spot_price"), "is required (or give mark_price)")
    spot_price = _positive(table.get("spot_price", table.get("mark_price")), key("spot_price"))
    mark_price = _positive(table.get("mark_price", spot_price), key("mark_price"))
    step = (
        _positive(table["amount_step"], key("amount_step"))
        if "amount_step" in table
        else default_amount_step(spot_price)
    )
    tick = (
        _positive(table["price_tick"], key("price_tick"))
        if "price_tick" in table
        else default_price_tick(spot_price)
    )
    min_qty = _positive(table.get("min_qty", step), key("min_qty"))
    max_qty = _positive(table.get("max_qty", step * 10_000_000), key("max_qty"))
    if not _is_multiple(min_qty, step):
        raise ScenarioError(key("min_qty"), f"must be a multiple of amount_step {step}")
    if max_qty < min_qty:
        raise ScenarioError(key("max_qty"), f"must be >= min_qty {min_qty}")
    market_max_qty = _positive(table.get("market_max_qty", max_qty), key("market_max_qty"))
    if not min_qty <= market_max_qty <= max_qty:
        raise ScenarioError(
            key("market_max_qty"), f"must be between min_qty {min_qty} and max_qty {max_qty}, got {market_max_qty}"
        )
    if "brackets" in table:
        for single in ("mmr", "max_leverage"):
            if single in table:
                raise ScenarioError(key(single), "give either brackets or mmr/max_leverage, not both")
        brackets = _parse_brackets(table["brackets"], key("brackets"))
        mmr, max_leverage = brackets[0].mmr, brackets[0].max_leverage
    else:
        mmr = _positive(table.get("mmr", DEFAULT_MMR), key("mmr"))
        if mmr >= 1:
            raise ScenarioError(key("mmr"), f"must be < 1, got {table['mmr']!r}")
        # Binance's brackets keep the initial margin rate (1/leverage) at about twice the maintenance
        # rate (BTC: 125x with mmr 0.004), so the default cap follows mmr; an explicit cap must stay above it.
        default_cap = max(1, min(DEFAULT_MAX_LEVERAGE, int(1 / (2 * mmr))))
        max_leverage = _int(table.get("max_leverage", default_cap), key("max_leverage"), minimum=1, maximum=125)
        if mmr * max_leverage >= 1:
            raise ScenarioError(key("max_leverage"), f"1/max_leverage must stay above mmr {mmr}")
        brackets = single_bracket(mmr, max_leverage)
    contract_size = _positive(table.get("contract_size", 1), key("contract_size"))
    depth = _parse_depth(table.get("depth", []), key("depth"), step * contract_size)
    depth_step = _positive(table.get("depth_step", DEFAULT_DEPTH_STEP), key("depth_step"))
    if depth_step >= Decimal("0.1"):
        raise ScenarioError(key("depth_step"), f"must be < 0.1 (a fraction, not percent), got {depth_step}")
    spec = MarketSpec(
        asset=asset,
        spot_price=spot_price,
        mark_price=mark_price,
        funding_rate=to_decimal(table.get("funding_rate", 0), key("funding_rate")),
        funding_interval_hours=_int(
            table.get("funding_interval_hours", DEFAULT_FUNDING_INTERVAL_HOURS), key("funding_interval_hours"),
            minimum=1, maximum=24,
        ),
        amount_step=step,
        min_qty=min_qty,
        max_qty=max_qty,
        min_notional=_non_negative(table.get("min_notional", DEFAULT_MIN_NOTIONAL), key("min_notional")),
        price_tick=tick,
        mmr=mmr,
        max_leverage=max_leverage,
        spot=_bool(table.get("spot", True), key("spot")),
        perp=_bool(table.get("perp", True), key("perp")),
        brackets=brackets,
        market_max_qty=market_max_qty,
        depth=depth,
        depth_step=depth_step,
        contract_size=contract_size,
    )
    if not spec.spot and not spec.perp:
        raise ScenarioError(prefix, "a market needs spot = true or perp = true")
    return spec


def _parse_brackets(raw: Any, prefix: str) -> tuple[Bracket, ...]:
    """`brackets = [{notional_cap, mmr, max_leverage}, ...]` -> tiers with floors and cum filled in."""
    if not isinstance(raw, list) or not raw:
        raise ScenarioError(prefix, "must be a non-empty array of tables {notional_cap, mmr, max_leverage}")
    out: list[Bracket] = []
    floor = Decimal(0)
    for index, entry in enumerate(raw):
        where = f"{prefix}[{index}]"
        table = _table(entry, where)
        _check_keys(table, _BRACKET_KEYS, where)
        last = index == len(raw) - 1
        for required in ("mmr", "max_leverage"):
            if required not in table:
                raise ScenarioError(f"{where}.{required}", "is required")
        if "notional_cap" in table:
            cap = _positive(table["notional_cap"], f"{where}.notional_cap")
            if cap <= floor:
                raise ScenarioError(f"{where}.notional_cap", f"must be above the previous cap {floor}, got {cap}")
        elif last:
            cap = MAX_NOTIONAL_CAP
            if cap <= floor:
                raise ScenarioError(
                    f"{prefix}[{index - 1}].notional_cap",
                    f"must be below {MAX_NOTIONAL_CAP} (where the open-ended last bracket ends), got {floor}",
                )
        else:
            raise ScenarioError(f"{where}.notional_cap", "is required (only the last bracket may omit it)")
        mmr = to_decimal(table["mmr"], f"{where}.mmr")
        if not 0 < mmr < 1:
            raise ScenarioError(f"{where}.mmr", f"must be > 0 and < 1, got {table['mmr']!r}")
        leverage = _int(table["max_leverage"], f"{where}.max_leverage", minimum=1, maximum=125)
        if out:
            before = out[-1]
            if mmr < before.mmr:
                raise ScenarioError(f"{where}.mmr", f"must not be below the previous bracket's {before.mmr}, got {mmr}")
            if leverage > before.max_leverage:
                raise ScenarioError(
                    f"{where}.max_leverage",
                    f"must not be above the previous bracket's {before.max_leverage}, got {leverage}",
                )
            cum = before.cum + floor * (mmr - before.mmr)
        else:
            cum = Decimal(0)
        if mmr * leverage >= 1:
            raise ScenarioError(f"{where}.max_leverage", f"1/max_leverage must stay above mmr {mmr}")
        out.append(Bracket(index + 1, floor, cap, mmr, leverage, cum))
        floor = cap
    return tuple(out)


def _parse_depth(raw: Any, prefix: str, step: Decimal) -> tuple[Decimal, ...]:
    if not isinstance(raw, list):
        raise ScenarioError(prefix, "must be an array of base quantities, one per price level")
    levels = []
    for index, value in enumerate(raw):
        qty = _positive(value, f"{prefix}[{index}]")
        if not _is_multiple(qty, step):
            raise ScenarioError(f"{prefix}[{index}]", f"must be a multiple of amount_step {step}, got {qty}")
        levels.append(qty)
    return tuple(levels)


def _parse_position(raw: Any, index: int, markets: Mapping[str, MarketSpec]) -> PositionSpec:
    prefix = f"futures.positions[{index}]"
    table = _table(raw, prefix)
    _check_keys(table, _POSITION_KEYS, prefix)
    for required in _POSITION_KEYS:
        if required not in table:
            raise ScenarioError(f"{prefix}.{required}", "is required")
    symbol = table["symbol"]
    if not isinstance(symbol, str):
        raise ScenarioError(f"{prefix}.symbol", f"must be an asset code, got {symbol!r}")
    # Accept "BTC", "BTCUSDT" or the ccxt form "BTC/USDT:USDT"; store the asset code.
    asset = symbol.split("/")[0].removesuffix(QUOTE) if "/" in symbol else symbol.removesuffix(QUOTE)
    spec = markets.get(asset)
    if spec is None:
        raise ScenarioError(f"{prefix}.symbol", f"no [markets.{asset}] table for {symbol!r}")
    if not spec.perp:
        raise ScenarioError(f"{prefix}.symbol", f"markets.{asset} has perp = false")
    amount = to_decimal(table["amount"], f"{prefix}.amount")
    if amount == 0:
        raise ScenarioError(f"{prefix}.amount", "must not be 0 (leave flat positions out)")
    if not _is_multiple(abs(amount), spec.base_step):
        raise ScenarioError(f"{prefix}.amount", f"must be a multiple of amount_step x contract_size {spec.base_step}")
    return PositionSpec(asset, amount, _positive(table["entry_price"], f"{prefix}.entry_price"))


def _parse_futures(raw: Any, markets: Mapping[str, MarketSpec]) -> FuturesSpec:
    table = _table(raw, "futures")
    _check_keys(table, _FUTURES_KEYS, "futures")
    positions_raw = table.get("positions", [])
    if not isinstance(positions_raw, list):
        raise ScenarioError("futures.positions", "must be an array of tables")
    positions = tuple(_parse_position(p, i, markets) for i, p in enumerate(positions_raw))
    seen = [p.asset for p in positions]
    for symbol in seen:
        if seen.count(symbol) > 1:
            raise ScenarioError("futures.positions", f"{symbol} is listed twice (one-way mode: one per symbol)")
    fee = _non_negative(table.get("fee_rate", DEFAULT_FEE_RATE), "futures.fee_rate")
    maker = _non_negative(table.get("maker_fee_rate", DEFAULT_MAKER_FEE_RATE), "futures.maker_fee_rate")
    spread = _non_negative(table.get("spread", 0), "futures.spread")
    for name, value in (("fee_rate", fee), ("maker_fee_rate", maker), ("spread", spread)):
        if value >= Decimal("0.1"):
            raise ScenarioError(f"futures.{name}", f"must be < 0.1 (a fraction, not percent), got {value}")
    return FuturesSpec(
        wallet=_non_negative(table.get("wallet", 0), "futures.wallet"),
        leverage=_int(table.get("leverage", DEFAULT_LEVERAGE), "futures.leverage", minimum=1, maximum=125),
        positions=positions,
        fee_rate=fee,
        maker_fee_rate=maker,
        spread=spread,
    )


def _parse_spot(raw: Any) -> dict[str, Decimal]:
    table = _table(raw, "spot")
    return {_asset(name, f"spot.{name}"): _non_negative(value, f"spot.{name}") for name, value in table.items()}


def _parse_auth(raw: Any) -> AuthSpec:
    table = _table(raw, "auth")
    _check_keys(table, _AUTH_KEYS, "auth")
    values = {}
    for name in _AUTH_KEYS:
        if name in table:
            value = table[name]
            if not isinstance(value, str) or not value or value != value.strip():
                raise ScenarioError(f"auth.{name}", "must be a non-empty string without surrounding spaces")
            if "PRIVATE KEY" in value:
                raise ScenarioError(f"auth.{name}", "only HMAC secrets are supported (no RSA/Ed25519 keys)")
            values[name] = value
    return AuthSpec(**values)


def parse_faults(raw: Any, base: FaultSpec | None = None, prefix: str = "faults") -> FaultSpec:
    """Validate a [faults] table (or a POST /_sim/faults body) and merge it onto `base`."""
    table = _table(raw, prefix)
    _check_keys(table, FAULT_KEYS, prefix)
    key = lambda name: f"{prefix}.{name}"  # noqa: E731 - local key-path helper
    values: dict[str, Any] = {}
    if "latency_ms" in table:
        values["latency_ms"] = float(_non_negative(table["latency_ms"], key("latency_ms")))
    for name in ("drop_order_responses", "rate_limit_429", "reset_connections"):
        if name in table:
            values[name] = _int(table[name], key(name), minimum=0)
    if "error_rate_5xx" in table:
        rate = to_decimal(table["error_rate_5xx"], key("error_rate_5xx"))
        if not 0 <= rate <= 1:
            raise ScenarioError(key("error_rate_5xx"), f"must be between 0 and 1, got {table['error_rate_5xx']!r}")
        values["error_rate_5xx"] = float(rate)
    if "reject_orders_with" in table:
        code = table["reject_orders_with"]
        if isinstance(code, int) and not isinstance(code, bool):
            code = str(code)
        if not isinstance(code, str) or (code and not _CODE_RE.match(code.strip())):
            raise ScenarioError(key("reject_orders_with"), f'must be "" or a Binance code like "-2019", got {code!r}')
        values["reject_orders_with"] = code.strip()
    if "clock_skew_ms" in table:
        values["clock_skew_ms"] = _int(table["clock_skew_ms"], key("clock_skew_ms"))
    if "faults_on" in table:
        target = table["faults_on"]
        if target not in FAULT_TARGETS:
            raise ScenarioError(key("faults_on"), f"must be one of {', '.join(FAULT_TARGETS)}, got {target!r}")
        values["faults_on"] = target
    if "seed" in table:
        values["seed"] = _int(table["seed"], key("seed"))
    return replace(base or FaultSpec(), **values)


# --------------------------------------------------------------------------- entry points


def scenario_from_dict(data: Mapping[str, Any], source: str = "<dict>") -> Scenario:
    """Validate a parsed scenario mapping; raises ScenarioError naming the first bad key."""
    table = _table(data, "")
    _check_keys(table, _TOP_KEYS, "")
    markets_raw = _table(table.get("markets", {}), "markets")
    markets: dict[str, MarketSpec] = {}
    for name, raw in markets_raw.items():
        asset = _asset(name, f"markets.{name}")
        if asset == QUOTE:
            raise ScenarioError(f"markets.{name}", f"{QUOTE} is the quote currency, not a market")
        markets[asset] = _parse_market(asset, raw)
    if not markets:
        raise ScenarioError("markets", "at least one [markets.ASSET] table is required")
    return Scenario(
        markets=tuple(markets.values()),
        spot=_parse_spot(table.get("spot", {})),
        futures=_parse_futures(table.get("futures", {}), markets),
        auth=_parse_auth(table.get("auth", {})),
        faults=parse_faults(table.get("faults", {})),
        source=source,
    )


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError("", f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError("", f"{path} is not valid TOML: {exc}") from None
    return scenario_from_dict(data, source=str(path))


def coerce_scenario(scenario: Scenario | Mapping[str, Any] | str | Path) -> Scenario:
    """Accept a Scenario, a dict shaped like the TOML, or a path to a TOML file."""
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, Mapping):
        return scenario_from_dict(scenario)
    if isinstance(scenario, (str, Path)):
        return load_scenario(scenario)
    raise TypeError(f"scenario must be a Scenario, a dict or a path, not {type(scenario).__name__}")


def example_scenario() -> Scenario:
    """DOMAIN.md example 2: BTC 0.1 @ 40,000 and ETH 1.0 @ 2,000 spot, 3,000 USDT futures wallet, flat."""
    return scenario_from_dict(
        {
            "markets": {
                "BTC": {"spot_price": 40000, "funding_rate": 0.0001, "amount_step": "0.001", "price_tick": "0.1"},
                "ETH": {"spot_price": 2000, "funding_rate": 0.0001, "amount_step": "0.001", "price_tick": "0.01"},
            },
            "spot": {"BTC": "0.1", "ETH": "1.0", "USDT": 0},
            "futures": {"wallet": 3000, "leverage": 5},
        },
        source="<example>",
    )
