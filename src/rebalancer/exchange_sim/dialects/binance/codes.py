"""Binance's error codes and texts, and which code answers each neutral refusal (rejections.Reason).

ccxt maps Binance codes to exception classes by the code (and matches some texts exactly), so the
codes and the texts are Binance's own.
"""

from __future__ import annotations

from typing import Any, Mapping

from aiohttp import web

from ...rejections import Reason, Rejection

# Unmapped by ccxt (-> plain ExchangeError, never retried): used where the sim refuses something
# a real account could do, so tests see a clear, permanent error instead of a fake Binance one.
SIM_UNSUPPORTED = -9900

# Binance's own texts, because ccxt matches some of them exactly before looking at the code.
MESSAGES: dict[int, str] = {
    -1000: "An unknown error occured while processing the request.",
    -1001: "Internal error; unable to process your request. Please try again.",
    -1003: "Too many requests; current limit of IP is 2400 requests per minute.",
    -1006: "An unexpected response was received from the message bus. Execution status unknown.",
    -1007: "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
    -1008: "Server is currently overloaded with other requests. Please try again in a few minutes.",
    -1013: "Filter failure: LOT_SIZE",
    -1015: "Too many new orders; current limit is 300 orders per TEN_SECONDS.",
    -1021: "Timestamp for this request is outside of the recvWindow.",
    -1022: "Signature for this request is not valid.",
    -1111: "Precision is over the maximum defined for this asset.",
    -1121: "Invalid symbol.",
    -2010: "Account has insufficient balance for requested action.",
    -2011: "Unknown order sent.",
    -2013: "Order does not exist.",
    -2014: "API-key format invalid.",
    -2015: "Invalid API-key, IP, or permissions for action.",
    -2018: "Balance is insufficient.",
    -2019: "Margin is insufficient.",
    -2022: "ReduceOnly Order is rejected.",
    -2027: "Exceeded the maximum allowable position at current leverage.",
    -2028: "Leverage is smaller than permitted: insufficient margin balance.",
    -4003: "Quantity less than or equal to zero.",
    -4005: "Quantity greater than max quantity.",
    -4014: "Price not increased by tick size.",
    -4046: "No need to change margin type.",
    -4059: "No need to change position side.",
    -4061: "Order's position side does not match user's setting.",
    -4068: "Position side cannot be changed if there exists position.",
    -4116: "ClientOrderId is duplicated.",
    -4164: "Order's notional must be no smaller than 5 (unless you choose reduce only).",
    -2021: "Order would immediately trigger.",
    -4120: "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.",
    -5013: "Asset transfer failed: insufficient balance",
}


SIM_INTERNAL_ERROR = -9901  # unmapped by ccxt -> ExchangeError, so a sim bug is not retried away
UNKNOWN_ROUTE_CODE = -5000  # what Binance's fapi answers for a path/method it does not serve
MESSAGES.update({
    -1100: "Illegal characters found in a parameter.",
    -1102: "A mandatory parameter was not sent, was empty/null, or malformed.",
    -1106: "A parameter was sent when not required.",
    -1115: "Invalid timeInForce.",
    -1116: "Invalid orderType.",
    -1117: "Invalid side.",
    -1131: "recvWindow must be less than 60000",
    -4028: "Leverage is not valid",
    -4047: "Margin type cannot be changed if there exists open orders.",
    -4048: "Margin type cannot be changed if there exists position.",
})

