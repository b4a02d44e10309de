"""Rendering of journal records for `rebalancer orders`: a rich table for people, plain dicts for --json.

Decimals are strings and times ISO-8601 in JSON, as in every other --json output.
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from .domain import OrderState, Side
from .journal import CycleRecord, OrderRecord

__all__ = ["cycle_to_json", "decimal_text", "order_to_json", "orders_table"]

STATE_STYLES: dict[OrderState, str] = {
    OrderState.PENDING: "yellow",
    OrderState.UNKNOWN: "bold magenta",  # needs a lookup by client id: make it stand out
    OrderState.OPEN: "cyan",
    OrderState.FILLED: "green",
    OrderState.PARTIALLY_FILLED: "yellow",
    OrderState.CANCELED: "dim",
    OrderState.EXPIRED: "dim",
    OrderState.REJECTED: "bold red",
    OrderState.NOT_PLACED: "dim",
    OrderState.DENIED: "red",  # the risk gate held it back: never sent
}
SIDE_STYLES: dict[Side, str] = {Side.BUY: "green", Side.SELL: "red"}
ERROR_WIDTH = 60


def decimal_text(value: Decimal | None) -> str:
    """Plain notation without exponent ("0.0000001", "10"), trailing zeros dropped; "" for None."""
    if value is None:
        return ""
    if not value.is_finite():
        return str(value)
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _time_text(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(timezone.utc).strftime("%m-%d %H:%M")


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def order_to_json(record: OrderRecord) -> dict:
    """Every field of the record, JSON-ready: Decimals as strings, datetimes ISO (UTC), enums as values;
    plus `denied_by`, the risk gate's codes of a denied order ([] for any other)."""
    data = {f.name: _json_value(getattr(record, f.name)) for f in dataclasses.fields(record)}
    data["denied_by"] = list(record.denied_by)
    return data


def cycle_to_json(record: CycleRecord) -> dict:
    """Every field of the cycle record, JSON-ready (plan/verdict/result are already plain dicts)."""
    return {f.name: _json_value(getattr(record, f.name)) for f in dataclasses.fields(record)}


def _error_text(record: OrderRecord) -> str:
    if record.state is OrderState.DENIED:  # error_code holds the gate's codes, shown with the state
        parts = [record.error_message] if record.error_message else []
    else:
        parts = [p for p in (record.error_code, record.error_message) if p]
    text = " ".join(parts)
    return text if len(text) <= ERROR_WIDTH else text[: ERROR_WIDTH - 1] + "…"


def orders_table(records: list[OrderRecord], *, title: str | None = None) -> Table:
    """The journal as a table, one row per order, in the order given (the journal gives oldest first).

    Up to nine columns so it reads in 80 columns: the cycle is part of the client id, a limit
    order's cap is shown after its amount, a denied order's codes under its state, fee and error
    appear when some row has one, and `--json` has every field.
    """
    # No outer edge, one space of padding plus the blank divider between cells; no column has a
    # minimum width, so at 80 columns rich wraps cells (at spaces, the id folds) instead of cutting
    # the rightmost columns off.
    table = Table(title=title if title is not None else f"Orders ({len(records)})", title_justify="left",
                  box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
    table.add_column("time (UTC)")
    table.add_column("client id", overflow="fold")
    table.add_column("asset", no_wrap=True)
    table.add_column("side")
    table.add_column("amount", justify="right")
    table.add_column("state", overflow="fold")
    table.add_column("fill", justify="right")
    # Fee and error columns only when some row has one, so the common case fits 80 columns.
    with_fee = any(r.fee is not None for r in records) or not records
    # A denied order's codes are in its state cell, not an error: it alone does not need the column.
    with_error = any(_error_text(r) for r in records) or not records
    if with_fee:
        table.add_column("fee", justify="right")
    if with_error:
        table.add_column("error", overflow="fold")
    for r in records:
        amount = Text(decimal_text(r.amount))
        if r.limit_price is not None:
            amount.append(f" lim {decimal_text(r.limit_price)}", style="dim")
        side = Text(r.side.value, style=SIDE_STYLES.get(r.side, ""))
        if r.reduce_only:
            side.append(" RO", style="dim")  # reduce-only: can only shrink the position
        state = Text(r.state.value, style=STATE_STYLES.get(r.state, ""))
        if r.denied_by:  # the gate's codes, where an exchange's error would be for a sent order
            state.append(" " + ", ".join(r.denied_by), style=STATE_STYLES[OrderState.DENIED])
        if r.attempts > 1:
            # More than one send means an unknown outcome was resolved as "not found" and resent.
            state.append(f" ({r.attempts} sends)", style="dim")
        fill = "-" if r.state is OrderState.DENIED else decimal_text(r.filled)  # never sent: no fill to speak of
        if r.average is not None:
            fill = f"{fill} @ {decimal_text(r.average)}"
        fee = decimal_text(r.fee)
        if fee and r.fee_currency:
            fee = f"{fee} {r.fee_currency}"
        cells: list[Any] = [_time_text(r.created_at), r.client_order_id, r.asset, side, amount, state, fill]
        if with_fee:
            cells.append(fee)
        if with_error:
            cells.append(Text(_error_text(r), style="red"))
        table.add_row(*cells)
    if not records:
        table.caption = "no orders in this range"
    return table
