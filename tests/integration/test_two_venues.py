"""Spot read from one venue, hedges on another, plus a cold-wallet holding from the config."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rebalancer.exchange_sim.runner import start_exchange
from rebalancer.service import Rebalancer
from rebalancer.settings import load_settings
from tests.integration.conftest import sim_state

pytestmark = pytest.mark.integration

CONFIG = """\
[portfolio]
quote = "USDT"
targets = {{ BTC = 0.5, ETH = 0.5 }}
external = [ {{ asset = "BTC", amount = 0.05, label = "cold wallet" }} ]

[venues.spotacct]
exchange = "binance"
mode = "local"
base_url = "{spot_url}"
roles = ["spot"]
api_key = "{key}"
api_secret = "{secret}"

[venues.hedgeacct]
exchange = "binance"
mode = "local"
base_url = "{hedge_url}"
roles = ["hedge"]
api_key = "{key}"
api_secret = "{secret}"

[risk]
kill_switch_file = "{var}/HALT"

[journal]
path = "{var}/journal.db"

[logging]
level = "warning"
file = ""
"""


def market(price: float) -> dict:
    return {"spot_price": price, "amount_step": 0.001}


async def test_spot_from_one_venue_hedge_on_another_with_cold_wallet(tmp_path):
    """NAV = exchange spot (0.1 BTC, 2 ETH) + cold 0.05 BTC = $10,000; the hedge venue gets the orders."""
    spot_side = {"markets": {"BTC": market(40000), "ETH": market(2000)},
                 "spot": {"BTC": 0.1, "ETH": 2, "USDT": 0}, "futures": {"wallet": 0}}
    hedge_side = {"markets": {"BTC": market(40000), "ETH": market(2000)},
                  "spot": {"BTC": 0, "ETH": 0, "USDT": 0}, "futures": {"wallet": 10000}}
    async with start_exchange(spot_side) as spot_ex, start_exchange(hedge_side) as hedge_ex:
        path = tmp_path / "two.toml"
        path.write_text(CONFIG.format(spot_url=spot_ex.base_url, hedge_url=hedge_ex.base_url, key=spot_ex.api_key,
                                      secret=spot_ex.api_secret, var=tmp_path.as_posix()))
        rb = Rebalancer(load_settings(path, env={}))
        try:
            report = await rb.cycle(execute=True)
        finally:
            await rb.close()
        assert report.outcome == "done", report.error
        assert report.plan.nav == Decimal("10000")
        assert {h.source for h in report.snapshot.holdings} == {"spotacct:spot", "cold wallet"}
        hedge, spot = await sim_state(hedge_ex), await sim_state(spot_ex)
        assert {a: p["amount"] for a, p in hedge["futures"]["positions"].items()} == {"BTC": "-0.025", "ETH": "0.5"}
        assert spot["orders"] == [] and spot["futures"]["positions"] == {}  # the spot venue is only read
        assert not any(k.startswith("POST") for k in spot["requests"])
