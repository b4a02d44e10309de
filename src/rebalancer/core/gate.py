"""The risk gate: checks -> boxes and scale constraints -> the balanced book -> orders (DOMAIN.md).

Pure: a frozen snapshot and plan in, a Verdict out (approved legs, denied legs with their codes,
the scale k, boxes, the net residual and the risk report). No I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal
from typing import Iterable, Mapping

from ..domain import (
    ONE,
    ZERO,
    Box,
    Finding,
    Market,
    Plan,
    PlannedOrder,
    RiskLimits,
    Side,
    Skipped,
    Snapshot,
    TradingState,
    Verdict,
    evolve,
)
from .checks import NOT_DENIALS, AssetView, Context, asset_bounds, scale_checks, stressed
from .solver import Leg, solve_net


# --------------------------------------------------------------------------- state


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
            warnings.append(Finding(
                "LIQUIDATION", pos.symbol,
                f"liquidation price {pos.liquidation_price} is {distance:.2%} from mark "
                f"{mark.price} (< {limits.min_liquidation_distance:.0%}): state REDUCING",
            ))
    if limits.halted:
        return TradingState.HALTED, warnings, distances
    if limits.reducing or near:
        return TradingState.REDUCING, warnings, distances
    return TradingState.ACTIVE, warnings, distances


# --------------------------------------------------------------------------- orders from targets


def _steps(amount: Decimal, step: Decimal | None, rounding: str) -> Decimal:
    if step is None or step <= 0:
        return amount
    return (amount / step).to_integral_value(rounding=rounding) * step


def _order(view: AssetView, market: Market, signed_contracts: Decimal, *, reduce_only: bool, leg: str) -> PlannedOrder:
    contracts = abs(signed_contracts)
    return PlannedOrder(
        asset=view.asset, symbol=market.symbol, side=Side.BUY if signed_contracts > 0 else Side.SELL,
        amount=contracts, base_amount=contracts * market.contract_size, price=view.mark or ZERO,
        reduce_only=reduce_only, leg=leg,
    )


def cut_legs(view: AssetView, scaled: Decimal, full: Decimal) -> list[PlannedOrder]:
    """Orders taking the position from its current notional to `scaled` (the solved target `full`
    times the common scale), in contracts at the amount step, never past `full` (DOMAIN.md 2 and 5).

    Growing quantities round toward zero. A reduction rounds toward the solved target (up to the
    next step, never past `full` or zero): every check only gets safer as a position shrinks, so a
    scaled book stays inside its limits after rounding. A sign flip is a reduce-only close of the
    whole position, then an opening order; an off-step position is moved in one order instead.
    """
    market, mark = view.market, view.mark
    if market is None or mark is None or mark <= 0:
        return []
    cs, step = market.contract_size, market.amount_step
    h = view.position / cs  # contracts, signed
    t = scaled / mark / cs
    t_full = full / mark / cs
    if t == h:
        return []
    sign_h = 1 if h > 0 else -1 if h < 0 else 0
    if h != 0 and full == 0 and scaled == 0:
        close = _steps(abs(h), step, ROUND_DOWN)
        return [_order(view, market, -sign_h * close, reduce_only=True, leg="close")] if close > 0 else []
    crosses = h != 0 and t != 0 and (h > 0) != (t > 0)
    if crosses:
        if _steps(abs(h), step, ROUND_DOWN) == abs(h):
            opening = _steps(abs(t), step, ROUND_DOWN)
            legs = [_order(view, market, -sign_h * abs(h), reduce_only=True, leg="close")]
            if opening > 0:
                legs.append(_order(view, market, sign_h * -opening, reduce_only=False, leg="open"))
            return legs
        d = t - h
        move = _steps(abs(d), step, ROUND_DOWN)
        return [_order(view, market, move if d > 0 else -move, reduce_only=False, leg="adjust")] if move > 0 else []
    d = t - h
    if h != 0 and abs(t) < abs(h):  # a reduction on the same side
        limit = min(_steps(abs(t_full - h), step, ROUND_DOWN), _steps(abs(h), step, ROUND_DOWN))
        move = min(_steps(abs(d), step, ROUND_CEILING), limit)
        reduce_only = True
    else:
        move = _steps(abs(d), step, ROUND_DOWN)
        reduce_only = False
    if move <= 0:
        return []
    return [_order(view, market, move if d > 0 else -move, reduce_only=reduce_only, leg="adjust")]


def size_problem(order: PlannedOrder, market: Market, min_order_notional: Decimal,
                 max_order_notional: Decimal | None = None) -> str | None:
    """Why a leg may not be sent for its size, or None. A close to zero is never dropped for being
    small; any leg is held back when a single amount step is over max_order_notional (no slice fits)."""
    if max_order_notional is not None and market.amount_step and order.amount > 0:
        one_step = order.notional / order.amount * market.amount_step
        if one_step > max_order_notional:
            return f"one amount step ({one_step:.2f}) is over max_order_notional {max_order_notional}"
    if order.leg == "close":
        return None
    if market.min_amount is not None and order.amount < market.min_amount:
        return f"amount {order.amount} under the market minimum {market.min_amount}"
    floor = min_order_notional
    if not (order.reduce_only and market.reduce_only_min_cost_exempt):
        floor = max(floor, market.min_cost or ZERO)
    if order.notional < floor:
        return f"notional {order.notional:.2f} under the minimum {floor}"
    return None


def slice_sizes(order: PlannedOrder, market: Market, max_notional: Decimal, order_type: str) -> list[Decimal]:
    """The contract amounts of equal slices (within one amount step) under max_order_notional and
    the market's max quantity for the order type (MARKET_LOT_SIZE for market orders, LOT_SIZE for
    limits); [order.amount] when the order fits whole."""
    max_qty = market.max_market_amount if order_type == "market" else market.max_amount
    if order_type == "market" and market.max_amount is not None:
        max_qty = market.max_amount if max_qty is None else min(max_qty, market.max_amount)
    over_notional = max_notional > 0 and order.notional > max_notional
    over_qty = max_qty is not None and max_qty > 0 and order.amount > max_qty
    if not (over_notional or over_qty):
        return [order.amount]
    step = market.amount_step if market.amount_step and market.amount_step > 0 else None
    per_contract = order.notional / order.amount
    whole = int(order.amount / step) if step else 0
    need = max(order.notional / max_notional if over_notional else ONE, order.amount / max_qty if over_qty else ONE)
    n = max(2, int(need.to_integral_value(rounding=ROUND_CEILING)))
    while True:
        largest = -(-whole // n) * step if step else order.amount / n
        fits = (max_notional <= 0 or largest * per_contract <= max_notional) and (max_qty is None or largest <= max_qty)
        if fits or (step and n >= whole):
            break  # one step per slice is as small as a slice gets
        n += 1
    if step:
        base, extra = divmod(whole, n)
        return [(base + (1 if i < extra else 0)) * step for i in range(n) if base or i < extra]
    sizes = [order.amount / n] * (n - 1)
    sizes.append(order.amount - sum(sizes, ZERO))
    return sizes


def _may_slice(order: PlannedOrder, market: Market, max_notional: Decimal) -> bool:
    """Cheap pre-check: only an order over the notional cap or on a market with a max quantity can need slices."""
    return (max_notional > 0 and order.notional > max_notional) or market.max_amount is not None \
        or market.max_market_amount is not None


def slice_order(order: PlannedOrder, market: Market, max_notional: Decimal, order_type: str) -> list[PlannedOrder]:
    """The order as equal slices (slice_sizes), each remembering the whole leg's planned amount."""
    if not _may_slice(order, market, max_notional):
        return [order]
    sizes = slice_sizes(order, market, max_notional, order_type)
    if len(sizes) == 1:
        return [order]
    planned = order.planned_amount if order.planned_amount is not None else order.amount
    return [evolve(order, amount=c, base_amount=c * market.contract_size, planned_amount=planned) for c in sizes]


