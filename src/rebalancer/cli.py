"""The `rebalancer` command line: typer commands over settings, venues, planner and executor.

Commands run inside `reported_errors`, which turns known failures into one clear stderr line and an exit code.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from rebalancer.settings import DEFAULT_CONFIG_PATH, ENV_PREFIX, ConfigError, Settings, fmt_decimal, load_settings

try:  # typer >= 0.26 vendors click; older releases raise click's own exception classes
    from typer import TyperException as _ClickError
except ImportError:  # pragma: no cover
    from click import ClickException as _ClickError  # type: ignore[no-redef]

app = typer.Typer(
    name="rebalancer",
    help="Keep a spot portfolio's effective mix on target with perpetual-futures hedges.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion
    # User errors get one line from reported_errors; tracebacks only with --debug.
    pretty_exceptions_enable=False,
)


def _hide_flag_metavar() -> None:
    """typer >= 0.26 prints a `<bool>` type beside every flag in --help (--execute, --json, --help,
    the completion options); a flag takes no value, so show none."""
    try:
        from typer.core import TyperOption
    except ImportError:  # pragma: no cover
        return
    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None or getattr(shown, "_flags_hidden", False):
        return

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False) and self.metavar is None:
            return None
        return shown(self, ctx)

    display_type_rich._flags_hidden = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_hide_flag_metavar()


def package_version() -> str:
    """The installed distribution's version (pyproject.toml's `version`)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rebalancer")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"rebalancer {package_version()}")
        raise typer.Exit(0)


@dataclass
class CliState:
    """Global options, stored on the typer context for every command."""

    debug: bool = False


