"""Metrics.observe_pnl: the ledger gauges per asset and in total; an unknown figure is NaN, never 0."""

from __future__ import annotations

import math
from decimal import Decimal

from rebalancer.core.pnl import AssetPnl, PnlSummary
from rebalancer.metrics import Metrics


def test_observe_pnl_sets_each_asset_and_the_total_and_nan_for_unknown():
    m = Metrics()
    summary = PnlSummary(since=None, quote="USDT", days=(), assets=(
        AssetPnl("BTC", "BTC/USDT:USDT", Decimal("20"), Decimal("80"), Decimal("0.05"), Decimal("0.472")),
        AssetPnl("ETH", "ETH/USDT:USDT", None, Decimal("0"), Decimal("-0.1"), Decimal("0.4")),
    ))
    m.observe_pnl(summary)
    value = lambda name, asset: m.registry.get_sample_value(name, {"asset": asset})  # noqa: E731
    assert value("rebalancer_pnl_realised", "BTC") == 20
    assert value("rebalancer_funding", "BTC") == 0.05
    assert value("rebalancer_fees", "BTC") == 0.472
    assert value("rebalancer_pnl_net", "BTC") == 19.578
    assert math.isnan(value("rebalancer_pnl_realised", "ETH")) and math.isnan(value("rebalancer_pnl_net", "ETH"))
    assert value("rebalancer_funding", "total") == -0.05
    assert math.isnan(value("rebalancer_pnl_realised", "total"))
    assert b"rebalancer_pnl_net" in m.render()
