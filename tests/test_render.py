"""Rendering for `rebalancer orders`: the rich table's columns and cells, and the JSON dicts."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal

from rich.console import Console

from rebalancer.domain import OrderState, PlannedOrder, Side
from rebalancer.journal import CycleRecord, Journal, OrderRecord
from rebalancer.render import cycle_to_json, decimal_text, order_to_json, orders_grid, orders_table, orders_totals

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
D = Decimal

FILLED = OrderRecord(
    client_order_id="rb-c1-BTC-0",
    cycle_id="c1",
    asset="BTC",
    symbol="BTC/USDT:USDT",
    side=Side.SELL,
    amount=Decimal("0.0250"),
    reduce_only=False,
    leg="adjust",
    order_type="market",
    limit_price=None,
    state=OrderState.FILLED,
    exchange_order_id="8389765",
    filled=Decimal("0.025"),
    average=Decimal("40001.50"),
    fee=Decimal("0.40"),
    fee_currency="USDT",
    error_code=None,
    error_message=None,
    created_at=T0,
    updated_at=T0,
    attempts=1,
)
REJECTED = replace(
    FILLED,
    client_order_id="rb-c1-ETH-1",
    asset="ETH",
    symbol="ETH/USDT:USDT",
    side=Side.BUY,
    amount=Decimal("0.5"),
    reduce_only=True,
    order_type="limit_ioc",
    limit_price=Decimal("2020.00"),
    state=OrderState.REJECTED,
    exchange_order_id=None,
    filled=Decimal("0"),
    average=None,
    fee=None,
    fee_currency=None,
    error_code="-2019",
    error_message="Margin is insufficient.",
    attempts=2,
)
DENIED = replace(
    FILLED,
    client_order_id="rb2026112512000012345601",
    asset="ETH",
    symbol="ETH/USDT:USDT",
    side=Side.BUY,
    amount=Decimal("0.5"),
    order_type="none",
    state=OrderState.DENIED,
    exchange_order_id=None,
    filled=Decimal("0"),
    average=None,
    fee=None,
    fee_currency=None,
    error_code="NO_PRICE,BASIS",
    attempts=0,
)
CYCLE = CycleRecord(
    id="c1", kind="rebalance", execute=True, venue="main", started_at=T0, finished_at=None, outcome="running",
    snapshot_summary={"nav": "10000"}, plan={"orders": []}, verdict=None, result=None, error=None,
)


def render(table, width: int = 250) -> str:
    console = Console(record=True, width=width, color_system=None)
    console.print(table)
    return console.export_text()


COMPACT = ["time (UTC)", "cycle", "asset", "side", "amount", "state", "avg price", "fee"]
WIDE = ["time (UTC)", "cycle", "client id", "asset", "side", "type", "amount", "limit", "state", "filled",
        "avg price", "notional", "fee", "sends", "error"]


def test_orders_grid_when_compact_or_wide_then_fixed_columns_whatever_the_rows():
    """The columns never depend on the rows (no column appears or vanishes with the data)."""
    for records in ([FILLED], [FILLED, REJECTED, DENIED], []):
        assert [str(c.header) for c in orders_grid(records).columns] == COMPACT
        assert [str(c.header) for c in orders_grid(records, wide=True).columns] == WIDE


def test_orders_table_when_filled_order_then_seconds_short_cycle_price_fee_and_totals():
    """A filled order shows its time to the second, the cycle's short id, trimmed decimals, the
    average price and the fee; the title has the absolute date; the totals line sums notional and fees."""
    record = replace(FILLED, cycle_id="20261125T120000Z-ab12cd", created_at=T0.replace(second=7))
    out = render(orders_table([record]))
    row = next(ln for ln in out.splitlines() if "BTC" in ln)
    assert row.split() == ["11-25", "12:00:07", "ab12cd", "BTC", "sell", "0.025", "filled", "40001.5", "0.4"]
    assert out.splitlines()[0].startswith("Orders (1), 2026-11-25 12:00:07 UTC")
    assert "total: 1 of 1 filled, notional 1,000.04 USDT, fees 0.4 USDT" in out
    assert "0.0250" not in out


def test_orders_table_when_wide_then_every_field_including_client_id_and_error():
    """--wide shows the full cycle id, client id, type, limit, filled, notional, sends and the error."""
    out = render(orders_table([FILLED, REJECTED], wide=True))
    rej = next(ln for ln in out.splitlines() if "rb-c1-ETH-1" in ln)
    for cell in ("2026-11-25 12:00:00", "c1", "buy RO", "limit_ioc", "2020", "rejected", "-2019 Margin is insufficient."):
        assert cell in rej, cell
    assert rej.split()[-5:] == ["2", "-2019", "Margin", "is", "insufficient."]  # sends, then the error
    filled = next(ln for ln in out.splitlines() if "rb-c1-BTC-0" in ln)
    assert "1,000.04" in filled and "8389765" not in filled  # notional; the exchange id is in --json


def test_orders_table_when_rejected_reduce_only_then_code_and_sends_in_compact_state():
    text = render(orders_table([FILLED, REJECTED]))
    for cell in ("buy RO", "rejected -2019 (2 sends)"):
        assert cell in text, cell
    assert "Margin is insufficient" not in text  # the message is in --wide and --json
    assert text.index("BTC") < text.index("ETH")


def test_orders_table_when_no_records_then_caption_says_so_and_no_totals():
    out = render(orders_table([]))
    assert "no orders" in out and "total" not in out


def test_orders_table_when_error_is_long_then_wide_keeps_it_whole():
    """--wide keeps the whole exchange message (it wraps, it is not cut)."""
    long = replace(REJECTED, error_message="x" * 150)
    assert "x" * 150 in render(orders_table([long], wide=True), width=400).replace("\n", "")


def test_order_to_json_when_record_then_strings_iso_times_and_state_value():
    """Decimals become strings, datetimes ISO-8601, enums their values; the dict survives json.dumps."""
    data = order_to_json(REJECTED)
    assert data["amount"] == "0.5" and data["limit_price"] == "2020.00" and data["filled"] == "0"
    assert data["average"] is None and data["fee"] is None and data["notional"] is None
    assert data["state"] == "rejected" and data["side"] == "buy" and data["reduce_only"] is True
    assert data["created_at"] == "2026-11-25T12:00:00+00:00" and data["attempts"] == 2
    assert set(data) == {f for f in OrderRecord.__dataclass_fields__} | {"denied_by", "notional", "base_amount",
                                                                        "base_filled"}
    assert data["denied_by"] == []
    assert json.loads(json.dumps(data)) == data
    assert order_to_json(FILLED)["notional"] == "1000.03750"


def test_order_in_contracts_when_reviewed_then_amounts_and_notional_in_base_units():
    """An OKX-style record (2.5 contracts of 0.01 BTC): the table and the JSON show 0.025 BTC, and the
    notional is 0.025 x average, not 2.5 x average."""
    okx = replace(FILLED, amount=Decimal("2.5"), filled=Decimal("2.5"), contract_size=Decimal("0.01"))
    data = order_to_json(okx)
    assert (data["amount"], data["contract_size"], data["base_amount"], data["base_filled"]) == (
        "2.5", "0.01", "0.025", "0.025")
    assert Decimal(data["notional"]) == Decimal("0.025") * okx.average
    text = render(orders_table([okx], wide=True), width=200)
    assert "0.025" in text and " 2.5 " not in text


def test_order_to_json_when_denied_then_state_denied_and_codes_as_a_list():
    """`rebalancer orders --json` shows a denied leg with its state and the gate's codes."""
    data = order_to_json(DENIED)
    assert (data["state"], data["denied_by"], data["error_code"]) == ("denied", ["NO_PRICE", "BASIS"], "NO_PRICE,BASIS")
    assert (data["attempts"], data["filled"], data["exchange_order_id"], data["order_type"]) == (0, "0", None, "none")


