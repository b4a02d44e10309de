"""ccxt exceptions translated once, at the venue boundary, into classes grouped by decision.

The caller never sees ccxt: it sees what to do (retry a read, back off, journal a rejection,
look an order up by client id, or stop). The table is data, most specific class first.
"""

from __future__ import annotations

import asyncio
import errno
import json
import re
import socket
from dataclasses import dataclass
from typing import Any, Iterator
from urllib.parse import urlsplit

import aiohttp
import ccxt

from ..logs import redact_secrets


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


# Binance {"code":-2019}, Bybit {"retCode":110043} (or v3 "ret_code"), OKX {"code":"1","data":[{"sCode":"51008"}]}:
# an order's own sCode says more than OKX's top-level "1" (a batch failed), so it is looked for first.
_CODE_RES = (
    re.compile(r'"sCode"\s*:\s*"?(-?[1-9]\d*)'),
    re.compile(r'"(?:code|retCode|ret_code)"\s*:\s*"?(-?\d+)'),
)

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
    """The exchange's numeric code from a ccxt message like 'binance {"code":-2019,"msg":...}' (Bybit's
    retCode, OKX's order sCode before its top-level code)."""
    text = str(exc)
    for pattern in _CODE_RES:
        match = pattern.search(text)
        if match:
            return match.group(1)
    return None


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


# --------------------------------------------------------------------------- redaction at the boundary

# A URL up to its query or fragment: ccxt messages embed the signed request URL
# ("binance GET https://fapi.binance.com/fapi/v2/account?timestamp=...&signature=...").
_URL_RE = re.compile(r"(?P<base>\bhttps?://[^\s?#\"'<>]+)(?P<query>[?#][^\s\"'<>]*)?", re.IGNORECASE)
# Signed form bodies and echoed parameters outside a URL ("...&recvWindow=5000&signature=ab12").
_SIGNED_PARAM_RE = re.compile(
    r"(?P<name>(?<![\w-])(?:signature|sign|api_?key|apikey|api_?secret|secret|passphrase|password|token)=)"
    r"(?P<value>[^&#\s\"'<>]+)",
    re.IGNORECASE,
)


def scrub(text: str) -> str:
    """Text safe for a log line, /healthz, an alert or the journal: every URL loses its query string
    and fragment (the signature, the timestamp and the key travel there), signed parameters and
    credential headers are masked, and so is every secret value the process has registered."""
    text = _URL_RE.sub(lambda m: m.group("base"), text)
    text = _SIGNED_PARAM_RE.sub(lambda m: m.group("name") + "**********", text)
    return redact_secrets.redact_text(text)


def _scrub_chain(exc: BaseException) -> None:
    """Rewrite the string arguments of every exception in the chain (`raise ... from exc` keeps
    ccxt's original in __cause__, and a rendered traceback prints it), so the signed URL is gone
    from the traceback too, not only from the translated message."""
    for link in _chain(exc):
        if isinstance(link, VenueError):
            continue
        args = getattr(link, "args", ())
        if any(isinstance(a, str) for a in args):
            try:
                link.args = tuple(scrub(a) if isinstance(a, str) else a for a in args)
            except (AttributeError, TypeError):  # pragma: no cover - exotic exception types
                pass


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


# --------------------------------------------------------------------------- the cause in plain words


@dataclass(frozen=True)
class Where:
    """What the boundary knows about the request that failed: which config keys an operator fixes."""

    venue: str | None = None  # the config name: venues.<venue>
    timeout_s: float | None = None
    local: bool = False  # the local exchange (mode = "local"): "is it running?" is the first question
    clock_codes: frozenset[str] = frozenset()  # the venue's "timestamp outside the window" codes ccxt misnames


def _endpoint(exc: BaseException) -> tuple[str | None, int | None]:
    """host and port of the failed request: from aiohttp's connector error, else the URL in ccxt's message."""
    for link in _chain(exc):
        if isinstance(link, aiohttp.ClientConnectorError):
            return link.host, link.port
    match = _URL_RE.search(str(exc))
    if match:
        parts = urlsplit(match.group("base"))
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            port = None
        return parts.hostname, port
    return None, None


def _key(where: Where, key: str) -> str:
    return f"venues.{where.venue}.{key}" if where.venue else key


_HTTP_STATUS_RE = re.compile(r"https?://\S+\s+(?P<code>[45]\d\d)\s+(?P<reason>[A-Za-z][A-Za-z -]*)")


def plain_cause(exc: BaseException, where: Where = Where()) -> str | None:
    """The cause of a transport or HTTP failure in plain words plus what to check, or None when the
    exchange answered with its own words (those are clearer than anything said here)."""
    links = list(_chain(exc))
    host, port = _endpoint(exc)
    address = f"{host}:{port}" if host and port else (host or "the exchange")
    base_url = _key(where, "base_url")
    if any(isinstance(e, socket.gaierror) or type(e).__name__ == "ClientConnectorDNSError" for e in links):
        fix = (f"check the host in {base_url}" if where.local
               else "check this machine's DNS and network")
        return f"DNS lookup failed for host {host or '?'} ({fix})"
    if any(isinstance(e, ConnectionRefusedError) or getattr(e, "errno", None) == errno.ECONNREFUSED for e in links):
        fix = (f"is the local exchange running? check {base_url}" if where.local
               else "is the exchange reachable from here? check the network, a proxy or firewall")
        return f"connection refused by {address} ({fix})"
    if any(isinstance(e, (asyncio.TimeoutError, TimeoutError, ccxt.RequestTimeout)) for e in links):
        after = f" after {where.timeout_s:g} s" if where.timeout_s else ""
        return (f"timed out{after} waiting for {address} (the exchange did not answer in time; "
                f"check the network, or raise {_key(where, 'timeout_ms')})")
    if any(isinstance(e, (ConnectionResetError, aiohttp.ServerDisconnectedError)) for e in links):
        return f"connection to {address} was closed before it answered (the exchange or the network dropped it; retried)"
    if any(isinstance(e, (aiohttp.ClientConnectorError, ConnectionError)) for e in links):
        fix = f"check {base_url}" if where.local else "check the network"
        return f"cannot connect to {address} ({fix})"
    status = _HTTP_STATUS_RE.search(str(exc))
    if status and status.group("code").startswith("5"):
        reason = status.group("reason").strip()
        return (f"the exchange answered HTTP {status.group('code')} {reason} "
                "(a problem on its side; reads are retried, try again later)").replace("  ", " ")
    return None


