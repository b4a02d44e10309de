"""Webhook alerts: payload per format, rate limiting, failures that never raise or leak the URL, cycle alerts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from decimal import Decimal
from types import SimpleNamespace

import httpx
import pytest
import respx
from structlog.testing import capture_logs

from rebalancer.alerts import Alert, AlertSender, alerts_for_cycle, from_settings
from rebalancer.domain import Finding, OrderState, TradingState, Verdict
from rebalancer.settings import AlertsSettings

GENERIC_URL = "https://alerts.example.com/hook/s3cr3t-path?token=q-s3cr3t"
SLACK_URL = "https://hooks.slack.com/services/T000/B000/slackTOKENabcdef1234567890"
DISCORD_URL = "https://discord.com/api/webhooks/1234/discordTOKEN-abcdefghijklmnopqrstuvwxyz0123456789"
TELEGRAM_TOKEN = "123456:tgTOKENabcdefghijklmnopqrstuvwxyz"
TELEGRAM_URL = f"https://api.telegram.org/bot{TELEGRAM_TOKEN}/sendMessage"
AT = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Sleeps:
    """Records retry delays instead of waiting."""

    calls: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make_sender(url: str, fmt: str = "generic", **kw) -> tuple[AlertSender, respx.Router, FakeClock, Sleeps]:
    router = respx.Router(assert_all_called=False)
    clock, sleeps = FakeClock(), Sleeps()
    kw.setdefault("min_interval_s", 300)
    sender = AlertSender(url, fmt, clock=clock, sleep=sleeps, utc_now=lambda: AT,
                         transport=httpx.MockTransport(router.async_handler), **kw)
    return sender, router, clock, sleeps


def alert(key: str = "risk_denied:FUNDING:BTC/USDT:USDT", **kw) -> Alert:
    base = dict(kind="risk_denied", severity="warning", title="Risk gate denied BTC/USDT:USDT: FUNDING",
                detail="funding APR 45% > 30%", key=key, fields={"symbol": "BTC/USDT:USDT"})
    base.update(kw)
    return Alert(**base)


def posted(route: respx.Route, index: int = -1) -> dict:
    return json.loads(route.calls[index].request.content)


# --------------------------------------------------------------------------- formats


async def test_send_when_generic_format_then_posts_json_with_every_key():
    """The generic format posts kind, severity, title, detail, fields, service and an ISO timestamp."""
    sender, router, _, _ = make_sender(GENERIC_URL)
    route = router.post(GENERIC_URL).respond(200)

    assert await sender.send(alert()) is True

    assert posted(route) == {
        "kind": "risk_denied",
        "severity": "warning",
        "title": "Risk gate denied BTC/USDT:USDT: FUNDING",
        "detail": "funding APR 45% > 30%",
        "fields": {"symbol": "BTC/USDT:USDT"},
        "service": "rebalancer",
        "at": "2026-11-25T12:00:00+00:00",
    }
    assert route.calls[0].request.headers["content-type"] == "application/json"
    await sender.aclose()


async def test_send_when_slack_format_then_posts_text_with_severity_prefix_escaped():
    """Slack gets one text field starting "[CRITICAL]", with <, > and & escaped so they show literally."""
    sender, router, _, _ = make_sender(SLACK_URL, "slack")
    route = router.post(SLACK_URL).respond(200, text="ok")

    await sender.send(alert(severity="critical", title="Cycle failed", detail="<html> & more", fields={}))

    assert posted(route) == {"text": "[CRITICAL] Cycle failed\n&lt;html&gt; &amp; more"}
    await sender.aclose()


async def test_send_when_discord_format_then_posts_content_that_pings_nobody():
    """Discord gets the message as content, with mentions disabled so error text cannot ping @everyone."""
    sender, router, _, _ = make_sender(DISCORD_URL, "discord")
    route = router.post(DISCORD_URL).respond(204)

    assert await sender.send(alert(detail="@everyone look")) is True

    body = posted(route)
    assert body["content"].startswith("[WARNING] Risk gate denied BTC/USDT:USDT: FUNDING\n@everyone look")
    assert "symbol: BTC/USDT:USDT" in body["content"]
    assert body["allowed_mentions"] == {"parse": []}
    await sender.aclose()


async def test_send_when_telegram_format_then_posts_chat_id_and_text_to_bot_url():
    """Telegram gets chat_id and text POSTed to the bot's sendMessage URL."""
    sender, router, _, _ = make_sender(TELEGRAM_URL, "telegram", telegram_chat_id="-100200300")
    route = router.post(TELEGRAM_URL).respond(200, json={"ok": True})

    assert await sender.send(alert()) is True

    body = posted(route)
    assert body["chat_id"] == "-100200300"
    assert body["text"].startswith("[WARNING] Risk gate denied")
    await sender.aclose()


