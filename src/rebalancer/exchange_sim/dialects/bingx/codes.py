"""BingX's error codes and texts, and which code answers each neutral refusal (rejections.Reason).

ccxt's bingx class reads `code` and `msg` of any JSON body whose code is not 0 and matches the text,
then the code, against `exceptions['exact']` (its `broad` table is empty); an unmatched code is a
plain ExchangeError. BingX answers business errors with HTTP 200. The two faults are not JSON (a
gateway's plain-text 429 / 503), so ccxt's HTTP status table decides: RateLimitExceeded and
ExchangeNotAvailable, both retryable.
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
    """How BingX answers one refusal: code (None: not a JSON answer), text, HTTP status."""

    code: int | None
    message: str
    status: int = 200


# BingX's own texts, by code (used for FORCED codes too).
MESSAGES: dict[int, str] = {
    80012: "service unavailable",
    80014: "Invalid parameters",
    80016: "order not exist",
    80017: "position not exist",
    100001: "Signature verification failed",
    100202: "Insufficient assets",
    100400: "this api is not exist",
    100413: "Incorrect apiKey",
    100421: "Null timestamp or timestamp mismatch",
    100503: "server error",
    101204: "Insufficient margin",
    101205: "No position to close",
    101209: "The maximum position value for this leverage is exceeded",
    101400: "The order quantity is not valid",
    101481: "The clientOrderID is duplicated",
    109400: "Invalid parameters",
    109425: "symbol not exist, please verify it",
    110425: "Please ensure that the minimum nominal value of the order placed must be greater than 2u",
}

# Every neutral reason -> BingX's answer. Codes ccxt 4.5.90 maps: 80014/109400/100400 BadRequest,
# 80016 OrderNotFound, 100001/100413 AuthenticationError, 101204 InsufficientFunds, 101205/101400/
# 110425 InvalidOrder, 101481 DuplicateOrderId, 109425 BadSymbol, 100421 BadSymbol (sic: ccxt's
# table has 100421 as "pair restricted from API trading", but BingX answers it to a stale or
# future timestamp, as in ccxt issue 24131: {"code":100421,"msg":"Null timestamp or timestamp
# mismatch, ..."}; so a clock problem reaches the caller as BadSymbol). 101209 and 100503 are
# unmapped: ExchangeError.
# A conditional order whose stopPrice the mark has already passed: BingX refuses it with an order
# validation code; 101400 (InvalidOrder in ccxt 4.5.90) is used with a stop-price text. The exact
# BingX code/text for this refusal is not in ccxt's recordings (an assumption, see the report).
# A transfer over the source wallet: the asset endpoint answers `transferErrorMsg` "Insufficient
# assets" (ccxt's table: InsufficientFunds, matched on the text before the code), with 100202
# (InsufficientFunds too) as the code.
CODES: dict[Reason, Code] = {
    Reason.MISSING_PARAMETER: Code(109400, "Invalid parameters, a required parameter is missing"),
    Reason.BAD_PARAMETER: Code(109400, MESSAGES[109400]),
    Reason.AUTH_MISSING_KEY: Code(100413, "Null apiKey"),
    Reason.AUTH_BAD_KEY: Code(100413, MESSAGES[100413]),
    Reason.BAD_SIGNATURE: Code(100001, MESSAGES[100001]),
    Reason.TIMESTAMP_OUTSIDE_WINDOW: Code(100421, MESSAGES[100421]),
    Reason.RATE_LIMITED: Code(None, "429 Too Many Requests", 429),
    Reason.SERVICE_UNAVAILABLE: Code(None, "503 Service Temporarily Unavailable", 503),
    Reason.UNKNOWN_ROUTE: Code(100400, MESSAGES[100400], 404),
    Reason.INTERNAL: Code(100503, MESSAGES[100503]),  # ExchangeError, never retried away
    Reason.UNSUPPORTED: Code(109400, "Invalid parameters: not supported by the exchange-sim"),
    Reason.UNKNOWN_SYMBOL: Code(109425, MESSAGES[109425]),
    Reason.ORDER_NOT_FOUND: Code(80016, MESSAGES[80016]),
    Reason.CANCEL_UNKNOWN_ORDER: Code(80016, MESSAGES[80016]),
    Reason.BAD_SIDE: Code(80014, "Invalid parameters, side must be BUY or SELL"),
    Reason.BAD_ORDER_TYPE: Code(80014, "Invalid parameters, order type invalid"),
    Reason.BAD_TIME_IN_FORCE: Code(80014, "Invalid parameters, timeInForce invalid"),
    Reason.PRICE_NOT_ALLOWED: Code(80014, "Invalid parameters, price invalid"),
    Reason.BAD_PRICE_TICK: Code(80014, "Invalid parameters, price precision invalid"),
    Reason.QUANTITY_NOT_POSITIVE: Code(101400, "The order quantity must be greater than 0"),
    Reason.QUANTITY_ABOVE_MAX: Code(101400, "The order quantity exceeds the maximum"),
    Reason.LOT_SIZE: Code(101400, MESSAGES[101400]),
    Reason.MIN_NOTIONAL: Code(110425, MESSAGES[110425]),
    Reason.DUPLICATE_CLIENT_ID: Code(101481, MESSAGES[101481]),
    Reason.REDUCE_ONLY_REJECTED: Code(101205, MESSAGES[101205]),
    Reason.POSITION_SIDE_MISMATCH: Code(109400, "In the one-way mode, the 'PositionSide' field can only be set to BOTH"),
    Reason.POSITION_LIMIT: Code(101209, MESSAGES[101209]),
    Reason.INSUFFICIENT_MARGIN: Code(101204, MESSAGES[101204]),
    Reason.STOP_WOULD_TRIGGER: Code(101400, "The order is invalid: the stop price would trigger immediately"),
    Reason.INSUFFICIENT_BALANCE: Code(100202, MESSAGES[100202]),
    Reason.BAD_LEVERAGE: Code(109400, "Invalid parameters, leverage invalid"),
    Reason.LEVERAGE_INSUFFICIENT_MARGIN: Code(101204, MESSAGES[101204]),
    # BingX accepts a no-op leverage / margin type / position mode change (code 0): the routes answer
    # success; these entries only complete the table.
    Reason.LEVERAGE_UNCHANGED: Code(109400, "Invalid parameters, leverage not modified"),
    Reason.MARGIN_MODE_UNCHANGED: Code(109400, "Invalid parameters, margin type not modified"),
    Reason.MARGIN_MODE_OPEN_ORDERS: Code(109400, "Invalid parameters, there are open orders"),
    Reason.MARGIN_MODE_POSITION: Code(109400, "Invalid parameters, there is a position"),
    Reason.POSITION_MODE_UNCHANGED: Code(109400, "Invalid parameters, position mode not modified"),
    Reason.POSITION_MODE_POSITION: Code(109400, "Invalid parameters, there is a position or open order"),
}

# Reasons whose detail (the engine's or the server's words) is worth showing.
_DETAILED = frozenset({Reason.UNSUPPORTED, Reason.INTERNAL, Reason.MISSING_PARAMETER, Reason.BAD_PARAMETER,
                       Reason.TIMESTAMP_OUTSIDE_WINDOW, Reason.BAD_SIGNATURE})


def answer(rejection: Rejection) -> tuple[int | None, str, int]:
    """(code, msg, HTTP status) for a refusal."""
    if rejection.reason is Reason.FORCED:
        code = int(rejection.code) if rejection.code is not None else 109400
        text = rejection.detail or MESSAGES.get(code, f"Order rejected by the exchange-sim fault (code {code}).")
        return code, text, rejection.status or 200
    entry = CODES[rejection.reason]
    text = rejection.detail if rejection.reason in _DETAILED and rejection.detail else entry.message
    return entry.code, text, rejection.status or entry.status


def envelope(code: int, message: str, data: Any, time_ms: int) -> dict[str, Any]:
    """Every BingX body: code, msg, timestamp, data."""
    return {"code": code, "msg": message, "timestamp": time_ms, "data": data}


def error_response(rejection: Rejection, clock: Callable[[], int]) -> web.Response:
    code, text, status = answer(rejection)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if rejection.reason is Reason.RATE_LIMITED else None
    if code is None:
        return web.Response(status=status, text=text, content_type="text/plain", headers=headers)
    body = envelope(code, text, {}, clock())
    if rejection.reason is Reason.INSUFFICIENT_BALANCE:
        body["transferErrorMsg"] = text  # the asset transfer endpoint's own error field
    return web.Response(status=status, text=json.dumps(body), content_type="application/json", headers=headers)


__all__ = ["CODES", "MESSAGES", "Code", "answer", "envelope", "error_response"]
