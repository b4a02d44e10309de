"""Settings: layering (file, secrets dir, env), validation messages by key path, and domain adapters.

Every bad input must end in a ConfigError whose problems name the key, never in a stray exception.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from rebalancer.domain import NavBasis, PlanParams, RiskLimits
from rebalancer.settings import ConfigError, Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = ["example.toml", "demo.toml", "binance-demo.toml", "bybit-testnet.toml", "okx-demo.toml"]

VENUE = """
[venues.main]
exchange = "binance"
roles = ["spot", "hedge"]
"""
MINIMAL = '[portfolio]\ntargets = { BTC = 0.5, ETH = 0.5 }\n' + VENUE


@pytest.fixture
def no_secrets(tmp_path: Path) -> Path:
    directory = tmp_path / "no-secrets"
    directory.mkdir()
    return directory


@pytest.fixture
def load(tmp_path: Path, no_secrets: Path):
    """Write TOML text to a file and load it with only the given env and secrets."""

    def _load(text: str, env: dict[str, str] | None = None, secrets_dir: Path | None = None) -> Settings:
        path = tmp_path / "config.toml"
        path.write_text(text, encoding="utf-8")
        return load_settings(path, env=env or {}, secrets_dir=secrets_dir or no_secrets)

    return _load


@pytest.fixture
def problems(load):
    """The problem lines a config produces (fails the test when it loads)."""

    def _problems(text: str, env: dict[str, str] | None = None, secrets_dir: Path | None = None) -> list[str]:
        with pytest.raises(ConfigError) as info:
            load(text, env, secrets_dir)
        return info.value.problems

    return _problems


# --------------------------------------------------------------------------- valid configs


@pytest.mark.parametrize("name", EXAMPLES)
def test_load_settings_when_shipped_example_then_valid(name: str, no_secrets: Path) -> None:
    """Every shipped config file loads without env or secrets."""
    settings = load_settings(REPO / "config" / name, env={}, secrets_dir=no_secrets)
    assert sum(settings.flat_targets().values()) == 1
    assert settings.hedge_venue()[0] == "main"


def test_load_settings_when_demo_config_then_points_at_local_exchange(no_secrets: Path) -> None:
    """demo.toml reaches the local exchange with its public demo credentials."""
    settings = load_settings(REPO / "config" / "demo.toml", env={}, secrets_dir=no_secrets)
    name, venue = settings.hedge_venue()
    assert (venue.exchange, venue.mode, venue.base_url) == ("binance", "local", "http://127.0.0.1:8765")
    assert venue.roles == ("spot", "hedge") and settings.spot_venue()[0] == name
    assert venue.api_key is not None and venue.api_key.get_secret_value() == "local-key"
    assert settings.flat_targets() == {"BTC": Decimal("0.5"), "ETH": Decimal("0.5")}


def test_minimal_config_when_loaded_then_defaults_match_domain(load, tmp_path: Path) -> None:
    """Defaults equal DOMAIN.md's risk defaults and the planner's defaults."""
    settings = load(MINIMAL)
    assert settings.risk_limits(halted=False) == RiskLimits()
    assert settings.plan_params() == PlanParams(targets={"BTC": Decimal("0.5"), "ETH": Decimal("0.5")})
    assert settings.venues["main"].mode == "demo"
    assert settings.rebalance.interval_seconds == 900
    # the default relative paths, resolved against the config file's directory
    assert (settings.journal.path, settings.logging.file, settings.health.port) == (
        str(tmp_path / "var" / "rebalancer.db"),
        str(tmp_path / "var" / "rebalancer.log"),
        9108,
    )


def test_toml_floats_when_loaded_then_exact_decimals(load) -> None:
    """0.1 in the file is exactly Decimal('0.1'), so 0.1 + 0.2 + 0.7 sums to exactly 1."""
    settings = load('[portfolio]\ntargets = { BTC = 0.1, ETH = 0.2, SOL = 0.7 }\n' + VENUE)
    assert settings.flat_targets()["BTC"] == Decimal("0.1")
    assert str(settings.portfolio.targets["BTC"]) == "0.1"
    assert sum(settings.flat_targets().values()) == Decimal(1)


def test_groups_when_domain_example_7_then_flatten_exactly(load) -> None:
    """L1 0.6 (SOL, AVAX 0.5 each) and DeFi 0.4 (UNI, AAVE 0.5 each) give 0.3/0.3/0.2/0.2."""
    settings = load(
        """