def test_init_when_telegram_without_chat_id_then_value_error():
    """A Telegram sender without a chat id is a config bug, reported at construction."""
    with pytest.raises(ValueError, match="telegram_chat_id"):
        AlertSender(TELEGRAM_URL, "telegram")


def test_init_when_unknown_format_then_value_error():
    """An unknown format fails at construction rather than at the first alert."""
    with pytest.raises(ValueError, match="format"):
        AlertSender(GENERIC_URL, "teams")


# --------------------------------------------------------------------------- rate limiting


async def test_send_when_same_key_within_interval_then_suppressed():
    """A second alert with the same key inside min_interval_s is not posted and returns False."""
    sender, router, clock, _ = make_sender(GENERIC_URL)
    route = router.post(GENERIC_URL).respond(200)

    assert await sender.send(alert()) is True
    clock.now += 299
    assert await sender.send(alert()) is False

    assert route.call_count == 1
    await sender.aclose()


async def test_send_when_other_key_within_interval_then_sent():
    """Rate limiting is per key: a different symbol's alert goes out immediately."""
    sender, router, _, _ = make_sender(GENERIC_URL)
    route = router.post(GENERIC_URL).respond(200)

    assert await sender.send(alert()) is True
    assert await sender.send(alert(key="risk_denied:FUNDING:ETH/USDT:USDT")) is True

    assert route.call_count == 2
    await sender.aclose()


async def test_send_when_interval_passed_after_suppression_then_reports_suppressed_count():
    """The next alert of a key after the interval says how many were suppressed, then the count resets."""
    sender, router, clock, _ = make_sender(SLACK_URL, "slack")
    route = router.post(SLACK_URL).respond(200)

    await sender.send(alert())
    for _ in range(3):
        clock.now += 10
        assert await sender.send(alert()) is False
    clock.now += 300
    assert await sender.send(alert()) is True
    clock.now += 300
    assert await sender.send(alert()) is True

    assert route.call_count == 3
    assert posted(route, 1)["text"].endswith("(3 similar suppressed)")
    assert "suppressed" not in posted(route, 2)["text"]
    await sender.aclose()


async def test_send_when_generic_after_suppression_then_count_in_detail():
    """The generic format reports the suppressed count at the end of detail."""
    sender, router, clock, _ = make_sender(GENERIC_URL)
    route = router.post(GENERIC_URL).respond(200)

    await sender.send(alert())
    await sender.send(alert())
    clock.now += 301
    await sender.send(alert())

    assert posted(route)["detail"] == "funding APR 45% > 30% (1 similar suppressed)"
    await sender.aclose()


async def test_send_when_min_interval_zero_then_never_suppressed():
    """min_interval_s = 0 turns rate limiting off."""
    sender, router, _, _ = make_sender(GENERIC_URL, min_interval_s=0)
    route = router.post(GENERIC_URL).respond(200)

    assert [await sender.send(alert()) for _ in range(3)] == [True, True, True]
    assert route.call_count == 3
    await sender.aclose()


# --------------------------------------------------------------------------- failures


async def test_send_when_5xx_once_then_retried_and_sent():
    """One 5xx is retried once after the retry delay, and the retry's success counts."""
    sender, router, _, sleeps = make_sender(GENERIC_URL)
    route = router.post(GENERIC_URL)
    route.side_effect = [httpx.Response(503), httpx.Response(200)]

    assert await sender.send(alert()) is True

    assert route.call_count == 2
    assert sleeps.calls == [1.0]
    await sender.aclose()


