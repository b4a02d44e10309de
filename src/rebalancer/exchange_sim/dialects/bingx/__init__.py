"""The local exchange's BingX dialect (USDT-M perpetual swaps, v2/v3 swap API, and spot)."""

from .codes import CODES
from .routes import BingxDialect

__all__ = ["CODES", "BingxDialect"]