[portfolio.groups.L1]
weight = 0.6
members = { SOL = 0.5, AVAX = 0.5 }
[portfolio.groups.DeFi]
weight = 0.4
members = { UNI = 0.5, AAVE = 0.5 }
"""
        + VENUE
    )
    flat = settings.flat_targets()
    assert flat == {"SOL": Decimal("0.3"), "AVAX": Decimal("0.3"), "UNI": Decimal("0.2"), "AAVE": Decimal("0.2")}
    assert all(isinstance(w, Decimal) for w in flat.values())
    assert [str(w) for w in flat.values()] == ["0.3", "0.3", "0.2", "0.2"]
    assert settings.plan_params().targets == flat


def test_targets_when_cash_target_on_quote_then_valid(load) -> None:
    """A weight on the quote currency is a cash target and counts toward the sum."""
    settings = load('[portfolio]\nnav = "account"\ntargets = { BTC = 0.4, ETH = 0.4, USDT = 0.2 }\n' + VENUE)
    assert settings.flat_targets()["USDT"] == Decimal("0.2")
    assert settings.plan_params().nav_basis is NavBasis.ACCOUNT


def test_targets_when_lower_case_codes_then_upper_cased(load) -> None:
    """Asset codes are normalised to upper case, external holdings too."""
    settings = load(
        '[portfolio]\ntargets = { btc = 0.5, Eth = 0.5 }\nexternal = [ { asset = "btc", amount = 0.5 } ]\n' + VENUE
    )
    assert list(settings.flat_targets()) == ["BTC", "ETH"]
    assert settings.portfolio.external[0].asset == "BTC"
    assert settings.portfolio.external[0].amount == Decimal("0.5")


def test_weights_when_within_tolerance_then_accepted(load) -> None:
    """A sum within 1e-9 of 1 is accepted; one further off is not."""
    load('[portfolio]\ntargets = { BTC = 0.5, ETH = 0.5000000001 }\n' + VENUE)
    with pytest.raises(ConfigError):
        load('[portfolio]\ntargets = { BTC = 0.5, ETH = 0.50000001 }\n' + VENUE)


@pytest.mark.parametrize(
    ("schedule", "seconds"),
    [("30s", 30), ("15m", 900), ("1h", 3600), ("1d", 86400), ("*/15 * * * *", None), ("0 9 * * mon-fri", None)],
)
def test_schedule_when_interval_or_cron_then_valid(load, schedule: str, seconds: int | None) -> None:
    """Intervals and 5-field cron expressions are accepted."""
    settings = load(MINIMAL + f'[rebalance]\nschedule = "{schedule}"\n')
    assert settings.rebalance.interval_seconds == seconds


def test_cron_fields_when_numeric_weekdays_then_named_for_apscheduler(load) -> None:
    """Cron weekday numbers (0 = Sunday) become names, which APScheduler reads unambiguously."""
    settings = load(MINIMAL + '[rebalance]\nschedule = "0 9 * * 1-5"\n')
    assert settings.rebalance.cron_fields == {
        "minute": "0",
        "hour": "9",
        "day": "*",
        "month": "*",
        "day_of_week": "mon,tue,wed,thu,fri",
    }
    assert load(MINIMAL + '[rebalance]\nschedule = "0 0 * * 0,7"\n').rebalance.cron_fields["day_of_week"] == "sun"


def test_venues_when_separate_spot_and_hedge_then_each_found(load) -> None:
    """The spot and hedge roles may live on different venues; leverage comes from the hedge venue."""
    settings = load(
        """
[portfolio]
targets = { BTC = 1 }
[venues.wallet]
exchange = "binance"
roles = ["spot"]
leverage = 2
[venues.perps]
exchange = "bybit"
mode = "testnet"
roles = ["hedge"]
leverage = 5
"""
    )
    assert settings.spot_venue()[0] == "wallet"
    assert settings.hedge_venue()[0] == "perps"
    assert settings.risk_limits().leverage == Decimal(5)


def test_settings_when_assigned_then_frozen(load) -> None:
    """Settings and its tables cannot be changed after loading."""
    settings = load(MINIMAL)
    with pytest.raises(ValidationError):
        settings.risk = settings.risk  # type: ignore[misc]
    with pytest.raises(ValidationError):
        settings.rebalance.band = Decimal("0.5")  # type: ignore[misc]


# --------------------------------------------------------------------------- env and secrets


def test_env_when_override_given_then_wins_over_file(load) -> None:
    """REBALANCER_RISK__MAX_BASIS overrides the file's value."""
    settings = load(MINIMAL + "[risk]\nmax_basis = 0.01\n", env={"REBALANCER_RISK__MAX_BASIS": "0.02"})
    assert settings.risk.max_basis == Decimal("0.02")
    assert settings.risk_limits().max_basis == Decimal("0.02")