async def test_send_when_5xx_twice_then_logged_not_raised():
    """Two 5xx answers give up after one retry: alert_failed is logged with the host and send returns False."""
    sender, router, _, _ = make_sender(GENERIC_URL)
    route = router.post(GENERIC_URL).respond(502, text="bad gateway")

    with capture_logs() as logs:
        assert await sender.send(alert()) is False

    assert route.call_count == 2
    failed = [e for e in logs if e["event"] == "alert_failed"]
    assert len(failed) == 1
    assert failed[0]["host"] == "alerts.example.com"
    assert failed[0]["status"] == 502 and failed[0]["attempts"] == 2
    assert failed[0]["log_level"] == "error"
    await sender.aclose()


async def test_send_when_connect_error_twice_then_logged_not_raised():
    """A connection error is retried once, then logged; the caller never sees the exception."""
    sender, router, _, _ = make_sender(GENERIC_URL)
    route = router.post(GENERIC_URL)
    route.side_effect = httpx.ConnectError("connection refused")

    with capture_logs() as logs:
        assert await sender.send(alert()) is False

    assert route.call_count == 2
    assert [e["error"] for e in logs if e["event"] == "alert_failed"] == ["ConnectError"]
    await sender.aclose()


@pytest.mark.parametrize(
    "side_effect",
    [httpx.Response(400, json={"ok": False, "description": "Bad Request: chat not found"}),
     httpx.ReadTimeout("read timed out")],
    ids=["4xx", "read_timeout"],
)
async def test_send_when_4xx_or_read_timeout_then_not_retried(side_effect):
    """A 4xx will not get better, and a read timeout may already have been delivered: neither is retried."""
    sender, router, _, sleeps = make_sender(GENERIC_URL)
    route = router.post(GENERIC_URL)
    route.side_effect = [side_effect]

    with capture_logs() as logs:
        assert await sender.send(alert()) is False

    assert route.call_count == 1 and sleeps.calls == []
    assert [e["event"] for e in logs if e["event"].startswith("alert_")] == ["alert_failed"]
    await sender.aclose()


async def test_send_when_previous_failed_then_next_not_rate_limited_and_keeps_count():
    """An undelivered alert does not start the interval, and its earlier suppressed count is still reported."""
    sender, router, clock, _ = make_sender(GENERIC_URL)
    route = router.post(GENERIC_URL)
    route.side_effect = [httpx.Response(200), httpx.Response(500), httpx.Response(500), httpx.Response(200)]

    await sender.send(alert())
    await sender.send(alert())  # suppressed
    clock.now += 301
    assert await sender.send(alert()) is False  # delivered nowhere (500 twice)
    clock.now += 1
    assert await sender.send(alert()) is True

    assert route.call_count == 4
    assert posted(route)["detail"].endswith("(1 similar suppressed)")
    await sender.aclose()


@pytest.mark.parametrize(
    "url, fmt, secrets",
    [
        (TELEGRAM_URL, "telegram", [TELEGRAM_TOKEN, "tgTOKEN"]),
        (SLACK_URL, "slack", ["slackTOKENabcdef1234567890", "/services/"]),
        (DISCORD_URL, "discord", ["discordTOKEN-abcdefghijklmnopqrstuvwxyz0123456789", "discordTOKEN"]),
        (GENERIC_URL, "generic", ["q-s3cr3t", "s3cr3t"]),
    ],
    ids=["telegram", "slack", "discord", "generic"],
)
async def test_send_when_failing_then_webhook_url_and_token_never_logged(url, fmt, secrets):
    """Whatever fails, the logs carry the host only; an error or body that echoes the URL is scrubbed."""
    sender, router, _, _ = make_sender(url, fmt, telegram_chat_id="42")
    route = router.post(url)
    route.side_effect = [
        httpx.ConnectError(f"cannot connect to {url}"),
        httpx.Response(503, text=f"upstream failed for {url}"),
        httpx.Response(404, text=f"no such hook {urlpath(url)}"),
        # Long enough that cutting the body to 200 characters before scrubbing would leave half a token.
        httpx.Response(401, text="x" * 180 + f" bad token {secrets[0]} for {url}"),
        httpx.Response(200),
    ]

    with capture_logs() as logs:
        await sender.send(alert())  # connect error, then 503: alert_retrying + alert_failed
        await sender.send(alert(key="other"))  # 404: alert_failed
        await sender.send(alert(key="third"))  # 401 echoing the bare token: alert_failed
        await sender.send(alert(key="fourth"))  # sent
        empty = AlertSender("", fmt)
        await empty.send(alert())

    text = repr(logs)
    assert {e["event"] for e in logs} >= {"alert_retrying", "alert_failed", "alert_sent", "alert_skipped"}
    assert url not in text
    for secret in secrets:
        assert secret not in text and secret[:8] not in text  # not even a cut-off prefix
    assert all(e["host"] == httpx.URL(url).host for e in logs if "host" in e)
    await sender.aclose()


