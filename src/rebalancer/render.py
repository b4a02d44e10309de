"""Rendering of journal records for `rebalancer orders` and `rebalancer cycles`: rich tables for
people, plain dicts for --json.

Decimals are strings and times ISO-8601 in JSON, as in every other --json output. In the tables
numbers never wrap, fold or get an ellipsis: only text cells (states, codes, errors) wrap.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from .domain import CycleOutcome, OrderState, Side
from .journal import CycleRecord, OrderRecord

__all__ = [
    "cycle_summary",
    "cycle_to_json",
    "cycles_table",
    "decimal_text",
    "order_notional",
    "order_to_json",
    "orders_grid",
    "orders_table",
    "orders_totals",
    "pnl_tables",
    "pnl_to_json",
    "short_cycle_id",
]

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
OUTCOME_STYLES: dict[str, str] = {
    CycleOutcome.DONE: "green", CycleOutcome.PARTIAL: "yellow", CycleOutcome.DENIED: "red",
    CycleOutcome.FAILED: "bold red", CycleOutcome.INTERRUPTED: "bold magenta", CycleOutcome.RUNNING: "cyan",
    CycleOutcome.DRY_RUN: "dim", CycleOutcome.NOTHING_TO_DO: "dim",
}
SIDE_STYLES: dict[Side, str] = {Side.BUY: "green", Side.SELL: "red"}
ERROR_WIDTH = 60
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # absolute, to the second, UTC
SHORT_TIME_FORMAT = "%m-%d %H:%M:%S"  # the compact tables: the year is in the title


def decimal_text(value: Decimal | None) -> str:
    """Plain notation without exponent ("0.0000001", "10"), trailing zeros dropped; "" for None."""
    if value is None:
        return ""
    if not value.is_finite():
        return str(value)
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def money_text(value: Decimal | None, places: int = 2) -> str:
    return "" if value is None else f"{value:,.{places}f}"


def _time_text(value: datetime | None, fmt: str = TIME_FORMAT) -> str:
    if value is None:
        return ""
    return value.astimezone(timezone.utc).strftime(fmt)


def short_cycle_id(cycle_id: str) -> str:
    """The random tail of a cycle id ("20261125T120000Z-ab12cd" -> "ab12cd"); `--cycle` takes it too."""
    return cycle_id.rsplit("-", 1)[-1]


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def order_notional(record: OrderRecord) -> Decimal | None:
    """What was traded, in the quote currency: filled (base units) x average (None while nothing filled)."""
    if record.average is None or not record.filled:
        return None
    return record.base_filled * record.average


def order_to_json(record: OrderRecord) -> dict:
    """Every field of the record, JSON-ready: Decimals as strings, datetimes ISO (UTC), enums as values
    (`amount`, `filled` in contracts as sent, with `contract_size`); plus `base_amount`, `base_filled`
    (base units), `denied_by`, the risk gate's codes of a denied order ([] for any other), and
    `notional` (base filled x average, null while nothing filled)."""
    data = {f.name: _json_value(getattr(record, f.name)) for f in dataclasses.fields(record)}
    data["base_amount"] = _json_value(record.base_amount)
    data["base_filled"] = _json_value(record.base_filled)
    data["denied_by"] = list(record.denied_by)
    data["notional"] = _json_value(order_notional(record))
    return data


def cycle_to_json(record: CycleRecord) -> dict:
    """Every field of the cycle record, JSON-ready (plan/verdict/result are already plain dicts)."""
    return {f.name: _json_value(getattr(record, f.name)) for f in dataclasses.fields(record)}


def _error_text(record: OrderRecord, width: int | None = ERROR_WIDTH) -> str:
    if record.state is OrderState.DENIED:  # error_code holds the gate's codes, shown with the state
        parts = [record.error_message] if record.error_message else []
    else:
        parts = [p for p in (record.error_code, record.error_message) if p]
    text = " ".join(parts)
    return text if width is None or len(text) <= width else text[: width - 1] + "…"


# --------------------------------------------------------------------------- orders


@dataclasses.dataclass(frozen=True)
class OrdersTotals:
    """Sums over the rows shown: traded notional (quote currency) and fees per currency."""

    orders: int
    filled: int
    notional: Decimal
    fees: dict[str, Decimal]

    def json(self) -> dict[str, Any]:
        return {"orders": self.orders, "filled": self.filled, "notional": _json_value(self.notional),
                "fees": {c: _json_value(v) for c, v in self.fees.items()}}


def orders_totals(records: Sequence[OrderRecord]) -> OrdersTotals:
    notional = sum((n for r in records if (n := order_notional(r)) is not None), Decimal(0))
    fees: dict[str, Decimal] = {}
    for r in records:
        if r.fee is not None:
            currency = r.fee_currency or "?"
            fees[currency] = fees.get(currency, Decimal(0)) + r.fee
    filled = sum(1 for r in records if r.filled)
    return OrdersTotals(len(records), filled, notional, fees)


def _state_text(r: OrderRecord, *, wide: bool) -> Text:
    label = "partial" if r.state is OrderState.PARTIALLY_FILLED and not wide else r.state.value
    state = Text(label, style=STATE_STYLES.get(r.state, ""))
    if r.denied_by:  # the gate's codes, where an exchange's error would be for a sent order
        state.append(" " + ", ".join(r.denied_by), style=STATE_STYLES[OrderState.DENIED])
    elif not wide and r.error_code:
        state.append(" " + r.error_code, style="red")
    if r.attempts > 1 and not wide:
        # More than one send means an unknown outcome was resolved as "not found" and resent.
        state.append(f" ({r.attempts} sends)", style="dim")
    return state


def _side_text(r: OrderRecord) -> Text:
    side = Text(r.side.value, style=SIDE_STYLES.get(r.side, ""))
    if r.reduce_only:
        side.append(" RO", style="dim")  # reduce-only: can only shrink the position
    return side


def _fee_text(r: OrderRecord, quote: str | None) -> str:
    fee = decimal_text(r.fee)
    if fee and r.fee_currency and r.fee_currency != quote:
        fee = f"{fee} {r.fee_currency}"
    return fee


def _quote_of(records: Iterable[OrderRecord]) -> str | None:
    quotes = {r.symbol.split("/")[1].split(":")[0] for r in records if "/" in r.symbol}
    return quotes.pop() if len(quotes) == 1 else None


def _number_column(table: Table, header: str, values: list[str]) -> None:
    # A number is one unbroken cell: never wrapped, folded or cut; min_width keeps rich from
    # shrinking it (only text columns give way when the terminal is narrow).
    width = max([len(header), *(len(v) for v in values)])
    table.add_column(header, justify="right", no_wrap=True, overflow="fold", min_width=width)


def _fixed_column(table: Table, header: str, values: list[str], **kw: Any) -> None:
    width = max([len(header), *(len(v) for v in values)])
    table.add_column(header, no_wrap=True, overflow="fold", min_width=width, **kw)


def orders_table(records: list[OrderRecord], *, title: str | None = None, wide: bool = False) -> Group:
    """`orders_grid` followed by the totals line (notional traded and fees of the rows shown)."""
    table = orders_grid(records, title=title, wide=wide)
    if not records:
        return Group(table)
    return Group(table, totals_text(orders_totals(records), _quote_of(records)))


def orders_grid(records: list[OrderRecord], *, title: str | None = None, wide: bool = False) -> Table:
    """The journal as a table, one row per order, in the order given (the journal gives oldest first).

    Compact (the default) fits 80 columns: time to the second (the year is in the title), the
    cycle's short id (what `--cycle` takes), asset, side (RO = reduce-only), amount (base units), state (a
    denied order's gate codes, an exchange's error code), the average fill price and the fee
    (in the quote currency unless it says otherwise). `wide` adds the full cycle id, client id,
    order type, limit price, filled amount, notional, sends and the exchange's error message.
    Numbers are never cut: only the state and error cells wrap.
    """
    quote = _quote_of(records)
    table = Table(title=title if title is not None else _orders_title(records), title_justify="left",
                  box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
    time_fmt = TIME_FORMAT if wide else SHORT_TIME_FORMAT
    times = [_time_text(r.created_at, time_fmt) for r in records]
    cycles = [r.cycle_id if wide else short_cycle_id(r.cycle_id) for r in records]
    amounts = [decimal_text(r.base_amount) for r in records]  # base units, whatever the contract size
    fills = ["" if r.state is OrderState.DENIED else decimal_text(r.base_filled) for r in records]
    averages = [decimal_text(r.average) for r in records]
    notionals = [money_text(order_notional(r)) for r in records]
    fees = [_fee_text(r, quote) for r in records]
    limits = [decimal_text(r.limit_price) for r in records]
    _fixed_column(table, "time (UTC)", times)
    _fixed_column(table, "cycle", cycles)
    if wide:
        _fixed_column(table, "client id", [r.client_order_id for r in records])
    _fixed_column(table, "asset", [r.asset for r in records])
    _fixed_column(table, "side", [str(_side_text(r)) for r in records])
    if wide:
        _fixed_column(table, "type", [r.order_type for r in records])
    _number_column(table, "amount", amounts)
    if wide:
        _number_column(table, "limit", limits)
    table.add_column("state", overflow="fold", ratio=1)
    if wide:
        _number_column(table, "filled", fills)
    _number_column(table, "avg price", averages)
    if wide:
        _number_column(table, "notional", notionals)
    _number_column(table, "fee", fees)
    if wide:
        _number_column(table, "sends", [str(r.attempts) for r in records])
        table.add_column("error", overflow="fold", ratio=1)
    for i, r in enumerate(records):
        cells: list[Any] = [times[i], cycles[i]]
        if wide:
            cells.append(r.client_order_id)
        cells += [r.asset, _side_text(r)]
        if wide:
            cells.append(r.order_type)
        cells.append(amounts[i])
        if wide:
            cells.append(limits[i])
        cells.append(_state_text(r, wide=wide))
        if wide:
            cells.append(fills[i])
        cells.append(averages[i])
        if wide:
            cells.append(notionals[i])
        cells.append(fees[i])
        if wide:
            cells += [str(r.attempts), Text(_error_text(r, None), style="red")]
        table.add_row(*cells)
    if not records:
        table.caption = "no orders in this range"
    return table


def _orders_title(records: Sequence[OrderRecord]) -> str:
    if not records:
        return "Orders (0)"
    first, last = records[0].created_at, records[-1].created_at
    span = _time_text(first) if first == last else f"{_time_text(first)} to {_time_text(last)}"
    return f"Orders ({len(records)}), {span} UTC"


def totals_text(t: OrdersTotals, quote: str | None) -> Text:
    unit = f" {quote}" if quote else ""
    fees = ", ".join(f"{decimal_text(v)} {c}" for c, v in t.fees.items()) or "0"
    return Text(f"total: {t.filled} of {t.orders} filled, notional {money_text(t.notional)}{unit}, fees {fees}",
                style="bold")


# --------------------------------------------------------------------------- cycles


def cycle_summary(record: CycleRecord) -> dict[str, Any]:
    """What `rebalancer cycles` shows of one cycle (JSON-ready): when, what, how it ended, its orders
    (approved legs, denied legs, filled ones), the gate's denial codes, scale and net residual."""
    verdict = record.verdict or {}
    result = record.result or {}
    orders = verdict.get("orders") or []
    denied = [o for o in orders if o.get("status") == "denied"]
    approved = [o for o in orders if o.get("status") != "denied"]
    sent = result.get("orders") or []
    codes: list[str] = []
    for f in verdict.get("denials") or []:
        if f.get("code") and f["code"] not in codes:
            codes.append(f["code"])
    scaled_by: list[str] = []
    for f in verdict.get("scaled_by") or []:
        if f.get("code") and f["code"] not in scaled_by:
            scaled_by.append(f["code"])
    return {
        "id": record.id,
        "kind": record.kind,
        "execute": record.execute,
        "venue": record.venue,
        "started_at": _json_value(record.started_at),
        "finished_at": _json_value(record.finished_at),
        "outcome": record.outcome,
        "state": verdict.get("state"),
        "orders": len(approved),
        "denied": len(denied),
        "sent": len(sent),
        "filled": sum(1 for o in sent if o.get("state") == "filled"),
        "denials": codes,
        "scale": verdict.get("scale"),
        "scaled_by": scaled_by,
        "net_residual": verdict.get("net_residual"),
        "error": record.error,
    }


