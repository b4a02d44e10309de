"""What the dialect test modules check the same way: payload keys against a recording (okx, bingx and
mexc: key_mismatches; bybit and weex: keys_of + differences), the raw replies a ccxt client saw, an
engine position, and the reset between tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp

from rebalancer.exchange_sim import RunningExchange


def reset(sim: RunningExchange) -> None:
    """The scenario's opening state, faults and counters: one server per module, reset between tests."""
    sim.server.engine.reset()
    sim.server.faults.reset(sim.scenario.faults)
    sim.server.requests.clear()


def key_mismatches(ours: Any, theirs: Any, path: str = "", *, extra_ok: frozenset[str] = frozenset()) -> list[str]:
    """Differences in keys, recursively; each object of a list is compared with the recording's first.
    `extra_ok`: keys ours may carry that the (older) recording lacks."""
    if isinstance(theirs, dict):
        if not isinstance(ours, dict):
            return [f"{path}: not an object"]
        problems = [f"{path}.{k}: missing" for k in theirs if k not in ours]
        problems += [f"{path}.{k}: extra" for k in ours if k not in theirs and k not in extra_ok]
        for k in theirs:
            if k in ours:
                problems += key_mismatches(ours[k], theirs[k], f"{path}.{k}", extra_ok=extra_ok)
        return problems
    if isinstance(theirs, list) and theirs and isinstance(theirs[0], (dict, list)):
        if not isinstance(ours, list):
            return [f"{path}: not a list"]
        return [p for i, item in enumerate(ours)
                for p in key_mismatches(item, theirs[0], f"{path}[{i}]", extra_ok=extra_ok)]
    return []


def record_replies(client: Any) -> list[tuple[int, str]]:
    """(HTTP status, body) of every reply the ccxt client handles from now on."""
    seen: list[tuple[int, str]] = []
    original = client.handle_errors

    def spy(code: int, reason: str, url: str, method: str, headers: Any, body: str, *rest: Any) -> Any:
        seen.append((code, body))
        return original(code, reason, url, method, headers, body, *rest)

    client.handle_errors = spy
    return seen


def engine_amount(sim: RunningExchange, asset: str) -> Decimal:
    """The engine's position in base units."""
    return sim.server.engine.positions[asset + "USDT"].amount


def keys_of(value: Any) -> Any:
    """A payload's key structure: dicts by key (recursively), lists as the union of their items'."""
    if isinstance(value, dict):
        return {k: keys_of(v) for k, v in value.items()}
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        merged: dict[str, Any] = {}
        for item in value:
            for k, v in keys_of(item).items():
                merged.setdefault(k, v)
        return [merged]
    return None


def differences(recorded: Any, ours: Any, path: str = "") -> list[str]:
    """Key differences between a recorded payload and ours (each list compared by its first item);
    apply keys_of to both first to compare lists by the union of their items' keys."""
    if isinstance(recorded, dict) and isinstance(ours, dict):
        out = [f"{path}.{k} missing" for k in recorded if k not in ours]
        out += [f"{path}.{k} extra" for k in ours if k not in recorded]
        return out + [d for k in recorded if k in ours for d in differences(recorded[k], ours[k], f"{path}.{k}")]
    if isinstance(recorded, list) and isinstance(ours, list):
        if not ours:
            return [f"{path}[] empty in ours"]
        return differences(recorded[0], ours[0], path + "[]")
    if (recorded is None) != (ours is None) and not (recorded == {} or ours == {}):
        return [f"{path} structure differs"]
    return []



async def sim_state(sim: RunningExchange) -> dict[str, Any]:
    """The local exchange's GET /_sim/state."""
    async with aiohttp.ClientSession() as session:
        async with session.get(sim.base_url + "/_sim/state") as response:
            assert response.status == 200, await response.text()
            return await response.json()


async def move_mark(sim: RunningExchange, asset: str, mark: float, *, with_spot: bool = False) -> None:
    """POST /_sim/prices: the asset's mark (and its spot too, with_spot) to `mark`; resting stops it
    crosses fire."""
    body = {asset: mark} if with_spot else {asset: {"mark": mark}}
    async with aiohttp.ClientSession() as session:
        async with session.post(sim.base_url + "/_sim/prices", json=body) as response:
            assert response.status == 200, await response.text()


def sent_query(client: Any) -> dict[str, str]:
    """The query string of the last request a ccxt client sent."""
    return dict(parse_qsl(urlsplit(client.last_request_url).query))


async def sent_by(client: Any, action: Any) -> tuple[str, dict[str, str], Any]:
    """(path, query, result) of the last request the awaited `action()` made through the ccxt client."""
    result = await action()
    parts = urlsplit(client.last_request_url)
    return parts.path, dict(parse_qsl(parts.query)), result
