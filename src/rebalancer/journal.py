"""The order journal: cycles, orders and every order state change, in one SQLite file.

Intent is written before a request is sent, so after a crash the journal says which orders may exist.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Iterator, Mapping, Sequence

from .domain import CycleKind, CycleOutcome, OrderResult, OrderState, PlannedOrder, Side

__all__ = [
    "CYCLE_KINDS",
    "CYCLE_OUTCOMES",
    "DENIAL_SEPARATOR",
    "DENIED_ORDER_TYPE",
    "FILL_PROGRESS_STATES",
    "SCHEMA_VERSION",
    "TRANSITIONS",
    "UNRESOLVED_STATES",
    "CycleRecord",
    "ForcedState",
    "Journal",
    "JournalError",
    "JournalOpenError",
    "OrderRecord",
    "StopRecord",
    "is_allowed_transition",
    "describe_failure",
    "is_journal_failure",
    "parse_duration",
]

S = OrderState

# The order life cycle as data. A transition not listed here is refused (transition() returns False),
# which is how replays, late duplicates and out-of-order exchange reports are ignored.
TRANSITIONS: Mapping[OrderState, frozenset[OrderState]] = MappingProxyType(
    {
        S.PENDING: frozenset(
            {S.UNKNOWN, S.OPEN, S.FILLED, S.PARTIALLY_FILLED, S.CANCELED, S.EXPIRED, S.REJECTED, S.NOT_PLACED}
        ),
        # PENDING again only when a lookup by client id said "not found": the same id may be resent.
        S.UNKNOWN: frozenset(
            {S.OPEN, S.FILLED, S.PARTIALLY_FILLED, S.CANCELED, S.EXPIRED, S.REJECTED, S.NOT_PLACED, S.PENDING}
        ),
        S.OPEN: frozenset({S.FILLED, S.PARTIALLY_FILLED, S.CANCELED, S.EXPIRED}),
        # An IOC remainder is canceled but a late fill report may still complete it.
        S.PARTIALLY_FILLED: frozenset({S.FILLED}),
        S.FILLED: frozenset(),
        S.CANCELED: frozenset(),
        S.EXPIRED: frozenset(),
        S.REJECTED: frozenset(),
        S.NOT_PLACED: frozenset(),
        # Inserted directly by record_denied (never via PENDING) and never left: it was never sent.
        S.DENIED: frozenset(),
    }
)

# States in which a report with the same state but a larger fill is progress, not a duplicate.
FILL_PROGRESS_STATES: frozenset[OrderState] = frozenset({S.OPEN, S.PARTIALLY_FILLED})

# Orders the exchange may still know something about that the journal does not. DENIED is not one:
# the gate refused it, so it was never sent and there is nothing to look up.
UNRESOLVED_STATES: tuple[OrderState, ...] = (S.PENDING, S.UNKNOWN, S.OPEN)

# A denied leg's codes are kept in orders.error_code joined by this ("NO_PRICE,BASIS"): no new column,
# so journals written before DENIED existed open unchanged. Its order_type is DENIED_ORDER_TYPE.
DENIAL_SEPARATOR = ","
DENIED_ORDER_TYPE = "none"

# From the domain's StrEnums, so the journal, metrics and tables cannot drift apart.
CYCLE_KINDS: frozenset[str] = frozenset(k.value for k in CycleKind if k is not CycleKind.STATUS)
CYCLE_OUTCOMES: frozenset[str] = frozenset(o.value for o in CycleOutcome)

# Each migration is a tuple of statements applied in one transaction; user_version = its 1-based index.
# Kinds, outcomes and states are validated in Python rather than by CHECK constraints because
# SQLite cannot alter a CHECK without rebuilding the table, and these lists will grow.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE cycles (
            id               TEXT PRIMARY KEY,
            kind             TEXT NOT NULL,
            execute          INTEGER NOT NULL CHECK (execute IN (0, 1)),
            venue            TEXT NOT NULL,
            started_at       TEXT NOT NULL,
            finished_at      TEXT,
            outcome          TEXT NOT NULL DEFAULT 'running',
            snapshot_summary TEXT NOT NULL DEFAULT '{}',
            plan             TEXT,
            verdict          TEXT,
            result           TEXT,
            error            TEXT
        )
        """,
        "CREATE INDEX cycles_started_at ON cycles (started_at)",
        """
        CREATE TABLE orders (
            client_order_id   TEXT PRIMARY KEY,
            cycle_id          TEXT NOT NULL REFERENCES cycles (id),
            asset             TEXT NOT NULL,
            symbol            TEXT NOT NULL,
            side              TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
            amount            TEXT NOT NULL,
            reduce_only       INTEGER NOT NULL CHECK (reduce_only IN (0, 1)),
            leg               TEXT NOT NULL,
            order_type        TEXT NOT NULL,
            limit_price       TEXT,
            state             TEXT NOT NULL,
            exchange_order_id TEXT,
            filled            TEXT NOT NULL DEFAULT '0',
            average           TEXT,
            fee               TEXT,
            fee_currency      TEXT,
            error_code        TEXT,
            error_message     TEXT,
            created_at        TEXT NOT NULL,
            updated_at        TEXT NOT NULL,
            attempts          INTEGER NOT NULL DEFAULT 0
        )
        """,
        "CREATE INDEX orders_cycle_id ON orders (cycle_id)",
        "CREATE INDEX orders_created_at ON orders (created_at)",
        # Partial index: the restart path asks for unresolved orders, which are few among many.
        "CREATE INDEX orders_unresolved ON orders (created_at) WHERE state IN ('pending', 'unknown', 'open')",
        """
        CREATE TABLE order_events (
            id              INTEGER PRIMARY KEY AUTOINCREMENT,
            client_order_id TEXT NOT NULL REFERENCES orders (client_order_id),
            at              TEXT NOT NULL,
            kind            TEXT NOT NULL,
            from_state      TEXT,
            to_state        TEXT NOT NULL,
            detail          TEXT NOT NULL DEFAULT '{}'
        )
        """,
        "CREATE INDEX order_events_client_order_id ON order_events (client_order_id, id)",
    ),
    (
        # The trading state forced by the daemon (consecutive failures) or by an operator: one row per
        # key ("forced"), so another process (`rebalancer resume`) can clear it in a running daemon.
        """
        CREATE TABLE trading_state (
            key    TEXT PRIMARY KEY,
            state  TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            since  TEXT NOT NULL,
            source TEXT NOT NULL DEFAULT ''
        )
        """,
    ),
    (
        # Base units per contract of each order's market (OKX BTC-USDT-SWAP 0.01), so reviews and the
        # notional read amounts in base units: amount and filled stay in contracts, as sent.
        "ALTER TABLE orders ADD COLUMN contract_size TEXT NOT NULL DEFAULT '1'",
    ),
    (
        # Protective stops (issue 14): one row per stop the bot asked the exchange for, written before
        # the request is sent (state 'pending'), like orders. States: pending -> resting | unknown |
        # rejected | not_placed; resting -> cancel_requested -> canceled; resting -> fired | vanished.
        # A fired stop's fill is also journaled in `orders` (leg 'stop'), so reviews and the
        # external-change check count it like any order.
        """
        CREATE TABLE stops (
            client_order_id   TEXT PRIMARY KEY,
            cycle_id          TEXT,
            asset             TEXT NOT NULL,
            symbol            TEXT NOT NULL,
            side              TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
            amount            TEXT NOT NULL,
            trigger_price     TEXT NOT NULL,
            contract_size     TEXT NOT NULL DEFAULT '1',
            state             TEXT NOT NULL,
            exchange_order_id TEXT,
            reason            TEXT NOT NULL DEFAULT '',
            error             TEXT,
            created_at        TEXT NOT NULL,
            updated_at        TEXT NOT NULL
        )
        """,
        "CREATE INDEX stops_symbol ON stops (symbol, created_at)",
        "CREATE INDEX stops_live ON stops (created_at) WHERE state IN ('pending', 'unknown', 'resting', 'cancel_requested')",
    ),
    (
        # The money ledger (issue 14): every trade and funding payment the exchange reports, stored once
        # each, keyed by the exchange's own id (kind 'trade' | 'funding'; 'opening' rows hold the
        # position and entry price a symbol had when the ledger started reading it).
        """
        CREATE TABLE ledger_entries (
            venue           TEXT NOT NULL,
            kind            TEXT NOT NULL,
            entry_id        TEXT NOT NULL,
            symbol          TEXT NOT NULL,
            asset           TEXT NOT NULL,
            at              TEXT NOT NULL,
            side            TEXT,
            amount          TEXT,
            price           TEXT,
            contract_size   TEXT NOT NULL DEFAULT '1',
            fee             TEXT,
            fee_currency    TEXT,
            funding         TEXT,
            currency        TEXT,
            order_id        TEXT,
            client_order_id TEXT,
            cycle_id        TEXT,
            recorded_at     TEXT NOT NULL,
            PRIMARY KEY (venue, kind, entry_id)
        )
        """,
        "CREATE INDEX ledger_entries_at ON ledger_entries (at)",
        # How far each (venue, kind, symbol) has been read: the next read starts a little before it.
        """
        CREATE TABLE ledger_cursors (
            venue      TEXT NOT NULL,
            kind       TEXT NOT NULL,
            symbol     TEXT NOT NULL,
            read_until TEXT NOT NULL,
            PRIMARY KEY (venue, kind, symbol)
        )
        """,
        # Margin top-ups (protection.top_up_from_spot): stablecoin moved spot -> futures, intent first.
        """
        CREATE TABLE transfers (
            client_id   TEXT PRIMARY KEY,
            cycle_id    TEXT,
            currency    TEXT NOT NULL,
            amount      TEXT NOT NULL,
            from_wallet TEXT NOT NULL,
            to_wallet   TEXT NOT NULL,
            state       TEXT NOT NULL,
            transfer_id TEXT,
            reason      TEXT NOT NULL DEFAULT '',
            error       TEXT,
            created_at  TEXT NOT NULL,
            updated_at  TEXT NOT NULL
        )
        """,
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

BUSY_TIMEOUT_MS = 5000


class JournalError(Exception):
    """The journal refused a write that would contradict what it holds (unknown id, conflicting intent,
    a newer schema). Do not retry: it is a bug or a second program writing the same ids."""


class JournalOpenError(JournalError):
    """The journal file cannot be opened or written: the message names the file and what to do."""


@dataclass(frozen=True)
class ForcedState:
    """A trading state set by the daemon or an operator and kept in the journal until cleared."""

    state: str
    reason: str
    since: datetime
    source: str = ""


def describe_failure(path: str | Path, exc: BaseException) -> str:
    """One line naming the journal file and what went wrong, for any failed journal call: a
    JournalOpenError already says it; a raw sqlite3 error (full, locked, corrupt) gets the file."""
    if isinstance(exc, JournalOpenError):
        return str(exc)
    if isinstance(exc, sqlite3.Error):
        return _open_problem(str(path), exc)
    return f"journal {_shown(str(path))}: {str(exc) or type(exc).__name__}"


def is_journal_failure(exc: BaseException) -> bool:
    """A failure of the journal itself (full, locked, corrupt, closed), not of a cycle's logic."""
    return isinstance(exc, (sqlite3.Error, JournalOpenError)) or (
        isinstance(exc, JournalError) and "is closed" in str(exc)) or (
        isinstance(exc, OSError) and exc.errno == 28)


def _shown(path: str) -> str:
    """A journal path as messages show it: absolute, except SQLite URIs and :memory:."""
    return path if path.startswith("file:") or path == ":memory:" else str(Path(path).absolute())


def _open_problem(path: str, exc: BaseException) -> str:
    """One line naming the journal file, what is wrong with it and the fix."""
    text = str(exc) or type(exc).__name__
    where = _shown(path)
    lowered = text.lower()
    if "disk is full" in lowered or "no space" in lowered or "errno 28" in lowered:
        return (f"journal {where} cannot be written: the disk is full ({text}): free space in "
                f"{Path(where).parent}, or point [journal] path at a larger filesystem")
    if "locked" in lowered or "busy" in lowered:
        return (f"journal {where} is locked by another program ({text}): stop whatever holds it open "
                "for writing (only one rebalancer may write a journal)")
    if "disk i/o error" in lowered:
        return (f"journal {where} cannot be written: disk I/O error ({text}): check the filesystem of "
                f"{Path(where).parent}")
    if "not a database" in lowered or "malformed" in lowered or "file is encrypted" in lowered:
        return (f"journal {where} is not a rebalancer journal ({text}): point [journal] path at another "
                "file, or move this one away to start a new journal")
    if "readonly" in lowered or "read-only" in lowered or "permission" in lowered or "errno 13" in lowered \
            or "errno 30" in lowered:
        return (f"journal {where} is read-only ({text}): make it and its directory "
                f"{Path(where).parent} writable by this user, or point [journal] path at a writable place")
    if "unable to open" in lowered or "no such file" in lowered or "not a directory" in lowered:
        return (f"cannot open journal {where} ({text}): check that its directory {Path(where).parent} "
                "exists and is readable and writable by this user, or point [journal] path elsewhere")
    return f"cannot use journal {where} ({text}): check the file and its directory, or point [journal] path elsewhere"


@dataclass(frozen=True)
class OrderRecord:
    """One order as the journal knows it; `amount` and `filled` are in contracts, like PlannedOrder.amount
    (what the exchange was sent), `base_amount` / `base_filled` in base units."""

    client_order_id: str
    cycle_id: str
    asset: str
    symbol: str
    side: Side
    amount: Decimal
    reduce_only: bool
    leg: str
    order_type: str
    limit_price: Decimal | None
    state: OrderState
    exchange_order_id: str | None
    filled: Decimal
    average: Decimal | None
    fee: Decimal | None
    fee_currency: str | None
    error_code: str | None
    error_message: str | None
    created_at: datetime
    updated_at: datetime
    attempts: int
    contract_size: Decimal = Decimal(1)  # base units per contract of the market

    @property
    def base_amount(self) -> Decimal:
        return self.amount * self.contract_size

    @property
    def base_filled(self) -> Decimal:
        return self.filled * self.contract_size

    @property
    def denied_by(self) -> tuple[str, ...]:
        """The risk gate's codes for a DENIED order (kept in error_code); () for any other state."""
        if self.state is not OrderState.DENIED or not self.error_code:
            return ()
        return tuple(self.error_code.split(DENIAL_SEPARATOR))


@dataclass(frozen=True)
class CycleRecord:
    """One cycle: what it saw (summary), planned, was allowed to do, and how it ended."""

    id: str
    kind: str
    execute: bool
    venue: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    snapshot_summary: dict
    plan: dict | None
    verdict: dict | None
    result: dict | None
    error: str | None


def is_allowed_transition(current: OrderState, to: OrderState) -> bool:
    """Whether TRANSITIONS lets an order in `current` move to `to` (same-state updates excluded)."""
    return to in TRANSITIONS.get(current, frozenset())


# --------------------------------------------------------------------------- conversions


def _time_to_text(value: datetime) -> str:
    # Fixed width UTC with microseconds, so text order is time order in SQL comparisons and ORDER BY.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: pass an aware UTC datetime (datetime.now(timezone.utc))")
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _time_from_text(text: str | None) -> datetime | None:
    if text is None:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _dec_to_text(value: Decimal | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, Decimal):
        raise TypeError(f"expected Decimal, got {type(value).__name__}: {value!r}")
    if not value.is_finite():
        raise ValueError(f"refusing to journal a non-finite amount: {value}")
    # Plain notation ("0.0000001", not "1E-7") keeps the file readable with the sqlite3 shell.
    return format(value, "f")


def _dec_from_text(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _json_default(value: Any) -> Any:
    # Callers hand over plan/verdict dicts built from domain records: make those serialisable too.
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in the journal as JSON")


def _json_dumps(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, default=_json_default, sort_keys=True, separators=(",", ":"))


def _json_loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _state(value: OrderState | str) -> OrderState:
    try:
        return OrderState(value)
    except ValueError:
        raise ValueError(f"unknown order state {value!r}; one of {[s.value for s in OrderState]}") from None


_ORDER_COLUMNS = (
    "client_order_id, cycle_id, asset, symbol, side, amount, reduce_only, leg, order_type, limit_price, state,"
    " exchange_order_id, filled, average, fee, fee_currency, error_code, error_message, created_at, updated_at,"
    " attempts, contract_size"
)
_CYCLE_COLUMNS = (
    "id, kind, execute, venue, started_at, finished_at, outcome, snapshot_summary, plan, verdict, result, error"
)


def _order_from_row(row: sqlite3.Row) -> OrderRecord:
    return OrderRecord(
        client_order_id=row["client_order_id"],
        cycle_id=row["cycle_id"],
        asset=row["asset"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        amount=Decimal(row["amount"]),
        reduce_only=bool(row["reduce_only"]),
        leg=row["leg"],
        order_type=row["order_type"],
        limit_price=_dec_from_text(row["limit_price"]),
        state=OrderState(row["state"]),
        exchange_order_id=row["exchange_order_id"],
        filled=Decimal(row["filled"]),
        average=_dec_from_text(row["average"]),
        fee=_dec_from_text(row["fee"]),
        fee_currency=row["fee_currency"],
        error_code=row["error_code"],
        error_message=row["error_message"],
        created_at=_time_from_text(row["created_at"]),  # type: ignore[arg-type]
        updated_at=_time_from_text(row["updated_at"]),  # type: ignore[arg-type]
        attempts=int(row["attempts"]),
        contract_size=Decimal(row["contract_size"]),
    )


def _cycle_from_row(row: sqlite3.Row) -> CycleRecord:
    return CycleRecord(
        id=row["id"],
        kind=row["kind"],
        execute=bool(row["execute"]),
        venue=row["venue"],
        started_at=_time_from_text(row["started_at"]),  # type: ignore[arg-type]
        finished_at=_time_from_text(row["finished_at"]),
        outcome=row["outcome"],
        snapshot_summary=_json_loads(row["snapshot_summary"]) or {},
        plan=_json_loads(row["plan"]),
        verdict=_json_loads(row["verdict"]),
        result=_json_loads(row["result"]),
        error=row["error"],
    )


# --------------------------------------------------------------------------- the journal


class Journal:
    """The SQLite journal. One instance per process; safe to share between threads and asyncio tasks.

    Durability: WAL with synchronous=FULL. NORMAL would survive a process crash but may lose the last
    commits on power loss or an OS crash, and the commit most likely to be lost is the PENDING intent
    written just before an order was sent: exactly the row restart recovery needs. FULL costs one
    fsync per commit, a few milliseconds on a path that places a handful of orders per cycle.

    Crash contract: record_intent() then mark_sent() are both committed before the request leaves, so
    a PENDING order with attempts == 0 was never sent (safe to mark NOT_PLACED), while attempts > 0
    means it may exist on the exchange and must be looked up by client order id.
    """

    def __init__(self, path: str | Path, *, read_only: bool | None = None):
        """Open (creating and migrating) the journal. `read_only=None` opens it read-only by itself
        when the file or its directory is not writable (a reader such as `status` still works);
        True never writes; False fails with a JournalOpenError naming the file and the fix."""
        self.path = str(path)
        in_memory = self.path == ":memory:" or self.path.startswith("file::memory:")
        is_uri = self.path.startswith("file:")
        if read_only is None:
            read_only = not in_memory and not is_uri and not _writable(Path(self.path))
        self.read_only = bool(read_only)
        if not in_memory and not is_uri and not self.read_only:
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise JournalOpenError(_open_problem(self.path, exc)) from None
        if self.read_only and not is_uri and not Path(self.path).exists():
            raise JournalOpenError(
                f"journal {Path(self.path).absolute()} does not exist and its directory is not writable: "
                "run a rebalance once with write access, or point [journal] path at an existing journal")
        # One connection guarded by a lock: sqlite3 objects are not safe for concurrent use, and
        # check_same_thread=False lets executor threads (asyncio.to_thread) share it.
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE), not sqlite3's implicit ones.
        self._lock = threading.RLock()
        self._closed = False
        self._conn = self._connect(self.path, is_uri=is_uri, immutable=False)
        try:
            try:
                self._configure()
            except sqlite3.OperationalError:
                if not self.read_only:
                    raise
                # A WAL journal in a directory we cannot write: SQLite cannot create the -shm file.
                # With no -wal file beside it, every committed row is in the main file: read it as
                # immutable.
                self._conn.close()
                if Path(f"{self.path}-wal").exists():
                    raise
                self._conn = self._connect(self.path, is_uri=is_uri, immutable=True)
                self._configure()
            self._migrate()
        except JournalError:
            self._conn.close()
            raise
        except sqlite3.Error as exc:
            self._conn.close()
            raise JournalOpenError(_open_problem(self.path, exc)) from None
        except BaseException:
            self._conn.close()
            raise

    def _connect(self, path: str, *, is_uri: bool, immutable: bool) -> sqlite3.Connection:
        target, uri = path, is_uri
        if self.read_only and not is_uri:
            target = Path(path).absolute().as_uri() + ("?mode=ro&immutable=1" if immutable else "?mode=ro")
            uri = True
        try:
            conn = sqlite3.connect(target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False, uri=uri)
        except sqlite3.Error as exc:
            raise JournalOpenError(_open_problem(path, exc)) from None
        conn.row_factory = sqlite3.Row
        return conn

    # ------------------------------------------------------------------ setup

    def _configure(self) -> None:
        c = self._conn
        c.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if self.read_only:
            c.execute("PRAGMA query_only = ON")
            self.journal_mode = c.execute("PRAGMA journal_mode").fetchone()[0]
            return
        # WAL lets `rebalancer orders` read while the daemon writes, and survives crashes mid-commit.
        self.journal_mode = c.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        c.execute("PRAGMA synchronous = FULL")
        c.execute("PRAGMA foreign_keys = ON")

    def _migrate(self) -> None:
        if self.read_only:
            current = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if current > SCHEMA_VERSION:
                raise JournalError(
                    f"journal {self.path} has schema version {current}, newer than this program's "
                    f"{SCHEMA_VERSION}: upgrade rebalancer or point [journal] path at another file"
                )
            self._version = current  # an older read-only journal is read as it is (missing tables: empty)
            return
        with self._write() as c:
            # Read the version inside the write transaction: two processes opening a fresh file at
            # once must not both run migration 1.
            current = c.execute("PRAGMA user_version").fetchone()[0]
            if current > SCHEMA_VERSION:
                raise JournalError(
                    f"journal {self.path} has schema version {current}, newer than this program's "
                    f"{SCHEMA_VERSION}: upgrade rebalancer or point [journal] path at another file"
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[version - 1]:
                    c.execute(statement)
                c.execute(f"PRAGMA user_version = {version}")
        self._version = SCHEMA_VERSION

    @property
    def schema_version(self) -> int:
        with self._lock:
            return self._conn.execute("PRAGMA user_version").fetchone()[0]

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the lock. BEGIN IMMEDIATE takes the write lock up front, so a
        second process waits (busy_timeout) instead of failing to upgrade a read lock mid-transaction."""
        with self._lock:
            self._check_open()
            if self.read_only:
                raise JournalOpenError(
                    f"journal {Path(self.path).absolute()} is open read-only (the file or its directory is not "
                    "writable by this user): run this as the user that owns it, or make it writable")
            c = self._conn
            try:
                c.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise
                raise JournalOpenError(_open_problem(self.path, exc)) from None
            try:
                yield c
            except BaseException:
                self._rollback(c)
                raise
            else:
                try:
                    c.execute("COMMIT")
                except sqlite3.OperationalError as exc:
                    self._rollback(c)
                    raise JournalOpenError(_open_problem(self.path, exc)) from None

    @staticmethod
    def _rollback(c: sqlite3.Connection) -> None:
        """Roll back if a transaction is still open: on SQLITE_FULL and some I/O errors SQLite has
        already rolled it back, and a second ROLLBACK would hide the error that mattered."""
        if c.in_transaction:
            try:
                c.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    def _read(self, sql: str, params: tuple | list = ()) -> list[sqlite3.Row]:
        with self._lock:
            self._check_open()
            return self._conn.execute(sql, params).fetchall()

    def _check_open(self) -> None:
        if self._closed:
            raise JournalError(f"journal {self.path} is closed")

    # ------------------------------------------------------------------ cycles

    def start_cycle(
        self,
        cycle_id: str,
        *,
        kind: str,
        execute: bool,
        venue: str,
        started_at: datetime,
        snapshot_summary: dict,
    ) -> None:
        """Journal a new cycle as 'running'. A second start with the same id is a JournalError."""
        if kind not in CYCLE_KINDS:
            raise ValueError(f"unknown cycle kind {kind!r}; one of {sorted(CYCLE_KINDS)}")
        started = _time_to_text(started_at)
        summary = _json_dumps(snapshot_summary or {})
        try:
            with self._write() as c:
                c.execute(
                    "INSERT INTO cycles (id, kind, execute, venue, started_at, outcome, snapshot_summary)"
                    " VALUES (?, ?, ?, ?, ?, 'running', ?)",
                    (cycle_id, kind, int(bool(execute)), venue, started, summary),
                )
        except sqlite3.IntegrityError as exc:
            raise JournalError(f"cycle {cycle_id} already exists") from exc

    def update_cycle(self, cycle_id: str, *, plan: dict | None = None, verdict: dict | None = None) -> None:
        """Attach the plan and/or the verdict to a cycle; None leaves a field as it is."""
        sets, params = [], []
        if plan is not None:
            sets.append("plan = ?")
            params.append(_json_dumps(plan))
        if verdict is not None:
            sets.append("verdict = ?")
            params.append(_json_dumps(verdict))
        with self._write() as c:
            self._require_cycle(c, cycle_id)
            if sets:
                c.execute(f"UPDATE cycles SET {', '.join(sets)} WHERE id = ?", (*params, cycle_id))

    def finish_cycle(
        self,
        cycle_id: str,
        *,
        outcome: str,
        finished_at: datetime,
        result: dict | None = None,
        error: str | None = None,
    ) -> None:
        """Close a running cycle with its outcome. Finishing it twice is a JournalError, so a late
        'interrupted' from a shutdown path can never overwrite a recorded 'done'."""
        if outcome not in CYCLE_OUTCOMES or outcome == CycleOutcome.RUNNING:
            raise ValueError(f"unknown final outcome {outcome!r}; one of {sorted(CYCLE_OUTCOMES - {'running'})}")
        finished = _time_to_text(finished_at)
        with self._write() as c:
            row = self._require_cycle(c, cycle_id)
            if row["outcome"] != "running":
                raise JournalError(f"cycle {cycle_id} already finished as {row['outcome']!r}")
            c.execute(
                "UPDATE cycles SET outcome = ?, finished_at = ?, result = ?, error = ? WHERE id = ?",
                (outcome, finished, _json_dumps(result), error, cycle_id),
            )

    def running_cycles(self) -> list[CycleRecord]:
        """Cycles still marked 'running' (after a crash: the ones to finish as 'interrupted')."""
        rows = self._read(f"SELECT {_CYCLE_COLUMNS} FROM cycles WHERE outcome = 'running' ORDER BY started_at, rowid")
        return [_cycle_from_row(r) for r in rows]

    @staticmethod
    def _require_cycle(c: sqlite3.Connection, cycle_id: str) -> sqlite3.Row:
        row = c.execute("SELECT outcome FROM cycles WHERE id = ?", (cycle_id,)).fetchone()
        if row is None:
            raise JournalError(f"cycle {cycle_id} does not exist")
        return row

    def cycle(self, cycle_id: str) -> CycleRecord | None:
        rows = self._read(f"SELECT {_CYCLE_COLUMNS} FROM cycles WHERE id = ?", (cycle_id,))
        return _cycle_from_row(rows[0]) if rows else None

    def cycles(self, *, since: datetime | None = None, limit: int | None = None) -> list[CycleRecord]:
        """Cycles oldest first; with `limit`, the most recent `limit` of them (still oldest first)."""
        where, params = "", []
        if since is not None:
            where = "WHERE started_at >= ?"
            params.append(_time_to_text(since))
        rows = self._read(self._recent_sql(f"SELECT rowid, {_CYCLE_COLUMNS} FROM cycles {where}", "started_at", limit), params)
        return [_cycle_from_row(r) for r in rows]

    def last_cycle(self) -> CycleRecord | None:
        rows = self._read(f"SELECT {_CYCLE_COLUMNS} FROM cycles ORDER BY started_at DESC, rowid DESC LIMIT 1")
        return _cycle_from_row(rows[0]) if rows else None

    @staticmethod
    def _recent_sql(select: str, time_column: str, limit: int | None) -> str:
        # rowid breaks ties between rows journaled in the same microsecond.
        if limit is None:
            return f"{select} ORDER BY {time_column}, rowid"
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        return (
            f"SELECT * FROM ({select} ORDER BY {time_column} DESC, rowid DESC LIMIT {int(limit)})"
            f" ORDER BY {time_column}, rowid"
        )

    # ------------------------------------------------------------------ trading state

    def forced_state(self, key: str = "forced") -> ForcedState | None:
        """The trading state forced (by the daemon or an operator) and not cleared yet, if any."""
        if self._version < 2:
            return None  # an older read-only journal has no such table: nothing was forced
        rows = self._read("SELECT state, reason, since, source FROM trading_state WHERE key = ?", (key,))
        if not rows:
            return None
        r = rows[0]
        return ForcedState(r["state"], r["reason"], _time_from_text(r["since"]) or datetime.now(timezone.utc),
                           r["source"])

    def set_forced_state(self, state: str, *, reason: str, since: datetime, source: str = "",
                         key: str = "forced") -> None:
        """Force a trading state until clear_forced_state (kept across restarts)."""
        with self._write() as c:
            c.execute(
                "INSERT INTO trading_state (key, state, reason, since, source) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET state = excluded.state, reason = excluded.reason,"
                " since = excluded.since, source = excluded.source",
                (key, str(state), reason, _time_to_text(since), source),
            )

    def clear_forced_state(self, key: str = "forced") -> ForcedState | None:
        """Remove a forced state; returns what it was (None: nothing was forced)."""
        with self._write() as c:
            row = c.execute("SELECT state, reason, since, source FROM trading_state WHERE key = ?", (key,)).fetchone()
            if row is None:
                return None
            c.execute("DELETE FROM trading_state WHERE key = ?", (key,))
        return ForcedState(row["state"], row["reason"], _time_from_text(row["since"]) or datetime.now(timezone.utc),
                           row["source"])

    # ------------------------------------------------------------------ orders

    def record_intent(
        self,
        cycle_id: str,
        order: PlannedOrder,
        *,
        client_order_id: str,
        order_type: str,
        limit_price: Decimal | None,
        at: datetime,
    ) -> OrderRecord:
        """Journal an order as PENDING before it is sent. Recording the same intent again returns the
        existing record unchanged (a retried step is harmless); the same id with other content is a
        JournalError, because two different orders must never share a client order id."""
        return self.record_intents(cycle_id, [(order, client_order_id, order_type, limit_price)], at=at)[0]

    def record_intents(
        self,
        cycle_id: str,
        intents: Sequence[tuple[PlannedOrder, str, str, Decimal | None]],
        *,
        at: datetime,
    ) -> list[OrderRecord]:
        """record_intent for a cycle's orders, each (order, client_order_id, order_type, limit_price),
        in one transaction: one fsync instead of one per order, all or none journaled."""
        now = _time_to_text(at)
        with self._write() as c:
            return [self._insert_intent(c, cycle_id, order, cid, order_type, limit, now)
                    for order, cid, order_type, limit in intents]

    def _insert_intent(self, c: sqlite3.Connection, cycle_id: str, order: PlannedOrder, client_order_id: str,
                       order_type: str, limit_price: Decimal | None, now: str) -> OrderRecord:
        if order.client_order_id is not None and order.client_order_id != client_order_id:
            raise JournalError(
                f"planned order carries client id {order.client_order_id!r} but {client_order_id!r} was given"
            )
        content = _order_content(cycle_id, order, order_type, limit_price)
        row = c.execute(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_order_id = ?", (client_order_id,)).fetchone()
        if row is not None:
            existing = _order_from_row(row)
            if existing.state is S.DENIED:
                raise JournalError(
                    f"order {client_order_id} was denied by the risk gate ({existing.error_code or 'no code'}): "
                    "a denied order is never sent"
                )
            differences = _intent_differences(existing, content)
            if differences:
                raise JournalError(
                    f"client order id {client_order_id} is already journaled with different "
                    f"content ({', '.join(differences)})"
                )
            return existing
        return self._insert_order(c, client_order_id, content, S.PENDING, None, now, "intent", {})

    def record_denied(self, cycle_id: str, orders: Iterable[PlannedOrder], *, at: datetime) -> list[OrderRecord]:
        """Journal the legs the risk gate did not let through (Verdict.denied) as DENIED, in one
        transaction. DENIED is final and inserted directly, never via PENDING: such an order is never
        sent, so restart recovery and mark_sent leave it alone. Each order needs its client order id;
        its denial codes go in `error_code`, comma-joined ("FUNDING", "NO_PRICE,BASIS"), and
        `order_type` is "none" (no order of any type was placed). Recording the same denial again
        returns the existing record; the same id with other content (or in another state) is a
        JournalError."""
        now = _time_to_text(at)
        with self._write() as c:
            return [self._insert_denied(c, cycle_id, order, now) for order in orders]

    def _insert_denied(self, c: sqlite3.Connection, cycle_id: str, order: PlannedOrder, now: str) -> OrderRecord:
        client_order_id = order.client_order_id
        if not client_order_id:
            raise JournalError(
                f"denied {order.symbol} {Side(order.side).value} {order.amount} has no client order id: "
                "assign ids to verdict.denied before journaling it"
            )
        codes = DENIAL_SEPARATOR.join(order.denied_by) or None
        content = _order_content(cycle_id, order, DENIED_ORDER_TYPE, None)
        row = c.execute(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_order_id = ?", (client_order_id,)).fetchone()
        if row is not None:
            existing = _order_from_row(row)
            differences = _intent_differences(existing, content)
            if existing.state is not S.DENIED:
                differences.insert(0, f"state {existing.state.value}")
            elif existing.error_code != codes:
                differences.append("denied_by")
            if differences:
                raise JournalError(
                    f"client order id {client_order_id} is already journaled with different "
                    f"content ({', '.join(differences)})"
                )
            return existing
        return self._insert_order(c, client_order_id, content, S.DENIED, codes, now, "denied",
                                  {"denied_by": list(order.denied_by)})

    def _insert_order(self, c: sqlite3.Connection, client_order_id: str, content: Mapping[str, Any],
                      state: OrderState, error_code: str | None, now: str, event: str,
                      detail: Mapping[str, Any]) -> OrderRecord:
        """A new orders row (an intent, PENDING, or a denied leg, DENIED) with its first event."""
        self._require_cycle(c, content["cycle_id"])
        c.execute(
            f"INSERT INTO orders ({_ORDER_COLUMNS}) VALUES"
            " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, '0', NULL, NULL, NULL, ?, NULL, ?, ?, 0, ?)",
            (
                client_order_id,
                content["cycle_id"],
                content["asset"],
                content["symbol"],
                content["side"],
                content["amount"],
                content["reduce_only"],
                content["leg"],
                content["order_type"],
                content["limit_price"],
                state.value,
                error_code,
                now,
                now,
                content["contract_size"],
            ),
        )
        self._add_event(c, client_order_id, now, event, None, state, dict(detail))
        row = c.execute(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_order_id = ?", (client_order_id,)).fetchone()
        return _order_from_row(row)

    def mark_sent(self, client_order_id: str, *, at: datetime) -> None:
        """Count one request about to leave: call it right before create_order, after record_intent.
        Only a PENDING order may be sent. An UNKNOWN one must first be looked up and moved back to
        PENDING ("not found"); sending it, or an OPEN or final one, could double the order: JournalError."""
        self.mark_sent_many([client_order_id], at=at)

    def mark_sent_many(self, client_order_ids: Sequence[str], *, at: datetime) -> None:
        """mark_sent for orders about to leave together, in one transaction (one fsync); all or none."""
        now = _time_to_text(at)
        with self._write() as c:
            for client_order_id in client_order_ids:
                row = self._require_order(c, client_order_id)
                state = OrderState(row["state"])
                if state is not S.PENDING:
                    raise JournalError(
                        f"order {client_order_id} is {state.value}, not pending: sending it again could duplicate it"
                    )
                attempts = int(row["attempts"]) + 1
                c.execute(
                    "UPDATE orders SET attempts = ?, updated_at = ? WHERE client_order_id = ?",
                    (attempts, now, client_order_id),
                )
                self._add_event(c, client_order_id, now, "sent", state, state, {"attempt": attempts})

    def transition(
        self,
        client_order_id: str,
        to: OrderState,
        *,
        at: datetime,
        result: OrderResult | None = None,
        detail: dict | None = None,
    ) -> bool:
        """Apply a state change through TRANSITIONS. Returns True when applied (and writes an event),
        False when it is a duplicate (same state, same fill) or not allowed (from a final state,
        backwards); then nothing changes. The recorded fill never decreases: a report with a smaller
        fill than already known (e.g. a cancel response without fill data) keeps the known fill.
        Fields missing from `result` (None) keep their journaled values."""
        to = _state(to)
        now = _time_to_text(at)
        if result is not None and result.client_order_id != client_order_id:
            raise JournalError(f"result for {result.client_order_id} applied to order {client_order_id}")
        with self._write() as c:
            row = self._require_order(c, client_order_id)
            current = OrderState(row["state"])
            known_filled = Decimal(row["filled"])
            reported = result.filled if result is not None and result.filled is not None else known_filled
            filled = max(known_filled, reported)
            if to is current:
                if filled == known_filled or current not in FILL_PROGRESS_STATES:
                    return False
            elif not is_allowed_transition(current, to):
                return False

            def pick(field: str, new: Any) -> Any:
                return new if new is not None else row[field]

            r = result
            values = {
                "state": to.value,
                "exchange_order_id": pick("exchange_order_id", r.exchange_order_id if r else None),
                "filled": _dec_to_text(filled),
                "average": pick("average", _dec_to_text(r.average) if r else None),
                "fee": pick("fee", _dec_to_text(r.fee) if r else None),
                "fee_currency": pick("fee_currency", r.fee_currency if r else None),
                "error_code": pick("error_code", r.error_code if r else None),
                "error_message": pick("error_message", r.error_message if r else None),
                "updated_at": now,
            }
            c.execute(
                f"UPDATE orders SET {', '.join(f'{k} = ?' for k in values)} WHERE client_order_id = ?",
                (*values.values(), client_order_id),
            )
            event_detail: dict[str, Any] = {"filled": values["filled"]}
            if r is not None:
                for key in ("exchange_order_id", "average", "fee", "fee_currency", "error_code", "error_message"):
                    value = getattr(r, key)
                    if value is not None:
                        event_detail[key] = value
            event_detail.update(detail or {})
            self._add_event(c, client_order_id, now, "transition", current, to, event_detail)
            return True

    @staticmethod
    def _require_order(c: sqlite3.Connection, client_order_id: str) -> sqlite3.Row:
        row = c.execute(
            "SELECT state, filled, attempts, exchange_order_id, average, fee, fee_currency, error_code, error_message"
            " FROM orders WHERE client_order_id = ?",
            (client_order_id,),
        ).fetchone()
        if row is None:
            raise JournalError(f"order {client_order_id} is not in the journal (record_intent first)")
        return row

    @staticmethod
    def _add_event(
        c: sqlite3.Connection,
        client_order_id: str,
        at: str,
        kind: str,
        from_state: OrderState | None,
        to_state: OrderState,
        detail: dict,
    ) -> None:
        c.execute(
            "INSERT INTO order_events (client_order_id, at, kind, from_state, to_state, detail) VALUES (?, ?, ?, ?, ?, ?)",
            (
                client_order_id,
                at,
                kind,
                from_state.value if from_state is not None else None,
                to_state.value,
                _json_dumps(detail),
            ),
        )

    def record_fee(self, client_order_id: str, *, fee: Decimal, fee_currency: str | None, at: datetime) -> bool:
        """Attach the commission the exchange reported for a fill (it arrives with the trade list, after
        the order's final state). Event kind 'fee', state unchanged. False if the same fee is recorded."""
        return self.record_fees([(client_order_id, fee, fee_currency)], at=at)[0]

    def record_fees(self, fees: Sequence[tuple[str, Decimal, str | None]], *, at: datetime) -> list[bool]:
        """record_fee for a cycle's orders, each (client_order_id, fee, fee_currency), in one transaction."""
        now = _time_to_text(at)
        applied: list[bool] = []
        with self._write() as c:
            for client_order_id, fee, fee_currency in fees:
                row = self._require_order(c, client_order_id)
                state = _state(row["state"])
                if _dec_from_text(row["fee"]) == fee and row["fee_currency"] == fee_currency:
                    applied.append(False)
                    continue
                c.execute("UPDATE orders SET fee = ?, fee_currency = ?, updated_at = ? WHERE client_order_id = ?",
                          (_dec_to_text(fee), fee_currency, now, client_order_id))
                self._add_event(c, client_order_id, now, "fee", state, state,
                                {"fee": _dec_to_text(fee), "fee_currency": fee_currency})
                applied.append(True)
        return applied

    def unresolved_orders(self) -> list[OrderRecord]:
        """PENDING, UNKNOWN or OPEN orders, oldest first: what a restart must reconcile."""
        marks = ", ".join("?" for _ in UNRESOLVED_STATES)
        rows = self._read(
            f"SELECT {_ORDER_COLUMNS} FROM orders WHERE state IN ({marks}) ORDER BY created_at, rowid",
            [s.value for s in UNRESOLVED_STATES],
        )
        return [_order_from_row(r) for r in rows]

    def order(self, client_order_id: str) -> OrderRecord | None:
        rows = self._read(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_order_id = ?", (client_order_id,))
        return _order_from_row(rows[0]) if rows else None

    def orders(
        self,
        *,
        since: datetime | None = None,
        cycle_id: str | None = None,
        limit: int | None = None,
    ) -> list[OrderRecord]:
        """Orders oldest first, filtered by creation time and/or cycle; with `limit`, the most recent
        `limit` of them (still oldest first, as a table reads)."""
        clauses, params = [], []
        if since is not None:
            clauses.append("created_at >= ?")
            params.append(_time_to_text(since))
        if cycle_id is not None:
            clauses.append("cycle_id = ?")
            params.append(cycle_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = self._recent_sql(f"SELECT rowid, {_ORDER_COLUMNS} FROM orders {where}", "created_at", limit)
        return [_order_from_row(r) for r in self._read(sql, params)]

    def events(self, client_order_id: str) -> list[dict]:
        """An order's history, oldest first: dicts with id, client_order_id, at (datetime), kind
        ('intent' | 'denied' | 'sent' | 'transition' | 'fee'), from_state / to_state (OrderState;
        from_state None for the intent, and for a denied order's single 'denied' event) and detail (dict)."""
        rows = self._read(
            "SELECT id, client_order_id, at, kind, from_state, to_state, detail FROM order_events"
            " WHERE client_order_id = ? ORDER BY id",
            (client_order_id,),
        )
        return [
            {
                "id": r["id"],
                "client_order_id": r["client_order_id"],
                "at": _time_from_text(r["at"]),
                "kind": r["kind"],
                "from_state": OrderState(r["from_state"]) if r["from_state"] is not None else None,
                "to_state": OrderState(r["to_state"]),
                "detail": _json_loads(r["detail"]) or {},
            }
            for r in rows
        ]

    # ------------------------------------------------------------------ maintenance

    def quick_check(self) -> None:
        """PRAGMA quick_check; a damaged file is a JournalOpenError naming it (the daemon's start)."""
        with self._lock:
            self._check_open()
            try:
                rows = self._conn.execute("PRAGMA quick_check").fetchall()
            except sqlite3.DatabaseError as exc:
                rows = [(str(exc) or type(exc).__name__,)]
        # One line: quick_check's report may run to thousands of lines.
        messages = [line.strip() for r in rows if r[0] != "ok" for line in str(r[0]).splitlines()
                    if line.strip() and not line.startswith("***")]
        if not messages and any(r[0] != "ok" for r in rows):
            messages = ["damaged pages"]
        if messages:
            more = f" and {len(messages) - 1} more problems" if len(messages) > 1 else ""
            raise JournalOpenError(
                f"journal {Path(self.path).absolute()} failed its integrity check (quick_check: {messages[0]}{more}): "
                "restore it from a backup, or move it away to start a new journal (then check the exchange's "
                "open orders and positions by hand)")

    def prune_idle_cycles(self, before: datetime) -> int:
        """Drop the stored snapshot, plan, verdict and result of idle cycles (nothing_to_do, dry_run)
        that started before `before`; their row (id, times, outcome, error) stays. Cycles with
        orders, and orders, fills and events, are never touched. Returns the cycles pruned."""
        cutoff = _time_to_text(before)
        with self._write() as c:
            cur = c.execute(
                "UPDATE cycles SET snapshot_summary = '{}', plan = NULL, verdict = NULL, result = NULL"
                " WHERE outcome IN (?, ?) AND started_at < ?"
                " AND (snapshot_summary != '{}' OR plan IS NOT NULL OR verdict IS NOT NULL OR result IS NOT NULL)"
                " AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.cycle_id = cycles.id)",
                (CycleOutcome.NOTHING_TO_DO.value, CycleOutcome.DRY_RUN.value, cutoff),
            )
            return cur.rowcount

    def checkpoint(self) -> tuple[int, int, int]:
        """PRAGMA wal_checkpoint(TRUNCATE): copy the WAL into the file and truncate it to 0 bytes.
        Never waits for readers (busy -> try again later): returns (busy, wal pages, pages copied)."""
        with self._lock:
            self._check_open()
            if self.read_only or self.journal_mode.lower() != "wal":
                return (0, 0, 0)
            c = self._conn
            c.execute("PRAGMA busy_timeout = 0")
            try:
                busy, log_pages, copied = c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                c.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            return (busy, log_pages, copied)

    # ------------------------------------------------------------------ consistency

    def check_consistency(self) -> list[str]:
        """Every problem found, one sentence each; an empty list means consistent. Looks for: a damaged
        file, orders or events pointing at missing rows, unknown states/kinds/outcomes, an order whose
        state disagrees with its last event, finished cycles that still own PENDING orders, fills
        larger than the order, DENIED orders that were sent or traded, and cycles whose finish
        fields contradict their outcome. A DENIED order is final: it is never "unresolved"."""
        problems: list[str] = []
        with self._lock:
            self._check_open()
            q = self._conn.execute
            for (message,) in q("PRAGMA quick_check").fetchall():
                if message != "ok":
                    problems.append(f"sqlite quick_check: {message}")
            for r in q(
                "SELECT o.client_order_id, o.cycle_id FROM orders o LEFT JOIN cycles c ON c.id = o.cycle_id"
                " WHERE c.id IS NULL ORDER BY o.created_at"
            ):
                problems.append(f"order {r[0]} references cycle {r[1]}, which does not exist")
            for r in q(
                "SELECT DISTINCT e.client_order_id FROM order_events e"
                " LEFT JOIN orders o ON o.client_order_id = e.client_order_id WHERE o.client_order_id IS NULL"
            ):
                problems.append(f"events exist for order {r[0]}, which does not exist")
            states = {s.value for s in OrderState}
            for r in q("SELECT client_order_id, state FROM orders ORDER BY created_at"):
                if r[1] not in states:
                    problems.append(f"order {r[0]} has unknown state {r[1]!r}")
            for r in q(
                "SELECT o.client_order_id, o.state, e.to_state FROM orders o LEFT JOIN order_events e"
                " ON e.id = (SELECT MAX(id) FROM order_events WHERE client_order_id = o.client_order_id)"
                " ORDER BY o.created_at"
            ):
                if r[2] is None:
                    problems.append(f"order {r[0]} has no events")
                elif r[1] != r[2]:
                    problems.append(f"order {r[0]} is {r[1]!r} but its last event says {r[2]!r}")
            for r in q(
                "SELECT o.client_order_id, c.id, c.outcome FROM orders o JOIN cycles c ON c.id = o.cycle_id"
                " WHERE o.state = 'pending' AND c.outcome != 'running' ORDER BY o.created_at"
            ):
                problems.append(f"order {r[0]} is still pending but its cycle {r[1]} finished as {r[2]!r}")
            # DENIED is final and was never sent: nothing to resolve, but nothing may say it traded.
            for r in q(
                "SELECT client_order_id, attempts, exchange_order_id, filled FROM orders"
                " WHERE state = 'denied' AND (attempts != 0 OR exchange_order_id IS NOT NULL OR filled != '0')"
                " ORDER BY created_at"
            ):
                problems.append(
                    f"order {r[0]} is denied but was sent or traded (sends {r[1]}, exchange id {r[2]}, fill {r[3]})"
                )
            for r in q("SELECT client_order_id, amount, filled FROM orders ORDER BY created_at"):
                try:
                    if Decimal(r[2]) > Decimal(r[1]):
                        problems.append(f"order {r[0]} filled {r[2]}, more than its amount {r[1]}")
                except InvalidOperation:
                    problems.append(f"order {r[0]} has a non-numeric amount {r[1]!r} or fill {r[2]!r}")
            for r in q("SELECT id, kind, outcome, started_at, finished_at FROM cycles ORDER BY started_at"):
                cid, kind, outcome, started, finished = r
                if kind not in CYCLE_KINDS:
                    problems.append(f"cycle {cid} has unknown kind {kind!r}")
                if outcome not in CYCLE_OUTCOMES:
                    problems.append(f"cycle {cid} has unknown outcome {outcome!r}")
                if outcome == "running" and finished is not None:
                    problems.append(f"cycle {cid} is running but has finished_at {finished}")
                if outcome != "running" and finished is None:
                    problems.append(f"cycle {cid} finished as {outcome!r} without finished_at")
                if finished is not None and finished < started:
                    problems.append(f"cycle {cid} finished at {finished}, before it started at {started}")
        return problems

    # ------------------------------------------------------------------ protective stops (issue 14)

    def record_stop_intent(self, stop: "StopRecord") -> StopRecord:
        """Journal a stop as 'pending' before it is sent. The same client id again returns the row as
        it is (a retried step is harmless)."""
        with self._write() as c:
            row = c.execute(f"SELECT {_STOP_COLUMNS} FROM stops WHERE client_order_id = ?",
                            (stop.client_order_id,)).fetchone()
            if row is not None:
                return _stop_from_row(row)
            c.execute(
                f"INSERT INTO stops ({_STOP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (stop.client_order_id, stop.cycle_id, stop.asset, stop.symbol, stop.side, _dec_to_text(stop.amount),
                 _dec_to_text(stop.trigger), _dec_to_text(stop.contract_size), STOP_PENDING, stop.exchange_order_id,
                 stop.reason, stop.error, _time_to_text(stop.created_at), _time_to_text(stop.updated_at)),
            )
            row = c.execute(f"SELECT {_STOP_COLUMNS} FROM stops WHERE client_order_id = ?",
                            (stop.client_order_id,)).fetchone()
        return _stop_from_row(row)

    def update_stop(self, client_order_id: str, state: str, *, at: datetime, exchange_order_id: str | None = None,
                    error: str | None = None, reason: str | None = None) -> StopRecord:
        """Move a stop to `state` (STOP_STATES), keeping the exchange id and error already known
        unless new ones are given."""
        if state not in STOP_STATES:
            raise JournalError(f"unknown stop state {state!r}")
        with self._write() as c:
            row = c.execute(f"SELECT {_STOP_COLUMNS} FROM stops WHERE client_order_id = ?",
                            (client_order_id,)).fetchone()
            if row is None:
                raise JournalError(f"unknown stop {client_order_id}")
            c.execute(
                "UPDATE stops SET state = ?, exchange_order_id = COALESCE(?, exchange_order_id),"
                " error = COALESCE(?, error), reason = COALESCE(?, reason), updated_at = ? WHERE client_order_id = ?",
                (state, exchange_order_id, error, reason, _time_to_text(at), client_order_id),
            )
            row = c.execute(f"SELECT {_STOP_COLUMNS} FROM stops WHERE client_order_id = ?",
                            (client_order_id,)).fetchone()
        return _stop_from_row(row)

    def stop(self, client_order_id: str) -> StopRecord | None:
        if self._version < 4:
            return None
        rows = self._read(f"SELECT {_STOP_COLUMNS} FROM stops WHERE client_order_id = ?", (client_order_id,))
        return _stop_from_row(rows[0]) if rows else None

    def live_stops(self) -> list[StopRecord]:
        """Stops the exchange may hold: pending, unknown, resting or cancel_requested, oldest first."""
        if self._version < 4:
            return []
        marks = ", ".join("?" for _ in STOP_LIVE_STATES)
        rows = self._read(f"SELECT {_STOP_COLUMNS} FROM stops WHERE state IN ({marks}) ORDER BY created_at, rowid",
                          tuple(STOP_LIVE_STATES))
        return [_stop_from_row(r) for r in rows]

    def stops(self, *, since: datetime | None = None, limit: int | None = None) -> list[StopRecord]:
        """Every stop journaled (from `since`), oldest first."""
        if self._version < 4:
            return []
        sql = f"SELECT {_STOP_COLUMNS} FROM stops"
        params: list[Any] = []
        if since is not None:
            sql += " WHERE created_at >= ?"
            params.append(_time_to_text(since))
        sql += " ORDER BY created_at, rowid"
        if limit is not None:
            sql = f"SELECT * FROM ({sql.replace(' ORDER BY created_at, rowid', ' ORDER BY created_at DESC, rowid DESC')}" \
                  f" LIMIT {int(limit)}) ORDER BY created_at, rowid"
        return [_stop_from_row(r) for r in self._read(sql, params)]

    def latest_stops_by_asset(self) -> dict[str, StopRecord]:
        """Each asset's newest stop row (what the protection says about it now)."""
        if self._version < 4:
            return {}
        rows = self._read(f"SELECT {_STOP_COLUMNS} FROM stops s WHERE rowid = (SELECT MAX(rowid) FROM stops"
                          " WHERE asset = s.asset)")
        return {r["asset"]: _stop_from_row(r) for r in rows}

    def known_exchange_order_ids(self, symbol: str) -> set[str]:
        """The exchange ids of every order the journal holds on `symbol` (ours, fired stops included)."""
        rows = self._read("SELECT exchange_order_id FROM orders WHERE symbol = ? AND exchange_order_id IS NOT NULL",
                          (symbol,))
        return {r["exchange_order_id"] for r in rows}

    def record_stop_fill(self, cycle_id: str, stop: StopRecord, *, filled: Decimal, average: Decimal | None,
                         exchange_order_id: str, fee: Decimal | None, fee_currency: str | None, at: datetime) -> OrderRecord:
        """A fired stop as its own order (leg 'stop', type 'stop_market', reduce-only) with the exchange's
        fill, and the stop row 'fired', in one transaction. Recording it again returns the order."""
        now = _time_to_text(at)
        with self._write() as c:
            row = c.execute(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_order_id = ?",
                            (stop.client_order_id,)).fetchone()
            if row is not None:
                return _order_from_row(row)
            self._require_cycle(c, cycle_id)
            state = S.FILLED if filled >= stop.amount else S.PARTIALLY_FILLED
            c.execute(
                f"INSERT INTO orders ({_ORDER_COLUMNS}) VALUES"
                " (?, ?, ?, ?, ?, ?, 1, 'stop', 'stop_market', ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, 1, ?)",
                (stop.client_order_id, cycle_id, stop.asset, stop.symbol, stop.side, _dec_to_text(stop.amount),
                 _dec_to_text(stop.trigger), state.value, exchange_order_id, _dec_to_text(filled),
                 _dec_to_text(average), _dec_to_text(fee), fee_currency, now, now, _dec_to_text(stop.contract_size)),
            )
            self._add_event(c, stop.client_order_id, now, "stop_fired", None, state,
                            {"stop_exchange_order_id": stop.exchange_order_id, "trigger": _dec_to_text(stop.trigger)})
            c.execute("UPDATE stops SET state = ?, updated_at = ? WHERE client_order_id = ?",
                      (STOP_FIRED, now, stop.client_order_id))
            row = c.execute(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE client_order_id = ?",
                            (stop.client_order_id,)).fetchone()
        return _order_from_row(row)

    # ------------------------------------------------------------------ position baselines

    # External-change detection (reconcile.py): the positions the bot accepted as true at a point of
    # the order history, newest row last. Created on first use rather than by a migration, so an
    # older journal (or a read-only one) simply has no baseline yet.
    _BASELINES_TABLE = """
        CREATE TABLE IF NOT EXISTS position_baselines (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            at           TEXT NOT NULL,
            cycle_id     TEXT,
            source       TEXT NOT NULL,
            positions    TEXT NOT NULL,
            after_order  INTEGER NOT NULL,
            known_orders TEXT NOT NULL DEFAULT '[]',
            detail       TEXT NOT NULL DEFAULT '{}'
        )
        """

    def position_baseline(self) -> PositionBaseline | None:
        """The newest baseline row with the orders journaled after it (oldest first), or None when
        there is none yet. `source` "halted" means a change was found and trading waits for resume:
        its positions are still the last accepted ones."""
        with self._lock:
            self._check_open()
            c = self._conn
            if c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'position_baselines'").fetchone() is None:
                return None
            row = c.execute("SELECT id, at, cycle_id, source, positions, after_order, known_orders, detail"
                            " FROM position_baselines ORDER BY id DESC LIMIT 1").fetchone()
            if row is None:
                return None
            orders = c.execute(f"SELECT {_ORDER_COLUMNS} FROM orders WHERE rowid > ? ORDER BY rowid",
                               (row["after_order"],)).fetchall()
        return PositionBaseline(
            id=row["id"], at=_time_from_text(row["at"]) or datetime.now(timezone.utc), cycle_id=row["cycle_id"],
            source=row["source"],
            positions={s: Decimal(a) for s, a in (_json_loads(row["positions"]) or {}).items()},
            after_order=row["after_order"], known_orders=tuple(_json_loads(row["known_orders"]) or ()),
            detail=_json_loads(row["detail"]) or {}, orders=tuple(_order_from_row(r) for r in orders),
        )

    def record_position_baseline(self, *, source: str, positions: Mapping[str, Decimal], at: datetime,
                                 cycle_id: str | None = None, after_order: int | None = None,
                                 known_orders: Iterable[str] = (), detail: Mapping[str, Any] | None = None) -> int:
        """Append a baseline: `positions` (symbol -> base amount) are true as of every order up to
        `after_order` (an orders rowid; None = every order journaled now). Returns that rowid."""
        with self._write() as c:
            c.execute(self._BASELINES_TABLE)
            if after_order is None:
                after_order = c.execute("SELECT COALESCE(MAX(rowid), 0) FROM orders").fetchone()[0]
            c.execute(
                "INSERT INTO position_baselines (at, cycle_id, source, positions, after_order, known_orders, detail)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (_time_to_text(at), cycle_id, source, _json_dumps({s: _dec_to_text(Decimal(a)) for s, a in positions.items()}),
                 int(after_order), _json_dumps(sorted(set(known_orders))), _json_dumps(dict(detail or {})) or "{}"),
            )
        return int(after_order)

    # ---- ledger (issue 14)

    # The money ledger's store: ledger_entries (one row per trade, funding payment and symbol opening,
    # keyed by the exchange's own id, so a re-read never counts anything twice) and ledger_cursors (how
    # far each venue/kind/symbol has been read). The arithmetic is core/pnl.py; the reads ledger.py.

    _LEDGER_COLUMNS = ("venue, kind, entry_id, symbol, asset, at, side, amount, price, contract_size, fee,"
                       " fee_currency, funding, currency, order_id, client_order_id, cycle_id, recorded_at")

    def ledger_cursor(self, venue: str, kind: str, symbol: str) -> datetime | None:
        """Up to when (venue, kind, symbol) has been read; None: never."""
        if self._version < 5:
            return None
        rows = self._read("SELECT read_until FROM ledger_cursors WHERE venue = ? AND kind = ? AND symbol = ?",
                          (venue, kind, symbol))
        return _time_from_text(rows[0]["read_until"]) if rows else None

    def ledger_origin(self) -> datetime | None:
        """When this journal's first cycle started (where a symbol's first ledger read begins); None: no cycle."""
        rows = self._read("SELECT MIN(started_at) AS first FROM cycles")
        return _time_from_text(rows[0]["first"]) if rows and rows[0]["first"] is not None else None

    def record_ledger(self, venue: str, entries: Iterable[Any], *, cursors: Mapping[tuple[str, str], datetime],
                      at: datetime) -> dict[str, int]:
        """Store ledger entries (core.pnl.LedgerEntry; INSERT ... ON CONFLICT DO NOTHING: one already
        stored is left as it is) and move the cursors {(kind, symbol): read_until} forward (never back),
        in one transaction. Returns the rows actually added per kind."""
        recorded = _time_to_text(at)
        added: dict[str, int] = {}
        with self._write() as c:
            for e in entries:
                cur = c.execute(
                    f"INSERT INTO ledger_entries ({self._LEDGER_COLUMNS}) VALUES"
                    " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (venue, kind, entry_id) DO NOTHING",
                    (venue, e.kind, e.entry_id, e.symbol, e.asset, _time_to_text(e.at), e.side,
                     _dec_to_text(e.amount), _dec_to_text(e.price), _dec_to_text(e.contract_size),
                     _dec_to_text(e.fee), e.fee_currency, _dec_to_text(e.funding), e.currency, e.order_id,
                     e.client_order_id, e.cycle_id, recorded),
                )
                added[e.kind] = added.get(e.kind, 0) + max(cur.rowcount, 0)
            for (kind, symbol), until in cursors.items():
                c.execute(
                    "INSERT INTO ledger_cursors (venue, kind, symbol, read_until) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (venue, kind, symbol) DO UPDATE SET"
                    " read_until = MAX(read_until, excluded.read_until)",
                    (venue, kind, symbol, _time_to_text(until)),
                )
        return added

    def ledger_entries(self, venue: str | None = None, *, kind: str | None = None,
                       symbol: str | None = None) -> list[Any]:
        """Ledger rows (core.pnl.LedgerEntry), oldest first."""
        from .core.pnl import LedgerEntry

        if self._version < 5:
            return []
        where, params = [], []
        for column, value in (("venue", venue), ("kind", kind), ("symbol", symbol)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = f"SELECT {self._LEDGER_COLUMNS} FROM ledger_entries"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._read(sql + " ORDER BY at, kind, entry_id", params)
        return [
            LedgerEntry(
                venue=r["venue"], kind=r["kind"], entry_id=r["entry_id"], symbol=r["symbol"], asset=r["asset"],
                at=_time_from_text(r["at"]),  # type: ignore[arg-type]
                side=r["side"], amount=_dec_from_text(r["amount"]), price=_dec_from_text(r["price"]),
                contract_size=Decimal(r["contract_size"]), fee=_dec_from_text(r["fee"]),
                fee_currency=r["fee_currency"], funding=_dec_from_text(r["funding"]), currency=r["currency"],
                order_id=r["order_id"], client_order_id=r["client_order_id"], cycle_id=r["cycle_id"],
            )
            for r in rows
        ]

    def order_sides(self, exchange_order_ids: Iterable[str]) -> dict[str, tuple[str, str, str]]:
        """{exchange order id: (side, client order id, cycle id)} of the journaled orders with those ids
        (the ledger's trades of venues whose fill rows carry no side: BingX)."""
        ids = sorted(set(exchange_order_ids))
        out: dict[str, tuple[str, str, str]] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ", ".join("?" for _ in chunk)
            for r in self._read(f"SELECT exchange_order_id, side, client_order_id, cycle_id FROM orders"
                                f" WHERE exchange_order_id IN ({marks})", chunk):
                out[r["exchange_order_id"]] = (r["side"], r["client_order_id"], r["cycle_id"])
        return out

    def fill_order_fees_from_ledger(self, venue: str, *, at: datetime) -> int:
        """Set orders.fee / fee_currency where they are NULL (orders settled at restart, or whose fee
        read failed) from the ledger's trades with the same exchange order id, once those trades add up
        to the order's whole fill in one currency. Returns the orders updated."""
        if self._version < 5:
            return 0
        now = _time_to_text(at)
        updated = 0
        with self._write() as c:
            orders = c.execute(
                "SELECT client_order_id, exchange_order_id, filled, state FROM orders WHERE fee IS NULL"
                " AND exchange_order_id IS NOT NULL AND filled != '0' AND exchange_order_id IN"
                " (SELECT order_id FROM ledger_entries WHERE venue = ? AND kind = 'trade')", (venue,)).fetchall()
            for o in orders:
                trades = c.execute("SELECT amount, fee, fee_currency FROM ledger_entries WHERE venue = ?"
                                   " AND kind = 'trade' AND order_id = ?", (venue, o["exchange_order_id"])).fetchall()
                currencies = {t["fee_currency"] for t in trades}
                if any(t["fee"] is None or t["amount"] is None for t in trades) or len(currencies) != 1:
                    continue
                if sum((Decimal(t["amount"]) for t in trades), Decimal(0)) != Decimal(o["filled"]):
                    continue
                fee = sum((Decimal(t["fee"]) for t in trades), Decimal(0))
                c.execute("UPDATE orders SET fee = ?, fee_currency = ?, updated_at = ? WHERE client_order_id = ?",
                          (_dec_to_text(fee), currencies.pop(), now, o["client_order_id"]))
                state = OrderState(o["state"])
                self._add_event(c, o["client_order_id"], now, "fee", state, state,
                                {"fee": _dec_to_text(fee), "source": "ledger"})
                updated += 1
        return updated

    # ------------------------------------------------------------------ transfers (issue 14)

    # Margin top-ups (protection.top_up_from_spot), table `transfers` (migration 5): the intent is
    # written (state 'pending') before the request leaves, then 'done' | 'unknown' | 'failed'
    # (rebalancer.core.topup has the states and the TransferRecord it returns).
    _TRANSFER_COLUMNS = ("client_id, cycle_id, currency, amount, from_wallet, to_wallet, state, transfer_id,"
                         " reason, error, created_at, updated_at")

    def record_transfer_intent(self, client_id: str, *, cycle_id: str | None, currency: str, amount: Decimal,
                               from_wallet: str, to_wallet: str, reason: str, at: datetime) -> Any:
        """Journal a transfer about to be sent (state 'pending'); the same client id twice is a JournalError."""
        from .core.topup import PENDING

        now = _time_to_text(at)
        with self._write() as c:
            if c.execute("SELECT 1 FROM transfers WHERE client_id = ?", (client_id,)).fetchone() is not None:
                raise JournalError(f"transfer {client_id} is already journaled")
            c.execute(f"INSERT INTO transfers ({self._TRANSFER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (client_id, cycle_id, currency, _dec_to_text(amount), from_wallet, to_wallet, PENDING, None,
                       reason, None, now, now))
        return self.transfer(client_id)

    def update_transfer(self, client_id: str, *, state: str, at: datetime, transfer_id: str | None = None,
                        error: str | None = None, reason: str | None = None) -> Any:
        """Move a journaled transfer to `state`; a known transfer id, error or reason is kept unless given."""
        from .core.topup import COUNTED, DONE, FAILED, UNKNOWN

        if state not in (DONE, FAILED, UNKNOWN):
            raise ValueError(f"unknown transfer state {state!r}; one of {DONE}, {UNKNOWN}, {FAILED}")
        with self._write() as c:
            row = c.execute("SELECT state FROM transfers WHERE client_id = ?", (client_id,)).fetchone()
            if row is None:
                raise JournalError(f"no transfer {client_id} in the journal")
            if row["state"] == DONE and state != DONE:
                raise JournalError(f"transfer {client_id} is done; it cannot become {state}")
            if row["state"] == FAILED and state in COUNTED:
                raise JournalError(f"transfer {client_id} failed; it cannot become {state}")
            c.execute("UPDATE transfers SET state = ?, transfer_id = COALESCE(?, transfer_id), error = COALESCE(?, error),"
                      " reason = COALESCE(?, reason), updated_at = ? WHERE client_id = ?",
                      (state, transfer_id, error, reason, _time_to_text(at), client_id))
        return self.transfer(client_id)

    def transfer(self, client_id: str) -> Any:
        """The journaled transfer with this client id (a core.topup.TransferRecord), or None."""
        rows = self._read(f"SELECT {self._TRANSFER_COLUMNS} FROM transfers WHERE client_id = ?", (client_id,))
        return self._transfer_from_row(rows[0]) if rows else None

    def transfers(self, *, since: datetime | None = None, states: Iterable[str] | None = None) -> list[Any]:
        """Journaled transfers created at or after `since` (all: None), in those `states`, oldest first."""
        sql, params = f"SELECT {self._TRANSFER_COLUMNS} FROM transfers WHERE 1 = 1", []
        if since is not None:
            sql += " AND created_at >= ?"
            params.append(_time_to_text(since))
        if states is not None:
            wanted = sorted(set(states))
            sql += f" AND state IN ({', '.join('?' for _ in wanted)})"
            params.extend(wanted)
        return [self._transfer_from_row(r) for r in self._read(sql + " ORDER BY created_at, rowid", params)]

    @staticmethod
    def _transfer_from_row(row: sqlite3.Row) -> Any:
        from .core.topup import TransferRecord

        return TransferRecord(
            client_id=row["client_id"], cycle_id=row["cycle_id"], currency=row["currency"],
            amount=Decimal(row["amount"]), from_wallet=row["from_wallet"], to_wallet=row["to_wallet"],
            state=row["state"], transfer_id=row["transfer_id"], reason=row["reason"], error=row["error"],
            created_at=_time_from_text(row["created_at"]) or datetime.now(timezone.utc),
            updated_at=_time_from_text(row["updated_at"]) or datetime.now(timezone.utc),
        )


# Protective stop states (the stops table). Live: the exchange may hold the stop.
STOP_PENDING, STOP_UNKNOWN, STOP_RESTING = "pending", "unknown", "resting"
STOP_CANCEL_REQUESTED, STOP_CANCELED, STOP_FIRED = "cancel_requested", "canceled", "fired"
STOP_REJECTED, STOP_NOT_PLACED, STOP_VANISHED = "rejected", "not_placed", "vanished"
STOP_LIVE_STATES = (STOP_PENDING, STOP_UNKNOWN, STOP_RESTING, STOP_CANCEL_REQUESTED)
STOP_STATES = frozenset({*STOP_LIVE_STATES, STOP_CANCELED, STOP_FIRED, STOP_REJECTED, STOP_NOT_PLACED, STOP_VANISHED})

_STOP_COLUMNS = ("client_order_id, cycle_id, asset, symbol, side, amount, trigger_price, contract_size, state,"
                 " exchange_order_id, reason, error, created_at, updated_at")


@dataclass(frozen=True)
class StopRecord:
    """One protective stop as journaled: `amount` in contracts (`contract_size` base units each)."""

    client_order_id: str
    cycle_id: str | None
    asset: str
    symbol: str
    side: str
    amount: Decimal
    trigger: Decimal
    state: str = STOP_PENDING
    exchange_order_id: str | None = None
    reason: str = ""
    error: str | None = None
    created_at: datetime = datetime.min.replace(tzinfo=timezone.utc)
    updated_at: datetime = datetime.min.replace(tzinfo=timezone.utc)
    contract_size: Decimal = Decimal(1)

    @property
    def live(self) -> bool:
        return self.state in STOP_LIVE_STATES


def _stop_from_row(row: sqlite3.Row) -> StopRecord:
    return StopRecord(
        client_order_id=row["client_order_id"], cycle_id=row["cycle_id"], asset=row["asset"], symbol=row["symbol"],
        side=row["side"], amount=Decimal(row["amount"]), trigger=Decimal(row["trigger_price"]), state=row["state"],
        exchange_order_id=row["exchange_order_id"], reason=row["reason"], error=row["error"],
        created_at=_time_from_text(row["created_at"]) or datetime.now(timezone.utc),
        updated_at=_time_from_text(row["updated_at"]) or datetime.now(timezone.utc),
        contract_size=Decimal(row["contract_size"]),
    )


@dataclass(frozen=True)
class PositionBaseline:
    """A baseline row of Journal.position_baseline(), with the orders journaled after it."""

    id: int
    at: datetime
    cycle_id: str | None
    source: str
    positions: dict[str, Decimal]
    after_order: int
    known_orders: tuple[str, ...]
    detail: dict
    orders: tuple[OrderRecord, ...] = ()


def _order_content(cycle_id: str, order: PlannedOrder, order_type: str, limit_price: Decimal | None) -> dict[str, Any]:
    """The columns a journaled order is identified by (an intent, or a denied leg): a second write of
    the same client id must match them."""
    return {
        "cycle_id": cycle_id,
        "asset": order.asset,
        "symbol": order.symbol,
        "side": Side(order.side).value,
        "amount": _dec_to_text(order.amount),
        "reduce_only": int(bool(order.reduce_only)),
        "leg": order.leg,
        "order_type": order_type,
        "limit_price": _dec_to_text(limit_price),
        "contract_size": _dec_to_text(order.per_contract.normalize()),
    }


def _intent_differences(existing: OrderRecord, content: dict[str, Any]) -> list[str]:
    """Names of intent fields that differ; Decimals compare by value so '0.0250' equals '0.025'."""
    current = {
        "cycle_id": existing.cycle_id,
        "asset": existing.asset,
        "symbol": existing.symbol,
        "side": existing.side.value,
        "amount": existing.amount,
        "reduce_only": int(existing.reduce_only),
        "leg": existing.leg,
        "order_type": existing.order_type,
        "limit_price": existing.limit_price,
    }
    wanted = dict(content)
    wanted["amount"] = _dec_from_text(content["amount"])
    wanted["limit_price"] = _dec_from_text(content["limit_price"])
    return [key for key in current if current[key] != wanted[key]]


# --------------------------------------------------------------------------- --since values

_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DURATION_PART = re.compile(r"(\d+)([smhdw])")


def _writable(path: Path) -> bool:
    """Can this process write the journal file (or create it)? Root passes every check (access())."""
    import os

    if path.exists():
        return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return os.access(parent, os.W_OK)


def parse_duration(text: str) -> timedelta:
    """Parse a `--since` value: a whole number and a unit s, m, h, d or w ("90s", "30m", "2h", "7d",
    "1w"), or several of them ("1h30m"). Raises ValueError with the expected form on bad input."""
    if not isinstance(text, str):
        raise ValueError(f"duration must be text like '30m', got {text!r}")
    cleaned = text.strip().lower().replace(" ", "")
    if not cleaned or _DURATION_PART.sub("", cleaned):
        raise ValueError(
            f"invalid duration {text!r}: use a whole number followed by s, m, h, d or w (e.g. 90s, 30m, 2h, 7d, 1w)"
        )
    total = timedelta()
    for number, unit in _DURATION_PART.findall(cleaned):
        total += timedelta(**{_DURATION_UNITS[unit]: int(number)})
    if total <= timedelta():
        raise ValueError(f"invalid duration {text!r}: it must be longer than zero")
    return total