class CommandError(Exception):
    """A failure the user can fix: printed as `error: <message>`, the process exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# Exit code per exception type, checked in order; commands added later register theirs here
# (e.g. a risk denial -> 3). Anything else is exit 1.
EXIT_CODES: list[tuple[type[BaseException], int]] = [(ConfigError, 2)]

# Reusable option types, so every command spells --config and --json the same way.
ConfigPath = Annotated[
    Path,
    typer.Option("--config", "-c", envvar=ENV_PREFIX + "CONFIG", help="Config file (TOML).", show_default=True),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, CommandError):
        return exc.exit_code
    return next((code for kind, code in EXIT_CODES if isinstance(exc, kind)), 1)


def report_error(exc: BaseException) -> int:
    """Print a failure as stderr lines naming its cause; return the exit code."""
    if isinstance(exc, ConfigError):
        for problem in exc.problems:  # each already names its key path
            typer.echo(problem, err=True)
    else:
        typer.echo(f"error: {str(exc) or type(exc).__name__}", err=True)
    return exit_code_for(exc)


def _debug(ctx: typer.Context) -> bool:
    state = ctx.find_object(CliState)
    return state.debug if state is not None else False


@contextmanager
def reported_errors(ctx: typer.Context) -> Iterator[None]:
    """Run a command body: known failures become stderr lines and an exit code, never a traceback
    (unless --debug)."""
    try:
        yield
    except (typer.Exit, typer.Abort, _ClickError):
        raise  # typer's own control flow and usage errors print themselves
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None
    except Exception as exc:
        if _debug(ctx):
            traceback.print_exception(exc, file=sys.stderr)
        raise typer.Exit(report_error(exc)) from None


@app.callback()
def _global_options(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True,
                                          callback=_print_version)] = False,
) -> None:
    ctx.obj = CliState(debug=debug)


# --------------------------------------------------------------------------- check-config


def _percent(weight: Decimal) -> str:
    return fmt_decimal(weight * 100) + "%"


def config_summary(settings: Settings) -> dict[str, Any]:
    """The few facts a user checks first: venues, targets, NAV basis (JSON-able)."""
    return {
        "quote": settings.portfolio.quote,
        "nav": settings.portfolio.nav.value,
        "targets": {asset: str(w) for asset, w in settings.flat_targets().items()},
        "venues": {
            name: {
                "exchange": v.exchange,
                "mode": v.mode,
                "roles": list(v.roles),
                "base_url": v.base_url,
                "leverage": v.leverage,
                "has_keys": v.has_keys,
            }
            for name, v in settings.venues.items()
        },
        "schedule": settings.rebalance.schedule,
        "halted": settings.kill_switch_engaged(),
        # absolute: relative config paths resolve against the config file's directory
        "paths": {
            "journal": str(settings.journal_path()),
            "log_file": str(log) if (log := settings.log_file_path()) else None,
            "kill_switch": str(settings.kill_switch_path()),
        },
    }


def config_notes(settings: Settings) -> list[str]:
    """Things that are valid but worth a look before running."""
    notes = []
    for name, venue in settings.venues.items():
        if not venue.has_keys:
            env = f"{ENV_PREFIX}VENUES__{name.upper()}__"
            notes.append(
                f"venues.{name} has no API keys yet: set {env}API_KEY and {env}API_SECRET (or the secrets dir)"
            )
        if venue.mode == "live":
            notes.append(f'venues.{name} uses mode = "live": real orders with real money')
    if settings.kill_switch_engaged():
        switch = settings.risk.kill_switch_file
        notes.append(f"the kill switch is on (risk.halted or {switch} exists): no orders will be sent")
    for key in settings.secrets_in_file:
        env = ENV_PREFIX + key.upper().replace(".", "__")
        notes.append(f"{key} is written in the config file: keep it in {env} or the secrets dir instead")
    if settings.health.port and not _loopback(settings.health.host):
        notes.append(f"health.host = {settings.health.host!r} serves /healthz and /metrics beyond this machine: "
                     "bind 127.0.0.1 unless a proxy or the cluster network needs it")
    return notes


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _print_summary(path: Path, settings: Settings) -> None:
    p = settings.portfolio
    targets = ", ".join(f"{asset} {_percent(w)}" for asset, w in settings.flat_targets().items())
    typer.echo(f"config OK: {path}")
    typer.echo(f"  portfolio: quote {p.quote}, nav {p.nav.value}, targets {targets}")
    for name, v in settings.venues.items():
        where = f" at {v.base_url}" if v.base_url else ""
        keys = "api keys set" if v.has_keys else "no api keys"
        typer.echo(
            f"  venue {name}: {v.exchange}, mode {v.mode}{where}, roles {'+'.join(v.roles)}, "
            f"leverage {v.leverage}x, {keys}"
        )
    r = settings.rebalance
    every = f"every {r.schedule}" if r.interval_seconds is not None else f'cron "{r.schedule}"'
    typer.echo(f"  rebalance: {every}, band {_percent(r.band)}, orders {r.order_type}")
    log = settings.log_file_path()
    typer.echo(f"  files: journal {settings.journal_path()}, log {log or '(none)'}, "
               f"kill switch {settings.kill_switch_path()}")
    for note in config_notes(settings):
        typer.echo(f"  note: {note}")


@app.command("check-config")
def check_config(ctx: typer.Context, config: ConfigPath = DEFAULT_CONFIG_PATH, as_json: JsonFlag = False) -> None:
    """Validate the config file, env overrides and secrets; print every problem with its key path."""
    with reported_errors(ctx):
        try:
            settings = load_settings(config)
        except ConfigError as exc:
            if as_json:
                typer.echo(json.dumps({"ok": False, "path": str(config), "problems": exc.problems}, indent=2))
            raise
        if as_json:
            document = {
                "ok": True,
                "path": str(config),
                "summary": config_summary(settings),
                "notes": config_notes(settings),
                "config": settings.redacted_dict(),
            }
            typer.echo(json.dumps(document, indent=2))
        else:
            _print_summary(config, settings)


# --------------------------------------------------------------------------- exchange-sim


@app.command("exchange-sim")
def exchange_sim(
    ctx: typer.Context,
    scenario: Annotated[Path, typer.Option("--scenario", help="Scenario file (TOML) to seed the exchange.")],
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind (0 = a free port).")] = 0,
    state_file: Annotated[
        Path | None, typer.Option("--state-file", help="Persist the exchange state here across restarts.")
    ] = None,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow binding a non-loopback address.")
    ] = False,
    dialect: Annotated[
        str, typer.Option("--dialect", help="Which exchange's API to speak: binance, bybit, okx, bingx, mexc or weex.")
    ] = "binance",
) -> None:
    """Serve the local exchange in one exchange's dialect; its base URL is the first line of stdout."""
    with reported_errors(ctx):
        # Imported here so the other commands start without loading the server.
        from rebalancer.exchange_sim.runner import serve_forever

        try:
            code = serve_forever(scenario, host=host, port=port, state_file=state_file, allow_remote=allow_remote,
                                 dialect=dialect)
        except ValueError as exc:
            raise CommandError(str(exc), exit_code=2) from None
    raise typer.Exit(code)


