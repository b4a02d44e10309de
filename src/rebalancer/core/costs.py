"""The spot-equivalent route of `rebalancer report` (issue 15): what the hedge adjustments the bot made
would have cost as spot trades, and the comparison with what the hedges cost.

Pure: no I/O, no clock, Decimal only. A perp adjustment of signed base amount x on asset a (+ bought,
- sold; a short perp is a spot sale) corresponds to a spot trade of the same x on the spot venue at its
spot price then. The counterfactual spot portfolio starts from the holdings at the start (one lot per
asset at `cost_basis`) and evolves trade by trade:

- a trade's spot fee is |x| * price * spot_fee_rate;
- a sale realises (price - cost) * amount, the cost being the average cost of the holding (`average`)
  or the oldest lots' prices (`fifo`; a buy adds a lot at its price). A sale beyond the holding opens a
  short lot at the sale price, which a later buy closes (realising (sale price - buy price) * amount), so
  both methods stay defined whatever the adjustments were;
- tax = max(realised gains, 0) * tax_rate. Losses offset gains within what the figure covers: within the
  asset for an asset's own figure, across every asset for the report's total (one window, no loss carried
  forward). The total tax can therefore be less than the sum of the assets' taxes. With tax_rate 0 the tax
  is 0 even where the gains are unknown.

Unknown inputs (no cost basis for a starting holding, no spot price for a trade) make the figures they
reach None, never 0: a sale from a lot of unknown cost has unknown gains; a trade at an unknown price has
an unknown fee.

The comparison (the report's `saving`):
    synthetic cost = perp fees - funding (funding > 0 received)
    spot cost      = spot fees + tax
    saving         = spot cost - synthetic cost
Hedge P&L is reported but not counted: the hedge's gain or loss is the spot route's own market move on the
traded amount (DOMAIN example 2: the perps' +$200 is the spot that the spot route would have sold and
bought moving -$200), so both routes carry the same exposure and the P&L differs only by the basis between
perp and spot prices, which is not a cost of either. Realised gains are not a cost either; their tax is.

Break-even: the days the current hedges can stay open before their funding cost (per day, > 0 paid) eats
the saving: saving / cost per day; 0 once the saving is gone; None when the hedges receive funding or cost
nothing (no hedge held), or a figure is unknown.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from .pnl import fill_position

__all__ = [
    "Adjustment",
    "AssetRoute",
    "SpotRoute",
    "SpotTrade",
    "add",
    "breakeven_days",
    "saving",
    "spot_cost",
    "spot_equivalent",
    "synthetic_cost",
    "tax_on",
]

ZERO = Decimal(0)
METHODS = ("average", "fifo")


def add(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return None if a is None or b is None else a + b


@dataclass(frozen=True)
class Adjustment:
    """One hedge adjustment the bot made: `amount` signed base units (+ bought perp / - sold perp),
    `price` the spot venue's price of the asset then (None: not known). `ref` names it (client order id)."""

    at: datetime
    asset: str
    amount: Decimal
    price: Decimal | None
    ref: str = ""


@dataclass(frozen=True)
class SpotTrade:
    """The spot trade one adjustment corresponds to, and what it did to the counterfactual portfolio.
    `counted` False: before the report's window (it shaped the portfolio, its figures are not counted)."""

    adjustment: Adjustment
    notional: Decimal | None  # |amount| * price
    fee: Decimal | None
    realised: Decimal | None  # 0 for a trade that closes nothing
    holding_after: Decimal
    counted: bool = True


@dataclass(frozen=True)
class AssetRoute:
    """One asset's spot-equivalent figures over the window; `holding` the counterfactual holding at the end."""

    asset: str
    fees: Decimal | None
    realized_gains: Decimal | None
    tax: Decimal | None
    trades: int
    holding: Decimal
    cost_basis: Decimal | None  # the starting holding's (None: not configured)


@dataclass(frozen=True)
class SpotRoute:
    method: str
    spot_fee_rate: Decimal
    tax_rate: Decimal
    assets: tuple[AssetRoute, ...]
    trades: tuple[SpotTrade, ...] = field(default=())

    @property
    def fees(self) -> Decimal | None:
        return _sum(a.fees for a in self.assets)

    @property
    def realized_gains(self) -> Decimal | None:
        return _sum(a.realized_gains for a in self.assets)

    @property
    def tax(self) -> Decimal | None:
        """Losses offset gains across every asset (see the module's doc)."""
        return tax_on(self.realized_gains, self.tax_rate)

    @property
    def cost(self) -> Decimal | None:
        return spot_cost(self.fees, self.tax)


def _sum(values: Iterable[Decimal | None]) -> Decimal | None:
    total: Decimal | None = ZERO
    for v in values:
        total = add(total, v)
    return total


def tax_on(realised: Decimal | None, tax_rate: Decimal) -> Decimal | None:
    """max(realised, 0) * tax_rate; 0 at a 0 rate whatever the gains; None when gains are unknown."""
    if tax_rate == 0:
        return ZERO
    if realised is None:
        return None
    return max(realised, ZERO) * tax_rate


def spot_cost(fees: Decimal | None, tax: Decimal | None) -> Decimal | None:
    return add(fees, tax)


