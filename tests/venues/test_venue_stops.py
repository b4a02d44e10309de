"""The venue's protective-stop calls (ExchangeSpec.stops; issue 14 groundwork) on every dialect of the
local exchange, through the real ccxt class: a reduce-only buy stop over a short and a sell stop under a
long are placed, listed with their side, size and trigger, refused on the wrong side of the mark,
cancelled, and fire on the exchange when the mark crosses them (the position is flat afterwards)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rebalancer.venues.ccxt_venue import CcxtVenue, VenueConfig
from rebalancer.venues.errors import RejectedError, VenueError
from tests.integration.conftest import sim_post, sim_state, start_exchange
from tests.integration.dialects import DIALECTS

D = Decimal
BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
SCENARIO = {
    "markets": {"BTC": {"spot_price": 40000, "amount_step": 0.001}, "ETH": {"spot_price": 2000, "amount_step": 0.01}},
    "spot": {"BTC": 0.1, "ETH": 1, "USDT": 0},
    "futures": {"wallet": 10000, "leverage": 5, "positions": [
        {"symbol": "BTC", "amount": -0.025, "entry_price": 40000},
        {"symbol": "ETH", "amount": 0.5, "entry_price": 2000}]},
}


def config(ex) -> VenueConfig:
    return VenueConfig("main", ex.dialect, "local", ex.base_url, ex.api_key, ex.api_secret,
                       password=ex.password, timeout_ms=5000, leverage=5)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_stops_are_placed_listed_refused_cancelled_and_fire_on_every_venue(dialect: str) -> None:
    async with start_exchange(SCENARIO, dialect) as ex:
        venue = CcxtVenue(hedge=config(ex), spot=config(ex), quote="USDT", assets=["BTC", "ETH"])
        await venue.connect()
        try:
            btc = D("0.025") / venue.markets["BTC"].contract_size  # contracts, as orders count them
            eth = D("0.5") / venue.markets["ETH"].contract_size
            short_stop = await venue.place_stop(BTC, "buy", btc, D(50000), "stopbtc1")
            long_stop = await venue.place_stop(ETH, "sell", eth, D(1500), "stopeth1")
            assert short_stop and long_stop
            listed = {s.symbol: s for s in await venue.resting_stops([BTC, ETH])}
            assert {s: (x.side, x.trigger, x.order_id) for s, x in listed.items()} == {
                BTC: ("buy", D(50000), short_stop), ETH: ("sell", D(1500), long_stop)}
            assert listed[BTC].amount in (btc, None) and listed[ETH].amount in (eth, None)
            if dialect != "mexc":  # MEXC lists plan orders without their externalOid
                assert (listed[BTC].client_order_id, listed[ETH].client_order_id) == ("stopbtc1", "stopeth1")

            with pytest.raises(VenueError) as wrong:  # a buy stop under the mark would fire at once
                await venue.place_stop(BTC, "buy", btc, D(39000), "stopbad1")
            assert isinstance(wrong.value, RejectedError) and wrong.value.code is not None, wrong.value
            assert len(await venue.resting_stops([BTC])) == 1

            await venue.cancel_stop(BTC, short_stop)
            assert [s.symbol for s in await venue.resting_stops([BTC, ETH])] == [ETH]
            await venue.place_stop(BTC, "buy", btc, D(45000), "stopbtc2")

            await sim_post(ex, "prices", {"BTC": {"spot": 46000, "mark": 46000}, "ETH": {"spot": 1400, "mark": 1400}})
            state = await sim_state(ex)
            assert state["futures"]["positions"] == {}  # both stops fired and closed their positions
            assert await venue.resting_stops([BTC, ETH]) == []
            assert (await venue.positions()) == {}
        finally:
            await venue.close()
