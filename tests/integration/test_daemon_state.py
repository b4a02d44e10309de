"""The trading state in a running daemon: an exchange down at start, failures forcing HALTED on
/healthz and /metrics alike, `resume` and `halt` from other processes and working directories."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from rebalancer.exchange_sim.runner import exchange_in_thread
from rebalancer.exchange_sim.scenario import DEFAULT_API_KEY, DEFAULT_API_SECRET
from tests.integration.conftest import write_config
from tests.integration.test_daemon import EX1, REBALANCER, free_port, health_toml, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def get_health(port: int) -> tuple[int, dict] | None:
    try:
        r = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        return r.status_code, r.json()
    except requests.RequestException:
        return None


def state_gauges(port: int) -> dict[str, str]:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    return {line.split('"')[1]: line.rsplit(" ", 1)[1] for line in text.splitlines()
            if line.startswith("rebalancer_trading_state{")}


def sim_orders(ex) -> list:
    return requests.get(f"{ex.base_url}/_sim/state", timeout=5).json()["orders"]


class Daemon:
    def __init__(self, config: Path, cwd: Path) -> None:
        self.stderr_path = config.parent / "daemon.stderr"
        self._stderr = self.stderr_path.open("w")
        self.proc = subprocess.Popen([REBALANCER, "run", "--config", str(config)], cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self._stderr)

    def log(self) -> str:
        return self.stderr_path.read_text()[-3000:]

    def stop(self) -> int:
        self.proc.terminate()
        try:
            return self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
            self._stderr.close()


def cli(*args: str, config: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([REBALANCER, *args, "--config", str(config)], cwd=cwd, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def test_run_when_exchange_unreachable_then_up_unhealthy_halted_then_trades_after_resume(tmp_path):
    """Nothing listens on the exchange's port: `run` stays up, says why on /healthz, and after
    max_consecutive_failures is HALTED on /healthz and /metrics alike. Once the exchange is back on
    that port, `rebalancer resume` (another process) clears the forced state and the daemon trades."""
    port, health_port = free_port(), free_port()
    down = SimpleNamespace(base_url=f"http://127.0.0.1:{port}", api_key=DEFAULT_API_KEY, api_secret=DEFAULT_API_SECRET)
    config = write_config(tmp_path, down, {"BTC": 0.5, "ETH": 0.5}, schedule="1s", timeout_ms=1000,
                          extra=health_toml(health_port))
    config.write_text(config.read_text().replace("[rebalance]\n", "[rebalance]\nmax_consecutive_failures = 2\n"))
    daemon = Daemon(config, cwd=tmp_path)
    try:
        code, body = wait_for(lambda: (h := get_health(health_port)) and h[1]["state"] == "HALTED" and h,
                              timeout=60, interval=0.2)
        assert daemon.proc.poll() is None, daemon.log()
        assert code == 503 and body["ready"] is False and body["status"] == "failing"
        assert body["consecutive_failures"] >= 2 and body["exchange"]["connected"] is False
        assert "forced after 2 consecutive failures" in body["reason"]
        assert body["exchange"]["last_error"] and body["last_cycle"]["outcome"] == "failed"
        assert state_gauges(health_port) == {"ACTIVE": "0.0", "REDUCING": "0.0", "HALTED": "1.0"}
        assert requests.get(f"http://127.0.0.1:{health_port}/livez", timeout=2).status_code == 200

        with exchange_in_thread(EX1, port=port) as ex:
            # Back, but still HALTED: a forced state waits for the operator.
            wait_for(lambda: get_health(health_port)[1]["cycles"] >= body["cycles"] + 2, timeout=30)
            assert get_health(health_port)[1]["state"] == "HALTED" and sim_orders(ex) == []

            resumed = cli("resume", config=config, cwd=tmp_path)
            assert resumed.returncode == 0, resumed.stderr
            assert "forced HALTED cleared" in resumed.stdout

            orders = wait_for(lambda: len(o := sim_orders(ex)) >= 2 and o, timeout=30)
            assert {o["status"] for o in orders} == {"FILLED"}
            code, body = wait_for(lambda: (h := get_health(health_port)) and h[0] == 200 and h, timeout=10)
            assert body["state"] == "ACTIVE" and body["consecutive_failures"] == 0 and body["exchange"]["connected"]
            assert state_gauges(health_port) == {"ACTIVE": "1.0", "REDUCING": "0.0", "HALTED": "0.0"}
            assert daemon.stop() == 0, daemon.log()
    finally:
        if daemon.proc.poll() is None:
            daemon.stop()


def test_halt_from_another_working_directory_then_daemon_stops_trading_at_once(tmp_path):
    """A relative `risk.kill_switch_file` is the config file's directory's: `halt` run elsewhere
    (absolute --config) reaches the daemon, /healthz and /metrics say HALTED before the next cycle,
    and moved prices get no order until `resume`."""
    cfg_dir, daemon_cwd, elsewhere = tmp_path / "etc", tmp_path / "run", tmp_path / "elsewhere"
    for d in (cfg_dir, daemon_cwd, elsewhere):
        d.mkdir()
    health_port = free_port()
    with exchange_in_thread(EX1) as ex:
        config = write_config(cfg_dir, ex, {"BTC": 0.5, "ETH": 0.5}, schedule="2s", extra=health_toml(health_port))
        config.write_text(config.read_text().replace(f'kill_switch_file = "{cfg_dir.as_posix()}/HALT"',
                                                     'kill_switch_file = "var/HALT"'))
        assert 'kill_switch_file = "var/HALT"' in config.read_text()
        daemon = Daemon(config.absolute(), cwd=daemon_cwd)
        try:
            wait_for(lambda: (h := get_health(health_port)) and h[1]["cycles"] >= 1 and h, timeout=30)
            assert len(sim_orders(ex)) == 2

            halted = cli("halt", "--reason", "maintenance", config=config.absolute(), cwd=elsewhere)
            assert halted.returncode == 0, halted.stderr
            switch = (cfg_dir / "var" / "HALT").absolute()
            assert str(switch) in halted.stdout and switch.exists()
            assert not (elsewhere / "var").exists() and not (daemon_cwd / "var").exists()

            code, body = wait_for(lambda: (h := get_health(health_port)) and h[1]["state"] == "HALTED" and h,
                                  timeout=3, interval=0.1)
            assert code == 503 and body["status"] == "halted" and str(switch) in body["reason"]
            assert "maintenance" in body["reason"] and body["kill_switch"] is True
            assert state_gauges(health_port)["HALTED"] == "1.0"

            cycles = body["cycles"]
            requests.post(f"{ex.base_url}/_sim/prices", json={"BTC": {"spot": 36000, "mark": 36000},
                                                              "ETH": {"spot": 2200, "mark": 2200}}, timeout=5)
            wait_for(lambda: get_health(health_port)[1]["cycles"] >= cycles + 2, timeout=30)
            assert len(sim_orders(ex)) == 2, "the daemon traded while halted"

            resumed = cli("resume", config=config.absolute(), cwd=elsewhere)
            assert resumed.returncode == 0 and not switch.exists(), resumed.stderr
            wait_for(lambda: len(sim_orders(ex)) > 2, timeout=30)
            assert daemon.stop() == 0, daemon.log()
        finally:
            if daemon.proc.poll() is None:
                daemon.stop()
