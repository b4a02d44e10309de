"""Configuration: frozen pydantic(-settings) models for the TOML file, env overrides and secrets.

`load_settings` layers defaults < TOML file < secrets dir < environment and reports every problem by key path.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

from rebalancer.domain import NavBasis, PlanParams, RiskLimits
from rebalancer.venues.exchanges import EXCHANGES

ENV_PREFIX = "REBALANCER_"
ENV_DELIMITER = "__"
DEFAULT_CONFIG_PATH = Path("config/rebalancer.toml")
DEFAULT_SECRETS_DIR = Path("/run/secrets/rebalancer")
WEIGHT_TOLERANCE = Decimal("1e-9")

# Key names whose values are never echoed back in an error message.
SECRET_KEYS = frozenset({"api_key", "api_secret", "password", "webhook_url", "token"})


class ConfigError(Exception):
    """The configuration cannot be used: fix the listed keys (each problem is one line naming its key path)."""

    def __init__(self, problems: Iterable[str], path: str | Path | None = None) -> None:
        self.problems: list[str] = list(problems)
        self.path = Path(path) if path is not None else None
        where = f" in {self.path}" if self.path is not None else ""
        count = len(self.problems)
        super().__init__(f"{count} config problem{'s' if count != 1 else ''}{where}: " + "; ".join(self.problems))


# --------------------------------------------------------------------------- exchanges

# The one table of exchanges (modes, hints, wallets, passphrase rule) is the venue layer's; config reads it.
SUPPORTED_EXCHANGES = tuple(EXCHANGES)
MODES_DOC = "docs/configuration.md#venue-modes"


# --------------------------------------------------------------------------- helpers

Problem = tuple[tuple[str, ...], str]  # (key path below the model that found it, message)


class RuleViolations(ValueError):
    """Several cross-field problems found by one model's rules; each keeps its own key path."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{'.'.join(sub) + ': ' if sub else ''}{msg}" for sub, msg in problems))


def fmt_decimal(value: Decimal) -> str:
    """Decimal as a plain string without trailing zeros or exponent (0.50 -> 0.5, 1E+1 -> 10)."""
    return format(value.normalize(), "f")


def _weights_text(weights: Mapping[str, Decimal]) -> str:
    return ", ".join(f"{asset}={fmt_decimal(w)}" for asset, w in weights.items())


def _sums_to_one(weights: Mapping[str, Decimal]) -> Problem | None:
    total = sum(weights.values(), Decimal(0))
    if abs(total - 1) > WEIGHT_TOLERANCE:
        return (), f"weights sum to {fmt_decimal(total)}, expected 1 ({_weights_text(weights)})"
    return None


_ASSET_RE = re.compile(r"^[A-Z0-9]{1,20}$")


def _asset_code(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"asset code must be a string, got {value!r}")
    code = value.strip().upper()
    if not _ASSET_RE.match(code):
        raise ValueError(f'invalid asset code "{value}": use 1-20 letters or digits (e.g. BTC)')
    return code


def _reject_case_duplicates(value: object) -> object:
    # Asset codes are upper-cased, so "btc" and "BTC" would silently collapse into one entry.
    if isinstance(value, Mapping):
        seen: dict[str, str] = {}
        for key in value:
            if isinstance(key, str):
                folded = key.strip().upper()
                if folded in seen:
                    raise ValueError(f'{folded} is given twice ("{seen[folded]}" and "{key}")')
                seen[folded] = key
    return value


def _empty_is_none(value: object) -> object:
    # An empty env var or secret file means "not set", not an empty credential.
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _http_url_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "must be an http(s) URL like http://127.0.0.1:8765"
    return None


AssetCode = Annotated[str, BeforeValidator(_asset_code)]
NonNegDecimal = Annotated[Decimal, Field(ge=0)]
Weights = Annotated[dict[AssetCode, NonNegDecimal], BeforeValidator(_reject_case_duplicates)]
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_empty_is_none)]


