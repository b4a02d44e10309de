"""The read-only dashboard on the daemon's health server: GET /dashboard (the page), /dashboard/data (its
JSON) and /dashboard/plotly.min.js (the charting library the plotly package ships).

Access: bound to a loopback host no token is needed; a configured `health.token` is always required
(`Authorization: Bearer <token>`, or `?token=` once on the page, which then sends the header itself);
bound beyond loopback without a token, the dashboard answers 403 to everyone. The data is built from the
daemon's last cycle report (in memory) and the journal, read in a worker thread: never under the cycle
lock, so an open page cannot slow a cycle. Configured credentials are scrubbed from everything served.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets as _secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

import structlog
from aiohttp import web

from .html_report import CHARTS_CSS, CHARTS_JS, charts_html, plotly_js, plotly_version
from .settings import HealthSettings, Settings, is_loopback

log = structlog.get_logger("rebalancer.dashboard")

__all__ = ["Dashboard", "Denied", "add_routes", "check_access", "configured_secrets", "scrub"]

RECENT = 20  # cycles and orders shown
SCRUBBED = "[redacted]"


# --------------------------------------------------------------------------- access


@dataclass(frozen=True)
class Denied:
    status: int  # 401: no or wrong token; 403: no token configured beyond loopback
    message: str


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def check_access(health: HealthSettings, authorization: str | None, query_token: str | None = None) -> Denied | None:
    """None when the request may see the dashboard, else why not. A configured token is required on any
    host; without one only a loopback-bound server answers. Tokens compare in constant time."""
    token = health.token.get_secret_value()
    if not token:
        if is_loopback(health.host):
            return None
        return Denied(403, f"the dashboard is served beyond loopback (health.host = {health.host!r}) and no token "
                           "is configured: set health.token (env REBALANCER_HEALTH__TOKEN or the secret file "
                           "health__token) and open it with Authorization: Bearer <token>")
    given = _bearer(authorization) or (query_token or None)
    if given is None:
        return Denied(401, "the dashboard needs its token: send Authorization: Bearer <health.token> "
                           "(or open the page once as /dashboard?token=...)")
    if not hmac.compare_digest(given.encode(), token.encode()):
        return Denied(401, "wrong dashboard token (health.token)")
    return None


# --------------------------------------------------------------------------- no secret served


def configured_secrets(settings: Settings) -> list[str]:
    """Every credential value of the configuration (API keys and secrets, passphrases, the webhook URL,
    the dashboard token), longest first so a secret containing another is replaced whole."""
    values: list[str] = []
    for venue in settings.venues.values():
        for name in ("api_key", "api_secret", "password"):
            secret = getattr(venue, name, None)
            if secret is not None:
                values.append(secret.get_secret_value())
    values.append(settings.alerts.webhook_url.get_secret_value())
    values.append(settings.health.token.get_secret_value())
    return sorted({v for v in values if v and len(v) >= 4}, key=len, reverse=True)


def scrub(value: Any, secrets: Iterable[str]) -> Any:
    """`value` (JSON-able) with every occurrence of a secret in its strings replaced (an exchange's error
    text may quote a request; the dashboard must never show a credential)."""
    secrets = list(secrets)
    if not secrets:
        return value

    def clean(v: Any) -> Any:
        if isinstance(v, str):
            for s in secrets:
                if s in v:
                    v = v.replace(s, SCRUBBED)
            return v
        if isinstance(v, Mapping):
            return {clean(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return clean(value)


# --------------------------------------------------------------------------- the data


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if value is not None else None


def _pick(d: Mapping[str, Any] | None, *keys: str) -> dict[str, Any]:
    d = d or {}
    return {k: d.get(k) for k in keys}


def cycle_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Allocation and hedges of one cycle, from its `--json` document (report.report_json) or the same
    keys rebuilt from its journal row (plan + result)."""
    allocation = [_pick(a, "asset", "target_weight", "effective_weight", "drift", "effective_value", "hedgeable")
                  for a in doc.get("assets") or []]
    protection = doc.get("protection") or {}
    stops = {s.get("asset"): s for s in protection.get("stops") or []}
    before = {p.get("asset"): p for p in doc.get("positions") or []}
    after = doc.get("positions_after") or {}
    hedges = []
    for asset in sorted({a for a, amt in after.items() if _nonzero(amt)} | set(stops)
                        | ({a for a, p in before.items() if _nonzero(p.get("amount"))} if not after else set())):
        pos, stop = before.get(asset, {}), stops.get(asset)
        mark = (stop or {}).get("mark_price") or pos.get("mark_price")
        liq = (stop or {}).get("liquidation_price") or pos.get("liquidation_price")
        hedges.append({
            "asset": asset,
            "symbol": (stop or {}).get("symbol") or pos.get("symbol"),
            "amount": after.get(asset, pos.get("amount")),
            "mark_price": mark,
            "liquidation_price": liq,
            "liquidation_distance": _distance(liq, mark) or pos.get("liquidation_distance"),
            "stop": _pick(stop, "trigger_price", "distance", "state", "side", "amount", "client_order_id")
            if stop is not None else None,
        })
    return {
        "cycle_id": doc.get("cycle_id"), "kind": doc.get("kind"), "outcome": doc.get("outcome"),
        "nav": doc.get("nav"), "quote": doc.get("quote"), "assets": allocation, "hedges": hedges,
        "protection": {"enabled": bool(protection), "skipped": protection.get("skipped") or "",
                       "events": [_pick(e, "kind", "asset", "trigger", "detail") for e in protection.get("events") or []]},
    }


