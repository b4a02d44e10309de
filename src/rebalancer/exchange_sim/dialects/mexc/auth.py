"""MEXC signed requests, exactly as ccxt's `mexc.sign` builds them, and the timestamp windows on the
server's (possibly skewed) clock.

Two schemes, one per API section:
- spot `/api/v3/...`: header X-MEXC-APIKEY, HMAC-SHA256 (hex) over the query string before
  `&signature=` (it carries `timestamp` and `recvWindow`); refusals in spot's words (700002, 700003).
- contract `/api/v1/private/...`: headers ApiKey, Request-Time, Signature = HMAC-SHA256 (hex) over
  apiKey + Request-Time + (the JSON body of a POST | the sorted query string of a GET); the request
  time must be within 10 s of the server's (513 otherwise).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any, Callable
from urllib.parse import parse_qsl

from aiohttp import web

from ...rejections import Reason, Rejection

SPOT_DEFAULT_RECV_WINDOW = 5_000
SPOT_MAX_RECV_WINDOW = 60_000
CONTRACT_WINDOW_MS = 10_000  # MEXC: "for open api serves time more or less than 10s" (code 513)
LIST_BODY = "_list"  # where a JSON-array body (order/cancel) is kept among the parameters


def is_spot(request: web.Request) -> bool:
    return request.path.startswith("/api/v3/")


def query_params(request: web.Request) -> dict[str, Any]:
    return dict(parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True))


def body_params(raw: bytes) -> dict[str, Any]:
    """A contract POST's JSON body: an object, or an array (order/cancel takes a list of ids)."""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw, parse_float=Decimal)  # exact decimals: 0.6 stays 0.6
    except ValueError:
        raise Rejection(Reason.BAD_PARAMETER, "Data decoding error") from None
    if isinstance(body, list):
        return {LIST_BODY: body}
    if not isinstance(body, dict):
        raise Rejection(Reason.BAD_PARAMETER, "Data decoding error")
    return body


async def public_params(request: web.Request) -> dict[str, Any]:
    params = query_params(request)
    params.update(request.match_info)
    if request.method == "POST" and request.can_read_body:
        params.update(body_params(await request.read()))
    return params


async def authenticate(request: web.Request, api_key: str, secret: bytes, clock: Callable[[], int]) -> dict[str, Any]:
    """Check key, signature and timestamp of either section; return the parameters (path ones included)."""
    if is_spot(request):
        params = _spot(request, api_key, secret, clock)
    else:
        params = await _contract(request, api_key, secret, clock)
    params.update(request.match_info)
    return params


def _spot(request: web.Request, api_key: str, secret: bytes, clock: Callable[[], int]) -> dict[str, Any]:
    key = request.headers.get("X-MEXC-APIKEY")
    if not key:
        raise Rejection(Reason.AUTH_MISSING_KEY)
    if not hmac.compare_digest(key, api_key):
        raise Rejection(Reason.AUTH_BAD_KEY)
    raw = request.rel_url.raw_query_string
    signed, sep, signature = raw.rpartition("&signature=")
    if not sep:
        signed, signature = raw, ""
    expected = hmac.new(secret, signed.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature.lower(), expected):
        raise Rejection(Reason.BAD_SIGNATURE)
    params = dict(parse_qsl(signed, keep_blank_values=True))
    timestamp_text, window_text = params.get("timestamp", ""), params.get("recvWindow", "")
    if not timestamp_text.isdigit():
        raise Rejection(Reason.MISSING_PARAMETER, "Mandatory parameter 'timestamp' was not sent")
    window = int(window_text) if window_text.isdigit() else SPOT_DEFAULT_RECV_WINDOW
    if window > SPOT_MAX_RECV_WINDOW:
        raise Rejection(Reason.BAD_PARAMETER, "recvWindow must less than 60000")
    timestamp, now = int(timestamp_text), clock()
    if not (now - window <= timestamp <= now + 1_000):
        raise Rejection(Reason.TIMESTAMP_OUTSIDE_WINDOW)
    return params


async def _contract(request: web.Request, api_key: str, secret: bytes, clock: Callable[[], int]) -> dict[str, Any]:
    key = request.headers.get("ApiKey")
    if not key:
        raise Rejection(Reason.AUTH_MISSING_KEY)
    if not hmac.compare_digest(key, api_key):
        raise Rejection(Reason.AUTH_BAD_KEY)
    time_text = request.headers.get("Request-Time", "")
    if not time_text.isdigit():
        raise Rejection(Reason.TIMESTAMP_OUTSIDE_WINDOW)
    raw_body = await request.read() if request.can_read_body else b""
    # ccxt signs the JSON text it sent (POST) or the key-sorted query string it put in the URL (GET).
    signed = raw_body.decode() if request.method == "POST" else request.rel_url.raw_query_string
    expected = hmac.new(secret, (key + time_text + signed).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(request.headers.get("Signature", "").lower(), expected):
        raise Rejection(Reason.BAD_SIGNATURE)
    if abs(clock() - int(time_text)) > CONTRACT_WINDOW_MS:
        raise Rejection(Reason.TIMESTAMP_OUTSIDE_WINDOW)
    return body_params(raw_body) if request.method == "POST" else query_params(request)


__all__ = ["CONTRACT_WINDOW_MS", "LIST_BODY", "authenticate", "body_params", "is_spot", "public_params", "query_params"]
