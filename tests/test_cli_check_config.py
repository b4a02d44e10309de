"""`rebalancer check-config` and the CLI's error reporting: exit codes 0 / 2, one line per problem.

Also the `exchange-sim` command's hand-off to the local exchange runner (faked here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rebalancer.cli import app
from tests.fakes import isolate_env

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = ["example.toml", "demo.toml", "binance-demo.toml", "bybit-testnet.toml", "okx-demo.toml"]

THREE_PROBLEMS = """
[portfolio]
targets = { BTC = 0.5, ETH = 0.4 }
[rebalance]
band = 0
[venues.main]
exchange = "binance"
mode = "testnet"
roles = ["spot", "hedge"]
"""


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner isolated from the caller's REBALANCER_* variables and any real secrets dir."""
    isolate_env(tmp_path, monkeypatch)
    return CliRunner()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", EXAMPLES)
def test_check_config_when_shipped_config_then_ok(runner: CliRunner, name: str) -> None:
    """Every shipped config passes with exit 0 and no stderr."""
    path = REPO / "config" / name
    result = runner.invoke(app, ["check-config", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"config OK: {path}\n")
    assert result.stderr == ""


def test_check_config_when_valid_then_summary_shows_venues_targets_nav(runner: CliRunner) -> None:
    """The summary names each venue's mode and roles, the targets and the NAV basis."""
    result = runner.invoke(app, ["check-config", "--config", str(REPO / "config" / "demo.toml")])
    assert "venue main: binance, mode local at http://127.0.0.1:8765, roles spot+hedge" in result.stdout
    assert "targets BTC 50%, ETH 50%" in result.stdout
    assert "nav spot" in result.stdout
    assert "local-secret" not in result.output


def test_check_config_when_three_problems_then_three_stderr_lines_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    """Every problem is printed at once, one line each, and the exit code is 2."""
    result = runner.invoke(app, ["check-config", "--config", str(write(tmp_path, THREE_PROBLEMS))])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 3
    assert lines[0] == "portfolio.targets: weights sum to 0.9, expected 1 (BTC=0.5, ETH=0.4)"
    assert lines[1] == "rebalance.band: must be > 0 (got 0)"
    assert lines[2].startswith('venues.main.mode: "testnet" is not available for binance; use "demo"')
    assert "Traceback" not in result.output
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[portfolio\n", "invalid TOML at line 1, column"),
        ('[portfolio]\ntargets = { BTC = 1 }\n[venues.main]\nexchange = "binance"\nmode = "local"\n'
         'roles = ["spot", "hedge"]\n', 'venues.main.base_url: required with mode = "local"'),
        ('[portfolio]\ntargets = { BTC = 1 }\n[venues.a]\nexchange = "binance"\nroles = ["spot", "hedge"]\n'
         '[venues.b]\nexchange = "okx"\nroles = ["hedge"]\n', 'venues: 2 venues have role "hedge"'),
        ('[portfolio]\ntargets = { BTC = 1 }\n[venues.a]\nexchange = "binance"\nroles = ["spot"]\n',
         'venues: no venue has role "hedge"'),
        ('[portfolio]\ntargets = { BTC = -1, ETH = 2 }\n[venues.a]\nexchange = "binance"\nroles = ["spot", "hedge"]\n',
         "portfolio.targets.BTC: must be >= 0"),
    ],
)
def test_check_config_when_invalid_then_clear_line_no_traceback(
    runner: CliRunner, tmp_path: Path, text: str, expected: str
) -> None:
    """Each kind of bad input gives one clear line naming the key, exit 2, never a traceback."""
    result = runner.invoke(app, ["check-config", "--config", str(write(tmp_path, text))])
    assert result.exit_code == 2
    assert expected in result.stderr
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_check_config_when_file_missing_then_hint_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    """A missing file says how to create one."""
    result = runner.invoke(app, ["check-config", "--config", str(tmp_path / "absent.toml")])
    assert result.exit_code == 2
    assert "cp config/example.toml config/rebalancer.toml" in result.stderr


