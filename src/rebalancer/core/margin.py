"""Maintenance margin from the exchange's tiers, and the largest position a leverage allows.

DOMAIN.md "LIQUIDATION" and "LEVERAGE_TIER": for notional n in tier i, mm = n * mmr_i - cum_i.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Sequence

from ..domain import ZERO, Tier


def maintenance(notional: Decimal, tiers: Sequence[Tier], default_mmr: Decimal) -> Decimal:
    """Maintenance margin of a position of `notional` (>= 0): tiered where the venue publishes
    tiers, else notional * default_mmr."""
    if not tiers:
        return notional * default_mmr
    chosen = tiers[0]
    for tier in tiers:
        if notional >= tier.floor:
            chosen = tier
        else:
            break
    return notional * chosen.mmr - chosen.cum


def tier_kinks(tiers: Sequence[Tier]) -> tuple[Decimal, ...]:
    """Notionals where the maintenance rate changes (every floor above the first)."""
    return tuple(t.floor for t in tiers[1:] if t.floor > 0)


def leverage_cap(tiers: Sequence[Tier], leverage: Decimal) -> Decimal | None:
    """The largest notional a position may have at `leverage` (Binance -2027 above it): the cap of
    the last tier that allows the leverage. None: no limit known (no tiers, or an open last tier)."""
    if not tiers:
        return None
    allowed = [t for t in tiers if t.max_leverage is None or t.max_leverage >= leverage]
    if not allowed:
        return ZERO
    last = allowed[-1]
    return last.cap
