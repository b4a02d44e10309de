"""The local exchange's WEEX dialect (spot /api/v3 and USDT-M contract /capi/v3, sizes in base units)."""

from .codes import CODES, answer
from .routes import WeexDialect

__all__ = ["CODES", "WeexDialect", "answer"]
