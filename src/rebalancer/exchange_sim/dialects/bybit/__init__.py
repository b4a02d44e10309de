"""The local exchange's Bybit v5 dialect (unified trading account, linear USDT perpetuals + spot)."""

from .routes import BybitDialect

__all__ = ["BybitDialect"]
