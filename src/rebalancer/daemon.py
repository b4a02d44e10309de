"""`rebalancer run`: scheduled cycles (APScheduler), signals, health/metrics endpoint, alerts.

One cycle at a time; SIGTERM/SIGINT let an in-flight cycle settle its orders (up to
`rebalance.shutdown_timeout_s`), then exit 0; SIGHUP reloads the config only if it validates.
The daemon starts whatever the exchange's state: connecting is part of a cycle. The trading state
(ACTIVE / REDUCING / HALTED and why) belongs to `trading_state.TradingStateOwner`; health,
metrics and alerts follow it the moment it changes.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import structlog
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .domain import CycleKind, CycleOutcome, TradingState
from .settings import ConfigError, Settings, load_settings

log = structlog.get_logger("rebalancer.daemon")


class LockHeld(RuntimeError):
    """Another process trades this account (it holds the journal's lock)."""


class LockUnavailable(RuntimeError):
    """The lock file beside the journal cannot be created (read-only or missing directory)."""


class JournalLock:
    """An exclusive flock beside the journal: one trading process per journal and account."""

    def __init__(self, journal_path: str | Path) -> None:
        self.path = Path(f"{journal_path}.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            where = self.path.absolute()
            raise LockUnavailable(
                f"cannot create the journal lock {where} ({exc.strerror or exc}): trading needs the journal's "
                f"directory {where.parent} writable by this user; fix its permissions or point [journal] path "
                "at a writable place (read-only commands such as status and orders work without it)"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise LockHeld(
                f"another rebalancer (pid {holder}) is trading with journal {str(self.path)[:-5]}; "
                "stop it first, or give this one its own journal and account"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "JournalLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def make_trigger(settings: Settings) -> Any:
    r = settings.rebalance
    jitter = int(r.jitter_s) or None
    if r.interval_seconds is not None:
        return IntervalTrigger(seconds=r.interval_seconds, jitter=jitter, timezone=timezone.utc)
    return CronTrigger(**r.cron_fields, jitter=jitter, timezone=timezone.utc)


class Daemon:
    """Runs cycles on a schedule until told to stop; never two cycles at once."""

    def __init__(
        self,
        settings: Settings,
        *,
        config_path: str | Path | None = None,
        rebalancer_factory: Callable[[Settings], Any] | None = None,
        shutdown_timeout_s: float | None = None,
        state_poll_s: float = 0.5,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        from .alerts import AlertQueue
        from .alerts import from_settings as alerts_from_settings
        from .metrics import Metrics

        self.settings = settings
        self.config_path = config_path
        self.clock = clock
        self._shutdown_timeout_s = shutdown_timeout_s
        self.state_poll_s = state_poll_s
        self._factory = rebalancer_factory or self._default_factory
        self.metrics = Metrics()
        self.alerts = alerts_from_settings(settings.alerts)
        # Cycles never await a webhook: alerts go to a bounded queue drained by its own task.
        self.alert_queue = AlertQueue(
            self.alerts, maxsize=settings.alerts.queue_size,
            on_sent=lambda a: self.metrics.count_alert(a.kind),
            on_failed=lambda a: self.metrics.count_alert_failed(a.kind),
            on_dropped=lambda a: self.metrics.count_alert_dropped(a.kind),
        )
        # The one-line cause while the journal cannot record cycles (full, locked, corrupt), else None.
        self.journal_problem: str | None = None
        self.stop_event = asyncio.Event()
        self._cycle_lock = asyncio.Lock()
        self._current: asyncio.Task | None = None
        self.rebalancer: Any = None
        self.consecutive_failures = 0
        self.last_cycle: dict[str, Any] = {}
        self.last_report: Any = None  # the last cycle's report, for the dashboard
        self._watcher: asyncio.Task | None = None
        self._background: set[asyncio.Task] = set()
        self.cycles_run = 0
        self.scheduler: AsyncIOScheduler | None = None
        self._runner: web.AppRunner | None = None
        self.health_url: str | None = None

    @staticmethod
    def _default_factory(settings: Settings) -> Any:
        from .service import Rebalancer

        return Rebalancer(settings)

    # ------------------------------------------------------------------ lifecycle

    @property
    def shutdown_timeout_s(self) -> float:
        if self._shutdown_timeout_s is not None:
            return self._shutdown_timeout_s
        return float(self.settings.rebalance.shutdown_timeout_s)

    @property
    def trading(self) -> Any:
        """The trading state's owner (the rebalancer's, so the gate and the executor read the same)."""
        return self.rebalancer.trading

    async def run(self) -> int:
        lock = JournalLock(self.settings.journal_path())
        lock.acquire()
        try:
            self.rebalancer = self._factory(self.settings)
            if hasattr(self.rebalancer.venue, "on_request"):
                self.rebalancer.venue.on_request = self.metrics.observe_request
            try:
                self._check_journal()
                self.alert_queue.start()
                self.trading.subscribe(self._state_changed)
                self.metrics.set_trading_state(self.trading.refresh())
                await self._start_health()
                self._install_signals()
                self._start_scheduler()
                self._watcher = asyncio.create_task(self._watch_state())
                if not self.settings.rebalance.run_at_start:
                    # Crash leftovers are settled by every executing cycle first; without a cycle at
                    # start, try now (an unreachable exchange is retried by the first cycle). With
                    # protection on, that is a "protect" cycle: it also puts back any missing stop.
                    self._spawn(self._protect_at_start() if self.settings.protection.enabled
                                else self._resolve_at_start())
                log.info("daemon_started", schedule=self.settings.rebalance.schedule, health=self.health_url,
                         state=self.trading.current.state.value)
                await self.stop_event.wait()
                log.info("daemon_stopping")
                await self._shutdown()
            finally:
                await self.rebalancer.close()
                # Queued alerts get a bounded moment to go out; a hanging webhook cannot hold the exit.
                await self.alert_queue.aclose(timeout=min(float(self.settings.alerts.timeout_s), 5.0))
        finally:
            lock.release()
        log.info("daemon_stopped", cycles=self.cycles_run)
        return 0

    def _check_journal(self) -> None:
        """PRAGMA quick_check before trading: a damaged journal stops the start with its file named."""
        journal = getattr(self.rebalancer, "journal", None)
        if journal is not None and hasattr(journal, "quick_check"):
            journal.quick_check()

    async def _resolve_at_start(self) -> None:
        async with self._cycle_lock:
            try:
                unresolved = await self.rebalancer.resolve()
                if unresolved:
                    log.warning("orders_unresolved_at_start", count=len(unresolved))
            except Exception as exc:
                log.warning("connect_failed_at_start", error=str(exc) or type(exc).__name__,
                            error_type=type(exc).__name__)

    async def _protect_at_start(self) -> None:
        """No trade at start (run_at_start = false), but no hedge may wait unprotected for the first
        scheduled cycle: one PROTECT cycle (settle leftovers, recognise fired stops, place missing ones)."""
        try:
            await self.run_cycle(kind=CycleKind.PROTECT)
        except Exception as exc:  # the cycle reports its own failures; this is the unexpected rest
            log.warning("protect_failed_at_start", error=str(exc) or type(exc).__name__,
                        error_type=type(exc).__name__)

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self.request_stop, "SIGINT")
        loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self.reload()))

    def request_stop(self, why: str = "") -> None:
        log.info("stop_requested", signal=why)
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.pause()  # no new cycles from now on
        self.stop_event.set()

    def _start_scheduler(self) -> None:
        self.scheduler = AsyncIOScheduler(timezone=timezone.utc)
        r = self.settings.rebalance
        self.scheduler.add_job(
            self._scheduled_cycle,
            make_trigger(self.settings),
            id="cycle",
            max_instances=1,  # APScheduler skips a run while the previous one is still going
            coalesce=True,  # missed runs collapse into one
            misfire_grace_time=None,
            next_run_time=datetime.now(timezone.utc) if r.run_at_start else None,
        )
        self.scheduler.start()

    async def _shutdown(self) -> None:
        """Wait for the cycle in flight (bounded), and only then stop the scheduler: APScheduler's
        shutdown cancels the tasks of running jobs. The cycle runs in its own task, shielded from
        that cancellation, so it settles every order it sent before the process exits."""
        current = self._current
        if current is not None and not current.done():
            log.info("waiting_for_cycle", timeout_s=self.shutdown_timeout_s)
            try:
                await asyncio.wait_for(asyncio.shield(current), self.shutdown_timeout_s)
                log.info("cycle_settled_at_shutdown")
            except asyncio.TimeoutError:
                log.error("cycle_abandoned_at_shutdown", timeout_s=self.shutdown_timeout_s,
                          detail="its orders stay pending/unknown in the journal; the next start settles them")
                current.cancel()
                await asyncio.gather(current, return_exceptions=True)
            except Exception:
                pass  # the cycle's own failure is logged by the cycle
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        for task in [self._watcher, *self._background]:
            if task is not None and not task.done():
                task.cancel()
        await asyncio.gather(*(t for t in [self._watcher, *self._background] if t is not None),
                             return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------ cycles

    async def _scheduled_cycle(self) -> None:
        if self.stop_event.is_set():
            return
        # The cycle gets its own task: a cancelled scheduler job must not cancel order settlement.
        task = asyncio.ensure_future(self.run_cycle())
        self._current = task
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():
                log.info("cycle_continues_after_job_cancelled")
            raise

    async def run_cycle(self, kind: CycleKind = CycleKind.REBALANCE) -> Any:
        async with self._cycle_lock:  # belt and braces with max_instances=1
            report = await self.rebalancer.cycle(execute=True, kind=kind)
            await self._sync_ledger(report)
            self.cycles_run += 1
            await self._after_cycle(report)
            return report

    async def _sync_ledger(self, report: Any) -> None:
        """The ledger read right after an executing cycle, still under the cycle lock (service.sync_ledger)."""
        sync = getattr(self.rebalancer, "sync_ledger", None)
        if sync is not None:
            await sync(report)

    async def _after_cycle(self, report: Any) -> None:
        from .alerts import alerts_for_cycle, consecutive_failures_alert

        failed = report.outcome == CycleOutcome.FAILED
        self.consecutive_failures = self.consecutive_failures + 1 if failed else 0
        self.journal_problem = getattr(report, "journal_error", None)
        self.metrics.set_journal_writable(self.journal_problem is None)
        self.metrics.observe_cycle(report)
        if getattr(report, "pnl", None) is not None:
            self.metrics.observe_pnl(report.pnl)
        self.metrics.set_consecutive_failures(self.consecutive_failures)
        self.last_report = report  # the dashboard reads it (never under the cycle lock)
        self.last_cycle = {
            "cycle_id": report.cycle_id,
            "outcome": str(report.outcome),
            "finished_at": (report.finished_at or self.clock()).isoformat(),
            "error": report.error,
        }
        # The trading_state alert comes from the owner when the state changes, not once per cycle.
        alerts = [a for a in alerts_for_cycle(report, liquidation_warning=self.settings.alerts.liquidation_warning)
                  if a.kind != "trading_state"]
        limit = self.settings.rebalance.max_consecutive_failures
        if failed and self.consecutive_failures >= limit and self.trading.forced is None:
            state = TradingState(self.settings.rebalance.on_failures)
            reason = f"forced after {self.consecutive_failures} consecutive failures: {report.error or 'failed'}"
            alerts.append(consecutive_failures_alert(self.consecutive_failures, report.error or ""))
            log.error("trading_state_forced", state=state.value, failures=self.consecutive_failures,
                      reason=reason)
            self.trading.force(state, reason)
        for alert in alerts:
            self._alert(alert)
        self._maintain_journal()
        if (not failed and not self.stop_event.is_set() and self.settings.rebalance.one_legged == "unwind"
                and any(a.kind == "one_legged_hedge" for a in alerts)):
            log.warning("one_legged_unwind")
            await self.rebalancer.cycle(execute=True, kind=CycleKind.UNWIND)

    def _alert(self, alert: Any) -> None:
        """Queue an alert; never waits for the webhook (the queue's task delivers and counts it)."""
        self.alert_queue.submit(alert)
        self.metrics.set_alerts_queued(len(self.alert_queue))

    async def _send_alert(self, alert: Any) -> None:
        self._alert(alert)

    def _maintain_journal(self) -> None:
        """After every cycle: prune idle cycles' stored JSON past `journal.retain_days` and truncate
        the WAL. A failure is logged, never fatal: the cycles' own writes say whether the journal works."""
        from datetime import timedelta

        journal = getattr(self.rebalancer, "journal", None)
        if journal is None or not hasattr(journal, "checkpoint"):
            return
        try:
            retain = timedelta(days=self.settings.journal.retain_days)
            pruned = journal.prune_idle_cycles(self.clock() - retain)
            if pruned:
                log.info("journal_pruned", cycles=pruned, retain_days=self.settings.journal.retain_days)
        except Exception as exc:
            log.warning("journal_prune_failed", error=str(exc) or type(exc).__name__)
        try:
            busy, _, _ = journal.checkpoint()
            if busy:
                log.debug("journal_checkpoint_busy")
        except Exception as exc:
            log.warning("journal_checkpoint_failed", error=str(exc) or type(exc).__name__)

    # ------------------------------------------------------------------ trading state

    def _state_changed(self, old: Any, new: Any) -> None:
        """The owner's state changed (a cycle, `halt`/`resume` in another process, the config)."""
        from .alerts import trading_state_alert

        self.metrics.set_trading_state(new)
        if self.trading.forced is None and self.consecutive_failures >= self.settings.rebalance.max_consecutive_failures:
            # `rebalancer resume` cleared the forced state: the failure count starts again.
            self.consecutive_failures = 0
            self.metrics.set_consecutive_failures(0)
        if new.state is not TradingState.ACTIVE:
            try:
                self._alert(trading_state_alert(new))
            except RuntimeError:  # no running loop (called outside the daemon)
                pass

    async def _watch_state(self) -> None:
        """Read the state's sources twice a second, so a `halt` or `resume` from another process
        shows in /healthz, /metrics and alerts at once, not at the next cycle."""
        while True:
            await asyncio.sleep(self.state_poll_s)
            try:
                self.trading.refresh()
            except Exception as exc:
                log.warning("trading_state_refresh_failed", error=str(exc))

    # ------------------------------------------------------------------ reload

    async def reload(self) -> bool:
        """SIGHUP: validate the file first; an invalid file keeps the running config and alerts."""
        from .alerts import config_reload_failed_alert

        try:
            new = load_settings(self.config_path)
        except ConfigError as exc:
            log.error("config_reload_failed", problems=exc.problems)
            self._alert(config_reload_failed_alert(exc.problems))
            return False
        if new.venues != self.settings.venues or new.journal != self.settings.journal:
            log.warning("config_reload_partial", reason="venue and journal changes take effect after a restart")
            new = new.model_copy(update={"venues": self.settings.venues, "journal": self.settings.journal})
        schedule_changed = new.rebalance.schedule != self.settings.rebalance.schedule
        self.settings = new
        self.rebalancer.settings = new  # the trading state's owner reads the new config too
        # A state forced by consecutive failures survives a reload (it is in the journal): `resume` clears it.
        if schedule_changed and self.scheduler is not None:
            self.scheduler.reschedule_job("cycle", trigger=make_trigger(new))
        log.info("config_reloaded", schedule=new.rebalance.schedule)
        return True

    # ------------------------------------------------------------------ health

    async def _start_health(self) -> None:
        h = self.settings.health
        if h.port == 0:
            return  # disabled by config
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/livez", self._livez)
        app.router.add_get("/metrics", self._metrics)
        if h.dashboard:
            from .dashboard import add_routes

            add_routes(app, self)  # read-only; token rules in dashboard.check_access
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, h.host, h.port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.health_url = f"http://{h.host}:{port}"

    def health(self) -> dict[str, Any]:
        """The readiness document: ready (HTTP 200) while trading may happen, i.e. not HALTED and
        fewer than `rebalance.max_consecutive_failures` failed cycles in a row; 503 otherwise, with why."""
        info = self.trading.refresh() if self.rebalancer is not None else None
        limit = self.settings.rebalance.max_consecutive_failures
        failing = self.consecutive_failures >= limit
        halted = info is not None and info.state is TradingState.HALTED
        status = "failing" if failing else ("halted" if halted else "ok")
        last_error = self.last_cycle.get("error") if self.last_cycle else None
        if self.journal_problem:
            status, cause = "unhealthy", self.journal_problem  # names the file and what to do
        elif failing:
            cause = f"{self.consecutive_failures} consecutive failed cycles: {last_error or 'failed'}"
        elif halted:
            cause = info.reason if info else ""
        else:
            cause = ""
        kill_file = self.settings.kill_switch_path()
        forced = self.trading.forced if self.rebalancer is not None else None
        return {
            "status": status,
            "ready": status == "ok",
            "cause": " ".join(str(cause).split()),  # one line
            "state": info.state.value if info else "ACTIVE",
            "reason": info.reason if info else "",
            "since": info.since.isoformat() if info and info.since else None,
            "kill_switch": kill_file.exists() or self.settings.risk.halted,
            "kill_switch_file": str(kill_file),
            "forced": ({"state": forced.state, "reason": forced.reason, "since": forced.since.isoformat()}
                       if forced is not None else None),
            "cycles": self.cycles_run,
            "consecutive_failures": self.consecutive_failures,
            "max_consecutive_failures": limit,
            "exchange": {
                "connected": bool(getattr(self.rebalancer, "connected", False)),
                "last_error": last_error if self.last_cycle.get("outcome") == "failed" else None,
            },
            "last_cycle": self.last_cycle or None,
            "cycle_running": self._cycle_lock.locked(),
            "journal": {"path": str(Path(self.settings.journal_path()).absolute()),
                        "writable": self.journal_problem is None, "problem": self.journal_problem},
            "alerts_queued": len(self.alert_queue),
        }

    async def _healthz(self, request: web.Request) -> web.Response:
        body = self.health()
        return web.json_response(body, status=200 if body["ready"] else 503)

    async def _livez(self, request: web.Request) -> web.Response:
        """Liveness: the process and its event loop answer. Never 503 for trading reasons, so a
        supervisor does not restart a daemon that is (correctly) halted."""
        return web.json_response({"alive": True, "cycle_running": self._cycle_lock.locked()})

    async def _metrics(self, request: web.Request) -> web.Response:
        if self.rebalancer is not None:
            self.trading.refresh()  # the state gauge is current at every scrape
        self.metrics.set_alerts_queued(len(self.alert_queue))
        return web.Response(body=self.metrics.render(), headers={"Content-Type": self.metrics.content_type})


def run_daemon(config_path: str | Path | None, settings: Settings) -> int:
    return asyncio.run(Daemon(settings, config_path=config_path).run())


__all__ = ["Daemon", "JournalLock", "LockHeld", "LockUnavailable", "make_trigger", "run_daemon"]
