"""Realism check: the local exchange's JSON has the keys and JSON types of real Binance payloads recorded by ccxt.

String-vs-number differences are allowed (the recordings mix them; see tests/fixtures/ccxt-recorded/README.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from rebalancer.exchange_sim import RunningExchange

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ccxt-recorded"
RESPONSES = json.loads((FIXTURES / "binance_responses.json").read_text(encoding="utf-8"))["methods"]
REQUESTS = json.loads((FIXTURES / "binance_requests.json").read_text(encoding="utf-8"))["methods"]


def recorded(method: str, description: str) -> Any:
    return next(e["httpResponse"] for e in RESPONSES[method] if e["description"] == description)


def kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if value is None:
        return "null"
    if isinstance(value, (str, int, float)):
        return "scalar"  # the recordings mix "123" and 123 for the same field
    return type(value).__name__


def compare(ours: Any, real: Any, path: str = "$") -> list[str]:
    """Differences in keys and JSON kinds between two payloads; list items compare first elements."""
    if kind(ours) != kind(real):
        return [f"{path}: ours is {kind(ours)}, real is {kind(real)}"]
    if isinstance(real, dict):
        problems = [f"{path}.{k}: missing" for k in real if k not in ours]
        problems += [f"{path}.{k}: extra" for k in ours if k not in real]
        for k in real.keys() & ours.keys():
            problems += compare(ours[k], real[k], f"{path}.{k}")
        return problems
    if isinstance(real, list) and real and ours:
        return compare(ours[0], real[0], f"{path}[0]")
    return []


@pytest.fixture
async def busy(ready_client: Any, admin: Any) -> Any:
    """An account with a BTC short, a resting ETH limit order and one funding settlement."""
    await ready_client.create_order("BTC/USDT:USDT", "market", "sell", 0.025)
    await ready_client.create_order("ETH/USDT:USDT", "limit", "buy", 0.5, 1900)
    await admin("POST", "settle-funding")
    return ready_client


# (recorded method, recorded description, implicit ccxt call, params, keys we add on purpose)
CASES = [
    ("fetchBalance", "Spot balance", "privateGetAccount", {}, set()),
    ("fetchBalance", "Linear swap balance", "fapiPrivateV2GetAccount", {}, set()),
    ("fetchPositions", "Fetch linear positions using account endnpoint", "fapiPrivateV3GetAccount", {}, set()),
    ("fetchPositions", "Fetch linear positions with symbols", "fapiPrivateV3GetPositionRisk", {}, set()),
    ("fetchTicker", "public spot ticker", "publicGetTicker24hr", {"symbol": "BTCUSDT"}, set()),
    ("fetchMarginMode", "linear swap fetch margin mode", "fapiPrivateGetSymbolConfig", {"symbol": "BTCUSDT"}, set()),
    (
        "fetchFundingHistory", "fetch portfolio margin funding history", "fapiPrivateGetIncome",
        {"incomeType": "FUNDING_FEE"}, set(),
    ),
    (
        # The recording is the portfolio-margin (papi) twin of fapi's order; fapi adds these fields.
        "fetchOpenOrders", "open portfolio margin orders", "fapiPrivateGetOpenOrders", {},
        {"cumQty", "closePosition", "stopPrice", "workingType", "priceProtect", "priceMatch"},
    ),
]


@pytest.mark.parametrize(("method", "description", "call", "params", "extras"), CASES, ids=[c[2] for c in CASES])
async def test_response_shape_matches_recorded_binance(
    busy: Any, method: str, description: str, call: str, params: dict[str, str], extras: set[str]
) -> None:
    """Same keys (recursively) and JSON kinds as the recorded real response, apart from listed fapi extras."""
    ours = await getattr(busy, call)(params)
    real = recorded(method, description)
    problems = [p for p in compare(ours, real) if not any(p.endswith(f".{e}: extra") for e in extras)]
    assert problems == []


async def test_recorded_spot_order_query_shape_is_what_spot_would_return(ready_client: Any) -> None:
    """The sim has no spot orders; a spot lookup answers -2013 like Binance does for an unknown order."""
    import ccxt

    with pytest.raises(ccxt.OrderNotFound):
        await ready_client.privateGetOrder({"symbol": "BTCUSDT", "orderId": 3397148653})


# Recorded requests of the unified calls the product makes (spot + USDⓈ-M only).
PRODUCT_REQUESTS = [
    ("fetchPositions", "fetch default positions"), ("fetchPositions", "fetch account positions"),
    ("fetchPositions", "fetchPositions using v2 endpoint"), ("fetchBalance", "Spot fetch balance"),
    ("fetchBalance", "Swap fetchBalance"), ("fetchFundingRate", "fundingRate"), ("fetchFundingRates", "Fetch Funding Rates - linear"),
    ("fetchMarkPrice", "fetchMarkPrice"), ("fetchMarkPrices", "fetchMarkPrices"), ("fetchTicker", "Swap ticker"),
    ("fetchTicker", "spot ticker"), ("fetchTickers", "spot tickers"), ("fetchTickers", "swap tickers"),
    ("createOrder", "Swap market buy order"), ("createOrder", "Swap limit buy order"),
    ("createOrder", "Swap limit buy with reduce only (closing short position)"), ("fetchOrder", "Spot fetchOrder"),
    ("fetchOrder", "Swap fetchOrder"), ("fetchOpenOrders", "Swap open orders"), ("cancelOrder", "Swap cancelOrder"),
    ("cancelOrder", "cancel swap order with clientOrderId"), ("setLeverage", "Swap linear setLeverage"),
    ("setMarginMode", "Set margin mode to cross"), ("fetchLeverage", "fetch leverage"),
    ("fetchMarginMode", "linear swap fetch margin mode"), ("fetchPositionMode", "Fetch Position Mode for linear markets"),
    ("fetchTime", "fetchTime"), ("fetchFundingHistory", "Fetch Funding History - linear"), ("fetchLedger", "Fetch swap ledger"),
]


def test_every_recorded_product_endpoint_is_routed(sim: RunningExchange) -> None:
    """Each path ccxt was recorded calling for the product's unified methods has a route on the sim."""
    routed = {r.resource.canonical for r in sim.server.app.router.routes() if r.resource is not None}
    missing = []
    for method, description in PRODUCT_REQUESTS:
        entry = next(e for e in REQUESTS[method] if e["description"] == description)
        path = urlsplit(entry["url"]).path
        if path not in routed:
            missing.append(f"{method} / {description}: {path}")
    assert missing == []
