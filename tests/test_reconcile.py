"""reconcile.py: positions on the exchange vs the journal's fills since the baseline (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal as D

from rebalancer.domain import OrderState, Side
from rebalancer.journal import Journal
from rebalancer.venues.ccxt_venue import parse_open_order
from rebalancer.reconcile import compare_positions, expected_positions, fmt, reconcile, unknown_open_orders

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
STEPS = {BTC: D("0.001"), ETH: D("0.001")}
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@dataclass
class Rec:
    symbol: str
    side: Side
    amount: D
    filled: D
    state: OrderState = OrderState.FILLED
    client_order_id: str = "rb-x"


def run(baseline, orders, actual, **kw):
    return reconcile(baseline=baseline, orders=orders, actual=actual, contract_sizes=kw.pop("sizes", {}),
                     steps=kw.pop("steps", STEPS), symbols=kw.pop("symbols", (BTC, ETH)), **kw)


def test_fills_since_the_baseline_explain_the_positions():
    orders = [Rec(BTC, Side.SELL, D("0.025"), D("0.025")), Rec(ETH, Side.BUY, D("0.5"), D("0.3"), OrderState.PARTIALLY_FILLED),
              Rec(ETH, Side.SELL, D("0.1"), D("0"), OrderState.REJECTED)]
    found = run({}, orders, {BTC: D("-0.025"), ETH: D("0.3")})
    assert found.clean and found.expected == {BTC: D("-0.025"), ETH: D("0.3")}


def test_a_manual_trade_is_named_with_expected_actual_and_difference():
    found = run({BTC: D("-0.025")}, [], {BTC: D("-0.075"), ETH: D("0")})
    assert [c.to_json() for c in found.changes] == [
        {"symbol": BTC, "expected": "-0.025", "actual": "-0.075", "difference": "-0.05"}]
    assert found.reason() == "external change on BTC/USDT:USDT: expected -0.025, exchange has -0.075"


def test_one_step_is_a_change_and_float_noise_under_half_a_step_is_not():
    assert run({BTC: D("0.010")}, [], {BTC: D("0.011")}).changes  # a one-lot trade by hand
    assert run({BTC: D("0.010")}, [], {BTC: D("0.0100000001")}).clean
    # without a known step, any difference counts
    assert run({BTC: D("1")}, [], {BTC: D("1.0000001")}, steps={}).changes


def test_a_position_closed_outside_and_one_opened_outside_are_both_changes():
    found = run({BTC: D("-0.025")}, [], {ETH: D("0.2")})
    assert [(c.symbol, c.expected, c.actual) for c in found.changes] == [(BTC, D("-0.025"), D("0")),
                                                                         (ETH, D("0"), D("0.2"))]


def test_contract_size_converts_journal_contracts_to_base_units():
    orders = [Rec(BTC, Side.SELL, D("3"), D("3"))]
    assert run({}, orders, {BTC: D("-0.3")}, sizes={BTC: D("0.1")}, steps={BTC: D("0.1")}).clean
    assert run({}, orders, {BTC: D("-3")}, sizes={BTC: D("0.1")}, steps={BTC: D("0.1")}).changes


def test_an_unresolved_order_may_explain_up_to_its_remainder_in_its_direction_only():
    pending = Rec(BTC, Side.SELL, D("0.05"), D("0"), OrderState.UNKNOWN)
    assert run({}, [pending], {BTC: D("-0.05")}).clean
    assert run({}, [pending], {BTC: D("-0.02")}).clean
    assert run({}, [pending], {BTC: D("0")}).clean
    assert run({}, [pending], {BTC: D("0.02")}).changes  # the wrong way
    assert run({}, [pending], {BTC: D("-0.07")}).changes  # more than it could fill
    # an unresolved order from before the baseline widens the range too
    assert run({}, [], {BTC: D("-0.05")}, unresolved=[pending]).clean
    assert run({}, [], {BTC: D("-0.05")}).changes


def test_compare_positions_reports_sorted_symbols():
    out = compare_positions({ETH: D("1"), BTC: D("1")}, {}, steps=STEPS)
    assert [c.symbol for c in out] == [BTC, ETH]


def test_unknown_open_orders_are_those_the_journal_does_not_know_on_hedge_symbols():
    raw = [
        {"id": "1", "clientOrderId": "rb-mine", "symbol": BTC, "side": "sell", "amount": 0.01, "price": 50000},
        {"id": "2", "clientOrderId": "web_abc", "symbol": ETH, "side": "buy", "amount": 0.5, "remaining": 0.4,
         "price": 1000},
        {"id": "3", "clientOrderId": "x", "symbol": "SOL/USDT:USDT", "side": "buy", "amount": 1, "price": 1},
        {"id": "4", "clientOrderId": None, "symbol": BTC, "side": "buy", "amount": 0.002, "price": 30000},
    ]
    raw = [parse_open_order(o) for o in raw]  # what the venue layer hands over
    found = unknown_open_orders(raw, symbols=(BTC, ETH), known=lambda cid: cid == "rb-mine", accepted=("4",))
    assert [(o.symbol, o.order_id, o.amount) for o in found] == [(ETH, "2", D("0.4"))]
    assert found[0].describe() == "ETH/USDT:USDT: unknown open order buy 0.4 at 1000 (order id 2, client id web_abc)"
    whole = run({}, [], {}, open_orders=raw, known=lambda cid: cid == "rb-mine")
    assert not whole.clean and not whole.changes and len(whole.unknown_orders) == 2
    assert whole.reason().startswith("external order on BTC/USDT:USDT: unknown open order buy 0.002 at 30000")
    # OKX counts contracts (0.1 ETH each): 4 contracts left is 0.4 ETH, told in base units.
    in_contracts = [parse_open_order({**raw_eth, "remaining": 4}) for raw_eth in
                    ({"id": "2", "clientOrderId": "web_abc", "symbol": ETH, "side": "buy", "price": 1000},)]
    found = unknown_open_orders(in_contracts, symbols=(ETH,), known=lambda cid: False,
                                contract_sizes={ETH: D("0.1")})
    assert found[0].amount == D("0.4") and "buy 0.4 at 1000" in found[0].describe()


def test_fmt_is_plain():
    assert [fmt(D(x)) for x in ("-0.0250", "0E-8", "2.5E-2", "100")] == ["-0.025", "0", "0.025", "100"]


def test_expected_positions_reads_the_journal_baseline_and_the_orders_after_it(tmp_path):
    from rebalancer.domain import PlannedOrder

    with Journal(tmp_path / "j.db") as j:
        assert j.position_baseline() is None
        j.start_cycle("c1", kind="rebalance", execute=True, venue="main", started_at=T0, snapshot_summary={})
        order = PlannedOrder(asset="BTC", symbol=BTC, side=Side.SELL, amount=D("0.025"), base_amount=D("0.025"),
                             price=D("40000"), reduce_only=False, leg="hedge", client_order_id="c1-0")
        j.record_intent("c1", order, client_order_id="c1-0", order_type="market", limit_price=None, at=T0)
        after = j.record_position_baseline(source="first_cycle", positions={BTC: D("-0.01")}, at=T0, cycle_id="c1",
                                           known_orders=("9", "8"))
        order2 = PlannedOrder(asset="BTC", symbol=BTC, side=Side.SELL, amount=D("0.005"), base_amount=D("0.005"),
                              price=D("40000"), reduce_only=False, leg="hedge", client_order_id="c1-1")
        j.record_intent("c1", order2, client_order_id="c1-1", order_type="market", limit_price=None, at=T0)
        base = j.position_baseline()
        assert (base.source, base.positions, base.after_order, base.known_orders) == (
            "first_cycle", {BTC: D("-0.01")}, after, ("8", "9"))
        assert [o.client_order_id for o in base.orders] == ["c1-1"]  # only the order after the baseline
        expected, ambiguity = expected_positions(base.positions, base.orders, {})
        assert expected == {BTC: D("-0.01")} and ambiguity == {BTC: (D("-0.005"), D("0"))}  # still pending
        j.record_position_baseline(source="halted", positions=base.positions, at=T0, after_order=base.after_order,
                                   detail={"reason": "r"})
        newest = j.position_baseline()
        assert (newest.source, newest.after_order, newest.detail) == ("halted", after, {"reason": "r"})
