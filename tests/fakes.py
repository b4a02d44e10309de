"""Hand-written builders for snapshots and params used by the pure unit tests.

Prices are fresh (timestamped at NOW) and markets have a fine amount step unless told otherwise.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Mapping

from rebalancer.domain import (
    D,
    Funding,
    HedgeAccount,
    Holding,
    Market,
    PlanParams,
    Position,
    Quote,
    RiskLimits,
    Snapshot,
    Tier,
    tiers_with_cum,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def tiers(*rows) -> tuple[Tier, ...]:
    """Tiers from (cap, mmr, max_leverage) rows, floors from the previous cap, cum by continuity."""
    out, floor = [], D(0)
    for cap, mmr, lev in rows:
        out.append(Tier(floor, D(cap) if cap is not None else None, D(mmr), D(0), D(lev) if lev is not None else None))
        floor = D(cap) if cap is not None else floor
    return tiers_with_cum(out)


def market(asset: str, *, step="0.00001", min_amount=None, min_cost="5", mmr="0.005", contract_size="1",
           tiers=(), max_amount=None, max_market_amount=None, ro_exempt=False, position_cap=None) -> Market:
    return Market(
        symbol=f"{asset}/USDT:USDT",
        base=asset,
        quote="USDT",
        contract_size=D(contract_size),
        amount_step=D(step) if step is not None else None,
        min_amount=D(min_amount) if min_amount is not None else None,
        min_cost=D(min_cost) if min_cost is not None else None,
        mmr=D(mmr) if mmr is not None else None,
        tiers=tuple(tiers),
        max_amount=D(max_amount) if max_amount is not None else None,
        max_market_amount=D(max_market_amount) if max_market_amount is not None else None,
        reduce_only_min_cost_exempt=ro_exempt,
        position_cap=D(position_cap) if position_cap is not None else None,
    )


def snapshot(
    spot: Mapping[str, tuple[object, object]],
    *,
    positions: Mapping[str, object] | None = None,
    marks: Mapping[str, object] | None = None,
    funding: Mapping[str, object] | None = None,
    equity: object | None = "100000",
    no_perp: tuple[str, ...] = (),
    market_kw: Mapping[str, dict] | None = None,
    cash: object | None = None,
    at: datetime = NOW,
    unlisted: tuple[str, ...] = (),
) -> Snapshot:
    """spot: asset -> (quantity, spot price). marks default to spot prices; positions in base units."""
    holdings = [Holding(a, D(q), "exchange") for a, (q, _p) in spot.items()]
    if cash is not None:
        holdings.append(Holding("USDT", D(cash), "exchange"))
    spot_prices = {a: Quote(D(p), at) for a, (_q, p) in spot.items() if a not in unlisted}
    mark_prices = {a: Quote(D(p), at) for a, (_q, p) in spot.items()}
    for a, p in (marks or {}).items():
        mark_prices[a] = Quote(D(p), at)
    markets = {a: market(a, **(market_kw or {}).get(a, {})) for a in spot if a not in no_perp}
    for a in no_perp:
        mark_prices.pop(a, None)
    pos = {a: Position(a, f"{a}/USDT:USDT", D(h), entry_price=mark_prices[a].price) for a, h in (positions or {}).items()}
    fund = {a: Funding(D("0.0001")) for a in markets}
    for a, r in (funding or {}).items():
        # a rate per 8h, or (rate, interval hours)
        fund[a] = Funding(D(r[0]), D(r[1])) if isinstance(r, tuple) else Funding(D(r))
    account = HedgeAccount(equity=D(equity), wallet=D(equity)) if equity is not None else None
    return Snapshot(
        taken_at=at,
        quote="USDT",
        holdings=tuple(holdings),
        positions=pos,
        markets=markets,
        spot_prices=spot_prices,
        mark_prices=mark_prices,
        funding=fund,
        account=account,
        spot_unlisted=frozenset(unlisted),
    )


def params(targets: Mapping[str, object], **kw) -> PlanParams:
    return PlanParams(targets={a: D(w) for a, w in targets.items()}, **kw)


def limits(**kw) -> RiskLimits:
    return RiskLimits(**{k: (D(v) if not isinstance(v, bool) else v) for k, v in kw.items()})


def after_execution(snap: Snapshot, orders) -> Snapshot:
    """The snapshot that perfect execution of `orders` at the plan's price would leave."""
    from dataclasses import replace

    amounts = {a: p.amount for a, p in snap.positions.items()}
    for o in orders:
        amounts[o.asset] = amounts.get(o.asset, Decimal(0)) + o.signed_base
    positions = {a: Position(a, f"{a}/USDT:USDT", h) for a, h in amounts.items() if h != 0}
    return replace(snap, positions=positions)


def isolate_env(tmp_path, monkeypatch) -> None:
    """Keep a CLI test away from the caller's REBALANCER_* variables and any real secrets dir."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("REBALANCER_"):
            monkeypatch.delenv(name)
    secrets = tmp_path / "no-secrets"
    secrets.mkdir()
    monkeypatch.setenv("REBALANCER_SECRETS_DIR", str(secrets))