def _scale_text(scale: str | None) -> str:
    if scale is None:
        return ""
    value = Decimal(scale)
    return "1" if value == 1 else f"{value:.4f}"


def _orders_cell(c: dict[str, Any]) -> str:
    if c["sent"]:
        return f"{c['filled']}/{c['sent']}"
    return f"({c['orders']})" if c["orders"] else "0"


def cycles_table(records: list[CycleRecord], *, title: str | None = None) -> Group:
    """The cycle journal, oldest first: time started (UTC, to the second), short id (what
    `orders --cycle` takes), kind, outcome, orders (filled/sent; a dry run's planned legs in
    brackets), the gate's codes (denials; what scaled the book down in brackets), scale and net
    residual; then the errors of failed cycles, one line each."""
    summaries = [cycle_summary(r) for r in records]
    if title is None:
        span = ""
        if records:
            first, last = records[0].started_at, records[-1].started_at
            span = f", {_time_text(first)}" + ("" if first == last else f" to {_time_text(last)}") + " UTC"
        title = f"Cycles ({len(records)}){span}"
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
    times = [_time_text(r.started_at, SHORT_TIME_FORMAT) for r in records]
    ids = [short_cycle_id(r.id) for r in records]
    orders = [_orders_cell(c) for c in summaries]
    scales = [_scale_text(c["scale"]) for c in summaries]
    residuals = [money_text(Decimal(c["net_residual"])) if c["net_residual"] is not None else ""
                 for c in summaries]
    _fixed_column(table, "time (UTC)", times)
    _fixed_column(table, "cycle", ids)
    _fixed_column(table, "kind", [r.kind for r in records])
    table.add_column("outcome", overflow="fold")
    _fixed_column(table, "orders", orders, justify="right")
    table.add_column("codes", overflow="fold", ratio=1)
    _number_column(table, "scale", scales)
    _number_column(table, "residual", residuals)
    for i, (r, c) in enumerate(zip(records, summaries)):
        outcome = Text(r.outcome, style=OUTCOME_STYLES.get(r.outcome, ""))
        if not r.execute and r.outcome != "dry_run":
            outcome.append(" (dry)", style="dim")
        codes = Text(",".join(c["denials"]), style="red")
        if c["scaled_by"] and scales[i] not in ("", "1"):
            codes.append((" " if codes else "") + "(" + ",".join(c["scaled_by"]) + ")", style="yellow")
        table.add_row(times[i], ids[i], r.kind, outcome, orders[i], codes, scales[i], residuals[i])
    if not records:
        table.caption = "no cycles in this range"
        return Group(table)
    parts: list[Any] = [table]
    for r in records:
        if r.error:
            parts.append(Text(f"{short_cycle_id(r.id)} {r.outcome}: {r.error}", style="red"))
    parts.append(Text("orders: filled/sent, (planned) in a dry run; codes: denials, (what scaled it down)",
                      style="dim"))
    return Group(*parts)