class _Section(BaseModel):
    """Base of every config table: frozen, unknown keys rejected, cross-field rules run together."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Small functions (model -> Problem | None); all run so every problem is reported at once.
    _rules: ClassVar[tuple[Callable[[Any], Problem | None], ...]] = ()

    @model_validator(mode="after")
    def _check_rules(self) -> _Section:
        problems = [p for rule in self._rules if (p := rule(self)) is not None]
        if problems:
            raise RuleViolations(problems)
        return self


# --------------------------------------------------------------------------- [portfolio]


class ExternalHolding(_Section):
    """Spot held outside any venue (cold wallet): counted in q_a, never traded."""

    asset: AssetCode
    amount: NonNegDecimal
    label: str = ""


class GroupSettings(_Section):
    """A sector: its share of the portfolio and the split inside it (w_a = weight * members[a])."""

    weight: NonNegDecimal
    members: Weights = Field(min_length=1)

    @field_validator("members")
    @classmethod
    def _members_sum_to_one(cls, members: dict[str, Decimal]) -> dict[str, Decimal]:
        if problem := _sums_to_one(members):
            raise RuleViolations([problem])
        return members


def _exactly_one_weight_source(p: PortfolioSettings) -> Problem | None:
    if p.targets is not None and p.groups is not None:
        return (), 'both "targets" and "groups" are set; keep exactly one'
    if p.targets is None and p.groups is None:
        return (), 'set "targets" (e.g. targets = { BTC = 0.5, ETH = 0.5 }) or [portfolio.groups.NAME] tables'
    return None


def _group_weights_sum_to_one(groups: Mapping[str, GroupSettings]) -> Problem | None:
    problem = _sums_to_one({name: g.weight for name, g in groups.items()})
    return ((), "group " + problem[1]) if problem else None


def _asset_in_one_group(groups: Mapping[str, GroupSettings]) -> Problem | None:
    owners: dict[str, list[str]] = {}
    for name, group in groups.items():
        for asset in group.members:
            owners.setdefault(asset, []).append(name)
    shared = {asset: names for asset, names in owners.items() if len(names) > 1}
    if shared:
        listed = "; ".join(f"{asset} is in {', '.join(names)}" for asset, names in shared.items())
        return (), f"an asset may belong to one group only ({listed})"
    return None


class PortfolioSettings(_Section):
    """What to hold: target weights (flat or by group, a quote-currency target is cash) and the NAV basis."""

    quote: AssetCode = "USDT"
    nav: NavBasis = NavBasis.SPOT
    targets: Weights | None = Field(default=None, min_length=1)
    groups: dict[str, GroupSettings] | None = Field(default=None, min_length=1)
    external: tuple[ExternalHolding, ...] = ()

    _rules = (_exactly_one_weight_source,)

    # Field-level rules run even when a sibling key is invalid, so more problems surface at once.
    @field_validator("targets")
    @classmethod
    def _targets_sum_to_one(cls, targets: dict[str, Decimal] | None) -> dict[str, Decimal] | None:
        if targets is not None and (problem := _sums_to_one(targets)):
            raise RuleViolations([problem])
        return targets

    @field_validator("groups")
    @classmethod
    def _group_rules(cls, groups: dict[str, GroupSettings] | None) -> dict[str, GroupSettings] | None:
        if groups is not None:
            problems = [p for rule in (_group_weights_sum_to_one, _asset_in_one_group) if (p := rule(groups))]
            if problems:
                raise RuleViolations(problems)
        return groups

    def flat_targets(self) -> dict[str, Decimal]:
        """Target weight per asset, groups resolved (w_a = W_group * w_in_group)."""
        if self.targets is not None:
            return {asset: w.normalize() for asset, w in self.targets.items()}
        flat: dict[str, Decimal] = {}
        for group in (self.groups or {}).values():
            for asset, w in group.members.items():
                flat[asset] = (group.weight * w).normalize()
        return flat


# --------------------------------------------------------------------------- [rebalance]

_INTERVAL_RE = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# (name, low, high, names mapped to low, low+1, ...)
_CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)


def _cron_value(token: str, low: int, high: int, names: tuple[str, ...]) -> int:
    if token.lower() in names:
        return low + names.index(token.lower())
    if not token.isdigit():
        raise ValueError(f'"{token}" is not a number')
    value = int(token)
    if not low <= value <= high:
        raise ValueError(f'"{token}" is outside {low}-{high}')
    return value


def _cron_field_values(text: str, low: int, high: int, names: tuple[str, ...]) -> set[int]:
    """The set of values one cron field selects (supports *, a, a-b, */n, a-b/n and lists)."""
    values: set[int] = set()
    for item in text.split(","):
        span, _, step_text = item.partition("/")
        if step_text and (not step_text.isdigit() or int(step_text) == 0):
            raise ValueError(f'step "{step_text}" must be a positive number')
        step = int(step_text) if step_text else 1
        if span == "*":
            start, end = low, high
        elif "-" in span:
            first, _, last = span.partition("-")
            start, end = _cron_value(first, low, high, names), _cron_value(last, low, high, names)
            if start > end:
                raise ValueError(f'range "{span}" runs backwards')
        else:
            start = _cron_value(span, low, high, names)
            end = start if not step_text else high
        values.update(range(start, end + 1, step))
    return values


def cron_problem(expr: str) -> str | None:
    """Why a 5-field cron expression is invalid, or None."""
    fields = expr.split()
    if len(fields) != 5:
        return f'"{expr}" is neither an interval (30s, 15m, 1h, 1d) nor a 5-field cron expression'
    for text, (name, low, high, names) in zip(fields, _CRON_FIELDS):
        try:
            _cron_field_values(text, low, high, names)
        except ValueError as exc:
            return f'cron {name} field "{text}": {exc}'
    return None


class RebalanceSettings(_Section):
    """When and how to trade: schedule, drift bands, order style and the daemon's failure policy."""

    schedule: str = "15m"
    band: Decimal = Field(default=Decimal("0.02"), gt=0, lt=1)
    relative_band: Decimal | None = Field(default=None, gt=0)
    min_order_notional: NonNegDecimal = Decimal(10)
    order_type: Literal["market", "limit_ioc"] = "market"
    max_slippage: Decimal = Field(default=Decimal("0.005"), gt=0, lt=1)
    run_at_start: bool = True
    jitter_s: float = Field(default=0.0, ge=0)
    max_consecutive_failures: int = Field(default=3, ge=1)
    on_failures: Literal["REDUCING", "HALTED"] = "HALTED"
    one_legged: Literal["repair", "unwind"] = "repair"
    # A hedge position (or open order) the journal cannot explain: "halt" until `rebalancer resume`
    # (which adopts the exchange's positions), or "adopt" them as the new truth and go on.
    on_external_change: Literal["halt", "adopt"] = "halt"
    confirm_timeout_s: float = Field(default=10.0, gt=0)
    shutdown_timeout_s: float = Field(default=30.0, gt=0)

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str) -> str:
        value = value.strip()
        match = _INTERVAL_RE.match(value)
        if match:
            if int(match.group(1)) == 0:
                raise ValueError("interval must be > 0")
            return value
        problem = cron_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @property
    def interval_seconds(self) -> int | None:
        """The schedule as seconds when it is an interval, None when it is a cron expression."""
        match = _INTERVAL_RE.match(self.schedule)
        return int(match.group(1)) * _UNIT_SECONDS[match.group(2)] if match else None

    @property
    def cron_fields(self) -> dict[str, str] | None:
        """The cron schedule as APScheduler CronTrigger keyword arguments, None for an interval.

        The day of week is written as names because APScheduler 3 numbers Monday as 0, cron numbers Sunday as 0.
        """
        if self.interval_seconds is not None:
            return None
        minute, hour, day, month, dow = self.schedule.split()
        if dow == "*":
            day_of_week = "*"
        else:
            _, low, high, names = _CRON_FIELDS[4]
            days = sorted({v % 7 for v in _cron_field_values(dow, low, high, names)})
            day_of_week = ",".join(_DAYS[d] for d in days)
        return {"minute": minute, "hour": hour, "day": day, "month": month, "day_of_week": day_of_week}