# --------------------------------------------------------------------------- the gate


@dataclass
class _Solved:
    state: TradingState
    boxes: dict[str, Box]
    targets: dict[str, Decimal]  # solved post-trade notional (before the scale)
    k: Decimal
    scaled_by: tuple[Finding, ...]
    legs: dict[str, list[PlannedOrder]]  # the orders to send per asset, slices already cut
    skipped: list[Skipped]
    extra_warnings: list[Finding]
    findings: dict[str, list[Finding]]  # denying findings per asset, in the final state


def asset_views(snapshot: Snapshot, plan: Plan) -> dict[str, AssetView]:
    views: dict[str, AssetView] = {}
    for asset, desired in plan.desired.items():
        market = snapshot.markets.get(asset)
        quote = snapshot.mark_prices.get(asset)
        mark = quote.price if quote is not None and quote.price > 0 else None
        h = snapshot.position_amount(asset)
        views[asset] = AssetView(
            asset=asset, symbol=market.symbol if market else None, market=market,
            weight=plan.weights.get(asset, ZERO), desired=desired,
            current=h * mark if (h and mark is not None) else ZERO, position=h, mark=mark,
        )
    return views


def _boxes(views: Mapping[str, AssetView], ctx: Context) -> tuple[dict[str, Box], dict[str, list[Finding]]]:
    """Each asset's box (the intersection of what its checks allow) and the findings that deny:
    a bound denies only where it keeps the asset from its planned target."""
    boxes: dict[str, Box] = {}
    findings: dict[str, list[Finding]] = {}
    for asset, view in views.items():
        lo: Decimal | None = None
        hi: Decimal | None = None
        codes: list[str] = []
        denying: list[Finding] = []
        for bound in asset_bounds(view, ctx):
            if bound.lo is not None:
                lo = bound.lo if lo is None else max(lo, bound.lo)
            if bound.hi is not None:
                hi = bound.hi if hi is None else min(hi, bound.hi)
            if bound.finding.code not in codes:
                codes.append(bound.finding.code)
            if (bound.lo is not None and view.desired < bound.lo) or (bound.hi is not None and view.desired > bound.hi):
                denying.append(bound.finding)
        boxes[asset] = Box(lo, hi, tuple(codes))
        findings[asset] = denying
    return boxes, findings