# --------------------------------------------------------------------------- rebalancer pnl (issue 14)


def _pnl_value(value: Decimal | None) -> str | None:
    """A ledger figure in JSON: a string, or null when it is not known (never 0)."""
    return None if value is None else format(value, "f")


def pnl_asset_to_json(line: Any) -> dict[str, Any]:
    """One core.pnl.AssetPnl (or the total) as `pnl --json` prints it."""
    return {
        "asset": line.asset, "symbol": line.symbol, "realised": _pnl_value(line.realised),
        "unrealised": _pnl_value(line.unrealised), "unrealised_source": line.unrealised_source,
        "funding": _pnl_value(line.funding), "fees": _pnl_value(line.fees), "net": _pnl_value(line.net),
    }


def pnl_to_json(summary: Any, sync: Any = None) -> dict[str, Any]:
    """`rebalancer pnl --json`: since, quote, assets, total, days, and what the ledger read added."""
    total = pnl_asset_to_json(summary.total)
    del total["symbol"], total["unrealised_source"]
    out: dict[str, Any] = {
        "since": summary.since.astimezone(timezone.utc).isoformat() if summary.since is not None else None,
        "quote": summary.quote,
        "assets": [pnl_asset_to_json(a) for a in summary.assets],
        "total": total,
        "days": [{"day": d.day.isoformat(), "asset": d.asset, "realised": _pnl_value(d.realised),
                  "funding": _pnl_value(d.funding), "fees": _pnl_value(d.fees), "net": _pnl_value(d.net)}
                 for d in summary.days],
    }
    if sync is not None:
        out["ledger"] = {"trades_added": sync.trades, "funding_added": sync.funding, "errors": list(sync.errors)}
    return out


