"""The margin top-up's transfers per ExchangeSpec (issue 14): which venues can move stablecoin spot ->
futures through ccxt 4.5.90, in which id form, and when CcxtVenue refuses before sending anything."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from rebalancer.venues.ccxt_venue import CcxtVenue, VenueConfig
from rebalancer.venues.errors import FatalError
from rebalancer.venues.exchanges import EXCHANGES, BillsTransfers, FetchTransfersHistory, IncomeTransfers

HEX = "0123456789abcdef0123456789abcdef"


def venue(exchange: str, *, spot_name: str = "main") -> CcxtVenue:
    hedge = VenueConfig("main", exchange, "live", api_key="k", api_secret="s", password="p")
    spot = hedge if spot_name == "main" else VenueConfig(spot_name, "binance", "live", api_key="k", api_secret="s")
    return CcxtVenue(hedge=hedge, spot=spot, quote="USDT", assets=["BTC"])


def test_every_venue_with_a_ccxt_transfer_has_its_accounts_and_a_history_weex_has_none():
    kinds = {name: (s.transfers.source, s.transfers.target, type(s.transfers.history))
             for name, s in EXCHANGES.items() if s.transfers is not None}
    assert kinds == {
        "binance": ("spot", "swap", IncomeTransfers), "binanceusdm": ("spot", "swap", IncomeTransfers),
        "bybit": ("funding", "unified", FetchTransfersHistory), "okx": ("funding", "trading", BillsTransfers),
        "bingx": ("spot", "swap", FetchTransfersHistory), "mexc": ("spot", "swap", FetchTransfersHistory),
    }
    assert EXCHANGES["weex"].transfers is None


def test_client_ids_in_the_form_each_venue_takes():
    """Bybit's transferId is a UUID, OKX's clientId up to 32 alphanumerics; the others take none."""
    assert EXCHANGES["bybit"].transfers.client_id(HEX) == "01234567-89ab-cdef-0123-456789abcdef"
    assert EXCHANGES["bybit"].transfers.params("x") == {"transferId": "x"}
    assert EXCHANGES["okx"].transfers.client_id(HEX) == HEX and EXCHANGES["okx"].transfers.params(HEX) == {"clientId": HEX}
    assert EXCHANGES["binance"].transfers.params(HEX) == {}


async def test_weex_refuses_before_any_request_and_says_why():
    v = venue("weex")
    try:
        assert "ccxt has no wallet transfer for weex" in v.transfer_refusal
        assert not v.transfer_history_known
        with pytest.raises(FatalError, match="no wallet transfer"):
            await v.transfer_to_futures("USDT", Decimal(10), "id")
        assert v.request_counts.get("transfer") is None
    finally:
        await v.close()


async def test_a_spot_venue_other_than_the_hedge_venue_is_refused():
    """A transfer moves money inside one account: spot on another venue cannot top up the hedge."""
    v = venue("okx", spot_name="cold")
    try:
        assert "spot balances come from venues.cold" in v.transfer_refusal
        with pytest.raises(FatalError):
            await v.transfers_since("USDT", datetime.now(timezone.utc))
    finally:
        await v.close()
