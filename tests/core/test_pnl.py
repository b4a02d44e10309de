"""core/pnl.py: the ledger arithmetic (average-cost realised P&L from the opening row, funding, fees, net,
per UTC day), against worked numbers and, with hypothesis, against the local exchange's own
`fill_position` replay."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from rebalancer.core.pnl import LedgerEntry, opening_before, replay, summarise
from rebalancer.domain import Position
from rebalancer.exchange_sim.engine import fill_position as engine_fill_position

D = Decimal
T0 = datetime(2026, 11, 30, 23, 0, tzinfo=timezone.utc)
BTC = "BTC/USDT:USDT"


def opening(amount="0", price="0", at=T0, symbol=BTC, asset="BTC") -> LedgerEntry:
    return LedgerEntry("main", "opening", symbol, symbol, asset, at, amount=D(amount),
                       price=None if price is None else D(price))


def trade(i, side, amount, price, fee="0", minutes=1, size="1", symbol=BTC, asset="BTC", fee_ccy="USDT") -> LedgerEntry:
    return LedgerEntry("main", "trade", f"t{i}", symbol, asset, T0 + timedelta(minutes=minutes), side=side,
                       amount=D(amount), price=None if price is None else D(price), contract_size=D(size),
                       fee=None if fee is None else D(fee), fee_currency=fee_ccy, order_id=f"o{i}")


def funding(i, amount, minutes=2, symbol=BTC, asset="BTC", currency="USDT") -> LedgerEntry:
    return LedgerEntry("main", "funding", f"f{i}", symbol, asset, T0 + timedelta(minutes=minutes),
                       funding=D(amount), currency=currency)


def test_example_2_reduce_only_trades_realise_at_the_kept_entry():
    """DOMAIN example 2: short 0.025 BTC at 40,000, buy back 0.005 at 36,000: +20 realised, entry kept."""
    out = replay(opening(), [trade(1, "sell", "0.025", "40000"), trade(2, "buy", "0.005", "36000", minutes=5)])
    assert [r for _, r in out.realised] == [D(0), D("20")]
    assert (out.amount, out.entry) == (D("-0.020"), D("40000"))


def test_a_flip_realises_the_closed_part_and_opens_the_rest_at_the_fill_price():
    out = replay(opening("1", "100"), [trade(1, "sell", "3", "110")])
    assert [r for _, r in out.realised] == [D("10")]
    assert (out.amount, out.entry) == (D("-2"), D("110"))


def test_contracts_count_in_base_units():
    """OKX BTC in contracts of 0.01: 250 contracts short at 40,000, 50 bought back at 39,000."""
    out = replay(opening(), [trade(1, "sell", "250", "40000", size="0.01"), trade(2, "buy", "50", "39000", size="0.01")])
    assert out.realised[-1][1] == D("500")
    assert out.amount == D("-2.00")


def test_summary_per_asset_total_and_day_with_net_realised_plus_funding_minus_fees():
    rows = [opening(), trade(1, "sell", "0.025", "40000", fee="0.4"),
            trade(2, "buy", "0.005", "36000", fee="0.072", minutes=70),  # next UTC day
            funding(1, "0.1"), funding(2, "-0.05", minutes=75),
            opening(symbol="ETH/USDT:USDT", asset="ETH"),
            trade(3, "buy", "0.5", "2000", fee="0.4", symbol="ETH/USDT:USDT", asset="ETH")]
    positions = {"BTC": Position("BTC", BTC, D("-0.02"), D("40000"), None, D("80")),
                 "ETH": Position("ETH", "ETH/USDT:USDT", D("0.5"), D("2000"), None, None)}
    s = summarise(rows, positions, quote="USDT", marks={"ETH": D("2200")})
    btc, eth = s.assets
    assert (btc.realised, btc.funding, btc.fees, btc.net) == (D("20"), D("0.05"), D("0.472"), D("19.578"))
    assert (btc.unrealised, btc.unrealised_source) == (D("80"), "exchange")
    assert (eth.unrealised, eth.unrealised_source) == (D("100"), "mark")
    assert (s.total.realised, s.total.fees, s.total.net) == (D("20"), D("0.872"), D("19.178"))
    assert [(d.day.isoformat(), d.asset, d.realised, d.funding, d.fees) for d in s.days] == [
        ("2026-11-30", "BTC", D(0), D("0.1"), D("0.4")),
        ("2026-11-30", "ETH", D(0), D(0), D("0.4")),
        ("2026-12-01", "BTC", D("20"), D("-0.05"), D("0.072")),
    ]


def test_since_counts_only_later_entries_but_replays_the_average_cost_from_the_opening():
    rows = [opening(), trade(1, "sell", "1", "100", fee="1"), trade(2, "buy", "1", "90", fee="1", minutes=30),
            funding(1, "5", minutes=10), funding(2, "7", minutes=40)]
    s = summarise(rows, quote="USDT", since=T0 + timedelta(minutes=20))
    assert (s.assets[0].realised, s.assets[0].funding, s.assets[0].fees) == (D("10"), D("7"), D("1"))


def test_missing_numbers_stay_missing_never_zero():
    """A trade without a side makes realised unknown; a fee in BNB makes fees unknown; net follows."""
    rows = [opening(), trade(1, "sell", "1", "100"), trade(2, None, "1", "90", minutes=3),
            trade(3, "buy", "1", "90", fee="0.1", fee_ccy="BNB", minutes=4)]
    a = summarise(rows, quote="USDT").assets[0]
    assert a.realised is None and a.fees is None and a.net is None and a.funding == 0
    unknown_entry = summarise([opening("1", None), trade(1, "sell", "1", "120")], quote="USDT").assets[0]
    assert unknown_entry.realised is None
    grown = summarise([opening("1", None), trade(1, "buy", "1", "120")], quote="USDT").assets[0]
    assert grown.realised == 0  # growing realises nothing, even from an unknown entry
    held = summarise([], {"SOL": Position("SOL", "SOL/USDT:USDT", D("1"), None, None, None)}, quote="USDT")
    assert (held.assets[0].unrealised, held.assets[0].realised) == (None, None)


def test_entries_older_than_the_opening_are_not_the_ledgers():
    rows = [opening(at=T0 + timedelta(minutes=5)), trade(1, "sell", "1", "100", fee="9", minutes=1),
            funding(1, "3", minutes=2)]
    a = summarise(rows, quote="USDT").assets[0]
    assert (a.realised, a.fees, a.funding) == (D(0), D(0), D(0))


def test_opening_before_solves_the_entry_back_through_average_cost():
    # from -0.01 @ 41,000: sell 0.015 @ 40,000 -> -0.025 @ 40,400; buy 0.005 @ 36,000 keeps 40,400
    assert opening_before(D("-0.020"), D("40400"), [(D("-0.015"), D("40000")), (D("0.005"), D("36000"))]) == \
        (D("-0.010"), D("41000"))
    assert opening_before(D("0.5"), D("2000"), [(D("0.5"), D("2000"))]) == (D(0), D(0))
    assert opening_before(D("-1"), D("90"), [(D("-2"), D("90"))]) == (D("1"), None)  # flipped: unrecoverable
    assert opening_before(D("1"), None, []) == (D("1"), None)


# --------------------------------------------------------------------------- properties

amounts = st.integers(1, 5000).map(lambda n: D(n) / 1000)
prices = st.integers(1000, 100_000).map(lambda n: D(n) / 10)
fills = st.lists(st.tuples(st.sampled_from(["buy", "sell"]), amounts, prices), min_size=1, max_size=25)


def _engine_replay(start: tuple[Decimal, Decimal], seq) -> Decimal:
    amount, entry = start
    total = D(0)
    for side, qty, price in seq:
        amount, entry, realised = engine_fill_position(amount, entry, qty if side == "buy" else -qty, price)
        total += realised
    return total


@settings(max_examples=200, deadline=None)
@given(seq=fills, start_amount=st.integers(-3000, 3000).map(lambda n: D(n) / 1000), start_entry=prices)
def test_realised_of_a_random_fill_sequence_equals_the_local_engines_replay(seq, start_amount, start_entry):
    rows = [opening(str(start_amount), str(start_entry))] + [
        trade(i, side, str(qty), str(price), minutes=i + 1) for i, (side, qty, price) in enumerate(seq)]
    got = summarise(rows, quote="USDT").assets[0].realised
    assert got == _engine_replay((start_amount, start_entry if start_amount else D(0)), seq)


@settings(max_examples=150, deadline=None)
@given(seq=fills, cuts=st.lists(st.integers(1, 9), min_size=1, max_size=25), fee_rate=st.sampled_from(["0", "0.0004"]))
def test_splitting_fills_changes_no_total(seq, cuts, fee_rate):
    """A fill split into pieces at the same price (fees split in proportion) gives the same realised,
    fees and end position: average cost does not depend on how an order was filled (up to Decimal's
    28-digit rounding of the averaged entry, far below a cent)."""
    whole, split = [opening()], [opening()]
    n = 0
    for i, (side, qty, price) in enumerate(seq):
        fee = qty * price * D(fee_rate)
        whole.append(trade(f"w{i}", side, str(qty), str(price), fee=str(fee), minutes=i + 1))
        part = qty * cuts[i % len(cuts)] / 10
        for piece in (part, qty - part):
            if piece:
                n += 1
                split.append(trade(f"s{n}", side, str(piece), str(price), fee=str(piece * price * D(fee_rate)),
                                   minutes=i + 1))
    a, b = summarise(whole, quote="USDT").assets[0], summarise(split, quote="USDT").assets[0]
    # equal up to Decimal's 28-digit rounding of the averaged entry (far below a cent)
    for x, y in ((a.realised, b.realised), (a.fees, b.fees), (a.net, b.net)):
        assert abs(x - y) < D("1e-15"), (x, y)
    ra = replay(whole[0], whole[1:])
    rb = replay(split[0], sorted(split[1:], key=lambda e: (e.at, e.entry_id)))
    assert ra.amount == rb.amount


@settings(max_examples=200, deadline=None)
@given(seq=fills, start_amount=st.integers(-3000, 3000).map(lambda n: D(n) / 1000), start_entry=prices)
def test_opening_before_inverts_the_replay_when_the_position_never_resets(seq, start_amount, start_entry):
    amount, entry, resets = start_amount, start_entry if start_amount else D(0), False
    deltas = []
    for side, qty, price in seq:
        delta = qty if side == "buy" else -qty
        new_amount, entry, _ = engine_fill_position(amount, entry, delta, price)
        resets = resets or (amount != 0 and (new_amount == 0 or (new_amount > 0) != (amount > 0)))
        amount = new_amount
        deltas.append((delta, price))
    got_amount, got_entry = opening_before(amount, entry, deltas)
    assert got_amount == start_amount
    if start_amount == 0:
        assert got_entry == 0
    elif resets:
        assert got_entry is None
    else:
        assert got_entry is not None and abs(got_entry - start_entry) < D("1e-12")
