"""The local exchange's dialects: one exchange's wire protocol each, over the one engine."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .base import Dialect

# name -> "module:Class", imported on use so a dialect's import cost is paid only when served.
DIALECTS: dict[str, str] = {
    "binance": "rebalancer.exchange_sim.dialects.binance:BinanceDialect",
    "bybit": "rebalancer.exchange_sim.dialects.bybit:BybitDialect",
    "okx": "rebalancer.exchange_sim.dialects.okx:OkxDialect",
    "mexc": "rebalancer.exchange_sim.dialects.mexc:MexcDialect",
    "bingx": "rebalancer.exchange_sim.dialects.bingx:BingxDialect",
    "weex": "rebalancer.exchange_sim.dialects.weex:WeexDialect",
}
DEFAULT_DIALECT = "binance"


def dialect_class(name: str) -> "type[Dialect]":
    try:
        target = DIALECTS[name]
    except KeyError:
        raise ValueError(f"unknown dialect {name!r}; choose one of {', '.join(DIALECTS)}") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


__all__ = ["DEFAULT_DIALECT", "DIALECTS", "dialect_class"]