def test_env_when_nested_venue_keys_then_set_as_secrets(load) -> None:
    """REBALANCER_VENUES__MAIN__API_KEY reaches venues.main.api_key, case-insensitively."""
    env = {
        "REBALANCER_VENUES__MAIN__API_KEY": "env-key",
        "rebalancer_venues__Main__api_secret": "env-secret",
        "REBALANCER_VENUES__MAIN__LEVERAGE": "5",
        "REBALANCER_VENUES__MAIN__ROLES": '["hedge", "spot"]',
        "REBALANCER_PORTFOLIO__TARGETS__BTC": "0.6",
        "REBALANCER_PORTFOLIO__TARGETS__ETH": "0.4",
        "REBALANCER_ALERTS__WEBHOOK_URL": "https://hooks.example.com/T000",
        "REBALANCER_CONFIG": "ignored.toml",  # not a config key
    }
    settings = load(MINIMAL.replace("[venues.main]", "[venues.MAIN]"), env=env)
    venue = settings.venues["MAIN"]
    assert venue.api_key.get_secret_value() == "env-key"
    assert venue.api_secret.get_secret_value() == "env-secret"
    assert venue.leverage == 5 and venue.roles == ("hedge", "spot")
    assert settings.flat_targets() == {"BTC": Decimal("0.6"), "ETH": Decimal("0.4")}
    assert settings.alerts.webhook_url.get_secret_value() == "https://hooks.example.com/T000"


def test_env_when_section_misspelled_then_problem_names_variable(problems) -> None:
    """A nested variable under an unknown section is reported, not silently ignored."""
    found = problems(MINIMAL, env={"REBALANCER_VENUE__MAIN__API_KEY": "k"})
    assert found == ['venue: unknown key; did you mean "venues"? (from env REBALANCER_VENUE__MAIN__API_KEY)']


def test_env_when_unknown_or_invalid_key_then_problem_names_variable(problems) -> None:
    """Bad env values name their variable; a bad list is asked for as JSON."""
    found = problems(
        MINIMAL,
        env={
            "REBALANCER_RISK__MAX_BASSIS": "0.1",
            "REBALANCER_RISK__MAX_BASIS": "abc",
            "REBALANCER_VENUES__MAIN__ROLES": "spot,hedge",
        },
    )
    assert 'risk.max_bassis: unknown key; did you mean "max_basis"? (from env REBALANCER_RISK__MAX_BASSIS)' in found
    assert 'risk.max_basis: must be a number (got "abc") (from env REBALANCER_RISK__MAX_BASIS)' in found
    roles = [p for p in found if p.startswith("venues.main.roles: not valid JSON")]
    assert len(roles) == 1 and roles[0].endswith("(from env REBALANCER_VENUES__MAIN__ROLES)")


def test_load_settings_when_no_path_then_uses_rebalancer_config_env(tmp_path: Path, no_secrets: Path) -> None:
    """Without a path, REBALANCER_CONFIG names the file."""
    path = tmp_path / "elsewhere.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    settings = load_settings(env={"REBALANCER_CONFIG": str(path)}, secrets_dir=no_secrets)
    assert settings.source_path == path


def test_secrets_dir_when_files_present_then_stripped_and_under_env(load, tmp_path: Path) -> None:
    """Secret files fill keys (contents stripped); env wins over them; they win over the file."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "venues__main__api_key").write_text("  file-key\n", encoding="utf-8")
    (secrets / "venues__main__api_secret").write_text("file-secret\n", encoding="utf-8")
    (secrets / "risk__max_basis").write_text("0.03\n", encoding="utf-8")
    (secrets / "..data").mkdir()  # Kubernetes mount internals are ignored
    settings = load(MINIMAL + "[risk]\nmax_basis = 0.01\n", secrets_dir=secrets)
    assert settings.venues["main"].api_key.get_secret_value() == "file-key"
    assert settings.venues["main"].api_secret.get_secret_value() == "file-secret"
    assert settings.risk.max_basis == Decimal("0.03")

    settings = load(MINIMAL, env={"REBALANCER_VENUES__MAIN__API_KEY": "env-key"}, secrets_dir=secrets)
    assert settings.venues["main"].api_key.get_secret_value() == "env-key"


def test_secrets_dir_when_file_names_unknown_key_then_problem_names_file(problems, tmp_path: Path) -> None:
    """A secret file for a key that does not exist is reported with the file's path."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "venues__main__apikey").write_text("k", encoding="utf-8")
    found = problems(MINIMAL, secrets_dir=secrets)
    assert found == [
        f'venues.main.apikey: unknown key; did you mean "api_key"? (from secret file {secrets / "venues__main__apikey"})'
    ]


def test_secrets_dir_when_named_by_env_then_used(tmp_path: Path) -> None:
    """REBALANCER_SECRETS_DIR selects the secrets dir; a missing one is a problem."""
    path = tmp_path / "c.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    secrets = tmp_path / "s"
    secrets.mkdir()
    (secrets / "venues__main__api_key").write_text("k", encoding="utf-8")
    (secrets / "venues__main__api_secret").write_text("s", encoding="utf-8")
    settings = load_settings(path, env={"REBALANCER_SECRETS_DIR": str(secrets)})
    assert settings.venues["main"].has_keys
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={"REBALANCER_SECRETS_DIR": str(tmp_path / "missing")})
    assert "secrets directory not found" in info.value.problems[0]


