"""The local exchange: a Binance-compatible (spot + USDⓈ-M) REST server that unmodified ccxt talks to.

Scenario files seed it, Engine holds the state and money math, the aiohttp server speaks Binance's wire format.
"""

from .engine import BinanceError, Engine, OrderRequest, SimClock, cross_liquidation_price, fill_position
from .runner import RemoteBindRefused, RunningExchange, exchange_in_thread, serve_forever, start_exchange
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
from .server import SimServer

__all__ = [
    "BinanceError", "DEFAULT_API_KEY", "DEFAULT_API_SECRET", "Engine", "FaultSpec", "MarketSpec",
    "OrderRequest", "RemoteBindRefused", "RunningExchange", "Scenario", "ScenarioError", "SimClock",
    "SimServer", "coerce_scenario", "cross_liquidation_price", "example_scenario", "exchange_in_thread",
    "fill_position", "load_scenario", "scenario_from_dict", "serve_forever", "start_exchange",
]
