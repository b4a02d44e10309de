"""Prometheus metrics: a fake cycle report observed, then read back from the text exposition."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

from prometheus_client.parser import text_string_to_metric_families

from rebalancer.domain import OrderState, TradingState, TradingStateInfo
from rebalancer.metrics import Metrics

STARTED = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"


def line(asset: str, drift: str, weight: str, *, nav: str = "10000", perp: str = "0") -> SimpleNamespace:
    """An allocation line on a NAV of `nav`: all of the effective value in spot unless `perp` is given."""
    w, d, n, p = Decimal(weight), Decimal(drift), Decimal(nav), Decimal(perp)
    return SimpleNamespace(asset=asset, drift=d, effective_weight=w, target_weight=w - d,
                           spot_value=w * n - p, perp_notional=p)


def executed(state: OrderState) -> SimpleNamespace:
    return SimpleNamespace(order=SimpleNamespace(symbol=BTC), client_order_id="c", result=SimpleNamespace(state=state))


def report(
    outcome: str = "done",
    *,
    assets=(line("BTC", "0.031", "0.531"), line("ETH", "-0.031", "0.469")),
    state: TradingState = TradingState.ACTIVE,
    margin_usage: str | None = "0.42",
    distances=None,
    orders=(OrderState.FILLED, OrderState.FILLED, OrderState.REJECTED),
    seconds: float = 4.5,
    with_plan: bool = True,
    post_trade=None,
    positions_after=None,
    marks=None,
) -> SimpleNamespace:
    verdict = SimpleNamespace(
        net_residual=Decimal("-12.5"), residual_bound=Decimal("40"), scale=Decimal("0.75"), denied=(),
        post_trade={} if post_trade is None else post_trade,
        state=state,
        margin_usage=Decimal(margin_usage) if margin_usage is not None else None,
        funding_cost_per_day=Decimal("1.25"),
        liquidation_distances={BTC: Decimal("0.40"), ETH: Decimal("0.28")} if distances is None else distances,
    )
    return SimpleNamespace(
        cycle_id="c-1",
        outcome=outcome,
        error=None,
        plan=SimpleNamespace(assets=tuple(assets), nav=Decimal("10000")) if with_plan else None,
        snapshot=SimpleNamespace(mark_prices={a: SimpleNamespace(price=Decimal(p)) for a, p in (marks or {}).items()}),
        positions_after=positions_after,
        verdict=verdict if with_plan else None,
        executed=[executed(s) for s in orders],
        started_at=STARTED,
        finished_at=STARTED + timedelta(seconds=seconds),
    )


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition by (name, sorted labels)."""
    text = metrics.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return samples(metrics)[(name, tuple(sorted(labels.items())))]


def test_observe_cycle_when_cycles_finish_then_counted_by_outcome():
    """Each observed cycle adds one to its outcome; other outcomes are present at zero."""
    m = Metrics()
    m.observe_cycle(report("done"))
    m.observe_cycle(report("done"))
    m.observe_cycle(report("failed", with_plan=False, orders=()))

    assert value(m, "rebalancer_cycles_total", outcome="done") == 2
    assert value(m, "rebalancer_cycles_total", outcome="failed") == 1
    assert value(m, "rebalancer_cycles_total", outcome="denied") == 0


def test_observe_cycle_when_orders_executed_then_counted_by_status():
    """Executed orders are counted by the state they ended the cycle in."""
    m = Metrics()
    m.observe_cycle(report())

    assert value(m, "rebalancer_orders_total", status="filled") == 2
    assert value(m, "rebalancer_orders_total", status="rejected") == 1
    assert value(m, "rebalancer_orders_total", status="unknown") == 0
    assert value(m, "rebalancer_orders_total", status="denied") == 0


def test_observe_cycle_when_gate_denied_legs_then_counted_as_denied():
    """Legs the risk gate held back count under status="denied", next to the orders that were sent."""
    m = Metrics()
    r = report(orders=(OrderState.FILLED,))
    r.verdict.denied = (SimpleNamespace(symbol=ETH, denied_by=("FUNDING",)),
                        SimpleNamespace(symbol=BTC, denied_by=("BASIS",)))
    m.observe_cycle(r)
    m.observe_cycle(report(orders=()))  # a verdict without denied legs (or without the field) adds none

    assert value(m, "rebalancer_orders_total", status="denied") == 2
    assert value(m, "rebalancer_orders_total", status="filled") == 1