# --------------------------------------------------------------------------- trading commands


def _load(config: Path, *, stderr_logs: bool = False) -> Settings:
    """Load settings and configure logging with every secret registered for redaction.

    One-off commands keep stderr for their single error line and log to the file only;
    the daemon (and --debug) also logs to stderr."""
    from rebalancer.logs import configure_logging

    settings = load_settings(config)
    secrets = [
        s.get_secret_value()
        for v in settings.venues.values()
        for s in (v.api_key, v.api_secret, v.password)
        if s is not None
    ]
    secrets.append(settings.alerts.webhook_url.get_secret_value())
    log = settings.logging
    configure_logging(level=log.level, fmt=log.format, file=log.file or None, secrets=[s for s in secrets if s],
                      stderr=stderr_logs)
    return settings


def _venue_hint(exc: BaseException, settings: Settings) -> str:
    """One line naming the cause and the fix for the venue failures a user can cause."""
    from rebalancer.venues.errors import AuthError, FatalError, TransientError

    name, venue = settings.hedge_venue()
    where = venue.base_url if venue.mode == "local" else f"{venue.exchange} ({venue.mode})"
    env = f"{ENV_PREFIX}VENUES__{name.upper()}__API_KEY / __API_SECRET"
    if isinstance(exc, AuthError) and not venue.has_keys:
        return f"venues.{name} has no API key: set {env} (or the secrets dir), then run again"
    if isinstance(exc, AuthError):
        return f"{where} refused the API key: {str(exc).rstrip('.')}. Check {env} (demo keys only work in demo mode)"
    if isinstance(exc, TransientError):
        return f"cannot reach {where}: {str(exc).rstrip('.')}. Is the exchange up and the network reachable?"
    if isinstance(exc, FatalError):
        return f"{where}: {exc}"
    return str(exc)


def _run_cycle(settings: Settings, *, execute: bool, kind: str, record: bool) -> Any:
    """One cycle in a fresh event loop; executing cycles hold the journal lock."""
    import asyncio

    from rebalancer.daemon import JournalLock
    from rebalancer.service import Rebalancer

    async def go() -> Any:
        rb = Rebalancer(settings)
        try:
            report = await rb.cycle(execute=execute, kind=kind, record=record)
            await rb.sync_ledger(report)  # executing cycles: the ledger, right after the cycle
            return report
        finally:
            await rb.close()

    if not execute:
        return asyncio.run(go())
    with JournalLock(settings.journal.path):
        return asyncio.run(go())


def _emit_report(report: Any, settings: Settings, as_json: bool, *, journaled: bool = True) -> None:
    """Print a cycle's report; `journaled` False (status, plan) shows no cycle id: none can be looked up."""
    from rich.console import Console

    from rebalancer.report import report_json, report_renderable

    if as_json:
        typer.echo(json.dumps(report_json(report, journaled=journaled), indent=2))
    else:
        Console().print(report_renderable(report, journaled=journaled))
    if report.outcome == "failed":
        raise CommandError(_venue_hint(report.exception or Exception(report.error), settings), exit_code=1)
    troubles = [e for e in report.executed if e.result.state.value != "filled"]
    if troubles:
        parts = [
            f"{e.order.symbol} {e.result.state.value}"
            + (f" ({e.result.error_code} {e.result.error_message})" if e.result.error_code else
               f" ({e.result.error_message})" if e.result.error_message else "")
            for e in troubles
        ]
        raise CommandError(f"{len(troubles)} order(s) not filled: " + "; ".join(parts)  # executed: journaled
                           + f". See `rebalancer orders --cycle {report.cycle_id}`", exit_code=1)
    if report.mismatches:
        raise CommandError("positions differ from what the fills imply: " + "; ".join(report.mismatches), exit_code=1)


def _cycle_command(ctx: typer.Context, config: Path, as_json: bool, *, execute: bool, kind: str,
                   record: bool, exit_on_denial: bool) -> None:
    with reported_errors(ctx):
        settings = _load(config, stderr_logs=_debug(ctx))
        try:
            report = _run_cycle(settings, execute=execute, kind=kind, record=record)
        except Exception as exc:
            raise CommandError(_venue_hint(exc, settings)) from exc
        _emit_report(report, settings, as_json, journaled=record or execute)
        code = report.exit_code if exit_on_denial else (1 if report.exit_code == 1 else 0)
    if code:
        raise typer.Exit(code)


