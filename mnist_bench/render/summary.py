"""What ``mnist-bench run`` prints when it ends: the decisions in a few short lines, the cells
that measured nothing, and where the full tables are (``tables.md`` holds every table; the
terminal gets only what a person reads in a minute)."""

from __future__ import annotations

from ..specs import label
from .derived import decision_text, picks_differ

MAX_PROBLEMS = 12  # cells without a result listed by name; the rest counted


def decisions(rep) -> list[str]:
    """One line per spec and question: the pick and its verdict (``derived.decision_text``)."""
    rec = rep.recommend
    if rec is None or not len(rec):
        return ["Which backend: no comparison (no spec ran on two backends)"]
    lines = [f"Which backend (verdicts at ±{100 * rep.margin:g}%; 'short' = time to target, "
             "compile included; 'long' = steady epoch):"]
    width = max(len(r.label) for r in rec.itertuples())
    heading = None
    for r in rec.itertuples():
        where = (r.dataset, r.device_kind, r.mode)
        if where != heading:
            heading = where
            lines.append(f"  {r.dataset}, {r.device_kind}, {r.mode} mode")
        pick, why = decision_text(r)
        lines.append(f"    {r.label:<{width}}  {r.question:<5}  {pick or '-'}: {why}")
    for spec in picks_differ(rec):
        lines.append(f"  the two questions pick different backends: {spec}")
    return lines


def problems(recs: list[dict], run_id: str | None) -> list[str]:
    """The cells of this run whose last record holds no result, by name and reason."""
    from ..analysis.tidy import latest

    bad = [r for r in latest(recs) if (run_id is None or r.get("run_id") == run_id)
           and r["status"] not in ("ok", "diverged")]
    if not bad:
        return []
    lines = [f"{len(bad)} cell(s) without a result:"]
    for r in bad[:MAX_PROBLEMS]:
        reason = " ".join(str(r.get("reason") or "").split())
        reason = reason if len(reason) <= 160 else reason[:157] + "..."
        # the spec's short label (a user spec's file:attr without its folder), as the tables
        name = f"{label(r['spec'])}/{r['backend']}/{r['dataset']}/{r.get('device_requested', '')}"
        mode = "" if r.get("mode", "default") == "default" else f" [{r['mode']}]"
        native = " native" if r.get("impl") == "native" else ""
        if r.get("planned_batch_size") is not None:
            mode += f" bs{r['planned_batch_size']}"
        lines.append(f"  {name}{native}{mode}: {r['status']}" + (f": {reason}" if reason else ""))
    if len(bad) > MAX_PROBLEMS:
        lines.append(f"  ... and {len(bad) - MAX_PROBLEMS} more (see tables.md)")
    return lines


def batch_lines(rep) -> list[str]:
    """With --batch-sizes: per spec and variant family, the fastest backend at each batch size
    and where that changes (decided, or point estimates only)."""
    ranking = rep.ranking
    if ranking is None or not len(ranking):
        return []
    lines = ["Fastest backend at each batch size (samples/s; * = beats the runner-up beyond the margin):"]
    for _, g in ranking.groupby(["run", "dataset", "device_kind", "impl", "mode", "spec"], sort=False):
        first = g.iloc[0]
        steps = ", ".join(f"{int(r.batch_size)} {r.fastest}"
                          + ("*" if getattr(r.runner_up_ratio, "verdict", None) == "higher" else "")
                          for r in g.itertuples())
        changes = [int(r.batch_size) for r in g.itertuples() if r.changed]
        decided = [int(r.batch_size) for r in g.itertuples() if r.decided_change]
        tail = "" if not changes else (f"; changes at {','.join(map(str, changes))}"
                                       + (f" (decided at {','.join(map(str, decided))})" if decided
                                          else " (point estimates only)"))
        variant = first["mode"] + (" native" if first["impl"] == "native" else "")
        lines.append(f"  {first['label']} [{variant}]: {steps}{tail}")
    return lines


def end_of_run(rep, recs: list[dict], run_id: str | None) -> str:
    return "\n".join([*decisions(rep), *batch_lines(rep), *problems(recs, run_id)])
