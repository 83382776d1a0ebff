"""A report as one self-contained HTML page (no script, no network): a table per report table.
Rendered with Jinja's autoescaping, so a name in the results is text, never markup."""

from __future__ import annotations

from jinja2 import Environment

from w2s_bench.report.document import Report

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ report.title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; }
table { border-collapse: collapse; margin-bottom: 2em; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #ccc; }
th { text-align: left; border-bottom: 2px solid #333; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
</style></head>
<body><h1>{{ report.title }}</h1>
{% for table in report.tables %}<h2>{{ table.title }}</h2>
<table><thead><tr>{% for header in table.headers %}<th>{{ header }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in table.rows %}<tr>{% for cell in row %}
<td{% if table.numeric[loop.index0] %} class="num"{% endif %}>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table>
{% endfor %}</body></html>
"""

_ENV = Environment(autoescape=True, keep_trailing_newline=True)


def render(report: Report) -> str:
    return _ENV.from_string(_TEMPLATE).render(report=report)