@app.command()
def status(ctx: typer.Context, config: ConfigPath = DEFAULT_CONFIG_PATH, as_json: JsonFlag = False) -> None:
    """Allocation table (spot, perp, effective, drift) with margin usage, funding cost and liquidation distances."""
    _cycle_command(ctx, config, as_json, execute=False, kind="status", record=False, exit_on_denial=False)


@app.command()
def plan(ctx: typer.Context, config: ConfigPath = DEFAULT_CONFIG_PATH, as_json: JsonFlag = False) -> None:
    """Snapshot + plan + risk verdict; sends nothing."""
    _cycle_command(ctx, config, as_json, execute=False, kind="rebalance", record=False, exit_on_denial=False)


ExecuteFlag = Annotated[bool, typer.Option("--execute", help="Send the orders (without it: a dry run).")]


@app.command()
def rebalance(ctx: typer.Context, config: ConfigPath = DEFAULT_CONFIG_PATH, execute: ExecuteFlag = False,
              as_json: JsonFlag = False) -> None:
    """One cycle now. Exit 0 done or nothing to do, 3 the risk gate denied something, 1 error."""
    _cycle_command(ctx, config, as_json, execute=execute, kind="rebalance", record=True, exit_on_denial=True)


@app.command()
def unwind(ctx: typer.Context, config: ConfigPath = DEFAULT_CONFIG_PATH, execute: ExecuteFlag = False,
           as_json: JsonFlag = False) -> None:
    """Close every hedge position, reduce-only (after you rebalance spot by hand). Exit codes as rebalance."""
    _cycle_command(ctx, config, as_json, execute=execute, kind="unwind", record=True, exit_on_denial=True)


def parse_when(text: str, *, now: Any, option: str) -> Any:
    """`--since` / `--until`: a duration back from now (`90s`, `30m`, `2h`, `1d`, `1w`, `1h30m`) or an
    absolute UTC date or time (`2026-11-25`, `2026-11-25T12:00`, `2026-11-25 12:00:05`, `...Z`)."""
    from datetime import datetime, timezone

    from rebalancer.journal import parse_duration

    try:
        return now - parse_duration(text)
    except ValueError as exc:
        duration_error = exc
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"{option}: {duration_error}, or a UTC date/time like 2026-11-25 or "
                           f"2026-11-25T12:00:00", exit_code=2) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def _window(since: str | None, until: str | None) -> tuple[Any, Any]:
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)
    start = parse_when(since, now=now, option="--since") if since else None
    end = parse_when(until, now=now, option="--until") if until else None
    if start is not None and end is not None and end < start:
        raise CommandError(f"--until ({end.isoformat()}) is before --since ({start.isoformat()})", exit_code=2)
    return start, end


def _open_journal_for_review(settings: Settings) -> Any:
    from rebalancer.journal import Journal

    path = Path(settings.journal.path).absolute()
    if not path.exists():
        raise CommandError(f"no journal at {path} yet: run a cycle first (rebalancer rebalance), "
                           f"or pass the --config whose [journal] path you mean")
    return Journal(path)


def _resolve_cycle(journal: Any, cycle: str) -> str:
    """A full cycle id, or the short one the tables show (its last part, e.g. `ab12cd`)."""
    if journal.cycle(cycle) is not None:
        return cycle
    matches = [c.id for c in journal.cycles() if c.id.rsplit("-", 1)[-1] == cycle]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise CommandError(f"--cycle {cycle} matches {len(matches)} cycles ({', '.join(matches)}): give the full id",
                           exit_code=2)
    raise CommandError(f"--cycle {cycle}: no such cycle in the journal (see `rebalancer cycles`)", exit_code=2)


def _print_table(renderable: Any, *, wide: bool = False) -> None:
    """Print a review table at the terminal's width (COLUMNS); `wide` widens the console to the table's
    full width so nothing folds (pipe it to `less -S` on a narrow terminal)."""
    from rich.console import Console
    from rich.measure import Measurement

    console = Console()
    if wide:
        needed = Measurement.get(console, console.options.update_width(10_000), renderable).maximum
        console = Console(width=max(console.width, needed))
    console.print(renderable)