def test_secrets_when_dumped_then_never_shown(load) -> None:
    """Secret values never appear in str, repr, redacted_dict or its JSON."""
    settings = load(
        MINIMAL,
        env={
            "REBALANCER_VENUES__MAIN__API_KEY": "KEY-VALUE-123",
            "REBALANCER_VENUES__MAIN__API_SECRET": "SECRET-VALUE-456",
            "REBALANCER_ALERTS__WEBHOOK_URL": "https://hooks.example.com/TOKEN-789",
        },
    )
    dumped = settings.redacted_dict()
    texts = [str(settings), repr(settings), repr(settings.venues["main"]), json.dumps(dumped)]
    for text in texts:
        for secret in ("KEY-VALUE-123", "SECRET-VALUE-456", "TOKEN-789"):
            assert secret not in text
    assert dumped["venues"]["main"]["api_key"] == "**********"
    assert dumped["alerts"]["webhook_url"] == "**********"
    assert dumped["risk"]["max_basis"] == "0.01"  # Decimals as strings


def test_secret_when_invalid_then_value_not_echoed(problems) -> None:
    """A wrongly typed secret is reported without its value."""
    found = problems(MINIMAL.replace('roles = ["spot", "hedge"]', 'roles = ["spot", "hedge"]\napi_key = 987654321'))
    assert found == ["venues.main.api_key: must be a string"]


# --------------------------------------------------------------------------- risk limits


def test_risk_limits_when_kill_switch_file_exists_then_halted(load, tmp_path: Path) -> None:
    """The kill-switch file halts; the config flag halts even when a caller passes halted=False."""
    halt = tmp_path / "HALT"
    settings = load(MINIMAL + f"[risk]\nkill_switch_file = {json.dumps(str(halt))}\n")
    assert settings.risk_limits().halted is False
    halt.touch()
    assert settings.risk_limits().halted is True
    assert settings.risk_limits(halted=False).halted is False

    flagged = load(MINIMAL + "[risk]\nhalted = true\n")
    assert flagged.risk_limits().halted is True
    assert flagged.risk_limits(halted=False).halted is True


# --------------------------------------------------------------------------- bad input


def test_targets_when_sum_not_one_then_problem_lists_weights(problems) -> None:
    """Weights that do not sum to 1 are reported with the sum and each weight."""
    found = problems('[portfolio]\ntargets = { BTC = 0.5, ETH = 0.4 }\n' + VENUE)
    assert found == ["portfolio.targets: weights sum to 0.9, expected 1 (BTC=0.5, ETH=0.4)"]


@pytest.mark.parametrize(
    ("portfolio", "expected"),
    [
        ("targets = { BTC = 1.1, ETH = -0.1 }", "portfolio.targets.ETH: must be >= 0 (got -0.1)"),
        (
            'targets = { BTC = 1 }\nexternal = [ { asset = "BTC", amount = -0.5, label = "cold" } ]',
            "portfolio.external[0].amount: must be >= 0 (got -0.5)",
        ),
        ("targets = { BTC = 0.5, btc = 0.5 }", 'portfolio.targets: BTC is given twice ("BTC" and "btc")'),
        ('targets = { "BTC-PERP" = 1 }', 'portfolio.targets.BTC-PERP: invalid asset code "BTC-PERP"'),
        ("targets = {}", "portfolio.targets: must not be empty"),
        ('nav = "both"\ntargets = { BTC = 1 }', "portfolio.nav: must be 'spot' or 'account'"),
        ("quote = \"USDT\"", 'portfolio: set "targets"'),
    ],
)
def test_portfolio_when_invalid_then_problem_names_key(problems, portfolio: str, expected: str) -> None:
    """Negative weights and amounts, bad codes and missing targets name their key."""
    found = problems(f"[portfolio]\n{portfolio}\n" + VENUE)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_groups_when_invalid_then_each_rule_reported(problems) -> None:
    """In-group sums, group sums, shared assets and targets-plus-groups are all caught."""
    found = problems(
        """
[portfolio]
targets = { BTC = 1 }
[portfolio.groups.L1]
weight = 0.6
members = { SOL = 0.5, AVAX = 0.4 }
[portfolio.groups.Alt]
weight = 0.3
members = { SOL = 1 }
"""
        + VENUE
    )
    assert found == [
        "portfolio.groups.L1.members: weights sum to 0.9, expected 1 (SOL=0.5, AVAX=0.4)",
    ]
    found = problems(
        """
[portfolio]
targets = { BTC = 1 }
[portfolio.groups.L1]
weight = 0.6
members = { SOL = 0.5, AVAX = 0.5 }
[portfolio.groups.Alt]
weight = 0.3
members = { SOL = 1 }
"""
        + VENUE
    )
    assert found == [
        "portfolio.groups: group weights sum to 0.9, expected 1 (L1=0.6, Alt=0.3)",
        "portfolio.groups: an asset may belong to one group only (SOL is in L1, Alt)",
    ]
    found = problems(
        '[portfolio]\ntargets = { BTC = 1 }\n[portfolio.groups.All]\nweight = 1\nmembers = { BTC = 1 }\n' + VENUE
    )
    assert found == ['portfolio: both "targets" and "groups" are set; keep exactly one']