def _auth_fix(where: Where) -> str:
    return (f"check {_key(where, 'api_key')} and {_key(where, 'api_secret')}, "
            "the key's permissions (futures trading) and its IP whitelist")


def short_message(exc: BaseException) -> str:
    """The exchange's own words when the body is JSON, else ccxt's message, on one line (scrubbed)."""
    return scrub(_short_message(exc))


def _short_message(exc: BaseException) -> str:
    text = str(exc)
    start = text.find("{")
    if start >= 0:
        try:
            body = json.loads(text[start:])
            if isinstance(body, dict):
                data = body.get("data")
                order = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
                for text_ in (order.get("sMsg"), body.get("msg"), body.get("retMsg"), body.get("ret_msg")):
                    if text_:
                        return str(text_)
        except ValueError:
            pass
    return " ".join(text.split())[:300]


_HTML_RE = re.compile(r"<\s*(?:!doctype|html|head|body|title)\b", re.IGNORECASE)


def transport_failure(exc: BaseException) -> str | None:
    """What went wrong in transport, when the failure is not the exchange's own answer: a connection
    reset or closed (aiohttp ClientConnectionError), a body cut short (ClientPayloadError), a body
    that is not JSON (json decode errors, ccxt BadResponse), or a gateway's HTML page in place of
    the exchange (ccxt ExchangeNotAvailable / ExchangeError with an HTML body). None for anything
    else: a JSON answer with a Binance code is the exchange speaking and keeps its own class.
    The whole exception chain is looked at, since ccxt wraps aiohttp's error in an ExchangeError."""
    links: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and link not in links:  # causes only: ccxt raises transport errors `from` aiohttp's;
        links.append(link)  # an implicit __context__ is just where the error was raised (an except block)
        link = link.__cause__ if link.__cause__ is not None else (
            link.__context__ if not isinstance(link, ccxt.BaseError) and not isinstance(link, VenueError) else None)
    for link in links:
        if isinstance(link, aiohttp.ClientPayloadError):
            return "response body cut short"
        if isinstance(link, (aiohttp.ClientConnectionError, ConnectionError)):
            return "connection lost"
        if isinstance(link, (asyncio.TimeoutError, TimeoutError, ccxt.RequestTimeout)):
            return "timed out"
        if isinstance(link, (json.JSONDecodeError, UnicodeDecodeError, aiohttp.ContentTypeError)):
            return "unreadable response"
        if isinstance(link, ccxt.BadResponse):
            return "unreadable response"
    if error_code(exc) is None and _HTML_RE.search(str(exc)) and isinstance(
            exc, (ccxt.ExchangeNotAvailable, ccxt.ExchangeError, ccxt.OperationFailed)):
        return "an HTML page instead of the exchange's answer"
    return None


def translate(exc: BaseException, *, write: bool, headers: Any = None, where: Where | None = None) -> VenueError:
    """Map a ccxt (or transport) exception to the venue error that says what to do next.

    This is the venue boundary's one redaction rule: the message never carries a URL's query, a
    signature, a key or a header (see `scrub`), and the original exceptions in the chain are scrubbed
    too. Transport failures are said in plain words with the fix (`plain_cause`)."""
    if isinstance(exc, VenueError):
        return exc
    where = where or Where()
    _scrub_chain(exc)
    code = error_code(exc)
    plain = plain_cause(exc, where)
    message = plain or short_message(exc)
    if plain is None and isinstance(exc, (ccxt.AuthenticationError, ccxt.AccountSuspended)):
        message = f"{message} ({_auth_fix(where)})"
    if not isinstance(exc, ccxt.BaseError):
        # asyncio.TimeoutError or a raw aiohttp error slipping past ccxt: the request may have gone out.
        cls: type[VenueError] = UnknownOutcomeError if write else TransientError
        return cls(message if plain else f"{type(exc).__name__}: {message}", code=code)
    transport = transport_failure(exc)
    if transport is not None:
        # The request left and the answer was lost or unreadable: for an order that is an unknown
        # outcome (it may have executed), never a rejection; for a read, a failure that may pass.
        cls = UnknownOutcomeError if write else TransientError
        return cls(message if plain else f"{transport}: {message}", code=None)
    if code is not None and code in where.clock_codes:
        return ClockSkewError(message, code=code)
    limited = isinstance(exc, (ccxt.RateLimitExceeded, ccxt.DDoSProtection))
    for ccxt_cls, read_cls, write_cls in _TABLE:
        if isinstance(exc, ccxt_cls):
            cls = write_cls if write else read_cls
            return cls(message, code=code, retry_after=_retry_after(headers) if limited else None)
    return FatalError(message, code=code)  # pragma: no cover - BaseError row catches all