STATES = "pending, unknown, open, filled, partially_filled, canceled, expired, rejected, denied, not_placed"
SinceOpt = Annotated[str | None, typer.Option(
    "--since", metavar="WHEN", help="Only newer than this: a duration back from now (30m, 2h, 7d, 1h30m) "
                                    "or a UTC date/time (2026-11-25, 2026-11-25T12:00).")]
UntilOpt = Annotated[str | None, typer.Option(
    "--until", metavar="WHEN", help="Only older than this (same forms as --since).")]


@app.command()
def orders(
    ctx: typer.Context,
    config: ConfigPath = DEFAULT_CONFIG_PATH,
    since: SinceOpt = None,
    until: UntilOpt = None,
    cycle: Annotated[str | None, typer.Option(help="Only this cycle's orders (full id or the short one shown).")] = None,
    asset: Annotated[list[str] | None, typer.Option("--asset", metavar="ASSET", help="Only this asset (repeatable).")] = None,
    state: Annotated[list[str] | None, typer.Option("--state", metavar="STATE", help=f"Only this state (repeatable): {STATES}.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (newest).")] = 200,
    wide: Annotated[bool, typer.Option("--wide", help="Every column: full cycle id, client id, type, limit, "
                                                      "filled, notional, sends, error.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Review the order journal: one row per order with its state, fill price and fee, then totals."""
    with reported_errors(ctx):
        from rebalancer.domain import OrderState
        from rebalancer.render import order_to_json, orders_table

        settings = load_settings(config)
        start, end = _window(since, until)
        states = set()
        for value in state or []:
            try:
                states.add(OrderState(value.strip().lower()))
            except ValueError:
                raise CommandError(f"--state {value}: not a state; one of {STATES}", exit_code=2) from None
        assets = {a.strip().upper() for a in asset or []}
        if limit < 0:
            raise CommandError(f"--limit {limit}: must be 0 or more", exit_code=2)
        with _open_journal_for_review(settings) as journal:
            cycle_id = _resolve_cycle(journal, cycle) if cycle else None
            records = journal.orders(since=start, cycle_id=cycle_id)
        records = [r for r in records
                   if (end is None or r.created_at <= end) and (not assets or r.asset.upper() in assets)
                   and (not states or r.state in states)]
        records = records[-limit:] if limit else []
        if as_json:
            typer.echo(json.dumps([order_to_json(r) for r in records], indent=2))
        else:
            _print_table(orders_table(records, wide=wide), wide=wide)
            if not records:
                typer.echo("no orders match", err=True)


@app.command()
def cycles(
    ctx: typer.Context,
    config: ConfigPath = DEFAULT_CONFIG_PATH,
    since: SinceOpt = None,
    until: UntilOpt = None,
    limit: Annotated[int, typer.Option(help="At most this many (newest).")] = 50,
    as_json: JsonFlag = False,
) -> None:
    """Review the cycle journal: time, kind, outcome, orders, denial codes, scale and net residual
    (dry runs and denied cycles included)."""
    with reported_errors(ctx):
        from rebalancer.render import cycle_summary, cycles_table

        settings = load_settings(config)
        start, end = _window(since, until)
        if limit < 0:
            raise CommandError(f"--limit {limit}: must be 0 or more", exit_code=2)
        with _open_journal_for_review(settings) as journal:
            records = journal.cycles(since=start)
        records = [r for r in records if end is None or r.started_at <= end]
        records = records[-limit:] if limit else []
        if as_json:
            typer.echo(json.dumps([cycle_summary(r) for r in records], indent=2))
        else:
            _print_table(cycles_table(records))
            if not records:
                typer.echo("no cycles match", err=True)


@app.command()
def pnl(
    ctx: typer.Context,
    config: ConfigPath = DEFAULT_CONFIG_PATH,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="WHEN", help="Count from this on: a duration back from now (1d, 7d, 1w, 12h) or a "
                                        "UTC date/time (2026-11-25); default: since the ledger started.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Hedge P&L from the exchange's own records, per asset and in total: realised and unrealised,
    funding paid (-) or received (+), fees, net (= realised + funding - fees); then a table per UTC day.
    Reads the exchange's trades and funding since the last read into the journal's ledger first (each
    entry once, keyed by the exchange's id); an unknown figure is shown as missing (? / null), never 0."""
    with reported_errors(ctx):
        from datetime import datetime, timezone

        from rebalancer.render import pnl_tables, pnl_to_json

        settings = _load(config, stderr_logs=_debug(ctx))
        start = parse_when(since, now=datetime.now(timezone.utc), option="--since") if since else None
        try:
            summary, sync = _pnl_read(settings, since=start)
        except (CommandError, ConfigError):
            raise
        except Exception as exc:
            raise CommandError(_venue_hint(exc, settings)) from exc
        if as_json:
            typer.echo(json.dumps(pnl_to_json(summary, sync), indent=2))
        else:
            _print_table(pnl_tables(summary))
        for problem in sync.errors:
            typer.echo(f"warning: ledger read failed, figures may be behind: {problem}", err=True)


def _pnl_read(settings: Settings, *, since: Any) -> tuple[Any, Any]:
    """Connect, sync the ledger, read the positions; the ledger's summary (core.pnl.summarise)."""
    from rebalancer.core.pnl import summarise

    async def read(venue: Any, journal: Any, positions: Any) -> Any:
        marks: dict[str, Decimal] = {}
        if any(p.unrealized_pnl is None for p in positions.values()):
            snap = await venue.snapshot()
            marks = {a: q.price for a, q in snap.mark_prices.items()}
        entries = journal.ledger_entries(settings.hedge_venue()[0])
        return summarise(entries, positions, quote=settings.portfolio.quote, since=since, marks=marks)

    return _with_synced_ledger(settings, read)


def _with_synced_ledger(settings: Settings, read: Any) -> tuple[Any, Any]:
    """Connect, read the positions, sync the ledger (ledger.sync_ledger); then `await read(venue, journal,
    positions)`. Returns (what read returned, the sync)."""
    import asyncio
    from datetime import datetime, timezone

    from rebalancer.journal import Journal
    from rebalancer.ledger import sync_ledger
    from rebalancer.service import make_venue

    async def go() -> tuple[Any, Any]:
        venue = make_venue(settings)
        journal = None
        try:
            journal = Journal(settings.journal_path())
            await venue.connect()
            positions = await venue.positions()
            sync = await sync_ledger(venue, journal, venue_name=settings.hedge_venue()[0], positions=positions,
                                     now=datetime.now(timezone.utc))
            return await read(venue, journal, positions), sync
        finally:
            await venue.close()
            if journal is not None:
                journal.close()

    return asyncio.run(go())


@app.command()
def report(
    ctx: typer.Context,
    config: ConfigPath = DEFAULT_CONFIG_PATH,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="WHEN", help="Count from this on: a duration back from now (1d, 7d, 1w, 12h) or a "
                                        "UTC date/time (2026-11-25); default: since the journal started.")] = None,
    as_json: JsonFlag = False,
    html: Annotated[Path | None, typer.Option(
        "--html", metavar="FILE", help="Also write the report with its charts to FILE: one self-contained "
                                       "HTML page (no network needed to view it).")] = None,
) -> None:
    """What synthetic rebalancing cost against doing the same adjustments as spot trades, per asset and in
    total: perp fees, funding (+ received) and hedge P&L; spot fees, the realised gains those sales would
    have triggered against costs.cost_basis (average or FIFO) and their tax; the saving (spot cost minus
    synthetic cost, hedge P&L not counted) and the break-even (days the current hedges can stay open before
    funding eats the saving). Syncs the ledger first, as `pnl` does; an unknown figure is ? / null, never 0."""
    with reported_errors(ctx):
        from datetime import datetime, timezone

        from rebalancer.render import cost_report_tables

        settings = _load(config, stderr_logs=_debug(ctx))
        now = datetime.now(timezone.utc)
        start = parse_when(since, now=now, option="--since") if since else None
        if not settings.journal_path().exists():
            raise CommandError(f"no journal at {settings.journal_path()} yet: run a cycle first "
                               f"(rebalancer rebalance --execute), or pass the --config whose [journal] path you mean")
        try:
            doc, sync = _report_read(settings, since=start, now=now)
        except (CommandError, ConfigError):
            raise
        except Exception as exc:
            raise CommandError(_venue_hint(exc, settings)) from exc
        if html is not None:
            from rebalancer.html_report import render_report_html

            try:
                html.write_text(render_report_html(doc), encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"cannot write {html.absolute()} ({exc.strerror or exc}): pick a writable "
                                   f"path for --html") from None
        if as_json:
            typer.echo(json.dumps({**doc, "ledger": {"trades_added": sync.trades, "funding_added": sync.funding,
                                                     "errors": list(sync.errors)}}, indent=2))
        else:
            _print_table(cost_report_tables(doc))
            if html is not None:
                typer.echo(f"wrote {html.absolute()}")
        for problem in sync.errors:
            typer.echo(f"warning: ledger read failed, figures may be behind: {problem}", err=True)


def _report_read(settings: Settings, *, since: Any, now: Any) -> tuple[Any, Any]:
    """Connect, sync the ledger, read the positions; the report document (costs_report.build_report)."""
    from rebalancer.costs_report import build_report

    async def read(venue: Any, journal: Any, positions: Any) -> Any:
        return build_report(settings, journal, since=since, now=now, positions=positions)

    return _with_synced_ledger(settings, read)


@app.command()
def demo(
    ctx: typer.Context,
    exchange: Annotated[
        str, typer.Option("--exchange", help="Which exchange the local exchange speaks, through that exchange's "
                          "own ccxt class: binance, bybit, okx, bingx, mexc or weex.")
    ] = "binance",
) -> None:
    """Run DOMAIN.md example 2 end to end on the built-in local exchange (no network, no keys)."""
    import asyncio

    with reported_errors(ctx):
        from rebalancer.demo import EXCHANGES, run_demo
        from rebalancer.logs import configure_logging

        if exchange not in EXCHANGES:
            raise CommandError(f"--exchange: {exchange!r} is not one of {', '.join(EXCHANGES)}", exit_code=2)
        configure_logging(level="warning", fmt="console", file=None)
        code = asyncio.run(run_demo(exchange=exchange))
    raise typer.Exit(code)


@app.command()
def run(ctx: typer.Context, config: ConfigPath = DEFAULT_CONFIG_PATH) -> None:
    """The daemon: scheduled cycles until SIGTERM/SIGINT; SIGHUP reloads the config."""
    with reported_errors(ctx):
        from rebalancer.daemon import run_daemon

        settings = _load(config, stderr_logs=True)
        code = run_daemon(config, settings)
    raise typer.Exit(code)


@app.command()
def halt(
    ctx: typer.Context,
    config: ConfigPath = DEFAULT_CONFIG_PATH,
    reason: Annotated[str, typer.Option(help="Why (kept in the kill-switch file).")] = "halted by operator",
) -> None:
    """Engage the kill switch: no new orders from the next check on (the daemon keeps running)."""
    from datetime import datetime, timezone

    with reported_errors(ctx):
        settings = load_settings(config)
        path = settings.kill_switch_path()  # absolute: relative paths are the config file's directory
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"{datetime.now(timezone.utc).isoformat()} {reason}\n")
        except OSError as exc:
            raise CommandError(f"cannot write the kill switch file {path} ({exc.strerror or exc}): run this as "
                               "the daemon's user, or fix risk.kill_switch_file") from None
        typer.echo(f"kill switch ON: {path} (a running daemon sends no new order from now on; "
                   "`rebalancer resume` to trade again)")


@app.command()
def resume(ctx: typer.Context, config: ConfigPath = DEFAULT_CONFIG_PATH) -> None:
    """Release the kill switch file and clear a state forced by failures (risk.halted = true still halts)."""
    with reported_errors(ctx):
        settings = load_settings(config)
        path = settings.kill_switch_path()
        if path.exists():
            path.unlink()
            typer.echo(f"kill switch OFF: removed {path}")
        else:
            typer.echo(f"kill switch was not engaged ({path} does not exist)")
        journal_path = settings.journal_path()
        if journal_path.exists():  # a state forced by failures is kept in the journal: clear it there
            from rebalancer.journal import Journal

            with Journal(journal_path, read_only=False) as journal:
                cleared = journal.clear_forced_state()
            if cleared is not None:
                typer.echo(f"forced {cleared.state} cleared ({cleared.reason}; since {cleared.since.isoformat()}) "
                           f"in {journal_path}: a running daemon trades again from its next cycle")
            else:
                typer.echo(f"no forced state in {journal_path}")
        if settings.risk.halted:
            raise CommandError("risk.halted = true in the config still halts trading", exit_code=1)


def main() -> None:
    """Console-script entry point (`rebalancer`). Files this process creates (journal, its lock,
    logs, the kill switch) are private to the user: umask 077 makes them 0600."""
    os.umask(0o077)
    app(prog_name="rebalancer")
