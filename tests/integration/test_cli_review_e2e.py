"""The review commands through the real `rebalancer` program against the local exchange: what a dry
run journals and what it does not, then `cycles`, `orders` and `status` after a real cycle."""

from __future__ import annotations

import json
import os
import subprocess

from decimal import Decimal

import pytest

from rebalancer.exchange_sim.runner import exchange_in_thread
from rebalancer.render import decimal_text
from tests.integration.conftest import EXAMPLE_1_SCENARIO, REBALANCER, write_config

pytestmark = pytest.mark.integration

SCENARIO = EXAMPLE_1_SCENARIO


def cli(*args: str, columns: int = 80, ok: tuple[int, ...] = (0,)) -> str:
    env = {**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1"}
    env = {k: v for k, v in env.items() if not k.startswith("REBALANCER_")}
    proc = subprocess.run([REBALANCER, *args], capture_output=True, text=True, timeout=60, env=env,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode in ok, (args, proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout


def test_review_commands_when_dry_runs_and_a_real_cycle_then_every_id_shown_can_be_looked_up(tmp_path):
    with exchange_in_thread(SCENARIO) as ex:
        config = str(write_config(tmp_path, ex, {"BTC": 0.5, "ETH": 0.5}))
        status = cli("status", "--config", config)
        plan = json.loads(cli("plan", "--json", "--config", config))
        dry = cli("rebalance", "--config", config)
        done = json.loads(cli("rebalance", "--execute", "--json", "--config", config))
        after = cli("status", "--config", config, columns=120)
        unwind = cli("unwind", "--config", config, columns=120)

    # status and plan are not journaled: they name no cycle; the dry rebalance is, and says which.
    assert "Trading state: ACTIVE" in status and "(not journaled)" in status and "cycle 2026" not in status
    assert plan["cycle_id"] is None and plan["journaled"] is False
    dry_line = next(ln for ln in dry.splitlines() if ln.startswith("cycle "))
    dry_id = dry_line.split()[1].rstrip(":")
    cycles = json.loads(cli("cycles", "--json", "--config", config))
    assert [(c["id"], c["outcome"], c["execute"]) for c in cycles[:2]] == [
        (dry_id, "dry_run", False), (done["cycle_id"], "done", True)]
    assert cycles[1]["filled"] == cycles[1]["sent"] == 2 and cycles[1]["scale"] == "1"
    assert cycles[2]["kind"] == "unwind" and cycles[2]["outcome"] == "dry_run"

    # orders at 80 columns: every fill price whole on its row, the cycle's short id, the totals.
    table = cli("orders", "--config", config).splitlines()
    short = done["cycle_id"].rsplit("-", 1)[1]
    for o in done["orders"]:
        row = next(ln for ln in table if f" {o['asset']} " in ln and short in ln)
        assert decimal_text(Decimal(o["average"])) in row.split(), row
    assert max(len(ln.rstrip()) for ln in table) <= 80 and not any("…" in ln for ln in table)
    assert any(ln.startswith("total: 2 of 2 filled, notional ") for ln in table)
    assert len(json.loads(cli("orders", "--json", "--cycle", short, "--config", config))) == 2
    assert "no cycles" not in cli("cycles", "--config", config)

    # status after the trade: positions with entry, mark, liquidation price; equity and margin.
    for needle in ("Positions (USDT", "liq. price", "Hedge account (USDT): equity", "available margin"):
        assert needle in after, needle
    rows = [ln.split() for ln in after.splitlines() if ln.startswith(("BTC ", "ETH "))]
    assert {r[0] for r in rows} == {"BTC", "ETH"}
    # the unwind dry run lists what each close takes off, not the rebalance adjustment
    header = next(ln for ln in unwind.splitlines() if ln.lstrip().startswith("asset") and "target" in ln)
    assert header.split()[-1] == "close"
