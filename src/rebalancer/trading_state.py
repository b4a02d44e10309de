"""The one owner of the trading state: ACTIVE / REDUCING / HALTED, and why.

Every reader (the gate's limits, the executor's last check before a send, `/healthz`, `/metrics`,
alerts, `status`) asks this object; nothing else decides the state. Its sources, strongest first:

1. the kill switch file (`rebalancer halt` writes it, `resume` removes it)  -> HALTED
2. `risk.halted = true` in the config                                      -> HALTED
3. a state forced and kept in the journal (the daemon after
   `rebalance.max_consecutive_failures` failed cycles; `resume` clears it)  -> rebalance.on_failures
4. the risk gate's last verdict (REDUCING by liquidation distance)          -> REDUCING
5. otherwise                                                               -> ACTIVE

Sources 1 and 3 live outside the process (a file, a journal row), so another process changes them;
`refresh()` reads them again (the daemon calls it twice a second and on every health request) and
tells the subscribers the moment the state or its reason changes.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import structlog

from .domain import RiskLimits, TradingState, TradingStateInfo, Verdict

log = structlog.get_logger("rebalancer.trading_state")

__all__ = ["TradingStateOwner", "kill_switch_path", "read_kill_switch"]

Listener = Callable[[TradingStateInfo, TradingStateInfo], None]

FORCED_BY_DAEMON = "daemon"


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def kill_switch_path(settings: Any) -> Path:
    """The kill switch file as an absolute path: a relative `risk.kill_switch_file` is relative to
    the config file's directory (the working directory when the settings came from no file)."""
    return Path(settings.kill_switch_path()).absolute()


def read_kill_switch(path: Path) -> tuple[str, datetime | None] | None:
    """(reason, since) when the file exists, None when it does not. `halt` writes
    "<ISO time> <reason>"; any other content is the reason, the file's mtime the time."""
    try:
        text = path.read_text(errors="replace").strip()
        mtime = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
    except FileNotFoundError:
        return None
    except OSError:
        return ("", None) if path.exists() else None
    first, _, rest = text.partition(" ")
    try:
        since = datetime.fromisoformat(first)
        return rest.strip(), since if since.tzinfo else since.replace(tzinfo=timezone.utc)
    except ValueError:
        return text, mtime