def test_orders_table_when_denied_order_then_state_codes_and_no_fill():
    """A denied leg reads as denied with the gate's codes in its state cell and no price or fee."""
    out = render(orders_table([replace(FILLED, fee=None), DENIED]))
    rows = [ln for ln in out.splitlines() if "ETH" in ln]
    assert rows[0].split() == ["11-25", "12:00:00", "c1", "ETH", "buy", "0.5", "denied", "NO_PRICE,", "BASIS"]
    assert "total: 1 of 2 filled" in out


def test_orders_totals_when_fees_in_two_currencies_then_summed_per_currency():
    bnb = replace(FILLED, client_order_id="x", fee=D("0.001"), fee_currency="BNB")
    t = orders_totals([FILLED, REJECTED, DENIED, bnb])
    assert (t.orders, t.filled, t.notional, t.fees) == (4, 2, D("2000.07500"), {"USDT": D("0.40"), "BNB": D("0.001")})
    out = render(orders_table([FILLED, bnb]))
    assert "0.001 BNB" in out and "fees 0.4 USDT, 0.001 BNB" in out


BIG = replace(FILLED, client_order_id="rb2026112512000012345699", cycle_id="20261125T120000Z-a1b2c3",
              asset="DOGE", symbol="DOGE/USDT:USDT", amount=D("123456.789"), filled=D("123456.789"),
              average=D("104250.55"), fee=D("12.87654321"), created_at=T0.replace(second=59))


