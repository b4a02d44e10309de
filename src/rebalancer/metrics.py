"""Prometheus metrics for the daemon: cycle outcomes, orders, drift, margin and liquidation risk, latency.

Each `Metrics` owns its own CollectorRegistry, so tests and several instances never collide in the global one.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from .alerts import KINDS as ALERT_KINDS
from .domain import CycleOutcome, OrderState, TradingState, TradingStateInfo

if TYPE_CHECKING:
    from .service import CycleReport

__all__ = ["CYCLE_OUTCOMES", "Metrics", "drift_after"]

# The outcomes service.Rebalancer.cycle() reports; pre-created at 0 so rate() and absent() work from the start.
CYCLE_OUTCOMES = tuple(o.value for o in CycleOutcome if o not in (CycleOutcome.RUNNING, CycleOutcome.INTERRUPTED))
# generate_latest() with its default escaping writes the classic text format, and every name here is a
# legacy-valid one; declaring 0.0.4 keeps both Prometheus 2 and 3 scrapers happy.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CYCLE_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)


class Metrics:
    """The rebalancer's metrics; `observe_cycle` updates them from a finished cycle report."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.cycles = Counter("rebalancer_cycles_total", "Rebalance cycles by outcome.", ["outcome"], registry=r)
        self.orders = Counter("rebalancer_orders_total",
                              "Orders by the state they ended the cycle in (denied: held back by the risk gate, "
                              "never sent).", ["status"], registry=r)
        self.alerts = Counter("rebalancer_alerts_total", "Alerts sent, by kind.", ["kind"], registry=r)
        self.alerts_failed = Counter("rebalancer_alerts_failed_total",
                                     "Alerts the webhook did not take (deadline, error, retries spent), by kind.",
                                     ["kind"], registry=r)
        self.alerts_dropped = Counter("rebalancer_alerts_dropped_total",
                                      "Alerts dropped unsent because the alert queue was full (oldest first), "
                                      "by kind.", ["kind"], registry=r)
        self.alerts_queued = Gauge("rebalancer_alerts_queued", "Alerts waiting in the delivery queue.", registry=r)
        self.journal_ok = Gauge("rebalancer_journal_writable",
                                "1 while the last cycle could record itself in the journal, 0 when its "
                                "bookkeeping failed (full, locked, corrupt).", registry=r)
        self.drift = Gauge("rebalancer_drift",
                           "Effective weight minus target weight: phase=before the cycle traded, phase=after it "
                           "(confirmed positions, else the verdict's post-trade book).", ["asset", "phase"],
                           registry=r)
        self.effective_weight = Gauge(
            "rebalancer_effective_weight", "Effective (spot + perp) weight of NAV.", ["asset"], registry=r
        )
        self.margin_usage = Gauge("rebalancer_margin_usage", "Post-trade margin usage of the hedge account.",
                                  registry=r)
        self.funding_cost_per_day = Gauge("rebalancer_funding_cost_per_day",
                                          "Expected funding cost per day, in the quote currency.", registry=r)
        self.min_liquidation_distance = Gauge("rebalancer_min_liquidation_distance",
                                              "Smallest distance of a position to its liquidation price.",
                                              registry=r)
        self.trading_state = Gauge("rebalancer_trading_state",
                                   "1 for the current trading state, 0 for the others (updated the moment it "
                                   "changes).", ["state"], registry=r)
        self.net_residual = Gauge("rebalancer_net_residual",
                                  "Post-trade net perp notional minus the planned net, from the last verdict "
                                  "(quote currency).", registry=r)
        self.residual_bound = Gauge("rebalancer_net_residual_bound",
                                    "What the net residual may be this cycle (|net_residual| <= bound).", registry=r)
        self.scale = Gauge("rebalancer_scale", "The common scale k the risk gate applied to every leg (1 = none).",
                           registry=r)
        self.last_cycle_timestamp = Gauge("rebalancer_last_cycle_timestamp_seconds",
                                          "Unix time the last cycle finished.", registry=r)
        self.consecutive_failures = Gauge("rebalancer_consecutive_failures", "Failed cycles in a row.", registry=r)
        self.request_latency = Histogram("rebalancer_request_latency_seconds", "Exchange request latency.",
                                         ["endpoint"], registry=r)
        self.cycle_duration = Histogram("rebalancer_cycle_duration_seconds", "Duration of a cycle.",
                                        buckets=CYCLE_BUCKETS, registry=r)
        # The money ledger (issue 14), refreshed by observe_pnl after each ledger sync: since the ledger
        # started, in the quote currency; NaN where a figure is not known.
        self.pnl_realised = Gauge("rebalancer_pnl_realised", "Realised hedge P&L since the ledger started.",
                                  ["asset"], registry=r)
        self.funding = Gauge("rebalancer_funding", "Funding received (+) or paid (-) since the ledger started.",
                             ["asset"], registry=r)
        self.fees = Gauge("rebalancer_fees", "Trading fees paid since the ledger started.", ["asset"], registry=r)
        self.pnl_net = Gauge("rebalancer_pnl_net", "Realised + funding - fees since the ledger started.",
                             ["asset"], registry=r)

        self.hedges_unprotected = Gauge(
            "rebalancer_hedges_unprotected",
            "Hedges held after the last executing cycle with no protective stop resting on the exchange "
            "(NaN until a cycle has checked).", registry=r)
        self.hedges_unprotected.set(float("nan"))

        for outcome in CYCLE_OUTCOMES:
            self.cycles.labels(outcome=outcome)
        for state in OrderState:
            self.orders.labels(status=state.value)
        for kind in ALERT_KINDS:
            self.alerts.labels(kind=kind)
            self.alerts_failed.labels(kind=kind)
            self.alerts_dropped.labels(kind=kind)
        self.journal_ok.set(1)
        for trading_state in TradingState:
            self.trading_state.labels(state=trading_state.value).set(0)
        # Unknown until the first cycle that gets as far as the risk gate.
        for gauge in (self.margin_usage, self.funding_cost_per_day, self.min_liquidation_distance,
                      self.net_residual, self.residual_bound, self.scale):
            gauge.set(float("nan"))

    def observe_cycle(self, report: CycleReport) -> None:
        """Count the cycle and its orders; refresh the gauges from its plan and verdict when it got that far.

        A cycle that failed before planning leaves the previous gauge values; the outcome counter and
        the last-cycle timestamp show that it happened.
        """
        self.cycles.labels(outcome=str(report.outcome)).inc()
        for executed in report.executed or ():
            self.orders.labels(status=executed.result.state.value).inc()
        # The legs the gate held back are orders too: without them status="denied" would stay 0 forever.
        verdict = report.verdict
        for _ in verdict.denied if verdict is not None else ():
            self.orders.labels(status=OrderState.DENIED.value).inc()

        plan = report.plan
        if plan is not None:
            # Replace, not update: an asset dropped from the targets must not keep its last drift forever.
            self.drift.clear()
            self.effective_weight.clear()
            after = drift_after(report)
            for line in plan.assets:
                self.drift.labels(asset=line.asset, phase="before").set(float(line.drift))
                self.drift.labels(asset=line.asset, phase="after").set(float(after.get(line.asset, line.drift)))
                self.effective_weight.labels(asset=line.asset).set(float(line.effective_weight))

        if verdict is not None:
            self.margin_usage.set(_float_or_nan(verdict.margin_usage))
            self.funding_cost_per_day.set(_float_or_nan(verdict.funding_cost_per_day))
            distances = list(verdict.liquidation_distances.values())
            self.min_liquidation_distance.set(float(min(distances)) if distances else float("nan"))
            self.net_residual.set(float(verdict.net_residual))
            self.residual_bound.set(float(verdict.residual_bound))
            self.scale.set(float(verdict.scale))
        protection = getattr(report, "protection", None)
        if protection is not None and not protection.skipped and report.execute:
            held = report.positions_after if report.positions_after is not None else (
                report.snapshot.positions if report.snapshot is not None else {})
            views = protection.stops
            self.hedges_unprotected.set(sum(1 for asset, p in held.items() if p.amount != 0
                                            and (asset not in views or views[asset].state != "resting")))
        # The trading state gauge is not set here: its owner (trading_state.py) sets it through
        # set_trading_state the moment it changes, between cycles too.

        started, finished = report.started_at, report.finished_at
        if finished is not None or started is not None:
            self.last_cycle_timestamp.set((finished or started).timestamp())
        if started is not None and finished is not None:
            self.cycle_duration.observe(max((finished - started).total_seconds(), 0.0))

    def set_trading_state(self, info: TradingStateInfo | TradingState) -> None:
        """1 for the owner's current state, 0 for the others (TradingStateInfo or a TradingState)."""
        current = (info.state if isinstance(info, TradingStateInfo) else TradingState(info)).value
        for state in TradingState:
            self.trading_state.labels(state=state.value).set(1 if state.value == current else 0)

    def observe_request(self, endpoint: str, seconds: float) -> None:
        self.request_latency.labels(endpoint=endpoint).observe(seconds)

    def count_alert(self, kind: str) -> None:
        """Count an alert that was actually sent (not the suppressed ones)."""
        self.alerts.labels(kind=kind).inc()

    def count_alert_failed(self, kind: str) -> None:
        """Count an alert whose delivery failed (not the suppressed ones)."""
        self.alerts_failed.labels(kind=kind).inc()

    def count_alert_dropped(self, kind: str) -> None:
        """Count an alert dropped from a full queue."""
        self.alerts_dropped.labels(kind=kind).inc()

    def set_alerts_queued(self, n: int) -> None:
        self.alerts_queued.set(n)

    def set_journal_writable(self, ok: bool) -> None:
        self.journal_ok.set(1 if ok else 0)

    def set_consecutive_failures(self, n: int) -> None:
        self.consecutive_failures.set(n)

    def observe_pnl(self, summary: Any) -> None:
        """Set the ledger gauges from a core.pnl.PnlSummary (core.pnl.summarise of the journal's ledger
        entries), one series per asset plus asset="total"; an unknown figure is NaN, never 0."""
        for line in (*summary.assets, summary.total):
            self.pnl_realised.labels(asset=line.asset).set(_float_or_nan(line.realised))
            self.funding.labels(asset=line.asset).set(_float_or_nan(line.funding))
            self.fees.labels(asset=line.asset).set(_float_or_nan(line.fees))
            self.pnl_net.labels(asset=line.asset).set(_float_or_nan(line.net))

    def render(self) -> bytes:
        """The text exposition of this instance's registry, for GET /metrics."""
        return generate_latest(self.registry)

    @property
    def content_type(self) -> str:
        return CONTENT_TYPE


def drift_after(report: CycleReport) -> dict[str, Decimal]:
    """Each asset's effective weight minus target after the cycle: the confirmed positions when the
    cycle re-read them, else the verdict's post-trade book when nothing is in doubt (nothing sent,
    a dry run, or the orders were filled), else nothing (the caller keeps the pre-trade drift)."""
    plan, snap = report.plan, report.snapshot
    if plan is None or not plan.nav:
        return {}
    perp_after: dict[str, Decimal] = {}
    positions, verdict = report.positions_after, report.verdict
    if positions is not None and snap is not None:
        for line in plan.assets:
            pos, mark = positions.get(line.asset), snap.mark_prices.get(line.asset)
            perp_after[line.asset] = pos.amount * mark.price if pos is not None and mark is not None else Decimal(0)
    elif verdict is not None and report.outcome != CycleOutcome.FAILED:
        for line in plan.assets:
            perp_after[line.asset] = Decimal(verdict.post_trade.get(line.asset, line.perp_notional))
    else:
        return {}
    return {line.asset: (line.spot_value + perp_after[line.asset]) / plan.nav - line.target_weight
            for line in plan.assets}


def _float_or_nan(value: Any) -> float:
    return float("nan") if value is None else float(value)
