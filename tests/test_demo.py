"""`rebalancer demo [--exchange]`: DOMAIN.md example 2 through each exchange's own ccxt class on its local dialect.

Each demo starts its own local exchange; a spy around start_exchange keeps the running exchange so the tests read
what reached it (dialect, orders, positions in base units and in the venue's contracts), not only the printed text.
"""

from __future__ import annotations

import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from rebalancer import demo as demo_module
from rebalancer.exchange_sim import runner


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list:
    """The RunningExchange of every start_exchange the demo makes."""
    seen: list = []
    real = runner.start_exchange

    def spy(*args, **kwargs):
        cm = real(*args, **kwargs)

        class Recording:
            async def __aenter__(self):
                ex = await cm.__aenter__()
                seen.append(ex)
                return ex

            async def __aexit__(self, *exc):
                return await cm.__aexit__(*exc)

        return Recording()

    monkeypatch.setattr(runner, "start_exchange", spy)
    return seen


def recorded_console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=140, color_system=None, force_terminal=False), out


@pytest.mark.parametrize("exchange", ["binance", "bybit", "okx"])
async def test_demo_when_run_on_an_exchange_then_its_dialect_trades_the_story_in_base_units(started, exchange):
    """Each exchange's demo trades on its own dialect; the hedge ends at -0.025 BTC and +0.5 ETH in base units
    (OKX: 2.5 and 5 contracts of 0.01 BTC and 0.1 ETH), and the P&L table nets to zero after the move."""
    console, out = recorded_console()
    code = await demo_module.run_demo(console, exchange=exchange)
    text = out.getvalue()
    assert code == 0, text
    (ex,) = started
    assert ex.dialect == exchange
    state = ex.engine.state_view()
    amounts = {a: Decimal(str(p["amount"])) for a, p in state["futures"]["positions"].items()}
    assert amounts == {"BTC": Decimal("-0.025"), "ETH": Decimal("0.5")}
    sizes = demo_module.CONTRACT_SIZES.get(exchange, {})
    contracts = {a: Decimal(str(p["contracts"])) for a, p in state["futures"]["positions"].items()}
    assert contracts == {a: amounts[a] / Decimal(sizes.get(a, "1")) for a in amounts}
    # one cycle, one order per asset (the closing dry run sends nothing), and each hedge's protective stop
    # resting: the demo's -10 % / +10 % move stays short of the 25 % stops
    assert sorted(o["type"] for o in state["orders"]) == ["MARKET", "MARKET", "STOP_MARKET", "STOP_MARKET"]
    assert sorted(o["symbol"][:3] for o in state["open_orders"] if o["type"] == "STOP_MARKET") == ["BTC", "ETH"]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"│\s+(BTC|ETH|total)\s+│.*│\s+(-?[\d,.]+)\s+│\s*$", text,
                                                          re.MULTILINE)}
    assert rows == {"BTC": "-300.00", "ETH": "300.00", "total": "0.00"}
    assert f"{demo_module.NAMES[exchange]}-compatible" in text


def test_demo_config_when_okx_then_the_venue_signs_with_the_passphrase():
    """OKX signs with a passphrase: the demo's venue carries the local exchange's one, the others none."""
    okx = demo_module.demo_config("okx", base_url="http://127.0.0.1:1", api_key="k", api_secret="s",
                                  password="local-pass", var=Path("."))
    binance = demo_module.demo_config("binance", base_url="http://127.0.0.1:1", api_key="k", api_secret="s",
                                      password=None, var=Path("."))
    assert 'exchange = "okx"' in okx and 'password = "local-pass"' in okx
    assert 'exchange = "binance"' in binance and "password" not in binance


def test_scenario_for_okx_keeps_base_amounts_and_counts_steps_in_contracts():
    """OKX's scenario has contract sizes 0.01 / 0.1 and lot steps in contracts equal to the story's 0.001 base."""
    sc = demo_module.scenario_for("okx")
    for asset, size in (("BTC", "0.01"), ("ETH", "0.1")):
        market = sc["markets"][asset]
        assert Decimal(market["contract_size"]) == Decimal(size)
        assert Decimal(market["amount_step"]) * Decimal(market["contract_size"]) == Decimal("0.001")
    assert demo_module.scenario_for("binance") == demo_module.SCENARIO


def test_demo_command_when_exchange_is_unknown_then_exit_2_naming_the_choices():
    """An unknown --exchange fails at once with exit 2 and the valid names, before any exchange starts."""
    from rebalancer.cli import app

    result = CliRunner().invoke(app, ["demo", "--exchange", "kraken"])
    assert result.exit_code == 2
    assert "binance, bybit, okx" in (result.output + (result.stderr if result.stderr_bytes else ""))