def urlpath(url: str) -> str:
    return httpx.URL(url).raw_path.decode()


async def test_send_when_webhook_url_empty_then_noop_returns_false():
    """No URL configured: nothing is posted, send returns False and says so at debug level."""
    router = respx.Router()  # asserts every request is mocked: any request would fail the test
    sender = AlertSender("", transport=httpx.MockTransport(router.async_handler))

    with capture_logs() as logs:
        assert await sender.send(alert()) is False

    assert router.calls.call_count == 0
    assert sender.enabled is False
    assert logs == [{"event": "alert_skipped", "reason": "no_webhook_url", "kind": "risk_denied",
                     "key": "risk_denied:FUNDING:BTC/USDT:USDT", "log_level": "debug"}]
    await sender.aclose()


async def test_from_settings_when_alerts_configured_then_sender_uses_url_format_and_interval():
    """from_settings unwraps the secret URL and carries format, chat id and interval over."""
    settings = AlertsSettings(webhook_url=TELEGRAM_URL, format="telegram", telegram_chat_id="7", min_interval_s=60)
    router = respx.Router()
    route = router.post(TELEGRAM_URL).respond(200)
    clock = FakeClock()
    sender = from_settings(settings, transport=httpx.MockTransport(router.async_handler), clock=clock)

    assert await sender.send(alert()) is True
    clock.now += 59
    assert await sender.send(alert()) is False
    clock.now += 1
    assert await sender.send(alert()) is True

    assert sender.fmt == "telegram" and posted(route)["chat_id"] == "7"
    await sender.aclose()


def test_alert_when_key_empty_then_key_is_kind():
    """An alert without a key rate-limits by its kind."""
    assert Alert("consecutive_failures", "critical", "3 cycles failed").key == "consecutive_failures"


def test_alert_when_unknown_severity_then_value_error():
    """Severity is one of info, warning, critical."""
    with pytest.raises(ValueError, match="severity"):
        Alert("cycle_failed", "fatal", "x")


# --------------------------------------------------------------------------- alerts_for_cycle

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
WARN = Decimal("0.35")


def verdict(state=TradingState.ACTIVE, denials=(), warnings=(), distances=None) -> Verdict:
    return Verdict(state=state, approved=(), denials=tuple(denials), warnings=tuple(warnings),
                   liquidation_distances=distances or {})


def leg(symbol: str, state: OrderState, cid: str) -> SimpleNamespace:
    return SimpleNamespace(order=SimpleNamespace(symbol=symbol), client_order_id=cid,
                           result=SimpleNamespace(state=state))


def report(outcome="done", error=None, verdict=None, executed=()) -> SimpleNamespace:
    return SimpleNamespace(cycle_id="c-1", outcome=outcome, error=error, verdict=verdict, executed=list(executed))


def kinds(alerts: list[Alert]) -> list[str]:
    return [a.kind for a in alerts]


def test_alerts_for_cycle_when_clean_cycle_then_none():
    """A done cycle, ACTIVE, all legs filled and far from liquidation raises nothing."""
    r = report(verdict=verdict(distances={BTC: Decimal("0.6")}),
               executed=[leg(BTC, OrderState.FILLED, "c1"), leg(ETH, OrderState.FILLED, "c2")])
    assert alerts_for_cycle(r, liquidation_warning=WARN) == []


def test_alerts_for_cycle_when_failed_then_cycle_failed_critical():
    """A failed cycle without a verdict gives one critical cycle_failed carrying the error."""
    [a] = alerts_for_cycle(report("failed", error="NetworkError: timeout"), liquidation_warning=WARN)
    assert (a.kind, a.severity, a.key) == ("cycle_failed", "critical", "cycle_failed")
    assert a.detail == "NetworkError: timeout" and a.fields["cycle_id"] == "c-1"