@pytest.mark.parametrize(
    ("rebalance", "expected"),
    [
        ("band = 0", "rebalance.band: must be > 0 (got 0)"),
        ("band = -0.01", "rebalance.band: must be > 0 (got -0.01)"),
        ("band = 1", "rebalance.band: must be < 1 (got 1)"),
        ("relative_band = 0", "rebalance.relative_band: must be > 0"),
        ("min_order_notional = -1", "rebalance.min_order_notional: must be >= 0"),
        ('order_type = "limit_ioc"\nmax_slippage = 0', "rebalance.max_slippage: must be > 0"),
        ('order_type = "limit"', "rebalance.order_type: must be 'market' or 'limit_ioc'"),
        ('schedule = "15x"', 'rebalance.schedule: "15x" is neither an interval'),
        ('schedule = "0m"', "rebalance.schedule: interval must be > 0"),
        ('schedule = "61 * * * *"', 'rebalance.schedule: cron minute field "61"'),
        ('schedule = "* * * * funday"', "rebalance.schedule: cron day of week field"),
        ("max_consecutive_failures = 0", "rebalance.max_consecutive_failures: must be >= 1"),
        ('on_failures = "STOP"', "rebalance.on_failures: must be 'REDUCING' or 'HALTED'"),
        ("jitter_s = -1", "rebalance.jitter_s: must be >= 0"),
    ],
)
def test_rebalance_when_invalid_then_problem_names_key(problems, rebalance: str, expected: str) -> None:
    """Bands, schedules and daemon keys are range-checked with their key path."""
    found = problems(MINIMAL + f"[rebalance]\n{rebalance}\n")
    assert len(found) == 1 and found[0].startswith(expected), found


@pytest.mark.parametrize(
    ("venue", "expected"),
    [
        (
            'exchange = "binance"\nmode = "testnet"\nroles = ["spot", "hedge"]',
            'venues.main.mode: "testnet" is not available for binance; use "demo"',
        ),
        (
            'exchange = "okx"\nmode = "testnet"\nroles = ["spot", "hedge"]',
            'venues.main.mode: "testnet" is not available for okx; use "demo"',
        ),
        (
            'exchange = "binanceusdm"\nmode = "testnet"\nroles = ["hedge"]',
            'venues.main.mode: "testnet" is not available for binanceusdm; use "demo"',
        ),
        (
            'exchange = "binance"\nmode = "local"\nroles = ["spot", "hedge"]',
            'venues.main.base_url: required with mode = "local"',
        ),
        (
            'exchange = "binance"\nbase_url = "http://127.0.0.1:8765"\nroles = ["spot", "hedge"]',
            'venues.main.base_url: only used with mode = "local"',
        ),
        (
            'exchange = "binance"\nmode = "local"\nbase_url = "127.0.0.1:8765"\nroles = ["spot", "hedge"]',
            "venues.main.base_url: must be an http(s) URL",
        ),
        (
            'exchange = "kraken"\nroles = ["spot", "hedge"]',
            'venues.main.exchange: "kraken" is not supported '
            "(supported: binance, binanceusdm, bybit, okx, bingx, mexc, weex)",
        ),
        (
            'exchange = "mexc"\nmode = "demo"\nroles = ["spot", "hedge"]',
            'venues.main.mode: "demo" is not available for mexc; MEXC has no demo or testnet that ccxt reaches',
        ),
        (
            'exchange = "mexc"\nmode = "testnet"\nroles = ["spot", "hedge"]',
            'venues.main.mode: "testnet" is not available for mexc; MEXC has no demo or testnet',
        ),
        (
            'exchange = "bingx"\nmode = "testnet"\nroles = ["spot", "hedge"]',
            'venues.main.mode: "testnet" is not available for bingx; use "demo"',
        ),
        (
            'exchange = "weex"\nmode = "testnet"\nroles = ["spot", "hedge"]',
            'venues.main.mode: "testnet" is not available for weex; use "demo"',
        ),
        ('exchange = "binance"\nroles = []', "venues.main.roles: must not be empty"),
        ('exchange = "binance"\nroles = ["spot", "hedge", "spot"]', "venues.main.roles: a role is listed twice"),
        ('exchange = "binance"\nroles = ["spot", "hedg"]', "venues.main.roles[1]: must be 'spot' or 'hedge'"),
        ('exchange = "binanceusdm"\nroles = ["spot", "hedge"]', "venues.main.roles: binanceusdm has no spot wallet"),
        ('exchange = "binance"\nroles = ["spot", "hedge"]\nleverage = 0', "venues.main.leverage: must be >= 1"),
        ('exchange = "binance"\nroles = ["spot", "hedge"]\nleverage = 126', "venues.main.leverage: must be <= 125"),
        (
            'exchange = "binance"\nroles = ["spot", "hedge"]\nmargin_mode = "isolated"',
            'venues.main.margin_mode: "isolated" is not supported: only "cross"',
        ),
        (
            'exchange = "binance"\nroles = ["spot", "hedge"]\napi_key = "k"',
            "venues.main.api_secret: required when api_key",
        ),
        (
            'exchange = "okx"\nroles = ["spot", "hedge"]\napi_key = "k"\napi_secret = "s"',
            "venues.main.password: okx API keys need their passphrase",
        ),
        (
            'exchange = "weex"\nroles = ["spot", "hedge"]\napi_key = "k"\napi_secret = "s"',
            "venues.main.password: weex API keys need their passphrase",
        ),
        ('roles = ["spot", "hedge"]', "venues.main.exchange: required"),
    ],
)
def test_venue_when_invalid_then_problem_names_key(problems, venue: str, expected: str) -> None:
    """Exchange, mode, base_url, roles, leverage, margin and key rules name the venue key."""
    found = problems(f"[portfolio]\ntargets = {{ BTC = 1 }}\n[venues.main]\n{venue}\n")
    assert len(found) == 1 and found[0].startswith(expected), found


