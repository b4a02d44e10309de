"""The HTML report (`rebalancer report --html FILE`): one self-contained file with the report's figures
and its charts, drawn by the plotly.js that the plotly package ships, inlined: opening it fetches nothing.

The charts' script (CHARTS_JS) is shared with the daemon's dashboard, so both draw the same series the same
way. Every text from the document is escaped; the series travel as JSON in a non-executed script element.
"""

from __future__ import annotations

import functools
import html
import json
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

__all__ = ["CHARTS_JS", "CHARTS_CSS", "charts_html", "json_for_script", "plotly_js", "plotly_version",
           "render_report_html"]


@functools.lru_cache(maxsize=1)
def plotly_js() -> str:
    """plotly.min.js as the plotly package ships it (read once per process)."""
    from plotly.offline import get_plotlyjs

    # Inlined in a <script> element: a literal "</script" would end it early (plotly.min.js has none today).
    return get_plotlyjs().replace("</script", "<\\/script")


def plotly_version() -> str:
    import plotly

    return str(plotly.__version__)


def json_for_script(value: Any) -> str:
    """JSON safe inside a <script> element: <, >, & and the JS line separators as \\u escapes."""
    text = json.dumps(value, default=str, separators=(",", ":"))
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


# --------------------------------------------------------------------------- the charts (report and dashboard)

# Draws the three charts from a report's "series" into #chart-weights, #chart-costs and #chart-funding;
# an empty series shows its "no data yet" note (#chart-…-empty) instead of an empty plot. Plotly.react
# updates a drawn chart in place, so the dashboard calls draw() again on every refresh.
CHARTS_JS = r"""
(function () {
  "use strict";
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf"];
  function num(x) { if (x === null || x === undefined || x === "") { return null; } var v = parseFloat(x); return isFinite(v) ? v : null; }
  function utc(at) { var d = new Date(at); return isNaN(d.getTime()) ? at : d.toISOString().replace("T", " ").slice(0, 23); }
  function assets(obj) { return Object.keys(obj || {}).sort(); }
  function weightTraces(weights) {
    var out = [];
    assets(weights).forEach(function (asset, i) {
      var rows = weights[asset] || [];
      if (!rows.length) { return; }
      var color = PALETTE[i % PALETTE.length], x = rows.map(function (r) { return utc(r.at); });
      out.push({type: "scatter", mode: "lines+markers", name: asset + " effective", x: x,
                y: rows.map(function (r) { return num(r.effective); }), line: {color: color}});
      out.push({type: "scatter", mode: "lines", name: asset + " target", x: x,
                y: rows.map(function (r) { return num(r.target); }), line: {color: color, dash: "dash"}});
    });
    return out;
  }
  function costTraces(costs) {
    costs = costs || [];
    if (!costs.length) { return []; }
    var x = costs.map(function (r) { return utc(r.at); });
    return [
      {type: "scatter", mode: "lines+markers", name: "synthetic (perp fees + funding)", x: x, line: {shape: "hv"},
       y: costs.map(function (r) { return num(r.synthetic); })},
      {type: "scatter", mode: "lines+markers", name: "spot route (fees + tax)", x: x, line: {shape: "hv"},
       y: costs.map(function (r) { return num(r.spot_equivalent); })}
    ];
  }
  function fundingTraces(funding) {
    var out = [];
    assets(funding).forEach(function (asset, i) {
      var rows = funding[asset] || [];
      if (!rows.length) { return; }
      out.push({type: "scatter", mode: "lines+markers", name: asset, line: {shape: "hv", color: PALETTE[i % PALETTE.length]},
                x: rows.map(function (r) { return utc(r.at); }), y: rows.map(function (r) { return num(r.cumulative); })});
    });
    return out;
  }
  function layout(title, ytitle, percent) {
    return {title: {text: title}, height: 340, margin: {l: 64, r: 16, t: 48, b: 48},
            legend: {orientation: "h", y: -0.2}, xaxis: {title: {text: "time (UTC)"}, type: "date"},
            yaxis: {title: {text: ytitle}, tickformat: percent ? ".1%" : null, zeroline: true}};
  }
  function show(id, traces, lay) {
    var el = document.getElementById(id), empty = document.getElementById(id + "-empty");
    if (!el) { return false; }
    if (!traces.length) {
      if (el.classList.contains("js-plotly-plot")) { window.Plotly.purge(el); }
      el.style.display = "none";
      if (empty) { empty.style.display = ""; }
      return false;
    }
    if (empty) { empty.style.display = "none"; }
    el.style.display = "";
    window.Plotly.react(el, traces, lay, {displaylogo: false, responsive: true});
    return true;
  }
  window.RebalancerCharts = {
    draw: function (series, quote) {
      series = series || {};
      quote = quote || "";
      return {
        weights: show("chart-weights", weightTraces(series.weights), layout("Effective weight vs target", "weight", true)),
        costs: show("chart-costs", costTraces(series.costs), layout("Cumulative cost of each route", quote, false)),
        funding: show("chart-funding", fundingTraces(series.funding), layout("Cumulative funding per asset (+ received)", quote, false))
      };
    }
  };
})();
"""

