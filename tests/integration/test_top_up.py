"""The margin top-up against the local exchange, on every dialect, through the unmodified ccxt class: a
book whose stressed equity is under maintenance gets one spot -> futures transfer, capped per day;
a transfer whose answer is lost is never sent twice; WEEX (ccxt has no transfer there) is refused."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from rebalancer.service import Rebalancer
from rebalancer.topup import top_up
from tests.faults.proxy import running_proxy
from tests.integration.conftest import journal_rows, settings_for, sim_state, start_exchange

pytestmark = pytest.mark.integration

# Where each dialect takes ccxt's transfer() (the local exchange's routes); WEEX has none.
TRANSFER_ROUTES = {
    "binance": "POST /sapi/v1/asset/transfer",
    "bybit": "POST /v5/asset/transfer/inter-transfer",
    "okx": "POST /api/v5/asset/transfer",
    "bingx": "POST /openApi/api/asset/v1/transfer",
    "mexc": "POST /api/v3/capital/transfer",
}
# Dialects whose transfer history the local exchange serves (Binance TRANSFER income, OKX transfer
# bills, BingX transferRecord); Bybit's and MEXC's history endpoints are not simulated, so a lost
# answer stays unknown there.
HISTORY_SERVED = {"binance", "okx", "bingx"}

SPOT_USDT, WALLET, CAP = Decimal(3000), Decimal(1000), Decimal(500)

# Spot BTC 0.5 / ETH 10 held 25/75 through a BTC short and an ETH long of $10,000 each on a $1,000 wallet:
# on target (band 0.5: no orders), but the 25 % stress loses $5,000, far under maintenance.
SCENARIO = {
    "markets": {"BTC": {"spot_price": 40000, "amount_step": 0.001}, "ETH": {"spot_price": 2000, "amount_step": 0.001}},
    "spot": {"BTC": 0.5, "ETH": 10, "USDT": float(SPOT_USDT)},
    "futures": {"wallet": float(WALLET), "leverage": 20,
                "positions": [{"symbol": "BTC", "amount": -0.25, "entry_price": 40000},
                              {"symbol": "ETH", "amount": 5, "entry_price": 2000}]},
}
PROTECTION = f"""
[protection]
enabled = false
top_up_from_spot = true
top_up_max_per_day = {CAP}
"""


def rebalancer(tmp_path, ex, fast_executor) -> Rebalancer:
    settings = settings_for(tmp_path, ex, {"BTC": 0.25, "ETH": 0.75}, band=0.5, leverage=20, max_margin_usage=1,
                            extra=PROTECTION)
    return Rebalancer(settings, executor_kw=fast_executor)


async def dry_top_up(rb: Rebalancer):
    report = await rb.cycle(execute=False)
    assert report.verdict is not None and report.snapshot is not None, report.error
    assert report.verdict.stressed_equity < report.verdict.stressed_maintenance
    return await top_up(rb.venue, rb.journal, rb.settings, report.snapshot, report.verdict,
                        cycle_id=report.cycle_id, now=datetime.now(timezone.utc))


def moved(state: dict) -> list[tuple[str, str, Decimal]]:
    return [(x["from"], x["to"], Decimal(x["amount"])) for x in state["transfers"]]


async def test_when_stressed_equity_under_maintenance_then_one_transfer_capped_per_day(dialect, tmp_path, fast_executor):
    """The first top-up moves the day's cap (the shortfall is larger) from spot to futures, journaled done;
    the second the same day is refused by the cap and sends nothing. WEEX: refused, nothing sent."""
    async with start_exchange(SCENARIO, dialect) as ex:
        rb = rebalancer(tmp_path, ex, fast_executor)
        try:
            first = await dry_top_up(rb)
            state = await sim_state(ex)
            if dialect.name not in TRANSFER_ROUTES:
                assert first is not None and first.state == "refused" and first.amount == 0
                assert "no wallet transfer" in first.reason and dialect.exchange in first.reason
                assert state["transfers"] == [] and journal_rows(tmp_path / "journal.db", "SELECT * FROM transfers") == []
                return
            assert first is not None and (first.state, first.amount, first.error) == ("done", CAP, None), first
            assert "capped" in first.reason and "allowance" in first.reason
            assert moved(state) == [("spot", "futures", CAP)]
            assert Decimal(state["spot"]["USDT"]) == SPOT_USDT - CAP
            assert Decimal(state["futures"]["wallet"]) == WALLET + CAP

            second = await dry_top_up(rb)
            assert second is not None and (second.state, second.amount, second.client_id) == ("refused", 0, None)
            assert "allowance left 0" in second.reason
            state = await sim_state(ex)
            assert moved(state) == [("spot", "futures", CAP)]
            assert state["requests"].get(TRANSFER_ROUTES[dialect.name]) == 1
        finally:
            await rb.close()
        rows = journal_rows(tmp_path / "journal.db", "SELECT client_id, state, amount, currency, cycle_id FROM transfers")
        assert [(r["state"], Decimal(r["amount"]), r["currency"]) for r in rows] == [("done", CAP, "USDT")]
        assert rows[0]["cycle_id"] and rows[0]["client_id"] == first.client_id


async def test_when_the_transfer_answer_is_lost_then_it_is_never_sent_twice(dialect, tmp_path, fast_executor):
    """The transfer reaches the exchange and the connection is cut before the answer: the history says
    it happened (done) where the venue has one the local exchange serves, else it stays unknown; either
    way the next top-up that day sends nothing and the exchange moved the money once."""
    if dialect.name not in TRANSFER_ROUTES:
        pytest.skip(f"{dialect.name}: no wallet transfer (refusal covered above)")
    async with start_exchange(SCENARIO, dialect) as ex:
        async with running_proxy(ex) as proxy:
            # The proxy's write faults hit the dialect's "order" route: point it at the transfer.
            proxy.dialect = dataclasses.replace(proxy.dialect, order_route=TRANSFER_ROUTES[dialect.name])
            proxy.fail_next_write("reset")
            rb = rebalancer(tmp_path, proxy, fast_executor)
            try:
                first = await dry_top_up(rb)
                assert proxy.applied == ["reset"]
                assert first is not None and first.amount == CAP and first.error, first
                if dialect.name in HISTORY_SERVED:
                    assert first.state == "done" and "history shows it" in first.reason, first
                else:
                    assert first.state == "unknown" and "no second transfer today" in first.reason, first
                second = await dry_top_up(rb)
                assert second is not None and second.state == "refused" and second.amount == 0, second
                if first.state == "unknown":
                    assert "unknown outcome" in second.reason
                else:
                    assert "allowance left 0" in second.reason
            finally:
                await rb.close()
        state = await sim_state(ex)
        assert moved(state) == [("spot", "futures", CAP)]
        assert state["requests"].get(TRANSFER_ROUTES[dialect.name]) == 1
        rows = journal_rows(tmp_path / "journal.db", "SELECT state FROM transfers")
        assert [r["state"] for r in rows] == [first.state]
