"""The executor: journal the intent, place hedge orders idempotently, settle unknown outcomes.

The ambiguous-outcome rule: an order whose send may have reached the exchange is never sent again
until the exchange *proves* it did not execute. A send may have reached it whenever the request
left: a timeout, a connection reset, a cut or truncated body, garbage or an HTML 502 in place of
the answer are all an UNKNOWN outcome (venues/errors.py), never a rejection.

- The order is first looked up by its client order id (repeated, for propagation lag).
- "Not found" is not proof: Binance keeps client ids unique only among *open* orders, so a filled
  order does not stop a resend with the same id from executing a second time. The proof is the
  account's fill history on the symbol since the send (fetch_my_trades): a fill of an order no
  other journaled order explains, on our side and within our amount, is this order (journaled
  FILLED / PARTIALLY_FILLED with the exchange's order id and the fills' quantity); no such fill at
  all, after the lookups spanned the lag window, and a position that has not moved by the order
  since the snapshot (the fill history may lag), is the proof it did not execute (then, and only
  then, a resend with the same id). The cycle's position check compares the book with what the
  journaled fills imply, so a wrong attribution cannot pass silently.
- Where proof is impossible (the history cannot be read, or fills on the symbol that no journaled
  order explains and that do not fit this one), the order stays UNKNOWN and is not sent again;
  the cycle ends partial. The next cycle's settlement (resolve_unresolved) decides it from the
  same evidence, and the cycle after re-plans from the real positions with a fresh client id.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Awaitable, Callable, Mapping, Sequence

import structlog

from .domain import ZERO, OrderResult, OrderState, PlannedOrder, Position, Side
from .journal import Journal, OrderRecord
from .venues.errors import (
    ClockSkewError,
    FatalError,
    RejectedError,
    TransientError,
    UnknownOutcomeError,
    VenueError,
)

log = structlog.get_logger("rebalancer.executor")


def new_cycle_id(now: datetime) -> str:
    """Sortable and unique: UTC time to the second plus 6 random hex digits."""
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def client_order_id(cycle_id: str, index: int, prefix: str = "rb") -> str:
    """Derived from the cycle id; letters and digits only, 24 chars: valid on every venue. Orders are
    "rb...", protective stops "rs..." (protect.stop_client_id)."""
    compact = "".join(ch for ch in cycle_id if ch.isalnum() and ch not in "TZ")
    return f"{prefix}{compact[:20]}{index:02d}"


@dataclass(frozen=True)
class Executed:
    """One planned order and what became of it."""

    order: PlannedOrder
    client_order_id: str
    result: OrderResult
    sends: int
    note: str = ""


@dataclass(frozen=True)
class Proof:
    """What the exchange's own records say about an order it does not find by client id:
    `result` when its fills were found, `not_executed` when nothing on the symbol since the send
    is unexplained, else neither (proof impossible) and `reason` says why."""

    reason: str
    result: OrderResult | None = None
    not_executed: bool = False


class Executor:
    def __init__(
        self,
        venue,
        journal: Journal,
        *,
        clock: Callable[[], datetime],
        order_type: str = "market",
        max_slippage: Decimal = Decimal("0.005"),
        max_sends: int = 3,
        lookup_attempts: int = 4,
        lookup_delay_s: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        halted: Callable[[], bool] = lambda: False,
    ) -> None:
        self.venue = venue
        self.halted = halted  # the kill switch, checked again right before every send
        self.journal = journal
        self.clock = clock
        self.order_type = order_type
        self.max_slippage = max_slippage
        self.max_sends = max_sends
        self.lookup_attempts = lookup_attempts
        self.lookup_delay_s = lookup_delay_s
        self.sleep = sleep
        self._positions_before: dict[str, Decimal] | None = None  # set per execute() call
        # Final-state writes of each symbol's last leg, committed in a worker thread (execute(defer_final=True))
        # while the caller confirms; flush() awaits them.
        self._deferred: list[asyncio.Future] = []
        # Last legs accepted with an ids-only reply (Bybit, OKX) under defer_final: client id -> cycle id.
        # Their state is looked up in journal_fees, beside the caller's confirming reads.
        self._accepted: dict[str, str] = {}
        self.settled_late = 0  # how many of the last execute()'s orders journal_fees looked up

    # ------------------------------------------------------------------ recovery

    async def resolve_unresolved(self) -> list[OrderRecord]:
        """Settle orders a crash left PENDING/UNKNOWN/OPEN; return those still unresolved.

        A stale intent is never sent now: if the exchange does not know it, it becomes NOT_PLACED
        and the next cycle re-plans from the real positions. A PENDING order whose send was never
        counted (attempts == 0) was certainly never sent (the journal commits mark_sent before the
        request leaves): NOT_PLACED without asking. One that was counted but cannot be looked up now
        becomes UNKNOWN with the reason, never stays PENDING: its cycle died, and PENDING would claim
        a request is about to leave. The lookups run concurrently.
        """
        records = self.journal.unresolved_orders()
        settled = await asyncio.gather(*(self._resolve_one(r) for r in records))
        if records:
            await self._journal_settled_fees({r.cycle_id for r in records})
        return [r for r in settled if r is not None]

    async def _journal_settled_fees(self, cycle_ids: set[str]) -> None:
        """The commission of crash leftovers found filled, read like a live cycle's (journal_fees).

        Every fill of the dead cycles is passed to the venue, also those whose fee is already known,
        because a commission ledger is shared among a symbol's orders by notional; only the missing
        fees are journaled. A failure costs the fee column only (logged), never the restart."""
        orders = [o for cid in sorted(cycle_ids) for o in self.journal.orders(cycle_id=cid)
                  if o.filled > 0 and o.exchange_order_id]
        missing = [o for o in orders if o.fee is None]
        if not missing:
            return
        fills = [(o.symbol, o.exchange_order_id or "", o.base_filled * (o.average or o.limit_price or ZERO))
                 for o in orders]
        since = min(o.created_at for o in orders)
        try:
            fees = await self.venue.fees(fills, since)
        except VenueError as exc:
            log.warning("fees_unavailable", error=str(exc), orders=[o.client_order_id for o in missing])
            return
        found = [(o.client_order_id, fee[0], fee[1]) for o in missing
                 if (fee := fees.get(o.exchange_order_id or "")) is not None]
        if found:
            self.journal.record_fees(found, at=self.clock())
            log.info("fees_settled_at_start", orders=[cid for cid, _, _ in found])

    async def _resolve_one(self, record: OrderRecord) -> OrderRecord | None:
        cid = record.client_order_id
        if record.state is OrderState.PENDING and record.attempts == 0:
            self._transition(cid, OrderState.NOT_PLACED, record.cycle_id,
                             detail={"reason": "journaled but never sent (the process stopped first)"})
            return None
        # The repeated lookups allow for propagation lag after a send; an order last touched longer ago
        # than that window has had its time, so one "not found" is as certain as several.
        lag_window = timedelta(seconds=self.lookup_delay_s * (self.lookup_attempts - 1))
        settled_long_ago = self.clock() - record.updated_at >= lag_window
        found, certain = await self._lookup(record.symbol, cid, attempts=1 if settled_long_ago else None)
        if found is not None and found.state is not OrderState.OPEN:
            self._transition(cid, found.state, record.cycle_id, result=found, detail={"reason": "resolved at start"})
            return None
        proof: Proof | None = None
        if found is None and certain:
            # Not found is not proof (a filled order frees its client id): the fills since the send are.
            proof = await self._prove(record.symbol, cid, record.side, record.amount, self._first_sent(record))
            if proof.result is not None:
                self._transition(cid, proof.result.state, record.cycle_id, result=proof.result,
                                 detail={"reason": f"resolved at start: {proof.reason}"})
                return None
            if proof.not_executed:
                self._transition(cid, OrderState.NOT_PLACED, record.cycle_id,
                                 detail={"reason": f"not on the exchange at start and {proof.reason}: never sent, or not executed"})
                return None
        if found is not None:  # resting on the exchange: journal what it says, settle it later
            self._transition(cid, OrderState.OPEN, record.cycle_id, result=found,
                             detail={"reason": "open on the exchange at start"})
        elif record.state is OrderState.PENDING:
            why = proof.reason if proof is not None else "the exchange could not be asked at start"
            self._transition(cid, OrderState.UNKNOWN, record.cycle_id,
                             detail={"reason": f"sent before the process stopped; {why}, so it may exist"})
        elif proof is not None:
            log.warning("order_outcome_unproven", cycle_id=record.cycle_id, client_order_id=cid, reason=proof.reason)
        return self.journal.order(cid) or record

    def _first_sent(self, record: OrderRecord) -> datetime:
        """When the order's first request left (its first 'sent' event), else when it was journaled."""
        sent = [e["at"] for e in self.journal.events(record.client_order_id) if e["kind"] == "sent"]
        return min(sent) if sent else record.created_at

    async def _prove(self, symbol: str, cid: str, side: Side, amount: Decimal, sent_at: datetime) -> Proof:
        """Settle an order the exchange does not find by client id from the account's fills on the
        symbol since the send. Fills of other journaled orders (by exchange order id) are explained;
        what remains, grouped by exchange order id, is this order only when there is exactly one such
        order, on our side, within our amount, and no other unresolved order on the symbol could
        claim it. No unexplained fill at all: it did not execute. Anything else: no proof."""
        fills_since = getattr(self.venue, "fills_since", None)
        if fills_since is None:
            return Proof("the venue has no fill history to prove the outcome from")
        try:
            fills = await fills_since(symbol, sent_at)
        except VenueError as exc:
            return Proof(f"the fill history could not be read ({exc})")
        horizon = sent_at - timedelta(days=1)
        others = [o for o in self.journal.orders(since=horizon) if o.symbol == symbol and o.client_order_id != cid]
        explained = {o.exchange_order_id for o in others if o.exchange_order_id}
        rivals = [o for o in others if o.state in (OrderState.PENDING, OrderState.UNKNOWN, OrderState.OPEN)
                  and not o.exchange_order_id and o.side is side]
        groups: dict[str, list] = {}
        for f in fills:
            if f.client_order_id == cid or (f.order_id not in explained and f.client_order_id in (None, "")):
                groups.setdefault(f.order_id, []).append(f)
        if not groups:
            return Proof(f"no fill on {symbol} since the send", not_executed=True)
        own = [oid for oid, fs in groups.items() if any(f.client_order_id == cid for f in fs)]
        if len(own) == 1:
            oid = own[0]
        elif len(groups) == 1 and not rivals:
            oid = next(iter(groups))
        else:
            return Proof(f"{len(groups)} order(s) filled on {symbol} since the send that no journaled order "
                         f"explains ({', '.join(sorted(groups))}); cannot tell which is {cid}")
        fs = groups[oid]
        filled = sum((f.amount for f in fs), ZERO)
        # A fill without a side (BingX's fill rows have none) is on our side only when it carries our
        # client id; an untagged one without a side proves nothing.
        if any(f.side != side.value and (f.side or f.client_order_id != cid) for f in fs) or filled > amount:
            return Proof(f"order {oid} filled on {symbol} since the send ({filled} {fs[0].side}) does not fit "
                         f"{cid} ({amount} {side.value}): someone else traded the symbol")
        notional = sum((f.amount * f.price for f in fs if f.price is not None), ZERO)
        priced = sum((f.amount for f in fs if f.price is not None), ZERO)
        average = (notional / priced) if priced else None
        state = OrderState.FILLED if filled == amount else OrderState.PARTIALLY_FILLED
        return Proof(f"proven by the fill history: order {oid} filled {filled} on {symbol} since the send",
                     result=OrderResult(cid, state, exchange_order_id=oid, filled=filled, average=average))

    # ------------------------------------------------------------------ a cycle's orders

    async def execute(self, cycle_id: str, orders: Sequence[PlannedOrder],
                      positions_before: Mapping[str, Decimal] | None = None, *,
                      defer_final: bool = False) -> list[Executed]:
        """Journal every intent first, then send each symbol's legs in order, symbols concurrently.
        `positions_before` (base units by asset, from the cycle's snapshot) lets a resend be checked
        against the position as a second proof beside the fill history.

        `defer_final`: the final state of each symbol's *last* leg, when its send settled normally, is
        committed in a worker thread while the caller goes on (its confirming reads); the caller must
        `await flush()` before it ends the cycle. Where the venue's create reply carries ids only
        (Bybit, OKX), that last leg is not looked up right away either: it comes back UNKNOWN with its
        exchange order id (accepted), and `journal_fees`, which the caller runs beside its position
        read, looks it up by client id and journals its state; not found there, it stays UNKNOWN for
        the next cycle to settle (an accepted order is never sent again). Nothing else in the cycle reads that row: a symbol's
        legs run in order and its last leg is the last activity on the symbol, and every proof or
        position check looks at its own symbol only. Per-order commits serialize on one fsync each,
        so at many orders they were the longest stretch between the last reply and the confirmation.
        A crash before the commit leaves the order PENDING with its send counted: looked up by client
        id at the next start, as for a crash right after any send."""
        self._positions_before = dict(positions_before) if positions_before is not None else None
        self._accepted = {}
        self.settled_late = 0
        now = self.clock()
        ids: list[tuple[PlannedOrder, str, Decimal | None]] = []
        for index, order in enumerate(orders):
            ids.append((order, order.client_order_id or client_order_id(cycle_id, index), self._limit_price(order)))
        # One transaction for all intents: a durable commit costs an fsync, and per order that was the
        # largest part of a many-asset cycle's own time. Still all committed before the first send.
        self.journal.record_intents(cycle_id, [(o, cid, self.order_type, limit) for o, cid, limit in ids], at=now)
        for order, cid, _ in ids:
            log.info("order_intent", cycle_id=cycle_id, client_order_id=cid, symbol=order.symbol,
                     side=order.side.value, amount=str(order.amount), reduce_only=order.reduce_only)

        by_symbol: dict[str, list[tuple[PlannedOrder, str, Decimal | None]]] = {}
        for item in ids:
            by_symbol.setdefault(item[0].symbol, []).append(item)
        try:
            # Leverage and margin mode matter only for legs that open exposure: a reduce-only leg
            # trades at whatever the position has, so a symbol whose leverage the exchange refuses to
            # change (-2027/-2028 on an oversized book) can still be reduced.
            await self.venue.prepare([s for s, legs in by_symbol.items() if any(not o.reduce_only for o, _, _ in legs)])
        except VenueError as exc:
            for order, cid, _ in ids:
                self._transition(cid, OrderState.NOT_PLACED, cycle_id,
                                 detail={"reason": f"leverage/margin setup failed: {exc}"})
            raise
        # The first leg of every symbol leaves at once: count those sends in one transaction (one fsync
        # instead of one per symbol), still committed before any of them leaves. Not when the kill
        # switch is already on: then nothing is sent, so nothing may be counted.
        counted: set[str] = set()
        if not self.halted():
            counted = {legs[0][1] for legs in by_symbol.values()}
            self.journal.mark_sent_many([legs[0][1] for legs in by_symbol.values()], at=self.clock())
        # return_exceptions: a fatal error on one symbol must not end the cycle while another symbol's
        # order is still in flight; every group finishes (and journals) before the error is raised.
        outcomes = await asyncio.gather(*(self._run_legs(cycle_id, legs, counted, defer_final=defer_final)
                                          for legs in by_symbol.values()),
                                        return_exceptions=True)
        failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failure is not None:
            await self.flush(raise_errors=False)  # the cycle fails with every order's state journaled
            raise failure
        done = {e.client_order_id: e for group in outcomes for e in group}
        return [done[cid] for _, cid, _ in ids]

    async def flush(self, *, raise_errors: bool = True) -> None:
        """Wait for the deferred final-state writes (execute(defer_final=True)); raise the first failure.
        Callers running at once each wait for all of them (a write stays listed until it has finished)."""
        pending = list(self._deferred)
        outcomes = await asyncio.gather(*pending, return_exceptions=True)
        self._deferred = [f for f in self._deferred if f not in pending]
        failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if failure is not None and raise_errors:
            raise failure

    async def journal_fees(self, executed: list[Executed], *, since: datetime) -> list[Executed]:
        """Fees arrive after the order (the exchange's trade or commission ledger), so they are read
        beside the position confirmation; so are the states of the last legs accepted with ids-only
        replies (execute, defer_final), looked up by client id at the same time as the fee read. A
        fee-read failure costs only the fee column (logged), never the cycle."""
        executed = list(executed)
        waiting = [i for i, e in enumerate(executed) if e.client_order_id in self._accepted]

        # The accepted ones may have filled: their trades are asked for too (trade-based fee readers
        # need only the exchange order id; notional shares matter to the income ledger, whose venue
        # has final replies).
        fills = [(e.order.symbol, e.result.exchange_order_id,
                  e.result.filled * e.order.per_contract * (e.result.average or e.order.price))
                 for i, e in enumerate(executed)
                 if e.result.exchange_order_id and (e.result.filled > 0 or i in waiting)]
        fees, settled = await asyncio.gather(self._read_fees(fills, since),
                                             asyncio.gather(*(self._settle_accepted(executed[i]) for i in waiting)))
        for i, e in zip(waiting, settled):
            executed[i] = e
        if not fees:
            return executed
        await self.flush()  # a fee is journaled after its order's final state, as the events read
        found: list[tuple[str, Decimal, str | None]] = []
        for i, e in enumerate(executed):
            fee = fees.get(e.result.exchange_order_id or "") if e.result.filled > 0 else None
            if fee is not None:
                found.append((e.client_order_id, fee[0], fee[1]))
                executed[i] = replace(e, result=replace(e.result, fee=fee[0], fee_currency=fee[1]))
        if found:
            self.journal.record_fees(found, at=self.clock())  # one transaction, one fsync
        return executed

    async def _read_fees(self, fills: list[tuple[str, str, Decimal]], since: datetime) -> dict | None:
        if not fills:
            return None
        try:
            return await self.venue.fees(fills, since)
        except VenueError as exc:
            log.warning("fees_unavailable", error=str(exc))
            return None

    async def _settle_accepted(self, e: Executed) -> Executed:
        """A last leg the exchange accepted with an ids-only reply: its state by client id, journaled.
        Not found (lag) or unreadable: UNKNOWN, settled by the next cycle; never sent again."""
        cycle_id = self._accepted.pop(e.client_order_id)
        self.settled_late += 1
        symbol, cid = e.order.symbol, e.client_order_id
        found, _ = await self._lookup(symbol, cid)
        if found is not None:
            found = await self._settle_open(symbol, cid, found)
            if found.exchange_order_id is None:
                found = replace(found, exchange_order_id=e.result.exchange_order_id)
            self._transition(cid, found.state, cycle_id, result=found,
                             detail={"reason": "looked up by client id after an ids-only reply"})
            return replace(e, result=found)
        reason = (f"accepted as exchange order {e.result.exchange_order_id}, but not found by client id "
                  "yet: settled at the next cycle, never resent")
        self._transition(cid, OrderState.UNKNOWN, cycle_id, result=e.result, detail={"reason": reason})
        log.warning("order_outcome_unproven", cycle_id=cycle_id, client_order_id=cid, reason=reason)
        return replace(e, note=f"{e.note}; {reason}" if e.note else reason)

    async def _run_legs(self, cycle_id: str, legs: list[tuple[PlannedOrder, str, Decimal | None]],
                        counted: frozenset[str] | set[str] = frozenset(), *, defer_final: bool = False) -> list[Executed]:
        out: list[Executed] = []
        blocked = ""
        for i, (order, cid, limit) in enumerate(legs):
            if blocked:
                result = OrderResult(cid, OrderState.NOT_PLACED, error_message=blocked)
                self._transition(cid, OrderState.NOT_PLACED, cycle_id, detail={"reason": blocked})
                out.append(Executed(order, cid, result, 0, blocked))
                continue
            if self.halted():
                blocked = "kill switch engaged during the cycle"
                result = OrderResult(cid, OrderState.NOT_PLACED, error_message=blocked)
                self._transition(cid, OrderState.NOT_PLACED, cycle_id, detail={"reason": blocked})
                out.append(Executed(order, cid, result, 0, blocked))
                continue
            last = i == len(legs) - 1
            executed = await self._send(cycle_id, order, cid, limit, counted=cid in counted,
                                        defer_final=defer_final and last,
                                        settle_later=defer_final and last
                                        and not getattr(self.venue, "create_reply_final", True))
            out.append(executed)
            if executed.result.state is not OrderState.FILLED:
                # An open leg after a close that did not complete would leave a different book than planned.
                blocked = f"previous leg {executed.client_order_id} ended {executed.result.state.value}"
        return out

    async def _send(self, cycle_id: str, order: PlannedOrder, cid: str, limit: Decimal | None, *,
                    counted: bool = False, defer_final: bool = False, settle_later: bool = False) -> Executed:
        """Send until the outcome is known; `counted`: the first send is already journaled (mark_sent_many);
        `defer_final`: a normally settled reply's final state is committed in a worker thread (see execute);
        `settle_later`: an ids-only reply is looked up in journal_fees, not here (see execute)."""
        sends = 0
        note = ""
        first_sent: datetime | None = None
        while sends < self.max_sends:
            sends += 1
            if sends > 1 or not counted:
                self.journal.mark_sent(cid, at=self.clock())
            first_sent = first_sent or self.clock()
            try:
                if settle_later:
                    result = await self.venue.place(order, cid, self.order_type, limit, settle=False)
                    if result.state is OrderState.UNKNOWN and result.exchange_order_id:
                        # Accepted (the exchange gave it an id); its state is read with the confirmation.
                        self._accepted[cid] = cycle_id
                        return Executed(order, cid, result, sends, note)
                else:
                    result = await self.venue.place(order, cid, self.order_type, limit)
                if result.state is OrderState.UNKNOWN or not result.exchange_order_id:
                    # A 200 whose body is no order (truncated or garbage JSON that ccxt let through):
                    # the request arrived, so the order may exist.
                    raise UnknownOutcomeError("the order response could not be read (truncated or not JSON)")
            except ClockSkewError as exc:
                # Rejected before matching (-1021): certainly not executed. Resync, send again.
                note = f"clock skew: {exc}"
                log.warning("clock_resync", cycle_id=cycle_id, client_order_id=cid, code=exc.code)
                await self.venue.resync_clock()
                continue
            except RejectedError as exc:
                result = OrderResult(cid, OrderState.REJECTED, error_code=exc.code, error_message=str(exc))
                self._transition(cid, OrderState.REJECTED, cycle_id, result=result)
                return Executed(order, cid, result, sends, str(exc))
            except FatalError as exc:
                result = OrderResult(cid, OrderState.REJECTED, error_code=exc.code, error_message=str(exc))
                self._transition(cid, OrderState.REJECTED, cycle_id, result=result)
                raise
            except UnknownOutcomeError as exc:
                note = f"outcome unknown: {exc}"
                self._transition(cid, OrderState.UNKNOWN, cycle_id, detail={"reason": str(exc), "code": exc.code})
                if exc.retry_after:
                    await self.sleep(min(exc.retry_after, 60.0))  # honour Retry-After before even looking
                found, certain = await self._lookup(order.symbol, cid)
                if found is not None:
                    found = await self._settle_open(order.symbol, cid, found)
                    self._transition(cid, found.state, cycle_id, result=found, detail={"reason": "found by client id"})
                    return Executed(order, cid, found, sends, note)
                if not certain:
                    break  # cannot tell: leave UNKNOWN, resolved at the next start or cycle
                # "Not found" is not proof: a filled order no longer blocks its client id. Ask the fills.
                proof = await self._prove(order.symbol, cid, order.side, order.amount, first_sent)
                if proof.result is not None:
                    self._transition(cid, proof.result.state, cycle_id, result=proof.result,
                                     detail={"reason": proof.reason})
                    return Executed(order, cid, proof.result, sends, f"{note}; {proof.reason}")
                if not proof.not_executed:
                    note = f"{note}; {proof.reason}"
                    log.warning("order_outcome_unproven", cycle_id=cycle_id, client_order_id=cid, reason=proof.reason)
                    break  # proof impossible: leave UNKNOWN, never resend; settled by the next cycle
                moved = await self._position_moved(cycle_id, order, cid)
                if moved:
                    note = f"{note}; {moved}"
                    log.warning("order_outcome_unproven", cycle_id=cycle_id, client_order_id=cid, reason=moved)
                    break  # the position says otherwise: leave UNKNOWN, never resend
                # The exchange proved it never executed: the only case where we send again (same id).
                self._transition(cid, OrderState.PENDING, cycle_id,
                                 detail={"reason": f"not found and {proof.reason}: resend"})
                continue
            result = await self._settle_open(order.symbol, cid, result)
            if defer_final:
                self._deferred.append(asyncio.ensure_future(
                    asyncio.to_thread(self._transition, cid, result.state, cycle_id, result=result)))
            else:
                self._transition(cid, result.state, cycle_id, result=result)
            return Executed(order, cid, result, sends, note)
        record = self.journal.order(cid)
        state = record.state if record is not None else OrderState.UNKNOWN
        if state is OrderState.PENDING:
            # Out of sends with the exchange's word that nothing executed (repeated -1021 rejections,
            # or "no such order" after every unknown outcome): nothing to look up later.
            self._transition(cid, OrderState.NOT_PLACED, cycle_id, detail={"reason": note or "gave up"})
            state = OrderState.NOT_PLACED
        return Executed(order, cid, OrderResult(cid, state, error_message=note), sends, note)

    async def _position_moved(self, cycle_id: str, order: PlannedOrder, cid: str) -> str | None:
        """Second proof before a resend: the position now versus the snapshot's plus this cycle's
        journaled fills on the symbol. A move of half the order or more in its direction (or a
        position that cannot be read) means the fill history may lag: no resend. None: no objection
        (also when the cycle gave no positions to compare with)."""
        if self._positions_before is None:
            return None
        try:
            now = await self.venue.positions()
        except VenueError as exc:
            return f"positions could not be read to confirm it did not execute ({exc})"
        done = ZERO
        for record in self.journal.orders(cycle_id=cycle_id):
            if record.symbol == order.symbol and record.client_order_id != cid and record.filled:
                done += record.base_filled if record.side is Side.BUY else -record.base_filled
        expected = self._positions_before.get(order.asset, ZERO) + done
        actual = now[order.asset].amount if order.asset in now else ZERO
        moved = actual - expected
        direction = Decimal(1) if order.side is Side.BUY else Decimal(-1)
        if moved * direction >= order.base_amount / 2:
            return (f"the position moved by {moved} since the snapshot as if it executed, though no fill shows "
                    "yet: not resent")
        return None

    async def _settle_open(self, symbol: str, cid: str, result: OrderResult) -> OrderResult:
        """A market/IOC order should not rest; if reported OPEN, poll it briefly by client id."""
        tries = 0
        while result.state is OrderState.OPEN and tries < self.lookup_attempts:
            tries += 1
            await self.sleep(self.lookup_delay_s)
            found, _ = await self._lookup(symbol, cid)
            if found is not None:
                result = found
        return result

    async def _lookup(self, symbol: str, cid: str, attempts: int | None = None) -> tuple[OrderResult | None, bool]:
        """(order, certain). None + certain: the exchange said 'no such order' on every try."""
        attempts = attempts or self.lookup_attempts
        for attempt in range(attempts):
            try:
                found = await self.venue.lookup(symbol, cid)
            except (TransientError, UnknownOutcomeError) as exc:
                log.warning("order_lookup_failed", client_order_id=cid, error=str(exc))
                return None, False
            if found is not None and found.state is OrderState.UNKNOWN and not found.exchange_order_id:
                log.warning("order_lookup_failed", client_order_id=cid, error="unreadable lookup answer")
                return None, False
            if found is not None:
                return found, True
            if attempt + 1 < attempts:
                await self.sleep(self.lookup_delay_s)  # allow for propagation lag before trusting 'not found'
        return None, True

    def _transition(self, cid: str, to: OrderState, cycle_id: str, *, result: OrderResult | None = None,
                    detail: dict | None = None) -> None:
        before = self.journal.order(cid)
        applied = self.journal.transition(cid, to, at=self.clock(), result=result, detail=detail)
        if applied:
            log.info("order_state_changed", cycle_id=cycle_id, client_order_id=cid,
                     from_state=before.state.value if before else None, to_state=to.value,
                     filled=str(result.filled) if result else None,
                     average=str(result.average) if result and result.average is not None else None,
                     error_code=result.error_code if result else None)

    def _limit_price(self, order: PlannedOrder) -> Decimal | None:
        if self.order_type != "limit_ioc":
            return None
        factor = (1 + self.max_slippage) if order.side is Side.BUY else (1 - self.max_slippage)
        # Round the cap toward the safe side (lower for buys, higher for sells) at 8 decimals;
        # the venue rounds to the market's tick.
        rounding = ROUND_DOWN if order.side is Side.BUY else ROUND_UP
        return (order.price * factor).quantize(Decimal("1e-8"), rounding=rounding)


def expected_positions(before: dict[str, Position], executed: Sequence[Executed]) -> dict[str, Decimal]:
    """Positions the fills should have produced (base units), to compare with a fresh read."""
    out = {a: p.amount for a, p in before.items()}
    for e in executed:
        filled = e.result.filled * e.order.per_contract
        signed = filled if e.order.side is Side.BUY else -filled
        out[e.order.asset] = out.get(e.order.asset, ZERO) + signed
    return out
