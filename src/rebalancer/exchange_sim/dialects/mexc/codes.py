"""MEXC's error codes and texts, and which code answers each neutral refusal (rejections.Reason).

The contract API answers business errors with HTTP 200 and `{"success": false, "code": N,
"message": ...}`; spot v3 with an HTTP 4xx and `{"code": N, "msg": ...}`. ccxt's mexc class first
matches the body against a few phrases (`exceptions['broad']`), then the code (`exceptions['exact']`,
one table for both sections), else ExchangeError. Where ccxt 4.5.90 has no entry for the code MEXC
really sends (2040 order not exist, 2001, 2029, 2015, 2028, 2031 ...), stock ccxt raises a bare
ExchangeError in production too, and so it does here: the code is the venue's, never one picked to
please ccxt. Notably no MEXC code maps to OrderNotFound in ccxt 4.5.90.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from aiohttp import web

from ...rejections import Reason, Rejection

RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True)
class Code:
    """How MEXC answers one refusal: code (None: not a JSON answer at all), text, HTTP status."""

    code: int | None
    message: str
    status: int = 200


# MEXC contract codes and their texts (used for FORCED codes too).
MESSAGES: dict[int, str] = {
    401: "Not logged in or login has expired",
    404: "Not Found",
    500: "Internal error",
    510: "Requests are too frequent, please try again later",
    513: "Invalid request(for open api serves time more or less than 10s)",
    600: "Param error!",
    602: "Signature verification failed!",
    603: "Repeated requests",
    1001: "Contract does not exist",
    2001: "Wrong order direction",
    2005: "Insufficient balance!",
    2006: "Leverage ratio error",
    2007: "Order price error",
    2008: "The quantity is insufficient",
    2009: "Position is not exists or closed.",
    2011: "Order quantity error, please try to modify.",
    2015: "Price or quantity accuracy error",
    2018: "Exceeding the maximum available margin",
    2019: "There is an active open position",
    2022: "Wrong position type",
    2027: "There is only one cross or isolated in the same direction",
    2028: "The maximum order quantity is exceeded",
    2029: "Error order type",
    2030: "External order ID is too long (Max. 32 bits)",
    2031: "The allowable holding position exceed the current risk limit",
    2040: "order not exist",
    2041: "order state cannot be cancelled",
    3001: "Trigger price type error",
    3002: "Trigger type error",
    3003: "Executive cycle error",
    3004: "Trigger price error",
    9999: "Public abnormal",
}

CODES: dict[Reason, Code] = {
    Reason.MISSING_PARAMETER: Code(600, MESSAGES[600]),
    Reason.BAD_PARAMETER: Code(600, MESSAGES[600]),
    Reason.AUTH_MISSING_KEY: Code(401, MESSAGES[401]),
    Reason.AUTH_BAD_KEY: Code(401, MESSAGES[401]),
    Reason.BAD_SIGNATURE: Code(602, MESSAGES[602]),
    # ccxt maps 513 to BadRequest (not InvalidNonce): a skewed clock is not retried by ccxt.
    Reason.TIMESTAMP_OUTSIDE_WINDOW: Code(513, MESSAGES[513]),
    # HTTP 429 with MEXC's 510 body: ccxt reads the body first -> RateLimitExceeded.
    Reason.RATE_LIMITED: Code(510, MESSAGES[510], 429),
    # A gateway's plain-text 503, not a JSON answer: ccxt raises ExchangeNotAvailable (retryable).
    Reason.SERVICE_UNAVAILABLE: Code(None, "503 Service Temporarily Unavailable", 503),
    Reason.UNKNOWN_ROUTE: Code(404, MESSAGES[404], 404),
    Reason.INTERNAL: Code(500, MESSAGES[500]),  # ccxt: ExchangeError, never retried away
    Reason.UNSUPPORTED: Code(9999, MESSAGES[9999]),
    Reason.UNKNOWN_SYMBOL: Code(1001, MESSAGES[1001]),  # BadSymbol
    Reason.ORDER_NOT_FOUND: Code(2040, MESSAGES[2040]),  # ccxt 4.5.90: ExchangeError (unmapped)
    Reason.CANCEL_UNKNOWN_ORDER: Code(2040, MESSAGES[2040]),
    Reason.BAD_SIDE: Code(2001, MESSAGES[2001]),
    Reason.BAD_ORDER_TYPE: Code(2029, MESSAGES[2029]),
    Reason.BAD_TIME_IN_FORCE: Code(2029, MESSAGES[2029]),
    Reason.PRICE_NOT_ALLOWED: Code(2007, MESSAGES[2007]),
    Reason.BAD_PRICE_TICK: Code(2015, MESSAGES[2015]),
    Reason.QUANTITY_NOT_POSITIVE: Code(2011, MESSAGES[2011]),  # BadRequest (exact and broad)
    Reason.QUANTITY_ABOVE_MAX: Code(2028, MESSAGES[2028]),
    Reason.LOT_SIZE: Code(2015, MESSAGES[2015]),
    Reason.MIN_NOTIONAL: Code(2008, MESSAGES[2008]),  # MEXC contracts have a minimum volume only
    Reason.DUPLICATE_CLIENT_ID: Code(603, MESSAGES[603]),  # BadRequest
    Reason.REDUCE_ONLY_REJECTED: Code(2009, MESSAGES[2009]),  # InvalidOrder
    Reason.POSITION_SIDE_MISMATCH: Code(2022, MESSAGES[2022]),
    Reason.POSITION_LIMIT: Code(2031, MESSAGES[2031]),
    Reason.INSUFFICIENT_MARGIN: Code(2005, MESSAGES[2005]),  # InsufficientFunds (exact and broad)
    Reason.BAD_LEVERAGE: Code(2006, MESSAGES[2006]),
    Reason.LEVERAGE_INSUFFICIENT_MARGIN: Code(2018, MESSAGES[2018]),
    # MEXC accepts a no-op leverage / margin / position-mode change; these are never raised here.
    Reason.LEVERAGE_UNCHANGED: Code(600, MESSAGES[600]),
    Reason.MARGIN_MODE_UNCHANGED: Code(2027, MESSAGES[2027]),
    Reason.POSITION_MODE_UNCHANGED: Code(600, MESSAGES[600]),
    Reason.MARGIN_MODE_OPEN_ORDERS: Code(2019, MESSAGES[2019]),
    Reason.MARGIN_MODE_POSITION: Code(2019, MESSAGES[2019]),
    Reason.POSITION_MODE_POSITION: Code(2019, MESSAGES[2019]),
    # A trigger order whose condition already holds (planorder/place). MEXC's trigger-price code 3004
    # is not in ccxt 4.5.90's mexc tables: stock ccxt raises a bare ExchangeError, not InvalidOrder.
    Reason.STOP_WOULD_TRIGGER: Code(3004, MESSAGES[3004]),
    # Contract-side wording; the transfer itself is a spot v3 call (SPOT_CODES: 10101).
    Reason.INSUFFICIENT_BALANCE: Code(2005, MESSAGES[2005]),  # InsufficientFunds (exact and broad)
}

# Spot v3's own answers where they differ (Binance-like codes, HTTP 400).
SPOT_CODES: dict[Reason, Code] = {
    Reason.AUTH_MISSING_KEY: Code(400, "api key required", 400),
    Reason.AUTH_BAD_KEY: Code(10072, "Api key info invalid", 400),  # ccxt: BadRequest
    Reason.BAD_SIGNATURE: Code(700002, "Signature for this request is not valid.", 400),
    Reason.TIMESTAMP_OUTSIDE_WINDOW: Code(700003, "Timestamp for this request is outside of the recvWindow.", 400),
    Reason.MISSING_PARAMETER: Code(700004, "Mandatory parameter was not sent, was empty/null, or malformed.", 400),
    Reason.BAD_PARAMETER: Code(700008, "Illegal characters found in parameter.", 400),
    Reason.UNKNOWN_SYMBOL: Code(-1121, "Invalid symbol.", 400),
    Reason.RATE_LIMITED: Code(429, "Too Many Requests", 429),
    # /api/v3/capital/transfer over the source wallet: ccxt maps 10101 to InsufficientFunds.
    Reason.INSUFFICIENT_BALANCE: Code(10101, "Insufficient balance", 400),
    Reason.UNSUPPORTED: Code(9999, MESSAGES[9999], 400),
}

# Reasons whose detail (the engine's or the server's words) is worth showing.
_DETAILED = frozenset({Reason.UNSUPPORTED, Reason.INTERNAL, Reason.MISSING_PARAMETER, Reason.BAD_PARAMETER})


def answer(rejection: Rejection, *, spot: bool = False) -> tuple[int | None, str, int]:
    """(code, text, HTTP status) for a refusal."""
    if rejection.reason is Reason.FORCED:
        code = int(rejection.code) if rejection.code is not None else 600
        text = rejection.detail or MESSAGES.get(code, f"Order rejected by the exchange-sim fault (code {code}).")
        return code, text, rejection.status or 200
    entry = (SPOT_CODES.get(rejection.reason) if spot else None) or CODES[rejection.reason]
    text = entry.message
    if rejection.reason in _DETAILED and rejection.detail:
        text = rejection.detail
    return entry.code, text, rejection.status or entry.status


def error_response(rejection: Rejection, *, spot: bool = False) -> web.Response:
    code, text, status = answer(rejection, spot=spot)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if rejection.reason is Reason.RATE_LIMITED else None
    if code is None:
        return web.Response(status=status, text=text, content_type="text/plain", headers=headers)
    body = {"code": code, "msg": text} if spot else {"success": False, "code": code, "message": text}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json", headers=headers)


__all__ = ["CODES", "MESSAGES", "SPOT_CODES", "Code", "answer", "error_response"]
