"""WEEX's error codes and texts, and which code answers each neutral refusal (rejections.Reason).

ccxt's weex class (handle_errors) reads a body's `msg`: it first matches the text broadly
('amount not enough' -> InsufficientFunds, 'INVALID_ARGUMENT' -> BadRequest), then the `code`
exactly, then the text exactly, and raises a plain ExchangeError for any other body with a `msg`.
A body without `msg` (or not JSON) falls through to the HTTP status (429 RateLimitExceeded, 503
ExchangeNotAvailable). So the rate-limit and 5xx faults answer plain text, and every JSON error
carries `msg`.

Codes from ccxt's own table (-1040..-1058, -1115..-1180, -2200, -3007, -3200, -3313) are WEEX's;
where WEEX's table names no code for a refusal (duplicate client id, reduce-only, min quantity,
position cap) the nearest parameter code is used (-1140/-1142, BadRequest: rejected, not retried).
Known consequences for a client, on purpose (true to ccxt 4.5.90):
- an unknown contract order on GET /capi/v3/order is -3200, which ccxt maps to InvalidOrder, NOT
  OrderNotFound (an unknown *cancel* answers WEEX's FAILED_ORDER_NOT_FOUND item instead: OrderNotFound);
- an expired timestamp is -1046, which ccxt maps to BadRequest, NOT InvalidNonce.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

from aiohttp import web

from ...rejections import Reason, Rejection

RETRY_AFTER_SECONDS = 1
SIM_UNSUPPORTED = -99900  # not a WEEX code: ccxt raises a plain ExchangeError (permanent)


@dataclass(frozen=True)
class Code:
    """How WEEX answers one refusal: code (None: a plain-text answer, no JSON), text, HTTP status."""

    code: int | None
    message: str
    status: int = 400


MESSAGES: dict[int, str] = {
    -1000: "An unknown error occurred.",
    -1040: "ACCESS_KEY header is required.",
    -1041: "ACCESS_SIGN header is required.",
    -1042: "ACCESS_TIMESTAMP header is required.",
    -1043: "Invalid ACCESS_TIMESTAMP.",
    -1044: "Invalid ACCESS_KEY.",
    -1046: "Request timestamp expired.",
    -1047: "API authentication failed.",
    -1049: "API key or passphrase incorrect.",
    -1115: "Invalid timeInForce.",
    -1116: "Invalid order type.",
    -1117: "Invalid side.",
    -1121: "Invalid symbol.",
    -1128: "Combination of optional parameters invalid.",
    -1140: "Parameter validation failed.",
    -1141: "Parameter cannot be empty.",
    -1142: "Parameter is invalid.",
    -1150: "Request method not supported.",
    -1160: "Decimal precision error.",
    -1180: "client_oid length must not exceed 40 and must not contain special characters.",
    -2200: "Order does not exist.",
    -3007: "Maximum contract order quantity exceeded.",
    -3200: "Order does not exist.",
    -3313: "Leverage exceeds maximum limit.",
    SIM_UNSUPPORTED: "exchange-sim does not simulate this.",
}

# The phrase ccxt's weex class maps to InsufficientFunds (its only route to that class). WEEX sends
# such FAILED_PRECONDITION texts with -1054 (ccxt's example: "FAILED_PRECONDITION: Move margin
# available amount not enough ..."), so a forced -1054 (reject_orders_with = "-1054") says it too.
NOT_ENOUGH = "FAILED_PRECONDITION: available amount not enough"
MESSAGES[-1054] = NOT_ENOUGH

CODES: dict[Reason, Code] = {
    Reason.MISSING_PARAMETER: Code(-1141, MESSAGES[-1141]),
    Reason.BAD_PARAMETER: Code(-1142, MESSAGES[-1142]),
    Reason.AUTH_MISSING_KEY: Code(-1040, MESSAGES[-1040], 401),
    Reason.AUTH_BAD_KEY: Code(-1044, MESSAGES[-1044], 401),
    Reason.BAD_SIGNATURE: Code(-1047, MESSAGES[-1047], 401),
    Reason.TIMESTAMP_OUTSIDE_WINDOW: Code(-1046, MESSAGES[-1046], 401),
    Reason.RATE_LIMITED: Code(None, "Too Many Requests", 429),
    Reason.SERVICE_UNAVAILABLE: Code(None, "503 Service Temporarily Unavailable", 503),
    Reason.UNKNOWN_ROUTE: Code(404, "Not Found", 404),  # not a WEEX business code: ExchangeError
    Reason.INTERNAL: Code(-1000, MESSAGES[-1000], 500),  # a body with msg: ExchangeError, never retried
    Reason.UNSUPPORTED: Code(SIM_UNSUPPORTED, MESSAGES[SIM_UNSUPPORTED]),
    Reason.UNKNOWN_SYMBOL: Code(-1121, MESSAGES[-1121]),
    Reason.ORDER_NOT_FOUND: Code(-3200, MESSAGES[-3200]),  # ccxt: InvalidOrder (see the module doc)
    Reason.CANCEL_UNKNOWN_ORDER: Code(-3200, MESSAGES[-3200]),  # the cancel route answers FAILED_ORDER_NOT_FOUND
    Reason.BAD_SIDE: Code(-1117, MESSAGES[-1117]),
    Reason.BAD_ORDER_TYPE: Code(-1116, MESSAGES[-1116]),
    Reason.BAD_TIME_IN_FORCE: Code(-1115, MESSAGES[-1115]),
    Reason.PRICE_NOT_ALLOWED: Code(-1128, MESSAGES[-1128]),
    Reason.BAD_PRICE_TICK: Code(-1160, MESSAGES[-1160]),
    Reason.QUANTITY_NOT_POSITIVE: Code(-1140, "Parameter validation failed. quantity must be positive."),
    Reason.QUANTITY_ABOVE_MAX: Code(-3007, MESSAGES[-3007]),
    Reason.LOT_SIZE: Code(-1160, MESSAGES[-1160]),
    Reason.MIN_NOTIONAL: Code(-1140, "Parameter validation failed. order value below the minimum."),
    Reason.DUPLICATE_CLIENT_ID: Code(-1142, "Parameter is invalid. newClientOrderId is duplicated."),
    Reason.REDUCE_ONLY_REJECTED: Code(-1142, "Parameter is invalid. no position to reduce."),
    Reason.POSITION_SIDE_MISMATCH: Code(-1142, "Parameter is invalid. positionSide does not match the position mode."),
    Reason.POSITION_LIMIT: Code(-1140, "Parameter validation failed. position size exceeds the limit."),
    Reason.INSUFFICIENT_MARGIN: Code(-1054, NOT_ENOUGH),
    # WEEX's table names no code for a stop on the wrong side of the price (assumed): its invalid
    # order type code, so ccxt raises InvalidOrder as for Binance's -2021.
    Reason.STOP_WOULD_TRIGGER: Code(-1116, "Invalid order type. The trigger price would trigger immediately."),
    # Never raised here (ccxt 4.5.90's weex has no transfer); the FAILED_PRECONDITION phrase ccxt
    # maps to InsufficientFunds.
    Reason.INSUFFICIENT_BALANCE: Code(-1054, NOT_ENOUGH),
    Reason.BAD_LEVERAGE: Code(-3313, MESSAGES[-3313]),
    Reason.LEVERAGE_INSUFFICIENT_MARGIN: Code(-1054, NOT_ENOUGH),
    # WEEX accepts a setting that is already in force; these two are never raised by this dialect.
    Reason.LEVERAGE_UNCHANGED: Code(-1142, "Parameter is invalid. leverage not modified."),
    Reason.MARGIN_MODE_UNCHANGED: Code(-1142, "Parameter is invalid. margin type not modified."),
    Reason.MARGIN_MODE_OPEN_ORDERS: Code(-1054, "FAILED_PRECONDITION: open orders exist."),
    Reason.MARGIN_MODE_POSITION: Code(-1054, "FAILED_PRECONDITION: position exists."),
    Reason.POSITION_MODE_UNCHANGED: Code(-1142, "Parameter is invalid. position mode not modified."),
    Reason.POSITION_MODE_POSITION: Code(-1054, "FAILED_PRECONDITION: position exists."),
}

# Reasons whose detail (the engine's or a route's words) is shown instead of WEEX's text.
_DETAILED = frozenset({Reason.UNSUPPORTED, Reason.INTERNAL, Reason.MISSING_PARAMETER, Reason.BAD_PARAMETER,
                       Reason.UNKNOWN_ROUTE})


def answer(rejection: Rejection) -> tuple[int | None, str, int]:
    """(code, msg, HTTP status) for a refusal; FORCED carries a WEEX code of the fault's choosing."""
    if rejection.reason is Reason.FORCED:
        try:
            code = int(rejection.code) if rejection.code is not None else -1142
        except ValueError:
            code = -1142
        text = rejection.detail or MESSAGES.get(code, f"Order rejected by the exchange-sim fault (code {code}).")
        return code, text, rejection.status or 400
    entry = CODES[rejection.reason]
    text = rejection.detail if rejection.reason in _DETAILED and rejection.detail else entry.message
    return entry.code, text, rejection.status or entry.status


def error_response(rejection: Rejection, clock: Callable[[], int]) -> web.Response:
    code, text, status = answer(rejection)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if rejection.reason is Reason.RATE_LIMITED else None
    if code is None:
        return web.Response(status=status, text=text, content_type="text/plain", headers=headers)
    body = {"code": code, "msg": text, "requestTime": clock()}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json", headers=headers)


__all__ = ["CODES", "MESSAGES", "NOT_ENOUGH", "Code", "answer", "error_response"]