# --------------------------------------------------------------------------- [venues.NAME]


def _mode_problem(exchange: str, mode: str) -> str | None:
    hint = EXCHANGES[exchange].mode_problem(mode)
    if hint is None:
        return None
    return f'"{mode}" is not available for {exchange}; {hint} (see {MODES_DOC})'


def _base_url_iff_local(v: VenueSettings) -> Problem | None:
    if v.mode == "local" and v.base_url is None:
        return ("base_url",), 'required with mode = "local" (the local exchange, e.g. "http://127.0.0.1:8765")'
    if v.mode != "local" and v.base_url is not None:
        return ("base_url",), f'only used with mode = "local"; remove it or set mode = "local" (mode is "{v.mode}")'
    return None


def _roles_problem(exchange: str, roles: tuple[str, ...]) -> str | None:
    if len(set(roles)) != len(roles):
        return "a role is listed twice"
    if "spot" in roles and not EXCHANGES[exchange].has_spot:
        return f'{exchange} has no spot wallet; use exchange = "binance" for the "spot" role'
    return None


def _key_pair_complete(v: VenueSettings) -> Problem | None:
    if v.api_key is not None and v.api_secret is None:
        return ("api_secret",), "required when api_key is set"
    if v.api_secret is not None and v.api_key is None:
        return ("api_key",), "required when api_secret is set"
    return None


def _password_when_needed(v: VenueSettings) -> Problem | None:
    if EXCHANGES[v.exchange].needs_password and v.api_key is not None and v.password is None:
        return ("password",), f"{v.exchange} API keys need their passphrase; set it like api_key (env or secrets dir)"
    return None