def test_check_config_when_config_env_set_then_that_file_is_checked(runner: CliRunner, tmp_path: Path) -> None:
    """REBALANCER_CONFIG is the default for --config."""
    path = REPO / "config" / "okx-demo.toml"
    result = runner.invoke(app, ["check-config"], env={"REBALANCER_CONFIG": str(path)})
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"config OK: {path}")


def test_check_config_when_env_override_invalid_then_names_variable(runner: CliRunner) -> None:
    """A bad env override is reported with its variable name."""
    result = runner.invoke(
        app,
        ["check-config", "--config", str(REPO / "config" / "example.toml")],
        env={"REBALANCER_RISK__MAX_BASIS": "-1"},
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == "risk.max_basis: must be >= 0 (got \"-1\") (from env REBALANCER_RISK__MAX_BASIS)"


def test_check_config_when_json_valid_then_redacted_document(runner: CliRunner) -> None:
    """--json prints ok, a summary and the config with secrets redacted."""
    result = runner.invoke(
        app,
        ["check-config", "--json", "--config", str(REPO / "config" / "example.toml")],
        env={"REBALANCER_VENUES__MAIN__API_KEY": "REAL-KEY-1", "REBALANCER_VENUES__MAIN__API_SECRET": "REAL-SECRET-2"},
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["ok"] is True
    assert document["summary"]["venues"]["main"] == {
        "exchange": "binance",
        "mode": "demo",
        "roles": ["spot", "hedge"],
        "base_url": None,
        "leverage": 3,
        "has_keys": True,
    }
    assert document["summary"]["nav"] == "spot"
    assert document["config"]["venues"]["main"]["api_key"] == "**********"
    assert "REAL-KEY-1" not in result.output and "REAL-SECRET-2" not in result.output


def test_check_config_when_json_invalid_then_problems_and_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    """--json on a bad config lists the problems in JSON and still exits 2."""
    result = runner.invoke(app, ["check-config", "--json", "--config", str(write(tmp_path, THREE_PROBLEMS))])
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert document["ok"] is False
    assert len(document["problems"]) == 3
    assert len(result.stderr.splitlines()) == 3


# --------------------------------------------------------------------------- exchange-sim


@pytest.fixture
def fake_runner(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, dict]]:
    """Replace rebalancer.exchange_sim.runner with a recorder whose behaviour a test sets."""
    calls: list[tuple[object, dict]] = []
    module = types.ModuleType("rebalancer.exchange_sim.runner")

    def serve_forever(scenario_path, **kwargs):
        calls.append((scenario_path, kwargs))
        if "boom" in str(scenario_path):
            raise RuntimeError("socket exploded")
        if "bad" in str(scenario_path):
            raise ValueError("scenario bad.toml: markets.BTC.spot_price must be > 0")
        return 0

    module.serve_forever = serve_forever  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "rebalancer.exchange_sim.runner", module)
    return calls


def test_exchange_sim_when_called_then_passes_options_to_runner(runner: CliRunner, fake_runner) -> None:
    """Options reach serve_forever as keyword arguments; its return value is the exit code."""
    result = runner.invoke(
        app,
        ["exchange-sim", "--scenario", "s.toml", "--port", "8765", "--state-file", "st.json", "--allow-remote",
         "--host", "0.0.0.0", "--dialect", "okx"],
    )
    assert result.exit_code == 0, result.output
    assert fake_runner == [
        (Path("s.toml"), {"host": "0.0.0.0", "port": 8765, "state_file": Path("st.json"), "allow_remote": True,
                          "dialect": "okx"})
    ]


def test_exchange_sim_when_dialect_unknown_then_one_line_naming_the_choices_exit_2(runner: CliRunner) -> None:
    """An unknown --dialect fails before anything is bound, naming the dialects there are."""
    result = runner.invoke(app, ["exchange-sim", "--scenario", "missing.toml", "--dialect", "kraken"])
    assert result.exit_code == 2
    from rebalancer.exchange_sim.dialects import DIALECTS

    assert result.stderr.startswith(f"error: unknown dialect 'kraken'; choose one of {', '.join(DIALECTS)}")
    assert "binance" in DIALECTS and "okx" in DIALECTS