def test_observe_cycle_when_plan_present_then_drift_and_weight_per_asset():
    """Drift and effective weight are set per asset from the plan's lines."""
    m = Metrics()
    m.observe_cycle(report())

    assert value(m, "rebalancer_drift", asset="BTC", phase="before") == 0.031
    assert value(m, "rebalancer_drift", asset="ETH", phase="before") == -0.031
    assert value(m, "rebalancer_effective_weight", asset="ETH") == 0.469


def test_observe_cycle_when_orders_filled_then_drift_after_from_confirmed_positions():
    """phase="after" is the weight the confirmed positions leave: BTC 0.531 -> short 0.0078 BTC at
    40,000 (-312 on a NAV of 10,000) = 0.4998, drift -0.0002; not the pre-trade 0.031 a drift
    alert would fire on after every trade."""
    m = Metrics()
    positions = {"BTC": SimpleNamespace(amount=Decimal("-0.0078")), "ETH": SimpleNamespace(amount=Decimal("0.155"))}
    m.observe_cycle(report(positions_after=positions, marks={"BTC": "40000", "ETH": "2000"}))

    assert value(m, "rebalancer_drift", asset="BTC", phase="before") == 0.031
    assert abs(value(m, "rebalancer_drift", asset="BTC", phase="after") - (-0.0002)) < 1e-12
    assert abs(value(m, "rebalancer_drift", asset="ETH", phase="after") - (-0.0)) < 1e-12


def test_observe_cycle_when_no_confirmation_then_drift_after_from_verdict_post_trade():
    """Without re-read positions (dry run, nothing sent), the verdict's post-trade book gives phase="after";
    a failed cycle keeps the pre-trade drift as "after" (nothing is known to have changed)."""
    m = Metrics()
    m.observe_cycle(report("dry_run", post_trade={"BTC": Decimal("-310"), "ETH": Decimal("310")}, orders=()))
    assert abs(value(m, "rebalancer_drift", asset="BTC", phase="after") - 0.0) < 1e-12
    assert abs(value(m, "rebalancer_drift", asset="ETH", phase="after") - 0.0) < 1e-12

    m.observe_cycle(report("failed", post_trade={"BTC": Decimal("-310")}, orders=()))
    assert value(m, "rebalancer_drift", asset="BTC", phase="after") == 0.031


def test_observe_cycle_when_verdict_present_then_net_residual_bound_and_scale():
    """The balanced book's numbers come from the verdict; NaN until a cycle reaches the gate."""
    m = Metrics()
    assert math.isnan(value(m, "rebalancer_scale")) and math.isnan(value(m, "rebalancer_net_residual"))
    m.observe_cycle(report())

    assert value(m, "rebalancer_net_residual") == -12.5
    assert value(m, "rebalancer_net_residual_bound") == 40
    assert value(m, "rebalancer_scale") == 0.75


def test_observe_cycle_when_asset_dropped_then_its_drift_series_disappears():
    """A later plan without an asset removes that asset's series instead of keeping a stale value."""
    m = Metrics()
    m.observe_cycle(report())
    m.observe_cycle(report(assets=[line("BTC", "0.01", "0.5")]))

    got = samples(m)
    assert not [k for k in got if k[0] == "rebalancer_drift" and ("asset", "ETH") in k[1]]
    assert got[("rebalancer_drift", (("asset", "BTC"), ("phase", "before")))] == 0.01


def test_observe_cycle_when_verdict_present_then_margin_funding_and_min_liquidation_distance():
    """Margin usage, funding cost and the smallest liquidation distance come from the verdict."""
    m = Metrics()
    m.observe_cycle(report())

    assert value(m, "rebalancer_margin_usage") == 0.42
    assert value(m, "rebalancer_funding_cost_per_day") == 1.25
    assert value(m, "rebalancer_min_liquidation_distance") == 0.28


def test_observe_cycle_when_no_positions_or_margin_then_gauges_nan():
    """Unknown margin usage and no liquidation distances read as NaN, not as a stale or zero value."""
    m = Metrics()
    m.observe_cycle(report())
    m.observe_cycle(report(margin_usage=None, distances={}))

    assert math.isnan(value(m, "rebalancer_margin_usage"))
    assert math.isnan(value(m, "rebalancer_min_liquidation_distance"))