class VenueSettings(_Section):
    """One exchange account, how to reach it (live, demo, testnet or the local exchange) and its roles."""

    exchange: str
    mode: Literal["live", "demo", "testnet", "local"] = "demo"
    base_url: str | None = None
    roles: tuple[Literal["spot", "hedge"], ...] = Field(min_length=1)
    leverage: int = Field(default=3, ge=1, le=125)
    margin_mode: str = "cross"
    api_key: OptionalSecret = None
    api_secret: OptionalSecret = None
    password: OptionalSecret = None
    timeout_ms: int = Field(default=10000, gt=0)
    spot_wallet_types: tuple[str, ...] = Field(default=("spot",), min_length=1)

    _rules = (_base_url_iff_local, _key_pair_complete, _password_when_needed)

    @field_validator("exchange")
    @classmethod
    def _supported_exchange(cls, value: str) -> str:
        exchange = value.strip().lower()
        if exchange not in EXCHANGES:
            close = difflib.get_close_matches(exchange, SUPPORTED_EXCHANGES, n=1)
            hint = f'; did you mean "{close[0]}"?' if close else ""
            raise ValueError(f'"{value}" is not supported (supported: {", ".join(SUPPORTED_EXCHANGES)}){hint}')
        return exchange

    @field_validator("base_url")
    @classmethod
    def _http_base_url(cls, value: str | None) -> str | None:
        if value is not None:
            value = value.strip().rstrip("/")
            problem = _http_url_problem(value)
            if problem:
                raise ValueError(problem)
        return value

    # mode and roles depend only on the exchange (validated first), so they are checked even
    # when another key of the venue is wrong.
    @field_validator("mode")
    @classmethod
    def _mode_available(cls, mode: str, info: ValidationInfo) -> str:
        exchange = info.data.get("exchange")
        if exchange is not None and (problem := _mode_problem(exchange, mode)):
            raise ValueError(problem)
        return mode

    @field_validator("roles")
    @classmethod
    def _roles_fit_exchange(cls, roles: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        exchange = info.data.get("exchange")
        if exchange is not None and (problem := _roles_problem(exchange, roles)):
            raise ValueError(problem)
        return roles

    @field_validator("margin_mode")
    @classmethod
    def _cross_only(cls, value: str) -> str:
        if value.strip().lower() != "cross":
            raise ValueError(f'"{value}" is not supported: only "cross" margin is (hedges share one margin pool)')
        return "cross"

    @property
    def has_keys(self) -> bool:
        return self.api_key is not None and self.api_secret is not None


# --------------------------------------------------------------------------- other tables


class RiskSettings(_Section):
    """The risk gate's limits (DOMAIN.md defaults) and the kill switch."""

    max_margin_usage: Decimal = Field(default=Decimal("0.5"), gt=0, le=1)
    min_liquidation_distance: Decimal = Field(default=Decimal("0.25"), gt=0, lt=1)
    max_funding_apr: NonNegDecimal = Decimal("0.30")
    max_basis: NonNegDecimal = Decimal("0.01")
    max_price_age_s: Decimal = Field(default=Decimal(60), gt=0)
    max_clock_skew_s: Decimal = Field(default=Decimal(5), ge=0)
    max_order_notional: Decimal = Field(default=Decimal(50000), gt=0)
    max_gross_ratio: Decimal = Field(default=Decimal("1.0"), gt=0)
    default_mmr: Decimal = Field(default=Decimal("0.005"), gt=0, lt=1)
    kill_switch_file: str = "var/HALT"
    halted: bool = False


class ProtectionSettings(_Section):
    """Protective stops resting on the exchange between cycles, and the optional margin top-up."""

    enabled: bool = True
    # The adverse move from the mark that triggers a hedge's stop; unset = risk.min_liquidation_distance.
    stop_distance: Decimal | None = Field(default=None, gt=0, lt=1)
    # A stop always fires with this part of the mark-to-liquidation way left.
    liquidation_buffer: Decimal = Field(default=Decimal("0.2"), ge=0, lt=1)
    # A resting stop whose trigger is off the wanted one by more than this (relative) is replaced.
    reprice_threshold: Decimal = Field(default=Decimal("0.05"), ge=0, lt=1)
    # After a stop fires, its asset is frozen this long (the solver keeps the net with the others).
    cooldown_s: float = Field(default=3600.0, ge=0)
    # Move stablecoin spot -> futures when the stressed equity falls under the maintenance margin.
    top_up_from_spot: bool = False
    top_up_max_per_day: NonNegDecimal = Decimal(0)  # in the quote currency; 0 = no top-up even if enabled


class JournalSettings(_Section):
    """Where the SQLite order journal lives (a relative path is from the config file's directory)."""

    path: str = Field(default="var/rebalancer.db", min_length=1)
    # Idle cycles (nothing_to_do, dry_run) older than this lose their stored snapshot/plan/verdict;
    # orders, fills and every other cycle are kept forever.
    retain_days: int = Field(default=30, ge=1)


class LoggingSettings(_Section):
    """Structured log level, renderer and optional file ("" = stdout only)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"
    file: str = "var/rebalancer.log"

    @field_validator("level", mode="before")
    @classmethod
    def _lower_level(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value


def _telegram_needs_chat(a: AlertsSettings) -> Problem | None:
    if a.format == "telegram" and a.webhook_url.get_secret_value() and not a.telegram_chat_id:
        return ("telegram_chat_id",), 'required when format = "telegram"'
    return None


class AlertsSettings(_Section):
    """Webhook alerts; the URL is a credential (Slack/Discord/Telegram embed tokens in it)."""

    webhook_url: SecretStr = SecretStr("")
    format: Literal["generic", "slack", "discord", "telegram"] = "generic"
    telegram_chat_id: str = ""
    min_interval_s: float = Field(default=300.0, ge=0)
    liquidation_warning: Decimal = Field(default=Decimal("0.35"), gt=0, lt=1)
    # Delivery: alerts go through a bounded queue drained by their own task, never inside a cycle.
    timeout_s: float = Field(default=10.0, gt=0, le=300)  # the whole request, not each read
    max_retries: int = Field(default=2, ge=0, le=10)  # only when the webhook cannot have received it
    queue_size: int = Field(default=100, ge=1, le=10000)  # full: the oldest alert is dropped (and counted)

    _rules = (_telegram_needs_chat,)

    @field_validator("webhook_url")
    @classmethod
    def _http_webhook(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value().strip()
        if url:
            problem = _http_url_problem(url)
            if problem:
                raise ValueError(problem.replace(" like http://127.0.0.1:8765", ""))
        return SecretStr(url)


def is_loopback(host: str) -> bool:
    """localhost or a loopback address (127.0.0.0/8, ::1)."""
    import ipaddress

    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip()).is_loopback
    except ValueError:
        return False


class HealthSettings(_Section):
    """The health/metrics HTTP endpoint (port 0 disables it) and the read-only dashboard on it."""

    host: str = "127.0.0.1"
    port: int = Field(default=9108, ge=0, le=65535)
    # The read-only dashboard (GET /dashboard) on the same host and port.
    dashboard: bool = True
    # Bearer token the dashboard requires (Authorization: Bearer <token>). Bound beyond loopback, the
    # dashboard answers only with it (no token set: 403 for everyone). A credential: keep it in the
    # environment (REBALANCER_HEALTH__TOKEN) or the secrets dir (health__token).
    token: SecretStr = SecretStr("")
    # How often an open dashboard page reads its data again, seconds.
    dashboard_refresh_s: float = Field(default=5.0, ge=1, le=3600)


# --------------------------------------------------------------------------- [costs]


class CostsSettings(_Section):
    """The cost/benefit report (issue 15): the same adjustments as spot trades, for comparison."""

    spot_fee_rate: Decimal = Field(default=Decimal("0.001"), ge=0, lt=1)
    method: Literal["average", "fifo"] = "average"
    tax_rate: Decimal = Field(default=Decimal(0), ge=0, lt=1)
    # Average cost per asset of the spot holdings when the journal starts (quote units per coin).
    cost_basis: dict[str, NonNegDecimal] = Field(default_factory=dict)


# --------------------------------------------------------------------------- root

_VENUE_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")


def _role_holders(venues: Mapping[str, VenueSettings], role: str) -> list[str]:
    return [name for name, venue in venues.items() if role in venue.roles]


def _exactly_one(venues: Mapping[str, VenueSettings], role: str) -> Problem | None:
    holders = _role_holders(venues, role)
    if not holders:
        return (), f'no venue has role "{role}"; add "{role}" to the roles of exactly one venue'
    if len(holders) > 1:
        return (), f'{len(holders)} venues have role "{role}" ({", ".join(holders)}); exactly one may'
    return None


class Settings(BaseSettings):
    """The whole configuration. Build it with `load_settings`, which layers file, secrets and env.

    The env and secrets layers are pydantic-settings sources, called explicitly by `load_settings`
    because the file path and the environment are per-call inputs; `Settings(**values)` validates
    exactly the values given.
    """

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_DELIMITER,
        case_sensitive=False,
    )

    portfolio: PortfolioSettings
    rebalance: RebalanceSettings = Field(default_factory=RebalanceSettings)
    venues: dict[str, VenueSettings] = Field(min_length=1)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    protection: ProtectionSettings = Field(default_factory=ProtectionSettings)
    journal: JournalSettings = Field(default_factory=JournalSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    costs: CostsSettings = Field(default_factory=CostsSettings)

    _source_path: Path | None = PrivateAttr(default=None)
    # Secret keys (key paths) written in the config file itself rather than env or the secrets dir.
    _secrets_in_file: tuple[str, ...] = PrivateAttr(default=())

    @classmethod
    def settings_customise_sources(  # type: ignore[override]
        cls, settings_cls: type[BaseSettings], init_settings: Any, **_others: Any
    ) -> tuple[Any, ...]:
        return (init_settings,)

    @field_validator("venues")
    @classmethod
    def _venue_roles(cls, venues: dict[str, VenueSettings]) -> dict[str, VenueSettings]:
        problems: list[Problem] = []
        for name in venues:
            if not _VENUE_NAME_RE.match(name):
                problems.append(((name,), "venue names are a letter, then letters, digits, _ or - (max 40)"))
        problems += [p for role in ("hedge", "spot") if (p := _exactly_one(venues, role)) is not None]
        if problems:
            raise RuleViolations(problems)
        return venues

    @model_validator(mode="after")
    def _order_size_limits(self) -> Settings:
        # Slices are cut under max_order_notional; each must still be sendable, so the slice limit
        # may not be under the smallest order the bot sends (a market's own minimum is checked at
        # connect, where the venue's markets are known).
        if self.risk.max_order_notional < self.rebalance.min_order_notional:
            raise RuleViolations([(("risk", "max_order_notional"),
                                   f"{self.risk.max_order_notional} is under rebalance.min_order_notional "
                                   f"{self.rebalance.min_order_notional}: no slice of a large order could be sent")])
        return self

    # ----------------------------------------------------------------- accessors

    @property
    def secrets_in_file(self) -> tuple[str, ...]:
        """Secret keys written in the config file (better kept in env or the secrets dir)."""
        return self._secrets_in_file

    @property
    def source_path(self) -> Path | None:
        """The TOML file this was loaded from, absolute (None when built from values)."""
        return self._source_path

    def flat_targets(self) -> dict[str, Decimal]:
        return self.portfolio.flat_targets()

    def _venue_with_role(self, role: str) -> tuple[str, VenueSettings]:
        name = _role_holders(self.venues, role)[0]  # validation guarantees exactly one
        return name, self.venues[name]

    def hedge_venue(self) -> tuple[str, VenueSettings]:
        return self._venue_with_role("hedge")

    def spot_venue(self) -> tuple[str, VenueSettings]:
        return self._venue_with_role("spot")

    def plan_params(self) -> PlanParams:
        return PlanParams(
            targets=self.flat_targets(),
            quote=self.portfolio.quote,
            nav_basis=self.portfolio.nav,
            band=self.rebalance.band,
            relative_band=self.rebalance.relative_band,
            min_order_notional=self.rebalance.min_order_notional,
        )

    @property
    def base_dir(self) -> Path:
        """The directory relative paths resolve against: the config file's, else the working directory."""
        return _config_dir(self._source_path) if self._source_path is not None else Path.cwd()

    def resolve_path(self, value: str | Path) -> Path:
        """A path from the config as an absolute path (relative ones against `base_dir`, ~ expanded)."""
        return _absolute(value, self.base_dir)

    def journal_path(self) -> Path:
        """The SQLite journal file, absolute."""
        return self.resolve_path(self.journal.path)

    def log_file_path(self) -> Path | None:
        """The log file, absolute; None when `logging.file = ""` (no log file)."""
        return self.resolve_path(self.logging.file) if self.logging.file.strip() else None

    def kill_switch_path(self) -> Path:
        """The kill-switch file, absolute: `halt` creates it, the daemon checks it before every send."""
        return self.resolve_path(self.risk.kill_switch_file)

    def kill_switch_engaged(self) -> bool:
        return self.risk.halted or self.kill_switch_path().exists()

    def risk_limits(self, *, halted: bool | None = None) -> RiskLimits:
        """The gate's limits. `halted=None` checks the flag and the kill-switch file; an explicit
        value replaces the file check, but `risk.halted = true` always halts (fail closed)."""
        r = self.risk
        is_halted = self.kill_switch_engaged() if halted is None else (halted or r.halted)
        return RiskLimits(
            max_margin_usage=r.max_margin_usage,
            min_liquidation_distance=r.min_liquidation_distance,
            max_funding_apr=r.max_funding_apr,
            max_basis=r.max_basis,
            max_price_age_s=r.max_price_age_s,
            max_clock_skew_s=r.max_clock_skew_s,
            max_order_notional=r.max_order_notional,
            max_gross_ratio=r.max_gross_ratio,
            leverage=Decimal(self.hedge_venue()[1].leverage),
            default_mmr=r.default_mmr,
            halted=is_halted,
        )

    def stop_rule(self) -> "StopRule":
        """The protective stops' rule: distance (default risk.min_liquidation_distance), buffer, repricing."""
        from .core.protection import StopRule

        p = self.protection
        return StopRule(distance=p.stop_distance if p.stop_distance is not None else self.risk.min_liquidation_distance,
                        buffer=p.liquidation_buffer, reprice_threshold=p.reprice_threshold)

    def redacted_dict(self) -> dict[str, Any]:
        """JSON-able dump (Decimals as strings); secrets show as ********** ("" when unset)."""
        return self.model_dump(mode="json")


# --------------------------------------------------------------------------- loading


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' env source over a given mapping (the environment, or secret files as env names)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._given = env
        super().__init__(Settings)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # case_sensitive=False: the source matches lower-cased names
        return {name.lower(): value for name, value in self._given.items()}


Origins = dict[tuple[str, ...], str]  # lower-cased key path -> where its value came from


def _env_layer(env: Mapping[str, str], describe: Callable[[str], str]) -> tuple[dict[str, Any], Origins, list[str]]:
    """Config values from REBALANCER_* names, one variable at a time so each problem names its variable."""
    data: dict[str, Any] = {}
    origins: Origins = {}
    problems: list[str] = []
    sections = set(Settings.model_fields)
    for name, value in env.items():
        if not name.upper().startswith(ENV_PREFIX):
            continue
        path = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split(ENV_DELIMITER))
        if path[0] not in sections:
            # REBALANCER_CONFIG and friends are not config keys; only a nested name is clearly meant as one.
            if len(path) > 1:
                problems.append(f"{path[0]}: unknown key{_suggest(path[0], sections)} (from {describe(name)})")
            continue
        try:
            layer = _MappingEnvSource({name: value})()
        except ValueError:
            problems.append(
                f"{'.'.join(path)}: not valid JSON; a list or table from the environment is written as JSON, "
                f'e.g. ["spot", "hedge"] (from {describe(name)})'
            )
            continue
        data = _merge(data, layer)
        origins[path] = describe(name)
    return data, origins, problems


