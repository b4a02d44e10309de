"""The risk checks (DOMAIN.md "The risk checks"), each a small pure function failing closed.

Asset checks return a Bound (the box they allow, with a Finding saying why) or None; the scale
checks turn the post-trade book into convex constraints on the common scale k.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Callable, Mapping

from ..domain import ONE, ZERO, Finding, Market, RiskLimits, Snapshot, Tier, TradingState
from .margin import leverage_cap, maintenance, tier_kinks
from .solver import Term, abs_phi, max_scale, max_scales, per_position_scale

# Funding convention of every major perp venue: a positive rate means longs pay shorts.


@dataclass(frozen=True)
class AssetView:
    """What the checks know about one risk asset this cycle; notionals in the quote currency."""

    asset: str
    symbol: str | None
    market: Market | None
    weight: Decimal
    desired: Decimal  # P*
    current: Decimal  # P_cur = h * m (0 without a position)
    position: Decimal  # h, base units
    mark: Decimal | None


@dataclass(frozen=True)
class Context:
    snapshot: Snapshot
    limits: RiskLimits
    now: datetime
    state: TradingState


@dataclass(frozen=True)
class Bound:
    """A check's box for one asset: lo <= P <= hi (None: that side unbounded)."""

    lo: Decimal | None
    hi: Decimal | None
    finding: Finding


def frozen(view: AssetView, code: str, detail: str) -> Bound:
    return Bound(view.current, view.current, Finding(code, view.symbol, detail))


def shrink_only(view: AssetView, code: str, detail: str) -> Bound:
    return Bound(min(ZERO, view.current), max(ZERO, view.current), Finding(code, view.symbol, detail))


AssetCheck = Callable[[AssetView, Context], "Bound | None"]


def check_state(view: AssetView, ctx: Context) -> Bound | None:
    if ctx.state is TradingState.HALTED:
        return frozen(view, "HALTED", "kill switch is on: no orders are sent")
    if ctx.state is TradingState.REDUCING:
        return shrink_only(view, "REDUCING", "trading state is REDUCING: positions may only shrink")
    return None


def check_protection(view: AssetView, ctx: Context) -> Bound | None:
    """The protective stops' word on one asset: a fired stop freezes it for the cooldown (the solver
    keeps the net with the others); a stop the exchange refused leaves it shrink-only."""
    why = ctx.limits.frozen_assets.get(view.asset)
    if why is not None:
        return frozen(view, "STOP_COOLDOWN", why)
    why = ctx.limits.reducing_assets.get(view.asset)
    if why is not None:
        return shrink_only(view, "STOP_REJECTED", why)
    return None


def check_hedgeable(view: AssetView, ctx: Context) -> Bound | None:
    if view.market is None:
        return frozen(view, "UNHEDGEABLE", f"no perp market for {view.asset} on the hedge venue")
    return None


def check_prices(view: AssetView, ctx: Context) -> Bound | None:
    snap, max_age, max_skew = ctx.snapshot, float(ctx.limits.max_price_age_s), float(ctx.limits.max_clock_skew_s)
    books = [("mark", snap.mark_prices)]
    if view.asset not in snap.spot_unlisted:
        books.append(("spot", snap.spot_prices))
    for kind, book in books:
        quote = book.get(view.asset)
        if quote is None or quote.price <= 0:
            return frozen(view, "NO_PRICE", f"no {kind} price for {view.asset}")
        age = (ctx.now - quote.timestamp).total_seconds()
        if -age > max_skew:
            # A negative age is a clock problem, not a fresh price: with the exchange's clock ahead,
            # a price hours old would otherwise pass as new.
            return frozen(view, "STALE_PRICE",
                          f"{kind} price of {view.asset} is dated {-age:.1f}s in the future (max_clock_skew_s "
                          f"{ctx.limits.max_clock_skew_s}): this machine's clock or the exchange's is off")
        if age > max_age:
            return frozen(view, "STALE_PRICE",
                          f"{kind} price of {view.asset} is {age:.1f}s old (max {ctx.limits.max_price_age_s}s)")
    return None


def check_basis(view: AssetView, ctx: Context) -> Bound | None:
    if view.asset in ctx.snapshot.spot_unlisted:
        return None  # valued at mark: there is no spot price to compare with
    spot, mark = ctx.snapshot.spot_prices.get(view.asset), ctx.snapshot.mark_prices.get(view.asset)
    if spot is None or mark is None or spot.price <= 0:
        return frozen(view, "NO_PRICE", f"cannot compute the basis of {view.asset}")
    basis = mark.price / spot.price - ONE
    if abs(basis) > ctx.limits.max_basis:
        return frozen(view, "BASIS", f"basis {basis:.4%} exceeds max_basis {ctx.limits.max_basis:.4%}")
    return None