def test_orders_table_when_80_columns_and_big_numbers_then_no_number_is_cut_or_folded():
    """At 80 columns every number stays whole on its row's first line (no `…`, no fold); only the
    state text wraps."""
    records = [FILLED, REJECTED, DENIED, BIG]
    out = [ln.rstrip() for ln in render(orders_table(records), width=80).splitlines()]
    assert max(len(ln) for ln in out) <= 80 and not any("…" in ln for ln in out)
    row = next(ln for ln in out if "DOGE" in ln)
    for number in ("123456.789", "104250.55", "12.87654321", "12:00:59", "a1b2c3"):
        assert number in row.split(), (number, row)
    for r in records:
        line = next(ln for ln in out if f" {r.asset} " in ln and decimal_text(r.amount) in ln.split())
        assert decimal_text(r.amount) in line.split()
        if r.average is not None:
            assert decimal_text(r.average) in line.split()


def test_cycle_to_json_when_record_then_serialisable_with_iso_times():
    """A cycle becomes a plain dict with ISO times and its stored JSON parts unchanged."""
    data = cycle_to_json(CYCLE)
    assert data["started_at"] == "2026-11-25T12:00:00+00:00" and data["finished_at"] is None
    assert data["snapshot_summary"] == {"nav": "10000"} and data["plan"] == {"orders": []}
    assert json.loads(json.dumps(data)) == data


def test_render_when_records_come_from_the_journal_then_round_trip(tmp_path):
    """Records read back from a journal file render and serialise like hand-built ones."""
    with Journal(tmp_path / "j.db") as j:
        j.start_cycle("c1", kind="rebalance", execute=True, venue="main", started_at=T0, snapshot_summary={})
        order = PlannedOrder("BTC", "BTC/USDT:USDT", Side.SELL, Decimal("0.025"), Decimal("0.025"),
                             Decimal("40000"), False)
        j.record_intent("c1", order, client_order_id="rb1", order_type="market", limit_price=None, at=T0)
        j.transition("rb1", OrderState.UNKNOWN, at=T0)
        records = j.orders()
        cycle = j.cycle("c1")
    assert "unknown" in render(orders_table(records))
    assert order_to_json(records[0])["state"] == "unknown"
    assert cycle_to_json(cycle)["outcome"] == "running"


def test_decimal_text_when_exponent_or_trailing_zeros_then_plain_notation():
    """Decimals render without exponents or trailing zeros."""
    assert decimal_text(Decimal("1E+1")) == "10"
    assert decimal_text(Decimal("1E-7")) == "0.0000001"
    assert decimal_text(Decimal("0.02500")) == "0.025"
    assert decimal_text(Decimal("-0.0")) == "0"
    assert decimal_text(None) == ""
