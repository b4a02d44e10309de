"""The local exchange's state and money math: balances, one-way cross-margin positions, orders, funding.

Pure and synchronous (no HTTP, no asyncio): the server translates requests into these calls, tests call them directly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Callable, Iterable, Mapping, Sequence

from .rejections import Reason, Rejection
from .scenario import MAX_NOTIONAL_CAP, QUOTE, Bracket, MarketSpec, Scenario

ZERO = Decimal(0)
ONE = Decimal(1)
TWO = Decimal(2)
OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})
TIME_IN_FORCE = frozenset({"GTC", "IOC", "FOK", "GTX"})
MAX_NOTIONAL_VALUE = int(MAX_NOTIONAL_CAP)  # the default single leverage bracket's cap
def wall_clock_ms() -> int:
    return int(time.time() * 1000)


class SimClock:
    """The exchange's clock in ms: wall time plus an adjustable skew (the `clock_skew_ms` fault)."""

    def __init__(self, skew_ms: int = 0, source: Callable[[], float] = time.time) -> None:
        self.skew_ms = skew_ms
        self._source = source

    def __call__(self) -> int:
        return int(self._source() * 1000) + self.skew_ms


def sign(value: Decimal) -> int:
    return (value > 0) - (value < 0)


def plain(value: Decimal | int) -> str:
    """A Decimal as Binance prints it: fixed-point, no exponent, no trailing zeros."""
    text = format(Decimal(value).normalize(), "f")
    return "0" if text in ("-0", "") else text


def fixed(value: Decimal, places: int = 8) -> str:
    """A Decimal with exactly `places` decimals (Binance's money fields: "3000.00000000")."""
    quantized = Decimal(value).quantize(Decimal(1).scaleb(-places))
    return format(quantized if quantized else abs(quantized), "f")  # no "-0.00000000"


def decimals_of(step: Decimal) -> int:
    """Number of decimals a step size implies (0.001 -> 3, 10 -> 0)."""
    return max(0, -step.normalize().as_tuple().exponent)


# --------------------------------------------------------------------------- pure math


