"""The local exchange's OKX v5 dialect (demo trading: spot instruments, USDT linear swaps in contracts)."""

from .codes import CODES, OkxError, okx_code
from .routes import OkxDialect

__all__ = ["CODES", "OkxDialect", "OkxError", "okx_code"]