def _with_frozen(boxes: Mapping[str, Box], extra: Mapping[str, tuple[Decimal, str]]) -> dict[str, Box]:
    out = dict(boxes)
    for asset, (value, _reason) in extra.items():
        out[asset] = Box(value, value, (*boxes[asset].codes, "MIN_SIZE"))
    return out


def _sendable(order: PlannedOrder, market: Market, min_order_notional: Decimal, max_order_notional: Decimal,
              order_type: str) -> tuple[list[PlannedOrder], str | None]:
    """The leg as the orders to send (its slices) and why it may not be sent, if it may not: a leg
    too small, or whose equal slices would fall under the minimum, is a size problem."""
    problem = size_problem(order, market, min_order_notional, max_order_notional)
    if problem is not None:
        return [], problem
    slices = slice_order(order, market, max_order_notional, order_type)
    if len(slices) == 1:
        return slices, None
    smallest = min(slices, key=lambda o: o.amount)
    problem = size_problem(smallest, market, min_order_notional)
    if problem is not None:
        return [], f"its {len(slices)} slices under max_order_notional {max_order_notional}: {problem}"
    return slices, None


def _solve(views: dict[str, AssetView], plan: Plan, ctx: Context, *, min_order_notional: Decimal,
           order_type: str) -> _Solved:
    state = ctx.state
    extra: dict[str, tuple[Decimal, str]] = {}
    skipped: list[Skipped] = []
    extra_warnings: list[Finding] = []
    switched = False
    base, findings = _boxes(views, ctx)
    while True:
        boxes = _with_frozen(base, extra)
        solution = solve_net([Leg(a, v.weight, v.desired, v.current, boxes[a]) for a, v in views.items()],
                             plan.planned_net)
        delta = {a: solution.targets[a] - v.current for a, v in views.items()}
        k, scaled_by = ONE, ()
        if state is TradingState.ACTIVE and any(delta.values()):
            result = scale_checks(views, delta, ctx, plan.nav)
            if result.failing_now and not switched:
                # The current book itself fails a check: the cycle runs in REDUCING (DOMAIN.md, Scale).
                state, switched = TradingState.REDUCING, True
                ctx = replace(ctx, state=state)
                extra_warnings.extend(result.failing_now)
                base, findings = _boxes(views, ctx)
                continue
            k, scaled_by = result.k, result.findings
        legs: dict[str, list[PlannedOrder]] = {}
        newly: dict[str, tuple[Decimal, str]] = {}
        for asset, view in views.items():
            if delta[asset] == 0 or view.market is None:
                continue
            scaled = view.current + k * delta[asset]
            cut = cut_legs(view, scaled, solution.targets[asset])
            # Every slice must be sendable on its own: a leg whose equal slices would fall under the
            # minimum is a size problem like a small leg (freeze and re-solve, never a lone slice).
            sent: list[PlannedOrder] = []
            for order in cut:
                slices, problem = _sendable(order, view.market, min_order_notional, ctx.limits.max_order_notional,
                                            order_type)
                if problem is not None:
                    # Freeze where the sendable legs leave it: at zero after a flip's close, else unchanged.
                    newly[asset] = (ZERO if order.leg == "open" else view.current, problem)
                    skipped.append(Skipped(asset, view.market.symbol, f"{order.leg} leg: {problem}", order.notional))
                    break
                sent.extend(slices)
            else:
                if sent:
                    legs[asset] = sent
        if not newly:
            return _Solved(state, boxes, solution.targets, k, scaled_by, legs, skipped, extra_warnings, findings)
        extra.update(newly)