def fill_position(
    amount: Decimal, entry: Decimal, delta: Decimal, price: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """Apply a signed fill `delta` at `price` to a one-way position; returns (amount, entry, realized P&L).

    Growing (or opening) averages the entry price weighted by size; reducing realizes
    `closed * (price - entry) * side` and keeps the entry; crossing zero closes the old
    side and opens the remainder at the fill price; flat resets the entry to 0.
    """
    new_amount = amount + delta
    if amount == 0 or sign(amount) == sign(delta):
        new_entry = (abs(amount) * entry + abs(delta) * price) / abs(new_amount)
        return new_amount, new_entry, ZERO
    closed = min(abs(delta), abs(amount))
    realized = closed * (price - entry) * sign(amount)
    if new_amount == 0:
        return ZERO, ZERO, realized
    if sign(new_amount) == sign(amount):
        return new_amount, entry, realized
    return new_amount, price, realized


def cross_liquidation_price(
    amount: Decimal,
    entry: Decimal,
    mmr: Decimal,
    wallet: Decimal,
    other_unrealized: Decimal = ZERO,
    other_maint: Decimal = ZERO,
    cum: Decimal = ZERO,
) -> Decimal | None:
    """Mark price at which this cross-margin, one-way position is liquidated; None if there is none.

    Liquidation happens when margin balance falls to maintenance margin, the other positions
    held at their current marks (Binance's bracket formula with that bracket's mmr and cum, fees ignored):

        wallet + U_other + q * (P - E)  =  M_other + |q| * P * mmr - cum
        =>  P = (M_other - cum - wallet - U_other + q * E) / (q - |q| * mmr)

    A long that would need a price <= 0 (over-collateralised) has no liquidation price.
    """
    if amount == 0:
        return None
    denominator = amount - abs(amount) * mmr
    price = (other_maint - cum - wallet - other_unrealized + amount * entry) / denominator
    return price if price > 0 else None


def tiered_liquidation_price(
    amount: Decimal,
    entry: Decimal,
    brackets: Sequence[Bracket],
    wallet: Decimal,
    other_unrealized: Decimal = ZERO,
    other_maint: Decimal = ZERO,
) -> Decimal | None:
    """cross_liquidation_price with maintenance tiers: the price P at which equity = the tiered mm.

    Equity minus maintenance is strictly monotone in P (mmr < 1), so the root is unique; each
    bracket's linear formula is solved and the one whose root lands inside that bracket
    (floor <= |q| * P <= cap; the last bracket open above) is it.
    """
    if amount == 0:
        return None
    for index, bracket in enumerate(brackets):
        price = cross_liquidation_price(amount, entry, bracket.mmr, wallet, other_unrealized, other_maint, bracket.cum)
        if price is None:
            continue
        notional = abs(amount) * price
        slack = bracket.cap * Decimal("1e-20")  # Decimal rounding at a bracket edge
        last = index == len(brackets) - 1
        if bracket.floor - slack <= notional and (last or notional <= bracket.cap + slack):
            return price
    return None


# --------------------------------------------------------------------------- records


@dataclass
class MarketState:
    """A market's live numbers (prices, funding) and the account's per-symbol settings."""

    spec: MarketSpec
    spot_price: Decimal
    mark_price: Decimal
    funding_rate: Decimal
    leverage: int
    margin_type: str = "CROSSED"

    @property
    def symbol(self) -> str:
        return self.spec.symbol

    @property
    def asset(self) -> str:
        return self.spec.asset


@dataclass
class Position:
    amount: Decimal = ZERO
    entry_price: Decimal = ZERO
    update_time: int = 0


@dataclass(frozen=True)
class Fill:
    """One trade of an order against one book level (a row of GET /fapi/v1/userTrades)."""

    trade_id: int
    price: Decimal
    qty: Decimal
    commission: Decimal
    realized_pnl: Decimal
    time: int
    maker: bool = False


_FILL_DECIMALS = ("price", "qty", "commission", "realized_pnl")


@dataclass
class Order:
    """A USDⓈ-M order as the exchange keeps it (Binance field meanings, Decimal values)."""

    order_id: int
    client_order_id: str
    symbol: str
    side: str  # BUY / SELL
    type: str  # MARKET / LIMIT
    time_in_force: str
    orig_qty: Decimal
    price: Decimal  # 0 for market orders
    reduce_only: bool
    time: int
    update_time: int
    status: str = "NEW"
    executed_qty: Decimal = ZERO
    avg_price: Decimal = ZERO
    cum_quote: Decimal = ZERO
    commission: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    position_side: str = "BOTH"
    fills: list[Fill] = field(default_factory=list)
    stop_price: Decimal = ZERO  # STOP_MARKET: the mark price that triggers it
    close_position: bool = False  # STOP_MARKET closing the whole position (orig_qty 0 until it fires)
    venue_type: str = ""  # the dialect's own order type when it has several for one engine type (BingX TRIGGER_MARKET)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def signed_qty(self) -> Decimal:
        return self.orig_qty if self.side == "BUY" else -self.orig_qty


@dataclass(frozen=True)
class Income:
    """One ledger entry of the futures wallet (FUNDING_FEE, COMMISSION, REALIZED_PNL)."""

    tran_id: int
    symbol: str
    income_type: str
    income: Decimal
    time: int
    asset: str = QUOTE
    trade_id: str = ""


@dataclass(frozen=True)
class OrderRequest:
    """A new USDⓈ-M order, already parsed from the HTTP parameters."""

    symbol: str
    side: str
    type: str
    quantity: Decimal
    price: Decimal | None = None
    time_in_force: str | None = None
    client_order_id: str | None = None
    reduce_only: bool = False
    position_side: str | None = None
    stop_price: Decimal | None = None  # STOP_MARKET only
    close_position: bool = False  # STOP_MARKET only: close whatever the position is when it fires
    venue_type: str = ""  # kept on the Order (and across restarts) for the dialect to answer with


@dataclass(frozen=True)
class Transfer:
    """A move of `asset` between the spot and the futures wallet (never a trade)."""

    tran_id: int
    asset: str
    amount: Decimal
    source: str  # "spot" | "futures"
    target: str
    time: int
    client_id: str = ""


@dataclass(frozen=True)
class PositionRisk:
    """A position valued at the mark price, with its margins and liquidation price."""

    symbol: str
    amount: Decimal
    entry_price: Decimal
    mark_price: Decimal
    notional: Decimal  # signed, at mark
    unrealized_pnl: Decimal
    initial_margin: Decimal
    maint_margin: Decimal
    open_order_initial_margin: Decimal
    liquidation_price: Decimal | None
    break_even_price: Decimal
    leverage: int
    update_time: int


@dataclass(frozen=True)
class AccountRisk:
    """The cross-margin account totals Binance reports on /fapi/v2|v3/account."""

    wallet: Decimal
    unrealized_pnl: Decimal
    margin_balance: Decimal
    position_initial_margin: Decimal
    open_order_initial_margin: Decimal
    maint_margin: Decimal
    available_balance: Decimal
    max_withdraw: Decimal

    @property
    def initial_margin(self) -> Decimal:
        return self.position_initial_margin + self.open_order_initial_margin

    @property
    def margin_ratio(self) -> Decimal:
        """Maintenance margin over margin balance: 1 or more means liquidatable."""
        if self.margin_balance <= 0:
            return Decimal("Infinity") if self.maint_margin > 0 else ZERO
        return self.maint_margin / self.margin_balance


# --------------------------------------------------------------------------- the engine


@dataclass
class Engine:
    """All account state of one exchange user plus the market prices they trade against.

    Reduce-only orders larger than the position are clamped to the position size (origQty is
    reduced too) as Binance does; they are rejected (-2022) when flat or when they would grow.
    The sim never liquidates on its own: `account().margin_ratio >= 1` is only reported.
    """

    scenario: Scenario
    clock: Callable[[], int] = wall_clock_ms
    # Whether a non-reduce-only order under the market's min_notional is refused (MIN_NOTIONAL): on
    # the venues that publish a minimum order value (Binance, Bybit), not on those with none (OKX
    # swaps: only a minimum size). Set by the server from the dialect.
    enforce_min_notional: bool = True
    # Which order maxima are enforced, as the dialect publishes them (Dialect.order_maxima).
    order_maxima: str = "market"
    markets: dict[str, MarketState] = field(init=False)  # by Binance symbol id, e.g. BTCUSDT
    spot_balances: dict[str, Decimal] = field(init=False)
    wallet: Decimal = field(init=False)
    positions: dict[str, Position] = field(init=False)
    orders: list[Order] = field(init=False)
    income: list[Income] = field(init=False)
    transfers: list[Transfer] = field(init=False)
    dual_side_position: bool = field(init=False, default=False)
    wallet_update_time: int = field(init=False, default=0)
    _next_order_id: int = field(init=False, default=8_389_765_000)
    _next_tran_id: int = field(init=False, default=1_000_000_000)
    _next_trade_id: int = field(init=False, default=698_759_000)

    def __post_init__(self) -> None:
        self.reset()

    # ------------------------------------------------------------------ setup / persistence

    def reset(self) -> None:
        """Back to the scenario's opening state (prices, balances, positions); history is dropped."""
        sc = self.scenario
        now = self.clock()
        self.markets = {
            spec.symbol: MarketState(
                spec=spec,
                spot_price=spec.spot_price,
                mark_price=spec.mark_price,
                funding_rate=spec.funding_rate,
                leverage=min(sc.futures.leverage, spec.max_leverage),
            )
            for spec in sc.markets
        }
        assets = [QUOTE, *(s.asset for s in sc.markets if s.spot), *sc.spot]
        self.spot_balances = {asset: Decimal(sc.spot.get(asset, ZERO)) for asset in dict.fromkeys(assets)}
        self.wallet = sc.futures.wallet
        self.wallet_update_time = now
        self.positions = {
            spec.symbol: Position() for spec in sc.markets if spec.perp
        }
        for pos in sc.futures.positions:
            self.positions[pos.asset + QUOTE] = Position(pos.amount, pos.entry_price, now)
        self.orders = []
        self.income = []
        self.transfers = []
        self.dual_side_position = False
        self._next_order_id = 8_389_765_000
        self._next_tran_id = 1_000_000_000
        self._next_trade_id = 698_759_000

    def to_state(self) -> dict[str, Any]:
        """Everything a restart must keep, as JSON-ready data (Decimals as strings)."""
        return {
            "version": 1,
            "spot": {k: str(v) for k, v in self.spot_balances.items()},
            "wallet": str(self.wallet),
            "wallet_update_time": self.wallet_update_time,
            "dual_side_position": self.dual_side_position,
            "next_order_id": self._next_order_id,
            "next_tran_id": self._next_tran_id,
            "next_trade_id": self._next_trade_id,
            "markets": {
                sym: {
                    "spot_price": str(m.spot_price), "mark_price": str(m.mark_price),
                    "funding_rate": str(m.funding_rate), "leverage": m.leverage,
                    "margin_type": m.margin_type,
                }
                for sym, m in self.markets.items()
            },
            "positions": {
                sym: {"amount": str(p.amount), "entry_price": str(p.entry_price), "update_time": p.update_time}
                for sym, p in self.positions.items()
            },
            "orders": [
                {
                    **{k: (str(v) if isinstance(v, Decimal) else v) for k, v in vars(o).items()},
                    "fills": [{k: (str(v) if isinstance(v, Decimal) else v) for k, v in vars(f).items()} for f in o.fills],
                }
                for o in self.orders
            ],
            "income": [
                {k: (str(v) if isinstance(v, Decimal) else v) for k, v in vars(i).items()} for i in self.income
            ],
            "transfers": [
                {k: (str(v) if isinstance(v, Decimal) else v) for k, v in vars(x).items()} for x in self.transfers
            ],
        }

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Restore what to_state() saved; markets no longer in the scenario are ignored."""
        self.spot_balances = {k: Decimal(v) for k, v in state["spot"].items()}
        self.wallet = Decimal(state["wallet"])
        self.wallet_update_time = int(state.get("wallet_update_time", 0))
        self.dual_side_position = bool(state.get("dual_side_position", False))
        self._next_order_id = int(state["next_order_id"])
        self._next_tran_id = int(state["next_tran_id"])
        self._next_trade_id = int(state.get("next_trade_id", self._next_trade_id))
        for sym, raw in state.get("markets", {}).items():
            if sym in self.markets:
                m = self.markets[sym]
                m.spot_price, m.mark_price = Decimal(raw["spot_price"]), Decimal(raw["mark_price"])
                m.funding_rate = Decimal(raw["funding_rate"])
                m.leverage, m.margin_type = int(raw["leverage"]), raw["margin_type"]
        for sym, raw in state.get("positions", {}).items():
            if sym in self.positions:
                self.positions[sym] = Position(
                    Decimal(raw["amount"]), Decimal(raw["entry_price"]), int(raw["update_time"])
                )
        decimal_order_fields = {
            "orig_qty", "price", "executed_qty", "avg_price", "cum_quote", "commission", "realized_pnl", "stop_price",
        }
        self.orders = []
        for raw in state.get("orders", []):
            order = Order(**{
                k: (Decimal(v) if k in decimal_order_fields else v) for k, v in raw.items() if k != "fills"
            })
            if "fills" in raw:
                order.fills = [
                    Fill(**{k: (Decimal(v) if k in _FILL_DECIMALS else v) for k, v in f.items()}) for f in raw["fills"]
                ]
            elif order.executed_qty:  # a state file from before per-level fills: one trade per order
                order.fills = [Fill(order.order_id, order.avg_price, order.executed_qty, order.commission,
                                    order.realized_pnl, order.update_time)]
            self.orders.append(order)
        self.income = [Income(**{**raw, "income": Decimal(raw["income"])}) for raw in state.get("income", [])]
        self.transfers = [Transfer(**{**raw, "amount": Decimal(raw["amount"])}) for raw in state.get("transfers", [])]

    # ------------------------------------------------------------------ lookups

    def market(self, symbol: str, *, perp: bool = True) -> MarketState:
        """The market for a Binance id; -1121 if unknown or without the requested (perp/spot) side."""
        m = self.markets.get(symbol)
        if m is None or (perp and not m.spec.perp) or (not perp and not m.spec.spot):
            raise Rejection(Reason.UNKNOWN_SYMBOL)
        return m

    def perp_markets(self) -> list[MarketState]:
        return [m for m in self.markets.values() if m.spec.perp]

    def spot_markets(self) -> list[MarketState]:
        return [m for m in self.markets.values() if m.spec.spot]

    def book(self, m: MarketState, *, perp: bool = True) -> tuple[Decimal, Decimal]:
        """Best bid and ask: the mark (perp) or spot price +- half the scenario spread, on the tick grid."""
        mid = m.mark_price if perp else m.spot_price
        half = mid * self.scenario.futures.spread / TWO
        tick = m.spec.price_tick
        bid = ((mid - half) / tick).to_integral_value(ROUND_FLOOR) * tick
        ask = ((mid + half) / tick).to_integral_value(ROUND_CEILING) * tick
        return max(bid, tick), max(ask, tick)

    def find_order(self, symbol: str, order_id: int | None = None, client_order_id: str | None = None) -> Order:
        """Latest order matching the id or client id on that symbol; -2013 when there is none."""
        for order in reversed(self.orders):
            if order.symbol != symbol:
                continue
            if order_id is not None and order.order_id == order_id:
                return order
            if order_id is None and client_order_id is not None and order.client_order_id == client_order_id:
                return order
        raise Rejection(Reason.ORDER_NOT_FOUND)

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return [o for o in self.orders if o.is_open and (symbol is None or o.symbol == symbol)]

    # ------------------------------------------------------------------ valuation

    def position_risk(self, symbol: str) -> PositionRisk:
        m = self.markets[symbol]
        pos = self.positions.get(symbol, Position())
        account = self.account()
        others_u = account.unrealized_pnl - self._upnl(symbol, pos)
        others_mm = account.maint_margin - self._maint(symbol, pos)
        liq = tiered_liquidation_price(pos.amount, pos.entry_price, m.spec.brackets, self.wallet, others_u, others_mm)
        fee = self.scenario.futures.fee_rate
        break_even = pos.entry_price * (ONE + fee * sign(pos.amount)) if pos.amount else ZERO
        return PositionRisk(
            symbol=symbol,
            amount=pos.amount,
            entry_price=pos.entry_price,
            mark_price=m.mark_price,
            notional=pos.amount * m.mark_price,
            unrealized_pnl=self._upnl(symbol, pos),
            initial_margin=abs(pos.amount) * m.mark_price / m.leverage,
            maint_margin=self._maint(symbol, pos),
            open_order_initial_margin=self._open_order_margin(self.open_orders(symbol)),
            liquidation_price=liq,
            break_even_price=break_even,
            leverage=m.leverage,
            update_time=pos.update_time,
        )

    def account(self) -> AccountRisk:
        return self._account(self.positions, self.wallet, self.open_orders())

    def _upnl(self, symbol: str, pos: Position) -> Decimal:
        return pos.amount * (self.markets[symbol].mark_price - pos.entry_price)

    def _maint(self, symbol: str, pos: Position) -> Decimal:
        m = self.markets[symbol]
        return m.spec.maint_margin(abs(pos.amount) * m.mark_price)

    def max_notional(self, symbol: str) -> Decimal:
        """Binance's maxNotionalValue: the largest position notional the symbol's current leverage allows."""
        m = self.markets[symbol]
        return m.spec.max_notional(m.leverage)

    def _open_order_margin(self, orders: Iterable[Order]) -> Decimal:
        # Reduce-only orders cannot add exposure, so (like Binance) they reserve no margin.
        return sum(
            (
                (o.orig_qty - o.executed_qty) * o.price / self.markets[o.symbol].leverage
                for o in orders
                if not o.reduce_only
            ),
            ZERO,
        )

    def _account(self, positions: Mapping[str, Position], wallet: Decimal, orders: Iterable[Order]) -> AccountRisk:
        upnl = sum((self._upnl(s, p) for s, p in positions.items()), ZERO)
        position_im = sum(
            (abs(p.amount) * self.markets[s].mark_price / self.markets[s].leverage for s, p in positions.items()),
            ZERO,
        )
        maint = sum((self._maint(s, p) for s, p in positions.items()), ZERO)
        order_im = self._open_order_margin(orders)
        margin_balance = wallet + upnl
        available = max(ZERO, margin_balance - position_im - order_im)
        return AccountRisk(
            wallet=wallet,
            unrealized_pnl=upnl,
            margin_balance=margin_balance,
            position_initial_margin=position_im,
            open_order_initial_margin=order_im,
            maint_margin=maint,
            available_balance=available,
            max_withdraw=max(ZERO, min(wallet, available)),
        )

    # ------------------------------------------------------------------ orders

    def place_order(self, req: OrderRequest) -> Order:
        """Validate and execute a USDⓈ-M order; raises Rejection with a neutral reason on refusal.

        MARKET fills at the ask (buy) / bid (sell), i.e. the mark price +- half the spread.
        LIMIT fills at once at the better book price when marketable (GTX is then expired),
        otherwise GTC rests and IOC/FOK expire. With a market `depth`, taker fills walk the book
        levels (see book_levels): the part a MARKET or IOC order cannot fill expires (status
        EXPIRED, executedQty < origQty), FOK expires whole, GTC rests the remainder. Taker fee on
        immediate fills, maker fee on resting fills. Checks in Binance's order: filters
        (-1013 / -4005 / -4164), position limit at the current leverage (-2027), margin (-2019)
        for any order that opens exposure: post-trade initial margin (positions + open orders)
        must not exceed margin balance.
        """
        m = self.market(req.symbol)
        spec = m.spec
        if req.type == "STOP_MARKET":
            return self._place_stop(req, m)
        self._validate(req, m)

        pos = self.positions[req.symbol]
        side = 1 if req.side == "BUY" else -1
        quantity = req.quantity
        if req.reduce_only:
            if pos.amount == 0 or side == sign(pos.amount):
                raise Rejection(Reason.REDUCE_ONLY_REJECTED)
            quantity = min(quantity, abs(pos.amount))  # clamp, as Binance does

        bid, ask = self.book(m)
        if req.type == "MARKET":
            marketable = True
            reference = m.mark_price
        else:
            assert req.price is not None
            marketable = req.price >= ask if req.side == "BUY" else req.price <= bid
            reference = req.price
        if self.enforce_min_notional and not req.reduce_only and quantity * reference < spec.min_notional:
            raise Rejection(Reason.MIN_NOTIONAL,
                f"Order's notional must be no smaller than {plain(spec.min_notional)} (unless you choose reduce only).",
            )
        if not req.reduce_only:
            self._check_position_limit(m, pos, side * quantity)

        now = self.clock()
        order = Order(
            order_id=self._next_order_id + 1,
            client_order_id=req.client_order_id or f"sim-{self._next_order_id + 1}",
            symbol=req.symbol,
            side=req.side,
            type=req.type,
            time_in_force=(req.time_in_force if req.type == "LIMIT" else None) or "GTC",
            orig_qty=quantity,
            price=req.price or ZERO,
            reduce_only=req.reduce_only,
            time=now,
            update_time=now,
            position_side=req.position_side or "BOTH",
        )
        tif = req.time_in_force if req.type == "LIMIT" else None
        plan = self.taker_fills(m, req.side, quantity, req.price if req.type == "LIMIT" else None) if marketable else []
        filled = sum((qty for _, qty in plan), ZERO)
        if (not marketable and tif in ("IOC", "FOK")) or (marketable and tif == "GTX") or (
            tif == "FOK" and filled < quantity
        ):
            order.status = "EXPIRED"  # accepted, then expired without a fill: no margin needed
        else:
            rest = quantity - filled if tif == "GTC" else ZERO  # GTC rests what the book cannot fill
            self._check_margin(req.symbol, pos, side, plan, rest, order)
            if plan:
                self._fill(order, plan, self.scenario.futures.fee_rate, maker=False)
            if filled == quantity:
                order.status = "FILLED"
            elif rest:
                order.status = "PARTIALLY_FILLED" if filled else "NEW"
            else:
                order.status = "EXPIRED"  # MARKET / IOC: the unfilled part expires
        self._next_order_id += 1
        self.orders.append(order)
        return order

    def _place_stop(self, req: OrderRequest, m: MarketState) -> Order:
        """A reduce-only (or close-position) STOP_MARKET resting until the mark crosses its stop price,
        then filled as a market order (see trigger_stops). Reserves no margin. Refused when it would
        trigger at once (a sell stop at or above the mark, a buy stop at or below: Binance -2021)."""
        self._check_position_side(req)
        if req.side not in ("BUY", "SELL"):
            raise Rejection(Reason.BAD_SIDE, "Invalid side.")
        if req.stop_price is None or req.stop_price <= 0:
            raise Rejection(Reason.MISSING_PARAMETER, "Mandatory parameter 'stopPrice' was not sent, was empty/null, or malformed.")
        if req.stop_price % m.spec.price_tick != 0:
            raise Rejection(Reason.BAD_PRICE_TICK)
        if not (req.reduce_only or req.close_position):
            raise Rejection(Reason.UNSUPPORTED, "exchange-sim simulates reduce-only or close-position stops only.")
        if req.client_order_id is not None and any(o.client_order_id == req.client_order_id for o in self.open_orders()):
            raise Rejection(Reason.DUPLICATE_CLIENT_ID)
        quantity = ZERO
        if not req.close_position:
            if req.quantity <= 0:
                raise Rejection(Reason.QUANTITY_NOT_POSITIVE)
            if req.quantity % m.spec.base_step != 0 or req.quantity < m.spec.base_min_qty:
                raise Rejection(Reason.LOT_SIZE, "Filter failure: LOT_SIZE")
            quantity = req.quantity
        if (req.side == "SELL" and req.stop_price >= m.mark_price) or (req.side == "BUY" and req.stop_price <= m.mark_price):
            raise Rejection(Reason.STOP_WOULD_TRIGGER)
        now = self.clock()
        self._next_order_id += 1
        order = Order(
            order_id=self._next_order_id,
            client_order_id=req.client_order_id or f"sim-{self._next_order_id}",
            symbol=req.symbol, side=req.side, type="STOP_MARKET", time_in_force="GTC", orig_qty=quantity,
            price=ZERO, reduce_only=True, time=now, update_time=now, position_side=req.position_side or "BOTH",
            stop_price=req.stop_price, close_position=req.close_position, venue_type=req.venue_type,
        )
        self.orders.append(order)
        return order

    def trigger_stops(self, m: MarketState) -> list[Order]:
        """Fire the resting stops the mark has crossed (sell stops at or below, buy stops at or above),
        each filled as a reduce-only market order at the book; one whose position is gone or on its
        own side expires. Returns the stops that fired."""
        fired: list[Order] = []
        for order in [o for o in self.open_orders(m.symbol) if o.type == "STOP_MARKET"]:
            hit = m.mark_price <= order.stop_price if order.side == "SELL" else m.mark_price >= order.stop_price
            if not hit or not order.is_open:
                continue
            pos = self.positions[m.symbol]
            closes = (order.side == "SELL" and pos.amount > 0) or (order.side == "BUY" and pos.amount < 0)
            if not closes:
                order.status, order.update_time = "EXPIRED", self.clock()
                continue
            quantity = abs(pos.amount) if order.close_position else min(order.orig_qty, abs(pos.amount))
            order.orig_qty = quantity
            plan = self.taker_fills(m, order.side, quantity, None)
            if plan:
                self._fill(order, plan, self.scenario.futures.fee_rate, maker=False)
            order.status = "FILLED" if order.executed_qty == order.orig_qty else "EXPIRED"
            fired.append(order)
        return fired

    def _cancel_close_position_stops(self, symbol: str) -> None:
        """A flat position takes its close-position stops with it (nothing left to close)."""
        if self.positions[symbol].amount != 0:
            return
        for order in self.open_orders(symbol):
            if order.type == "STOP_MARKET" and order.close_position:
                order.status, order.update_time = "CANCELED", self.clock()

    # ------------------------------------------------------------------ wallet transfers

    def transfer(self, asset: str, amount: Decimal, source: str, target: str, client_id: str = "") -> Transfer:
        """Move `amount` of the quote between the spot and the futures wallet. A transfer already made
        with the same non-empty `client_id` is answered again, not repeated (idempotent)."""
        if client_id:
            done = next((x for x in self.transfers if x.client_id == client_id), None)
            if done is not None:
                return done
        if asset != QUOTE or {source, target} != {"spot", "futures"}:
            raise Rejection(Reason.UNSUPPORTED, f"exchange-sim transfers {QUOTE} between spot and futures only.")
        if amount <= 0:
            raise Rejection(Reason.QUANTITY_NOT_POSITIVE, "The transfer amount must be positive.")
        if source == "spot":
            if self.spot_balances.get(asset, ZERO) < amount:
                raise Rejection(Reason.INSUFFICIENT_BALANCE)
            self.spot_balances[asset] = self.spot_balances.get(asset, ZERO) - amount
            self.wallet += amount
            entry = self._record("", "TRANSFER", amount)
        else:
            if self.account().max_withdraw < amount:
                raise Rejection(Reason.INSUFFICIENT_BALANCE)
            self.wallet -= amount
            self.spot_balances[asset] = self.spot_balances.get(asset, ZERO) + amount
            entry = self._record("", "TRANSFER", -amount)
        self.wallet_update_time = self.clock()
        done = Transfer(entry.tran_id, asset, amount, source, target, entry.time, client_id)
        self.transfers.append(done)
        return done

    def book_levels(self, m: MarketState, side: str) -> list[tuple[Decimal, Decimal | None]]:
        """The levels a taker order on `side` meets: (price, base quantity); quantity None = unlimited.

        Without `depth` one unlimited level at the best ask (BUY) / bid (SELL). With depth, level j
        is at ask * (1 + j * depth_step) rounded up to the tick, or bid * (1 - j * depth_step)
        rounded down (never below one tick), holding depth[j].
        """
        bid, ask = self.book(m)
        spec = m.spec
        if not spec.depth:
            return [(ask if side == "BUY" else bid, None)]
        tick = spec.price_tick
        levels: list[tuple[Decimal, Decimal | None]] = []
        for j, qty in enumerate(spec.depth):
            if side == "BUY":
                price = (ask * (ONE + j * spec.depth_step) / tick).to_integral_value(ROUND_CEILING) * tick
            else:
                price = max(tick, (bid * (ONE - j * spec.depth_step) / tick).to_integral_value(ROUND_FLOOR) * tick)
            levels.append((price, qty))
        return levels

    def taker_fills(
        self, m: MarketState, side: str, quantity: Decimal, limit_price: Decimal | None = None
    ) -> list[tuple[Decimal, Decimal]]:
        """(price, qty) per level a taker order of `quantity` would fill, best first, within `limit_price`."""
        plan: list[tuple[Decimal, Decimal]] = []
        remaining = quantity
        for price, available in self.book_levels(m, side):
            if remaining <= 0:
                break
            if limit_price is not None and (price > limit_price if side == "BUY" else price < limit_price):
                break
            take = remaining if available is None else min(remaining, available)
            plan.append((price, take))
            remaining -= take
        return plan

    def _validate(self, req: OrderRequest, m: MarketState) -> None:
        """Request-level checks in Binance's order: account mode, parameters, filters (LOT_SIZE, tick)."""
        spec = m.spec
        self._check_position_side(req)
        if m.margin_type != "CROSSED":
            raise Rejection(Reason.UNSUPPORTED, "exchange-sim simulates CROSSED margin only; set marginType=CROSSED to trade."
            )
        if req.side not in ("BUY", "SELL"):
            raise Rejection(Reason.BAD_SIDE, "Invalid side.")
        if req.quantity <= 0:
            raise Rejection(Reason.QUANTITY_NOT_POSITIVE)
        if req.client_order_id is not None and any(
            o.client_order_id == req.client_order_id for o in self.open_orders()
        ):
            raise Rejection(Reason.DUPLICATE_CLIENT_ID)
        if req.type == "MARKET":
            if req.price is not None:
                raise Rejection(Reason.PRICE_NOT_ALLOWED, "Parameter 'price' sent when not required.")
        elif req.type == "LIMIT":
            if req.price is None:
                raise Rejection(Reason.MISSING_PARAMETER, "Mandatory parameter 'price' was not sent, was empty/null, or malformed.")
            if req.time_in_force is None:
                raise Rejection(Reason.MISSING_PARAMETER, "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed."
                )
            if req.time_in_force not in TIME_IN_FORCE:
                raise Rejection(Reason.BAD_TIME_IN_FORCE, "Invalid timeInForce.")
            if req.price <= 0 or req.price % spec.price_tick != 0:
                raise Rejection(Reason.BAD_PRICE_TICK)
        else:
            raise Rejection(Reason.BAD_ORDER_TYPE, "Invalid orderType.")
        # MARKET orders are bounded by MARKET_LOT_SIZE maxQty, LIMIT orders by LOT_SIZE maxQty.
        # A venue with one maximum (MEXC) bounds both by LOT_SIZE's; one that publishes none (BingX), neither.
        max_qty = spec.base_market_max_qty if req.type == "MARKET" and self.order_maxima == "market" else spec.base_max_qty
        if self.order_maxima != "none" and req.quantity > max_qty:
            raise Rejection(Reason.QUANTITY_ABOVE_MAX)
        if req.quantity % spec.base_step != 0 or req.quantity < spec.base_min_qty:
            lot = "MARKET_LOT_SIZE" if req.type == "MARKET" else "LOT_SIZE"
            raise Rejection(Reason.LOT_SIZE, f"Filter failure: {lot}")

    def _check_position_side(self, req: OrderRequest) -> None:
        side = req.position_side
        if self.dual_side_position:
            if side in (None, "BOTH"):
                raise Rejection(Reason.POSITION_SIDE_MISMATCH)
            raise Rejection(Reason.UNSUPPORTED, "exchange-sim does not simulate hedge-mode (LONG/SHORT) positions.")
        if side not in (None, "BOTH"):
            raise Rejection(Reason.POSITION_SIDE_MISMATCH)

    def _check_position_limit(self, m: MarketState, pos: Position, delta: Decimal) -> None:
        """-2027: a growing post-trade position above the notional cap the current leverage allows (at mark)."""
        after = abs(pos.amount + delta)
        if after <= abs(pos.amount):
            return
        if after * m.mark_price > m.spec.max_notional(m.leverage):
            raise Rejection(Reason.POSITION_LIMIT)

    def _check_margin(
        self, symbol: str, pos: Position, side: int, plan: list[tuple[Decimal, Decimal]], rest: Decimal, order: Order
    ) -> None:
        """-2019 unless post-trade initial margin (positions after `plan`, open orders incl. `rest`) <= margin balance."""
        filled = sum((qty for _, qty in plan), ZERO)
        delta = side * (filled + rest)
        opens_exposure = sign(pos.amount) != -sign(delta) or abs(delta) > abs(pos.amount)
        if order.reduce_only or not opens_exposure:
            return
        positions = dict(self.positions)
        wallet = self.wallet
        orders = self.open_orders()
        amount, entry = pos.amount, pos.entry_price
        for price, qty in plan:
            amount, entry, realized = fill_position(amount, entry, side * qty, price)
            wallet += realized - qty * price * self.scenario.futures.fee_rate
        positions[symbol] = Position(amount, entry)
        if rest:
            orders = [*orders, replace(order, executed_qty=filled, fills=[])]
        after = self._account(positions, wallet, orders)
        if after.initial_margin > after.margin_balance:
            raise Rejection(Reason.INSUFFICIENT_MARGIN)

    def _fill(self, order: Order, plan: list[tuple[Decimal, Decimal]], fee_rate: Decimal, *, maker: bool) -> None:
        """Trade `plan` = [(price, qty), ...] for `order`: one Fill (trade id, income rows) per level.

        Position, wallet, realized P&L and commission move by exactly the filled part; the caller
        sets the order's final status.
        """
        side = 1 if order.side == "BUY" else -1
        now = self.clock()
        for price, qty in plan:
            pos = self.positions[order.symbol]
            amount, entry, realized = fill_position(pos.amount, pos.entry_price, side * qty, price)
            fee = qty * price * fee_rate
            self.positions[order.symbol] = Position(amount, entry, now)
            self.wallet += realized - fee
            self._next_trade_id += 1
            trade_id = self._next_trade_id
            order.fills.append(Fill(trade_id, price, qty, fee, realized, now, maker))
            order.executed_qty += qty
            order.cum_quote += qty * price
            order.commission += fee
            order.realized_pnl += realized
            if realized:
                self._record(order.symbol, "REALIZED_PNL", realized, str(trade_id))
            if fee:
                self._record(order.symbol, "COMMISSION", -fee, str(trade_id))
        if order.executed_qty:
            order.avg_price = order.cum_quote / order.executed_qty
        self.wallet_update_time = now
        order.update_time = now
        self._cancel_close_position_stops(order.symbol)

    def _record(self, symbol: str, income_type: str, amount: Decimal, trade_id: str = "") -> Income:
        self._next_tran_id += 1
        entry = Income(self._next_tran_id, symbol, income_type, amount, self.clock(), trade_id=trade_id)
        self.income.append(entry)
        return entry

    def cancel_order(self, symbol: str, order_id: int | None = None, client_order_id: str | None = None) -> Order:
        """Cancel an open order; -2011 when it is unknown or no longer open (as Binance answers)."""
        try:
            order = self.find_order(symbol, order_id, client_order_id)
        except Rejection:
            raise Rejection(Reason.CANCEL_UNKNOWN_ORDER) from None
        if not order.is_open:
            raise Rejection(Reason.CANCEL_UNKNOWN_ORDER)
        order.status = "CANCELED"
        order.update_time = self.clock()
        return order

    def _match_resting(self, m: MarketState) -> list[Order]:
        """Fill resting limit orders the new book crosses, at their limit price with the maker fee."""
        bid, ask = self.book(m)
        filled = []
        for order in self.open_orders(m.symbol):
            if order.type == "STOP_MARKET":
                continue  # a stop has no limit price: trigger_stops fires it on the mark
            crossed = ask <= order.price if order.side == "BUY" else bid >= order.price
            if not crossed:
                continue
            pos = self.positions[m.symbol]
            if order.reduce_only:
                if pos.amount == 0 or sign(order.signed_qty) == sign(pos.amount):
                    order.status, order.update_time = "EXPIRED", self.clock()
                    continue
                remaining = order.orig_qty - order.executed_qty
                order.orig_qty = order.executed_qty + min(remaining, abs(pos.amount))
            plan = [(order.price, order.orig_qty - order.executed_qty)]
            self._fill(order, plan, self.scenario.futures.maker_fee_rate, maker=True)
            order.status = "FILLED"
            filled.append(order)
        return filled

    # ------------------------------------------------------------------ account settings

    def set_leverage(self, symbol: str, leverage: int) -> MarketState:
        m = self.market(symbol)
        if not 1 <= leverage <= m.spec.max_leverage:
            raise Rejection(Reason.BAD_LEVERAGE, f"Leverage {leverage} is not valid")
        notional = abs(self.positions[m.symbol].amount) * m.mark_price
        if notional > m.spec.max_notional(leverage):
            raise Rejection(Reason.POSITION_LIMIT)  # the position is above what that leverage allows
        previous, m.leverage = m.leverage, leverage
        account = self.account()
        if account.initial_margin > account.margin_balance:
            m.leverage = previous
            raise Rejection(Reason.LEVERAGE_INSUFFICIENT_MARGIN)
        return m

    def set_margin_type(self, symbol: str, margin_type: str) -> None:
        """Switch CROSSED/ISOLATED while flat (as Binance requires: -4047/-4048 otherwise).

        ISOLATED is only a recorded setting: orders on an ISOLATED symbol are refused, so every
        position the sim ever holds is cross margin and the cross formulas stay valid.
        """
        m = self.market(symbol)
        if margin_type not in ("CROSSED", "ISOLATED"):
            raise Rejection(Reason.MISSING_PARAMETER, "Mandatory parameter 'marginType' was not sent, was empty/null, or malformed.")
        if margin_type == m.margin_type:
            raise Rejection(Reason.MARGIN_MODE_UNCHANGED)
        if self.open_orders(symbol):
            raise Rejection(Reason.MARGIN_MODE_OPEN_ORDERS, "Margin type cannot be changed if there exists open orders.")
        if self.positions[symbol].amount:
            raise Rejection(Reason.MARGIN_MODE_POSITION, "Margin type cannot be changed if there exists position.")
        m.margin_type = margin_type

    def set_dual_side(self, dual: bool) -> None:
        if dual == self.dual_side_position:
            raise Rejection(Reason.POSITION_MODE_UNCHANGED)
        if any(p.amount for p in self.positions.values()) or self.open_orders():
            raise Rejection(Reason.POSITION_MODE_POSITION)
        self.dual_side_position = dual

    # ------------------------------------------------------------------ market moves (admin)

    def set_prices(self, asset: str, spot: Decimal | None = None, mark: Decimal | None = None) -> list[Order]:
        """Move an asset's spot and/or mark price; returns the resting orders that filled."""
        m = self.markets.get(asset + QUOTE)
        if m is None:
            raise KeyError(asset)
        for value in (spot, mark):
            if value is not None and value <= 0:
                raise ValueError(f"{asset}: prices must be > 0")
        if spot is not None:
            m.spot_price = spot
        if mark is not None:
            m.mark_price = mark
        return (self._match_resting(m) + self.trigger_stops(m)) if m.spec.perp else []

    def set_funding_rate(self, asset: str, rate: Decimal) -> None:
        m = self.markets.get(asset + QUOTE)
        if m is None or not m.spec.perp:
            raise KeyError(asset)
        m.funding_rate = rate

    def settle_funding(self, hours: int | None = None) -> list[Income]:
        """Pay funding on every open position: wallet moves by -amount * mark * rate (longs pay when > 0).

        Without `hours`: each symbol's next funding time comes once (one payment per position,
        whatever its interval). With `hours`: that much time passes, so a symbol pays
        hours // funding_interval_hours times (8 hours: 1h symbols 8 payments, 4h 2, 8h 1), one
        FUNDING_FEE entry each; a symbol whose interval is longer than `hours` pays nothing.
        """
        if hours is not None and hours < 1:
            raise ValueError(f"hours must be a positive integer, got {hours!r}")
        paid = []
        for symbol, pos in self.positions.items():
            if pos.amount == 0:
                continue
            m = self.markets[symbol]
            times = 1 if hours is None else hours // m.spec.funding_interval_hours
            for _ in range(times):
                payment = -pos.amount * m.mark_price * m.funding_rate
                self.wallet += payment
                paid.append(self._record(symbol, "FUNDING_FEE", payment))
        if paid:
            self.wallet_update_time = self.clock()
        return paid

    def next_funding_time(self, m: MarketState) -> int:
        interval = m.spec.funding_interval_hours * 3_600_000
        return (self.clock() // interval + 1) * interval

    def set_spot_balance(self, asset: str, amount: Decimal) -> None:
        if amount < 0:
            raise ValueError(f"spot.{asset}: must be >= 0")
        self.spot_balances[asset] = amount

    def set_wallet(self, amount: Decimal) -> None:
        self.wallet = amount
        self.wallet_update_time = self.clock()

    # ------------------------------------------------------------------ admin view

    def state_view(self) -> dict[str, Any]:
        """The `GET /_sim/state` body except `requests`/`faults` (the server adds those)."""
        account = self.account()
        positions = {}
        for symbol, pos in self.positions.items():
            if pos.amount == 0:
                continue
            risk = self.position_risk(symbol)
            positions[self.markets[symbol].asset] = {
                "symbol": symbol,
                "amount": plain(risk.amount),
                "contracts": plain(risk.amount / self.markets[symbol].spec.contract_size),
                "entry_price": plain(risk.entry_price),
                "mark_price": plain(risk.mark_price),
                "notional": plain(risk.notional),
                "unrealized_pnl": plain(risk.unrealized_pnl),
                "liquidation_price": None if risk.liquidation_price is None else fixed(risk.liquidation_price),
                "leverage": risk.leverage,
                "initial_margin": plain(risk.initial_margin),
                "maint_margin": plain(risk.maint_margin),
            }
        return {
            "time": self.clock(),
            "spot": {asset: plain(amount) for asset, amount in self.spot_balances.items()},
            "futures": {
                "wallet": plain(account.wallet),
                "unrealized_pnl": plain(account.unrealized_pnl),
                "margin_balance": plain(account.margin_balance),
                "initial_margin": plain(account.initial_margin),
                "maint_margin": plain(account.maint_margin),
                "available_balance": plain(account.available_balance),
                "margin_ratio": plain(account.margin_ratio) if account.margin_ratio.is_finite() else "Infinity",
                "liquidatable": account.margin_ratio >= 1,
                "dual_side_position": self.dual_side_position,
                "positions": positions,
            },
            "markets": {
                m.asset: {
                    "symbol": m.symbol, "spot": plain(m.spot_price), "mark": plain(m.mark_price),
                    "funding_rate": plain(m.funding_rate), "leverage": m.leverage,
                    "margin_type": m.margin_type, "has_spot": m.spec.spot, "has_perp": m.spec.perp,
                }
                for m in self.markets.values()
            },
            "orders": [
                {
                    "order_id": o.order_id, "client_order_id": o.client_order_id, "symbol": o.symbol,
                    "side": o.side, "type": o.type, "time_in_force": o.time_in_force, "status": o.status,
                    "orig_qty": plain(o.orig_qty), "executed_qty": plain(o.executed_qty),
                    "price": plain(o.price), "avg_price": plain(o.avg_price), "cum_quote": plain(o.cum_quote),
                    "commission": plain(o.commission), "realized_pnl": plain(o.realized_pnl),
                    "reduce_only": o.reduce_only, "time": o.time, "update_time": o.update_time,
                    "stop_price": plain(o.stop_price), "close_position": o.close_position,
                    "fills": [
                        {"trade_id": f.trade_id, "price": plain(f.price), "qty": plain(f.qty),
                         "commission": plain(f.commission), "maker": f.maker}
                        for f in o.fills
                    ],
                }
                for o in self.orders
            ],
            "income": [
                {"tran_id": i.tran_id, "symbol": i.symbol, "income_type": i.income_type,
                 "income": plain(i.income), "time": i.time}
                for i in self.income
            ],
            "open_orders": [
                {"order_id": o.order_id, "client_order_id": o.client_order_id, "symbol": o.symbol, "side": o.side,
                 "type": o.type, "reduce_only": o.reduce_only, "close_position": o.close_position,
                 "trigger_price": plain(o.stop_price) if o.type == "STOP_MARKET" else None,
                 "orig_qty": plain(o.orig_qty), "price": plain(o.price)}
                for o in self.orders if o.is_open
            ],
            "transfers": [
                {"tran_id": x.tran_id, "asset": x.asset, "amount": plain(x.amount), "from": x.source,
                 "to": x.target, "time": x.time, "client_id": x.client_id}
                for x in self.transfers
            ],
        }


__all__ = [
    "AccountRisk", "Engine", "Fill", "Income", "MarketState", "Order", "OrderRequest",
    "Position", "PositionRisk", "Transfer", "SimClock", "cross_liquidation_price", "fill_position", "tiered_liquidation_price",
    "plain", "fixed", "decimals_of",
]
