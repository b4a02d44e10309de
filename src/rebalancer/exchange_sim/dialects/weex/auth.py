"""WEEX private requests, as ccxt's `weex.sign` builds them: ACCESS-KEY, ACCESS-PASSPHRASE,
ACCESS-TIMESTAMP (ms) and ACCESS-SIGN = base64 HMAC-SHA256 over timestamp + method + request path
(with its query string) + the JSON body of a POST; the timestamp within 30 s of the server's
(possibly skewed) clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any, Callable
from urllib.parse import parse_qsl

from aiohttp import web

from ...rejections import Reason, Rejection
from .codes import MESSAGES

# WEEX documents no window in ccxt; 30 s is the usual one for passphrase-signed v3 APIs (assumed).
TIMESTAMP_WINDOW_MS = 30_000


def query_params(request: web.Request) -> dict[str, Any]:
    return dict(parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True))


def body_params(text: str) -> dict[str, Any]:
    """A POST's JSON object; -1135 (Invalid JSON request) for anything else."""
    if not text.strip():
        return {}
    try:
        body = json.loads(text)
    except ValueError:
        raise Rejection(Reason.BAD_PARAMETER, "Invalid JSON request.") from None
    if not isinstance(body, dict):
        raise Rejection(Reason.BAD_PARAMETER, "Invalid JSON request.")
    return body


async def public_params(request: web.Request) -> dict[str, Any]:
    params = query_params(request)
    if request.method == "POST" and request.can_read_body:
        params.update(body_params((await request.read()).decode()))
    return params


async def authenticate(request: web.Request, api_key: str, secret: bytes, password: str,
                       clock: Callable[[], int]) -> dict[str, Any]:
    """Check the headers in the order WEEX reports them; return query + JSON body params."""
    headers = request.headers
    key = headers.get("ACCESS-KEY")
    if not key:
        raise Rejection(Reason.AUTH_MISSING_KEY)
    signature = headers.get("ACCESS-SIGN")
    if not signature:
        raise Rejection(Reason.BAD_SIGNATURE, MESSAGES[-1041])
    stamp = headers.get("ACCESS-TIMESTAMP")
    if not stamp:
        raise Rejection(Reason.TIMESTAMP_OUTSIDE_WINDOW, MESSAGES[-1042])
    if not stamp.isdigit():
        raise Rejection(Reason.TIMESTAMP_OUTSIDE_WINDOW, MESSAGES[-1043])
    if not hmac.compare_digest(key, api_key):
        raise Rejection(Reason.AUTH_BAD_KEY)
    if not hmac.compare_digest(headers.get("ACCESS-PASSPHRASE", ""), password):
        raise Rejection(Reason.FORCED, MESSAGES[-1049], code="-1049", status=401)
    if abs(clock() - int(stamp)) > TIMESTAMP_WINDOW_MS:
        raise Rejection(Reason.TIMESTAMP_OUTSIDE_WINDOW)
    body = (await request.read()).decode() if request.can_read_body else ""
    payload = stamp + request.method + request.raw_path + (body if request.method == "POST" else "")
    expected = base64.b64encode(hmac.new(secret, payload.encode(), hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(signature, expected):
        raise Rejection(Reason.BAD_SIGNATURE)
    params = query_params(request)
    if request.method == "POST":
        params.update(body_params(body))
    return params


__all__ = ["TIMESTAMP_WINDOW_MS", "authenticate", "body_params", "public_params", "query_params"]
