"""The review commands as the operator reads them: `orders`, `cycles` and `status` rendered at 80
and 120 columns from a fixed journal and a fixed report, compared with golden files.

Golden files live in tests/golden/*.txt; any change to the output fails the test with a diff. After
an intended change, rewrite them and review the diff in git:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_cli_review.py -q -p no:cacheprovider

Also here: the filters of `orders` (--since/--until with durations or dates, --asset, --state,
--cycle with the short id), `cycles --json`, `--version`, flags without `<bool>` in --help, shell
completion, and what `status`/`plan` print when nothing was journaled.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from rebalancer.cli import app, package_version
from rebalancer.domain import (
    AssetLine,
    Box,
    Finding,
    Funding,
    HedgeAccount,
    Market,
    NavBasis,
    OrderResult,
    OrderState,
    Plan,
    PlannedOrder,
    Position,
    Quote,
    Side,
    Snapshot,
    TradingState,
    TradingStateInfo,
    Verdict,
)
from rebalancer.journal import Journal
from rebalancer.report import report_json, report_renderable, verdict_to_json
from rebalancer.service import CycleReport
from tests.fakes import isolate_env

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
D = Decimal
T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=timezone.utc)
WIDTHS = (80, 120)

DONE, DRY, DENIED, SCALED, FAILED, UNWIND = (
    "20261125T120000Z-a1b2c3", "20261125T121500Z-d4e5f6", "20261125T123000Z-0a0b0c",
    "20261125T124500Z-77aa88", "20261125T130000Z-ffee11", "20261125T131500Z-5c5c5c",
)


def check_golden(name: str, text: str) -> None:
    """Compare `text` with tests/golden/<name>.txt (UPDATE_GOLDEN=1 rewrites the file instead)."""
    path = GOLDEN / f"{name}.txt"
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"{path.name} is missing: run with UPDATE_GOLDEN=1 to create it"
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True),
                                            f"golden/{path.name}", "now"))
        pytest.fail(f"output differs from golden/{path.name} (UPDATE_GOLDEN=1 rewrites it):\n{diff}")


def order(asset: str, side: Side, amount: str, price: str, cid: str, **kw) -> PlannedOrder:
    return PlannedOrder(asset, f"{asset}/USDT:USDT", side, D(amount), D(amount), D(price),
                        kw.pop("reduce_only", False), client_order_id=cid, **kw)


def verdict(approved=(), denied=(), **kw) -> dict:
    return verdict_to_json(Verdict(state=kw.pop("state", TradingState.ACTIVE), approved=tuple(approved),
                                   denials=tuple(kw.pop("denials", ())), denied=tuple(denied), **kw))


def fill(j: Journal, cycle: str, o: PlannedOrder, at: datetime, state: OrderState, *, filled: str = "0",
         average: str | None = None, fee: str | None = None, code: str | None = None, msg: str | None = None,
         sends: int = 1) -> None:
    j.record_intent(cycle, o, client_order_id=o.client_order_id, order_type="market", limit_price=None, at=at)
    for _ in range(sends):
        j.mark_sent(o.client_order_id, at=at)
    j.transition(o.client_order_id, state, at=at + timedelta(seconds=1), result=OrderResult(
        o.client_order_id, state, "x-" + o.client_order_id[-4:], D(filled), D(average) if average else None,
        error_code=code, error_message=msg))
    if fee is not None:
        j.record_fee(o.client_order_id, fee=D(fee), fee_currency="USDT", at=at + timedelta(seconds=2))


def build_journal(path: Path) -> None:
    """Six cycles a quarter hour apart: done, dry run, denied, scaled by MARGIN (partial), failed,
    and an unwind whose close was rejected after a resend."""
    with Journal(path) as j:
        def cycle(cid: str, minutes: int, *, kind: str = "rebalance", execute: bool = True) -> datetime:
            at = T0 + timedelta(minutes=minutes, seconds=3)
            j.start_cycle(cid, kind=kind, execute=execute, venue="main", started_at=at, snapshot_summary={})
            return at

        at = cycle(DONE, 0)
        btc, eth = (order("BTC", Side.SELL, "0.025", "40000", "rb2026112512000000a1b200"),
                    order("ETH", Side.BUY, "0.5", "2000", "rb2026112512000000a1b201"))
        j.update_cycle(DONE, verdict=verdict([btc, eth], net_residual=D("0.4")))
        fill(j, DONE, btc, at, OrderState.FILLED, filled="0.025", average="40001.5", fee="0.4")
        fill(j, DONE, eth, at, OrderState.FILLED, filled="0.5", average="2000.12", fee="0.2")
        j.finish_cycle(DONE, outcome="done", finished_at=at + timedelta(seconds=4),
                       result={"orders": [{"state": "filled"}, {"state": "filled"}]})

        at = cycle(DRY, 15, execute=False)
        j.update_cycle(DRY, verdict=verdict([replace(btc, client_order_id="rb2026112512150000d4e5f6")]))
        j.finish_cycle(DRY, outcome="dry_run", finished_at=at, result={"orders": []})

        at = cycle(DENIED, 30)
        eth_denied = replace(eth, client_order_id="rb20261125123000000a0b00", denied_by=("FUNDING",))
        j.update_cycle(DENIED, verdict=verdict(denied=[eth_denied], denials=[
            Finding("FUNDING", "ETH/USDT:USDT", "long pays 45% a year")], net_residual=D("-1000.25")))
        j.record_denied(DENIED, [eth_denied], at=at)
        j.finish_cycle(DENIED, outcome="denied", finished_at=at, result={"orders": []})

        at = cycle(SCALED, 45)
        big = order("BTC", Side.SELL, "12.345", "104250.5", "rb202611251245000077aa00")
        j.update_cycle(SCALED, verdict=verdict([big], scale=D("0.25"), net_residual=D("-12.5"),
                                               scaled_by=[Finding("MARGIN", None, "margin usage 0.62 > 0.5")]))
        fill(j, SCALED, big, at, OrderState.PARTIALLY_FILLED, filled="10.5", average="104250.55", fee="437.85231")
        j.finish_cycle(SCALED, outcome="partial", finished_at=at, result={"orders": [{"state": "partially_filled"}]})

        at = cycle(FAILED, 60)
        j.finish_cycle(FAILED, outcome="failed", finished_at=at,
                       error="cannot reach http://127.0.0.1:8765: connection refused")

        at = cycle(UNWIND, 75, kind="unwind")
        close = order("ETH", Side.SELL, "0.5", "2000", "rb202611251315005c5c5c00", reduce_only=True, leg="close")
        j.update_cycle(UNWIND, verdict=verdict([close]))
        fill(j, UNWIND, close, at, OrderState.REJECTED, code="-2022", msg="ReduceOnly Order is rejected.", sends=2)
        j.finish_cycle(UNWIND, outcome="partial", finished_at=at, result={"orders": [{"state": "rejected"}]})


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    isolate_env(tmp_path, monkeypatch)
    build_journal(tmp_path / "journal.db")
    path = tmp_path / "rebalancer.toml"
    path.write_text(f"""
