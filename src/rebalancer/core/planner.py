"""The planner: effective exposure vs targets -> the perp orders that put the mix back on target.

A pure function of a frozen Snapshot and PlanParams (DOMAIN.md "The plan"); no I/O, no clock.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

from ..domain import (
    ZERO,
    AssetLine,
    Market,
    NavBasis,
    Plan,
    PlannedOrder,
    PlanParams,
    Side,
    Skipped,
    Snapshot,
)


class PlanError(ValueError):
    """The snapshot cannot be planned (e.g. a target asset has no spot price): fix input first."""


def round_to_step(amount: Decimal, step: Decimal | None) -> Decimal:
    """Round a non-negative amount toward zero to a multiple of `step` (never overshoot)."""
    if step is None or step <= 0:
        return amount
    return (amount / step).to_integral_value(rounding=ROUND_DOWN) * step


def compute_nav(snapshot: Snapshot, params: PlanParams, spot: dict[str, Decimal] | None = None) -> Decimal:
    """NAV per DOMAIN.md: spot value of the targeted assets, + spot cash with a cash target,
    + hedge-account equity with nav = "account"."""
    spot = snapshot.spot_amounts() if spot is None else spot
    nav = ZERO
    for asset in params.targets:
        if asset == params.quote:
            continue
        nav += spot.get(asset, ZERO) * _spot_price(snapshot, asset)
    if params.quote in params.targets:
        nav += spot.get(params.quote, ZERO)
    if params.nav_basis is NavBasis.ACCOUNT:
        if snapshot.account is None:
            raise PlanError("nav = \"account\" needs the hedge account's equity, which is missing")
        nav += snapshot.account.equity
    return nav


def valued_at_mark(snapshot: Snapshot, asset: str) -> bool:
    """Spot is valued at the perp mark where there is no spot price to use: the spot venue lists no
    market for the asset (a cold coin), or its price is missing (then the gate freezes it NO_PRICE)."""
    return asset in snapshot.spot_unlisted or asset not in snapshot.spot_prices


def _spot_price(snapshot: Snapshot, asset: str) -> Decimal:
    quote = snapshot.spot_prices.get(asset)
    if quote is None:
        quote = snapshot.mark_prices.get(asset)
    if quote is None or quote.price <= 0:
        raise PlanError(f"portfolio.targets.{asset}: no price for {asset}; is it listed on the venues?")
    return quote.price


def plan(snapshot: Snapshot, params: PlanParams) -> Plan:
    """Compute the allocation table and, when the band is breached, the orders to fix it."""
    spot = snapshot.spot_amounts()
    nav = compute_nav(snapshot, params, spot)
    if nav <= 0:
        raise PlanError("NAV is zero or negative: there is nothing to rebalance")

    lines: list[AssetLine] = []
    unhedgeable: list[str] = []
    risk_assets = [a for a in params.targets if a != params.quote]
    total_effective = ZERO
    for asset in risk_assets:
        w = params.targets[asset]
        spot_value = spot.get(asset, ZERO) * _spot_price(snapshot, asset)
        market = snapshot.markets.get(asset)
        mark = snapshot.mark_prices.get(asset)
        hedgeable = market is not None and mark is not None and mark.price > 0
        pos = snapshot.positions.get(asset)
        perp = pos.amount * mark.price if (pos is not None and mark is not None and pos.amount) else ZERO
        effective = spot_value + perp
        total_effective += effective
        weight = effective / nav
        target_value = w * nav
        desired = target_value - spot_value if hedgeable else None
        note = ""
        if not hedgeable:
            unhedgeable.append(asset)
            note = "no perp market on the hedge venue" if market is None else "no mark price"
        elif spot_value and valued_at_mark(snapshot, asset):
            note = "valued at mark" if asset in snapshot.spot_unlisted else "valued at mark: no spot price"
        lines.append(
            AssetLine(
                asset=asset,
                target_weight=w,
                spot_value=spot_value,
                perp_notional=perp,
                effective_value=effective,
                effective_weight=weight,
                drift=weight - w,
                target_value=target_value,
                desired_perp_notional=desired,
                adjustment=desired - perp if desired is not None else ZERO,
                hedgeable=hedgeable,
                note=note,
            )
        )
    if params.quote in params.targets:
        w = params.targets[params.quote]
        cash = nav - total_effective
        lines.append(
            AssetLine(
                asset=params.quote,
                target_weight=w,
                spot_value=spot.get(params.quote, ZERO),
                perp_notional=ZERO,
                effective_value=cash,
                effective_weight=cash / nav,
                drift=cash / nav - w,
                target_value=w * nav,
                desired_perp_notional=None,
                adjustment=ZERO,
                hedgeable=False,
                note="cash: moved by the other assets' hedges",
            )
        )

    triggered = any(_breaches_band(line, params) for line in lines)
    orders: list[PlannedOrder] = []
    skipped: list[Skipped] = []
    if triggered:
        for line in lines:
            if line.desired_perp_notional is None or line.adjustment == 0:
                continue
            market = snapshot.markets[line.asset]
            mark = snapshot.mark_prices[line.asset].price
            new_orders, new_skips = orders_for_adjustment(
                asset=line.asset,
                market=market,
                mark=mark,
                current=snapshot.position_amount(line.asset),
                adjustment=line.adjustment,
                min_order_notional=params.min_order_notional,
            )
            orders.extend(new_orders)
            skipped.extend(new_skips)
    desired = {line.asset: line.target_value - line.spot_value for line in lines if line.asset != params.quote}
    return Plan(
        nav=nav,
        quote=params.quote,
        nav_basis=params.nav_basis,
        triggered=triggered,
        assets=tuple(lines),
        orders=tuple(orders),
        unhedgeable=tuple(unhedgeable),
        skipped=tuple(skipped),
        planned_net=sum(desired.values(), ZERO),
        valued_at_mark=tuple(a for a in risk_assets if spot.get(a, ZERO) and valued_at_mark(snapshot, a)),
        desired=desired,
        weights={a: params.targets[a] for a in risk_assets},
    )


def _breaches_band(line: AssetLine, params: PlanParams) -> bool:
    if abs(line.drift) > params.band:
        return True
    if params.relative_band is not None and line.target_weight > 0:
        return abs(line.drift) / line.target_weight > params.relative_band
    return False


def size_ok(
    market: Market, contracts: Decimal, notional: Decimal, min_order_notional: Decimal
) -> str | None:
    """Return why an order of this size may not be sent, or None when it may."""
    if contracts <= 0:
        return "rounds to zero at the market's amount step"
    if market.min_amount is not None and contracts < market.min_amount:
        return f"amount {contracts} under the market minimum {market.min_amount}"
    floor = max(min_order_notional, market.min_cost or ZERO)
    if notional < floor:
        return f"notional {notional:.2f} under the minimum {floor}"
    return None


def make_order(
    asset: str, market: Market, mark: Decimal, signed_base: Decimal, *, reduce_only: bool, leg: str
) -> PlannedOrder:
    """Turn a signed base quantity into a rounded order (contracts toward zero)."""
    contracts = round_to_step(abs(signed_base) / market.contract_size, market.amount_step)
    return PlannedOrder(
        asset=asset,
        symbol=market.symbol,
        side=Side.BUY if signed_base > 0 else Side.SELL,
        amount=contracts,
        base_amount=contracts * market.contract_size,
        price=mark,
        reduce_only=reduce_only,
        leg=leg,
    )


def orders_for_adjustment(
    *,
    asset: str,
    market: Market,
    mark: Decimal,
    current: Decimal,
    adjustment: Decimal,
    min_order_notional: Decimal,
) -> tuple[list[PlannedOrder], list[Skipped]]:
    """Orders moving the position by `adjustment` (quote notional), per DOMAIN.md steps 3-5."""
    dh = adjustment / mark
    target = current + dh
    crosses_zero = current != 0 and target != 0 and (current > 0) != (target > 0)
    if crosses_zero:
        close = make_order(asset, market, mark, -current, reduce_only=True, leg="close")
        opening = make_order(asset, market, mark, target, reduce_only=False, leg="open")
        close_problem = size_ok(market, close.amount, close.notional, min_order_notional)
        open_problem = size_ok(market, opening.amount, opening.notional, min_order_notional)
        if close_problem is None and close.base_amount == abs(current):
            if open_problem is None:
                return [close, opening], []
            return [close], [Skipped(asset, market.symbol, f"open leg: {open_problem}", opening.notional)]
        # The close leg cannot stand alone (too small, or the position is off-step):
        # send the whole move as one order, which the exchange nets through zero.
    reduces = current != 0 and abs(target) < abs(current) and not crosses_zero
    order = make_order(asset, market, mark, dh, reduce_only=reduces, leg="adjust")
    problem = size_ok(market, order.amount, order.notional, min_order_notional)
    if problem is not None:
        return [], [Skipped(asset, market.symbol, problem, abs(adjustment))]
    return [order], []


def unwind_plan(snapshot: Snapshot, params: PlanParams) -> Plan:
    """Close every hedge position, reduce-only (for when the holder rebalances spot by hand).

    Minimum notionals are not applied: a reduce-only close is waived by the venues, and a
    leftover sliver would keep the hedge alive. The market's amount step still applies.
    """
    try:
        base: Plan | None = plan(snapshot, params)  # for the allocation table only
    except PlanError:
        base = None  # a missing spot price must not stop an unwind
    orders: list[PlannedOrder] = []
    skipped: list[Skipped] = []
    for asset, pos in sorted(snapshot.positions.items()):
        market = snapshot.markets.get(asset)
        mark = snapshot.mark_prices.get(asset)
        if pos.amount == 0:
            continue
        if market is None or mark is None:
            skipped.append(Skipped(asset, pos.symbol, "no market or mark price to close it", ZERO))
            continue
        order = make_order(asset, market, mark.price, -pos.amount, reduce_only=True, leg="close")
        if order.amount <= 0:
            skipped.append(Skipped(asset, pos.symbol, "position smaller than one amount step", ZERO))
            continue
        orders.append(order)
    risk_assets = [a for a in params.targets if a != params.quote]
    return Plan(
        nav=base.nav if base else ZERO,
        quote=params.quote,
        nav_basis=params.nav_basis,
        triggered=any(p.amount != 0 for p in snapshot.positions.values()),
        assets=base.assets if base else (),
        orders=tuple(orders),
        unhedgeable=base.unhedgeable if base else (),
        skipped=tuple(skipped),
        planned_net=ZERO,
        valued_at_mark=base.valued_at_mark if base else (),
        # Unwinding targets a flat book: every hedge at zero, which nets to zero.
        desired={a: ZERO for a in risk_assets},
        weights={a: params.targets[a] for a in risk_assets},
    )