def _secret_files(directory: Path) -> tuple[dict[str, str], dict[str, Path], list[str]]:
    """Secret files as env-style names (venues__main__api_key -> REBALANCER_VENUES__MAIN__API_KEY)."""
    values: dict[str, str] = {}
    files: dict[str, Path] = {}
    problems: list[str] = []
    try:
        entries = sorted(directory.iterdir())
    except OSError as exc:
        return {}, {}, [f"{directory}: cannot read the secrets directory: {exc.strerror or exc}"]
    for entry in entries:
        # Kubernetes mounts keep their data in hidden ..data dirs with visible symlinks to it.
        if entry.name.startswith(".") or not entry.is_file():
            continue
        name = ENV_PREFIX + entry.name.upper()
        try:
            values[name] = entry.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{entry}: cannot read secret file: {getattr(exc, 'strerror', None) or exc}")
            continue
        files[name] = entry
    return values, files, problems


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge; keys match case-insensitively because env names are case-insensitive (main == MAIN)."""
    merged = dict(base)
    for key, value in override.items():
        target = key
        if key not in merged:
            target = next((k for k in merged if k.lower() == key.lower()), key)
        if isinstance(value, Mapping) and isinstance(merged.get(target), Mapping):
            merged[target] = _merge(merged[target], value)
        else:
            merged[target] = value
    return merged


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ConfigError(
            [f"{path}: config file not found; create one with `cp config/example.toml config/rebalancer.toml`"],
            path,
        )
    if not path.is_file():
        raise ConfigError([f"{path}: not a file"], path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"], path) from None
    try:
        # Floats as Decimal straight from the text, so 0.1 stays exactly 0.1.
        return tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        where = re.search(r"\(at line (\d+), column (\d+)\)", message)
        if where:
            reason = message[: where.start()].strip()
            line, column = where.groups()
            raise ConfigError([f"{path}: invalid TOML at line {line}, column {column}: {reason}"], path) from None
        raise ConfigError([f"{path}: invalid TOML: {message}"], path) from None


def _resolve_secrets_dir(secrets_dir: Path | None, env: Mapping[str, str]) -> tuple[Path | None, list[str]]:
    if secrets_dir is None and env.get(ENV_PREFIX + "SECRETS_DIR"):
        secrets_dir = Path(env[ENV_PREFIX + "SECRETS_DIR"])
    if secrets_dir is None:
        return (DEFAULT_SECRETS_DIR if DEFAULT_SECRETS_DIR.is_dir() else None), []
    if not secrets_dir.is_dir():
        return None, [f"{secrets_dir}: secrets directory not found (from {ENV_PREFIX}SECRETS_DIR or secrets_dir)"]
    return secrets_dir, []


def resolve_config_path(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The config path to use: the argument, else REBALANCER_CONFIG, else config/rebalancer.toml."""
    if path is not None:
        return Path(path)
    env = os.environ if env is None else env
    return Path(env[ENV_PREFIX + "CONFIG"]) if env.get(ENV_PREFIX + "CONFIG") else DEFAULT_CONFIG_PATH


