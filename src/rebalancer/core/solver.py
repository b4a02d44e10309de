"""The balanced-book solver (DOMAIN.md "The balanced book"): pure arithmetic, no I/O, no clock.

`solve_net` puts every asset as close to its target as its box allows while the book keeps the
planned net; `max_scale` finds the largest common scale k at which a convex check still passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Callable, Iterable, Sequence

from ..domain import ONE, ZERO, Box

# Solved notionals are quantized to this before orders are cut: the solve divides by weights and
# leaves 28-digit tails (1499.99...9) that would lose a whole amount step when rounded toward zero.
NOTIONAL_QUANTUM = Decimal("1e-10")


@dataclass(frozen=True)
class Leg:
    """One asset's row in the solve: weight, desired notional P*, current notional, box."""

    asset: str
    weight: Decimal
    desired: Decimal
    current: Decimal
    box: Box


@dataclass(frozen=True)
class NetSolution:
    targets: dict[str, Decimal]  # post-trade notional per asset
    mu: Decimal | None  # the common shift (None: nothing could move)
    residual: Decimal  # sum(targets) - net: zero unless the boxes make the net unreachable


def _tidy(x: Decimal) -> Decimal:
    """Drop the division tail below NOTIONAL_QUANTUM (a value too large to quantize keeps its digits)."""
    try:
        return x.quantize(NOTIONAL_QUANTUM)
    except InvalidOperation:
        return x


def clip(x: Decimal, lo: Decimal | None, hi: Decimal | None) -> Decimal:
    if lo is not None and x < lo:
        return lo
    if hi is not None and x > hi:
        return hi
    return x


def solve_net(legs: Sequence[Leg], net: Decimal) -> NetSolution:
    """minimise sum (P_a - P*_a)^2 / w_a  s.t.  sum P_a = net,  lo_a <= P_a <= hi_a.

    The solution is P_a = clip(P*_a + mu * w_a, lo_a, hi_a) with one mu; f(mu) = sum P_a is
    piecewise linear and non-decreasing, so mu is found exactly by sweeping its breakpoints.
    If no mu reaches the net inside the boxes, the closest one is taken and the rest reported.
    """
    fixed: dict[str, Decimal] = {}
    active: list[Leg] = []
    for leg in legs:
        if leg.box.frozen or leg.weight <= 0:
            # A weight of zero takes no share of the others' adjustments: it sits at its own target.
            fixed[leg.asset] = clip(leg.desired, leg.box.lo, leg.box.hi)
        else:
            active.append(leg)
    constant = sum(fixed.values(), ZERO)
    if not active:
        return NetSolution(fixed, None, constant - net)

    def f(mu: Decimal) -> Decimal:
        return constant + sum((clip(a.desired + mu * a.weight, a.box.lo, a.box.hi) for a in active), ZERO)

    slope_left = sum((a.weight for a in active if a.box.lo is None), ZERO)
    events: list[tuple[Decimal, Decimal]] = []  # (mu, change of slope)
    for a in active:
        if a.box.lo is not None:
            events.append(((a.box.lo - a.desired) / a.weight, a.weight))
        if a.box.hi is not None:
            events.append(((a.box.hi - a.desired) / a.weight, -a.weight))
    if not events:
        mu = (net - constant - sum((a.desired for a in active), ZERO)) / slope_left
    else:
        events.sort(key=lambda e: e[0])
        mu_cur = events[0][0]
        value = f(mu_cur)
        if net <= value:
            mu = mu_cur - (value - net) / slope_left if slope_left > 0 else mu_cur
        else:
            slope = slope_left
            i, n = 0, len(events)
            mu = None
            while True:
                while i < n and events[i][0] == mu_cur:
                    slope += events[i][1]
                    i += 1
                if i == n:
                    mu = mu_cur + (net - value) / slope if slope > 0 else mu_cur
                    break
                mu_next = events[i][0]
                value_next = value + slope * (mu_next - mu_cur)
                if value_next >= net:
                    mu = mu_cur + (net - value) / slope
                    break
                mu_cur, value = mu_next, value_next
    targets = dict(fixed)
    for a in active:
        targets[a.asset] = _tidy(clip(a.desired + mu * a.weight, a.box.lo, a.box.hi))
    return NetSolution(targets, mu, sum(targets.values(), ZERO) - net)


# --------------------------------------------------------------------------- the common scale