def gate(
    snapshot: Snapshot,
    plan: Plan,
    limits: RiskLimits,
    *,
    now: datetime,
    min_order_notional: Decimal = Decimal(10),
    order_type: str = "market",
) -> Verdict:
    """Boxes from the checks, the balanced book inside them, one common scale, rounding,
    minimums and slices; the verdict says what is sent, what was denied and why."""
    state, warnings, distances = trading_state(snapshot, limits)
    ctx = Context(snapshot, limits, now, state)
    views = asset_views(snapshot, plan)

    blind = [v for v in views.values() if v.position != 0 and v.mark is None]
    if blind and state is not TradingState.HALTED:
        # A held position without a mark makes the whole book's risk unknown: nothing moves.
        ctx = replace(ctx, state=TradingState.HALTED)
    denials: list[Finding] = []
    for v in blind:
        denials.append(Finding("NO_PRICE", v.symbol, f"held position in {v.asset} has no mark price: the book's "
                                                     "risk is unknown, no orders this cycle"))

    if not plan.triggered and not blind:
        boxes, _ = _boxes(views, ctx)
        return _verdict(snapshot, plan, limits, views, ctx.state, boxes, {}, ONE, (), warnings, distances,
                        denials, [], {a: v.current for a, v in views.items()})

    if blind:
        boxes = {a: Box(v.current, v.current, ("NO_PRICE",)) for a, v in views.items()}
        solved = _Solved(state, boxes, {a: v.current for a, v in views.items()}, ONE, (), {}, [], [], {})
    else:
        solved = _solve(views, plan, ctx, min_order_notional=min_order_notional, order_type=order_type)
        for asset in views:
            denials.extend(solved.findings[asset])
    denials = [f for f in denials if f.code not in NOT_DENIALS]
    warnings = [*warnings, *solved.extra_warnings]
    movable = [a for a, v in views.items() if v.market is not None and not solved.boxes[a].frozen]
    if plan.triggered and not movable and any(v.market is not None for v in views.values()):
        warnings.append(Finding("ALL_FROZEN", None, "every hedgeable asset is frozen this cycle: no orders"))
    return _verdict(snapshot, plan, limits, views, solved.state, solved.boxes, solved.legs, solved.k,
                    solved.scaled_by, warnings, distances, denials, solved.skipped, solved.targets)