def test_venue_when_bybit_testnet_or_okx_demo_then_valid(load) -> None:
    """The modes each exchange really offers are accepted (BingX and WEEX demo through ccxt's sandbox;
    MEXC only live and local)."""
    for exchange, mode in (("bybit", "testnet"), ("bybit", "demo"), ("okx", "demo"), ("binanceusdm", "local"),
                           ("bingx", "live"), ("bingx", "demo"), ("bingx", "local"), ("mexc", "live"),
                           ("mexc", "local"), ("weex", "live"), ("weex", "demo"), ("weex", "local")):
        hedge_only = exchange == "binanceusdm" or (exchange, mode) == ("bingx", "demo")  # no spot markets there
        roles = '["hedge"]' if hedge_only else '["spot", "hedge"]'
        spot = '[venues.spot]\nexchange = "binance"\nroles = ["spot"]\n' if hedge_only else ""
        base_url = 'base_url = "http://127.0.0.1:8765"\n' if mode == "local" else ""
        settings = load(
            f'[portfolio]\ntargets = {{ BTC = 1 }}\n[venues.main]\nexchange = "{exchange}"\nmode = "{mode}"\n'
            f"{base_url}roles = {roles}\n{spot}"
        )
        assert settings.hedge_venue()[1].mode == mode


@pytest.mark.parametrize(
    ("venues", "expected"),
    [
        (
            '[venues.a]\nexchange = "binance"\nroles = ["spot", "hedge"]\n'
            '[venues.b]\nexchange = "bybit"\nroles = ["hedge"]',
            ['venues: 2 venues have role "hedge" (a, b); exactly one may'],
        ),
        (
            '[venues.a]\nexchange = "binance"\nroles = ["spot"]',
            ['venues: no venue has role "hedge"; add "hedge" to the roles of exactly one venue'],
        ),
        (
            '[venues.a]\nexchange = "binance"\nroles = ["hedge"]',
            ['venues: no venue has role "spot"; add "spot" to the roles of exactly one venue'],
        ),
        ("", ["venues: required (add a [venues.main] table with exchange and roles)"]),
    ],
)
def test_venues_when_roles_wrong_then_problem(problems, venues: str, expected: list[str]) -> None:
    """Exactly one hedge venue and exactly one spot venue."""
    assert problems(f"[portfolio]\ntargets = {{ BTC = 1 }}\n{venues}\n") == expected


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("[risks]\nmax_basis = 0.1", 'risks: unknown key; did you mean "risk"?'),
        ("[risk]\nmax_bassis = 0.1", 'risk.max_bassis: unknown key; did you mean "max_basis"?'),
        ("[rebalance]\nbnad = 0.1", 'rebalance.bnad: unknown key; did you mean "band"?'),
        ("[health]\nzzz = 1", "health.zzz: unknown key"),
        ("[logging]\nlevel = \"verbose\"", "logging.level: must be 'debug', 'info', 'warning' or 'error'"),
        ("[alerts]\nwebhook_url = \"hooks.slack.com/x\"", "alerts.webhook_url: must be an http(s) URL"),
        (
            '[alerts]\nwebhook_url = "https://api.telegram.org/botX/sendMessage"\nformat = "telegram"',
            'alerts.telegram_chat_id: required when format = "telegram"',
        ),
        ("[health]\nport = 70000", "health.port: must be <= 65535"),
        ("[risk]\nmax_margin_usage = 0", "risk.max_margin_usage: must be > 0"),
    ],
)
def test_other_tables_when_invalid_then_problem_names_key(problems, extra: str, expected: str) -> None:
    """Unknown keys (with a suggestion when close) and bad values in the other tables."""
    found = problems(MINIMAL + extra + "\n")
    assert len(found) == 1 and found[0].startswith(expected), found


