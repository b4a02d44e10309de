"""The HTML report's markup: one self-contained file (plotly.js inlined, nothing fetched), every text
escaped, an empty series shown as "no data yet"."""

from __future__ import annotations

import copy
import json
import re

from rebalancer.html_report import json_for_script, plotly_js, render_report_html

DOC = {
    "since": None, "quote": "USDT", "method": "average",
    "synthetic": {"fees": "1.2", "funding": "-0.3", "pnl": "10"},
    "spot_equivalent": {"fees": "6", "realized_gains": "100", "tax": "0"},
    "saving": "4.5", "breakeven_days": "120.5",
    "assets": [{"asset": "BTC", "synthetic": {"fees": "1.2", "funding": "-0.3", "pnl": "10"},
                "spot_equivalent": {"fees": "6", "realized_gains": "100", "tax": "0"}, "saving": "4.5"}],
    "series": {"weights": {"BTC": [{"at": "2026-01-01T00:00:00+00:00", "effective": "0.52", "target": "0.5"}]},
               "costs": [{"at": "2026-01-01T00:00:00+00:00", "synthetic": "1.23", "spot_equivalent": "4.56"}],
               "funding": {"BTC": [{"at": "2026-01-01T00:00:00+00:00", "cumulative": "-0.12"}]}},
}


def test_render_report_html_when_rendered_then_one_self_contained_file() -> None:
    """plotly.js is inside the file; no script, stylesheet or image is loaded from anywhere."""
    page = render_report_html(DOC)
    assert plotly_js()[:2000] in page
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=\"(https?:)?//", page)
    assert page.count("<script") == 4  # the series (JSON), plotly.js, the charts, the call


def test_render_report_html_when_figures_then_summary_table_rounds_and_keeps_exact_title() -> None:
    """The totals table shows rounded figures, the exact decimal string in its title, null as unknown."""
    doc = {**DOC, "saving": "1234.5678", "synthetic": {**DOC["synthetic"], "pnl": None}}
    page = render_report_html(doc)
    assert '<tr data-key="saving" class="total"><th>saving (spot route cost − synthetic cost)</th>' \
           '<td title="1234.5678">1,234.57</td></tr>' in page
    assert '<tr data-key="synthetic.pnl"><th>synthetic: hedge P&amp;L</th><td class="unknown">unknown</td></tr>' in page


def test_render_report_html_when_hostile_text_then_escaped_everywhere() -> None:
    """Text from the document cannot open a tag, in a table cell or in the embedded series."""
    doc = copy.deepcopy(DOC)
    evil = "<img src=x onerror=alert(1)></script><script>alert(2)</script>"
    doc["quote"] = evil
    doc["assets"][0]["asset"] = evil
    doc["series"]["weights"] = {evil: doc["series"]["weights"]["BTC"]}
    doc["notes"] = [evil]
    page = render_report_html(doc)
    assert "<img src=x" not in page and "<script>alert" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    series = re.search(r'<script type="application/json" id="report-series">(.*?)</script>', page, re.S).group(1)
    assert json.loads(series)["weights"][evil]  # still the same data once parsed


def test_render_report_html_when_series_empty_then_no_data_yet_notes() -> None:
    """Every chart slot carries its "no data yet" note; the script hides it only when the series has points."""
    doc = {**DOC, "series": {"weights": {}, "costs": [], "funding": {}}, "assets": []}
    page = render_report_html(doc)
    for key in ("weights", "costs", "funding"):
        assert f'<p class="nodata" id="chart-{key}-empty">No data yet' in page
    assert 'id="assets-empty">No data yet' in page
    assert render_report_html({})  # a document without any key still renders


def test_json_for_script_when_html_specials_then_escaped() -> None:
    text = json_for_script({"a": "</script><!--&\u2028"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": "</script><!--&\u2028"}
