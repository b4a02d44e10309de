"""Leverage tiers, funding intervals and market limits as the venue layer turns ccxt data into domain records.

The ccxt side is a stand-in client here, so the venues the local exchange does not imitate (Bybit's
per-symbol tiers and unified `interval`, OKX's missing batch call) and failed reads can be driven
exactly; the Binance path runs on the real ccxt classes in tests/integration/test_venue_tiers.py.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest

from rebalancer.domain import Funding, Market, Tier
from rebalancer.venues.ccxt_venue import CcxtVenue, VenueConfig, _interval_hours, parse_tiers

RECORDED = Path(__file__).resolve().parents[1] / "fixtures" / "ccxt-recorded" / "binance_responses.json"
D = Decimal


def ccxt_tier(floor, cap, mmr, lev, info=None) -> dict[str, Any]:
    """A tier as ccxt's parse_market_leverage_tiers returns it (numbers are floats in ccxt)."""
    return {"minNotional": floor, "maxNotional": cap, "maintenanceMarginRate": mmr, "maxLeverage": lev,
            "info": info or {}}


# ------------------------------------------------------------------ parse_tiers


def test_parse_tiers_when_venue_gives_cum_then_kept_and_sorted():
    """Binance's own cum (info['cum']) is used as given (60 here, where continuity would say 50), tiers
    sorted by floor, the last cap open-ended."""
    raw = [ccxt_tier(50000.0, 1e9, 0.005, 100.0, {"cum": "60.0"}),
           ccxt_tier(0.0, 50000.0, 0.004, 125.0, {"cum": 0.0})]
    assert parse_tiers(raw) == (Tier(D(0), D(50000), D("0.004"), D(0), D(125)),
                                Tier(D(50000), None, D("0.005"), D(60), D(100)))


def test_parse_tiers_when_no_cum_then_continuity_on_recorded_binance_btc_brackets():
    """The BTCUSDT brackets recorded from Binance (floor, mmr; ccxt's leverageBrackets cache in the
    recorded fixture) give Binance's published cum by continuity: 0, 50, 1300, 46300, ..."""
    pairs = json.loads(RECORDED.read_text())["options"]["leverageBrackets"]["BTC/USDT:USDT"]
    floors = [float(f) for f, _ in pairs]
    raw = [ccxt_tier(f, (floors[i + 1] if i + 1 < len(floors) else None), float(m), None)
           for i, (f, m) in enumerate(zip(floors, (m for _, m in pairs)))]
    tiers = parse_tiers(raw)
    assert [t.cum for t in tiers] == [D(v) for v in (0, 50, 1300, 46300, 546300, 2546300, 5046300, 8046300,
                                                      28046300, 103046300)]
    assert [t.mmr for t in tiers] == [D(m) for _, m in pairs]
    assert (tiers[0].floor, tiers[0].cap, tiers[-1].floor, tiers[-1].cap) == (D(0), D(50000), D(300000000), None)


@pytest.mark.parametrize("raw, expected", [
    ([], ()),
    ([ccxt_tier(0.0, 1e18, 0.01, 20.0)], (Tier(D(0), None, D("0.01"), D(0), D(20)),)),  # sentinel cap
    ([ccxt_tier(0.0, 999999999.0, 0.01, None)], (Tier(D(0), D(999999999), D("0.01"), D(0), None),)),
    ([ccxt_tier(0.0, 10.0, None, 20.0)], ()),  # no mmr: unusable, never a guessed rate
    ([ccxt_tier(None, 10.0, 0.01, 20.0)], ()),
])
def test_parse_tiers_edges(raw, expected):
    assert parse_tiers(raw) == expected


@pytest.mark.parametrize("text, hours", [("8h", D(8)), ("4h", D(4)), ("1h", D(1)), ("30m", D("0.5")),
                                         (None, None), ("", None), ("0h", None), ("8", None), ("1d", None)])
def test_interval_hours(text, hours):
    assert _interval_hours(text) == hours


# ------------------------------------------------------------------ a stand-in ccxt client


