"""The cycle's final order states are committed while it confirms (Executor.execute(defer_final=True)): what the
journal holds after the cycle, in which order, and a failed deferred write failing the cycle.

Real ccxt over HTTP against one in-process local exchange (binance dialect) per test, reset between tests.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest

from rebalancer.domain import CycleOutcome, OrderState
from rebalancer.exchange_sim.runner import start_exchange
from rebalancer.service import Rebalancer
from rebalancer.settings import load_settings

# DOMAIN.md example 1's spot with a long BTC hedge the plan must flip: BTC closes 0.05 and opens 0.025 short
# (two legs on one symbol), ETH opens 0.5 long.
SCENARIO = {
    "markets": {"BTC": {"spot_price": 40000, "amount_step": 0.001}, "ETH": {"spot_price": 2000, "amount_step": 0.001}},
    "spot": {"BTC": 0.15, "ETH": 2, "USDT": 0},
    "futures": {"wallet": 10000, "leverage": 3,
                "positions": [{"symbol": "BTC", "amount": 0.05, "entry_price": 40000}]},
}

CONFIG = """\
[portfolio]
quote = "USDT"
nav = "spot"
targets = {{ BTC = 0.5, ETH = 0.5 }}

[rebalance]
band = 0.02
min_order_notional = 10

[venues.main]
exchange = "binance"
mode = "local"
base_url = "{base_url}"
roles = ["spot", "hedge"]
leverage = 3
api_key = "{api_key}"
api_secret = "{api_secret}"

[risk]
kill_switch_file = "{var}/HALT"

[journal]
path = "{var}/journal.db"

[logging]
level = "error"
format = "json"
file = ""
"""


@pytest.fixture
async def rebalancer(tmp_path: Path):
    async with start_exchange(SCENARIO) as ex:
        (tmp_path / "rb.toml").write_text(CONFIG.format(base_url=ex.base_url, api_key=ex.api_key,
                                                        api_secret=ex.api_secret, var=tmp_path.as_posix()))
        rb = Rebalancer(load_settings(tmp_path / "rb.toml", env={}))
        try:
            yield rb, ex
        finally:
            await rb.close()


async def sim_state(ex) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{ex.base_url}/_sim/state") as resp:
            return await resp.json()


async def test_cycle_when_orders_fill_then_every_final_state_is_journaled_before_its_fee_and_the_next_leg(rebalancer):
    """After the cycle every order is FILLED in the journal; a symbol's first leg was journaled FILLED before its
    second leg was sent (only a symbol's last leg is deferred), and each fee event follows its order's fill."""
    rb, ex = rebalancer
    report = await rb.cycle(execute=True)
    assert report.outcome is CycleOutcome.DONE, report.error
    by_symbol: dict[str, list] = {}
    for e in report.executed:
        by_symbol.setdefault(e.order.asset, []).append(e)
    assert [e.order.leg for e in by_symbol["BTC"]] == ["close", "open"]
    assert len(by_symbol["ETH"]) == 1
    for e in report.executed:
        record = rb.journal.order(e.client_order_id)
        assert record.state is OrderState.FILLED
        assert record.filled == e.result.filled > 0
    close, opened = (rb.journal.events(e.client_order_id) for e in by_symbol["BTC"])
    close_filled = next(ev["id"] for ev in close if ev["kind"] == "transition" and ev["to_state"] is OrderState.FILLED)
    open_sent = next(ev["id"] for ev in opened if ev["kind"] == "sent")
    assert close_filled < open_sent
    fees = 0
    for e in report.executed:
        events = rb.journal.events(e.client_order_id)
        kinds = [ev["kind"] for ev in events]
        if "fee" in kinds:
            fees += 1
            assert kinds.index("fee") > max(i for i, k in enumerate(kinds) if k == "transition")
    assert fees == len(report.executed)  # the local exchange charges a commission on every fill
    positions = {a: Decimal(str(p["amount"])) for a, p in (await sim_state(ex))["futures"]["positions"].items()}
    assert positions == {"BTC": Decimal("-0.025"), "ETH": Decimal("0.5")}
    assert not report.mismatches


async def test_cycle_when_a_deferred_final_write_fails_then_the_cycle_fails_naming_the_journal(rebalancer,
                                                                                             monkeypatch):
    """A final-state write that fails in the worker thread (disk full) fails the cycle with the journal named, as
    the same failure on the event loop would; the order stays PENDING with its send counted (looked up later)."""
    rb, _ = rebalancer
    real = rb.journal.transition

    def full_disk(cid, to, **kw):
        if to is OrderState.FILLED and rb.journal.order(cid).symbol.startswith("ETH"):
            raise sqlite3.OperationalError("database or disk is full")
        return real(cid, to, **kw)

    monkeypatch.setattr(rb.journal, "transition", full_disk)
    report = await rb.cycle(execute=True)
    assert report.outcome is CycleOutcome.FAILED
    assert report.journal_error and "journal.db" in report.journal_error
    records = [o for o in rb.journal.orders(cycle_id=report.cycle_id) if o.symbol.startswith("ETH")]
    assert len(records) == 1 and records[0].state is OrderState.PENDING and records[0].attempts == 1
    assert report.executed == []  # failed before it confirmed, as when the write failed on the event loop
