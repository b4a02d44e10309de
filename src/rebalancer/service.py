"""The composition root: settings -> venue, journal, executor; one cycle from snapshot to journal.

Commands and the daemon call `Rebalancer.cycle()`; dry-run is simply "plan + gate, don't execute".
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable

import structlog

from .domain import (
    D,
    CycleKind,
    CycleOutcome,
    Holding,
    OpenOrder,
    OrderState,
    Plan,
    Position,
    RiskLimits,
    Snapshot,
    TradingState,
    TradingStateInfo,
    Verdict,
    evolve,
)
from .reconcile import Reconciliation, reconcile
from .protect import ProtectionReport, Protector, stop_flags
from .ledger import LedgerSync, sync_ledger
from .topup import TopUpResult, top_up
from .core.pnl import PnlSummary, summarise
from .executor import Executed, Executor, client_order_id, expected_positions, new_cycle_id
from .journal import Journal, OrderRecord, describe_failure, is_journal_failure
from .core.planner import plan as make_plan
from .core.planner import unwind_plan
from .core.gate import gate
from .settings import Settings
from .trading_state import TradingStateOwner
from .venues.ccxt_venue import CcxtVenue, VenueConfig, utc_now
from .venues.errors import FatalError, VenueError
from .report import cycle_result_json, plan_to_json, verdict_to_json

log = structlog.get_logger("rebalancer.service")

EXIT_OK, EXIT_ERROR, EXIT_DENIED = 0, 1, 3


def venue_config(name: str, v: Any) -> VenueConfig:
    def secret(value: Any) -> str | None:
        return value.get_secret_value() if value is not None else None

    return VenueConfig(
        name=name, exchange=v.exchange, mode=v.mode, base_url=v.base_url,
        api_key=secret(v.api_key), api_secret=secret(v.api_secret), password=secret(v.password),
        timeout_ms=v.timeout_ms, leverage=v.leverage, margin_mode=v.margin_mode,
        spot_wallet_types=tuple(v.spot_wallet_types),
    )


def make_venue(settings: Settings, *, session: Any = None, **kw: Any) -> CcxtVenue:
    hedge_name, hedge = settings.hedge_venue()
    spot_name, spot = settings.spot_venue()
    external = [Holding(e.asset, D(e.amount), e.label or "external", external=True)
                for e in settings.portfolio.external]
    return CcxtVenue(
        hedge=venue_config(hedge_name, hedge),
        spot=venue_config(spot_name, spot),
        quote=settings.portfolio.quote,
        assets=settings.flat_targets(),
        external=external,
        session=session,
        **kw,
    )


@dataclass
class CycleReport:
    cycle_id: str
    kind: CycleKind
    execute: bool
    started_at: datetime
    snapshot: Snapshot | None = None
    plan: Plan | None = None
    verdict: Verdict | None = None
    executed: list[Executed] = field(default_factory=list)
    positions_after: dict[str, Position] | None = None
    mismatches: list[str] = field(default_factory=list)
    # External-change detection (reconcile.py): the comparison, and what rebalance.on_external_change
    # did: "baseline" (first cycle), "halted", "adopted", "still_halted", "resumed", "detected"
    # (a non-executing cycle only reports), "" (nothing to say).
    external_change: Reconciliation | None = None
    external_action: str = ""
    unresolved: list[OrderRecord] = field(default_factory=list)
    # The protective stops of an executing cycle: what was recognised (fired, adopted...) and done.
    protection: ProtectionReport | None = None
    # The ledger step of an executing cycle: what the sync added (and which reads failed), the P&L
    # summary the daemon exports, and why the step did not complete ("" = it did).
    ledger: LedgerSync | None = None
    pnl: PnlSummary | None = None
    ledger_error: str = ""
    # The optional margin top-up of an executing cycle (None: disabled or not needed).
    top_up: TopUpResult | None = None
    outcome: CycleOutcome = CycleOutcome.RUNNING
    # The trading state as its owner saw it when the cycle started (set by the service; None in
    # reports built before it is known).
    trading_state: TradingStateInfo | None = None
    journaled: bool = True  # the cycle (and so its id) is in the journal; the service sets it
    # Set when the cycle's own bookkeeping failed (journal full, locked, corrupt): one line naming the
    # file. Such a cycle is FAILED and sends nothing the journal did not record first.
    journal_error: str | None = None
    error: str | None = None
    exception: BaseException | None = None
    finished_at: datetime | None = None

    @property
    def exit_code(self) -> int:
        if self.error or any(e.result.state is not OrderState.FILLED for e in self.executed):
            return EXIT_ERROR
        if self.verdict is not None and self.verdict.denials:
            return EXIT_DENIED
        return EXIT_OK


class Rebalancer:
    """Owns the venue, the journal and the executor for one account."""

    def __init__(self, settings: Settings, *, venue: Any = None, journal: Journal | None = None,
                 clock: Callable[[], datetime] = utc_now, executor_kw: dict | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.venue = venue if venue is not None else make_venue(settings)
        self.journal = journal if journal is not None else Journal(settings.journal_path())
        r = settings.rebalance
        # The one owner of ACTIVE / REDUCING / HALTED (kill switch, config, forced, the gate).
        self.trading = TradingStateOwner(settings, self.journal, clock=clock)
        self.executor = Executor(self.venue, self.journal, clock=clock, order_type=r.order_type,
                                 max_slippage=r.max_slippage, halted=self.trading.halted,
                                 **(executor_kw or {}))
        self.venue_name = settings.hedge_venue()[0]
        self.protector = Protector(self.venue, self.journal, rule=lambda: self.settings.stop_rule(),
                                   enabled=lambda: self.settings.protection.enabled, clock=clock)
        self.connected = False

    @property
    def settings(self) -> Settings:
        return self._settings

    @settings.setter
    def settings(self, value: Settings) -> None:  # SIGHUP: the owner reads the new config too
        self._settings = value
        if getattr(self, "trading", None) is not None:
            self.trading.settings = value
            self.trading.refresh()

    def limits(self) -> RiskLimits:
        """The gate's limits now, with the owner's state (kill switch, config, forced) read fresh."""
        return self.trading.limits()

    async def start(self) -> None:
        """Connect: load markets once; the account reads (tiers, position mode, leverage settings)
        overlap the first snapshot, which waits for them and fails the cycle if the account is refused."""
        await self.venue.connect(overlap=True)
        self._check_order_limits()
        self.connected = True

    def _check_order_limits(self) -> None:
        """A market whose minimum order is over max_order_notional could never be traded in slices."""
        cap = self.settings.risk.max_order_notional
        for market in (getattr(self.venue, "markets", None) or {}).values():
            if market.min_cost is not None and market.min_cost > cap:
                raise FatalError(
                    f"risk.max_order_notional: {cap} is under the minimum order of {market.symbol} "
                    f"({market.min_cost} {market.quote}) on {self.venue_name}: raise it to at least {market.min_cost}"
                )

    async def resolve(self) -> list[OrderRecord]:
        """Settle what a crash left unresolved. Only the process holding the journal lock may call
        this: another process's PENDING order is not a crash leftover."""
        if not self.connected:
            await self.start()
        return await self.executor.resolve_unresolved()

    async def close(self) -> None:
        try:
            await self.venue.close()
        finally:
            self.journal.close()

    async def cycle(self, *, execute: bool, kind: CycleKind | str = CycleKind.REBALANCE,
                    record: bool = True) -> CycleReport:
        """snapshot -> plan -> gate -> (execute -> confirm) -> journal. Never raises for venue or
        planning errors: the report (and the journal, when `record`) says what failed."""
        kind = CycleKind(kind)
        started = self.clock()
        report = CycleReport(new_cycle_id(started), kind, execute, started)
        report.trading_state = self.trading.refresh()
        cycle_log = log.bind(cycle_id=report.cycle_id, kind=kind, execute=execute)
        record = record or execute  # an executing cycle is always journaled
        report.journaled = record
        if record:
            try:
                self.journal.start_cycle(report.cycle_id, kind=kind, execute=execute, venue=self.venue_name,
                                         started_at=started, snapshot_summary={})
            except Exception as exc:  # nothing may be sent by a cycle the journal cannot record
                report.journaled = False
                return self._bookkeeping_failed(report, exc, "start", cycle_log)
        try:
            if not self.connected:
                await self.start()
            if execute:
                # Crash leftovers first: their fills shape the positions this cycle will read. Orders
                # before their cycles, so a dead cycle is never closed while it still owns a PENDING order.
                report.unresolved = await self.executor.resolve_unresolved()
                self._close_interrupted_cycles(report.cycle_id)
                if report.unresolved:
                    raise UnresolvedOrders(
                        f"{len(report.unresolved)} earlier order(s) are still unresolved "
                        f"({', '.join(r.client_order_id for r in report.unresolved)}): no new orders until they are"
                    )
            # An executing cycle also reads the hedge symbols' open orders for the external-change check:
            # at the same time as the snapshot, so the check costs no extra round trip.
            base = self.journal.position_baseline() if execute else None
            protecting = execute and self.protector.enabled
            resting = None
            if execute and (base is None or base.source != HALTED_SOURCE or self.trading.forced is None):
                reads = [self.venue.snapshot(), self._open_orders(self._hedge_symbols())]
                if protecting:
                    reads.append(self.protector.resting(self._hedge_symbols()))
                snap, opened, *rest = await asyncio.gather(*reads)
                resting = rest[0] if rest else None
            elif kind is CycleKind.STATUS and self.protector.enabled:
                # status shows each hedge's stop: read beside the snapshot, nothing is changed
                snap, resting = await asyncio.gather(self.venue.snapshot(), self.protector.resting(self._hedge_symbols()))
                opened = None
                report.protection = ProtectionReport(skipped="" if resting is not None else "the stops could not be read")
                if resting is not None:
                    report.protection.stops = self.protector.describe(snap.positions, snap, resting)
            else:
                snap, opened = await self.venue.snapshot(), None
            report.snapshot = snap
            cycle_log.info("snapshot_taken", positions=len(snap.positions), holdings=len(snap.holdings))
            if protecting:
                report.protection = ProtectionReport()
                if resting is not None:
                    # Before the external-change check: a fired stop's fill is journaled as an order.
                    await self.protector.recognise(report.cycle_id, resting, report.protection)
                    if report.protection.fired:
                        base = self.journal.position_baseline()  # with the fired stops' orders
            await self._check_external_change(report, snap, act=execute, base=base, opened=opened)
            if kind is CycleKind.PROTECT:
                report.outcome = CycleOutcome.NOTHING_TO_DO  # nothing is planned: stops and the ledger only
            else:
                await self._trade(report, snap, kind=kind, record=record, cycle_log=cycle_log)
            # After the orders: the stops and the margin top-up are independent of each other (stops
            # rest without margin), so they share their round trips. The ledger is read after the cycle
            # (sync_ledger), off its critical path.
            steps = [self._protect(report, snap, resting)] if report.protection is not None else []
            if execute:
                steps.append(self._top_up(report, snap))
            outcomes = await asyncio.gather(*steps, return_exceptions=True)
            for failure in outcomes:
                if isinstance(failure, BaseException):
                    raise failure
        except Exception as exc:  # the cycle fails, the journal says why, the caller decides
            await self.executor.flush(raise_errors=False)  # every order's final state is written before the cycle's
            report.outcome = CycleOutcome.FAILED
            report.error = str(exc) or type(exc).__name__
            report.exception = exc
            if is_journal_failure(exc):
                report.journal_error = describe_failure(self.journal.path, exc)
            # The traceback goes to the log too (secrets are scrubbed at the venue boundary and by the
            # log chain, which renders exceptions before redacting).
            cycle_log.error("cycle_failed", error=report.error, error_type=type(exc).__name__, exc_info=exc)
        report.finished_at = self.clock()
        if record:
            summary = snapshot_summary(report.snapshot) if report.snapshot is not None else {}
            try:
                self.journal.finish_cycle(report.cycle_id, outcome=report.outcome, finished_at=report.finished_at,
                                          result={**cycle_result_json(report), "snapshot": summary},
                                          error=report.error)
            except Exception as exc:
                return self._bookkeeping_failed(report, exc, "finish", cycle_log)
        cycle_log.info("cycle_finished", outcome=report.outcome, orders=len(report.executed))
        return report

    async def _trade(self, report: CycleReport, snap: Snapshot, *, kind: CycleKind, record: bool,
                     cycle_log: Any) -> None:
        """plan -> gate -> (execute -> confirm): the cycle's trading part, on the snapshot just read."""
        execute = report.execute
        params = self.settings.plan_params()
        planned = unwind_plan(snap, params) if kind is CycleKind.UNWIND else make_plan(snap, params)
        report.plan = planned
        verdict = gate(snap, planned, self._limits_for(snap), now=self.clock(),
                       min_order_notional=Decimal(0) if kind is CycleKind.UNWIND else params.min_order_notional,
                       order_type=self.settings.rebalance.order_type)
        report.verdict = verdict = with_client_ids(verdict, report.cycle_id)
        self.trading.observe_verdict(verdict)
        if record and verdict.denied:
            self.journal.record_denied(report.cycle_id, verdict.denied, at=self.clock())
        if record:
            self.journal.update_cycle(report.cycle_id, plan=plan_to_json(planned),
                                      verdict=verdict_to_json(verdict))
        cycle_log.info("plan_made", nav=str(planned.nav), triggered=planned.triggered,
                       orders=len(planned.orders), approved=len(verdict.approved),
                       denials=[f.code for f in verdict.denials], state=verdict.state.value)
        if not execute:
            report.outcome = CycleOutcome.DRY_RUN
        elif not verdict.approved:
            report.outcome = CycleOutcome.DENIED if verdict.denials else CycleOutcome.NOTHING_TO_DO
        else:
            sent_at = self.clock()
            # defer_final: the orders' final states are committed while the positions and fees are read.
            executed = await self.executor.execute(report.cycle_id, verdict.approved,
                                                   positions_before={a: p.amount for a, p in snap.positions.items()},
                                                   defer_final=True)
            # Confirm positions and collect fees in the same round trip.
            report.positions_after, report.executed, _ = await asyncio.gather(
                self.venue.positions(), self.executor.journal_fees(executed, since=sent_at),
                self.executor.flush())
            report.mismatches = _mismatches(snap, report)
            if report.mismatches and self.executor.settled_late:
                # Ids-only venues: the positions were read while those orders were being looked up,
                # possibly before the exchange had applied their fills; read them once more.
                report.positions_after = await self.venue.positions()
                report.mismatches = _mismatches(snap, report)
            filled = all(e.result.state is OrderState.FILLED for e in report.executed)
            report.outcome = (CycleOutcome.DONE if filled and not verdict.denials and not report.mismatches
                              else CycleOutcome.PARTIAL)

    def _limits_for(self, snap: Snapshot) -> RiskLimits:
        """The owner's limits plus the protective stops' per-asset word (fired: frozen for the
        cooldown; refused: shrink-only)."""
        limits = self.limits()
        if not self.settings.protection.enabled:
            return limits
        frozen, reducing = stop_flags(self.journal, snap.positions, now=self.clock(),
                                      cooldown_s=self.settings.protection.cooldown_s)
        return replace(limits, frozen_assets=frozen, reducing_assets=reducing) if frozen or reducing else limits

    async def _protect(self, report: CycleReport, snap: Snapshot, resting: Any) -> None:
        """One stop per hedge after the orders are confirmed; skipped (and said why) when trading is
        halted (the kill switch sends nothing) or the stops could not be read."""
        protection = report.protection
        assert protection is not None
        if self.trading.halted():
            protection.skipped = "trading is HALTED: no stop is placed or cancelled"
            return
        if resting is None:
            protection.skipped = "the resting stops could not be read: stops are kept as they are this cycle"
            return
        positions = report.positions_after if report.positions_after is not None else snap.positions
        gone = {e.client_order_id for e in protection.events if e.kind in ("fired", "vanished", "expired", "canceled")}
        still = [r for r in resting if r.client_order_id not in gone]
        await self.protector.protect(report.cycle_id, positions=positions, snapshot=snap, resting=still,
                                     report=protection)
        log.bind(cycle_id=report.cycle_id).info(
            "protection_done", placed=protection.count("placed"), kept=protection.count("kept"),
            canceled=protection.count("canceled"), rejected=protection.count("rejected"),
            fired=protection.count("fired"))

    async def _top_up(self, report: CycleReport, snap: Snapshot) -> None:
        """protection.top_up_from_spot: when the gate's stressed equity is under the maintenance margin,
        move stablecoin from spot to futures (a transfer, bounded per day). Never while HALTED."""
        if not self.settings.protection.top_up_from_spot or self.trading.halted():
            return
        report.top_up = await top_up(self.venue, self.journal, self.settings, snap, report.verdict,
                                     cycle_id=report.cycle_id, now=self.clock())
        if report.top_up is not None:
            log.bind(cycle_id=report.cycle_id).info("top_up", state=report.top_up.state,
                                                    amount=str(report.top_up.amount), reason=report.top_up.reason)

    async def sync_ledger(self, report: CycleReport) -> None:
        """The ledger step of an executing cycle, which its caller (the daemon, `rebalance --execute`) runs
        right after the cycle: trades and funding since the last read, each stored once
        (ledger.sync_ledger), and the P&L summary, into `report.ledger` / `report.pnl`. After the cycle,
        not in it: its reads (one per symbol on most venues) would otherwise delay the cycle's end by a
        few round trips while nothing waits on them. Bookkeeping only: a failure is reported in
        `report.ledger_error`, the cycle's outcome stands."""
        snap = report.snapshot
        if not report.execute or snap is None or not self.connected:
            return
        positions = report.positions_after if report.positions_after is not None else snap.positions
        try:
            report.ledger = await sync_ledger(self.venue, self.journal, venue_name=self.venue_name,
                                              positions=positions, now=self.clock(), cycle_id=report.cycle_id)
            marks = {a: q.price for a, q in snap.mark_prices.items()}
            report.pnl = summarise(self.journal.ledger_entries(self.venue_name), positions,
                                   quote=self.settings.portfolio.quote, marks=marks)
        except Exception as exc:
            report.ledger_error = str(exc) or type(exc).__name__
            log.bind(cycle_id=report.cycle_id).warning("ledger_failed", error=report.ledger_error,
                                                       error_type=type(exc).__name__)
            return
        if report.ledger.errors:
            report.ledger_error = "; ".join(report.ledger.errors)

    def _bookkeeping_failed(self, report: CycleReport, exc: BaseException, step: str, cycle_log: Any) -> CycleReport:
        """The journal could not record the cycle (`step`: start or finish): the cycle is FAILED with a
        one-line cause naming the file, counted and alerted by the caller from memory."""
        problem = describe_failure(self.journal.path, exc)
        report.outcome = CycleOutcome.FAILED
        report.journal_error = problem
        report.error = f"{report.error}; {problem}" if report.error else problem
        report.exception = report.exception or exc
        report.finished_at = report.finished_at or self.clock()
        cycle_log.error("cycle_bookkeeping_failed", step=step, error=problem, error_type=type(exc).__name__)
        return report

    def _hedge_symbols(self) -> list[str]:
        return [m.symbol for m in (getattr(self.venue, "markets", None) or {}).values()]

    async def _check_external_change(self, report: CycleReport, snap: Snapshot, *, act: bool,
                                     base: Any = None, opened: list[OpenOrder] | None = None) -> None:
        """Compare the hedge positions (and open orders, read beside the snapshot) with what the
        journal implies; on a difference apply rebalance.on_external_change. Only an executing cycle
        (`act`) writes the journal or forces a state; others just report."""
        markets = {m.symbol: m for m in snap.markets.values()}
        actual = {p.symbol: p.amount for p in snap.positions.values()}
        if base is None:
            base = self.journal.position_baseline()
        ext_log = log.bind(cycle_id=report.cycle_id)
        if base is None:  # a fresh journal: what the exchange holds now is the baseline, silently
            if act:
                self.journal.record_position_baseline(
                    source="first_cycle", positions=actual, at=snap.taken_at, cycle_id=report.cycle_id,
                    known_orders=_order_keys(opened), detail={"symbols": sorted(markets)})
                report.external_action = "baseline"
            return
        if base.source == HALTED_SOURCE:
            self.trading.refresh()
            forced = self.trading.forced
            if forced is not None:  # still halted (by us or, since, by something else): wait for resume
                report.external_action = "still_halted"
                return
            if act:  # `resume` cleared it: the exchange's positions are the truth from now on
                self.journal.record_position_baseline(
                    source="resume", positions=actual, at=snap.taken_at, cycle_id=report.cycle_id,
                    known_orders=(*base.known_orders, *_order_keys(opened)),
                    detail={"halted_for": base.detail.get("reason", ""), "symbols": sorted(markets)})
                ext_log.warning("external_change_adopted_on_resume", positions={s: str(a) for s, a in actual.items()})
                report.external_action = "resumed"
            return
        # Symbols the baseline covers (older rows: all); a hedge symbol added to the config since is
        # taken as it is, like the first cycle took the others.
        tracked = set(base.detail.get("symbols") or markets)
        found = reconcile(
            baseline=base.positions, orders=base.orders, actual=actual,
            contract_sizes={s: m.contract_size for s, m in markets.items()},
            steps={s: m.amount_step * m.contract_size for s, m in markets.items() if m.amount_step},
            symbols=[s for s in markets if s in tracked], unresolved=self.journal.unresolved_orders(), open_orders=opened,
            known=lambda cid: self.journal.order(cid) is not None or self.journal.stop(cid) is not None,
            accepted_orders=(*base.known_orders, *self._stop_order_ids()),
        )
        report.external_change = found
        if found.clean:
            # Roll the baseline forward now and then, so each cycle reads a bounded number of orders.
            new_symbols = set(markets) - tracked
            if act and (new_symbols or len(base.orders) >= ROLL_BASELINE_AFTER_ORDERS) and not found.ambiguous:
                self.journal.record_position_baseline(
                    source="rolled", positions=actual, at=snap.taken_at, cycle_id=report.cycle_id,
                    known_orders=base.known_orders, detail={"symbols": sorted(markets)})
            return
        policy = self.settings.rebalance.on_external_change
        reason = found.reason()
        if not act:
            report.external_action = "detected"
            ext_log.warning("external_change_seen", reason=reason)
            return
        detail = {"reason": reason, "policy": policy, **found.to_json(), "symbols": sorted(markets)}
        ext_log.error("external_change_detected", reason=reason, policy=policy)
        if policy == "adopt":
            self.journal.record_position_baseline(
                source="adopt", positions=actual, at=snap.taken_at, cycle_id=report.cycle_id,
                known_orders=(*base.known_orders, *(o.key for o in found.unknown_orders)), detail=detail)
            report.external_action = "adopted"
        else:
            self.journal.record_position_baseline(
                source=HALTED_SOURCE, positions=base.positions, at=snap.taken_at, cycle_id=report.cycle_id,
                after_order=base.after_order, known_orders=base.known_orders,
                detail={**detail, "symbols": sorted(tracked & set(markets))})
            self.trading.force(TradingState.HALTED, reason, source=EXTERNAL_CHANGE_SOURCE)
            report.external_action = "halted"

    def _stop_order_ids(self) -> list[str]:
        """The exchange ids of our live stops (MEXC lists its plan orders without a client id)."""
        return [s.exchange_order_id for s in self.journal.live_stops() if s.exchange_order_id]

    async def _open_orders(self, symbols: list[str]) -> list[OpenOrder] | None:
        """The open orders on the hedge symbols, or None when they cannot be read: a failed read
        skips the open-order check for this cycle (positions still count)."""
        try:
            return await self.venue.open_orders(symbols)
        except VenueError as exc:
            log.warning("open_orders_unreadable", error=str(exc) or type(exc).__name__)
            return None

    def _close_interrupted_cycles(self, current: str) -> None:
        """An executing cycle still 'running' in the journal belonged to a process that died
        (we hold the journal lock): mark it interrupted so the record is complete."""
        for stale in self.journal.running_cycles():
            if stale.execute and stale.id != current:
                self.journal.finish_cycle(stale.id, outcome=CycleOutcome.INTERRUPTED, finished_at=self.clock(),
                                          error="the process ended before this cycle finished")
                log.warning("cycle_interrupted_found", cycle_id=stale.id)


