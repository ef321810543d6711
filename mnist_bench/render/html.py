"""The self-contained static HTML report, decision first: which backend (with its verdicts),
then the comparison charts, then every table (the same Markdown as tables.md), then one header
of facts per machine and run the records came from. The page is the jinja2 template
``templates/report.html.j2`` (autoescaped; only the Markdown-rendered tables go in as HTML)."""

from __future__ import annotations

import base64
from pathlib import Path

from ..analysis.keys import machine_of, run_of
from . import derived, markdown, plots


def facts(recs: list[dict]) -> list[tuple[str, str]]:
    """The facts of one machine and run: CPU, GPUs, peak, OS, commit, records, versions."""
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
    return [(str(k), str(val)) for k, val in items + list(v.items())]


def machines(recs: list[dict]) -> list[dict]:
    """One entry per machine and run (never one record's machine for all)."""
    groups: dict[tuple, list[dict]] = {}
    for r in recs:
        groups.setdefault((machine_of(r), run_of(r)), []).append(r)
    return [{"machine": machine, "run": str(run), "facts": facts(rs)}
            for (machine, run), rs in groups.items()]


def _template():
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("mnist_bench.render", "templates"),
                             autoescape=True, keep_trailing_newline=True)
    return env.get_template("report.html.j2")


def _md(text: str) -> str:
    import markdown as md  # tables rendered from the same Markdown as tables.md

    return md.markdown(text, extensions=["tables"])


def html_report(rep, out: Path, title: str = "mnist-bench results", notes: dict | None = None,
                text: str | None = None) -> Path:
    """One static HTML file: the decision, the charts (embedded PNG, SVG beside), the tables
    and the machine facts. ``text`` (the Markdown, when the caller rendered it already) is not
    needed: the page puts its parts in its own order."""
    out.mkdir(parents=True, exist_ok=True)
    recs = rep.recs
    paths = (plots.epoch_time_chart(rep.tidy, out / "epoch_time")
             + plots.absolute_chart(rep.tidy, out / "seconds")
             + plots.modes_chart(rep.modes, out / "modes")
             + plots.native_chart(rep.native, out / "keras_vs_native", rep.matched)
             + plots.batch_chart(rep.batches, out / "batch_sizes")
             + plots.curves_chart(recs, out / "accuracy_curves"))
    charts = [{"name": p.stem, "caption": p.stem.replace("_", " "), "svg": p.with_suffix(".svg").name,
               "png": base64.b64encode(p.read_bytes()).decode()} for p in paths if p.suffix == ".png"]
    names = markdown.run_names(rep.tidy, rep.batches)
    decision = "\n".join(derived.decision_section(rep, names, len(names) > 1))
    page = _template().render(
        title=title, margin=f"{100 * rep.margin:g}", decision=_md(decision) if decision else "",
        charts=charts, tables=_md(markdown.markdown(rep, notes, decision=False)),
        machines=machines(recs))
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
