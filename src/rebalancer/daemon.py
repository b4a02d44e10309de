"""`rebalancer run`: scheduled cycles (APScheduler), signals, health/metrics endpoint, alerts.

One cycle at a time; SIGTERM/SIGINT let an in-flight cycle settle its orders, then exit 0;
SIGHUP reloads the config only if it validates.
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

from .domain import TradingState
from .settings import ConfigError, Settings, load_settings

log = structlog.get_logger("rebalancer.daemon")


class LockHeld(RuntimeError):
    """Another process trades this account (it holds the journal's lock)."""


class JournalLock:
    """An exclusive flock beside the journal: one trading process per journal and account."""

    def __init__(self, journal_path: str | Path) -> None:
        self.path = Path(f"{journal_path}.lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
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
        shutdown_timeout_s: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        from .alerts import from_settings as alerts_from_settings
        from .metrics import Metrics

        self.settings = settings
        self.config_path = config_path
        self.clock = clock
        self.shutdown_timeout_s = shutdown_timeout_s
        self._factory = rebalancer_factory or self._default_factory
        self.metrics = Metrics()
        self.alerts = alerts_from_settings(settings.alerts)
        self.stop_event = asyncio.Event()
        self._cycle_lock = asyncio.Lock()
        self._current: asyncio.Task | None = None
        self.rebalancer: Any = None
        self.consecutive_failures = 0
        self.forced_state: TradingState | None = None
        self.last_cycle: dict[str, Any] = {}
        self.cycles_run = 0
        self.scheduler: AsyncIOScheduler | None = None
        self._runner: web.AppRunner | None = None
        self.health_url: str | None = None

    @staticmethod
    def _default_factory(settings: Settings) -> Any:
        from .service import Rebalancer

        return Rebalancer(settings)

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> int:
        lock = JournalLock(self.settings.journal.path)
        lock.acquire()
        try:
            self.rebalancer = self._factory(self.settings)
            if hasattr(self.rebalancer.venue, "on_request"):
                self.rebalancer.venue.on_request = self.metrics.observe_request
            try:
                unresolved = await self.rebalancer.resolve()
                if unresolved:
                    log.warning("orders_unresolved_at_start", count=len(unresolved))
                await self._start_health()
                self._install_signals()
                self._start_scheduler()
                log.info("daemon_started", schedule=self.settings.rebalance.schedule, health=self.health_url)
                await self.stop_event.wait()
                log.info("daemon_stopping")
                await self._shutdown()
            finally:
                await self.rebalancer.close()
                await self.alerts.aclose()
        finally:
            lock.release()
        log.info("daemon_stopped", cycles=self.cycles_run)
        return 0

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.request_stop, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self.request_stop, "SIGINT")
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))

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
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        if self._current is not None and not self._current.done():
            log.info("waiting_for_cycle", timeout_s=self.shutdown_timeout_s)
            try:
                await asyncio.wait_for(asyncio.shield(self._current), self.shutdown_timeout_s)
            except asyncio.TimeoutError:
                log.error("cycle_abandoned_at_shutdown", timeout_s=self.shutdown_timeout_s)
                self._current.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------ cycles

    async def _scheduled_cycle(self) -> None:
        if self.stop_event.is_set():
            return
        self._current = asyncio.current_task()
        await self.run_cycle()

    async def run_cycle(self) -> Any:
        async with self._cycle_lock:  # belt and braces with max_instances=1
            rb = self.rebalancer
            rb.forced_state = self.forced_state
            report = await rb.cycle(execute=True)
            self.cycles_run += 1
            await self._after_cycle(report)
            return report

    async def _after_cycle(self, report: Any) -> None:
        from .alerts import alerts_for_cycle, consecutive_failures_alert

        failed = report.outcome == "failed"
        self.consecutive_failures = self.consecutive_failures + 1 if failed else 0
        self.metrics.observe_cycle(report)
        self.metrics.set_consecutive_failures(self.consecutive_failures)
        self.last_cycle = {
            "cycle_id": report.cycle_id,
            "outcome": report.outcome,
            "finished_at": (report.finished_at or self.clock()).isoformat(),
            "error": report.error,
        }
        alerts = alerts_for_cycle(report, liquidation_warning=self.settings.alerts.liquidation_warning)
        limit = self.settings.rebalance.max_consecutive_failures
        if failed and self.consecutive_failures >= limit and self.forced_state is None:
            self.forced_state = TradingState(self.settings.rebalance.on_failures)
            alerts.append(consecutive_failures_alert(self.consecutive_failures, report.error or ""))
            log.error("trading_state_forced", state=self.forced_state.value, failures=self.consecutive_failures)
        for alert in alerts:
            if await self.alerts.send(alert):
                self.metrics.count_alert(alert.kind)
        if (not failed and self.settings.rebalance.one_legged == "unwind"
                and any(a.kind == "one_legged_hedge" for a in alerts)):
            log.warning("one_legged_unwind")
            await self.rebalancer.cycle(execute=True, kind="unwind")

    # ------------------------------------------------------------------ reload

    async def reload(self) -> bool:
        """SIGHUP: validate the file first; an invalid file keeps the running config and alerts."""
        from .alerts import config_reload_failed_alert

        try:
            new = load_settings(self.config_path)
        except ConfigError as exc:
            log.error("config_reload_failed", problems=exc.problems)
            await self.alerts.send(config_reload_failed_alert(exc.problems))
            return False
        if new.venues != self.settings.venues or new.journal != self.settings.journal:
            log.warning("config_reload_partial", reason="venue and journal changes take effect after a restart")
            new = new.model_copy(update={"venues": self.settings.venues, "journal": self.settings.journal})
        schedule_changed = new.rebalance.schedule != self.settings.rebalance.schedule
        self.settings = new
        self.rebalancer.settings = new
        # A state forced by consecutive failures survives a reload: only a restart clears it.
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
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, h.host, h.port)
        await site.start()
        port = self._runner.addresses[0][1]
        self.health_url = f"http://{h.host}:{port}"

    def health(self) -> dict[str, Any]:
        halted = self.settings.kill_switch_engaged()
        state = "HALTED" if halted else (self.forced_state.value if self.forced_state else "ACTIVE")
        ok = self.consecutive_failures < self.settings.rebalance.max_consecutive_failures
        return {
            "status": "ok" if ok else "failing",
            "state": state,
            "kill_switch": halted,
            "cycles": self.cycles_run,
            "consecutive_failures": self.consecutive_failures,
            "last_cycle": self.last_cycle or None,
            "cycle_running": self._cycle_lock.locked(),
        }

    async def _healthz(self, request: web.Request) -> web.Response:
        body = self.health()
        return web.json_response(body, status=200 if body["status"] == "ok" else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": self.metrics.content_type})


def run_daemon(config_path: str | Path | None, settings: Settings) -> int:
    return asyncio.run(Daemon(settings, config_path=config_path).run())


__all__ = ["Daemon", "JournalLock", "LockHeld", "make_trigger", "run_daemon"]
