"""The risk gate: approve, scale or deny each planned order, failing closed on missing data.

Each check is a small function returning a Finding (a stable code + numbers) or None; the gate
composes them and reports margin usage, funding cost, stressed equity and liquidation distances.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Callable, Iterable

from .domain import (
    ONE,
    ZERO,
    Finding,
    Plan,
    PlannedOrder,
    RiskLimits,
    Side,
    Snapshot,
    TradingState,
    Verdict,
)
from .planner import round_to_step, size_ok

# Funding convention of every major perp venue: a positive rate means longs pay shorts.
# (DOMAIN.md states the opposite; see README "Funding sign" for why the code follows the venues.)


@dataclass(frozen=True)
class Context:
    snapshot: Snapshot
    limits: RiskLimits
    now: datetime
    state: TradingState
    max_age_s: float = 60.0  # limits.max_price_age_s as a float: ages are compared, not summed


OrderCheck = Callable[[PlannedOrder, Context], Finding | None]


def check_state(order: PlannedOrder, ctx: Context) -> Finding | None:
    if ctx.state is TradingState.HALTED:
        return Finding("HALTED", order.symbol, "kill switch is on: no orders are sent")
    if ctx.state is TradingState.REDUCING and not order.reduce_only:
        return Finding("REDUCING", order.symbol, "trading state is REDUCING: only reduce-only orders pass")
    return None


def check_prices(order: PlannedOrder, ctx: Context) -> Finding | None:
    for kind, book in (("spot", ctx.snapshot.spot_prices), ("mark", ctx.snapshot.mark_prices)):
        quote = book.get(order.asset)
        if quote is None or quote.price <= 0:
            return Finding("NO_PRICE", order.symbol, f"no {kind} price for {order.asset}")
        age = (ctx.now - quote.timestamp).total_seconds()
        if age > ctx.max_age_s:
            return Finding(
                "STALE_PRICE",
                order.symbol,
                f"{kind} price of {order.asset} is {age:.1f}s old (max {ctx.limits.max_price_age_s}s)",
            )
    return None


def check_basis(order: PlannedOrder, ctx: Context) -> Finding | None:
    spot = ctx.snapshot.spot_prices.get(order.asset)
    mark = ctx.snapshot.mark_prices.get(order.asset)
    if spot is None or mark is None or spot.price <= 0:
        return Finding("NO_PRICE", order.symbol, f"cannot compute the basis of {order.asset}")
    basis = mark.price / spot.price - ONE
    if abs(basis) > ctx.limits.max_basis:
        return Finding(
            "BASIS", order.symbol, f"basis {basis:.4%} exceeds max_basis {ctx.limits.max_basis:.4%}"
        )
    return None


def check_funding(order: PlannedOrder, ctx: Context) -> Finding | None:
    if order.reduce_only:
        return None
    funding = ctx.snapshot.funding.get(order.asset)
    if funding is None:
        return Finding("FUNDING", order.symbol, f"no funding rate for {order.asset}")
    pays = (order.side is Side.BUY and funding.rate > 0) or (order.side is Side.SELL and funding.rate < 0)
    apr = abs(funding.rate) * funding.periods_per_year
    if pays and apr > ctx.limits.max_funding_apr:
        return Finding(
            "FUNDING",
            order.symbol,
            f"{order.side.value} grows the paying side: funding {funding.rate} per "
            f"{funding.interval_hours}h = {apr:.2%} a year > max_funding_apr {ctx.limits.max_funding_apr:.2%}",
        )
    return None


def check_order_notional(order: PlannedOrder, ctx: Context) -> Finding | None:
    if order.notional > ctx.limits.max_order_notional:
        return Finding(
            "MAX_ORDER_NOTIONAL",
            order.symbol,
            f"notional {order.notional:.2f} > max_order_notional {ctx.limits.max_order_notional}",
        )
    return None


def check_asset(order: PlannedOrder, ctx: Context) -> Finding | None:
    """Price presence, freshness and basis: per asset, so one answer serves all its orders."""
    return check_prices(order, ctx) or check_basis(order, ctx)


ORDER_CHECKS: tuple[OrderCheck, ...] = (
    check_state,
    check_asset,
    check_funding,
    check_order_notional,
)


# --------------------------------------------------------------------------- book-level checks


@dataclass(frozen=True)
class Book:
    """Post-trade position sizes as a linear bound in the scale k: |h_a(k)| <= fixed_a + k * grow_a."""

    fixed: dict[str, Decimal]  # |position| after reduce-only orders, base units
    grow: dict[str, Decimal]  # |base| of position-growing orders
    sign: dict[str, int]  # direction of the post-trade position at k = 1
    marks: dict[str, Decimal]


def build_book(snapshot: Snapshot, orders: Iterable[PlannedOrder]) -> Book:
    fixed_signed: dict[str, Decimal] = {a: p.amount for a, p in snapshot.positions.items()}
    grow: dict[str, Decimal] = {}
    grow_signed: dict[str, Decimal] = {}
    for o in orders:
        if o.reduce_only:
            fixed_signed[o.asset] = fixed_signed.get(o.asset, ZERO) + o.signed_base
        else:
            grow[o.asset] = grow.get(o.asset, ZERO) + o.base_amount
            grow_signed[o.asset] = grow_signed.get(o.asset, ZERO) + o.signed_base
    marks: dict[str, Decimal] = {}
    sign: dict[str, int] = {}
    for asset in set(fixed_signed) | set(grow):
        quote = snapshot.mark_prices.get(asset)
        marks[asset] = quote.price if quote is not None else ZERO
        final = fixed_signed.get(asset, ZERO) + grow_signed.get(asset, ZERO)
        sign[asset] = 1 if final > 0 else -1 if final < 0 else 0
    return Book({a: abs(v) for a, v in fixed_signed.items()}, grow, sign, marks)


def _solve_scale(fixed: Decimal, growing: Decimal, limit: Decimal) -> Decimal:
    """Largest k in [0, 1] with fixed + k * growing <= limit."""
    if fixed + growing <= limit:
        return ONE
    if growing <= 0 or limit <= fixed:
        return ZERO
    return min(ONE, (limit - fixed) / growing)


def margin_scale(book: Book, ctx: Context) -> tuple[Decimal, Finding | None]:
    account = ctx.snapshot.account
    lev = ctx.limits.leverage
    fixed = sum((book.fixed.get(a, ZERO) * m for a, m in book.marks.items()), ZERO) / lev
    growing = sum((book.grow.get(a, ZERO) * m for a, m in book.marks.items()), ZERO) / lev
    if account is None:
        return ZERO, Finding("MARGIN", None, "hedge account equity is unknown")
    limit = ctx.limits.max_margin_usage * account.equity
    k = _solve_scale(fixed, growing, limit)
    if k < 1:
        return k, Finding(
            "MARGIN",
            None,
            f"post-trade initial margin {fixed + growing:.2f} > {ctx.limits.max_margin_usage} x equity "
            f"{account.equity:.2f} = {limit:.2f}",
        )
    return k, None


def _stress_factor(asset: str, book: Book, ctx: Context) -> Decimal:
    """Loss plus shocked maintenance per unit of |position|, at a move of min_liquidation_distance."""
    d = ctx.limits.min_liquidation_distance
    market = ctx.snapshot.markets.get(asset)
    mmr = market.mmr if market is not None and market.mmr is not None else ctx.limits.default_mmr
    shocked = book.marks[asset] * (ONE - d if book.sign.get(asset, 0) > 0 else ONE + d)
    return book.marks[asset] * d + shocked * mmr


def liquidation_scale(book: Book, ctx: Context) -> tuple[Decimal, Finding | None]:
    account = ctx.snapshot.account
    if account is None:
        return ZERO, Finding("LIQUIDATION", None, "hedge account equity is unknown")
    factors = {a: _stress_factor(a, book, ctx) for a in book.marks}
    fixed = sum((book.fixed.get(a, ZERO) * f for a, f in factors.items()), ZERO)
    growing = sum((book.grow.get(a, ZERO) * f for a, f in factors.items()), ZERO)
    k = _solve_scale(fixed, growing, account.equity)
    if k < 1:
        return k, Finding(
            "LIQUIDATION",
            None,
            f"a {ctx.limits.min_liquidation_distance:.0%} move against every position would leave equity "
            f"{account.equity - fixed - growing:.2f} under maintenance",
        )
    return k, None


def gross_scale(book: Book, ctx: Context, nav: Decimal) -> tuple[Decimal, Finding | None]:
    fixed = sum((book.fixed.get(a, ZERO) * m for a, m in book.marks.items()), ZERO)
    growing = sum((book.grow.get(a, ZERO) * m for a, m in book.marks.items()), ZERO)
    limit = ctx.limits.max_gross_ratio * nav
    k = _solve_scale(fixed, growing, limit)
    if k < 1:
        return k, Finding(
            "MAX_GROSS",
            None,
            f"post-trade gross notional {fixed + growing:.2f} > {ctx.limits.max_gross_ratio} x NAV {nav:.2f}",
        )
    return k, None


# --------------------------------------------------------------------------- the gate


def trading_state(snapshot: Snapshot, limits: RiskLimits) -> tuple[TradingState, list[Finding], dict[str, Decimal]]:
    """HALTED by the kill switch, REDUCING by the operator or a position near liquidation."""
    warnings: list[Finding] = []
    distances: dict[str, Decimal] = {}
    near = False
    for asset, pos in snapshot.positions.items():
        mark = snapshot.mark_prices.get(asset)
        if pos.liquidation_price is None or mark is None or mark.price <= 0 or pos.amount == 0:
            continue
        distance = abs(pos.liquidation_price - mark.price) / mark.price
        distances[pos.symbol] = distance
        if distance < limits.min_liquidation_distance:
            near = True
            warnings.append(
                Finding(
                    "LIQUIDATION",
                    pos.symbol,
                    f"liquidation price {pos.liquidation_price} is {distance:.2%} from mark "
                    f"{mark.price} (< {limits.min_liquidation_distance:.0%}): state REDUCING",
                )
            )
    if limits.halted:
        return TradingState.HALTED, warnings, distances
    if limits.reducing or near:
        return TradingState.REDUCING, warnings, distances
    return TradingState.ACTIVE, warnings, distances


def gate(
    snapshot: Snapshot,
    plan: Plan,
    limits: RiskLimits,
    *,
    now: datetime,
    min_order_notional: Decimal = Decimal(10),
) -> Verdict:
    """Run every check over the plan; return the approved (maybe scaled) orders and the denials."""
    state, warnings, distances = trading_state(snapshot, limits)
    ctx = Context(snapshot, limits, now, state, float(limits.max_price_age_s))

    denials: list[Finding] = []
    passed: list[PlannedOrder] = []
    for order in plan.orders:
        finding = _first_finding(order, ctx)
        if finding is None:
            passed.append(order)
        else:
            denials.append(finding)

    book = build_book(snapshot, passed)
    scale = ONE
    scaled_by: list[Finding] = []
    if any(not o.reduce_only for o in passed):
        for k, finding in (margin_scale(book, ctx), liquidation_scale(book, ctx), gross_scale(book, ctx, plan.nav)):
            if finding is not None:
                scaled_by.append(finding)
            scale = min(scale, k)

    approved: list[PlannedOrder] = []
    for order in passed:
        if order.reduce_only or scale == ONE:
            approved.append(order)
            continue
        scaled = _scale_order(order, scale, snapshot)
        problem = None if scaled is None else size_ok(
            snapshot.markets[order.asset], scaled.amount, scaled.notional, min_order_notional
        )
        if scaled is None or problem is not None:
            codes = "/".join(f.code for f in scaled_by) or "MARGIN"
            reason = "scale is zero" if scaled is None else problem
            denials.append(Finding(codes, order.symbol, f"scaled by {scale:.4f}: {reason}"))
        else:
            approved.append(scaled)

    return Verdict(
        state=state,
        approved=tuple(approved),
        denials=tuple(denials),
        scale=scale,
        scaled_by=tuple(scaled_by),
        warnings=tuple(warnings),
        liquidation_distances=distances,
        **_report(post_trade_positions(snapshot, approved), ctx),
    )


def _first_finding(order: PlannedOrder, ctx: Context) -> Finding | None:
    for check in ORDER_CHECKS:
        finding = check(order, ctx)
        if finding is not None:
            return finding
    return None


def _scale_order(order: PlannedOrder, k: Decimal, snapshot: Snapshot) -> PlannedOrder | None:
    if k <= 0:
        return None
    market = snapshot.markets[order.asset]
    contracts = round_to_step(order.amount * k, market.amount_step)
    return replace(order, amount=contracts, base_amount=contracts * market.contract_size)


def post_trade_positions(snapshot: Snapshot, orders: Iterable[PlannedOrder]) -> dict[str, Decimal]:
    """Signed positions (base units) that perfect execution of `orders` would leave."""
    positions = {a: p.amount for a, p in snapshot.positions.items()}
    for o in orders:
        positions[o.asset] = positions.get(o.asset, ZERO) + o.signed_base
    return positions


def _report(positions: dict[str, Decimal], ctx: Context) -> dict[str, Decimal | None]:
    """Margin usage, funding cost per day (positive = you pay) and the stress test of the book."""
    snap, limits = ctx.snapshot, ctx.limits
    d = limits.min_liquidation_distance
    notional = funding_cost = loss = maint = ZERO
    for asset, h in positions.items():
        quote = snap.mark_prices.get(asset)
        if h == 0 or quote is None:
            continue
        m = quote.price
        notional += abs(h) * m
        funding = snap.funding.get(asset)
        if funding is not None:
            funding_cost += h * m * funding.rate * funding.periods_per_day
        market = snap.markets.get(asset)
        mmr = market.mmr if market is not None and market.mmr is not None else limits.default_mmr
        loss += abs(h) * m * d
        maint += abs(h) * m * (ONE - d if h > 0 else ONE + d) * mmr
    account = snap.account
    return {
        "margin_usage": notional / limits.leverage / account.equity if account and account.equity > 0 else None,
        "funding_cost_per_day": funding_cost,
        "stressed_equity": account.equity - loss if account else None,
        "stressed_maintenance": maint,
    }
