"""The self-contained static HTML report: machine facts, charts (embedded) and the tables,
rendered from the same Markdown as tables.md."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from . import markdown, plots


def _facts(recs: list[dict]) -> str:
    r = recs[-1]
    m, v, g = r.get("machine") or {}, r.get("versions") or {}, r.get("git") or {}
    cpu = m.get("cpu") or {}
    items = [("CPU", f"{cpu.get('model')} ({cpu.get('cores')} cores, {cpu.get('arch')})"),
             ("GPUs", ", ".join(f"{x['name']} (driver {x['driver']})" for x in m.get("gpus") or []) or "none"),
             ("matmul peak", f"{m.get('matmul_peak_gflops', 0):.0f} GFLOP/s (float32, numpy)"
              if m.get("matmul_peak_gflops") else "not measured"),
             ("OS", m.get("os")), ("commit", f"{g.get('commit')}{' (dirty)' if g.get('dirty') else ''}"),
             ("records", f"{len(recs)}, {min(x['timestamp'] for x in recs)} to "
                         f"{max(x['timestamp'] for x in recs)}")]
    items += [(k, val) for k, val in v.items()]
    return "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(val))}</td></tr>"
                   for k, val in items)


def html_report(rep, out: Path, title: str = "mnist-bench results", notes: dict | None = None,
                text: str | None = None) -> Path:
    """One static HTML file with the tables, the charts (embedded) and the machine facts."""
    out.mkdir(parents=True, exist_ok=True)
    recs = rep.recs
    charts = (plots.epoch_time_chart(rep.tidy, out / "epoch_time")
              + plots.curves_chart(recs, out / "accuracy_curves"))
    imgs = "".join(
        f'<figure><img alt="{p.stem}" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode()}"><figcaption>{p.stem.replace("_", " ")} '
        f'(<a href="{p.with_suffix(".svg").name}">SVG</a>)</figcaption></figure>'
        for p in charts if p.suffix == ".png")
    import markdown as md  # tables rendered from the same Markdown as tables.md

    body = md.markdown(text if text is not None else markdown.markdown(rep, notes),
                       extensions=["tables"])
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 12px; margin: 0.5em 0 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 3px 6px; text-align: right; }}
th {{ background: #f3f3f3; }} td:first-child {{ text-align: left; }}
figure img {{ max-width: 100%; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<h2>Machine and versions</h2><table class="facts">{_facts(recs)}</table>
<h2>Charts</h2>{imgs}
<h2>Tables</h2>{body}
<p>Method: docs/method.md in the mnist-bench repository. Remake with <code>mnist-bench report
--html</code> on the records.</p>
</body></html>
"""
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
