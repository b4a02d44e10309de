"""Bybit v5's retCodes and texts, and which code answers each neutral refusal (rejections.Reason).

ccxt's bybit class first matches the whole body against a few phrases (`exceptions['broad']`), then
the retCode (`exceptions['exact']`), so the texts avoid those phrases unless the class they pick is
the one wanted (UNKNOWN_SYMBOL says "Not supported symbols" on purpose: BadSymbol, as Bybit does).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from aiohttp import web

from ...rejections import Reason, Rejection

RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True)
class Code:
    """How Bybit answers one refusal: retCode (None: not a JSON answer at all), text, HTTP status."""

    ret_code: int | None
    message: str
    status: int = 200  # Bybit answers business errors with HTTP 200 and a retCode


# Bybit's own texts, by retCode (used for FORCED codes too).
MESSAGES: dict[int, str] = {
    10001: "params error",
    10002: "invalid request, please check your server timestamp or recv_window param",
    10003: "API key is invalid.",
    10004: "error sign! origin_string",
    10006: "Too many visits!",
    10016: "Server error.",
    10017: "route not found",
    110001: "order not exists or too late to cancel",
    110007: "ab not enough for new order",
    110016: "Requested quantity of contracts exceeds risk limit, please adjust your risk limit level before trying again",
    110017: "current position is zero, cannot fix reduce-only order qty",
    110024: "You have an existing position, so position mode cannot be switched",
    110025: "Position mode is not modified",
    110026: "Cross/isolated margin mode is not modified",
    110043: "leverage not modified",
    110044: "Insufficient available margin",
    110072: "OrderLinkedID is duplicate",
    110092: "expect Rising, but trigger_price <= current",
    110093: "expect Falling, but trigger_price >= current",
    110094: "Order does not meet minimum order value",
    131211: "fromAccountType can't be the same as toAccountType",
    131212: "Insufficient balance",
    131214: "TransferId exist",
    170136: "Order quantity lower than the minimum.",
    170227: "This feature is not supported.",
    3400045: "Set margin mode failed",
}

# Every neutral reason -> Bybit's answer. Where Bybit v5 linear answers a bare 10001 (BadRequest)
# for an order-shape problem the rebalancer must treat as a rejected order, a Bybit code ccxt maps
# to InvalidOrder is used instead (LOT_SIZE: 170136); both are "rejected, do not retry".
CODES: dict[Reason, Code] = {
    Reason.MISSING_PARAMETER: Code(10001, "Missing some parameters that must be filled in"),
    Reason.BAD_PARAMETER: Code(10001, "params error"),
    Reason.AUTH_MISSING_KEY: Code(10003, MESSAGES[10003], 401),
    Reason.AUTH_BAD_KEY: Code(10003, MESSAGES[10003]),
    Reason.BAD_SIGNATURE: Code(10004, MESSAGES[10004]),
    Reason.TIMESTAMP_OUTSIDE_WINDOW: Code(10002, MESSAGES[10002]),
    # HTTP 429 is Bybit's "system level frequency protection"; the body carries 10006 so ccxt
    # raises RateLimitExceeded whichever it reads first.
    Reason.RATE_LIMITED: Code(10006, MESSAGES[10006], 429),
    # A gateway's plain-text 503, not a JSON answer: ccxt raises ExchangeNotAvailable (retryable).
    # (Bybit's JSON 10016 would be a permanent ExchangeError in ccxt.)
    Reason.SERVICE_UNAVAILABLE: Code(None, "503 Service Temporarily Unavailable", 503),
    Reason.UNKNOWN_ROUTE: Code(10017, MESSAGES[10017], 404),
    Reason.INTERNAL: Code(10016, MESSAGES[10016]),  # ccxt: ExchangeError, never retried away
    Reason.UNSUPPORTED: Code(170227, MESSAGES[170227]),
    Reason.UNKNOWN_SYMBOL: Code(10001, "Not supported symbols"),  # broad match -> BadSymbol
    Reason.ORDER_NOT_FOUND: Code(110001, MESSAGES[110001]),
    Reason.CANCEL_UNKNOWN_ORDER: Code(110001, MESSAGES[110001]),
    Reason.BAD_SIDE: Code(10001, "params error: Side invalid"),
    Reason.BAD_ORDER_TYPE: Code(10001, "params error: OrderType invalid"),
    Reason.BAD_TIME_IN_FORCE: Code(10001, "params error: TimeInForce invalid"),
    Reason.PRICE_NOT_ALLOWED: Code(10001, "params error: price invalid"),
    Reason.BAD_PRICE_TICK: Code(10001, "Order price has too many decimals."),
    Reason.QUANTITY_NOT_POSITIVE: Code(10001, "params error: qty invalid"),
    Reason.QUANTITY_ABOVE_MAX: Code(10001, "The number of contracts exceeds maximum limit allowed: too large"),
    Reason.LOT_SIZE: Code(170136, MESSAGES[170136]),
    Reason.MIN_NOTIONAL: Code(110094, MESSAGES[110094]),
    Reason.DUPLICATE_CLIENT_ID: Code(110072, MESSAGES[110072]),
    Reason.REDUCE_ONLY_REJECTED: Code(110017, MESSAGES[110017]),
    Reason.POSITION_SIDE_MISMATCH: Code(10001, "position idx not match position mode"),
    Reason.POSITION_LIMIT: Code(110016, MESSAGES[110016]),
    Reason.INSUFFICIENT_MARGIN: Code(110007, MESSAGES[110007]),
    # A conditional order whose trigger price is already passed in its triggerDirection: 110092
    # (expect Rising) here, 110093 (expect Falling) when the route knows the direction (Rejection.code).
    Reason.STOP_WOULD_TRIGGER: Code(110092, MESSAGES[110092]),
    # /v5/asset/transfer/inter-transfer over the source account's balance.
    Reason.INSUFFICIENT_BALANCE: Code(131212, MESSAGES[131212]),
    Reason.BAD_LEVERAGE: Code(10001, "params error: leverage invalid"),
    Reason.LEVERAGE_INSUFFICIENT_MARGIN: Code(110044, MESSAGES[110044]),
    Reason.LEVERAGE_UNCHANGED: Code(110043, MESSAGES[110043]),
    Reason.MARGIN_MODE_UNCHANGED: Code(110026, MESSAGES[110026]),
    Reason.MARGIN_MODE_OPEN_ORDERS: Code(3400045, MESSAGES[3400045]),
    Reason.MARGIN_MODE_POSITION: Code(3400045, MESSAGES[3400045]),
    Reason.POSITION_MODE_UNCHANGED: Code(110025, MESSAGES[110025]),
    Reason.POSITION_MODE_POSITION: Code(110024, MESSAGES[110024]),
}

# Reasons whose detail (the engine's or the server's words) is worth showing; the others get
# Bybit's own text, since the engine's details are written in Binance's words.
_DETAILED = frozenset({Reason.UNSUPPORTED, Reason.INTERNAL, Reason.MIN_NOTIONAL, Reason.TIMESTAMP_OUTSIDE_WINDOW,
                       Reason.MISSING_PARAMETER, Reason.BAD_PARAMETER, Reason.STOP_WOULD_TRIGGER})


def answer(rejection: Rejection) -> tuple[int | None, str, int]:
    """(retCode, retMsg, HTTP status) for a refusal."""
    if rejection.reason is Reason.FORCED:
        code = int(rejection.code) if rejection.code is not None else 10001
        text = rejection.detail or MESSAGES.get(code, f"Order rejected by the exchange-sim fault (retCode {code}).")
        return code, text, rejection.status or 200
    entry = CODES[rejection.reason]
    text = entry.message
    if rejection.reason in _DETAILED and rejection.detail:
        text = rejection.detail
    # A route may name the exact Bybit code of a reason with two (STOP_WOULD_TRIGGER: 110092 / 110093).
    code = int(rejection.code) if rejection.code is not None else entry.ret_code
    if rejection.code is not None and not (rejection.reason in _DETAILED and rejection.detail):
        text = MESSAGES.get(code, text)
    return code, text, rejection.status or entry.status


def envelope(ret_code: int, message: str, result: Any, time_ms: int) -> dict[str, Any]:
    """Every Bybit v5 body: retCode, retMsg, result, retExtInfo, time."""
    return {"retCode": ret_code, "retMsg": message, "result": result, "retExtInfo": {}, "time": time_ms}


def error_response(rejection: Rejection, clock: Callable[[], int]) -> web.Response:
    code, text, status = answer(rejection)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if rejection.reason is Reason.RATE_LIMITED else None
    if code is None:
        return web.Response(status=status, text=text, content_type="text/plain", headers=headers)
    body = envelope(code, text, {}, clock())
    return web.Response(status=status, text=json.dumps(body), content_type="application/json", headers=headers)


__all__ = ["CODES", "MESSAGES", "Code", "answer", "envelope", "error_response"]