def check_funding(view: AssetView, ctx: Context) -> Bound | None:
    funding = ctx.snapshot.funding.get(view.asset)
    if funding is None:
        return shrink_only(view, "FUNDING", f"no funding rate for {view.asset}: it may only shrink")
    apr = abs(funding.rate) * funding.periods_per_year
    if apr <= ctx.limits.max_funding_apr or funding.rate == 0:
        return None
    side = "long" if funding.rate > 0 else "short"
    detail = (f"{side}s pay {funding.rate} per {funding.interval_hours}h = {apr:.2%} a year > "
              f"max_funding_apr {ctx.limits.max_funding_apr:.2%}: may not grow {side}")
    if funding.rate > 0:
        return Bound(None, max(view.current, ZERO), Finding("FUNDING", view.symbol, detail))
    return Bound(min(view.current, ZERO), None, Finding("FUNDING", view.symbol, detail))


# Order matters only for which findings are reported first; every bound is applied.
ASSET_CHECKS: tuple[AssetCheck, ...] = (check_state, check_protection, check_hedgeable, check_prices, check_basis, check_funding)

# A box from these codes is not a denial: the plan reports unhedgeable assets, and the solver
# freezes an asset whose order is too small to send (MIN_SIZE).
NOT_DENIALS = frozenset({"UNHEDGEABLE", "MIN_SIZE"})


def asset_bounds(view: AssetView, ctx: Context) -> list[Bound]:
    out: list[Bound] = []
    for check in ASSET_CHECKS:
        bound = check(view, ctx)
        if bound is not None:
            out.append(bound)
            if bound.lo == bound.hi == view.current and bound.finding.code in ("HALTED", "UNHEDGEABLE", "NO_PRICE"):
                break  # frozen for a reason that makes the later checks meaningless
    return out


# --------------------------------------------------------------------------- the scale checks


@dataclass(frozen=True)
class ScaleResult:
    k: Decimal
    findings: tuple[Finding, ...]  # checks that needed k < 1
    failing_now: tuple[Finding, ...]  # checks the current book (k = 0) already fails


def stress_term(x0: Decimal, dx: Decimal, market: Market | None, limits: RiskLimits, stop: Decimal = ONE) -> Term:
    """Loss plus maintenance after every position moves against itself by min_liquidation_distance."""
    d = limits.min_liquidation_distance
    tiers = market.tiers if market is not None else ()
    default = limits.default_mmr if market is None or market.mmr is None else market.mmr

    def phi(x: Decimal) -> Decimal:
        n = abs(x)
        shocked = n * (ONE - d) if x > 0 else n * (ONE + d)
        return n * d + maintenance(shocked, tiers, default)

    key = (id(tiers), d)
    kinks = _KINKS.get(key)
    if kinks is None or kinks[0] is not tiers:
        kinks = _KINKS[key] = (tiers, _stress_kinks(tiers, d))
    return Term(x0, dx, phi, kinks[1], stop)


# Kinks per tier table, by identity (tiers are frozen and live as long as their snapshot; the
# table is bounded by clearing it when it grows past a few thousand markets).
_KINKS: dict[tuple[int, Decimal], tuple[tuple[Tier, ...], tuple[Decimal, ...]]] = {}


def _stress_kinks(tiers: tuple[Tier, ...], d: Decimal) -> tuple[Decimal, ...]:
    """Signed notionals where a position's shocked notional crosses a tier floor (and zero)."""
    if len(_KINKS) > 8192:
        _KINKS.clear()
    kinks = [ZERO]
    for floor in tier_kinks(tiers):
        kinks.append(floor / (ONE - d))
        kinks.append(-floor / (ONE + d))
    return tuple(kinks)


