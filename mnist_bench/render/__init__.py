"""Rendering: Markdown/CSV/JSON tables, charts and the HTML report, from aggregated tables."""