[portfolio]
targets = {{ BTC = 0.5, ETH = 0.5 }}
[venues.main]
exchange = "binance"
mode = "local"
base_url = "http://127.0.0.1:8765"
roles = ["spot", "hedge"]
[journal]
path = "{(tmp_path / 'journal.db').as_posix()}"
[logging]
file = ""
""", encoding="utf-8")
    return path


def cli(config: Path, *args: str, width: int = 80) -> str:
    result = CliRunner().invoke(app, [*args, "--config", str(config)],
                                env={"COLUMNS": str(width), "LINES": "50", "NO_COLOR": "1", "TERM": "dumb"})
    assert result.exit_code == 0, result.output
    return result.stdout


# --------------------------------------------------------------------------- goldens


@pytest.mark.parametrize("width", WIDTHS)
def test_orders_when_journal_then_matches_golden(config: Path, width: int) -> None:
    check_golden(f"orders_{width}", cli(config, "orders", width=width))


def test_orders_when_wide_then_matches_golden(config: Path) -> None:
    check_golden("orders_wide", cli(config, "orders", "--wide", width=120))


@pytest.mark.parametrize("width", WIDTHS)
def test_cycles_when_journal_then_matches_golden(config: Path, width: int) -> None:
    check_golden(f"cycles_{width}", cli(config, "cycles", width=width))


def status_report() -> CycleReport:
    """A status read: BTC short with a liquidation price, ETH long, HALTED by the kill switch."""
    snap = Snapshot(
        taken_at=T0, quote="USDT",
        positions={"BTC": Position("BTC", "BTC/USDT:USDT", D("-0.125"), D("40000"), D("52000"), D("-62.5")),
                   "ETH": Position("ETH", "ETH/USDT:USDT", D("2.5"), D("2000"), D("1400.5"))},
        markets={a: Market(f"{a}/USDT:USDT", a, "USDT") for a in ("BTC", "ETH")},
        mark_prices={"BTC": Quote(D("40500"), T0), "ETH": Quote(D("2012.4"), T0)},
        funding={"BTC": Funding(D("0.0001")), "ETH": Funding(D("0.0001"))},
        account=HedgeAccount(equity=D("10250.75"), wallet=D("10200"), initial_margin=D("3400"),
                             maintenance_margin=D("51.2"), available=D("6850.75")),
    )
    lines = (AssetLine("BTC", D("0.5"), D("10125"), D("-5062.5"), D("5062.5"), D("0.4987"), D("-0.0013"),
                       D("5075"), D("-5050"), D("12.5"), True),
             AssetLine("ETH", D("0.5"), D("0"), D("5031"), D("5031"), D("0.4956"), D("-0.0044"), D("5075"),
                       D("5075"), D("44"), True))
    plan = Plan(nav=D("10150"), quote="USDT", nav_basis=NavBasis.SPOT, triggered=False, assets=lines, orders=())
    v = Verdict(state=TradingState.HALTED, approved=(), denials=(), margin_usage=D("0.3317"),
                funding_cost_per_day=D("-0.4591"), stressed_equity=D("8100"), stressed_maintenance=D("60"),
                liquidation_distances={"BTC/USDT:USDT": D("0.2840")},
                boxes={"BTC": Box(None, None), "ETH": Box(None, None)})
    return CycleReport("20261125T120000Z-999999", "status", False, T0, snapshot=snap, plan=plan, verdict=v,
                       outcome="dry_run", trading_state=TradingStateInfo(
                           TradingState.HALTED, "kill switch file /srv/rebalancer/var/HALT", T0 - timedelta(hours=1)))


def render(renderable, width: int) -> str:
    console = Console(record=True, width=width, color_system=None)
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize("width", WIDTHS)
def test_status_when_positions_and_halted_then_matches_golden(width: int) -> None:
    check_golden(f"status_{width}", render(report_renderable(status_report(), journaled=False), width))


@pytest.mark.parametrize("name", [f"{kind}_{w}" for kind in ("orders", "cycles", "status") for w in WIDTHS])
def test_goldens_when_80_or_120_columns_then_no_line_too_long_and_nothing_cut(name: str) -> None:
    """What the goldens hold: no line over its width, no ellipsis anywhere."""
    if UPDATE:
        pytest.skip("goldens being rewritten")
    text = (GOLDEN / f"{name}.txt").read_text(encoding="utf-8")
    width = int(name.rsplit("_", 1)[1])
    assert max(len(ln.rstrip()) for ln in text.splitlines()) <= width
    assert "…" not in text and "..." not in text


# --------------------------------------------------------------------------- what the tables say


def test_orders_when_80_columns_then_every_number_whole_on_its_row(config: Path) -> None:
    """Prices, amounts, fees and times are whole, on the line of their row (never cut or folded)."""
    out = cli(config, "orders", width=80).splitlines()
    row = next(ln for ln in out if "77aa88" in ln)
    assert row.split()[:6] == ["11-25", "12:45:03", "77aa88", "BTC", "sell", "12.345"]
    assert "104250.55" in row.split() and "437.85231" in row.split()
    assert any("notional 1,096,630.87 USDT" in ln for ln in out)


def test_status_when_positions_then_entry_mark_upnl_liquidation_and_state_reason() -> None:
    out = render(report_renderable(status_report(), journaled=False), 120)
    btc = next(ln for ln in out.splitlines() if ln.startswith("BTC ") and "52,000.00" in ln)
    assert btc.split() == ["BTC", "-0.125", "40,000.00", "40,500.00", "-62.50", "52,000.00", "28.40%"]
    eth = next(ln for ln in out.splitlines() if ln.startswith("ETH ") and "2,012.40" in ln)
    assert eth.split()[4] == "31.00"  # no uPnL from the exchange: (mark - entry) x amount
    assert "Trading state: HALTED (kill switch file /srv/rebalancer/var/HALT) since 2026-11-25 11:00:00 UTC" in out
    assert "Hedge account (USDT): equity 10,250.75, available margin 6,850.75" in out
    assert "-0.4591 USDT/day, + = you pay" in out


def test_status_and_plan_when_not_journaled_then_no_cycle_or_client_id_shown() -> None:
    """status/plan are not journaled: no id that `orders --cycle` could not find, in text or JSON."""
    r = status_report()
    o = PlannedOrder("BTC", "BTC/USDT:USDT", Side.SELL, D("0.01"), D("0.01"), D("40500"), False,
                     client_order_id="rb2026112512000099999900")
    r = replace(r, kind="rebalance", verdict=replace(r.verdict, approved=(o,)))
    out = render(report_renderable(r, journaled=False), 120)
    assert "999999" not in out and "dry_run (not journaled)" in out
    doc = report_json(r, journaled=False)
    assert doc["cycle_id"] is None and doc["journaled"] is False
    journaled = render(report_renderable(r, journaled=True), 120)
    assert "cycle 20261125T120000Z-999999: dry_run" in journaled and "rb2026112512000099999900" in journaled


def test_report_when_scaled_by_margin_then_title_and_outcome_line_say_so() -> None:
    r = status_report()
    v = replace(r.verdict, state=TradingState.ACTIVE, scale=D("0.25000000000000000000000001"),
                scaled_by=(Finding("MARGIN", None, "margin usage 0.62 > 0.5"),))
    out = render(report_renderable(replace(r, kind="rebalance", verdict=v, outcome="done", trading_state=None)), 120)
    assert "Risk gate: ACTIVE, scaled to 0.2500 by MARGIN" in [ln.rstrip() for ln in out.splitlines()]
    assert out.rstrip().splitlines()[-1] == ("cycle 20261125T120000Z-999999: done; Risk gate: ACTIVE, scaled to "
                                             "0.2500 by MARGIN")
    assert "0.25000000000" not in out


def test_unwind_when_positions_then_close_column_shows_closing_amounts() -> None:
    r = replace(status_report(), kind="unwind", trading_state=None)
    out = render(report_renderable(r), 120)
    header = next(ln for ln in out.splitlines() if "target" in ln)
    assert "close" in header and "adjust" not in header
    btc = next(ln for ln in out.splitlines() if ln.startswith("BTC ") and "50.00%" in ln)
    assert btc.split()[-1] == "5,062.50" and "12.50" not in btc  # -perp, not the adjustment


# --------------------------------------------------------------------------- filters and JSON


def ids(out: str) -> list[str]:
    return [o["client_order_id"][-6:] for o in json.loads(out)]


def test_orders_when_filters_then_only_matching_rows(config: Path) -> None:
    assert ids(cli(config, "orders", "--json", "--state", "denied")) == ["0a0b00"]
    assert ids(cli(config, "orders", "--json", "--asset", "eth")) == ["a1b201", "0a0b00", "5c5c00"]
    assert ids(cli(config, "orders", "--json", "--cycle", "a1b2c3")) == ["a1b200", "a1b201"]
    assert ids(cli(config, "orders", "--json", "--cycle", DONE)) == ["a1b200", "a1b201"]
    assert ids(cli(config, "orders", "--json", "--since", "2026-11-25T12:30", "--until", "2026-11-25 12:50")) == [
        "0a0b00", "77aa00"]
    assert ids(cli(config, "orders", "--json", "--state", "filled", "--state", "rejected", "--limit", "2")) == [
        "a1b201", "5c5c00"]
    assert ids(cli(config, "orders", "--json", "--until", "2026-11-25T11:59:59Z")) == []
    assert len(ids(cli(config, "orders", "--json", "--since", "100000w"))) == 5  # a duration back from now


def test_orders_when_bad_filter_then_one_line_exit_2(config: Path) -> None:
    for args, needle in ((["--state", "gone"], "--state gone: not a state"),
                         (["--since", "yesterday"], "--since: invalid duration"),
                         (["--cycle", "zzzzzz"], "--cycle zzzzzz: no such cycle"),
                         (["--since", "2026-11-26", "--until", "2026-11-25"], "is before --since")):
        result = CliRunner().invoke(app, ["orders", *args, "--config", str(config)])
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith("error: ") and needle in result.stderr, result.stderr


def test_cycles_when_json_then_summary_per_cycle(config: Path) -> None:
    data = json.loads(cli(config, "cycles", "--json"))
    by_id = {c["id"]: c for c in data}
    assert [c["id"] for c in data] == [DONE, DRY, DENIED, SCALED, FAILED, UNWIND]
    assert (by_id[DONE]["outcome"], by_id[DONE]["filled"], by_id[DONE]["sent"]) == ("done", 2, 2)
    assert (by_id[DRY]["execute"], by_id[DRY]["outcome"], by_id[DRY]["orders"]) == (False, "dry_run", 1)
    assert (by_id[DENIED]["denials"], by_id[DENIED]["denied"], by_id[DENIED]["net_residual"]) == (
        ["FUNDING"], 1, "-1000.25")
    assert (by_id[SCALED]["scale"], by_id[SCALED]["scaled_by"]) == ("0.25", ["MARGIN"])
    assert by_id[FAILED]["error"].endswith("connection refused") and by_id[FAILED]["scale"] is None
    assert by_id[DONE]["started_at"] == "2026-11-25T12:00:03+00:00"
    assert [c["id"] for c in json.loads(cli(config, "cycles", "--json", "--until", "2026-11-25T12:20"))] == [DONE, DRY]


def test_review_when_no_journal_then_one_line_naming_the_absolute_path(config: Path, tmp_path: Path) -> None:
    (tmp_path / "journal.db").unlink()
    result = CliRunner().invoke(app, ["cycles", "--config", str(config)])
    assert result.exit_code == 1 and "no journal at " in result.stderr
    assert str((tmp_path / "journal.db").absolute()) in result.stderr


# --------------------------------------------------------------------------- the CLI itself


def test_version_when_asked_then_package_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"rebalancer {package_version()}\n"
    assert package_version()[0].isdigit()


@pytest.mark.parametrize("command", [[], ["rebalance"], ["orders"], ["cycles"], ["unwind"], ["status"]])
def test_help_when_flags_then_no_bool_type_shown(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0
    assert "<bool>" not in result.stdout and "--help" in result.stdout


def test_help_when_top_level_then_completion_and_review_commands_listed() -> None:
    out = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "100"}).stdout
    for needle in ("--install-completion", "--show-completion", "--version", "cycles", "orders"):
        assert needle in out, needle