def scale_checks(
    views: Mapping[str, AssetView], delta: Mapping[str, Decimal], ctx: Context, nav: Decimal
) -> ScaleResult:
    """MARGIN, LIQUIDATION, MAX_GROSS and LEVERAGE_TIER on the book current + k * delta."""
    limits, account = ctx.limits, ctx.snapshot.account
    findings: list[Finding] = []
    failing: list[Finding] = []
    k = ONE
    if account is None:
        f = Finding("MARGIN", None, "hedge account equity is unknown: positions may only shrink")
        return ScaleResult(ZERO, (f,), (f,))
    equity, lev = account.equity, limits.leverage

    rows = [(v, delta.get(v.asset, ZERO)) for v in views.values()]
    rows = [(v, dx, rounding_stop(v, dx)) for v, dx in rows]
    gross_now = sum((abs(v.current) for v, _dx, _stop in rows), ZERO)
    gross_after = sum((abs(v.current + stop * dx) for v, dx, stop in rows), ZERO)
    rules = (
        ("MARGIN", limits.max_margin_usage * equity * lev, f"{limits.max_margin_usage} x equity {equity:.2f} "
                                                            f"at leverage {lev}"),
        ("MAX_GROSS", limits.max_gross_ratio * nav, f"{limits.max_gross_ratio} x NAV {nav:.2f}"),
    )
    if all(gross_after <= limit for _code, limit, _text in rules):
        gross_k: list[Decimal | None] = [ONE, ONE]  # the common case: no walk needed
    else:
        gross_terms = [Term(v.current, dx, abs_phi, (ZERO,), stop) for v, dx, stop in rows if dx != 0]
        fixed = sum((abs(v.current) for v, dx, _stop in rows if dx == 0), ZERO)
        gross_k = max_scales(fixed, gross_terms, [r[1] for r in rules])
    for (code, limit, text), kc in zip(rules, gross_k):
        if kc is None:
            failing.append(Finding(code, None, f"current gross notional {gross_now:.2f} is over {limit:.2f} "
                                               f"({text}): positions may only shrink"))
        elif kc < ONE:
            findings.append(Finding(code, None, f"post-trade gross notional must stay under {limit:.2f} ({text}): "
                                                f"scaled by {kc:.4f}"))
            k = min(k, kc)

    stress_terms = [stress_term(v.current, dx, v.market, limits, stop) for v, dx, stop in rows
                    if v.current != 0 or dx != 0]
    kl = max_scale(ZERO, stress_terms, equity)
    d = limits.min_liquidation_distance
    if kl is None:
        failing.append(Finding("LIQUIDATION", None, f"a {d:.0%} move against every position would already leave "
                                                    f"equity {equity:.2f} under maintenance"))
    elif kl < ONE:
        findings.append(Finding("LIQUIDATION", None, f"a {d:.0%} move against every position must leave equity "
                                                     f"{equity:.2f} above maintenance: scaled by {kl:.4f}"))
        k = min(k, kl)

    for v in views.values():
        cap = leverage_cap(v.market.tiers, lev) if v.market is not None else None
        venue_cap = v.market.position_cap if v.market is not None else None
        if venue_cap is not None:
            cap = venue_cap if cap is None else min(cap, venue_cap)
        if cap is None:
            continue
        ka = per_position_scale(v.current, delta.get(v.asset, ZERO), cap)
        if ka is None:
            failing.append(Finding("LEVERAGE_TIER", v.symbol, f"position notional {abs(v.current):.2f} is over "
                                                              f"{cap} allowed at leverage {lev}"))
        elif ka < ONE:
            findings.append(Finding("LEVERAGE_TIER", v.symbol, f"the tiers allow {cap} of notional at leverage "
                                                               f"{lev}: scaled by {ka:.4f}"))
            k = min(k, ka)
    return ScaleResult(k, tuple(findings), tuple(failing))


def rounding_stop(view: AssetView, dx: Decimal) -> Decimal:
    """Where a scaled reduction stops: it is cut at whole amount steps and never past its solved
    target, so it can only reach the last whole step of the full move (k = floor(D) / D). Growing
    legs and flips round down or close exactly, which only makes the book smaller: no stop."""
    market, mark, x0 = view.market, view.mark, view.current
    if market is None or mark is None or not market.amount_step or dx == 0 or x0 == 0:
        return ONE
    if abs(x0 + dx) >= abs(x0) or (x0 > 0) != (x0 + dx > 0):
        return ONE
    full = abs(dx) / mark / market.contract_size
    whole = (full / market.amount_step).to_integral_value(rounding=ROUND_DOWN) * market.amount_step
    return whole / full if whole < full else ONE


def stressed(positions: Mapping[str, Decimal], views: Mapping[str, AssetView], limits: RiskLimits
             ) -> tuple[Decimal, Decimal]:
    """(loss, maintenance) of a book of notionals after the stress move."""
    d = limits.min_liquidation_distance
    loss = maint = ZERO
    for asset, x in positions.items():
        if x == 0:
            continue
        view = views.get(asset)
        market = view.market if view is not None else None
        tiers = market.tiers if market is not None else ()
        default = limits.default_mmr if market is None or market.mmr is None else market.mmr
        n = abs(x)
        loss += n * d
        maint += maintenance(n * (ONE - d) if x > 0 else n * (ONE + d), tiers, default)
    return loss, maint