def test_exchange_sim_when_bad_input_then_error_line_exit_2(runner: CliRunner, fake_runner) -> None:
    """A ValueError from the runner is one `error:` line and exit 2."""
    result = runner.invoke(app, ["exchange-sim", "--scenario", "bad.toml"])
    assert result.exit_code == 2
    assert result.stderr == "error: scenario bad.toml: markets.BTC.spot_price must be > 0\n"


def test_unexpected_error_when_not_debug_then_one_line_exit_1(runner: CliRunner, fake_runner) -> None:
    """An unexpected failure is one line and exit 1; --debug adds the traceback."""
    result = runner.invoke(app, ["exchange-sim", "--scenario", "boom.toml"])
    assert result.exit_code == 1
    assert result.stderr == "error: socket exploded\n"

    result = runner.invoke(app, ["--debug", "exchange-sim", "--scenario", "boom.toml"])
    assert result.exit_code == 1
    assert "Traceback" in result.stderr and result.stderr.endswith("error: socket exploded\n")


# --------------------------------------------------------------------------- the real entry point


def test_console_entry_when_config_invalid_then_exit_2_without_traceback(tmp_path: Path) -> None:
    """The installed entry point (`rebalancer.cli:main`) exits 2 with problem lines only."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("REBALANCER_")}
    env["REBALANCER_SECRETS_DIR"] = str(tmp_path)
    completed = subprocess.run(
        [sys.executable, "-c", "from rebalancer.cli import main; main()", "check-config", "--config",
         str(write(tmp_path, THREE_PROBLEMS))],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert completed.returncode == 2
    assert len(completed.stderr.splitlines()) == 3
    assert "Traceback" not in completed.stderr


def test_check_config_when_relative_paths_then_printed_absolute_next_to_config(
        runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """check-config names the files the daemon will use, absolute, resolved against the config's directory."""
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "c.toml").write_text((REPO / "config" / "demo.toml").read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["check-config", "--json", "--config", "conf/c.toml"])
    assert result.exit_code == 0, result.output
    paths = json.loads(result.stdout)["summary"]["paths"]
    assert Path(paths["journal"]).is_absolute() and Path(paths["journal"]).parent.parent == conf
    assert Path(paths["kill_switch"]).parent.parent == conf
    text = runner.invoke(app, ["check-config", "--config", "conf/c.toml"]).stdout
    assert f"kill switch {paths['kill_switch']}" in text and f"journal {paths['journal']}" in text


@pytest.mark.parametrize("extra, key", [
    ('[risk]\nkill_switch_file = "var/j.db"\n[journal]\npath = "var/j.db"\n', "risk.kill_switch_file"),
    ('[journal]\npath = "var/j.db"\n[logging]\nfile = "var/j.db-wal"\n', "logging.file"),
])
def test_check_config_when_files_would_destroy_state_then_exit_2_naming_the_key(
        runner: CliRunner, tmp_path: Path, extra: str, key: str) -> None:
    """A kill switch on the journal (halt overwrites it, resume deletes it) or a log on its WAL."""
    text = '[portfolio]\ntargets = { BTC = 0.5, ETH = 0.5 }\n[venues.main]\nexchange = "binance"\nroles = ["spot", "hedge"]\n'
    result = runner.invoke(app, ["check-config", "--config", str(write(tmp_path, text + extra))])
    assert result.exit_code == 2
    assert f"{key}: " in result.stderr


def test_check_config_when_env_would_turn_it_live_then_exit_2(runner: CliRunner, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    text = '[portfolio]\ntargets = { BTC = 0.5, ETH = 0.5 }\n[venues.main]\nexchange = "binance"\nroles = ["spot", "hedge"]\n'
    monkeypatch.setenv("REBALANCER_VENUES__MAIN__MODE", "live")
    result = runner.invoke(app, ["check-config", "--config", str(write(tmp_path, text))])
    assert result.exit_code == 2 and "venues.main.mode" in result.stderr
