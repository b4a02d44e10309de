"""Exchange differences as data: modes, how to reach demo/testnet, id rules, call parameters.

Code reads these records instead of branching on exchange names (see notes/ccxt-4.5.90.md §1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
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