class TradingStateOwner:
    """Decides the trading state from its sources and tells subscribers when it changes."""

    def __init__(self, settings: Any, journal: Any, *, clock: Callable[[], datetime] = _utc_now) -> None:
        self.settings = settings
        self.journal = journal
        self.clock = clock
        self._gate: TradingStateInfo | None = None  # REDUCING from the last verdict
        self._forced: Any = None  # the journal's ForcedState, as last read
        # A state forced while the journal could not be written (full, locked): held in memory,
        # written to the journal by the first refresh that can, and until then as binding as the row.
        self._unsaved: Any = None
        self._next_save = 0.0  # monotonic time of the next try (a locked journal waits busy_timeout)
        self._listeners: list[Listener] = []
        self._current = TradingStateInfo(TradingState.ACTIVE, "", clock())
        self._current = self._compute()

    # ------------------------------------------------------------------ reading

    @property
    def current(self) -> TradingStateInfo:
        """The state as of the last refresh (cheap; call refresh() to read the sources again)."""
        return self._current

    @property
    def forced(self) -> Any:
        """The forced state in the journal as last read (journal.ForcedState), or None."""
        return self._forced

    def kill_switch_path(self) -> Path:
        return kill_switch_path(self.settings)

    def refresh(self) -> TradingStateInfo:
        """Read the sources again; notify subscribers when the state or its reason changed."""
        new = self._compute()
        old = self._current
        if (new.state, new.reason) != (old.state, old.reason):
            self._current = new
            emit = log.info if new.state is TradingState.ACTIVE else log.warning
            emit("trading_state_changed", state=new.state.value, reason=new.reason, previous=old.state.value)
            for listener in list(self._listeners):
                try:
                    listener(old, new)
                except Exception as exc:  # a reader's failure never changes the state
                    log.error("trading_state_listener_failed", error=str(exc))
        return self._current

    def _read_forced(self) -> Any:
        if self._unsaved is not None:
            self._save_unsaved()
        try:
            self._forced = self.journal.forced_state()
        except Exception as exc:  # keep the last known value: a busy or closed journal is not a resume
            log.warning("trading_state_read_failed", error=str(exc))
        if self._unsaved is not None:
            self._forced = self._unsaved
        return self._forced

    def _save_unsaved(self) -> None:
        f = self._unsaved
        if time.monotonic() < self._next_save:
            return
        self._next_save = time.monotonic() + 10.0
        try:
            if self.journal.forced_state() is None:
                self.journal.set_forced_state(f.state, reason=f.reason, since=f.since, source=f.source)
        except Exception:
            return  # still cannot write: keep it in memory
        log.info("forced_state_saved", state=f.state, reason=f.reason)
        self._unsaved = None

    def _compute(self) -> TradingStateInfo:
        kill = self.kill_switch_path()
        switch = read_kill_switch(kill)
        forced = self._read_forced()
        if switch is not None:
            reason, since = switch
            return self._info(TradingState.HALTED, f"kill switch file {kill}" + (f": {reason}" if reason else ""),
                              since)
        if self.settings.risk.halted:
            return self._info(TradingState.HALTED, "config risk.halted = true")
        if forced is not None:
            try:
                state = TradingState(forced.state)
            except ValueError:
                state = TradingState.HALTED  # fail closed on a value this version does not know
            return self._info(state, forced.reason, forced.since)
        if self._gate is not None:
            return self._info(self._gate.state, self._gate.reason, self._gate.since)
        return self._info(TradingState.ACTIVE, "")

    def _info(self, state: TradingState, reason: str, since: datetime | None = None) -> TradingStateInfo:
        """Keep `since` of the current state while the state and reason stay the same."""
        cur = self._current
        if (cur.state, cur.reason) == (state, reason):
            return cur
        return TradingStateInfo(state, reason, since or self.clock())

    # ------------------------------------------------------------------ what the gate and executor use

    def limits(self) -> RiskLimits:
        """The gate's limits with this state applied: HALTED from any source halts, a forced
        REDUCING only shrinks (the gate's own REDUCING comes from its own checks)."""
        info = self.refresh()
        limits = self.settings.risk_limits(halted=info.state is TradingState.HALTED)
        if self._forced is not None and info.state is TradingState.REDUCING:
            limits = replace(limits, reducing=True)
        return limits

    def halted(self) -> bool:
        """Read fresh right before every order is sent: `halt` in another process stops the next send."""
        return self.refresh().state is TradingState.HALTED

    # ------------------------------------------------------------------ changing it

    def observe_verdict(self, verdict: Verdict | None) -> TradingStateInfo:
        """The gate's REDUCING (liquidation distance or another check) lasts until a verdict without it."""
        if verdict is not None:
            state = TradingState(getattr(verdict.state, "value", verdict.state))
            if state is TradingState.REDUCING and self._forced is None:
                codes = sorted({w.code for w in verdict.warnings}) or ["risk gate"]
                words = ["liquidation distance" if c == "LIQUIDATION" else c for c in codes]
                reason = "risk gate: " + ", ".join(words)
                if self._gate is None or self._gate.reason != reason:
                    self._gate = TradingStateInfo(TradingState.REDUCING, reason, self.clock())
            elif state is TradingState.ACTIVE:
                self._gate = None
        return self.refresh()

    def force(self, state: TradingState, reason: str, *, source: str = FORCED_BY_DAEMON) -> TradingStateInfo:
        """Keep `state` in the journal until `rebalancer resume` clears it (survives restarts). When
        the journal cannot be written (full, locked) the state is held in memory, binding at once,
        and written to the journal as soon as it can be."""
        since = self.clock()
        try:
            self.journal.set_forced_state(state.value, reason=reason, since=since, source=source)
        except Exception as exc:
            from .journal import ForcedState

            log.error("forced_state_in_memory", state=state.value, reason=reason, error=str(exc))
            self._unsaved = ForcedState(state.value, reason, since, source)
        return self.refresh()

    def clear_forced(self) -> Any:
        """What `resume` does to a forced state; returns the state that was cleared (or None)."""
        unsaved, self._unsaved = self._unsaved, None
        cleared = self.journal.clear_forced_state() or unsaved
        self.refresh()
        return cleared

    def subscribe(self, listener: Listener) -> None:
        """`listener(old, new)` runs on every change, synchronously, inside refresh()."""
        self._listeners.append(listener)
