"""Bybit v5 signed requests: the X-BAPI-* headers, HMAC-SHA256 over timestamp + key + recvWindow +
(the raw query string of a GET | the JSON body of a POST), exactly as ccxt's `bybit.sign` builds it,
and the timestamp window on the server's (possibly skewed) clock.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, Callable
from urllib.parse import parse_qsl

from aiohttp import web

from ...rejections import Reason, Rejection

DEFAULT_RECV_WINDOW = 5_000
FUTURE_TOLERANCE_MS = 1_000  # Bybit: server_time - recv_window <= timestamp < server_time + 1000


def query_params(request: web.Request) -> dict[str, Any]:
    return dict(parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True))


def body_params(raw: bytes) -> dict[str, Any]:
    """A POST's JSON object; Bybit answers 10001 to anything else."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise Rejection(Reason.BAD_PARAMETER, "params error: request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise Rejection(Reason.BAD_PARAMETER, "params error: request body must be a JSON object")
    return body


async def public_params(request: web.Request) -> dict[str, Any]:
    params = query_params(request)
    if request.method == "POST" and request.can_read_body:
        params.update(body_params(await request.read()))
    return params


async def authenticate(request: web.Request, api_key: str, secret: bytes, clock: Callable[[], int]) -> dict[str, Any]:
    """Check key, signature and timestamp; return the request's parameters (query or JSON body)."""
    key = request.headers.get("X-BAPI-API-KEY")
    if not key:
        raise Rejection(Reason.AUTH_MISSING_KEY)
    if not hmac.compare_digest(key, api_key):
        raise Rejection(Reason.AUTH_BAD_KEY)
    timestamp_text = request.headers.get("X-BAPI-TIMESTAMP", "")
    window_text = request.headers.get("X-BAPI-RECV-WINDOW", "")
    if not timestamp_text.isdigit():
        raise Rejection(Reason.TIMESTAMP_OUTSIDE_WINDOW, "invalid request, please check your timestamp")
    if window_text and not window_text.isdigit():
        raise Rejection(Reason.BAD_PARAMETER, "params error: recv_window invalid")
    raw_body = await request.read() if request.can_read_body else b""
    # ccxt signs the query string it put in the URL (GET) or the JSON text it sent (POST).
    signed = raw_body.decode() if request.method == "POST" else request.rel_url.raw_query_string
    payload = timestamp_text + key + window_text + signed
    expected = hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(request.headers.get("X-BAPI-SIGN", "").lower(), expected):
        raise Rejection(Reason.BAD_SIGNATURE, f"error sign! origin_string[{payload}]")
    timestamp, recv_window = int(timestamp_text), int(window_text or DEFAULT_RECV_WINDOW)
    now = clock()
    if not now - recv_window <= timestamp < now + FUTURE_TOLERANCE_MS:
        raise Rejection(
            Reason.TIMESTAMP_OUTSIDE_WINDOW,
            "invalid request, please check your server timestamp or recv_window param. "
            f"req_timestamp[{timestamp}],server_timestamp[{now}],recv_window[{recv_window}]",
        )
    return body_params(raw_body) if request.method == "POST" else query_params(request)


__all__ = ["DEFAULT_RECV_WINDOW", "FUTURE_TOLERANCE_MS", "authenticate", "body_params", "public_params", "query_params"]
