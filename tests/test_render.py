"""Rendering for `rebalancer orders`: the rich table's columns and cells, and the JSON dicts."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal

from rich.console import Console

from rebalancer.domain import OrderState, PlannedOrder, Side
from rebalancer.journal import CycleRecord, Journal, OrderRecord
from rebalancer.render import cycle_to_json, decimal_text, order_to_json, orders_table

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)

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


def render(table) -> str:
    console = Console(record=True, width=250, color_system=None)
    console.print(table)
    return console.export_text()


def test_orders_table_when_records_given_then_all_columns_in_contract_order():
    """Nine columns in order; fee and error only appear when some row has one."""
    table = orders_table([FILLED, REJECTED])
    headers = [str(c.header) for c in table.columns]
    assert headers == ["time (UTC)", "client id", "asset", "side", "amount", "state", "fill", "fee", "error"]
    assert table.row_count == 2
    no_error = [str(c.header) for c in orders_table([FILLED]).columns]
    assert no_error == ["time (UTC)", "client id", "asset", "side", "amount", "state", "fill", "fee"]


def test_orders_table_when_filled_order_then_row_shows_plain_numbers_and_fee_currency():
    """A filled order shows UTC time, trimmed decimals, the average and the fee with its currency."""
    text = render(orders_table([FILLED]))
    for cell in ("11-25 12:00", "rb-c1-BTC-0", "BTC", "sell", "0.025", "filled", "0.025 @ 40001.5", "0.4 USDT"):
        assert cell in text, cell
    assert "0.0250" not in text


def test_orders_table_when_rejected_reduce_only_limit_order_then_details_shown():
    """Reduce-only, the limit price, the resend count and the exchange error are visible."""
    text = render(orders_table([FILLED, REJECTED]))
    for cell in ("buy RO", "0.5 lim 2020", "rejected (2 sends)", "-2019 Margin is insufficient."):
        assert cell in text, cell
    assert text.index("rb-c1-BTC-0") < text.index("rb-c1-ETH-1")


def test_orders_table_when_no_records_then_caption_says_so():
    """An empty range renders an empty table with an explanatory caption."""
    table = orders_table([])
    assert table.row_count == 0 and "no orders" in render(table)


def test_orders_table_when_error_is_long_then_truncated():
    """Very long exchange messages are cut so the table stays readable."""
    long = replace(REJECTED, error_message="x" * 500)
    assert "x" * 100 not in render(orders_table([long]))


def test_order_to_json_when_record_then_strings_iso_times_and_state_value():
    """Decimals become strings, datetimes ISO-8601, enums their values; the dict survives json.dumps."""
    data = order_to_json(REJECTED)
    assert data["amount"] == "0.5" and data["limit_price"] == "2020.00" and data["filled"] == "0"
    assert data["average"] is None and data["fee"] is None
    assert data["state"] == "rejected" and data["side"] == "buy" and data["reduce_only"] is True
    assert data["created_at"] == "2026-11-25T12:00:00+00:00" and data["attempts"] == 2
    assert set(data) == {f for f in OrderRecord.__dataclass_fields__} | {"denied_by"}
    assert data["denied_by"] == []
    assert json.loads(json.dumps(data)) == data


def test_order_to_json_when_denied_then_state_denied_and_codes_as_a_list():
    """`rebalancer orders --json` shows a denied leg with its state and the gate's codes."""
    data = order_to_json(DENIED)
    assert (data["state"], data["denied_by"], data["error_code"]) == ("denied", ["NO_PRICE", "BASIS"], "NO_PRICE,BASIS")
    assert (data["attempts"], data["filled"], data["exchange_order_id"], data["order_type"]) == (0, "0", None, "none")


def test_orders_table_when_denied_order_then_state_codes_and_no_fill():
    """A denied leg reads as denied with the gate's codes in its state cell and no fill; it alone
    brings no error column (its codes are not an exchange error)."""
    text = render(orders_table([replace(FILLED, fee=None), DENIED]))
    row = next(ln for ln in text.splitlines() if "rb2026112512000012345601" in ln)
    assert row.split() == ["11-25", "12:00", "rb2026112512000012345601", "ETH", "buy", "0.5", "denied",
                           "NO_PRICE,", "BASIS", "-"]
    assert [str(c.header) for c in orders_table([DENIED]).columns][-1] == "fill"


def columns_at(width: int, records: list[OrderRecord]) -> tuple[list[str], list[str]]:
    """The table printed at `width`: its lines, and each row's cells as text with the wrapped or
    folded lines of a cell joined (cut apart at the column widths rich chose, one divider between)."""
    table = orders_table(records)
    console = Console(record=True, width=width, color_system=None)
    console.print(table)
    out = [ln.rstrip() for ln in console.export_text().splitlines()]
    widths = table._calculate_column_widths(console, console.options.update_width(width - table._extra_width))
    starts = [sum(widths[:i]) + i for i in range(len(widths))]
    rule = next(i for i, ln in enumerate(out) if ln.startswith("─"))
    rows: list[list[str]] = []
    for ln in out[rule + 1:]:
        parts = [ln[s:s + w].strip() for s, w in zip(starts, widths)]
        if parts[2]:  # a row starts on the line of its asset, which never wraps
            rows.append(parts)
        else:
            rows[-1] = [f"{a} {b}".strip() if b else a for a, b in zip(rows[-1], parts)]
    return out, [" | ".join(r) for r in rows]


def test_orders_table_when_80_columns_then_every_column_and_value_is_kept():
    """At 80 columns cells wrap at spaces or fold, but no column is cut off and no value is lost, even
    with fee and error columns and a denied row (cells compared without the spaces wrapping adds)."""
    out, rows = columns_at(80, [FILLED, REJECTED, DENIED])
    assert max(len(ln) for ln in out) <= 80
    assert [str(c.header) for c in orders_table([FILLED, REJECTED, DENIED]).columns][-2:] == ["fee", "error"]
    assert [r.replace(" ", "") for r in rows] == [
        "11-2512:00|rb-c1-BTC-0|BTC|sell|0.025|filled|0.025@40001.5|0.4USDT|",
        "11-2512:00|rb-c1-ETH-1|ETH|buyRO|0.5lim2020|rejected(2sends)|0||-2019Marginisinsufficient.",
        "11-2512:00|rb2026112512000012345601|ETH|buy|0.5|deniedNO_PRICE,BASIS|-||",
    ]
    out, rows = columns_at(80, [FILLED])
    assert max(len(ln) for ln in out) <= 80
    assert rows == ["11-25 12:00 | rb-c1-BTC-0 | BTC | sell | 0.025 | filled | 0.025 @ 40001.5 | 0.4 USDT"]


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
