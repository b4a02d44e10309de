"""BingX signed requests: the X-BX-APIKEY header and a `signature` query parameter, HMAC-SHA256 (hex)
over the unencoded, key-sorted query string before it (ccxt's `bingx.sign` signs
`rawencode(params)` and sends `urlencode(params)&signature=...`, also for POST and DELETE), and the
timestamp window on the server's (possibly skewed) clock.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Callable
from urllib.parse import parse_qsl, unquote

from aiohttp import web

from ...rejections import Reason, Rejection

DEFAULT_RECV_WINDOW = 5_000  # BingX: a request older than recvWindow (default 5 s) is refused
FUTURE_TOLERANCE_MS = 1_000
_SIGNATURE = "signature="


def query_params(raw_query: str) -> dict[str, Any]:
    return dict(parse_qsl(raw_query, keep_blank_values=True))


async def public_params(request: web.Request) -> dict[str, Any]:
    params = query_params(request.rel_url.raw_query_string)
    params.pop("signature", None)
    return params


def _split_signature(raw_query: str) -> tuple[str, str | None]:
    """(the signed part, the signature): ccxt appends `&signature=<hex>` last."""
    if raw_query.startswith(_SIGNATURE):
        return "", raw_query[len(_SIGNATURE):]
    head, sep, tail = raw_query.rpartition("&" + _SIGNATURE)
    if not sep or "&" in tail:
        return raw_query, None
    return head, tail


async def authenticate(request: web.Request, api_key: str, secret: bytes, clock: Callable[[], int]) -> dict[str, Any]:
    """Check key, signature and timestamp; return the request's parameters (all in the query)."""
    key = request.headers.get("X-BX-APIKEY")
    if not key:
        raise Rejection(Reason.AUTH_MISSING_KEY)
    if not hmac.compare_digest(key, api_key):
        raise Rejection(Reason.AUTH_BAD_KEY)
    signed, signature = _split_signature(request.rel_url.raw_query_string)
    if signature is None:
        raise Rejection(Reason.BAD_SIGNATURE, "Signature verification failed: signature is missing")
    payload = unquote(signed)
    expected = hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature.lower(), expected):
        raise Rejection(Reason.BAD_SIGNATURE)
    params = query_params(signed)
    timestamp_text = str(params.get("timestamp", ""))
    window_text = str(params.get("recvWindow", "") or DEFAULT_RECV_WINDOW)
    if not timestamp_text.isdigit() or not window_text.isdigit():
        raise Rejection(Reason.TIMESTAMP_OUTSIDE_WINDOW)
    timestamp, recv_window, now = int(timestamp_text), int(window_text), clock()
    if not now - recv_window <= timestamp < now + FUTURE_TOLERANCE_MS:
        raise Rejection(Reason.TIMESTAMP_OUTSIDE_WINDOW,
                        f"Null timestamp or timestamp mismatch: timestamp {timestamp}, server time {now}")
    return params


__all__ = ["DEFAULT_RECV_WINDOW", "FUTURE_TOLERANCE_MS", "authenticate", "public_params", "query_params"]