def load_settings(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    secrets_dir: Path | None = None,
) -> Settings:
    """Load and validate the config; raise ConfigError listing every problem.

    Precedence, lowest to highest: model defaults < TOML file < secrets dir files < REBALANCER_* env.
    `env` defaults to os.environ; `secrets_dir` to REBALANCER_SECRETS_DIR, else /run/secrets/rebalancer if present.
    """
    env = dict(os.environ) if env is None else dict(env)
    config_path = resolve_config_path(path, env)
    file_data = _read_toml(config_path)

    directory, problems = _resolve_secrets_dir(Path(secrets_dir) if secrets_dir is not None else None, env)
    secret_data: dict[str, Any] = {}
    origins: Origins = {}
    if directory is not None:
        values, files, read_problems = _secret_files(directory)
        secret_data, origins, secret_problems = _env_layer(values, lambda name: f"secret file {files[name]}")
        problems += read_problems + secret_problems
    env_data, env_origins, env_problems = _env_layer(env, lambda name: f"env {name}")
    problems += env_problems
    origins.update(env_origins)  # env wins, so it is the origin to name

    merged = _merge(_merge(file_data, secret_data), env_data)
    problems += _live_only_from_file(file_data, merged, origins)
    # BaseSettings reads "_"-prefixed init kwargs as its own options: never let the file set them.
    for key in [k for k in merged if k.startswith("_")]:
        problems.append(f"{key_path([key])}: unknown key{_origin((key,), origins)}")
        del merged[key]
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        problems += [line for err in exc.errors(include_url=False) for line in _describe(err, origins)]
        raise ConfigError(problems, config_path) from None
    if problems:
        raise ConfigError(problems, config_path)
    settings = _with_absolute_paths(settings, _config_dir(config_path))
    settings._source_path = _absolute(config_path, Path.cwd())
    if problems := _distinct_files(settings):
        raise ConfigError(problems, config_path)
    settings._secrets_in_file = _secrets_written_in(file_data)
    return settings


