"""OKX v5's error codes and texts, and which code answers each neutral refusal (rejections.Reason).

ccxt's okx class maps the body's `code` (and, for `code: "1"`, each `data[i].sCode`) to an exception
class by the exact code, so the codes are the ones real OKX answers for the same refusal.
"""

from __future__ import annotations

from typing import Any, Mapping

from aiohttp import web

from ...rejections import Reason, Rejection

# Unmapped by ccxt (-> plain ExchangeError, never retried): the sim's own refusals, so a test sees a
# clear, permanent error instead of a made-up OKX one.
SIM_UNSUPPORTED = "99900"
SIM_INTERNAL_ERROR = "99901"
UNKNOWN_ROUTE_CODE = "404"  # not an OKX business code: ccxt raises a plain ExchangeError for it
BATCH_FAILED = "1"  # "All operations failed": the per-order sCode says why
BATCH_PARTIAL = "2"
RETRY_AFTER_SECONDS = 1

MESSAGES: dict[str, str] = {
    "404": "Not Found",
    "50011": "Too Many Requests",
    "50013": "Systems are busy. Please try again later.",
    "50014": "Parameter {0} can not be empty.",
    "50101": "APIKey does not match current environment.",
    "50102": "Timestamp request expired.",
    "50103": "Request header \"OK-ACCESS-KEY\" can not be empty.",
    "50104": "Request header \"OK-ACCESS-PASSPHRASE\" can not be empty.",
    "50105": "Request header \"OK-ACCESS-PASSPHRASE\" incorrect.",
    "50106": "Request header \"OK-ACCESS-SIGN\" can not be empty.",
    "50107": "Request header \"OK-ACCESS-TIMESTAMP\" can not be empty.",
    "50111": "Invalid OK-ACCESS-KEY.",
    "50112": "Invalid OK-ACCESS-TIMESTAMP.",
    "50113": "Invalid Sign.",
    "51000": "Parameter {0} error",
    "51001": "Instrument ID does not exist.",
    "51003": "Either client order ID or order ID is required.",
    "51004": "Order failed. The order amount exceeds the current tier limit of your leverage.",
    "51008": "Order failed. Insufficient USDT margin in account.",
    "51016": "Duplicated clOrdId.",
    "51020": "Your order should meet or exceed the minimum order amount.",
    "51121": "Order quantity must be a multiple of the lot size.",
    "51169": "Order failed because you don't have any positions in this direction for this contract to reduce or close.",
    "51202": "Market order amount exceeds the maximum amount.",
    "51278": "SL trigger price cannot be lower than the last price.",
    "51280": "SL trigger price cannot be higher than the last price.",
    "51400": "Cancellation failed as the order has been filled, canceled or does not exist.",
    "51603": "Order does not exist",
    "58114": "Transfer amount must be more than 0.",
    "58350": "Insufficient balance.",
    "59000": "Settings failed. Close any open positions or orders before modifying settings.",
    "59102": "Leverage exceeds the maximum leverage. Please adjust the leverage.",
    "59103": "Account margin is insufficient and leverage is too low. Please adjust the leverage.",
    SIM_UNSUPPORTED: "exchange-sim does not simulate this.",
    SIM_INTERNAL_ERROR: "exchange-sim internal error (a bug in the local exchange).",
}