def _verdict(
    snapshot: Snapshot, plan: Plan, limits: RiskLimits, views: Mapping[str, AssetView], state: TradingState,
    boxes: Mapping[str, Box], legs: Mapping[str, list[PlannedOrder]], k: Decimal, scaled_by: Iterable[Finding],
    warnings: list[Finding], distances: dict[str, Decimal], denials: list[Finding], skipped: list[Skipped],
    targets: Mapping[str, Decimal],
) -> Verdict:
    approved: list[PlannedOrder] = []
    denied: list[PlannedOrder] = []
    denying: dict[str | None, list[str]] = {}
    for f in denials:
        denying.setdefault(f.symbol, []).append(f.code)
    # The plan's own legs (unconstrained, rounded, minimums applied): what resized and denied legs
    # refer to.
    planned_legs: dict[str, list[PlannedOrder]] = {}
    for o in plan.orders:
        planned_legs.setdefault(o.asset, []).append(o)
    for asset, view in views.items():
        mine = legs.get(asset, [])
        # The solved legs are the planned ones exactly when the asset reached its target unscaled.
        as_planned = k == ONE and targets.get(asset) == view.desired
        wanted = planned_legs.get(asset, [])
        planned = {} if as_planned else {o.leg: o for o in wanted}
        for order in mine:
            before = planned.get(order.leg) or next(iter(planned.values()), None)
            if not as_planned and (before is None or before.amount != order.amount or before.side is not order.side):
                order = evolve(order, planned_amount=before.amount if before is not None and
                                before.side is order.side else ZERO)
            approved.append(order)
        asset_codes = denying.get(view.symbol)
        if not mine and wanted and asset_codes:
            denied.extend(evolve(o, denied_by=tuple(dict.fromkeys(asset_codes))) for o in wanted)

    post = {a: v.current for a, v in views.items()}
    for o in approved:
        v = views[o.asset]
        post[o.asset] = post[o.asset] + o.signed_base * (v.mark or ZERO)
    net_post = sum(post.values(), ZERO)
    residual = net_post - plan.planned_net
    scaled_net = sum((v.current + k * (targets.get(a, v.current) - v.current) for a, v in views.items()), ZERO)
    # One amount step per asset that moves (a move under one step sends nothing and leaves it all).
    moving = [v for a, v in views.items() if targets.get(a, v.current) != v.current]
    rounding = sum((v.market.amount_step * v.market.contract_size * (v.mark or ZERO)
                    for v in moving if v.market is not None and v.market.amount_step), ZERO)
    bound = abs(scaled_net - plan.planned_net) + rounding

    tiers_missing = sorted(v.symbol for v in views.values()
                           if v.market is not None and not v.market.tiers and (v.position or v.asset in legs))
    if tiers_missing:
        warnings = [*warnings, Finding("TIERS_MISSING", None,
                                       f"the venue publishes no maintenance tiers for {', '.join(tiers_missing)}: "
                                       f"default_mmr {limits.default_mmr} used")]
    return Verdict(
        state=state,
        approved=tuple(approved),
        denials=tuple(denials),
        scale=k,
        scaled_by=tuple(scaled_by),
        warnings=tuple(warnings),
        liquidation_distances=distances,
        boxes=dict(boxes),
        planned_net=plan.planned_net,
        net_residual=residual,
        residual_bound=bound,
        post_trade=post,
        denied=tuple(denied),
        skipped=tuple(skipped),
        **_report(snapshot, post, views, limits),
    )


def post_trade_positions(snapshot: Snapshot, orders: Iterable[PlannedOrder]) -> dict[str, Decimal]:
    """Signed positions (base units) that perfect execution of `orders` would leave."""
    positions = {a: p.amount for a, p in snapshot.positions.items()}
    for o in orders:
        positions[o.asset] = positions.get(o.asset, ZERO) + o.signed_base
    return positions


def _report(snapshot: Snapshot, post: Mapping[str, Decimal], views: Mapping[str, AssetView], limits: RiskLimits
            ) -> dict[str, Decimal | None]:
    """Margin usage, funding cost per day (positive = you pay) and the stress test of the book."""
    gross = sum((abs(x) for x in post.values()), ZERO)
    funding_cost = ZERO
    for asset, x in post.items():
        funding = snapshot.funding.get(asset)
        if x and funding is not None:
            funding_cost += x * funding.rate * funding.periods_per_day
    loss, maint = stressed(post, views, limits)
    account = snapshot.account
    return {
        "margin_usage": gross / limits.leverage / account.equity if account and account.equity > 0 else None,
        "funding_cost_per_day": funding_cost,
        "stressed_equity": account.equity - loss if account else None,
        "stressed_maintenance": maint,
    }