def _live_only_from_file(file_data: Mapping[str, Any], merged: Mapping[str, Any], origins: Origins) -> list[str]:
    """`mode = "live"` must be written in the config file: the environment or the secrets dir may
    choose demo, testnet or local, never turn a demo config live (DESIGN: live is asked for
    explicitly)."""
    problems = []
    file_venues = file_data.get("venues") if isinstance(file_data.get("venues"), Mapping) else {}
    venues = merged.get("venues") if isinstance(merged.get("venues"), Mapping) else {}
    for name, venue in venues.items():
        if not isinstance(venue, Mapping) or str(venue.get("mode", "")).lower() != "live":
            continue
        written = file_venues.get(name) if isinstance(file_venues.get(name), Mapping) else {}
        if str(written.get("mode", "")).lower() != "live":
            problems.append(f'venues.{name}.mode: "live" must be written in the config file'
                            f'{_origin(("venues", name, "mode"), origins)}; the environment may choose '
                            '"demo", "testnet" or "local" only')
    return problems


def _distinct_files(settings: Settings) -> list[str]:
    """The kill switch, the journal (and its -wal, -shm and .lock companions), the log file and the
    config file must all be different files: `halt` would overwrite a journal that is also the
    kill switch, and `resume` would delete it."""
    journal = settings.journal_path()
    owned: list[tuple[str, Path]] = [("journal.path", journal)]
    owned += [("journal.path", journal.with_name(journal.name + suffix)) for suffix in ("-wal", "-shm", ".lock")]
    if settings.logging.file:
        owned.append(("logging.file", settings.log_file_path()))
    owned.append(("risk.kill_switch_file", settings.kill_switch_path()))
    if settings.source_path is not None:
        owned.append(("config file", settings.source_path))
    problems, seen = [], {}
    for key, path in owned:
        other = seen.get(path)
        if other is not None and other != key:
            problems.append(f"{key}: {path} is also {other}'s file: give each its own path")
        seen.setdefault(path, key)
    return problems


def _secrets_written_in(file_data: Mapping[str, Any]) -> tuple[str, ...]:
    found = []
    venues = file_data.get("venues") if isinstance(file_data.get("venues"), Mapping) else {}
    for name, venue in venues.items():
        # The local exchange's well-known pair (local-key / local-secret) is no secret.
        if isinstance(venue, Mapping) and venue.get("mode") != "local":
            found += [f"venues.{name}.{key}" for key in ("api_key", "api_secret", "password") if venue.get(key)]
    alerts = file_data.get("alerts")
    if isinstance(alerts, Mapping) and alerts.get("webhook_url"):
        found.append("alerts.webhook_url")
    return tuple(found)