def test_top_level_when_underscore_key_then_unknown_not_a_settings_option(problems) -> None:
    """A "_"-prefixed top-level key is an unknown key, never a pydantic-settings init option."""
    assert problems('_secrets_dir = "/tmp"\n' + MINIMAL) == ["_secrets_dir: unknown key"]


def test_unknown_keys_when_nested_deep_then_full_path(problems) -> None:
    """Unknown keys inside venues and groups carry their full path and a suggestion."""
    found = problems(
        """
[portfolio.groups.L1]
wieght = 1
members = { BTC = 1 }
[venues.main]
exchange = "binance"
roles = ["spot", "hedge"]
levrage = 3
"""
    )
    assert 'portfolio.groups.L1.wieght: unknown key; did you mean "weight"?' in found
    assert 'venues.main.levrage: unknown key; did you mean "leverage"?' in found


def test_toml_when_malformed_then_file_line_and_column(problems, tmp_path: Path) -> None:
    """A TOML syntax error names the file, line and column."""
    found = problems('[portfolio]\ntargets = { BTC = 0.5, ETH = }\n')
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path / 'config.toml'}: invalid TOML at line 2, column 30: ")


def test_load_settings_when_file_missing_then_hint_to_copy_example(tmp_path: Path) -> None:
    """A missing file names the path and how to create it."""
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "nope.toml", env={})
    assert info.value.problems == [
        f"{tmp_path / 'nope.toml'}: config file not found; "
        "create one with `cp config/example.toml config/rebalancer.toml`"
    ]


def test_config_when_many_problems_then_all_reported_at_once(problems) -> None:
    """Problems in different tables, and several in one venue, are reported together."""
    found = problems(
        """
[portfolio]
targets = { BTC = 0.5, ETH = 0.4 }
external = [ { asset = "BTC", amount = -1 } ]
[rebalance]
band = 0
[venues.main]
exchange = "binance"
mode = "testnet"
roles = ["spot", "hedge"]
levrage = 2
"""
    )
    assert found == [
        "portfolio.targets: weights sum to 0.9, expected 1 (BTC=0.5, ETH=0.4)",
        "portfolio.external[0].amount: must be >= 0 (got -1)",
        "rebalance.band: must be > 0 (got 0)",
        'venues.main.mode: "testnet" is not available for binance; use "demo": ccxt no longer supports the '
        "Binance futures testnet, demo trading (demo.binance.com) replaced it (see docs/configuration.md#venue-modes)",
        'venues.main.levrage: unknown key; did you mean "leverage"?',
    ]


@pytest.mark.parametrize("exchange", ["binance", "binanceusdm", "bybit", "okx"])
@pytest.mark.parametrize("mode", ["live", "demo", "testnet", "local"])
def test_venue_mode_when_validated_then_accepted_exactly_when_the_exchange_spec_has_it(load, problems, exchange, mode):
    """Config accepts a mode iff the venue layer's ExchangeSpec can reach it, and a refusal carries the spec's hint."""
    from rebalancer.venues.exchanges import EXCHANGES

    spec = EXCHANGES[exchange]
    roles = '["spot", "hedge"]' if spec.has_spot else '["hedge"]'
    spot = "" if spec.has_spot else '\n[venues.spot]\nexchange = "binance"\nroles = ["spot"]\n'
    base_url = '\nbase_url = "http://127.0.0.1:8765"' if mode == "local" else ""
    text = ('[portfolio]\ntargets = { BTC = 0.5, ETH = 0.5 }\n[venues.main]\n'
            f'exchange = "{exchange}"\nmode = "{mode}"\nroles = {roles}{base_url}\n{spot}')
    if mode in spec.modes:
        assert load(text).venues["main"].mode == mode
    else:
        (line,) = [p for p in problems(text) if p.startswith("venues.main.mode")]
        assert f'"{mode}" is not available for {exchange}; {spec.mode_problem(mode)}' in line


# --------------------------------------------------------------------------- paths

PATHS = MINIMAL + """
[journal]
path = "var/j.db"

[logging]
file = "logs/../var/r.log"

[risk]
kill_switch_file = "HALT"
"""


def _paths(settings: Settings) -> tuple:
    return (settings.journal.path, settings.logging.file, settings.risk.kill_switch_file,
            settings.journal_path(), settings.log_file_path(), settings.kill_switch_path(), settings.source_path)