def test_alerts_for_cycle_when_denials_then_one_risk_denied_warning_each():
    """Each denial is a warning keyed by code and symbol; a book-level denial uses "book"."""
    r = report("denied", verdict=verdict(denials=[Finding("FUNDING", BTC, "apr 45%"), Finding("MARGIN", None, "72%")]))
    alerts = alerts_for_cycle(r, liquidation_warning=WARN)
    assert [(a.kind, a.severity, a.key) for a in alerts] == [
        ("risk_denied", "warning", f"risk_denied:FUNDING:{BTC}"),
        ("risk_denied", "warning", "risk_denied:MARGIN:book"),
    ]
    assert alerts[0].detail == "apr 45%" and alerts[0].fields["code"] == "FUNDING"


@pytest.mark.parametrize("state", [TradingState.REDUCING, TradingState.HALTED])
def test_alerts_for_cycle_when_state_not_active_then_trading_state_critical(state):
    """REDUCING and HALTED are critical, keyed by state, with the reasons from the warnings."""
    r = report(verdict=verdict(state, warnings=[Finding("LIQUIDATION", BTC, "too close")]))
    [a] = alerts_for_cycle(r, liquidation_warning=WARN)
    assert (a.kind, a.severity, a.key) == ("trading_state", "critical", f"trading_state:{state.value}")
    assert "LIQUIDATION" in a.detail and a.fields["state"] == state.value


def test_alerts_for_cycle_when_distance_under_warning_then_liquidation_warning_per_symbol():
    """Only positions closer to liquidation than the warning level alert, each under its own key."""
    r = report(verdict=verdict(distances={BTC: Decimal("0.30"), ETH: Decimal("0.35")}))
    [a] = alerts_for_cycle(r, liquidation_warning=WARN)
    assert (a.kind, a.severity, a.key) == ("liquidation_warning", "warning", f"liquidation_warning:{BTC}")
    assert a.fields["distance"] == "0.30" and "30.00%" in a.title


def test_alerts_for_cycle_when_order_unknown_then_order_unknown_critical():
    """An order whose outcome is unknown is critical, keyed by its client order id."""
    r = report("partial", executed=[leg(BTC, OrderState.UNKNOWN, "cid-9")])
    [a] = alerts_for_cycle(r, liquidation_warning=WARN)
    assert (a.kind, a.severity, a.key) == ("order_unknown", "critical", "order_unknown:cid-9")
    assert a.fields["symbol"] == BTC


@pytest.mark.parametrize("other", [OrderState.REJECTED, OrderState.CANCELED, OrderState.NOT_PLACED,
                                   OrderState.PARTIALLY_FILLED])
def test_alerts_for_cycle_when_one_leg_filled_and_other_not_then_one_legged_hedge(other):
    """A filled leg next to a leg that did not fill completely leaves the hedge one-legged: critical."""
    r = report("partial", executed=[leg(BTC, OrderState.FILLED, "c1"), leg(ETH, other, "c2")])
    [a] = alerts_for_cycle(r, liquidation_warning=WARN)
    assert (a.kind, a.severity, a.key) == ("one_legged_hedge", "critical", f"one_legged_hedge:{ETH}")
    assert a.fields["filled"].startswith("c1") and other.value in a.detail


@pytest.mark.parametrize(
    "states",
    [[OrderState.PARTIALLY_FILLED], [OrderState.REJECTED, OrderState.REJECTED], [OrderState.FILLED]],
    ids=["lone_partial", "nothing_filled", "lone_filled"],
)
def test_alerts_for_cycle_when_no_leg_traded_beside_a_failed_one_then_no_one_legged_hedge(states):
    """It takes a traded leg and a *different* incomplete leg to be one-legged."""
    r = report("partial", executed=[leg(BTC, s, f"c{i}") for i, s in enumerate(states)])
    assert "one_legged_hedge" not in kinds(alerts_for_cycle(r, liquidation_warning=WARN))