def _pnl_cell(value: Decimal | None) -> str:
    return "?" if value is None else money_text(value)


_UNREALISED_MARKS = {"exchange": "", "mark": " (m)", None: ""}


def pnl_tables(summary: Any) -> Group:
    """Per asset and total (realised, unrealised, funding, fees, net), then per UTC day and asset. An
    unknown figure is "?", never 0; "(m)" marks an unrealised figure computed from mark vs entry."""
    since = (f" since {_time_text(summary.since)} UTC" if summary.since is not None else " since the ledger started")
    table = Table(title=f"Hedge P&L ({summary.quote}){since}", title_justify="left", box=box.SIMPLE_HEAD,
                  show_edge=False, padding=(0, 1, 0, 0))
    lines = [*summary.assets, summary.total]
    rows = [[line.asset, _pnl_cell(line.realised),
             _pnl_cell(line.unrealised) + _UNREALISED_MARKS.get(line.unrealised_source, ""),
             _pnl_cell(line.funding), _pnl_cell(line.fees), _pnl_cell(line.net)] for line in lines]
    headers = ["asset", "realised", "unrealised", "funding", "fees", "net"]
    _fixed_column(table, headers[0], [r[0] for r in rows])
    for i, header in enumerate(headers[1:], start=1):
        _number_column(table, header, [r[i] for r in rows])
    for n, r in enumerate(rows):
        table.add_row(*r, style="bold" if n == len(rows) - 1 else None, end_section=n == len(rows) - 2)
    days = Table(title="Per day (UTC)", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                 padding=(0, 1, 0, 0))
    day_rows = [[d.day.isoformat(), d.asset, _pnl_cell(d.realised), _pnl_cell(d.funding), _pnl_cell(d.fees),
                 _pnl_cell(d.net)] for d in summary.days]
    for i, header in enumerate(["day", "asset"]):
        _fixed_column(days, header, [r[i] for r in day_rows])
    for i, header in enumerate(["realised", "funding", "fees", "net"], start=2):
        _number_column(days, header, [r[i] for r in day_rows])
    for r in day_rows:
        days.add_row(*r)
    if not day_rows:
        days.caption = "nothing in the ledger in this range"
    note = Text("funding > 0 received; fees > 0 paid; net = realised + funding - fees (unrealised not in it); "
                "? = not known" + ("; (m) = mark vs entry" if any(a.unrealised_source == "mark"
                                                                  for a in summary.assets) else ""), style="dim")
    return Group(table, days, note)


