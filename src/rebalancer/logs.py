"""structlog configuration: JSON lines (or a console view) with secrets redacted before anything is written.

Events are snake_case names with key/values: log.info("order_state_changed", client_order_id=..., to_state=...).
"""

from __future__ import annotations

import enum
import json
import logging
import re
import sys
import threading
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterable, TextIO
from urllib.parse import quote, urlsplit, urlunsplit

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = [
    "MASK",
    "AddTimestampAndLevel",
    "RedactSecrets",
    "add_secret",
    "configure_logging",
    "get_logger",
    "redact_secrets",
    "reset_logging",
    "shared_processors",
]

MASK = "**********"
MIN_SECRET_LENGTH = 4  # shorter values ("1", "true", "USDT") would shred ordinary log text

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR,
          "critical": logging.CRITICAL}
FORMATS = ("json", "console")

# Key names (lowercased, '-' as '_') whose values are credentials whatever they contain.
SECRET_KEYS = frozenset(
    {
        "api_key", "apikey", "secret", "secrets", "api_secret", "secret_key", "private_key", "password", "passwd",
        "passphrase", "signature", "token", "access_token", "refresh_token", "authorization",
        "cookie", "x_mbx_apikey", "ok_access_key", "ok_access_sign", "ok_access_passphrase", "x_bapi_api_key",
        "x_bapi_sign",
    }
)
SECRET_KEY_SUFFIXES = ("_api_key", "_apikey", "_secret", "_password", "_passphrase", "_token", "_signature")
# Webhook URLs carry their credential in the path (Slack, Discord) or the query: keep scheme and host only.
URL_SECRET_KEYS = frozenset({"webhook_url", "webhook", "alerts_webhook_url"})

_QUERY_SECRET = re.compile(
    r"(?P<name>[?&;](?:signature|sign|sig|api_?key|apikey|api_?secret|secret|token|access_token|password|"
    r"passphrase|key)=)(?P<value>[^&#\s\"'<>]+)",
    re.IGNORECASE,
)
# A URL with its query: when the query carries a credential (a signed request), all of it goes,
# because its other parameters (timestamp, recvWindow, the order) are what the signature signs.
_URL_WITH_QUERY = re.compile(r"(?P<base>\bhttps?://[^\s?#\"'<>]+)\?(?P<query>[^\s\"'<>#]*)", re.IGNORECASE)
# A signed form body outside a URL (ccxt's debug log of a POST): the whole parameter run goes.
_SIGNED_FORM = re.compile(
    r"(?<![\w/])(?:[\w.-]+=[^&\s\"'<>]*&)*(?:signature|sign)=[^&\s\"'<>]*(?:&[\w.-]+=[^&\s\"'<>]*)*",
    re.IGNORECASE,
)
# Header-looking text inside strings, e.g. ccxt errors that echo request headers.
_HEADER_SECRET = re.compile(
    r"(?P<name>\b(?:x-mbx-apikey|authorization|ok-access-key|ok-access-sign|ok-access-passphrase|x-bapi-api-key|"
    r"x-bapi-sign|api[-_]?key|api[-_]?secret|secret|password|passphrase|access[-_]?token|signature)[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<value>(?:bearer\s+|basic\s+)?[^\s\"',;}]+)",
    re.IGNORECASE,
)


def _drop_signed_query(match: re.Match[str]) -> str:
    if _QUERY_SECRET.search("?" + match.group("query")):
        return f"{match.group('base')}?{MASK}"
    return match.group(0)


def _key_is_secret(key: object) -> bool:
    if not isinstance(key, str):
        return False
    name = key.strip().lower().replace("-", "_")
    return name in SECRET_KEYS or name.endswith(SECRET_KEY_SUFFIXES)


def _key_is_secret_url(key: object) -> bool:
    return isinstance(key, str) and key.strip().lower().replace("-", "_") in URL_SECRET_KEYS


def _mask_url(value: str) -> str:
    try:
        parts = urlsplit(value)
    except ValueError:
        return MASK
    if not parts.scheme or not parts.netloc:
        return MASK
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit((parts.scheme, f"{host}{port}", f"/{MASK}", "", ""))


