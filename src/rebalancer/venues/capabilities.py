"""Exchange differences as data: modes, how to reach demo/testnet, id rules, call parameters.

Code reads these records instead of branching on exchange names (see notes/ccxt-4.5.90.md §1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Mapping


@dataclass(frozen=True)
class Capabilities:
    exchange: str
    modes: frozenset[str]
    # How ccxt reaches each non-live mode: "demo_trading" = enable_demo_trading(True) after construction,
    # "sandbox" = set_sandbox_mode(True). Binance's futures sandbox is dead: demo trading only.
    mode_switch: Mapping[str, str]
    client_id_max: int
    client_id_pattern: str  # characters the exchange accepts in a client order id
    options: Mapping[str, Any] = field(default_factory=dict)  # lean ccxt options
    futures_balance_params: Mapping[str, Any] = field(default_factory=dict)
    has_position_mode: bool = False  # fetch_position_mode tells one-way vs hedge mode
    needs_password: bool = False
    # Where a fill's commission is read: "income" = one account-wide commission ledger read per
    # cycle (Binance USDⓈ-M /fapi/v1/income), "trades" = the unified fetch_my_trades per symbol.
    fee_source: str = "trades"
    # How the leverage tiers (maintenance brackets) are read, at connect and hourly: "batch" = one
    # fetch_leverage_tiers(symbols) for every symbol (Binance GET /fapi/v1/leverageBracket),
    # "per_symbol" = fetch_market_leverage_tiers(symbol), symbols concurrently, "none" = the venue
    # publishes none (markets get no tiers; the gate uses default_mmr). ccxt's `has` must agree.
    leverage_tiers: str = "per_symbol"
    # ccxt option that caches the brackets for fetch_positions / fetch_leverages (Binance:
    # options['leverageBrackets'], {symbol: [[floor, mmr], ...]}): filled from the tiers read, so
    # ccxt does not read the same brackets again on its own.
    bracket_cache_option: str | None = None
    # Where each perp's funding interval comes from, refreshed with the rates every snapshot (never
    # assumed): "intervals" = fetch_funding_intervals beside fetch_funding_rates (Binance GET
    # /fapi/v1/fundingInfo, which lists only symbols off the default: the others are
    # `funding_interval_default_hours`, Binance's documented 8h), "rates" = the unified `interval`
    # of fetch_funding_rates (a symbol without one gets no Funding: the FUNDING check denies it).
    funding_interval_source: str = "rates"
    funding_interval_default_hours: Decimal | None = None
    # The venue waives min_cost for reduce-only orders (Binance -4164 "... unless reduce only").
    reduce_only_min_cost_exempt: bool = False

    def valid_client_id(self, cid: str) -> bool:
        return len(cid) <= self.client_id_max and re.fullmatch(self.client_id_pattern, cid) is not None


_BINANCE_OPTIONS = {
    "fetchMarkets": {"types": ["spot", "linear"]},
    "fetchCurrencies": False,  # else a signed sapi call that demo keys cannot make
    "fetchMargins": False,
    "adjustForTimeDifference": True,
    "fetchOpenOrders": {"warnWithoutSymbol": False},
}

CAPABILITIES: dict[str, Capabilities] = {
    "binance": Capabilities(
        exchange="binance",
        modes=frozenset({"live", "demo", "local"}),
        mode_switch={"demo": "demo_trading"},
        client_id_max=36,
        client_id_pattern=r"[.A-Z:/a-z0-9_-]+",
        options=_BINANCE_OPTIONS,
        futures_balance_params={"type": "future"},
        has_position_mode=True,
        fee_source="income",
        leverage_tiers="batch",
        bracket_cache_option="leverageBrackets",
        funding_interval_source="intervals",
        funding_interval_default_hours=Decimal(8),
        reduce_only_min_cost_exempt=True,
    ),
    "binanceusdm": Capabilities(
        exchange="binanceusdm",
        modes=frozenset({"live", "demo", "local"}),
        mode_switch={"demo": "demo_trading"},
        client_id_max=36,
        client_id_pattern=r"[.A-Z:/a-z0-9_-]+",
        options={k: v for k, v in _BINANCE_OPTIONS.items() if k != "fetchMarkets"},
        futures_balance_params={"type": "future"},
        has_position_mode=True,
        fee_source="income",
        leverage_tiers="batch",
        bracket_cache_option="leverageBrackets",
        funding_interval_source="intervals",
        funding_interval_default_hours=Decimal(8),
        reduce_only_min_cost_exempt=True,
    ),
    "bybit": Capabilities(
        exchange="bybit",
        modes=frozenset({"live", "demo", "testnet"}),
        mode_switch={"demo": "demo_trading", "testnet": "sandbox"},
        client_id_max=36,
        client_id_pattern=r"[A-Za-z0-9_-]+",
        options={"fetchMarkets": {"types": ["spot", "linear"]}, "fetchCurrencies": False},
        futures_balance_params={},
        has_position_mode=False,
        # fetch_leverage_tiers(symbols) pages through the risk limits of symbols[0] only (ccxt 4.5.90
        # bybit.fetch_leverage_tiers): one symbol per call.
        leverage_tiers="per_symbol",
    ),
    "okx": Capabilities(
        exchange="okx",
        modes=frozenset({"live", "demo"}),
        mode_switch={"demo": "sandbox"},  # OKX demo == sandbox header x-simulated-trading: 1
        client_id_max=32,
        client_id_pattern=r"[A-Za-z0-9]+",
        options={"fetchMarkets": {"types": ["spot", "swap"]}, "fetchCurrencies": False},
        futures_balance_params={},
        has_position_mode=True,
        needs_password=True,
        leverage_tiers="per_symbol",  # has['fetchLeverageTiers'] is False: /public/position-tiers per symbol
    ),
}

# Client order ids are built from this alphabet so one id is valid on every exchange above.
CLIENT_ID_SAFE_MAX = min(c.client_id_max for c in CAPABILITIES.values())


def capabilities(exchange: str) -> Capabilities:
    try:
        return CAPABILITIES[exchange]
    except KeyError:
        raise ValueError(
            f"exchange {exchange!r} is not supported; choose one of {', '.join(sorted(CAPABILITIES))}"
        ) from None