def _nonzero(amount: Any) -> bool:
    try:
        return amount is not None and float(amount) != 0
    except (TypeError, ValueError):
        return False


def _distance(liq: Any, mark: Any) -> str | None:
    from decimal import Decimal, InvalidOperation

    try:
        lq, mk = Decimal(str(liq)), Decimal(str(mark))
    except (InvalidOperation, ValueError, TypeError):
        return None
    if mk <= 0:
        return None
    return str((abs(lq - mk) / mk).quantize(Decimal("0.0001")))


def _journal_doc(record: Any) -> dict[str, Any]:
    """A journaled cycle as the keys cycle_view reads (the plan, then what the cycle's result kept)."""
    result = record.result or {}
    return {**(record.plan or {}), **result, "cycle_id": record.id, "kind": record.kind, "outcome": record.outcome}


def cycles_json(records: Iterable[Any]) -> list[dict[str, Any]]:
    return [{"id": c.id, "kind": c.kind, "execute": c.execute, "outcome": c.outcome, "started_at": _iso(c.started_at),
             "finished_at": _iso(c.finished_at), "error": c.error} for c in reversed(list(records))]


def orders_json(records: Iterable[Any]) -> list[dict[str, Any]]:
    return [{"client_order_id": o.client_order_id, "cycle_id": o.cycle_id, "asset": o.asset, "symbol": o.symbol,
             "side": getattr(o.side, "value", o.side), "leg": o.leg, "amount": str(o.amount),
             "state": getattr(o.state, "value", o.state), "filled": str(o.filled),
             "average": str(o.average) if o.average is not None else None,
             "created_at": _iso(o.created_at), "error": o.error_message or o.error_code}
            for o in reversed(list(records))]