CHARTS_CSS = """
.chart { min-height: 340px; }
.nodata { padding: 2em; border: 1px dashed #bbb; color: #666; text-align: center; background: #fafafa; }
"""

_CHARTS = (("weights", "Effective weight vs target per asset"),
           ("costs", "Cumulative costs: synthetic route vs spot route"),
           ("funding", "Funding per asset"))


def charts_html() -> str:
    """The three chart slots, each with its "no data yet" note (shown until its series has points)."""
    parts = []
    for key, title in _CHARTS:
        parts.append(f'<section class="chart-slot"><h3>{_e(title)}</h3>'
                     f'<div class="chart" id="chart-{key}" data-chart="{key}"></div>'
                     f'<p class="nodata" id="chart-{key}-empty">No data yet: the journal has no {_e(key)} '
                     f'series to draw.</p></section>')
    return "\n".join(parts)


# --------------------------------------------------------------------------- figures


def _number(value: Any, places: int = 2) -> str:
    """A decimal string for reading (thousands separators, `places` decimals); null is "unknown"."""
    if value is None:
        return "unknown"
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if not d.is_finite():
        return str(value)
    return f"{d:,.{places}f}"


def _cell(value: Any, places: int = 2) -> str:
    shown = _number(value, places)
    css = ' class="unknown"' if value is None else ""
    title = f' title="{_e(value)}"' if value is not None else ""
    return f"<td{css}{title}>{_e(shown)}</td>"


_SYNTHETIC = (("fees", "perp fees"), ("funding", "funding (+ received, − paid)"), ("pnl", "hedge P&L"),
              ("cost", "cost (fees + funding paid)"))
_SPOT = (("fees", "spot fees"), ("realized_gains", "realised gains"), ("tax", "tax"), ("cost", "cost (fees + tax)"))


def _section(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, Mapping) else {}