def test_alerts_for_cycle_when_everything_wrong_then_every_cycle_kind_critical_first():
    """One bad cycle produces each cycle-derived kind once, critical ones before warnings."""
    r = report(
        "failed",
        error="boom",
        verdict=verdict(TradingState.HALTED, denials=[Finding("FUNDING", BTC, "apr")], distances={BTC: Decimal("0.1")}),
        executed=[leg(BTC, OrderState.FILLED, "c1"), leg(ETH, OrderState.UNKNOWN, "c2")],
    )
    alerts = alerts_for_cycle(r, liquidation_warning=WARN)
    assert sorted(kinds(alerts)) == sorted(["cycle_failed", "trading_state", "risk_denied", "liquidation_warning",
                                            "order_unknown", "one_legged_hedge"])
    severities = [a.severity for a in alerts]
    assert severities == sorted(severities, key=["critical", "warning"].index)


def test_alerts_for_cycle_when_gate_denied_a_leg_beside_a_filled_one_then_risk_denied_not_one_legged():
    """A leg the gate denied was never sent (DENIED, in verdict.denied, not among the executed): the
    balanced-book gate accounted for it, so it is a denial warning, not a one-legged hedge."""
    from rebalancer.domain import PlannedOrder, Side

    denied = PlannedOrder("ETH", ETH, Side.BUY, Decimal("0.5"), Decimal("0.5"), Decimal("2000"), False,
                          client_order_id="c2", denied_by=("FUNDING",))
    v = replace(verdict(denials=[Finding("FUNDING", ETH, "apr 45%")]), denied=(denied,))
    r = report("partial", verdict=v, executed=[leg(BTC, OrderState.FILLED, "c1")])
    alerts = alerts_for_cycle(r, liquidation_warning=WARN)
    assert [(a.kind, a.key) for a in alerts] == [("risk_denied", f"risk_denied:FUNDING:{ETH}")]


@pytest.mark.parametrize("kind,severity", [("fired", "warning"), ("vanished", "warning"), ("rejected", "critical"),
                                           ("unprotected", "critical"), ("cancel_failed", "critical")])
def test_alerts_for_cycle_when_a_stop_event_needs_an_operator_then_protective_stop_alert(kind, severity):
    """Each protective-stop event an operator must know of is one alert, keyed by event and asset."""
    from rebalancer.protect import ProtectionReport, StopEvent

    events = [StopEvent(kind, "BTC", BTC, "rs1", Decimal("50000"), Decimal("0.025"), "why"),
              StopEvent("kept", "ETH", ETH, "rs2", Decimal("1500"), Decimal("0.5")),
              StopEvent("placed", "ETH", ETH, "rs3", Decimal("1500"), Decimal("0.5"))]
    r = report(verdict=verdict())
    r.protection = ProtectionReport(events=events)
    [a] = alerts_for_cycle(r, liquidation_warning=WARN)
    assert (a.kind, a.severity, a.key) == ("protective_stop", severity, f"protective_stop:{kind}:BTC")
    assert a.fields["client_order_id"] == "rs1" and a.fields["trigger"] == "50000" and a.detail == "why"
    assert BTC in a.title


@pytest.mark.parametrize("state,severity", [("done", "info"), ("unknown", "critical"), ("failed", "critical"),
                                            ("refused", "warning")])
def test_alerts_for_cycle_when_a_top_up_happened_or_was_needed_then_margin_top_up_alert(state, severity):
    from rebalancer.topup import TopUpResult

    r = report(verdict=verdict())
    r.top_up = TopUpResult("tc1" if state != "refused" else None, "USDT",
                           Decimal("120") if state != "refused" else Decimal(0), state, "stressed equity under")
    [a] = alerts_for_cycle(r, liquidation_warning=WARN)
    assert (a.kind, a.severity, a.key) == ("margin_top_up", severity, f"margin_top_up:{state}")
    assert a.fields["state"] == state and a.fields["currency"] == "USDT"


# --------------------------------------------------------------------------- deadline, retries, queue


async def _hang(request: httpx.Request) -> httpx.Response:
    import asyncio

    await asyncio.sleep(3600)  # a webhook that accepts the request and never answers
    return httpx.Response(200)  # pragma: no cover