def test_set_trading_state_when_owner_changes_then_one_hot_and_cycles_do_not_override():
    """Exactly the owner's current state reads 1, the others 0; a cycle's verdict never sets the gauge
    (its owner does, the moment the state changes)."""
    m = Metrics()
    m.set_trading_state(TradingStateInfo(TradingState.ACTIVE))
    m.set_trading_state(TradingStateInfo(TradingState.HALTED, "forced after 3 consecutive failures"))
    m.observe_cycle(report(state=TradingState.REDUCING))

    assert {s.value: value(m, "rebalancer_trading_state", state=s.value) for s in TradingState} == {
        "ACTIVE": 0, "REDUCING": 0, "HALTED": 1,
    }


def test_observe_cycle_when_finished_then_timestamp_and_duration_recorded():
    """The finish time becomes the last-cycle timestamp and the duration lands in the histogram."""
    m = Metrics()
    m.observe_cycle(report(seconds=4.5))

    assert value(m, "rebalancer_last_cycle_timestamp_seconds") == (STARTED + timedelta(seconds=4.5)).timestamp()
    assert value(m, "rebalancer_cycle_duration_seconds_count") == 1
    assert value(m, "rebalancer_cycle_duration_seconds_sum") == 4.5
    assert value(m, "rebalancer_cycle_duration_seconds_bucket", le="5.0") == 1
    assert value(m, "rebalancer_cycle_duration_seconds_bucket", le="2.0") == 0


def test_observe_cycle_when_failed_before_plan_then_gauges_keep_last_values():
    """A cycle that failed before planning counts and timestamps, but leaves the last known gauges."""
    m = Metrics()
    m.observe_cycle(report())
    m.observe_cycle(report("failed", with_plan=False, orders=()))

    assert value(m, "rebalancer_drift", asset="BTC", phase="before") == 0.031
    assert value(m, "rebalancer_margin_usage") == 0.42


def test_observe_request_when_called_then_latency_histogram_per_endpoint():
    """Request latencies are observed per endpoint."""
    m = Metrics()
    m.observe_request("fetch_positions", 0.2)
    m.observe_request("fetch_positions", 0.4)
    m.observe_request("create_order", 0.1)

    assert value(m, "rebalancer_request_latency_seconds_count", endpoint="fetch_positions") == 2
    assert abs(value(m, "rebalancer_request_latency_seconds_sum", endpoint="fetch_positions") - 0.6) < 1e-9
    assert value(m, "rebalancer_request_latency_seconds_count", endpoint="create_order") == 1


def test_set_consecutive_failures_and_count_alert_when_called_then_exposed():
    """The daemon's failure streak and sent alerts show up as their gauge and counter."""
    m = Metrics()
    m.set_consecutive_failures(3)
    m.count_alert("cycle_failed")

    assert value(m, "rebalancer_consecutive_failures") == 3
    assert value(m, "rebalancer_alerts_total", kind="cycle_failed") == 1
    assert value(m, "rebalancer_alerts_total", kind="order_unknown") == 0


def test_metrics_when_two_instances_then_registries_independent():
    """Each instance has its own registry, so a second one neither collides nor shares values."""
    a, b = Metrics(), Metrics()
    a.observe_cycle(report())

    assert value(a, "rebalancer_cycles_total", outcome="done") == 1
    assert value(b, "rebalancer_cycles_total", outcome="done") == 0


def test_content_type_when_asked_then_text_exposition_format():
    """The content type names the text format render() writes."""
    m = Metrics()
    assert m.content_type.startswith("text/plain; version=0.0.4")
    assert m.render().startswith(b"# HELP ")


def test_alert_delivery_counters_when_failed_or_dropped_then_exposed_per_kind():
    """Failed and dropped alerts have their own counters, every kind at 0 from the start."""
    m = Metrics()
    text = m.render().decode()
    assert 'rebalancer_alerts_failed_total{kind="risk_denied"} 0.0' in text
    assert 'rebalancer_alerts_dropped_total{kind="cycle_failed"} 0.0' in text
    assert "rebalancer_journal_writable 1.0" in text
    m.count_alert_failed("risk_denied")
    m.count_alert_failed("risk_denied")
    m.count_alert_dropped("cycle_failed")
    m.set_alerts_queued(4)
    m.set_journal_writable(False)

    assert value(m, "rebalancer_alerts_failed_total", kind="risk_denied") == 2
    assert value(m, "rebalancer_alerts_dropped_total", kind="cycle_failed") == 1
    assert value(m, "rebalancer_alerts_total", kind="risk_denied") == 0
    assert value(m, "rebalancer_alerts_queued") == 4
    assert value(m, "rebalancer_journal_writable") == 0