# Every neutral reason -> (Binance code, HTTP status).
CODES: dict[Reason, tuple[int, int]] = {
    Reason.MISSING_PARAMETER: (-1102, 400),
    Reason.BAD_PARAMETER: (-1100, 400),
    Reason.AUTH_MISSING_KEY: (-2014, 401),
    Reason.AUTH_BAD_KEY: (-2015, 401),
    Reason.BAD_SIGNATURE: (-1022, 400),
    Reason.TIMESTAMP_OUTSIDE_WINDOW: (-1021, 400),
    Reason.RATE_LIMITED: (-1003, 429),
    Reason.SERVICE_UNAVAILABLE: (-1001, 503),
    Reason.UNKNOWN_ROUTE: (UNKNOWN_ROUTE_CODE, 404),
    Reason.INTERNAL: (SIM_INTERNAL_ERROR, 500),
    Reason.UNSUPPORTED: (SIM_UNSUPPORTED, 400),
    Reason.UNKNOWN_SYMBOL: (-1121, 400),
    Reason.ORDER_NOT_FOUND: (-2013, 400),
    Reason.CANCEL_UNKNOWN_ORDER: (-2011, 400),
    Reason.BAD_SIDE: (-1117, 400),
    Reason.BAD_ORDER_TYPE: (-1116, 400),
    Reason.BAD_TIME_IN_FORCE: (-1115, 400),
    Reason.PRICE_NOT_ALLOWED: (-1106, 400),
    Reason.BAD_PRICE_TICK: (-4014, 400),
    Reason.QUANTITY_NOT_POSITIVE: (-4003, 400),
    Reason.QUANTITY_ABOVE_MAX: (-4005, 400),
    Reason.LOT_SIZE: (-1013, 400),
    Reason.MIN_NOTIONAL: (-4164, 400),
    Reason.DUPLICATE_CLIENT_ID: (-4116, 400),
    Reason.REDUCE_ONLY_REJECTED: (-2022, 400),
    Reason.POSITION_SIDE_MISMATCH: (-4061, 400),
    Reason.POSITION_LIMIT: (-2027, 400),
    Reason.INSUFFICIENT_MARGIN: (-2019, 400),
    # ccxt linear exact: -2021 OrderImmediatelyFillable (an InvalidOrder); spot/sapi exact: -5013 InsufficientFunds.
    Reason.STOP_WOULD_TRIGGER: (-2021, 400),
    Reason.INSUFFICIENT_BALANCE: (-5013, 400),
    Reason.BAD_LEVERAGE: (-4028, 400),
    Reason.LEVERAGE_INSUFFICIENT_MARGIN: (-2028, 400),
    Reason.LEVERAGE_UNCHANGED: (-4028, 400),  # never raised: Binance accepts a leverage that is already set
    Reason.MARGIN_MODE_UNCHANGED: (-4046, 400),
    Reason.MARGIN_MODE_OPEN_ORDERS: (-4047, 400),
    Reason.MARGIN_MODE_POSITION: (-4048, 400),
    Reason.POSITION_MODE_UNCHANGED: (-4059, 400),
    Reason.POSITION_MODE_POSITION: (-4068, 400),
}
_REASON_BY_CODE = {code: reason for reason, (code, _) in CODES.items() if reason is not Reason.LEVERAGE_UNCHANGED}


def BinanceError(code: int, msg: str | None = None, status: int | None = None) -> Rejection:  # noqa: N802
    """A refusal the dialect raises in Binance's own code (request syntax, auth): a Rejection whose
    reason is the neutral one for that code and whose `code` keeps the exact Binance code."""
    return Rejection(_REASON_BY_CODE.get(code, Reason.BAD_PARAMETER), msg, status=status, code=str(code))


def binance_code(rejection: Rejection) -> int:
    """The Binance code a refusal is answered with."""
    if rejection.code is not None:
        return int(rejection.code)
    return CODES[rejection.reason][0]


def binance_error(code: int, msg: str | None = None, status: int = 400,
                  headers: Mapping[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {"code": code, "msg": msg if msg is not None else MESSAGES.get(code, "")}
    return web.json_response(body, status=status, headers=headers)


def binance_body(rejection: Rejection) -> tuple[int, str, int]:
    """(code, msg, HTTP status) Binance answers a refusal with."""
    code = binance_code(rejection)
    default_status = CODES.get(rejection.reason, (code, 400))[1]
    if rejection.detail is not None:
        msg = rejection.detail
    elif rejection.reason is Reason.FORCED:
        msg = MESSAGES.get(code, f"Order rejected by the exchange-sim fault reject_orders_with={code}.")
    else:
        msg = MESSAGES.get(code, f"Request rejected (code {code}).")
    return code, msg, rejection.status or default_status


def error_response(rejection: Rejection) -> web.Response:
    code, msg, status = binance_body(rejection)
    return binance_error(code, msg, status)