def with_client_ids(verdict: Verdict, cycle_id: str) -> Verdict:
    """Number the verdict's legs (slices each get their own id): approved first, then denied ones,
    which are journaled as DENIED so `orders` shows what the gate held back."""
    approved = tuple(evolve(o, client_order_id=client_order_id(cycle_id, i)) for i, o in enumerate(verdict.approved))
    start = len(approved)
    denied = tuple(evolve(o, client_order_id=client_order_id(cycle_id, start + i))
                   for i, o in enumerate(verdict.denied))
    return replace(verdict, approved=approved, denied=denied)


# The forced state's source and the baseline row's source while an external change holds trading.
EXTERNAL_CHANGE_SOURCE = "external_change"
HALTED_SOURCE = "halted"
ROLL_BASELINE_AFTER_ORDERS = 200


def _order_keys(opened: list[OpenOrder] | None) -> tuple[str, ...]:
    return tuple(o.key for o in opened or ())


class UnresolvedOrders(RuntimeError):
    """Earlier orders are still PENDING/UNKNOWN: trading waits until the exchange can tell what happened."""


def snapshot_summary(snap: Snapshot) -> dict[str, Any]:
    return {
        "taken_at": snap.taken_at.isoformat(),
        "holdings": {asset: str(amount) for asset, amount in snap.spot_amounts().items()},
        "positions": {a: str(p.amount) for a, p in snap.positions.items()},
        "marks": {a: str(q.price) for a, q in snap.mark_prices.items()},
        "equity": str(snap.account.equity) if snap.account else None,
    }


def _mismatches(snap: Snapshot, report: CycleReport) -> list[str]:
    expected = expected_positions(dict(snap.positions), report.executed)
    actual = {a: p.amount for a, p in (report.positions_after or {}).items()}
    out = []
    for asset in sorted(set(expected) | set(actual)):
        e, a = expected.get(asset, D(0)), actual.get(asset, D(0))
        if e != a:
            out.append(f"{asset}: expected position {e}, exchange reports {a}")
    return out