async def test_deliver_when_webhook_never_answers_then_failed_within_deadline_not_retried():
    """The deadline bounds the whole request (httpx's timeouts bound each read): a hanging webhook
    fails after timeout_s, and is not retried (it may have received the alert)."""
    import time

    calls = []

    async def handler(request):
        calls.append(request)
        return await _hang(request)

    sender = AlertSender(GENERIC_URL, transport=httpx.MockTransport(handler), timeout_s=0.3, max_retries=3)
    start = time.monotonic()
    with capture_logs() as logs:
        assert await sender.deliver(alert()) == "failed"
    assert time.monotonic() - start < 2
    assert len(calls) == 1
    assert [e["error"] for e in logs if e["event"] == "alert_failed"] == ["deadline"]
    await sender.aclose()


async def test_deliver_when_5xx_every_time_then_max_retries_with_backoff():
    """max_retries = 2: three attempts, 1 s then 2 s apart, then "failed"."""
    sender, router, _, sleeps = make_sender(GENERIC_URL, max_retries=2)
    route = router.post(GENERIC_URL).respond(503)

    assert await sender.deliver(alert()) == "failed"

    assert route.call_count == 3 and sleeps.calls == [1.0, 2.0]
    await sender.aclose()


async def test_deliver_when_suppressed_or_unconfigured_then_not_counted_as_failed():
    """Rate limiting and a missing URL are not delivery failures."""
    sender, router, _, _ = make_sender(GENERIC_URL)
    router.post(GENERIC_URL).respond(200)
    assert await sender.deliver(alert()) == "sent"
    assert await sender.deliver(alert()) == "suppressed"
    assert await AlertSender("").deliver(alert()) == "skipped"
    await sender.aclose()


async def test_queue_when_webhook_hangs_then_submit_never_blocks_and_failures_reported():
    """submit() returns at once; the drain task delivers in the background and reports each failure."""
    import asyncio
    import time

    from rebalancer.alerts import AlertQueue

    sender = AlertSender(GENERIC_URL, transport=httpx.MockTransport(_hang), timeout_s=0.2, min_interval_s=0)
    failed, sent = [], []
    queue = AlertQueue(sender, maxsize=10, on_failed=failed.append, on_sent=sent.append)
    queue.start()
    start = time.monotonic()
    for i in range(3):
        queue.submit(alert(key=f"k{i}"))
    assert time.monotonic() - start < 0.05
    assert await queue.drain(timeout=5)
    assert [a.key for a in failed] == ["k0", "k1", "k2"] and sent == []
    await queue.aclose()
    assert queue._task is None  # noqa: SLF001


async def test_queue_when_full_then_oldest_dropped_and_counted():
    """A full queue drops its oldest alert (reported to on_dropped) and keeps the newest."""
    from rebalancer.alerts import AlertQueue

    router = respx.Router(assert_all_called=False)
    route = router.post(GENERIC_URL).respond(200)
    sender = AlertSender(GENERIC_URL, transport=httpx.MockTransport(router.async_handler), min_interval_s=0)
    dropped, sent = [], []
    queue = AlertQueue(sender, maxsize=2, on_dropped=dropped.append, on_sent=sent.append)
    for i in range(4):  # not started yet: nothing drains
        queue.submit(alert(key=f"k{i}"))
    assert [a.key for a in dropped] == ["k0", "k1"] and len(queue) == 2 and queue.dropped == 2
    queue.start()
    assert await queue.drain(timeout=5)
    assert [a.key for a in sent] == ["k2", "k3"] and route.call_count == 2
    await queue.aclose()


async def test_queue_when_closing_with_hanging_webhook_then_bounded():
    """aclose(timeout) gives queued alerts that long, then cancels: shutdown is never held."""
    import time

    from rebalancer.alerts import AlertQueue

    sender = AlertSender(GENERIC_URL, transport=httpx.MockTransport(_hang), timeout_s=30)
    queue = AlertQueue(sender)
    queue.start()
    queue.submit(alert())
    start = time.monotonic()
    with capture_logs():
        await queue.aclose(timeout=0.3)
    assert time.monotonic() - start < 2


def test_from_settings_when_delivery_knobs_set_then_sender_uses_them():
    """alerts.timeout_s and alerts.max_retries reach the sender."""
    s = AlertsSettings(webhook_url=GENERIC_URL, timeout_s=2.5, max_retries=4, queue_size=7)
    sender = from_settings(s)
    assert sender.timeout_s == 2.5 and sender.max_retries == 4
