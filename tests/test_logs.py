"""Logging: secrets never reach the output (values, keys, URLs, exceptions), JSON lines parse,
reconfiguration works, and structlog's capture_logs still works in tests."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from decimal import Decimal

import pytest
import structlog
from structlog.testing import capture_logs

from rebalancer.domain import OrderState
from rebalancer.logs import (
    MASK,
    AddTimestampAndLevel,
    RedactSecrets,
    add_secret,
    configure_logging,
    get_logger,
    reset_logging,
    shared_processors,
)

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
API_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
PASSWORD = "hunter2-Pa$$word/with?chars"


@pytest.fixture(autouse=True)
def _restore_logging():
    """Each test configures logging itself; put structlog and the root logger back afterwards."""
    yield
    reset_logging()


def redact(event_dict: dict, secrets=(API_KEY, API_SECRET)) -> dict:
    return RedactSecrets(secrets)(None, "info", dict(event_dict))


def json_lines(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


# --------------------------------------------------------------------------- the processor, called directly


def test_redact_when_secret_is_nested_in_dicts_lists_and_tuples_then_masked_everywhere():
    """A configured secret is replaced inside any string at any depth, keeping the rest of the text."""
    out = redact({
        "event": f"signed with {API_SECRET}",
        "request": {"headers": [("X-Other", f"k={API_KEY}")], "params": {"deep": [[f"a{API_KEY}b"]]}},
        "count": 3,
        "price": Decimal("1.5"),
    })
    text = json.dumps(out, default=str)
    assert API_KEY not in text and API_SECRET not in text
    assert out["event"] == f"signed with {MASK}"
    assert out["request"]["params"]["deep"] == [[f"a{MASK}b"]]
    assert out["count"] == 3 and out["price"] == Decimal("1.5")


@pytest.mark.parametrize(
    "key",
    ["api_key", "apiKey", "APIKEY", "secret", "api_secret", "password", "passphrase", "signature", "token",
     "authorization", "Authorization", "X-MBX-APIKEY", "binance_api_key", "webhook_token", "access_token"],
)
def test_redact_when_key_looks_secret_then_value_masked(key):
    """Values of credential-named keys are masked even when the value was never registered."""
    out = redact({key: "not-registered-anywhere", "nested": {key: 12345}}, secrets=())
    assert out[key] == MASK and out["nested"][key] == MASK


@pytest.mark.parametrize("key", ["symbol", "client_order_id", "token_count_hint", "keys", "signal"])
def test_redact_when_key_is_ordinary_then_value_kept(key):
    """Ordinary keys keep their values."""
    assert redact({key: "BTC/USDT:USDT"}, secrets=())[key] == "BTC/USDT:USDT"


def test_redact_when_secret_key_value_is_missing_then_none_stays_visible():
    """api_key=None stays None: it tells the operator the key is missing without revealing anything."""
    assert redact({"api_key": None, "password": ""}, secrets=()) == {"api_key": None, "password": ""}


def test_redact_when_webhook_url_key_then_host_kept_and_path_and_query_masked():
    """A webhook URL keeps scheme and host for debugging; its path and query tokens are masked."""
    out = redact({"webhook_url": "https://hooks.slack.com/services/T000/B000/XXXXSECRET?token=abc"}, secrets=())
    assert out["webhook_url"] == f"https://hooks.slack.com/{MASK}"


@pytest.mark.parametrize(
    "text, leaked",
    [
        ("GET https://fapi.binance.com/fapi/v1/order?symbol=BTCUSDT&timestamp=1&signature=9f8e7d6c5b", "9f8e7d6c5b"),
        ("POST https://example.com/hook?token=tok_live_abcdef&x=1", "tok_live_abcdef"),
        ("https://api.example.com/v1?apiKey=plainkey123", "plainkey123"),
        ('binance {"X-MBX-APIKEY": "hdrkey98765", "code": -2015}', "hdrkey98765"),
        ("headers={'Authorization': 'Bearer eyJhbGciOi.abc.def'}", "eyJhbGciOi"),
        ("password=hunter22 rest", "hunter22"),
    ],
)
def test_redact_when_credentials_hide_in_urls_or_headers_then_masked(text, leaked):
    """Signed URLs and echoed headers inside free text lose their credential, not their context."""
    out = redact({"event": "http_error", "error": text}, secrets=())
    assert leaked not in out["error"] and MASK in out["error"]


def test_redact_when_signed_url_then_whole_query_masked_path_kept():
    """A signed URL loses its whole query (what the signature signs); scheme, host and path stay readable."""
    out = redact({"url": "https://x/fapi/v1/order?symbol=BTCUSDT&timestamp=17&signature=abcdef123"}, secrets=())
    assert out["url"] == f"https://x/fapi/v1/order?{MASK}"


def test_redact_when_url_query_has_no_credential_then_kept():
    """An ordinary query (no credential parameter) is left alone."""
    out = redact({"url": "https://x/api/v3/ticker?symbol=BTCUSDT&limit=5"}, secrets=())
    assert out["url"] == "https://x/api/v3/ticker?symbol=BTCUSDT&limit=5"


def test_redact_when_signed_form_body_then_signature_masked():
    """A signed POST body (no URL around it) loses its signature too."""
    out = redact({"event": "Request: {} timestamp=17&symbol=BTCUSDT&signature=abcdef123 end"}, secrets=())
    assert out["event"] == f"Request: {{}} {MASK} end"


def test_redact_when_secret_is_url_encoded_then_masked():
    """A secret with special characters is also caught in its URL-encoded form."""
    out = RedactSecrets([PASSWORD])(None, "info", {"url": "https://x/?p=hunter2-Pa%24%24word%2Fwith%3Fchars&y=1"})
    assert "hunter2" not in out["url"]


def test_redact_when_one_secret_contains_another_then_no_fragment_left():
    """Longer secrets are replaced first, so no tail of a longer secret survives."""
    out = RedactSecrets(["abcd", "abcd-efgh-ijkl"])(None, "info", {"event": "x abcd-efgh-ijkl y"})
    assert out["event"] == f"x {MASK} y"


def test_redact_when_secret_is_shorter_than_four_characters_then_ignored():
    """Very short values are not treated as secrets: they would shred ordinary text."""
    redactor = RedactSecrets(["abc", "", None])  # type: ignore[list-item]
    assert redactor.secret_count == 0
    assert redactor(None, "info", {"event": "abc"}) == {"event": "abc"}


def test_redact_when_value_is_an_exception_or_object_then_its_text_is_redacted():
    """Exceptions, bytes and arbitrary objects are turned into redacted text before a renderer str()s them."""

    class Client:
        def __str__(self) -> str:
            return f"Client(secret={API_SECRET})"

    out = redact({"error": RuntimeError(f"auth failed for {API_KEY}"), "raw": API_KEY.encode(), "client": Client()})
    assert out["error"] == f"RuntimeError: auth failed for {MASK}"
    assert out["raw"] == MASK
    assert API_SECRET not in out["client"]


def test_redact_when_values_are_enums_and_numbers_then_kept_as_they_are():
    """Non-text values pass through unchanged, so renderers keep their types."""
    out = redact({"state": OrderState.FILLED, "n": 1, "ok": True, "f": 0.5, "none": None})
    assert out == {"state": OrderState.FILLED, "n": 1, "ok": True, "f": 0.5, "none": None}


def test_timestamp_processor_when_called_then_iso_utc_and_normalised_level():
    """The timestamp is ISO-8601 UTC from the injected clock; warn/exception map to warning/error."""
    stamp = AddTimestampAndLevel(clock=lambda: datetime(2026, 11, 25, 12, 0, 1, 234000, tzinfo=timezone.utc))
    assert stamp(None, "info", {"event": "x"}) == {"event": "x", "timestamp": "2026-11-25T12:00:01.234+00:00",
                                                    "level": "info"}
    assert stamp(None, "warn", {})["level"] == "warning"
    assert stamp(None, "exception", {})["level"] == "error"


# --------------------------------------------------------------------------- configured output


def test_configure_when_json_then_stderr_has_one_json_object_per_line(capsys):
    """JSON format writes one parseable object per event with timestamp, level, event and key/values."""
    configure_logging(level="info", fmt="json")
    log = get_logger("rebalancer.executor")
    log.info("order_state_changed", cycle_id="c1", client_order_id="rb1", from_state=OrderState.PENDING,
             to_state=OrderState.FILLED, filled=Decimal("0.025"))
    log.warning("funding_high", apr=0.55)
    log.debug("not_shown")
    records = json_lines(capsys.readouterr().err)
    assert [r["event"] for r in records] == ["order_state_changed", "funding_high"]
    first = records[0]
    assert first["level"] == "info" and first["logger"] == "rebalancer.executor"
    assert first["to_state"] == "filled" and first["filled"] == "0.025"
    assert datetime.fromisoformat(first["timestamp"]).utcoffset().total_seconds() == 0
    assert records[1]["level"] == "warning"


def test_configure_when_secret_given_then_it_never_appears_in_stderr_or_file(capsys, tmp_path):
    """A secret passed to configure_logging is absent from every output, whatever shape carries it."""
    log_file = tmp_path / "logs" / "nested" / "rebalancer.log"
    configure_logging(level="debug", fmt="json", file=str(log_file), secrets=[API_KEY, API_SECRET])
    log = get_logger("test")
    log.info("venue_configured", options={"apiKey": API_KEY, "headers": [{"X-Other": API_SECRET}]})
    log.info("request_sent", url=f"https://fapi.binance.com/fapi/v1/order?symbol=BTCUSDT&signature={API_SECRET}")
    log.info("listed", items=[API_KEY, ("t", API_SECRET)], note=f"key={API_KEY}")
    log.error("order_rejected", error=ValueError(f"invalid key {API_KEY}"))
    try:
        raise RuntimeError(f"binance 401 for key {API_KEY} and secret {API_SECRET}")
    except RuntimeError:
        log.exception("venue_failed")
    structlog.contextvars.bind_contextvars(session=API_KEY)
    try:
        log.info("with_context")
    finally:
        structlog.contextvars.clear_contextvars()
    err = capsys.readouterr().err
    written = log_file.read_text()
    for output in (err, written):
        assert API_KEY not in output and API_SECRET not in output
        records = json_lines(output)
        assert len(records) == 6
    failed = json_lines(written)[4]
    assert failed["event"] == "venue_failed" and "RuntimeError: binance 401 for key" in failed["exception"]


def test_add_secret_when_registered_after_configure_then_redacted_by_existing_loggers(capsys):
    """A secret learned later (e.g. from a secrets dir) is redacted by loggers created earlier."""
    configure_logging(fmt="json")
    log = get_logger("early")
    late = "late-secret-7f3a9c"
    add_secret(late)
    log.info("loaded", value=f"x{late}x")
    assert late not in capsys.readouterr().err


def test_configure_when_called_twice_then_new_level_and_format_apply_to_existing_loggers(capsys, tmp_path):
    """Reconfiguring changes level, format and file for loggers obtained before the change."""
    first_file = tmp_path / "first.log"
    configure_logging(level="warning", fmt="json", file=first_file)
    log = get_logger("module")
    log.info("hidden")
    log.warning("shown_json")
    configure_logging(level="debug", fmt="console")
    log.debug("shown_console", answer=42)
    err = capsys.readouterr().err
    assert "hidden" not in err
    assert json.loads(err.splitlines()[0])["event"] == "shown_json"
    console_line = err.splitlines()[1]
    assert "shown_console" in console_line and "answer=42" in console_line and not console_line.startswith("{")
    assert [r["event"] for r in json_lines(first_file.read_text())] == ["shown_json"]  # old file no longer written


def test_configure_when_file_exists_then_lines_are_appended(tmp_path, capsys):
    """The log file is appended to, not truncated, across restarts."""
    path = tmp_path / "var" / "rebalancer.log"
    configure_logging(file=path)
    get_logger().info("first_run")
    configure_logging(file=path)
    get_logger().info("second_run")
    assert [r["event"] for r in json_lines(path.read_text())] == ["first_run", "second_run"]


def test_configure_when_console_then_readable_and_exceptions_redacted(capsys):
    """The console view is plain text for people and redacts exception text too."""
    configure_logging(level="info", fmt="console", secrets=[API_SECRET])
    try:
        raise PermissionError(f"signature mismatch for {API_SECRET}")
    except PermissionError:
        get_logger("cli").exception("venue_auth_failed", venue="main")
    err = capsys.readouterr().err
    assert "venue_auth_failed" in err and "venue=main" in err and "PermissionError" in err
    assert API_SECRET not in err


def test_configure_when_file_given_with_console_format_then_file_stays_json(tmp_path, capsys):
    """People get the console view on stderr while the file stays machine-readable JSON lines."""
    path = tmp_path / "x.log"
    configure_logging(fmt="console", file=path)
    get_logger().info("cycle_completed", outcome="done")
    assert json_lines(path.read_text())[0]["outcome"] == "done"
    assert not capsys.readouterr().err.startswith("{")


def test_stdlib_logging_when_a_library_logs_a_signed_url_then_it_is_redacted(capsys):
    """Libraries using stdlib logging (httpx, apscheduler) go through the same chain and redaction."""
    configure_logging(fmt="json", secrets=[API_KEY])
    logging.getLogger("httpx").info("HTTP Request: POST %s", f"https://hooks.example.com/x?token={API_KEY}")
    [record] = json_lines(capsys.readouterr().err)
    assert record["logger"] == "httpx" and record["level"] == "info"
    assert API_KEY not in record["event"] and MASK in record["event"]


@pytest.mark.parametrize("kwargs, message", [({"level": "loud"}, "log level"), ({"fmt": "xml"}, "log format")])
def test_configure_when_level_or_format_unknown_then_value_error(kwargs, message):
    """Bad settings fail with a message naming the setting."""
    with pytest.raises(ValueError, match=message):
        configure_logging(**kwargs)


def test_capture_logs_when_configured_then_events_captured_as_dicts():
    """structlog.testing.capture_logs works with the configuration, for tests where the log is the contract."""
    configure_logging(fmt="json")
    with capture_logs() as logs:
        get_logger("executor").info("order_state_changed", client_order_id="rb1", to_state="filled")
    assert logs == [{"event": "order_state_changed", "client_order_id": "rb1", "to_state": "filled",
                     "log_level": "info"}]


def test_capture_logs_when_given_shared_processors_then_captured_events_are_redacted():
    """capture_logs(processors=shared_processors()) shows exactly what would be written, redacted."""
    configure_logging(fmt="json", secrets=[API_SECRET])
    with capture_logs(processors=shared_processors()) as logs:
        get_logger("venue").info("request_signed", detail={"sig": [API_SECRET]}, api_key="k-123456")
    [entry] = logs
    assert entry["detail"] == {"sig": [MASK]} and entry["api_key"] == MASK
    assert entry["level"] == "info" and entry["logger"] == "venue" and "timestamp" in entry