class Dashboard:
    """The routes' handlers over one daemon (read-only: it reads the daemon's state and its journal)."""

    def __init__(self, daemon: Any) -> None:
        self.daemon = daemon
        self._report_key: Any = None
        self._report: dict[str, Any] | None = None
        self._report_error = ""
        self._report_lock = asyncio.Lock()  # one build at a time; never the daemon's cycle lock
        self._plotly: bytes | None = None
        self._doc: dict[str, Any] | None = None  # the last document built, served again while a cycle runs

    @property
    def settings(self) -> Settings:
        return self.daemon.settings

    def _denied(self, request: web.Request, *, page: bool = False) -> web.Response | None:
        denied = check_access(self.settings.health, request.headers.get("Authorization"),
                              request.query.get("token") if page else None)
        if denied is None:
            return None
        headers = dict(_NO_STORE)
        if denied.status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="rebalancer dashboard"'
        if page:
            return web.Response(status=denied.status, text=denied.message + "\n", headers=headers)
        return web.json_response({"error": denied.message}, status=denied.status, headers=headers)

    # ------------------------------------------------------------------ handlers

    async def page(self, request: web.Request) -> web.Response:
        refused = self._denied(request, page=True)
        if refused is not None:
            return refused
        nonce = _secrets.token_urlsafe(16)
        body = page_html(nonce=nonce, refresh_s=float(self.settings.health.dashboard_refresh_s))
        headers = {**_NO_STORE, **_SECURITY,
                   "Content-Security-Policy": (
                       "default-src 'none'; script-src 'self' 'nonce-" + nonce + "'; style-src 'self' 'unsafe-inline'; "
                       "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                       "form-action 'none'; frame-ancestors 'none'")}
        return web.Response(text=body, content_type="text/html", charset="utf-8", headers=headers)

    async def data(self, request: web.Request) -> web.Response:
        refused = self._denied(request)
        if refused is not None:
            return refused
        doc = await self.build()
        return web.json_response(doc, headers={**_NO_STORE, **_SECURITY})

    async def plotly(self, request: web.Request) -> web.StreamResponse:
        # The library's public code, no data: served without the token (a <script src> cannot send the
        # header). Cached by the browser; the ETag is the plotly package's version.
        etag = f'"plotly-{plotly_version()}"'
        headers = {"Cache-Control": "public, max-age=86400", "ETag": etag, "X-Content-Type-Options": "nosniff"}
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        if self._plotly is None:
            self._plotly = (await asyncio.to_thread(plotly_js)).encode()
        response = web.Response(body=self._plotly, content_type="application/javascript", charset="utf-8",
                                headers=headers)
        response.enable_compression()
        return response

    # ------------------------------------------------------------------ the document

    async def build(self) -> dict[str, Any]:
        """The /dashboard/data document (scrubbed of every configured credential). While a cycle runs, the
        journal and report parts are the ones built before it (only the live state is read again): an
        open page never competes with a cycle for the journal or the CPU."""
        d = self.daemon
        health = d.health() if d.rebalancer is not None else {}
        trading = _pick(health, "state", "reason", "since", "forced", "kill_switch", "status", "ready", "cause")
        daemon = {"cycles": d.cycles_run, "cycle_running": health.get("cycle_running", False),
                  "consecutive_failures": d.consecutive_failures, "last_cycle": d.last_cycle or None,
                  "connected": (health.get("exchange") or {}).get("connected")}
        secrets = configured_secrets(self.settings)
        if daemon["cycle_running"] and self._doc is not None:
            return {**self._doc, "generated_at": _iso(datetime.now(timezone.utc)),
                    "daemon": scrub(daemon, secrets), "trading": scrub(trading, secrets)}
        last = getattr(d, "last_report", None)
        last_doc = None
        if last is not None:
            from .report import report_json

            try:
                last_doc = report_json(last)
            except Exception as exc:  # a report the encoder cannot read must not break the page
                log.warning("dashboard_report_json_failed", error=str(exc) or type(exc).__name__)
        journal = getattr(d.rebalancer, "journal", None)
        cycles, orders, from_journal = await asyncio.to_thread(self._read_journal, journal,
                                                                 last_doc is None or not last_doc.get("assets"))
        view = cycle_view(last_doc if last_doc and last_doc.get("assets") else from_journal or last_doc or {})
        report, report_error = await self._report_doc(journal)
        doc = {
            "generated_at": _iso(datetime.now(timezone.utc)),
            "refresh_s": float(self.settings.health.dashboard_refresh_s),
            "quote": self.settings.portfolio.quote,
            "daemon": daemon,
            "trading": trading,
            "allocation": view,
            "cycles": cycles,
            "orders": orders,
            "report": {k: v for k, v in report.items() if k != "series"} if report else None,
            "series": report.get("series") if report else None,
            "report_error": report_error,
        }
        self._doc = scrub(doc, secrets)
        return self._doc

    @staticmethod
    def _read_journal(journal: Any, want_plan: bool) -> tuple[list, list, dict | None]:
        if journal is None:
            return [], [], None
        try:
            cycles = journal.cycles(limit=RECENT)
            orders = journal.orders(limit=RECENT)
        except Exception as exc:
            log.warning("dashboard_journal_read_failed", error=str(exc) or type(exc).__name__)
            return [], [], None
        planned = None
        if want_plan:
            planned = next((_journal_doc(c) for c in reversed(cycles) if c.plan and c.plan.get("assets")), None)
        return cycles_json(cycles), orders_json(orders), planned

    async def _report_doc(self, journal: Any) -> tuple[dict[str, Any] | None, str]:
        """The cost report (costs_report.build_report), rebuilt once per finished cycle, in a thread."""
        try:
            from .costs_report import build_report
        except ImportError:
            return None, ""
        if journal is None:
            return None, ""
        key = (self.daemon.cycles_run, (self.daemon.last_cycle or {}).get("finished_at"))
        async with self._report_lock:
            if key != self._report_key:
                try:
                    self._report = await asyncio.to_thread(build_report, self.settings, journal)
                    self._report_error = ""
                except Exception as exc:
                    log.warning("dashboard_report_failed", error=str(exc) or type(exc).__name__)
                    self._report, self._report_error = None, f"the cost report failed: {exc}"
                self._report_key = key
            return self._report, self._report_error


_NO_STORE = {"Cache-Control": "no-store"}
_SECURITY = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


def add_routes(app: web.Application, daemon: Any) -> Dashboard:
    """Register the dashboard's three routes on the daemon's health app."""
    dash = Dashboard(daemon)
    app.router.add_get("/dashboard", dash.page)
    app.router.add_get("/dashboard/data", dash.data)
    app.router.add_get("/dashboard/plotly.min.js", dash.plotly)
    return dash


# --------------------------------------------------------------------------- the page

_PAGE_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1200px; padding: 0 1em 2em;
       color: #222; }
header { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: baseline; border-bottom: 1px solid #ddd; padding: 0.8em 0; }
header h1 { font-size: 1.3em; margin: 0; }
.badge { padding: 0.15em 0.6em; border-radius: 0.3em; font-weight: 700; }
.state-ACTIVE { background: #d8f3dc; color: #1b4332; } .state-REDUCING { background: #fff3bf; color: #7c5e00; }
.state-HALTED { background: #ffd6d6; color: #8b0000; }
.muted { color: #666; } .error { background: #ffd6d6; color: #8b0000; padding: 0.5em 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1.2em; width: 100%; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 0.25em 0.6em; text-align: right; font-variant-numeric: tabular-nums; }
th:first-child, td:first-child { text-align: left; } th { background: #f6f6f6; }
td.bad { color: #b00020; font-weight: 600; } td.good { color: #1b4332; }
h2 { font-size: 1.1em; margin: 1.2em 0 0.3em; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 1.5em; } @media (max-width: 900px) { .grid { grid-template-columns: 1fr; } }
"""

_PAGE_JS = r"""
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("dashboard-config").textContent);
  // ?token= is read once, kept for this tab only, and taken out of the address bar.
  var params = new URLSearchParams(window.location.search), token = params.get("token");
  if (token) {
    try { window.sessionStorage.setItem("rebalancer-dashboard-token", token); } catch (e) {}
    params.delete("token");
    var rest = params.toString();
    window.history.replaceState(null, "", window.location.pathname + (rest ? "?" + rest : "") + window.location.hash);
  } else {
    try { token = window.sessionStorage.getItem("rebalancer-dashboard-token"); } catch (e) { token = null; }
  }
  function $(id) { return document.getElementById(id); }
  function text(id, value) { var el = $(id); if (el) { el.textContent = value === null || value === undefined ? "-" : String(value); } }
  function num(x) { if (x === null || x === undefined) { return null; } var v = parseFloat(x); return isFinite(v) ? v : null; }
  function pct(x) { var v = num(x); return v === null ? "-" : (v * 100).toFixed(2) + "%"; }
  function money(x) { var v = num(x); return v === null ? "-" : v.toLocaleString("en-US", {maximumFractionDigits: 2, minimumFractionDigits: 2}); }
  function plain(x) { return x === null || x === undefined || x === "" ? "-" : String(x); }
  function when(x) { if (!x) { return "-"; } var d = new Date(x); return isNaN(d.getTime()) ? String(x) : d.toISOString().replace("T", " ").slice(0, 19) + "Z"; }
  // Rows are built with textContent only: nothing from the data is ever parsed as HTML.
  function fill(id, rows, cells, emptyText) {
    var body = $(id); if (!body) { return; }
    var cols = body.parentNode.querySelectorAll("thead th").length || 1;
    while (body.firstChild) { body.removeChild(body.firstChild); }
    if (!rows || !rows.length) {
      var tr = document.createElement("tr"), td = document.createElement("td");
      td.colSpan = cols; td.className = "muted"; td.textContent = emptyText; tr.appendChild(td); body.appendChild(tr); return;
    }
    rows.forEach(function (row) {
      var tr = document.createElement("tr");
      if (row.asset) { tr.setAttribute("data-asset", row.asset); }
      cells(row).forEach(function (c) {
        var td = document.createElement("td");
        if (c !== null && typeof c === "object") { td.textContent = c.text; if (c.cls) { td.className = c.cls; } }
        else { td.textContent = c; }
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }
  function render(d) {
    var t = d.trading || {}, daemon = d.daemon || {}, alloc = d.allocation || {};
    text("cycles-count", daemon.cycles);
    text("generated-at", when(d.generated_at));
    var badge = $("trading-state"); badge.textContent = t.state || "-"; badge.className = "badge state-" + (t.state || "none");
    text("trading-reason", t.reason || (t.kill_switch ? "kill switch" : ""));
    text("trading-since", when(t.since));
    text("cycle-running", daemon.cycle_running ? "a cycle is running" : "idle");
    text("alloc-cycle", alloc.cycle_id ? alloc.cycle_id + " (" + plain(alloc.kind) + ", " + plain(alloc.outcome) + ")" : "no cycle yet");
    text("alloc-nav", alloc.nav ? money(alloc.nav) + " " + plain(alloc.quote) : "-");
    fill("allocation-rows", alloc.assets, function (a) {
      var drift = num(a.drift);
      return [a.asset, pct(a.target_weight), pct(a.effective_weight), {text: pct(a.drift), cls: drift !== null && Math.abs(drift) > 0.02 ? "bad" : ""}];
    }, "no plan yet");
    fill("hedge-rows", alloc.hedges, function (h) {
      var s = h.stop || {};
      return [h.asset, plain(h.amount), money(h.mark_price), h.stop ? money(s.trigger_price) : {text: "none", cls: "bad"},
              h.stop ? {text: plain(s.state), cls: s.state === "resting" ? "good" : "bad"} : "-",
              pct(s.distance), money(h.liquidation_price), pct(h.liquidation_distance)];
    }, alloc.protection && alloc.protection.skipped ? "no hedge (" + alloc.protection.skipped + ")" : "no hedge open");
    text("protection-note", alloc.protection && alloc.protection.enabled ? (alloc.protection.skipped ? "protection skipped: " + alloc.protection.skipped : "") : "protection is off or did not run in this cycle");
    fill("cycle-rows", d.cycles, function (c) {
      return [c.id, c.kind, {text: c.outcome, cls: c.outcome === "failed" ? "bad" : ""}, when(c.started_at), when(c.finished_at), plain(c.error)];
    }, "no cycle journaled yet");
    fill("order-rows", d.orders, function (o) {
      return [o.client_order_id, o.asset, o.side, o.leg, plain(o.amount), plain(o.filled), plain(o.average), o.state, when(o.created_at)];
    }, "no order journaled yet");
    var r = d.report || null;
    text("saving", r ? money(r.saving) + " " + plain(r.quote) : "no data yet");
    text("breakeven", r ? (r.breakeven_days === null ? "-" : num(r.breakeven_days).toFixed(1) + " days") : "no data yet");
    text("report-error", d.report_error || "");
    var seriesText = JSON.stringify([d.series || {}, d.quote]);
    if (seriesText !== drawnSeries) {  // redraw only what changed: the charts are the costly part
      window.RebalancerCharts.draw(d.series || {}, d.quote);
      drawnSeries = seriesText;
    }
  }
  var drawnSeries = null;
  var timer = null, refreshS = cfg.refresh_s || 5;
  function schedule() { timer = window.setTimeout(refresh, refreshS * 1000); }
  function refresh() {
    var headers = {"Accept": "application/json"};
    if (token) { headers["Authorization"] = "Bearer " + token; }
    window.fetch(cfg.data_url, {headers: headers, cache: "no-store", credentials: "omit"}).then(function (resp) {
      return resp.json().then(function (body) { return {ok: resp.ok, status: resp.status, body: body}; });
    }).then(function (res) {
      if (!res.ok) { throw new Error((res.body && res.body.error) || ("HTTP " + res.status)); }
      text("fetch-error", ""); $("fetch-error").style.display = "none";
      if (res.body.refresh_s) { refreshS = res.body.refresh_s; }
      render(res.body);
      window.__dashboardRefreshes = (window.__dashboardRefreshes || 0) + 1;
    }).catch(function (err) {
      text("fetch-error", "cannot read the dashboard data: " + err.message); $("fetch-error").style.display = "";
    }).then(schedule);
  }
  refresh();
})();
"""


def page_html(*, nonce: str, refresh_s: float, data_url: str = "dashboard/data",
              plotly_url: str = "dashboard/plotly.min.js") -> str:
    """The dashboard page: static markup (no data, no secret), filled by its script from /dashboard/data.
    The URLs are relative, so the page also works behind a proxy that mounts it under a prefix."""
    import html as _html

    from .html_report import json_for_script

    config = json_for_script({"refresh_s": refresh_s, "data_url": data_url})
    n = _html.escape(nonce, quote=True)

    def table(body_id: str, heads: Iterable[str]) -> str:
        cols = "".join(f"<th>{_html.escape(h)}</th>" for h in heads)
        return f'<table><thead><tr>{cols}</tr></thead><tbody id="{body_id}"></tbody></table>'

    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<meta name="referrer" content="no-referrer">
<title>Rebalancer dashboard</title>
<style>{_PAGE_CSS}{CHARTS_CSS}</style>
</head>
<body>
<header>
  <h1>Rebalancer</h1>
  <span>trading: <span id="trading-state" class="badge">-</span> <span id="trading-reason" class="muted"></span></span>
  <span class="muted">since <span id="trading-since">-</span></span>
  <span>cycles run: <strong id="cycles-count">-</strong> (<span id="cycle-running">-</span>)</span>
  <span class="muted">updated <span id="generated-at">-</span> · read-only</span>
</header>
<p id="fetch-error" class="error" style="display:none"></p>
<div class="grid">
<section>
  <h2>Allocation now</h2>
  <p class="muted">cycle <span id="alloc-cycle">-</span> · NAV <span id="alloc-nav">-</span></p>
  {table("allocation-rows", ("asset", "target", "effective", "drift"))}
</section>
<section>
  <h2>Cost report</h2>
  <p>saving so far: <strong id="saving">no data yet</strong> · break-even: <strong id="breakeven">no data yet</strong></p>
  <p id="report-error" class="muted"></p>
</section>
</div>
<section>
  <h2>Hedges and their protective stops</h2>
  <p id="protection-note" class="muted"></p>
  {table("hedge-rows", ("asset", "position", "mark", "stop trigger", "stop", "stop distance", "liquidation", "liq. distance"))}
</section>
<section>
  <h2>Charts</h2>
  {charts_html()}
</section>
<section>
  <h2>Recent cycles</h2>
  {table("cycle-rows", ("cycle", "kind", "outcome", "started", "finished", "error"))}
</section>
<section>
  <h2>Recent orders</h2>
  {table("order-rows", ("client order id", "asset", "side", "leg", "amount", "filled", "average", "state", "created"))}
</section>
<script type="application/json" id="dashboard-config">{config}</script>
<script src="{_html.escape(plotly_url, quote=True)}"></script>
<script nonce="{n}">{CHARTS_JS}</script>
<script nonce="{n}">{_PAGE_JS}</script>
</body>
</html>
"""
