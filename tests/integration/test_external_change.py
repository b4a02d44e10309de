"""External-change detection end to end: the real ccxt client against the local exchange.

A "manual" trade is placed by a second ccxt client on the same account, a "second bot" is a second
Rebalancer on its own journal; `rebalance.on_external_change` decides what the first bot does.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from typer.testing import CliRunner

from rebalancer.cli import app
from rebalancer.domain import CycleKind, TradingState
from rebalancer.service import Rebalancer, make_venue
from rebalancer.settings import load_settings
from rebalancer.alerts import alerts_for_cycle
from tests.integration.conftest import sim_state, start_exchange, write_config

pytestmark = pytest.mark.integration

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"


def scenario(*, depth: dict | None = None) -> dict:
    prices = {"BTC": 40000, "ETH": 2000}
    return {
        "markets": {a: {"spot_price": p, "funding_rate": 0.0001, "amount_step": 0.001,
                        **({"depth": depth[a]} if depth and a in depth else {})}
                    for a, p in prices.items()},
        "spot": {"BTC": 0.15, "ETH": 2, "USDT": 0},
        "futures": {"wallet": 10000, "positions": []},
    }


def config(tmp_path, ex, *, policy: str | None = None, targets=None, **kw):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = write_config(tmp_path, ex, targets or {"BTC": 0.5, "ETH": 0.5}, **kw)
    if policy is not None:
        text = path.read_text().replace("[rebalance]\n", f'[rebalance]\non_external_change = "{policy}"\n')
        path.write_text(text)
    return path


def positions(state: dict) -> dict[str, Decimal]:
    return {a: Decimal(p["amount"]) for a, p in state["futures"]["positions"].items()}


async def manual_order(rb: Rebalancer, dialect, side: str, amount: float, *, symbol=BTC, kind="market",
                       price=None) -> dict:
    """A trade by hand on the same account: a second ccxt client with the same keys; `amount` in base
    units (sent in the venue's contracts)."""
    other = make_venue(rb.settings)
    try:
        await other.hedge_client.load_markets()
        contracts = float(dialect.contracts(symbol.split("/")[0], amount))
        return await other.hedge_client.create_order(symbol, kind, side, contracts, price)
    finally:
        await other.close()


async def test_a_manual_trade_halts_with_the_reason_sends_nothing_and_resume_adopts_then_trades(dialect, tmp_path, fast_executor):
    async with start_exchange(scenario(), dialect) as ex:
        path = config(tmp_path, ex)
        rb = Rebalancer(load_settings(path, env={}), executor_kw=fast_executor)
        try:
            first = await rb.cycle(execute=True)
            assert first.outcome == "done" and first.external_action == "baseline", first.error
            assert positions(await sim_state(ex)) == {"BTC": Decimal("-0.025"), "ETH": Decimal("0.5")}
            assert (await rb.cycle(execute=True)).external_action == ""  # its own fills explain the positions

            await manual_order(rb, dialect, "sell", 0.05)
            orders_before = len((await sim_state(ex))["orders"])
            halted = await rb.cycle(execute=True)
            reason = "external change on BTC/USDT:USDT: expected -0.025, exchange has -0.075"
            assert halted.external_action == "halted"
            assert [c.to_json() for c in halted.external_change.changes] == [
                {"symbol": BTC, "expected": "-0.025", "actual": "-0.075", "difference": "-0.05"}]
            assert rb.trading.current.state is TradingState.HALTED and rb.trading.current.reason == reason
            assert halted.executed == [] and halted.verdict.approved == ()
            assert len((await sim_state(ex))["orders"]) == orders_before  # nothing sent
            alerts = [a for a in alerts_for_cycle(halted, liquidation_warning=Decimal("0.3")) if a.kind == "external_change"]
            assert len(alerts) == 1 and reason in alerts[0].detail and alerts[0].severity == "critical"
            # journaled: the dedicated record names the change
            base = rb.journal.position_baseline()
            assert base.source == "halted" and base.detail["reason"] == reason

            again = await rb.cycle(execute=True)  # still halted; no second alert
            assert again.external_action == "still_halted" and again.executed == []
            assert rb.trading.current.state is TradingState.HALTED

            out = CliRunner().invoke(app, ["resume", "--config", str(path)])
            assert out.exit_code == 0, out.output
            resumed = await rb.cycle(execute=True)
            assert resumed.external_action == "resumed" and resumed.outcome == "done", resumed.error
            assert rb.trading.current.state is TradingState.ACTIVE
            assert positions(await sim_state(ex)) == {"BTC": Decimal("-0.025"), "ETH": Decimal("0.5")}
            calm = await rb.cycle(execute=True)  # the resume cycle's own buy-back is no external change
            assert calm.external_action == "" and calm.external_change.clean and calm.outcome == "nothing_to_do"
            # the open-order check: one request per executing cycle (Binance: all symbols at once), none
            # while halted for an external change (nothing to decide until resume)
            assert rb.venue.request_counts["fetch_open_orders"] == 5
        finally:
            await rb.close()


async def test_adopt_takes_the_exchanges_positions_and_plans_from_them(dialect, tmp_path, fast_executor):
    async with start_exchange(scenario(), dialect) as ex:
        rb = Rebalancer(load_settings(config(tmp_path, ex, policy="adopt"), env={}), executor_kw=fast_executor)
        try:
            assert (await rb.cycle(execute=True)).outcome == "done"
            await manual_order(rb, dialect, "buy", 0.01, symbol=BTC)  # someone closes part of the short
            adopted = await rb.cycle(execute=True)
            assert adopted.external_action == "adopted"
            assert adopted.external_change.reason() == ("external change on BTC/USDT:USDT: expected -0.025, "
                                                        "exchange has -0.015")
            assert rb.trading.current.state is TradingState.ACTIVE
            # planned from the adopted -0.015: sell 0.01 more to get back to the target short
            btc = [o for o in adopted.verdict.approved if o.symbol == BTC]
            assert [(o.side.value, o.base_amount) for o in btc] == [("sell", Decimal("0.01"))]
            assert positions(await sim_state(ex)) == {"BTC": Decimal("-0.025"), "ETH": Decimal("0.5")}
            assert rb.journal.position_baseline().source == "adopt"
            assert [a.kind for a in alerts_for_cycle(adopted, liquidation_warning=Decimal("0.3"))] == ["external_change"]
            assert (await rb.cycle(execute=True)).external_action == ""
        finally:
            await rb.close()


async def test_a_second_bot_on_the_account_is_detected_and_halts(dialect, tmp_path, fast_executor):
    async with start_exchange(scenario(), dialect) as ex:
        rb = Rebalancer(load_settings(config(tmp_path / "one", ex), env={}), executor_kw=fast_executor)
        other = Rebalancer(load_settings(config(tmp_path / "two", ex, targets={"BTC": 0.3, "ETH": 0.7}), env={}),
                           executor_kw=fast_executor)
        try:
            assert (await rb.cycle(execute=True)).outcome == "done"
            second = await other.cycle(execute=True)  # a fresh journal: it adopts silently, then trades
            assert second.external_action == "baseline" and second.executed, second.error
            found = await rb.cycle(execute=True)
            assert found.external_action == "halted" and found.executed == []
            assert {c.symbol for c in found.external_change.changes} == {BTC, ETH}
            assert rb.trading.current.reason.startswith("external change on BTC/USDT:USDT: expected -0.025, ")
            # ...and the second bot sees the first one's orders as foreign too, once it trades again
        finally:
            await rb.close()
            await other.close()


async def test_an_unknown_open_order_is_reported_and_halts_and_resume_accepts_it(dialect, tmp_path, fast_executor):
    async with start_exchange(scenario(), dialect) as ex:
        path = config(tmp_path, ex)
        rb = Rebalancer(load_settings(path, env={}), executor_kw=fast_executor)
        try:
            assert (await rb.cycle(execute=True)).outcome == "done"
            placed = await manual_order(rb, dialect, "buy", 0.01, symbol=ETH, kind="limit", price=1000)  # rests
            found = await rb.cycle(execute=True)
            assert found.external_action == "halted" and found.external_change.changes == ()
            [unknown] = found.external_change.unknown_orders
            assert (unknown.symbol, unknown.order_id, unknown.side, unknown.amount) == (
                ETH, str(placed["id"]), "buy", Decimal("0.01"))
            assert rb.trading.current.reason.startswith("external order on ETH/USDT:USDT: unknown open order buy 0.01 at 1000")
            assert CliRunner().invoke(app, ["resume", "--config", str(path)]).exit_code == 0
            assert (await rb.cycle(execute=True)).external_action == "resumed"
            assert (await rb.cycle(execute=True)).external_action == ""  # accepted at resume: not reported again
        finally:
            await rb.close()


async def test_no_false_alarm_across_partial_fills_dry_runs_and_an_unwind(dialect, tmp_path, fast_executor):
    """A thin ETH book fills part of the first order; the next cycles plan the rest; an unwind closes
    everything: the journal's fills explain every position, nothing is reported."""
    async with start_exchange(scenario(depth={"ETH": [0.15, 0.15]}), dialect) as ex:
        rb = Rebalancer(load_settings(config(tmp_path, ex), env={}), executor_kw=fast_executor)
        try:
            reports = [await rb.cycle(execute=True)]
            assert reports[0].outcome == "partial", reports[0].error
            for _ in range(3):
                reports.append(await rb.cycle(execute=True))
                reports.append(await rb.cycle(execute=False))
            for _ in range(4):  # the thin book closes ETH in parts too
                reports.append(await rb.cycle(execute=True, kind=CycleKind.UNWIND))
                if not positions(await sim_state(ex)):
                    break
            assert positions(await sim_state(ex)) == {}
            reports.append(await rb.cycle(execute=False, kind=CycleKind.UNWIND))
            reports.append(await rb.cycle(execute=True))
            assert [r.external_action for r in reports] == ["baseline"] + [""] * (len(reports) - 1)
            assert all(r.external_change.clean for r in reports[1:])
            assert rb.trading.current.state is TradingState.ACTIVE
        finally:
            await rb.close()
