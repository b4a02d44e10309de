"""Why the local exchange refuses something, in no exchange's words: the engine and the server raise
these, and each dialect turns a reason into its venue's own code, message and HTTP status.

A dialect's table must map every reason to the code its real exchange answers for the same refusal,
so the unmodified ccxt class raises the same exception class as in production.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    # requests and auth (server / dialect)
    MISSING_PARAMETER = "missing_parameter"
    BAD_PARAMETER = "bad_parameter"
    AUTH_MISSING_KEY = "auth_missing_key"
    AUTH_BAD_KEY = "auth_bad_key"
    BAD_SIGNATURE = "bad_signature"
    TIMESTAMP_OUTSIDE_WINDOW = "timestamp_outside_window"
    RATE_LIMITED = "rate_limited"  # fault: HTTP 429 with Retry-After
    SERVICE_UNAVAILABLE = "service_unavailable"  # fault: HTTP 5xx, nothing executed
    UNKNOWN_ROUTE = "unknown_route"
    INTERNAL = "internal"  # a sim bug: loud and permanent (ccxt must not retry it away)
    FORCED = "forced"  # fault reject_orders_with: Rejection.code is the dialect's own code
    UNSUPPORTED = "unsupported"  # something a real account could do that the sim does not simulate
    # markets and orders (engine)
    UNKNOWN_SYMBOL = "unknown_symbol"
    ORDER_NOT_FOUND = "order_not_found"
    CANCEL_UNKNOWN_ORDER = "cancel_unknown_order"
    BAD_SIDE = "bad_side"
    BAD_ORDER_TYPE = "bad_order_type"
    BAD_TIME_IN_FORCE = "bad_time_in_force"
    PRICE_NOT_ALLOWED = "price_not_allowed"  # a price on a market order
    BAD_PRICE_TICK = "bad_price_tick"
    QUANTITY_NOT_POSITIVE = "quantity_not_positive"
    QUANTITY_ABOVE_MAX = "quantity_above_max"
    LOT_SIZE = "lot_size"  # not on the step grid or below the minimum quantity
    MIN_NOTIONAL = "min_notional"
    DUPLICATE_CLIENT_ID = "duplicate_client_id"
    REDUCE_ONLY_REJECTED = "reduce_only_rejected"
    POSITION_SIDE_MISMATCH = "position_side_mismatch"  # one-way vs hedge-mode order
    POSITION_LIMIT = "position_limit"  # above the notional cap of the current leverage tier
    INSUFFICIENT_MARGIN = "insufficient_margin"
    STOP_WOULD_TRIGGER = "stop_would_trigger"  # a stop on the wrong side of the mark (Binance -2021)
    INSUFFICIENT_BALANCE = "insufficient_balance"  # a wallet transfer over what the source wallet holds
    # account settings (engine)
    BAD_LEVERAGE = "bad_leverage"
    LEVERAGE_INSUFFICIENT_MARGIN = "leverage_insufficient_margin"
    LEVERAGE_UNCHANGED = "leverage_unchanged"  # only dialects whose venue refuses a no-op (Bybit 110043)
    MARGIN_MODE_UNCHANGED = "margin_mode_unchanged"
    MARGIN_MODE_OPEN_ORDERS = "margin_mode_open_orders"
    MARGIN_MODE_POSITION = "margin_mode_position"
    POSITION_MODE_UNCHANGED = "position_mode_unchanged"
    POSITION_MODE_POSITION = "position_mode_position"


class Rejection(Exception):
    """A refusal: `reason`, an optional `detail` (replaces the dialect's default message), an HTTP
    `status` override (faults, routes) and, for Reason.FORCED, the dialect's own `code`."""

    def __init__(self, reason: Reason, detail: str | None = None, *, status: int | None = None,
                 code: str | None = None) -> None:
        self.reason, self.detail, self.status, self.code = reason, detail, status, code
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)


__all__ = ["Reason", "Rejection"]