def summary_html(doc: Mapping[str, Any]) -> str:
    """The report's totals as a table (figures in the document's quote currency)."""
    quote = doc.get("quote") or ""
    synthetic, spot = _section(doc, "synthetic"), _section(doc, "spot_equivalent")
    rows = []
    for key, label in _SYNTHETIC:
        if key in synthetic or key != "cost":
            rows.append(f'<tr data-key="synthetic.{_e(key)}"><th>synthetic: {_e(label)}</th>{_cell(synthetic.get(key))}</tr>')
    for key, label in _SPOT:
        if key in spot or key != "cost":
            rows.append(f'<tr data-key="spot_equivalent.{_e(key)}"><th>spot route: {_e(label)}</th>{_cell(spot.get(key))}</tr>')
    rows.append(f'<tr data-key="saving" class="total"><th>saving (spot route cost − synthetic cost)</th>'
                f'{_cell(doc.get("saving"))}</tr>')
    if "funding_cost_per_day" in doc:
        rows.append(f'<tr data-key="funding_cost_per_day"><th>funding cost per day now</th>'
                    f'{_cell(doc.get("funding_cost_per_day"))}</tr>')
    breakeven = doc.get("breakeven_days")
    # null break-even: the hedges receive funding or cost nothing now (no horizon), or a figure is unknown.
    shown = (_cell(breakeven, 1) if breakeven is not None else
             '<td class="unknown">none (no funding cost now, or unknown)</td>')
    rows.append(f'<tr data-key="breakeven_days"><th>break-even: days the hedges can stay open</th>{shown}</tr>')
    return (f'<table id="summary" class="figures"><caption>Totals ({_e(quote)})</caption>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def assets_html(doc: Mapping[str, Any]) -> str:
    assets = [a for a in doc.get("assets") or [] if isinstance(a, Mapping)]
    if not assets:
        return '<p class="nodata" id="assets-empty">No data yet: no asset has costs in this period.</p>'
    head = ("<tr><th rowspan=2>asset</th><th colspan=3>synthetic</th><th colspan=3>spot route</th>"
            "<th rowspan=2>saving</th></tr><tr><th>fees</th><th>funding</th><th>P&amp;L</th>"
            "<th>fees</th><th>realised gains</th><th>tax</th></tr>")
    body = []
    for a in assets:
        syn, spot = _section(a, "synthetic"), _section(a, "spot_equivalent")
        cells = "".join(_cell(syn.get(k)) for k in ("fees", "funding", "pnl"))
        cells += "".join(_cell(spot.get(k)) for k in ("fees", "realized_gains", "tax"))
        body.append(f'<tr data-asset="{_e(a.get("asset"))}"><th>{_e(a.get("asset"))}</th>{cells}'
                    f'{_cell(a.get("saving"))}</tr>')
    return (f'<table id="assets" class="figures"><caption>Per asset ({_e(doc.get("quote") or "")})</caption>'
            f'<thead>{head}</thead><tbody>{"".join(body)}</tbody></table>')


def _notes_html(doc: Mapping[str, Any]) -> str:
    notes = [n for n in doc.get("notes") or [] if n]
    if not notes:
        return ""
    return '<ul id="notes">' + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>"


_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 1.5em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
.meta { color: #555; margin-top: 0; }
table.figures { border-collapse: collapse; margin: 1em 0; }
table.figures caption { text-align: left; font-weight: 600; padding-bottom: 0.3em; }
table.figures th, table.figures td { border-bottom: 1px solid #ddd; padding: 0.25em 0.8em; }
table.figures th { text-align: left; font-weight: normal; }
table.figures thead th { font-weight: 600; text-align: center; }
table.figures td { text-align: right; font-variant-numeric: tabular-nums; }
table.figures tr.total th, table.figures tr.total td { font-weight: 700; }
td.unknown { color: #999; font-style: italic; }
"""


def render_report_html(doc: Mapping[str, Any]) -> str:
    """The whole report as one HTML page: totals, per asset, notes, three charts; plotly.js inlined."""
    quote = doc.get("quote") or ""
    since = doc.get("since")
    period = f"since {since}" if since else "since the journal began"
    meta = [f"{period}", f"cost basis method: {doc.get('method') or 'unknown'}"]
    if doc.get("generated_at"):
        meta.append(f"generated {doc.get('generated_at')}")
    if doc.get("spot_fee_rate") is not None:
        meta.append(f"spot fee rate {doc.get('spot_fee_rate')}")
    if doc.get("tax_rate") is not None:
        meta.append(f"tax rate {doc.get('tax_rate')}")
    series = doc.get("series") if isinstance(doc.get("series"), Mapping) else {}
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Rebalancer cost report ({_e(quote)})</title>
<style>{_STYLE}{CHARTS_CSS}</style>
</head>
<body>
<h1>What synthetic rebalancing saved</h1>
<p class="meta">{_e(" · ".join(meta))}</p>
{summary_html(doc)}
{assets_html(doc)}
{_notes_html(doc)}
<h2>Charts</h2>
{charts_html()}
<script type="application/json" id="report-series">{json_for_script(series)}</script>
<script>{plotly_js()}</script>
<script>{CHARTS_JS}</script>
<script>
(function () {{
  var series = JSON.parse(document.getElementById("report-series").textContent);
  window.RebalancerCharts.draw(series, {json_for_script(quote)});
}})();
</script>
</body>
</html>
"""