class RedactSecrets:
    """Processor that removes credentials from an event before it is rendered.

    Three layers, because no single one catches everything: the configured secret values wherever
    they appear in any string (also URL-encoded); values of keys named like credentials; and
    credential-looking query parameters and headers inside text (ccxt error messages echo signed
    URLs). Works recursively through dicts, lists, tuples and sets; exceptions and other objects are
    turned into text first so their str() cannot leak past the renderer.
    """

    def __init__(self, secrets: Iterable[str] = ()):
        self._lock = threading.Lock()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        for value in secrets:
            self.add(value)

    def add(self, value: str | None) -> None:
        """Register one more secret value; None, empty and short values are ignored (see MIN_SECRET_LENGTH)."""
        if not value or not isinstance(value, str) or len(value.strip()) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            variants = {value, value.strip(), quote(value, safe=""), quote(value, safe="/:")}
            self._secrets.update(v for v in variants if len(v) >= MIN_SECRET_LENGTH)
            # Longest first, so a secret containing another is replaced whole, not partially.
            alternatives = sorted(self._secrets, key=len, reverse=True)
            # Swapping in a new compiled pattern is atomic; loggers on other threads never see half an update.
            self._pattern = re.compile("|".join(re.escape(s) for s in alternatives))

    @property
    def secret_count(self) -> int:
        return len(self._secrets)

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        return {key: self._value(key, value) for key, value in event_dict.items()}

    def redact_text(self, text: str) -> str:
        """The text with every configured secret and credential-looking parameter masked."""
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        if "=" in text:
            text = _URL_WITH_QUERY.sub(_drop_signed_query, text)
            text = _SIGNED_FORM.sub(MASK, text)
            text = _QUERY_SECRET.sub(lambda m: m.group("name") + MASK, text)
        if ":" in text or "=" in text:
            text = _HEADER_SECRET.sub(lambda m: m.group("name") + MASK, text)
        return text

    def _value(self, key: object, value: Any) -> Any:
        # None and "" stay visible: "api_key=None" is how an operator learns the key is missing.
        if value is None or value == "":
            return value
        if _key_is_secret_url(key):
            return _mask_url(value) if isinstance(value, str) else MASK
        if _key_is_secret(key):
            return MASK
        return self.redact(value)

    def redact(self, value: Any) -> Any:
        """Redact any value: containers recursively, strings by text, other objects via their text."""
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, (bool, int, float, Decimal, datetime, date, enum.Enum)) or value is None:
            return value
        if isinstance(value, dict):
            return {k: self._value(k, v) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            items = [self.redact(v) for v in value]
            return tuple(items) if isinstance(value, tuple) else items
        if isinstance(value, (bytes, bytearray)):
            return self.redact_text(bytes(value).decode("utf-8", errors="replace"))
        if isinstance(value, BaseException):
            return self.redact_text(f"{type(value).__name__}: {value}")
        # Unknown objects would be str()/repr()'d by the renderer after this processor: do it here.
        return self.redact_text(str(value))


class AddTimestampAndLevel:
    """Processor adding `timestamp` (ISO-8601 UTC, milliseconds) and `level` (normalised method name)."""

    _LEVEL_ALIASES = {"warn": "warning", "exception": "error", "fatal": "critical", "msg": "info", "log": "info"}

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self._clock = clock

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("timestamp", self._clock().astimezone(timezone.utc).isoformat(timespec="milliseconds"))
        event_dict.setdefault("level", self._LEVEL_ALIASES.get(method_name, method_name))
        return event_dict


# The process-wide redactor: configure_logging() and add_secret() feed it, the chain and the
# stdlib bridge both use it, so a secret learned late is still redacted by loggers made early.
redact_secrets = RedactSecrets()


def add_secret(value: str | None) -> None:
    """Register a secret discovered after configure_logging (e.g. read from a secrets dir)."""
    redact_secrets.add(value)


def shared_processors(clock: Callable[[], datetime] | None = None) -> list[Processor]:
    """The chain up to (not including) rendering. Also usable with capture_logs(processors=...) to
    assert on exactly what would be written."""
    stamp = AddTimestampAndLevel(clock) if clock is not None else AddTimestampAndLevel()
    return [
        structlog.contextvars.merge_contextvars,
        stamp,
        add_logger_name,
        structlog.processors.StackInfoRenderer(),
        # Exceptions become text *before* redaction: a rendered traceback (rich even prints locals)
        # would otherwise bypass it.
        structlog.processors.format_exc_info,
        structlog.processors.UnicodeDecoder(),
        redact_secrets,
    ]


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return str(value)


_LEADING_KEYS = ("timestamp", "level", "event", "logger")


def _json_renderer() -> Processor:
    render = structlog.processors.JSONRenderer(serializer=json.dumps, default=_json_default, ensure_ascii=False)

    def leading_keys_first(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> str:
        # Time, level and event first: people grep and eyeball these lines too.
        ordered = {k: event_dict[k] for k in _LEADING_KEYS if k in event_dict}
        ordered.update(event_dict)
        return render(logger, method_name, ordered)  # type: ignore[return-value]

    return leading_keys_first


def _console_renderer() -> Processor:
    # plain_traceback: the exception is already redacted text (format_exc_info ran in the shared chain).
    return structlog.dev.ConsoleRenderer(
        colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback, sort_keys=False
    )


class _Sink:
    """One destination and its renderer. stderr is looked up at write time so pytest's capsys and
    later redirections are honoured."""

    def __init__(self, renderer: Processor, stream: TextIO | None = None):
        self.renderer = renderer
        self.stream = stream
        self.lock = threading.Lock()

    def write(self, method_name: str, event_dict: EventDict) -> None:
        line = self.renderer(None, method_name, dict(event_dict))
        stream = self.stream if self.stream is not None else sys.stderr
        with self.lock:
            stream.write(f"{line}\n")
            stream.flush()


class _SinkLogger:
    """The wrapped logger: receives the finished event dict and hands it to every sink. Rendering per
    sink lets stderr be a console view while the log file stays JSON lines."""

    def __init__(self, sinks: list[_Sink], name: str | None = None):
        self._sinks = sinks
        self.name = name

    def _emit(self, method_name: str, event_dict: EventDict) -> None:
        for sink in self._sinks:
            sink.write(method_name, event_dict)

    def msg(self, event_dict: EventDict) -> None:
        self._emit("info", event_dict)

    def __getattr__(self, method_name: str) -> Callable[[EventDict], None]:
        if method_name.startswith("_"):
            raise AttributeError(method_name)
        return lambda event_dict: self._emit(method_name, event_dict)


def add_logger_name(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Processor adding `logger` (the name given to get_logger) when there is one."""
    name = getattr(logger, "name", None)
    if name and "logger" not in event_dict:
        event_dict["logger"] = name
    return event_dict


def _hand_to_sinks(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> tuple[tuple, dict]:
    # The last processor passes the dict itself on; the sinks render it.
    return (event_dict,), {}


class _StdlibBridge(logging.Handler):
    """Routes records from libraries that use stdlib logging (httpx, apscheduler, asyncio) through the
    same chain, so their URLs and messages are redacted and formatted like ours."""

    def __init__(self, processors: list[Processor], sinks: list[_Sink], level: int):
        super().__init__(level)
        self._processors = processors
        self._sinks = sinks

    def emit(self, record: logging.LogRecord) -> None:
        try:
            method = record.levelname.lower()
            event_dict: EventDict = {"event": record.getMessage(), "logger": record.name}
            if record.exc_info:
                event_dict["exc_info"] = record.exc_info
            for processor in self._processors:
                event_dict = processor(None, method, event_dict)
            for sink in self._sinks:
                sink.write(method, event_dict)
        except Exception:  # a broken log line must never take the process down
            self.handleError(record)


_state_lock = threading.Lock()
_open_files: list[TextIO] = []
_bridge: _StdlibBridge | None = None
_root_level_before: int | None = None


def configure_logging(
    level: str = "info",
    fmt: str = "json",
    file: str | Path | None = None,
    secrets: Iterable[str] = (),
    stderr: bool = True,
) -> None:
    """Configure structlog (and route stdlib logging through it). stderr gets JSON lines or a console
    view; `file`, if given, is appended JSON lines (its directory is created). Secrets accumulate
    across calls; calling again replaces sinks and level. Loggers are not cached, so module-level
    loggers from get_logger() follow a reconfiguration. `stderr=False` keeps stderr for the one line a
    one-off command prints on failure; the file still gets every event."""
    global _bridge, _root_level_before
    level_name = str(level).strip().lower()
    if level_name == "warn":
        level_name = "warning"
    if level_name not in LEVELS:
        raise ValueError(f"unknown log level {level!r}; use one of {', '.join(LEVELS)}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; use 'json' or 'console'")
    for secret in secrets:
        add_secret(secret)

    with _state_lock:
        for handle in _open_files:
            handle.close()
        _open_files.clear()
        sinks = [_Sink(_json_renderer() if fmt == "json" else _console_renderer())] if stderr else []
        if file is not None:
            path = Path(file)
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = path.open("a", encoding="utf-8")
            _open_files.append(handle)
            sinks.append(_Sink(_json_renderer(), handle))

        processors = shared_processors()
        structlog.configure(
            processors=[*processors, _hand_to_sinks],
            wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level_name]),
            logger_factory=lambda *args: _SinkLogger(sinks, name=args[0] if args else None),
            context_class=dict,
            cache_logger_on_first_use=False,
        )

        root = logging.getLogger()
        if _bridge is not None:
            root.removeHandler(_bridge)
        else:
            _root_level_before = root.level
        _bridge = _StdlibBridge(processors, sinks, LEVELS[level_name])
        root.addHandler(_bridge)
        root.setLevel(LEVELS[level_name])


def reset_logging() -> None:
    """Undo configure_logging (structlog defaults, bridge removed, log file closed); for tests.
    Registered secrets are kept: forgetting one is never the safe direction."""
    global _bridge, _root_level_before
    with _state_lock:
        for handle in _open_files:
            handle.close()
        _open_files.clear()
        if _bridge is not None:
            root = logging.getLogger()
            root.removeHandler(_bridge)
            if _root_level_before is not None:
                root.setLevel(_root_level_before)
            _bridge, _root_level_before = None, None
        structlog.reset_defaults()


def get_logger(name: str | None = None, **initial_values: Any) -> Any:
    """A lazy structlog logger whose events carry `logger=name`; it follows later reconfiguration.
    (The name travels as a logger-factory argument: `logger` is a reserved keyword of get_logger.)"""
    args = (name,) if name is not None else ()
    return structlog.get_logger(*args, **initial_values)
