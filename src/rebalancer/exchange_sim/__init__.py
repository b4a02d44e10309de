"""The local exchange: a REST server that unmodified ccxt classes talk to, in one exchange's dialect.

Scenario files seed it, Engine holds the state and money math (dialect-neutral, refusing with neutral
Rejection reasons), the aiohttp server routes, faults and persists, and dialects/<exchange>/ speak each
exchange's wire format (binance, bybit, okx).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .engine import Engine, OrderRequest, SimClock, cross_liquidation_price, fill_position
from .rejections import Reason, Rejection
from .scenario import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    FaultSpec,
    MarketSpec,
    Scenario,
    ScenarioError,
    coerce_scenario,
    example_scenario,
    load_scenario,
    scenario_from_dict,
)

if TYPE_CHECKING:
    from .runner import RemoteBindRefused, RunningExchange, exchange_in_thread, serve_forever, start_exchange
    from .server import SimServer

# The HTTP side is imported on first use: it pulls in aiohttp, and importing runner eagerly here
# would make `python -m rebalancer.exchange_sim.runner` load the module twice (runpy warning).
_LAZY = {
    "RemoteBindRefused": "runner", "RunningExchange": "runner", "exchange_in_thread": "runner",
    "serve_forever": "runner", "start_exchange": "runner", "SimServer": "server",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_API_KEY", "DEFAULT_API_SECRET", "Engine", "FaultSpec", "MarketSpec",
    "OrderRequest", "Reason", "Rejection", "RemoteBindRefused", "RunningExchange", "Scenario", "ScenarioError", "SimClock",
    "SimServer", "coerce_scenario", "cross_liquidation_price", "example_scenario", "exchange_in_thread",
    "fill_position", "load_scenario", "scenario_from_dict", "serve_forever", "start_exchange",
]