@dataclass(frozen=True)
class Term:
    """One position's part of a convex check: phi(x0 + k * dx), phi convex and piecewise linear in
    the signed notional x, with its kinks at `kinks` (values of x)."""

    x0: Decimal
    dx: Decimal
    phi: Callable[[Decimal], Decimal]
    kinks: tuple[Decimal, ...]
    # The position stops moving at k = stop (a reduction that rounding cannot take the whole way
    # stops at its last whole amount step); x(k) = x0 + min(k, stop) * dx.
    stop: Decimal = ONE

    def at(self, k: Decimal) -> Decimal:
        return self.phi(self.x0 + min(k, self.stop) * self.dx)


def max_scale(constant: Decimal, terms: Iterable[Term], limit: Decimal) -> Decimal | None:
    """Largest k in [0, 1] with constant + sum phi(x0 + k dx) <= limit; None when k = 0 fails."""
    return max_scales(constant, terms, (limit,))[0]


def max_scales(constant: Decimal, terms: Iterable[Term], limits: Sequence[Decimal]) -> list[Decimal | None]:
    """max_scale for several limits on the same convex g(k) = constant + sum phi(x0 + k dx).

    g is piecewise linear: walk its breakpoints in order, keeping the slope, and solve the segment
    where it crosses each limit exactly. Terms with dx = 0 only add their constant value. The walk
    is skipped for a limit that g(1) already meets (the common case).
    """
    moving: list[tuple[Term, Decimal, Decimal]] = []  # (term, phi(x0), phi(x at the stop))
    g0 = g1 = constant
    for t in terms:
        v0 = t.phi(t.x0)
        g0 += v0
        if t.dx == 0 or t.stop <= 0:
            g1 += v0
        else:
            v1 = t.phi(t.x0 + t.stop * t.dx)
            g1 += v1
            moving.append((t, v0, v1))
    out: list[Decimal | None] = [None if g0 > lim else ONE if g1 <= lim else ZERO for lim in limits]
    todo = [i for i, lim in enumerate(limits) if g0 <= lim < g1]
    if not todo:
        return out
    slope = ZERO
    events: list[tuple[Decimal, Decimal]] = []
    for t, v0, v1 in moving:
        x0, dx, stop = t.x0, t.dx, t.stop
        x_end = x0 + stop * dx
        lo, hi = (x0, x_end) if dx > 0 else (x_end, x0)
        inside = [x for x in t.kinks if lo < x < hi]
        if not inside and stop >= ONE:
            slope += v1 - v0  # linear over the whole of [0, 1]: no breakpoint (the common case)
            continue
        ks = sorted((x - x0) / dx for x in inside)
        points, values = [ZERO], [v0]
        for k in ks:
            if k > points[-1]:
                points.append(k)
                values.append(t.phi(x0 + k * dx))
        if stop < ONE:
            points.append(stop)
            values.append(v1)
        points.append(ONE)
        values.append(v1)
        slopes = [(values[j + 1] - values[j]) / (points[j + 1] - points[j]) for j in range(len(points) - 1)]
        slope += slopes[0]
        events.extend((points[j], slopes[j] - slopes[j - 1]) for j in range(1, len(slopes)))
    events.sort(key=lambda e: e[0])
    for i in todo:
        out[i] = _crossing(g0, slope, events, limits[i])
    return out


def _crossing(g0: Decimal, slope: Decimal, events: Sequence[tuple[Decimal, Decimal]], limit: Decimal) -> Decimal:
    k_cur, value = ZERO, g0
    for k_next, change in events:
        value_next = value + slope * (k_next - k_cur)
        if value_next > limit:
            break
        k_cur, value = k_next, value_next
        slope += change
    if slope <= 0:  # cannot happen for convex g with g(1) > limit >= g(k_cur); stay safe
        return k_cur
    return min(ONE, max(ZERO, k_cur + (limit - value) / slope))


def abs_phi(x: Decimal) -> Decimal:
    return abs(x)


def per_position_scale(x0: Decimal, dx: Decimal, cap: Decimal) -> Decimal | None:
    """Largest k in [0, 1] with |x0 + k dx| <= cap; None when |x0| > cap already."""
    if abs(x0) > cap:
        return None
    if abs(x0 + dx) <= cap:
        return ONE
    edge = cap if dx > 0 else -cap
    return max(ZERO, min(ONE, (edge - x0) / dx))
