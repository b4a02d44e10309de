"""The money ledger end to end on every dialect, through real ccxt: after executing cycles, two funding
settlements and a second trade, `rebalancer pnl --json` equals the local exchange's own income records
(FUNDING_FEE, COMMISSION, REALIZED_PNL) per asset to the cent; syncing again and restarting on the same
journal changes no total and stores no entry twice."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from rebalancer.cli import app
from rebalancer.core.pnl import summarise
from rebalancer.ledger import sync_ledger
from rebalancer.service import Rebalancer
from tests.integration.conftest import journal_rows, settings_for, sim_post, sim_state, start_exchange, write_config

pytestmark = pytest.mark.integration

CENT = Decimal("0.01")
TARGETS = {"BTC": 0.5, "ETH": 0.5}


def scenario() -> dict:
    """DOMAIN example 1 with a short BTC hedge already held (-0.01 at 41,000, before the journal's first
    cycle): the ledger's opening row must recover that entry to get the realised P&L right."""
    return {
        "markets": {"BTC": {"spot_price": 40000, "amount_step": 0.001, "funding_rate": 0.0001},
                    "ETH": {"spot_price": 2000, "amount_step": 0.001, "funding_rate": 0.0002}},
        "spot": {"BTC": 0.15, "ETH": 2, "USDT": 0},
        "futures": {"wallet": 10000, "positions": [{"symbol": "BTC", "amount": -0.01, "entry_price": 41000}]},
    }


def income_by_asset(state: dict) -> dict[str, dict[str, Decimal]]:
    """The exchange's own records per asset: funding (+ received), fees (+ paid), realised."""
    out: dict[str, dict[str, Decimal]] = {}
    for row in state["income"]:
        asset = row["symbol"].removesuffix("USDT")
        figures = out.setdefault(asset, {"funding": Decimal(0), "fees": Decimal(0), "realised": Decimal(0)})
        amount = Decimal(row["income"])
        if row["income_type"] == "FUNDING_FEE":
            figures["funding"] += amount
        elif row["income_type"] == "COMMISSION":
            figures["fees"] -= amount
        elif row["income_type"] == "REALIZED_PNL":
            figures["realised"] += amount
    return out


def cents(value: str | Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(CENT)


def pnl_json(config) -> dict:
    # In-process, the command configures the process's logging (level warning): later tests in this
    # worker that capture debug logs would see nothing, so the configuration is put back.
    import structlog

    saved = structlog.get_config()
    try:
        result = CliRunner().invoke(app, ["pnl", "--json", "--config", str(config)])
    finally:
        structlog.configure(**saved)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def sync(rb: Rebalancer):
    return await sync_ledger(rb.venue, rb.journal, venue_name=rb.venue_name, positions=None,
                             now=datetime.now(timezone.utc))


async def test_pnl_equals_the_exchanges_income_records_and_survives_a_restart(dialect, tmp_path, fast_executor):
    async with start_exchange(scenario(), dialect) as ex:
        settings = settings_for(tmp_path, ex, TARGETS)
        config = write_config(tmp_path, ex, TARGETS)
        rb = Rebalancer(settings, executor_kw=fast_executor)
        try:
            first = await rb.cycle(execute=True)
            assert first.outcome == "done", first.error
            assert first.ledger is None, "the ledger is read after the cycle, not in it"
            await rb.sync_ledger(first)  # as the daemon and `rebalance --execute` do right after a cycle
            await sim_post(ex, "settle-funding", {})
            await sim_post(ex, "prices", {"BTC": {"spot": 36000, "mark": 36000}, "ETH": {"spot": 2200, "mark": 2200}})
            await sim_post(ex, "settle-funding", {})
            second = await rb.cycle(execute=True)
            assert second.outcome == "done", second.error
            await rb.sync_ledger(second)
            assert all(o.reduce_only for o in second.plan.orders)
            first_sync = await sync(rb)
            assert first_sync.errors == ()
        finally:
            await rb.close()

        state = await sim_state(ex)
        income = income_by_asset(state)
        funding_rows = sum(1 for row in state["income"] if row["income_type"] == "FUNDING_FEE")
        # The ledger is read after each executing cycle; the explicit sync finds what came after.
        syncs = [first.ledger, second.ledger, first_sync]
        assert all(s is not None and s.errors == () for s in syncs), syncs
        assert first.ledger.trades == 2 and first.ledger.funding == 0  # the first cycle's own fills
        added = (sum(s.trades for s in syncs), sum(s.funding for s in syncs))
        assert added == (4, funding_rows) == (4, 4)  # 2 orders a cycle, 1 fill each
        assert income["BTC"]["realised"] != 0 and income["ETH"]["realised"] != 0

        shown = await asyncio.to_thread(pnl_json, config)
        assert shown["ledger"] == {"trades_added": 0, "funding_added": 0, "errors": []}
        by_asset = {a["asset"]: a for a in shown["assets"]}
        assert sorted(by_asset) == ["BTC", "ETH"]
        for asset, figures in income.items():
            line = by_asset[asset]
            assert {k: cents(line[k]) for k in ("funding", "fees", "realised")} == \
                {k: cents(v) for k, v in figures.items()}, asset
            assert cents(line["net"]) == cents(figures["realised"] + figures["funding"] - figures["fees"])
            position = state["futures"]["positions"][asset]
            assert (cents(line["unrealised"]), line["unrealised_source"]) == (cents(position["unrealized_pnl"]), "exchange")
        total = shown["total"]
        assert cents(total["fees"]) == cents(sum(f["fees"] for f in income.values()))
        assert sum(Decimal(d["funding"]) for d in shown["days"]) == Decimal(total["funding"])

        # The fee of an order the journal knows none for (settled at restart) comes from the ledger.
        db = tmp_path / "journal.db"
        con = sqlite3.connect(db)
        with con:
            con.execute("UPDATE orders SET fee = NULL, fee_currency = NULL")
        con.close()

        # Sync again on the same process, then restart on the same journal: nothing changes, nothing twice.
        again = Rebalancer(settings_for(tmp_path, ex, TARGETS), executor_kw=fast_executor)
        try:
            await again.start()
            assert (await sync(again)) == type(first_sync)(0, 0, ())
            assert (await again.cycle(execute=True)).outcome == "nothing_to_do"
            assert (await sync(again)).trades == 0
            entries = again.journal.ledger_entries(again.venue_name)
            restarted = summarise(entries, await again.venue.positions(), quote="USDT")
        finally:
            await again.close()
        assert {a.asset: (cents(a.realised), cents(a.funding), cents(a.fees)) for a in restarted.assets} == \
            {a: (cents(f["realised"]), cents(f["funding"]), cents(f["fees"])) for a, f in income.items()}
        kinds = {r[0]: r[1] for r in journal_rows(db, "SELECT kind, COUNT(*) FROM ledger_entries GROUP BY kind")}
        assert kinds == {"opening": 2, "trade": 4, "funding": 4}
        fees = journal_rows(db, "SELECT fee, fee_currency FROM orders WHERE state = 'filled'")
        assert len(fees) == 4 and all(r[0] is not None and r[1] == "USDT" for r in fees)
        assert sum(Decimal(r[0]) for r in fees) == sum(f["fees"] for f in income.values())
        again_shown = await asyncio.to_thread(pnl_json, config)
        assert again_shown["total"] == shown["total"]
