"""Operator alerts: what went wrong in a cycle, posted to a Slack/Discord/Telegram/generic webhook.

Sending never raises and never logs the webhook URL (it embeds the token); a repeating key is rate-limited.
Each delivery attempt has a total deadline (httpx's timeouts bound each read, so a webhook trickling
a byte every few seconds would otherwise hold a request open forever), retries are bounded with
backoff, and the daemon never awaits a webhook: `AlertQueue` takes alerts without blocking and
drains them in its own task, dropping the oldest when full.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import structlog

from .domain import CycleOutcome, OrderState, TradingState

__all__ = [
    "KINDS",
    "SEVERITIES",
    "Alert",
    "AlertQueue",
    "AlertSender",
    "alerts_for_cycle",
    "config_reload_failed_alert",
    "consecutive_failures_alert",
    "from_settings",
    "render_text",
    "trading_state_alert",
]

log = structlog.get_logger("rebalancer.alerts")

SERVICE = "rebalancer"
SEVERITIES = ("info", "warning", "critical")
KINDS = (
    "cycle_failed",
    "risk_denied",
    "trading_state",
    "liquidation_warning",
    "order_unknown",
    "one_legged_hedge",
    "config_reload_failed",
    "consecutive_failures",
    "external_change",
    "protective_stop",
    "margin_top_up",
)
# A protective stop's event (protect.StopEvent.kind) -> the alert's severity. A fired stop closed a
# hedge (the solver balances the book again); the others leave a hedge without a resting stop.
_STOP_SEVERITY = {"fired": "warning", "vanished": "warning", "rejected": "critical", "unprotected": "critical",
                  "cancel_failed": "critical"}
_STOP_TITLE = {
    "fired": "Protective stop fired on {symbol}",
    "vanished": "Protective stop on {symbol} vanished from the exchange",
    "rejected": "Exchange refused the protective stop on {symbol}: {asset} is shrink-only",
    "unprotected": "{symbol} hedge has no protective stop",
    "cancel_failed": "Cancelling the protective stop on {symbol} failed",
}


@dataclass(frozen=True)
class Alert:
    """One thing an operator should know about; `key` groups repeats of the same condition for rate limiting."""

    kind: str
    severity: str
    title: str
    detail: str = ""
    key: str = ""  # defaults to `kind`
    fields: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"alert severity must be one of {', '.join(SEVERITIES)} (got {self.severity!r})")
        if not self.key:
            object.__setattr__(self, "key", self.kind)


# --------------------------------------------------------------------------- payload formats


def render_text(alert: Alert, suppressed: int = 0) -> str:
    """The human-readable message every chat format shares: "[CRITICAL] title", detail, then the fields."""
    lines = [f"[{alert.severity.upper()}] {alert.title}"]
    if alert.detail:
        lines.append(alert.detail)
    lines += [f"{name}: {value}" for name, value in alert.fields.items()]
    if suppressed:
        lines.append(_suppressed_note(suppressed))
    return "\n".join(lines)


def _suppressed_note(n: int) -> str:
    return f"({n} similar suppressed)"


def _truncate(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


@dataclass(frozen=True)
class _Context:
    suppressed: int
    at: datetime
    telegram_chat_id: str


def _generic(alert: Alert, ctx: _Context) -> dict[str, Any]:
    detail = alert.detail
    if ctx.suppressed:
        detail = f"{detail} {_suppressed_note(ctx.suppressed)}".strip()
    return {
        "kind": alert.kind,
        "severity": alert.severity,
        "title": alert.title,
        "detail": detail,
        "fields": dict(alert.fields),
        "service": SERVICE,
        "at": ctx.at.isoformat(),
    }


def _slack_escape(text: str) -> str:
    # Slack reads <...> as links/mentions and & as an entity start; error text must show literally.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack(alert: Alert, ctx: _Context) -> dict[str, Any]:
    return {"text": _truncate(_slack_escape(render_text(alert, ctx.suppressed)), 40000)}


def _discord(alert: Alert, ctx: _Context) -> dict[str, Any]:
    # An exchange error echoing "@everyone" must not ping the whole server.
    return {"content": _truncate(render_text(alert, ctx.suppressed), 2000), "allowed_mentions": {"parse": []}}


def _telegram(alert: Alert, ctx: _Context) -> dict[str, Any]:
    # No parse_mode: plain text, so underscores in codes and symbols need no escaping.
    return {"chat_id": ctx.telegram_chat_id, "text": _truncate(render_text(alert, ctx.suppressed), 4096)}


FORMATTERS: dict[str, Callable[[Alert, _Context], dict[str, Any]]] = {
    "generic": _generic,
    "slack": _slack,
    "discord": _discord,
    "telegram": _telegram,
}


# --------------------------------------------------------------------------- sending


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class AlertSender:
    """Posts alerts to one webhook, at most one per `key` every `min_interval_s`; failures are logged, not raised."""

    def __init__(
        self,
        webhook_url: str,
        fmt: str = "generic",
        *,
        telegram_chat_id: str = "",
        min_interval_s: float = 300,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 5.0,
        max_retries: int = 1,
        retry_delay_s: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        utc_now: Callable[[], datetime] = _utc_now,
    ) -> None:
        if fmt not in FORMATTERS:
            raise ValueError(f"alert format must be one of {', '.join(FORMATTERS)} (got {fmt!r})")
        self._url = webhook_url.strip()
        if fmt == "telegram" and self._url and not telegram_chat_id:
            raise ValueError("alert format telegram needs telegram_chat_id")
        self._format = FORMATTERS[fmt]
        self.fmt = fmt
        self._chat_id = telegram_chat_id
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._retry_delay_s = retry_delay_s
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self._sleep = sleep
        self._utc_now = utc_now
        parts = urlsplit(self._url)
        # Only the host is safe to log: Slack/Discord keep the token in the path, Telegram in "/bot<TOKEN>/".
        self.host = parts.hostname or ""
        self._secret_parts = _secret_parts(self._url)
        self._last_sent: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._client = httpx.AsyncClient(transport=transport, timeout=timeout_s) if self._url else None

    @property
    def enabled(self) -> bool:
        return bool(self._url)

    async def send(self, alert: Alert) -> bool:
        """Post the alert; True if the webhook accepted it, False if unconfigured, rate-limited or failed."""
        return await self.deliver(alert) == "sent"

    async def deliver(self, alert: Alert) -> str:
        """Post the alert: "sent", "failed" (the webhook did not take it), "suppressed" (rate limit)
        or "skipped" (no webhook). Bounded: at most (max_retries + 1) attempts of timeout_s each,
        plus the backoff between them."""
        if self._client is None:
            log.debug("alert_skipped", reason="no_webhook_url", kind=alert.kind, key=alert.key)
            return "skipped"
        now = self._clock()
        last = self._last_sent.get(alert.key)
        if last is not None and now - last < self._min_interval_s:
            self._suppressed[alert.key] = self._suppressed.get(alert.key, 0) + 1
            log.debug("alert_suppressed", kind=alert.kind, key=alert.key, suppressed=self._suppressed[alert.key])
            return "suppressed"
        # Claim the slot before awaiting so a concurrent send of the same key is suppressed, not duplicated.
        self._last_sent[alert.key] = now
        suppressed = self._suppressed.pop(alert.key, 0)
        payload = self._format(alert, _Context(suppressed, self._utc_now(), self._chat_id))
        if await self._post(alert, payload):
            log.info("alert_sent", kind=alert.kind, key=alert.key, severity=alert.severity, host=self.host,
                     suppressed=suppressed)
            return "sent"
        # Not delivered: the next occurrence may try again, and still reports what was suppressed before.
        if last is None:
            self._last_sent.pop(alert.key, None)
        else:
            self._last_sent[alert.key] = last
        if suppressed:
            self._suppressed[alert.key] = self._suppressed.get(alert.key, 0) + suppressed
        return "failed"

    async def _post(self, alert: Alert, payload: Mapping[str, Any]) -> bool:
        assert self._client is not None
        body = json.dumps(payload).encode()
        headers = {"content-type": "application/json"}
        failure: dict[str, Any]
        attempts = self.max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                # The deadline covers the whole request: connect, send, and the complete response.
                response = await asyncio.wait_for(
                    self._client.post(self._url, content=body, headers=headers), self.timeout_s)
            except asyncio.TimeoutError:
                # The webhook may have received it and be slow to answer: do not repeat it.
                failure, retry = {"error": "deadline", "message": f"no complete answer within {self.timeout_s}s"}, False
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # The request never reached the webhook, so a second try cannot post the alert twice.
                failure, retry = {"error": type(exc).__name__, "message": self._scrub(str(exc))}, True
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                # A read timeout may already have been delivered; do not repeat it.
                failure, retry = {"error": type(exc).__name__, "message": self._scrub(str(exc))}, False
            else:
                if response.is_success:
                    return True
                failure = {"status": response.status_code, "body": self._scrub(response.text)[:200]}
                retry = response.status_code >= 500
            if retry and attempt < attempts:
                log.warning("alert_retrying", kind=alert.kind, key=alert.key, host=self.host, **failure)
                await self._sleep(self._retry_delay_s * 2 ** (attempt - 1))  # backoff: 1x, 2x, 4x ...
                continue
            log.error("alert_failed", kind=alert.kind, key=alert.key, host=self.host, attempts=attempt, **failure)
            return False
        return False  # pragma: no cover - the loop always returns

    def _scrub(self, text: str) -> str:
        """Exception and response text may echo the URL; cut the token-bearing parts out before logging."""
        for part in self._secret_parts:
            text = text.replace(part, "***")
        return text

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def __aenter__(self) -> AlertSender:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _secret_parts(url: str) -> tuple[str, ...]:
    """Substrings of the URL that may carry its credential, longest first so the whole URL goes in one piece."""
    parts = urlsplit(url)
    candidates = {url, parts.path, parts.query, parts.password or ""}
    for segment in parts.path.split("/"):
        if len(segment) >= 16:  # ids and tokens are long; "webhooks" or "sendMessage" are not secrets
            candidates.add(segment)
            # Telegram's path segment is "bot<TOKEN>"; an error may echo the bare token.
            candidates.add(segment.removeprefix("bot"))
    candidates.update(value for _, value in parse_qsl(parts.query) if len(value) >= 8)
    return tuple(sorted((c for c in candidates if c and c != "/"), key=len, reverse=True))


def from_settings(alerts_settings: Any, **kwargs: Any) -> AlertSender:
    """An AlertSender from `Settings.alerts`; `kwargs` (transport, clock, ...) pass through for tests."""
    kwargs.setdefault("timeout_s", getattr(alerts_settings, "timeout_s", 10.0))
    kwargs.setdefault("max_retries", getattr(alerts_settings, "max_retries", 2))
    return AlertSender(
        alerts_settings.webhook_url.get_secret_value(),
        alerts_settings.format,
        telegram_chat_id=alerts_settings.telegram_chat_id,
        min_interval_s=alerts_settings.min_interval_s,
        **kwargs,
    )


Callback = Callable[[Alert], None]


def _ignore(alert: Alert) -> None:
    return None


class AlertQueue:
    """A bounded queue in front of an AlertSender, drained by its own task.

    `submit` never blocks and never raises: a full queue drops its *oldest* alert (the newest says
    more about now) and reports it to `on_dropped`. The drain task delivers one alert at a time
    (each bounded by the sender's deadline and retries) and reports `on_sent` / `on_failed`.
    """

    def __init__(self, sender: AlertSender, *, maxsize: int = 100, on_sent: Callback = _ignore,
                 on_failed: Callback = _ignore, on_dropped: Callback = _ignore) -> None:
        if maxsize < 1:
            raise ValueError("alert queue size must be at least 1")
        self.sender = sender
        self.maxsize = maxsize
        self.on_sent, self.on_failed, self.on_dropped = on_sent, on_failed, on_dropped
        self._items: deque[Alert] = deque()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._busy = False
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing being delivered."""
        return not self._items and not self._busy

    def submit(self, alert: Alert) -> None:
        if not self.sender.enabled:
            log.debug("alert_skipped", reason="no_webhook_url", kind=alert.kind, key=alert.key)
            return
        if len(self._items) >= self.maxsize:
            oldest = self._items.popleft()
            self.dropped += 1
            log.error("alert_dropped", reason="queue_full", kind=oldest.kind, key=oldest.key,
                      queue_size=self.maxsize)
            self._call(self.on_dropped, oldest)
        self._items.append(alert)
        if self._wakeup is not None:
            self._wakeup.set()

    def start(self) -> None:
        """Start the drain task (needs a running loop); alerts submitted before are kept."""
        if self._task is None or self._task.done():
            self._wakeup = asyncio.Event()
            if self._items:
                self._wakeup.set()
            self._task = asyncio.create_task(self._drain(), name="alerts")

    async def _drain(self) -> None:
        assert self._wakeup is not None
        while True:
            if not self._items:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            alert = self._items.popleft()
            self._busy = True
            try:
                status = await self.sender.deliver(alert)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug in formatting must not end the drain task
                log.error("alert_failed", kind=alert.kind, key=alert.key, error=type(exc).__name__)
                status = "failed"
            finally:
                self._busy = False
            if status == "sent":
                self._call(self.on_sent, alert)
            elif status == "failed":
                self._call(self.on_failed, alert)

    @staticmethod
    def _call(callback: Callback, alert: Alert) -> None:
        try:
            callback(alert)
        except Exception as exc:
            log.error("alert_callback_failed", kind=alert.kind, error=str(exc))

    async def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the queue to empty; True if it did."""
        deadline = time.monotonic() + timeout
        while not self.idle:
            if self._task is None or self._task.done() or time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def aclose(self, timeout: float = 0.0) -> None:
        """Give queued alerts up to `timeout` seconds, then stop the task and close the sender."""
        if timeout > 0:
            await self.drain(timeout)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._items:
            log.warning("alerts_not_delivered_at_shutdown", count=len(self._items))
        await self.sender.aclose()


# --------------------------------------------------------------------------- alerts from a cycle

_HALTING_STATES = {TradingState.REDUCING.value, TradingState.HALTED.value}
# Every state but FILLED leaves a leg short of what the plan asked for (UNKNOWN included: it may not have traded).
_LEG_INCOMPLETE = {s.value for s in OrderState} - {OrderState.FILLED.value}
_LEG_TRADED = {OrderState.FILLED.value, OrderState.PARTIALLY_FILLED.value}


def _value(enum_or_str: Any) -> str:
    return str(getattr(enum_or_str, "value", enum_or_str))


def _pct(d: Decimal) -> str:
    return f"{d:.2%}"


def alerts_for_cycle(report: Any, *, liquidation_warning: Decimal) -> list[Alert]:
    """The alerts one finished cycle calls for (duck-typed over service.CycleReport), critical ones first."""
    cycle = {"cycle_id": str(report.cycle_id)}
    alerts: list[Alert] = []
    if report.outcome == CycleOutcome.FAILED or report.error:
        alerts.append(Alert("cycle_failed", "critical", "Rebalance cycle failed", str(report.error or ""),
                            "cycle_failed", dict(cycle, outcome=str(report.outcome))))

    if getattr(report, "external_action", None) in ("halted", "adopted"):
        alerts.append(external_change_alert(report.external_change, report.external_action, cycle))

    verdict = report.verdict
    if verdict is not None:
        state = _value(verdict.state)
        if state in _HALTING_STATES:
            reasons = "; ".join(f"{w.code} {w.symbol or 'book'}: {w.detail}" for w in verdict.warnings)
            alerts.append(Alert("trading_state", "critical", f"Trading state {state}", reasons,
                                f"trading_state:{state}", dict(cycle, state=state)))
        for finding in verdict.denials:
            symbol = finding.symbol or "book"
            alerts.append(Alert("risk_denied", "warning", f"Risk gate denied {symbol}: {finding.code}",
                                finding.detail, f"risk_denied:{finding.code}:{symbol}",
                                dict(cycle, code=finding.code, symbol=symbol)))
        for symbol, distance in sorted(verdict.liquidation_distances.items()):
            if distance < liquidation_warning:
                alerts.append(Alert(
                    "liquidation_warning", "warning", f"{symbol} is {_pct(distance)} from liquidation",
                    f"liquidation distance {_pct(distance)} < warning level {_pct(liquidation_warning)}",
                    f"liquidation_warning:{symbol}",
                    dict(cycle, symbol=symbol, distance=str(distance), threshold=str(liquidation_warning)),
                ))

    executed = list(report.executed or ())
    for e in executed:
        if _value(e.result.state) == OrderState.UNKNOWN.value:
            alerts.append(Alert(
                "order_unknown", "critical", f"Order {e.client_order_id} outcome unknown",
                "the request may have executed; no new orders until it is looked up by client id",
                f"order_unknown:{e.client_order_id}",
                dict(cycle, client_order_id=str(e.client_order_id), symbol=str(e.order.symbol)),
            ))
    alerts += _one_legged(executed, cycle)
    alerts += stop_alerts(getattr(report, "protection", None), cycle)
    top = getattr(report, "top_up", None)
    if top is not None:  # moved, unknown, failed, or needed but not sent: each is the operator's to know
        from .topup import top_up_alert  # topup imports this module

        alerts.append(top_up_alert(top, cycle_id=str(report.cycle_id)))
    # Most severe first, so a caller that stops early (or a reader) meets the critical ones.
    alerts.sort(key=lambda a: -SEVERITIES.index(a.severity))
    return alerts


def stop_alerts(protection: Any, cycle: Mapping[str, str]) -> list[Alert]:
    """One alert per protective-stop event that needs an operator (protect.StopEvent.alert)."""
    if protection is None:
        return []
    out = []
    for e in protection.events:
        if not e.alert:
            continue
        title = _STOP_TITLE.get(e.kind, "Protective stop {kind} on {symbol}").format(
            symbol=e.symbol, asset=e.asset, kind=e.kind)
        fields = dict(cycle, event=e.kind, asset=e.asset, symbol=e.symbol)
        if e.client_order_id:
            fields["client_order_id"] = e.client_order_id
        if e.trigger is not None:
            fields["trigger"] = str(e.trigger)
        out.append(Alert("protective_stop", _STOP_SEVERITY.get(e.kind, "warning"), title, e.detail,
                         f"protective_stop:{e.kind}:{e.asset}", fields))
    return out


def _one_legged(executed: Iterable[Any], cycle: dict[str, str]) -> list[Alert]:
    """Some legs traded while another did not complete: the book is now partly hedged."""
    legs = [(e, _value(e.result.state)) for e in executed]
    incomplete = [(e, s) for e, s in legs if s in _LEG_INCOMPLETE]
    traded = [e for e, s in legs if s in _LEG_TRADED]
    # A lone partial fill is both traded and incomplete: it takes a *different* leg to leave the book lopsided.
    if not any(t is not i for t in traded for i, _ in incomplete):
        return []
    symbols = sorted({str(e.order.symbol) for e, _ in incomplete})
    detail = ", ".join(f"{e.order.symbol} {e.client_order_id} {s}" for e, s in incomplete)
    return [Alert(
        "one_legged_hedge", "critical", "One-legged hedge: some legs filled, others did not",
        f"incomplete legs: {detail}", "one_legged_hedge:" + ",".join(symbols),
        dict(cycle, filled=", ".join(str(e.client_order_id) for e in traded), incomplete=", ".join(symbols)),
    )]


# --------------------------------------------------------------------------- alerts the daemon raises


def trading_state_alert(info: Any) -> Alert:
    """The trading state's owner changed to REDUCING or HALTED (TradingStateInfo: state, reason, since)."""
    state = _value(info.state)
    since = info.since.isoformat() if getattr(info, "since", None) else ""
    return Alert("trading_state", "critical", f"Trading state {state}", str(info.reason or ""),
                 f"trading_state:{state}", {"state": state, "reason": str(info.reason or ""), "since": since})


def external_change_alert(found: Any, action: str, context: Mapping[str, str] | None = None) -> Alert:
    """Positions or open orders on the hedge account the journal cannot explain (reconcile.Reconciliation);
    `action` is what rebalance.on_external_change did: "halted" or "adopted"."""
    symbols = sorted({c.symbol for c in found.changes} | {o.symbol for o in found.unknown_orders})
    then = ("trading HALTED until `rebalancer resume` (which adopts the exchange's positions)" if action == "halted"
            else "the exchange's positions adopted as the new baseline; planning goes on from them")
    return Alert("external_change", "critical", f"External change on {', '.join(symbols) or 'the hedge account'}",
                 f"{found.reason()}: {then}", "external_change:" + ",".join(symbols),
                 dict(context or {}, action=action, symbols=", ".join(symbols)))


def consecutive_failures_alert(count: int, last_error: str = "") -> Alert:
    return Alert("consecutive_failures", "critical", f"{count} consecutive cycles failed", last_error,
                 "consecutive_failures", {"count": str(count)})


def config_reload_failed_alert(problems: Iterable[str]) -> Alert:
    return Alert("config_reload_failed", "warning", "Config reload failed; keeping the previous config",
                 "\n".join(problems), "config_reload_failed")
