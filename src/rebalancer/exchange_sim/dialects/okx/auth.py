"""OKX v5 private requests: key, passphrase and demo-trading headers, base64 HMAC-SHA256 over
timestamp + method + request path (with its query) + body, and the timestamp within 30 s of the
server's (possibly skewed) clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import parse_qsl

from aiohttp import web

from .codes import OkxError

TIMESTAMP_WINDOW_MS = 30_000  # OKX: a request whose timestamp is 30 s off the server time is refused
BATCH_KEY = "__batch__"  # where a JSON array body (trade/batch-orders) lands in the params dict
SIMULATED_HEADER = "x-simulated-trading"


def _query_params(request: web.Request) -> dict[str, Any]:
    return dict(parse_qsl(request.rel_url.raw_query_string, keep_blank_values=True))


def _body_params(text: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        body = json.loads(text)
    except ValueError:
        raise OkxError("50002", "Json data format error", status=400) from None
    if isinstance(body, list):
        return {BATCH_KEY: body}
    if not isinstance(body, dict):
        raise OkxError("50002", "Json data format error", status=400)
    return body


async def public_params(request: web.Request) -> dict[str, Any]:
    params = _query_params(request)
    if request.can_read_body:
        params.update(_body_params((await request.read()).decode()))
    return params


def parse_timestamp(value: str) -> int:
    """ISO 8601 with milliseconds and Z (2020-12-08T09:08:57.715Z) -> epoch ms; 50112 otherwise."""
    try:
        if not value.endswith("Z"):
            raise ValueError(value)
        moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    except ValueError:
        raise OkxError("50112") from None
    return int(moment.timestamp() * 1000)


async def authenticate(
    request: web.Request, api_key: str, secret: bytes, password: str, clock: Callable[[], int]
) -> dict[str, Any]:
    """Check OKX's private headers in the order OKX reports them; return query + JSON body params."""
    headers = request.headers
    key = headers.get("OK-ACCESS-KEY")
    if not key:
        raise OkxError("50103")
    passphrase = headers.get("OK-ACCESS-PASSPHRASE")
    if not passphrase:
        raise OkxError("50104")
    signature = headers.get("OK-ACCESS-SIGN")
    if not signature:
        raise OkxError("50106")
    stamp = headers.get("OK-ACCESS-TIMESTAMP")
    if not stamp:
        raise OkxError("50107")
    moment = parse_timestamp(stamp)
    if abs(clock() - moment) > TIMESTAMP_WINDOW_MS:
        raise OkxError("50102")
    if not hmac.compare_digest(key, api_key):
        raise OkxError("50111")
    if not hmac.compare_digest(passphrase, password):
        raise OkxError("50105")
    # The local exchange plays an OKX demo-trading account: keys are demo keys, so a request without
    # the simulated-trading header is a live request with a demo key.
    if headers.get(SIMULATED_HEADER) != "1":
        raise OkxError("50101")
    body = (await request.read()).decode() if request.can_read_body else ""
    payload = stamp + request.method + request.raw_path + body
    expected = base64.b64encode(hmac.new(secret, payload.encode(), hashlib.sha256).digest()).decode()
    if not hmac.compare_digest(signature, expected):
        raise OkxError("50113")
    params = _query_params(request)
    params.update(_body_params(body))
    return params


__all__ = ["BATCH_KEY", "TIMESTAMP_WINDOW_MS", "authenticate", "parse_timestamp", "public_params"]
