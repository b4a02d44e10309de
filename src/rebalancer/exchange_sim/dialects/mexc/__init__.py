"""The local exchange's MEXC dialect (spot v3 + USDT-M contract v1, contracts of the venue's sizes)."""

from .codes import CODES
from .routes import MexcDialect

__all__ = ["CODES", "MexcDialect"]