# ---- cost report (issue 15)


def _cost_cell(value: str | None) -> str:
    """A report figure (a Decimal string) for a table: money to the cent, "?" when unknown."""
    return "?" if value is None else money_text(Decimal(value))


def cost_report_tables(doc: dict[str, Any]) -> Group:
    """`rebalancer report` for people: per asset and in total, the synthetic route (perp fees, funding,
    hedge P&L, cost = fees - funding) beside the spot-equivalent route (spot fees, realised gains, tax,
    cost = fees + tax), the saving and the break-even. "?" = not known."""
    since = (f" since {_time_text(datetime.fromisoformat(doc['since']))} UTC" if doc.get("since")
             else " since the journal started")
    quote = doc.get("quote", "")
    table = Table(title=f"Synthetic vs spot rebalancing ({quote}){since}, method {doc.get('method')}",
                  title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
    lines = [*doc.get("assets", []), {"asset": "total", "synthetic": doc["synthetic"],
                                      "spot_equivalent": doc["spot_equivalent"], "saving": doc["saving"]}]
    rows = [[line["asset"],
             _cost_cell(line["synthetic"].get("fees")), _cost_cell(line["synthetic"].get("funding")),
             _cost_cell(line["synthetic"].get("pnl")), _cost_cell(line["synthetic"].get("cost")),
             _cost_cell(line["spot_equivalent"].get("fees")), _cost_cell(line["spot_equivalent"].get("realized_gains")),
             _cost_cell(line["spot_equivalent"].get("tax")), _cost_cell(line["spot_equivalent"].get("cost")),
             _cost_cell(line.get("saving"))] for line in lines]
    headers = ["asset", "perp fees", "funding", "hedge P&L", "synth. cost", "spot fees", "gains", "tax",
               "spot cost", "saving"]
    _fixed_column(table, headers[0], [r[0] for r in rows])
    for i, header in enumerate(headers[1:], start=1):
        _number_column(table, header, [r[i] for r in rows])
    for n, r in enumerate(rows):
        table.add_row(*r, style="bold" if n == len(rows) - 1 else None, end_section=n == len(rows) - 2)
    days = doc.get("breakeven_days")
    per_day = doc.get("funding_cost_per_day")
    if days is not None:
        breakeven = (f"break-even: the hedges can stay open {Decimal(days):,.1f} more days at "
                     f"{_cost_cell(per_day)} {quote}/day of funding before the saving is gone")
    elif per_day is not None and Decimal(per_day) <= 0:
        breakeven = "break-even: none (the hedges receive funding or hold nothing)"
    else:
        breakeven = "break-even: not known"
    rate = Decimal(doc.get("tax_rate") or 0) * 100
    fee = Decimal(doc.get("spot_fee_rate") or 0) * 100
    note = Text(f"synthetic cost = perp fees - funding (hedge P&L shown, not counted: the spot route has the same "
                f"market move); spot cost = spot fees ({decimal_text(fee)}%) + tax ({decimal_text(rate)}% of the "
                f"realised gains, losses offset within an asset and across assets in the total); saving = spot cost - "
                f"synthetic cost; ? = not known", style="dim")
    parts: list[Any] = [table, Text(breakeven)]
    parts += [Text(f"note: {n}", style="yellow") for n in doc.get("notes", [])]
    parts.append(note)
    return Group(*parts)