# --------------------------------------------------------------------------- paths

# Every config key holding a file path: (section, key). Relative values, from whichever source
# (file, secrets dir or env), resolve against the config file's directory, so every command and
# the daemon find the same files whatever their working directory (DESIGN contract).
PATH_KEYS: tuple[tuple[str, str], ...] = (
    ("journal", "path"),
    ("logging", "file"),
    ("risk", "kill_switch_file"),
)


def _config_dir(config_path: Path) -> Path:
    # absolute() + normpath, not resolve(): a config mounted through symlinks (Kubernetes ConfigMaps
    # point at a timestamped ..data dir) keeps its visible directory, which survives updates.
    return Path(os.path.normpath(Path(config_path).expanduser().absolute().parent))


def _absolute(value: str | Path, base: Path) -> Path:
    path = Path(value).expanduser()
    return Path(os.path.normpath(path if path.is_absolute() else base / path))


def _with_absolute_paths(settings: Settings, base: Path) -> Settings:
    """The settings with every PATH_KEYS value absolute ("" for logging.file stays "": no file)."""
    updates: dict[str, Any] = {}
    for section, key in PATH_KEYS:
        table = updates.get(section) or getattr(settings, section)
        value = getattr(table, key)
        if isinstance(value, str) and value.strip():
            updates[section] = table.model_copy(update={key: str(_absolute(value, base))})
    return settings.model_copy(update=updates) if updates else settings


# --------------------------------------------------------------------------- error messages


def _key_text(part: str | int) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    return part if re.match(r"^[A-Za-z0-9_-]+$", part) else json.dumps(part)


def key_path(parts: Iterable[str | int]) -> str:
    """A pydantic location as a config key path: venues.main.roles[0], portfolio.groups."Layer 1"."""
    text = ""
    for part in parts:
        piece = _key_text(part)
        text += piece if piece.startswith("[") or not text else "." + piece
    return text


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated and Optional so the model or container type shows."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0] if len(args) == 1 else annotation
            if len(args) != 1:
                return annotation
        else:
            return annotation


def _known_keys(loc: tuple[str | int, ...]) -> list[str]:
    """Field names of the model at a location (for "did you mean"), [] when it is not a model."""
    current: Any = Settings
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        elif typing.get_origin(current) is dict:
            current = typing.get_args(current)[1]
        elif typing.get_origin(current) in (tuple, list):
            current = typing.get_args(current)[0]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _suggest(key: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(key.lower(), list(candidates), n=1, cutoff=0.6)
    return f'; did you mean "{close[0]}"?' if close else ""


def _origin(loc: tuple[str | int, ...], origins: Origins) -> str:
    lowered = tuple(str(p).lower() for p in loc)
    for end in range(len(lowered), 0, -1):
        if lowered[:end] in origins:
            return f" (from {origins[lowered[:end]]})"
    return ""


_TYPE_MESSAGES = {
    "missing": "required",
    "decimal_parsing": "must be a number",
    "decimal_type": "must be a number",
    "finite_number": "must be a finite number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
}
_MISSING_HINTS = {
    "portfolio": " (add a [portfolio] table with targets)",
    "venues": ' (add a [venues.main] table with exchange and roles)',
    "exchange": f" (one of {', '.join(SUPPORTED_EXCHANGES)})",
    "roles": ' (e.g. roles = ["spot", "hedge"])',
}
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def _shown(value: object) -> str:
    if isinstance(value, Decimal):
        return fmt_decimal(value)
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def _describe(err: Mapping[str, Any], origins: Origins) -> list[str]:
    """One pydantic error as config problem lines (a RuleViolations error expands to several)."""
    loc: tuple[str | int, ...] = tuple(err["loc"])
    kind: str = err["type"]
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    error = ctx.get("error")
    if isinstance(error, RuleViolations):
        return [
            f"{key_path(loc + sub) or '(top level)'}: {msg}{_origin(loc + sub, origins)}" for sub, msg in error.problems
        ]

    is_key = bool(loc) and loc[-1] == "[key]"
    if is_key:
        loc = loc[:-1]
    secret = any(str(p).lower() in SECRET_KEYS for p in loc)
    show_input = not secret and isinstance(err.get("input"), (str, int, float, Decimal, bool))

    if kind == "extra_forbidden":
        message = "unknown key" + _suggest(str(loc[-1]), _known_keys(loc[:-1]))
        show_input = False
    elif kind == "missing":
        message, show_input = "required" + _MISSING_HINTS.get(str(loc[-1]) if len(loc) > 1 else str(loc[0]), ""), False
    elif kind in _BOUNDS:
        bound = next(iter(ctx.values()))
        message = f"must be {_BOUNDS[kind]} {_shown(bound)}"
    elif kind in ("literal_error", "enum"):
        message = f"must be {ctx.get('expected', 'one of the allowed values')}"
    elif kind == "too_short":
        message, show_input = "must not be empty", False
    elif kind == "value_error" and error is not None:
        message, show_input = str(error), False
    else:
        message = _TYPE_MESSAGES.get(kind) or (err["msg"][:1].lower() + err["msg"][1:])
    if is_key and kind != "value_error":
        message = f"invalid key: {message}"
    got = f" (got {_shown(err['input'])})" if show_input else ""
    return [f"{key_path(loc) or '(top level)'}: {message}{got}{_origin(loc, origins)}"]