class FakeClient:
    """Just enough of a ccxt async exchange for connect() and snapshot(); counts its calls."""

    precisionMode = ccxt.TICK_SIZE

    def __init__(self, *, has: dict[str, Any], tiers: dict[str, Any] | None = None,
                 rates: dict[str, dict] | None = None, intervals: dict[str, dict] | None = None) -> None:
        self.has = has
        self.options: dict[str, Any] = {}
        self.tiers = tiers or {}  # symbol -> list of ccxt tiers, or an exception to raise
        self.rates = rates or {}
        self.intervals = intervals or {}
        self.calls: list[str] = []
        perp = {"swap": True, "linear": True, "active": True, "contractSize": 1.0, "precision": {"amount": 0.001},
                "limits": {"amount": {"min": 0.001, "max": 500.0}, "cost": {"min": 5.0}}}
        self.markets = {f"{a}/USDT:USDT": dict(perp) for a in ("BTC", "ETH", "SOL")}
        self.markets["BTC/USDT"] = {"spot": True}

    async def load_markets(self):
        self.calls.append("load_markets")
        return self.markets

    async def fetch_position_mode(self, symbol=None):
        return {"hedged": False, "info": {"posMode": "net_mode", "dualSidePosition": False}}

    async def fetch_market_leverage_tiers(self, symbol):
        self.calls.append(f"fetch_market_leverage_tiers {symbol}")
        reply = self.tiers.get(symbol, [])
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def fetch_leverage_tiers(self, symbols):
        self.calls.append("fetch_leverage_tiers")
        if isinstance(self.tiers, Exception):
            raise self.tiers
        return {s: t for s, t in self.tiers.items() if s in symbols}

    async def fetch_balance(self, params=None):
        return {"USDT": {"total": 1000, "free": 1000, "used": 0}, "total": {"USDT": 1000}}

    async def fetch_positions(self, symbols, params=None):
        return []

    async def privateGetV5AccountInfo(self, params=None):  # noqa: N802 - ccxt's implicit method (Bybit account check)
        return {"retCode": 0, "result": {"marginMode": "REGULAR_MARGIN", "unifiedMarginStatus": 5}}

    async def fetch_funding_rates(self, symbols):
        self.calls.append("fetch_funding_rates")
        return {s: r for s, r in self.rates.items() if s in symbols}

    async def fetch_funding_intervals(self, symbols):
        self.calls.append("fetch_funding_intervals")
        return {s: r for s, r in self.intervals.items() if s in symbols}

    async def fetch_tickers(self, symbols):
        return {"BTC/USDT": {"bid": 40000, "ask": 40000, "timestamp": None}}

    async def close(self):
        pass


def rate(rate, interval=None, mark=100.0):
    return {"fundingRate": rate, "markPrice": mark, "interval": interval, "timestamp": None}


def venue_for(exchange: str, client: FakeClient, **kw: Any) -> CcxtVenue:
    cfg = VenueConfig("main", exchange, "live")
    return CcxtVenue(hedge=cfg, spot=cfg, quote="USDT", assets=["BTC", "ETH", "SOL", "USDT"], clients=(client, client),
                     **kw)


BYBIT_HAS = {"fetchLeverageTiers": True, "fetchMarketLeverageTiers": True}


async def test_bybit_when_one_tier_read_fails_then_only_that_symbol_lacks_tiers_and_is_named():
    """Bybit: per-symbol reads (its batch call reads symbols[0] only), concurrently; no cum from Bybit, so
    continuity; SOL publishes none; ETH's read fails: two warnings, each naming its symbols."""
    client = FakeClient(has=BYBIT_HAS, tiers={
        "BTC/USDT:USDT": [ccxt_tier(0.0, 2000000.0, 0.005, 100.0), ccxt_tier(2000000.0, 4000000.0, 0.01, 50.0)],
        "ETH/USDT:USDT": ccxt.BadRequest('bybit {"retCode":10001,"retMsg":"params error"}'),
    })
    venue = venue_for("bybit", client)
    await venue.connect()
    assert sorted(c for c in client.calls if "tiers" in c) == [
        "fetch_market_leverage_tiers BTC/USDT:USDT", "fetch_market_leverage_tiers ETH/USDT:USDT",
        "fetch_market_leverage_tiers SOL/USDT:USDT"]
    assert venue.markets["BTC"] == Market(
        "BTC/USDT:USDT", "BTC", "USDT", contract_size=D(1), amount_step=D("0.001"), min_amount=D("0.001"),
        min_cost=D(5), max_leverage=D(100), max_amount=D(500), max_market_amount=None,
        tiers=(Tier(D(0), D(2000000), D("0.005"), D(0), D(100)), Tier(D(2000000), D(4000000), D("0.01"), D(10000), D(50))),
        reduce_only_min_cost_exempt=False)
    assert (venue.markets["ETH"].tiers, venue.markets["SOL"].tiers) == ((), ())
    assert venue.warnings == [
        "tiers_missing: SOL/USDT:USDT: main published no leverage tiers; the risk gate uses default_mmr for them",
        # the exchange's own words (Bybit retMsg), as with Binance's msg
        "tiers_missing: ETH/USDT:USDT: the leverage tier read failed (params error); the risk gate uses default_mmr for them",
    ]
    assert "leverageBrackets" not in client.options  # only Binance's ccxt class caches brackets