def synthetic_cost(fees: Decimal | None, funding: Decimal | None) -> Decimal | None:
    """Perp fees (> 0 paid) minus funding (> 0 received). Hedge P&L is not a cost (module doc)."""
    return None if fees is None or funding is None else fees - funding


def saving(spot: Decimal | None, synthetic: Decimal | None) -> Decimal | None:
    """What the synthetic route saved against the spot route (> 0: the hedges were cheaper)."""
    return None if spot is None or synthetic is None else spot - synthetic


def breakeven_days(saving_now: Decimal | None, funding_cost_per_day: Decimal | None) -> Decimal | None:
    """Days until funding at `funding_cost_per_day` (> 0 paid) eats `saving_now`: 0 when there is no
    saving left; None when the hedges receive funding or cost nothing, or a figure is unknown."""
    if saving_now is None or funding_cost_per_day is None or funding_cost_per_day <= 0:
        return None
    if saving_now <= 0:
        return ZERO
    return saving_now / funding_cost_per_day


# --------------------------------------------------------------------------- the counterfactual portfolio


class _Average:
    """Average cost of a signed holding; `cost` None once unknown (until the holding is flat again)."""

    def __init__(self, amount: Decimal, cost: Decimal | None):
        self.amount = amount
        self.cost = ZERO if amount == 0 else cost

    def trade(self, delta: Decimal, price: Decimal | None) -> Decimal | None:
        amount = self.amount
        new_amount = amount + delta
        growing = amount == 0 or (amount > 0) == (delta > 0)
        if price is None or (self.cost is None and amount != 0):
            # the realised figure needs both; growing from flat at an unknown price leaves the cost unknown
            realised = ZERO if growing else None
            self.amount = new_amount
            if new_amount == 0:
                self.cost = ZERO
            elif growing or (new_amount > 0) != (amount > 0):
                self.cost = None if price is None or growing else price
            return realised
        self.amount, cost, realised = fill_position(amount, self.cost or ZERO, delta, price)
        self.cost = cost
        return realised


class _Fifo:
    """Lots oldest first, each (signed amount, cost or None); a trade closes lots of the other side first."""

    def __init__(self, amount: Decimal, cost: Decimal | None):
        self.lots: deque[list] = deque([[amount, cost]] if amount != 0 else [])

    @property
    def amount(self) -> Decimal:
        return sum((lot[0] for lot in self.lots), ZERO)

    def trade(self, delta: Decimal, price: Decimal | None) -> Decimal | None:
        realised: Decimal | None = ZERO
        left = delta
        while left != 0 and self.lots and (self.lots[0][0] > 0) != (left > 0):
            lot = self.lots[0]
            closed = min(abs(left), abs(lot[0]))
            sign = 1 if lot[0] > 0 else -1  # a long lot closed by a sale: (price - cost) * closed
            gain = None if price is None or lot[1] is None else (price - lot[1]) * closed * sign
            realised = add(realised, gain)
            lot[0] -= closed * sign
            left += closed * sign
            if lot[0] == 0:
                self.lots.popleft()
        if left != 0:
            self.lots.append([left, price])
        return realised


def spot_equivalent(adjustments: Iterable[Adjustment], holdings: Mapping[str, Decimal],
                    cost_basis: Mapping[str, Decimal], *, method: str, spot_fee_rate: Decimal,
                    tax_rate: Decimal, since: datetime | None = None) -> SpotRoute:
    """The adjustments (oldest first: they are sorted by time, stably) as spot trades on a portfolio that
    starts at `holdings` (base units per asset) at `cost_basis` (quote per coin). Every adjustment moves the
    portfolio; fees and gains count from `since` on (None: all)."""
    if method not in METHODS:
        raise ValueError(f"unknown cost method {method!r}; one of {', '.join(METHODS)}")
    book: dict[str, _Average | _Fifo] = {}
    kind = _Average if method == "average" else _Fifo

    def holding(asset: str) -> _Average | _Fifo:
        if asset not in book:
            book[asset] = kind(holdings.get(asset, ZERO), cost_basis.get(asset))
        return book[asset]

    for asset in holdings:
        holding(asset)
    trades: list[SpotTrade] = []
    per_asset: dict[str, list] = {}
    for adj in sorted(adjustments, key=lambda a: a.at):
        if adj.amount == 0:
            continue
        h = holding(adj.asset)
        realised = h.trade(adj.amount, adj.price)
        notional = None if adj.price is None else abs(adj.amount) * adj.price
        fee = None if notional is None else notional * spot_fee_rate
        counted = since is None or adj.at >= since
        trades.append(SpotTrade(adj, notional, fee, realised, h.amount, counted))
        if counted:
            row = per_asset.setdefault(adj.asset, [ZERO, ZERO, 0])
            row[0], row[1], row[2] = add(row[0], fee), add(row[1], realised), row[2] + 1
    assets = []
    for asset in sorted(book):
        fees, realised, count = per_asset.get(asset, [ZERO, ZERO, 0])
        assets.append(AssetRoute(asset, fees, realised, tax_on(realised, tax_rate), count, book[asset].amount,
                                 cost_basis.get(asset)))
    return SpotRoute(method, spot_fee_rate, tax_rate, tuple(assets), tuple(trades))
