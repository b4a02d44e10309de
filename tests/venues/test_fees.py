"""Fees per order from the local exchange: Binance's commission ledger (one read) or the trade list."""

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from rebalancer.domain import PlannedOrder, Side
from rebalancer.exchange_sim.runner import start_exchange
from rebalancer.venues import exchanges as exchanges_module
from rebalancer.venues.exchanges import IncomeLedgerFees, TradeFees
from rebalancer.venues.ccxt_venue import CcxtVenue, VenueConfig

pytestmark = pytest.mark.integration

SCENARIO = {"markets": {"BTC": {"spot_price": 40000, "amount_step": 0.001}, "ETH": {"spot_price": 2000, "amount_step": 0.001}},
            "spot": {"BTC": 0.1}, "futures": {"wallet": 10000,
                                              "positions": [{"symbol": "BTC", "amount": -0.025, "entry_price": 40000}]}}


@pytest.mark.parametrize("source", ["income", "trades"])
async def test_fees_when_two_legs_on_one_symbol_then_split_by_notional(monkeypatch, source):
    """A close ($1,000) and an open ($2,000) on BTC pay 0.4 and 0.8 USDT (taker 0.04%), however read."""
    binance = exchanges_module.EXCHANGES["binance"]
    reader = IncomeLedgerFees() if source == "income" else TradeFees()
    monkeypatch.setitem(exchanges_module.EXCHANGES, "binance", replace(binance, fee_reader=reader))
    async with start_exchange(SCENARIO) as ex:
        cfg = VenueConfig("main", "binance", "local", ex.base_url, ex.api_key, ex.api_secret)
        venue = CcxtVenue(hedge=cfg, spot=cfg, quote="USDT", assets=["BTC", "ETH"])
        try:
            await venue.connect()
            since = datetime.now(timezone.utc) - timedelta(seconds=1)
            legs = [("close", Decimal("0.025"), True), ("open", Decimal("0.05"), False)]
            results = []
            for i, (leg, amount, reduce_only) in enumerate(legs):
                order = PlannedOrder("BTC", "BTC/USDT:USDT", Side.BUY, amount, amount, Decimal(40000), reduce_only, leg)
                results.append(await venue.place(order, f"rbfee{i}", "market", None))
            eth = PlannedOrder("ETH", "ETH/USDT:USDT", Side.BUY, Decimal("0.5"), Decimal("0.5"), Decimal(2000), False)
            results.append(await venue.place(eth, "rbfee2", "market", None))
            fills = [(sym, r.exchange_order_id, r.filled * r.average)
                     for sym, r in zip(["BTC/USDT:USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"], results)]
            before = dict(venue.request_counts)
            fees = await venue.fees(fills, since)
            reads = {k: v - before.get(k, 0) for k, v in venue.request_counts.items() if v != before.get(k, 0)}
        finally:
            await venue.close()
    assert {oid: (fee, cur) for oid, (fee, cur) in fees.items()} == {
        results[0].exchange_order_id: (Decimal("0.4"), "USDT"),
        results[1].exchange_order_id: (Decimal("0.8"), "USDT"),
        results[2].exchange_order_id: (Decimal("0.4"), "USDT"),
    }
    assert reads == ({"fetch_commissions": 1} if source == "income" else {"fetch_my_trades": 2})


class _Trades:
    """fetch_my_trades on a fixed list: `symbol` None answers every symbol's trades (up to `limit`)."""

    def __init__(self, trades: list[dict]) -> None:
        self.trades, self.calls = trades, []

    async def fetch_my_trades(self, symbol=None, since=None, limit=None, params=None):
        self.calls.append((symbol, dict(params or {})))
        rows = [t for t in self.trades if symbol is None or t["symbol"] == symbol]
        return rows[:limit] if limit else rows


async def _read(label, fn, *args):
    return await fn(*args)


def _trade(symbol: str, order: str, cost: str) -> dict:
    return {"symbol": symbol, "order": order, "fee": {"cost": cost, "currency": "USDT"}}


async def test_trade_fees_when_many_symbols_then_one_read_and_a_full_page_falls_back_to_per_symbol():
    """Bybit/OKX: one fetch_my_trades without a symbol covers every symbol (constant requests per cycle);
    a reply that fills the page may have left trades out, so then each symbol is read on its own."""
    trades = [_trade("BTC/USDT:USDT", "1", "0.4"), _trade("ETH/USDT:USDT", "2", "0.8"),
              _trade("SOL/USDT:USDT", "3", "0.1")]
    fills = [("BTC/USDT:USDT", "1", Decimal(1000)), ("ETH/USDT:USDT", "2", Decimal(2000))]
    client = _Trades(trades)
    fees = await TradeFees(all_params={"instType": "SWAP"}).fees(_read, client, fills, 0)
    assert fees == {"1": (Decimal("0.4"), "USDT"), "2": (Decimal("0.8"), "USDT"), }
    assert client.calls == [(None, {"instType": "SWAP"})]
    client = _Trades(trades)
    fees = await TradeFees(all_params={"instType": "SWAP"}, page=3).fees(_read, client, fills, 0)
    assert fees == {"1": (Decimal("0.4"), "USDT"), "2": (Decimal("0.8"), "USDT")}
    assert client.calls == [(None, {"instType": "SWAP"}), ("BTC/USDT:USDT", {}), ("ETH/USDT:USDT", {})]
