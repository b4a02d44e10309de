"""The local exchange's Binance dialect (spot /api/v3, USDⓈ-M /fapi)."""

from .codes import BinanceError, binance_code
from .routes import BinanceDialect

__all__ = ["BinanceDialect", "BinanceError", "binance_code"]
