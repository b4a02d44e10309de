"""Reading a request's parameters (query, form or JSON values) for the dialects, each refusal in the
venue's own wording: one reader per dialect, the same rules everywhere.

Bybit, BingX and WEEX share these rules; Binance, OKX and MEXC keep their own readers because their
venues refuse differently (Binance's -1100 legal-range texts, OKX's per-field codes, MEXC's integers).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from ..rejections import Reason, Rejection


@dataclass(frozen=True)
class ParamReader:
    """`missing`, `bad_number`, `bad_integer` and `bad_bool` are the refusal texts, with `{name}` for
    the parameter. `blank_bool_is_false`: an empty boolean parameter reads as false rather than being
    refused (BingX, whose parameters are all query-string text)."""

    missing: str
    bad_number: str
    bad_integer: str
    bad_bool: str
    blank_bool_is_false: bool = False

    def _bad(self, template: str, name: str) -> Rejection:
        return Rejection(Reason.BAD_PARAMETER, template.format(name=name))

    def str(self, params: Mapping[str, Any], name: str) -> str | None:
        """The value as text, None when absent or empty; a JSON boolean as "true"/"false"."""
        value = params.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        return f"{value}"

    def required(self, params: Mapping[str, Any], name: str) -> str:
        value = self.str(params, name)
        if value is None:
            raise Rejection(Reason.MISSING_PARAMETER, self.missing.format(name=name))
        return value

    def decimal(self, params: Mapping[str, Any], name: str) -> Decimal | None:
        value = self.str(params, name)
        if value is None:
            return None
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise self._bad(self.bad_number, name) from None
        if not number.is_finite():
            raise self._bad(self.bad_number, name)
        return number

    def int(self, params: Mapping[str, Any], name: str, default: int | None = None) -> int | None:
        value = self.str(params, name)
        if value is None:
            return default
        if not value.lstrip("-").isdigit():
            raise self._bad(self.bad_integer, name)
        return int(value)

    def bool(self, params: Mapping[str, Any], name: str) -> bool:
        value = params.get(name)
        if value is None or isinstance(value, bool):
            return bool(value)
        text = f"{value}".lower()
        if text == "" and self.blank_bool_is_false:
            return False
        if text not in ("true", "false"):
            raise self._bad(self.bad_bool, name)
        return text == "true"


__all__ = ["ParamReader"]