def test_paths_when_loaded_from_two_working_dirs_then_identical_and_absolute(
        tmp_path: Path, no_secrets: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative paths resolve against the config file's directory, not the working directory, so the
    daemon and a command run from anywhere else name the same journal, log and kill-switch file."""
    conf = tmp_path / "deploy" / "conf"
    conf.mkdir(parents=True)
    (conf / "rebalancer.toml").write_text(PATHS, encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    monkeypatch.chdir(conf)
    here = _paths(load_settings("rebalancer.toml", env={}, secrets_dir=no_secrets))
    monkeypatch.chdir(elsewhere)
    there = _paths(load_settings("../deploy/conf/rebalancer.toml", env={}, secrets_dir=no_secrets))

    assert here == there
    assert here[:3] == (str(conf / "var" / "j.db"), str(conf / "var" / "r.log"), str(conf / "HALT"))
    assert here[3:6] == (conf / "var" / "j.db", conf / "var" / "r.log", conf / "HALT")
    assert here[6] == conf / "rebalancer.toml"
    assert all(Path(p).is_absolute() for p in here)


def test_paths_when_env_override_relative_then_config_dir_too(
        tmp_path: Path, no_secrets: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative path from the environment follows the same rule as the file's: the config's directory."""
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "c.toml").write_text(PATHS, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    env = {"REBALANCER_JOURNAL__PATH": "data/other.db", "REBALANCER_RISK__KILL_SWITCH_FILE": "/abs/HALT"}
    settings = load_settings(conf / "c.toml", env=env, secrets_dir=no_secrets)
    assert settings.journal.path == str(conf / "data" / "other.db")
    assert settings.kill_switch_path() == Path("/abs/HALT")  # absolute paths are kept as given


def test_paths_when_log_file_empty_then_no_file(load) -> None:
    """logging.file = "" means no log file; it is not turned into the config directory."""
    settings = load(MINIMAL + '[logging]\nfile = ""\n')
    assert settings.logging.file == "" and settings.log_file_path() is None


def test_kill_switch_when_file_in_config_dir_then_engaged_from_any_working_dir(
        tmp_path: Path, no_secrets: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kill switch is looked up next to the config, wherever the process runs."""
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "c.toml").write_text(PATHS, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    settings = load_settings(conf / "c.toml", env={}, secrets_dir=no_secrets)
    assert not settings.kill_switch_engaged()
    (conf / "HALT").touch()
    assert settings.kill_switch_engaged() and settings.risk_limits().halted
    assert not (tmp_path / "HALT").exists()


def test_paths_when_settings_built_from_values_then_working_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a config file there is no config directory: relative paths stay relative and the
    accessors resolve them against the working directory."""
    monkeypatch.chdir(tmp_path)
    settings = Settings(portfolio={"targets": {"BTC": "0.5", "ETH": "0.5"}},
                        venues={"main": {"exchange": "binance", "roles": ["spot", "hedge"]}})
    assert settings.source_path is None and settings.journal.path == "var/rebalancer.db"
    assert settings.journal_path() == tmp_path / "var" / "rebalancer.db"
    assert settings.kill_switch_path() == tmp_path / "var" / "HALT"


# --------------------------------------------------------------------------- configs that would destroy state (issue 11)


def test_kill_switch_equal_to_the_journal_then_refused_naming_the_key(problems) -> None:
    """`halt` would overwrite the journal and `resume` delete it."""
    text = MINIMAL + '[risk]\nkill_switch_file = "var/j.db"\n[journal]\npath = "var/j.db"\n'
    (line,) = problems(text)
    assert line.startswith("risk.kill_switch_file: ") and "journal.path" in line


@pytest.mark.parametrize("suffix", ["-wal", "-shm", ".lock"])
def test_log_file_on_a_journal_companion_then_refused(problems, suffix: str) -> None:
    text = MINIMAL + f'[journal]\npath = "var/j.db"\n[logging]\nfile = "var/j.db{suffix}"\n'
    assert [p.split(":")[0] for p in problems(text)] == ["logging.file"]


def test_kill_switch_equal_to_the_config_file_then_refused(problems) -> None:
    assert [p.split(":")[0] for p in problems(MINIMAL + '[risk]\nkill_switch_file = "config.toml"\n')] == ["config file"]


def test_env_cannot_turn_a_demo_config_live(problems, load) -> None:
    """mode = "live" only from the config file: the environment may pick demo, testnet or local."""
    (line,) = problems(MINIMAL, env={"REBALANCER_VENUES__MAIN__MODE": "live"})
    assert line.startswith("venues.main.mode: ") and "REBALANCER_VENUES__MAIN__MODE" in line
    assert load(MINIMAL, env={"REBALANCER_VENUES__MAIN__MODE": "demo"}).venues["main"].mode == "demo"
    live = MINIMAL.replace('roles = ["spot", "hedge"]', 'roles = ["spot", "hedge"]\nmode = "live"')
    assert load(live).venues["main"].mode == "live"


def test_keys_written_in_the_file_are_noted_but_the_local_pair_is_not(load) -> None:
    keyed = MINIMAL.replace('roles = ["spot", "hedge"]', 'roles = ["spot", "hedge"]\napi_key = "k"\napi_secret = "s"')
    assert load(keyed).secrets_in_file == ("venues.main.api_key", "venues.main.api_secret")
    local = keyed.replace('exchange = "binance"', 'exchange = "binance"\nmode = "local"\nbase_url = "http://127.0.0.1:1"')
    assert load(local).secrets_in_file == ()