async def test_bybit_when_rates_carry_interval_then_funding_per_symbol_and_none_is_left_out():
    """Non-Binance venues: the interval comes from the unified `interval` of fetch_funding_rates, read with
    the rates every snapshot; SOL without one gets no Funding (the FUNDING check denies it), still a mark."""
    client = FakeClient(has=BYBIT_HAS, rates={
        "BTC/USDT:USDT": rate(0.0001, "8h"), "ETH/USDT:USDT": rate(-0.0002, "1h"), "SOL/USDT:USDT": rate(0.0003)})
    venue = venue_for("bybit", client)
    await venue.connect()
    snap = await venue.snapshot()
    assert snap.funding == {"BTC": Funding(D("0.0001"), D(8), snap.taken_at),
                            "ETH": Funding(D("-0.0002"), D(1), snap.taken_at)}
    assert snap.mark_prices["SOL"].price == D(100)
    assert venue.intervals == {"BTC": D(8), "ETH": D(1)}
    assert venue.warnings[-1] == ("funding_interval_missing: SOL/USDT:USDT: main gave no funding interval; their "
                                  "funding is left out and the FUNDING check denies them")
    assert "fetch_funding_intervals" not in client.calls
    assert snap.spot_unlisted == frozenset({"ETH", "SOL"})
    # the next snapshot has SOL's interval again: the warning is about the last snapshot only
    client.rates["SOL/USDT:USDT"] = rate(0.0003, "4h")
    snap = await venue.snapshot()
    assert snap.funding["SOL"].interval_hours == D(4)
    assert not any(w.startswith("funding_interval_missing") for w in venue.warnings)


async def test_okx_when_no_tier_call_then_every_market_without_tiers_and_one_warning():
    client = FakeClient(has={"fetchLeverageTiers": False, "fetchMarketLeverageTiers": False})
    venue = venue_for("okx", client)
    await venue.connect()
    assert all(m.tiers == () and m.max_leverage is None for m in venue.markets.values())
    assert venue.warnings == ["tiers_missing: BTC/USDT:USDT, ETH/USDT:USDT, SOL/USDT:USDT: main published no "
                              "leverage tiers; the risk gate uses default_mmr for them"]
    assert not any("tiers" in c for c in client.calls)


async def test_binance_when_fundinginfo_omits_a_symbol_then_it_is_8h_and_listed_ones_as_listed():
    """Binance: fundingInfo lists only symbols off the default; the rest are 8h (Binance's documented default).
    A listed symbol without a readable interval is left out, never guessed."""
    client = FakeClient(has={"fetchLeverageTiers": True}, rates={
        "BTC/USDT:USDT": rate(0.0001), "ETH/USDT:USDT": rate(0.0001), "SOL/USDT:USDT": rate(0.0001)},
        intervals={"BTC/USDT:USDT": {"interval": "4h"}, "SOL/USDT:USDT": {"interval": None}})
    venue = venue_for("binance", client)
    await venue.connect()
    snap = await venue.snapshot()
    assert {a: f.interval_hours for a, f in snap.funding.items()} == {"BTC": D(4), "ETH": D(8)}
    assert venue.warnings[-1].startswith("funding_interval_missing: SOL/USDT:USDT:")
    assert client.calls.count("fetch_funding_intervals") == 1


async def test_binance_when_tier_refresh_fails_then_old_tiers_kept_and_retried_next_snapshot():
    """A failed hourly refresh keeps the tiers read before (tiers_stale) and retries at every snapshot
    until it succeeds; the tiers read at connect also fill ccxt's bracket cache."""
    now = [0.0]
    tiers = {"BTC/USDT:USDT": [ccxt_tier(0.0, 1e9, 0.004, 125.0, {"cum": 0.0})]}
    client = FakeClient(has={"fetchLeverageTiers": True}, tiers=dict(tiers))
    venue = venue_for("binance", client, monotonic=lambda: now[0])
    await venue.connect()
    assert client.options["leverageBrackets"] == {"BTC/USDT:USDT": [["0.0", "0.004"]]}
    assert venue.warnings == ["tiers_missing: ETH/USDT:USDT, SOL/USDT:USDT: main published no leverage tiers; "
                              "the risk gate uses default_mmr for them"]
    await venue.snapshot()
    now[0] = 3600.0
    client.tiers = ccxt.ExchangeError('binance {"code":-1000,"msg":"An unknown error occurred"}')
    snap = await venue.snapshot()
    assert snap.markets["BTC"].tiers == (Tier(D(0), None, D("0.004"), D(0), D(125)),)
    assert venue.warnings == [
        "tiers_missing: ETH/USDT:USDT, SOL/USDT:USDT: the leverage tier read failed (An unknown error occurred); "
        "the risk gate uses default_mmr for them",
        "tiers_stale: BTC/USDT:USDT: the leverage tier refresh failed (An unknown error occurred); keeping the "
        "tiers read before, retrying at the next snapshot",
    ]
    client.tiers = {"BTC/USDT:USDT": [ccxt_tier(0.0, 1e9, 0.006, 75.0, {"cum": 0.0})]}
    snap = await venue.snapshot()
    assert snap.markets["BTC"].tiers == (Tier(D(0), None, D("0.006"), D(0), D(75)),)
    assert client.calls.count("fetch_leverage_tiers") == 3  # connect, failed refresh, retry
    await venue.snapshot()
    assert client.calls.count("fetch_leverage_tiers") == 3  # fresh again: not read for another hour
