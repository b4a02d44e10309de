""""Margin is insufficient" (Binance -2019, Bybit 110007, OKX 51008) on one leg mid-cycle: the other
leg's outcome is kept and reported, the cycle is partial (exit 1), and the next cycle repairs the
one-legged hedge once margin is back. On every dialect."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest

from rebalancer.domain import OrderState
from tests.faults.conftest import (
    EXAMPLE_1,
    TARGETS,
    VenueProxy,
    audit,
    example_scenario,
    make_rebalancer,
    positions,
    serve,
    settings_for,
    sim_post,
    sim_state,
)

pytestmark = [pytest.mark.faults, pytest.mark.integration]

ETH = "ETH/USDT:USDT"


class MarginGoneFor(VenueProxy):
    """While the ETH order is sent, the exchange has no margin for it: either its fault
    reject_orders_with = the dialect's "insufficient margin" code, or a futures wallet shrunk to 1 USDT
    (the engine's own margin check). Placements are serialized so the other leg is never caught by the fault."""

    def __init__(self, inner, ex, how: str, code: str) -> None:
        super().__init__(inner)
        self.ex, self.how, self.code, self.active = ex, how, code, True
        self.lock = asyncio.Lock()

    async def place(self, order, client_order_id, order_type, limit_price, **kwargs):
        async with self.lock:
            if not (self.active and order.symbol == ETH):
                return await self.inner.place(order, client_order_id, order_type, limit_price, **kwargs)
            if self.how == "reject_orders_with":
                await sim_post(self.ex, "faults", {"reject_orders_with": self.code})
            else:
                wallet = (await sim_state(self.ex))["futures"]["wallet"]
                await sim_post(self.ex, "balances", {"wallet": 1})
            try:
                return await self.inner.place(order, client_order_id, order_type, limit_price, **kwargs)
            finally:
                if self.how == "reject_orders_with":
                    await sim_post(self.ex, "faults", {"reject_orders_with": ""})
                else:
                    await sim_post(self.ex, "balances", {"wallet": wallet})


@pytest.mark.parametrize("how", ["reject_orders_with", "tiny_wallet"])
async def test_margin_insufficient_when_one_leg_rejected_then_partial_and_next_cycle_repairs(dialect, tmp_path, fault_row, how):
    """The BTC short fills, the ETH long is rejected for margin: REJECTED in the journal with the venue's
    code, the report is partial with exit code 1 and the BTC fill kept; the next cycle places only the ETH leg."""
    async with serve(example_scenario(), dialect) as ex:
        settings = settings_for(tmp_path, ex, TARGETS)
        proxy: list[MarginGoneFor] = []
        rb = make_rebalancer(settings, wrap=lambda v: proxy.append(MarginGoneFor(v, ex, how, dialect.insufficient_margin)) or proxy[0])
        try:
            first = await rb.cycle(execute=True)
            one_legged = positions(await sim_state(ex))
            proxy[0].active = False  # margin is back
            repair = await rb.cycle(execute=True)
            again = await rb.cycle(execute=True)
            state = await sim_state(ex)
            result = audit(state, rb.journal, dialect)
            rejected = rb.journal.order(first.executed[1].client_order_id)
        finally:
            await rb.close()
    assert (first.outcome, first.exit_code) == ("partial", 1)
    btc, eth = first.executed
    assert btc.result.state is OrderState.FILLED and dialect.base("BTC", btc.result.filled) == Decimal("0.025")
    assert eth.result.state is OrderState.REJECTED and eth.result.error_code == dialect.insufficient_margin
    assert eth.sends == 1  # a rejection is final: never resent
    assert (rejected.state, rejected.error_code) == (OrderState.REJECTED, dialect.insufficient_margin)
    assert dialect.insufficient_margin_text in (rejected.error_message or "").lower()
    assert first.mismatches == []  # the report's expected positions account for the rejected leg
    assert one_legged == {"BTC": Decimal("-0.025")}
    assert repair.outcome == "done", repair.error
    assert [(o.symbol, o.side.value, o.base_amount) for o in repair.plan.orders] == [(ETH, "buy", Decimal("0.5"))]
    assert positions(state) == EXAMPLE_1
    assert again.outcome == "nothing_to_do"
    assert (result.orders_placed, result.duplicates, result.lost) == (2, [], [])
    fault_row(f"insufficient margin on one leg ({how})", 3, result)


async def test_daemon_when_one_legged_and_policy_unwind_then_alerted_and_unwound(dialect, tmp_path, fault_row):
    """With rebalance.one_legged = "unwind", the daemon alerts the one-legged hedge and closes what filled."""
    import httpx
    import respx

    from rebalancer.daemon import Daemon
    from rebalancer.journal import Journal

    webhook = "https://hooks.example.test/one-legged"
    async with serve(example_scenario(), dialect) as ex:
        base = settings_for(tmp_path, ex, TARGETS, schedule="1h",
                            extra=f'\n[health]\nport = 0\n\n[alerts]\nwebhook_url = "{webhook}"\n')
        settings = base.model_copy(update={"rebalance": base.rebalance.model_copy(update={"one_legged": "unwind"})})
        proxies: list[MarginGoneFor] = []

        def factory(s):
            return make_rebalancer(s, wrap=lambda v: proxies.append(MarginGoneFor(v, ex, "reject_orders_with", dialect.insufficient_margin))
                                   or proxies[-1])

        with respx.mock(assert_all_called=False) as mock:
            route = mock.post(webhook).mock(return_value=httpx.Response(200))
            daemon = Daemon(settings, rebalancer_factory=factory)
            task = asyncio.create_task(daemon.run())
            try:
                for _ in range(200):
                    state = await sim_state(ex)
                    if daemon.cycles_run >= 1 and len(state["orders"]) >= 2 and not state["futures"]["positions"]:
                        break
                    await asyncio.sleep(0.05)
            finally:
                daemon.request_stop("test")
                assert await asyncio.wait_for(task, 30) == 0
        kinds = [json.loads(c.request.content)["kind"] for c in route.calls]
        assert "one_legged_hedge" in kinds
        assert positions(state) == {}  # the BTC short that filled was closed, reduce-only
        btc = [o for o in state["orders"] if o["symbol"] == "BTCUSDT"]
        assert [(o["side"], o["reduce_only"]) for o in btc] == [("SELL", False), ("BUY", True)]
        with Journal(tmp_path / "journal.db") as journal:  # the daemon closed its own at shutdown
            result = audit(state, journal, dialect)
        fault_row("insufficient margin on one leg, daemon with one_legged = unwind", daemon.cycles_run + 1, result)
        assert result.duplicates == [] and result.lost == []
