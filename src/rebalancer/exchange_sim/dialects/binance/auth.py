"""Binance SIGNED requests: API key header, HMAC-SHA256 over the exact bytes ccxt signed, timestamp
against recvWindow on the server's (possibly skewed) clock.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Callable
from urllib.parse import parse_qsl

from aiohttp import web

from .codes import BinanceError
from .payloads import _int_param, _required

MAX_RECV_WINDOW = 60_000
FUTURE_TOLERANCE_MS = 1_000  # Binance accepts timestamps at most 1 s ahead of its clock


async def public_params(request: web.Request) -> dict[str, str]:
    params = dict(parse_qsl(request.query_string, keep_blank_values=True))
    if request.can_read_body:
        params.update(parse_qsl((await request.read()).decode(), keep_blank_values=True))
    return params


async def authenticate(request: web.Request, api_key: str, secret: bytes, clock: Callable[[], int]) -> dict[str, str]:
    """Binance SIGNED check: API key, HMAC-SHA256 of the exact preceding bytes, timestamp vs recvWindow."""
    key = request.headers.get("X-MBX-APIKEY")
    if not key:
        raise BinanceError(-2014, status=401)
    if not hmac.compare_digest(key, api_key):
        raise BinanceError(-2015, status=401)
    query = request.rel_url.raw_query_string
    body = (await request.read()).decode() if request.can_read_body else ""
    # Binance signs totalParams = query string + body (concatenated as is); the signature is
    # the last parameter of whichever part carries it (ccxt: the query for GET/DELETE, the body for POST).
    signed_part = body if body else query
    head, sep, signature = signed_part.rpartition("signature=")
    if not sep or (head and not head.endswith("&")) or "&" in signature:
        raise BinanceError(-1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
    head = head.removesuffix("&")
    payload = query + head if body else head
    expected = hmac.new(secret, payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature.lower(), expected):
        raise BinanceError(-1022)
    params = dict(parse_qsl(query if body else "", keep_blank_values=True))
    params.update(parse_qsl(head, keep_blank_values=True))
    timestamp = _int_param(params, "timestamp")
    if timestamp is None:
        _required(params, "timestamp")
    recv_window = _int_param(params, "recvWindow") or 5000
    if not 0 < recv_window <= MAX_RECV_WINDOW:
        raise BinanceError(-1131, "recvWindow must be less than 60000")
    now = clock()
    assert timestamp is not None
    if timestamp > now + FUTURE_TOLERANCE_MS:
        raise BinanceError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if now - timestamp > recv_window:
        raise BinanceError(-1021)
    return params