# Every neutral reason -> (OKX code, HTTP status). OKX answers business refusals with HTTP 200
# and auth failures with 401; parameter errors come with 400.
CODES: dict[Reason, tuple[str, int]] = {
    Reason.MISSING_PARAMETER: ("50014", 400),
    Reason.BAD_PARAMETER: ("51000", 400),
    Reason.AUTH_MISSING_KEY: ("50103", 401),
    Reason.AUTH_BAD_KEY: ("50111", 401),
    Reason.BAD_SIGNATURE: ("50113", 401),
    Reason.TIMESTAMP_OUTSIDE_WINDOW: ("50102", 401),
    Reason.RATE_LIMITED: ("50011", 429),
    Reason.SERVICE_UNAVAILABLE: ("50013", 503),
    Reason.UNKNOWN_ROUTE: (UNKNOWN_ROUTE_CODE, 404),
    Reason.INTERNAL: (SIM_INTERNAL_ERROR, 500),
    Reason.UNSUPPORTED: (SIM_UNSUPPORTED, 200),
    Reason.UNKNOWN_SYMBOL: ("51001", 200),
    Reason.ORDER_NOT_FOUND: ("51603", 200),
    Reason.CANCEL_UNKNOWN_ORDER: ("51400", 200),
    Reason.BAD_SIDE: ("51000", 200),
    Reason.BAD_ORDER_TYPE: ("51000", 200),
    Reason.BAD_TIME_IN_FORCE: ("51000", 200),  # OKX has no timeInForce: it is the ordType
    Reason.PRICE_NOT_ALLOWED: ("51000", 200),
    Reason.BAD_PRICE_TICK: ("51000", 200),
    Reason.QUANTITY_NOT_POSITIVE: ("51000", 200),
    Reason.QUANTITY_ABOVE_MAX: ("51202", 200),
    Reason.LOT_SIZE: ("51121", 200),  # below minSz is 51020 (the dialect checks it in contracts)
    Reason.MIN_NOTIONAL: ("51020", 200),  # OKX swaps have no min notional, only minSz
    Reason.DUPLICATE_CLIENT_ID: ("51016", 200),
    # ccxt 4.5.90 does not map 51169, so production raises a plain ExchangeError (a rejection on writes).
    Reason.REDUCE_ONLY_REJECTED: ("51169", 200),
    Reason.POSITION_SIDE_MISMATCH: ("51000", 200),
    Reason.POSITION_LIMIT: ("51004", 200),
    Reason.INSUFFICIENT_MARGIN: ("51008", 200),
    # A stop loss on the wrong side of the price: 51280 for a sell (closing a long: SL above the last
    # price), 51278 for a buy (closing a short: SL below it); the dialect answers a buy with 51278.
    # ccxt maps both to InvalidOrder.
    Reason.STOP_WOULD_TRIGGER: ("51280", 200),
    # POST asset/transfer over the source account's balance (a funding error code): ccxt InsufficientFunds.
    Reason.INSUFFICIENT_BALANCE: ("58350", 200),
    Reason.BAD_LEVERAGE: ("59102", 200),
    Reason.LEVERAGE_INSUFFICIENT_MARGIN: ("59103", 200),
    # Never raised: OKX accepts a leverage or margin mode that is already set (set-leverage is idempotent).
    Reason.LEVERAGE_UNCHANGED: ("59000", 200),
    Reason.MARGIN_MODE_UNCHANGED: ("59000", 200),
    Reason.MARGIN_MODE_OPEN_ORDERS: ("59000", 200),
    Reason.MARGIN_MODE_POSITION: ("59000", 200),
    Reason.POSITION_MODE_UNCHANGED: ("59000", 200),
    Reason.POSITION_MODE_POSITION: ("59000", 200),
}
_REASON_BY_CODE: dict[str, Reason] = {}
for _reason, (_code, _) in CODES.items():
    _REASON_BY_CODE.setdefault(_code, _reason)
_REASON_BY_CODE.update({
    "50101": Reason.AUTH_BAD_KEY, "50104": Reason.AUTH_MISSING_KEY, "50105": Reason.AUTH_BAD_KEY,
    "50106": Reason.BAD_SIGNATURE, "50107": Reason.TIMESTAMP_OUTSIDE_WINDOW,
    "50112": Reason.TIMESTAMP_OUTSIDE_WINDOW, "51003": Reason.MISSING_PARAMETER,
})
_AUTH_STATUS = 401


def OkxError(code: str, msg: str | None = None, status: int | None = None) -> Rejection:  # noqa: N802
    """A refusal in OKX's own code (request syntax, auth): a Rejection whose reason is the neutral one
    for that code and whose `code` keeps the exact OKX code."""
    reason = _REASON_BY_CODE.get(code, Reason.BAD_PARAMETER)
    if status is None and code.startswith("501"):
        status = _AUTH_STATUS
    return Rejection(reason, msg, status=status, code=code)


def missing(name: str) -> Rejection:
    return OkxError("50014", f"Parameter {name} can not be empty.")


def bad(name: str) -> Rejection:
    return OkxError("51000", f"Parameter {name} error")


def okx_code(rejection: Rejection) -> str:
    """The OKX code a refusal is answered with."""
    if rejection.code is not None:
        return str(rejection.code)
    return CODES[rejection.reason][0]


def okx_message(rejection: Rejection) -> str:
    code = okx_code(rejection)
    if rejection.detail is not None:
        return rejection.detail
    if rejection.reason is Reason.FORCED:
        return MESSAGES.get(code, f"Order rejected by the exchange-sim fault reject_orders_with={code}.")
    return MESSAGES.get(code, f"Request rejected (code {code}).")


def error_response(rejection: Rejection) -> web.Response:
    """`{"code": ..., "msg": ..., "data": []}` with OKX's HTTP status; a 429 carries Retry-After."""
    code = okx_code(rejection)
    status = rejection.status or CODES.get(rejection.reason, (code, 200))[1]
    headers: Mapping[str, str] | None = None
    if rejection.reason is Reason.RATE_LIMITED:
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    body: dict[str, Any] = {"code": code, "data": [], "msg": okx_message(rejection)}
    return web.json_response(body, status=status, headers=headers)


__all__ = ["BATCH_FAILED", "BATCH_PARTIAL", "CODES", "MESSAGES", "OkxError", "SIM_UNSUPPORTED", "bad",
           "error_response", "missing", "okx_code", "okx_message"]
