"""ccxt exceptions translated once, at the venue boundary, into classes grouped by decision.

The caller never sees ccxt: it sees what to do (retry a read, back off, journal a rejection,
look an order up by client id, or stop). The table is data, most specific class first.
"""

from __future__ import annotations

import json
import re
from typing import Any

import ccxt


class VenueError(Exception):
    """Base of everything the venue layer raises. `code` is the exchange's error code when known."""

    def __init__(self, message: str, *, code: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after  # seconds the exchange asked us to wait (429/418 Retry-After)


class TransientError(VenueError):
    """A read failed for a reason that may pass (network, 5xx, busy): retry it with backoff."""


class RateLimitedError(TransientError):
    """The exchange asked us to slow down (429/418/-1003): wait `retry_after` seconds, then retry."""


class ClockSkewError(TransientError):
    """The request's timestamp was outside recvWindow (-1021): resync the clock, then retry.
    Binance rejects these before matching, so even an order was certainly not executed."""


class RejectedError(VenueError):
    """The exchange refused the order (bad size, reduce-only, filters): journal it, never retry."""


class InsufficientMarginError(RejectedError):
    """The hedge account lacks margin for the order (-2019): journal it and alert."""


class OrderNotFoundError(VenueError):
    """The exchange has no order with that id (-2013): only now may an order be resent."""


class UnknownOutcomeError(VenueError):
    """An order request may or may not have executed (timeout, reset, 5xx after send):
    look it up by client order id; never resend blindly."""


class FatalError(VenueError):
    """Retrying cannot help (bad keys, unknown symbol, unsupported mode): stop and tell the user."""


class AuthError(FatalError):
    """The API key or secret was refused."""


_CODE_RE = re.compile(r'"code"\s*:\s*"?(-?\d+)')

# (ccxt class, class for reads, class for writes). First match wins: keep specific before general.
_TABLE: tuple[tuple[type[Exception], type[VenueError], type[VenueError]], ...] = (
    (ccxt.OrderNotFound, OrderNotFoundError, OrderNotFoundError),
    (ccxt.InvalidNonce, ClockSkewError, ClockSkewError),
    (ccxt.RateLimitExceeded, RateLimitedError, UnknownOutcomeError),
    (ccxt.DDoSProtection, RateLimitedError, UnknownOutcomeError),
    (ccxt.AuthenticationError, AuthError, AuthError),
    (ccxt.AccountSuspended, AuthError, AuthError),
    (ccxt.InsufficientFunds, InsufficientMarginError, InsufficientMarginError),
    (ccxt.BadSymbol, FatalError, RejectedError),
    (ccxt.InvalidOrder, RejectedError, RejectedError),
    (ccxt.MarginModeAlreadySet, RejectedError, RejectedError),
    (ccxt.OperationRejected, RejectedError, RejectedError),
    (ccxt.BadRequest, FatalError, RejectedError),
    (ccxt.NotSupported, FatalError, FatalError),
    (ccxt.ArgumentsRequired, FatalError, FatalError),
    (ccxt.ExchangeClosedByUser, FatalError, FatalError),
    # The transient family: ccxt's own retry loop retries exactly OperationFailed.
    (ccxt.RequestTimeout, TransientError, UnknownOutcomeError),
    (ccxt.OperationFailed, TransientError, UnknownOutcomeError),
    (ccxt.ExchangeError, FatalError, RejectedError),
    (ccxt.BaseError, FatalError, UnknownOutcomeError),
)


def error_code(exc: BaseException) -> str | None:
    """The exchange's numeric code from a ccxt message like 'binance {"code":-2019,"msg":...}'."""
    match = _CODE_RE.search(str(exc))
    return match.group(1) if match else None


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    for key, value in dict(headers).items():
        if str(key).lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


def short_message(exc: BaseException) -> str:
    """The exchange's own words when the body is JSON, else ccxt's message, on one line."""
    text = str(exc)
    start = text.find("{")
    if start >= 0:
        try:
            body = json.loads(text[start:])
            if isinstance(body, dict) and body.get("msg"):
                return str(body["msg"])
        except ValueError:
            pass
    return " ".join(text.split())[:300]


def translate(exc: BaseException, *, write: bool, headers: Any = None) -> VenueError:
    """Map a ccxt (or transport) exception to the venue error that says what to do next."""
    if isinstance(exc, VenueError):
        return exc
    code = error_code(exc)
    message = short_message(exc)
    if not isinstance(exc, ccxt.BaseError):
        # asyncio.TimeoutError or a raw aiohttp error slipping past ccxt: the request may have gone out.
        cls: type[VenueError] = UnknownOutcomeError if write else TransientError
        return cls(f"{type(exc).__name__}: {message}", code=code)
    limited = isinstance(exc, (ccxt.RateLimitExceeded, ccxt.DDoSProtection))
    for ccxt_cls, read_cls, write_cls in _TABLE:
        if isinstance(exc, ccxt_cls):
            cls = write_cls if write else read_cls
            return cls(message, code=code, retry_after=_retry_after(headers) if limited else None)
    return FatalError(message, code=code)  # pragma: no cover - BaseError row catches all
