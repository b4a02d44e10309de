"""Real processes: `rebalancer rebalance --execute` killed with SIGKILL at random points of its cycle and
restarted 20 times in a row, then run to completion; and two processes on one journal and account.

The exchange is a separate `rebalancer exchange-sim --dialect <dialect>` process with added latency, so
kills land mid-cycle; every test runs on every dialect (orders left UNKNOWN by a kill are settled by
client id at the next start, each venue its own way).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import types
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest

from rebalancer.daemon import Daemon, JournalLock, LockHeld
from rebalancer.domain import OrderState
from rebalancer.exchange_sim.dialects import dialect_class
from rebalancer.exchange_sim.scenario import DEFAULT_API_KEY, DEFAULT_API_SECRET, DEFAULT_PASSWORD
from rebalancer.journal import Journal
from tests.faults.conftest import TARGETS, audit, make_rebalancer, positions, sim_post, sim_state
from tests.integration.conftest import settings_for, write_config
from tests.integration.dialects import Dialect, adapt_scenario, scenario_toml

pytestmark = [pytest.mark.faults, pytest.mark.integration]

REBALANCER = Path(sys.executable).parent / "rebalancer"  # the console script of this environment
# Two price regimes the exchange alternates between after each kill, so every run has orders to place.
REGIMES = ({"BTC": 40000, "ETH": 2000}, {"BTC": 44000, "ETH": 1850})
SCENARIO = {
    "markets": {"BTC": {"spot_price": 40000, "funding_rate": 0.0001, "amount_step": 0.001},
                "ETH": {"spot_price": 2000, "funding_rate": 0.0001, "amount_step": 0.001}},
    "spot": {"BTC": 0.15, "ETH": 2, "USDT": 0},
    "futures": {"wallet": 10000, "leverage": 5},
}


@dataclass
class ExchangeProcess:
    base_url: str
    proc: subprocess.Popen
    dialect: str
    api_key: str = DEFAULT_API_KEY
    api_secret: str = DEFAULT_API_SECRET
    password: str | None = None


def start_exchange_process(tmp_path: Path, dialect: Dialect, latency_ms: int) -> ExchangeProcess:
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(scenario_toml({**adapt_scenario(SCENARIO, dialect), "faults": {"latency_ms": latency_ms}}))
    proc = subprocess.Popen(
        [str(REBALANCER), "exchange-sim", "--dialect", dialect.name, "--scenario", str(scenario), "--port", "0",
         "--state-file", str(tmp_path / "exchange-state.json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline().strip()  # the base URL is the first line
    if not line.startswith("http://127.0.0.1:"):
        proc.kill()
        raise AssertionError(f"exchange-sim did not start: {line!r} {proc.stderr.read()}")
    password = DEFAULT_PASSWORD if dialect_class(dialect.name).uses_password else None
    return ExchangeProcess(line, proc, dialect.name, password=password)


@pytest.fixture
def exchange_process(dialect: Dialect, tmp_path: Path) -> Iterator[Any]:
    started: list[ExchangeProcess] = []

    def start(latency_ms: int) -> ExchangeProcess:
        ex = start_exchange_process(tmp_path, dialect, latency_ms)
        started.append(ex)
        return ex

    yield start
    for ex in started:
        ex.proc.send_signal(signal.SIGTERM)
        try:
            ex.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            ex.proc.kill()
            ex.proc.wait()


def rebalance(config: Path) -> subprocess.Popen:
    return subprocess.Popen([str(REBALANCER), "rebalance", "--execute", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def lock_holder(journal_path: Path) -> int | None:
    """The pid JournalLock wrote after acquiring (the file keeps it after the holder dies)."""
    try:
        text = Path(f"{journal_path}.lock").read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


@dataclass
class Run:
    proc: subprocess.Popen
    delay: float  # seconds after it takes the lock at which it is killed
    spawned: float
    locked: float | None = None
    killed: bool = False
    stderr: str = field(default="")


# The kill loop's timing rests on process start-up times: under xdist these tests share one worker
# (--dist loadgroup), so two kill loops never compete for the CPU.
@pytest.mark.xdist_group("process-timing")
async def test_sigkill_when_killed_at_random_points_20_times_then_one_full_run_leaves_no_duplicate_and_plan(
        dialect, tmp_path, exchange_process, fault_row):
    """20 `rebalance --execute` processes are each SIGKILLed at a seeded random moment of their cycle
    (the exchange adds 100 ms per request, and for a seeded half of the runs it executes orders but
    holds their responses, so kills land while orders are unanswered too), prices moving between runs;
    one more run completes. Then the exchange's orders and the journal agree one to one: no client id
    twice, every order final or UNKNOWN with a reason, no cycle left running, the journal consistent,
    and a fresh plan has nothing to do."""
    ex = exchange_process(latency_ms=120)
    config = write_config(tmp_path, ex, TARGETS, timeout_ms=3000)
    settings = settings_for(tmp_path, ex, TARGETS, timeout_ms=3000)
    journal_path = Path(settings.journal.path)
    rng = random.Random(20240229)
    kills_wanted = 20
    # Each process is killed `delay` after it takes the journal lock; its cycle (connect, resolve,
    # snapshot, orders, confirm) spans about 2 s at 120 ms per request. A process spends about 2.5 s
    # starting (mostly importing ccxt) before it asks for the lock, so the next one is started while
    # this one still runs, `delay + margin` after this one was started: it should ask for the lock
    # just after the kill. When start-up times differ by more than the margin it asks too early and
    # is refused by the lock (exit 1, "another rebalancer"): that is checked too, and the next try follows.
    max_delay, margin = 2.2, 0.7
    runs: list[Run] = []
    refused = completed = 0
    started = time.monotonic()
    deadline = started + 90
    next_spawn = started

    def killed() -> int:
        return sum(r.killed for r in runs)

    while killed() < kills_wanted:
        assert time.monotonic() < deadline, "the kill loop took too long"
        now = time.monotonic()
        alive = [r for r in runs if r.proc.poll() is None]
        if now >= next_spawn and killed() + len(alive) < kills_wanted:
            run = Run(rebalance(config), rng.uniform(0, max_delay), now)
            runs.append(run)
            next_spawn = now + run.delay + margin
        holder = lock_holder(journal_path)
        for r in alive:
            if r.locked is None and r.proc.pid == holder:
                r.locked = now
            if r.locked is not None and now >= r.locked + r.delay:
                r.proc.kill()  # SIGKILL, mid-cycle
                r.proc.wait()
                r.killed = True
                # Between runs: prices move (so the next run trades) and, for a seeded half of the runs,
                # the exchange executes the next orders but holds their responses (until a kill or timeout).
                await sim_post(ex, "prices", REGIMES[killed() % 2])
                await sim_post(ex, "faults", {"drop_order_responses": 2 if rng.random() < 0.5 else 0})
        for r in runs:
            if not r.killed and r.proc.poll() is not None and not r.stderr:
                r.stderr = r.proc.stderr.read() or "-"
                if r.proc.returncode == 1 and "another rebalancer" in r.stderr:
                    refused += 1
                else:  # it finished its cycle before its kill time
                    assert r.proc.returncode == 0, r.stderr
                    completed += 1
        await asyncio.sleep(0.005)
    for r in runs:  # a process still starting when the 20th kill landed: let it finish on its own
        if r.proc.poll() is None:
            r.proc.wait(timeout=30)
            r.stderr = r.proc.stderr.read() or "-"
            assert r.proc.returncode in (0, 1), r.stderr
    kill_loop_s = time.monotonic() - started

    await sim_post(ex, "faults", {"drop_order_responses": 0})
    final = subprocess.run([str(REBALANCER), "rebalance", "--execute", "--config", str(config)],
                           capture_output=True, text=True, timeout=60)
    assert final.returncode == 0, final.stderr
    state = await sim_state(ex)
    with Journal(journal_path) as journal:
        result = audit(state, journal, dialect)
        running = journal.running_cycles()
        cycles = journal.cycles()
        records = journal.orders()
        events = {r.client_order_id: journal.events(r.client_order_id) for r in records}
    rb = make_rebalancer(settings)
    try:
        replan = await rb.cycle(execute=False, record=False)
    finally:
        await rb.close()

    assert killed() == kills_wanted
    assert result.duplicates == [], result.duplicates
    assert result.lost == [], result.lost
    assert running == []
    assert all(r.state.final or r.state is OrderState.UNKNOWN for r in records)
    assert replan.plan.orders == () or not replan.plan.triggered, replan.plan.orders
    interrupted = [c for c in cycles if c.outcome == "interrupted"]
    settled_at_restart = [cid for cid, ev in events.items()
                          if any("start" in str(e["detail"].get("reason", "")) for e in ev)]
    found_at_restart = [cid for cid, ev in events.items() if ev[-1]["detail"].get("reason") == "resolved at start"]
    assert interrupted and result.orders_placed > 0
    print(f"\nSIGKILL loop: {kill_loop_s:.1f} s for {len(runs)} runs ({killed()} killed, {refused} refused by "
          f"the lock, {completed} completed); "
          f"{len(interrupted)} cycles left running and closed as interrupted; {len(settled_at_restart)} orders "
          f"settled at a restart ({len(found_at_restart)} of them executed though unanswered); "
          f"{result.orders_placed} orders on the exchange, {len(records)} journaled")
    fault_row("SIGKILL at random points x20, then a full run", len(cycles), result)


@pytest.mark.xdist_group("process-timing")
async def test_two_processes_when_same_journal_then_second_refuses_to_trade(dialect, tmp_path, exchange_process, fault_row):
    """Two `rebalance --execute` started together on one journal and account: one takes the lock and
    trades; the other exits 1 saying another rebalancer (with the winner's pid) trades with that
    journal, without touching the journal or the exchange."""
    ex = exchange_process(latency_ms=150)  # the winner's cycle outlasts the gap between the two start-ups
    config = write_config(tmp_path, ex, TARGETS, timeout_ms=3000)
    settings = settings_for(tmp_path, ex, TARGETS, timeout_ms=3000)
    journal_path = Path(settings.journal.path)
    procs = [rebalance(config), rebalance(config)]
    codes = [p.wait(timeout=60) for p in procs]
    errors = [p.stderr.read() for p in procs]
    state = await sim_state(ex)
    with Journal(journal_path) as journal:
        result = audit(state, journal, dialect)
        cycles = journal.cycles()
    assert sorted(codes) == [0, 1], errors
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    assert f"another rebalancer (pid {procs[winner].pid}) is trading with journal" in errors[loser]
    assert "stop it first" in errors[loser]
    assert len(cycles) == 1 and cycles[0].outcome == "done"  # the loser never wrote to the journal
    assert positions(state) == {"BTC": Decimal("-0.025"), "ETH": Decimal("0.5")}
    assert (result.orders_placed, result.duplicates, result.lost) == (2, [], [])
    fault_row("two processes, one journal (subprocesses)", 1, result)


async def test_two_daemons_when_same_journal_then_second_raises_lock_held_and_sends_nothing(dialect, tmp_path, fault_row):
    """In-process: while a JournalLock is held, a second lock and a Daemon on the same journal raise
    LockHeld naming the holder's pid and the journal, before building a venue or sending anything."""
    password = DEFAULT_PASSWORD if dialect_class(dialect.name).uses_password else None
    ex = types.SimpleNamespace(base_url="http://127.0.0.1:9", api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET,
                               dialect=dialect.name, password=password)
    settings = settings_for(tmp_path, ex, TARGETS)
    built: list[Any] = []
    with JournalLock(settings.journal.path):
        with pytest.raises(LockHeld) as second_lock:
            JournalLock(settings.journal.path).acquire()
        daemon = Daemon(settings, rebalancer_factory=lambda s: built.append(s))
        with pytest.raises(LockHeld) as second_daemon:
            await daemon.run()
    for exc in (second_lock.value, second_daemon.value):
        assert f"another rebalancer (pid {os.getpid()}) is trading with journal {settings.journal.path}" in str(exc)
        assert "stop it first" in str(exc)
    assert built == [] and daemon.cycles_run == 0
    JournalLock(settings.journal.path).acquire()  # released: the next one gets it
    with Journal(settings.journal.path) as journal:
        fault_row("two daemons, one journal (in-process)", 0, audit({"orders": []}, journal, dialect))
