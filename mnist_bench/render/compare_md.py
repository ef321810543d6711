"""Markdown of ``mnist-bench compare``'s table (``analysis.compare.compare``)."""

from __future__ import annotations

import pandas as pd

from ..analysis import decisions
from ..analysis.compare import KEY
from ..settings import BASELINE_BACKEND
from . import cells as fmt


def verdict(row: dict) -> str:
    """A compared cell's verdict in words: "ok", "slower", "less accurate by 0.0123", ..."""
    if row.get("side") == "new only":
        return "new cell"
    if row.get("side") == "old only":
        return "missing in NEW"
    problems = []
    if row.get("slower"):
        problems.append("slower" + ("" if row.get("tested") else
                                    " (ratio only: too few runs for an interval)"))
    if row.get("tta_slower") is True:
        problems.append("slower to target" + ("" if row["tta_ratio"].low is not None else " (ratio only)"))
    if not fmt.missing(row.get("target_missed")):
        problems.append(f"target not reached in {row['target_missed']} runs")
    if row.get("overhead_slower") is True:
        problems.append("more overhead outside training" + (
            "" if row["overhead_ratio"].low is not None else " (ratio only)"))
    if not fmt.missing(row.get("now_status")):
        problems.append(f"now {row['now_status']}")
    if not fmt.missing(row.get("new_lost")):
        problems.append(f"{int(row['new_lost'])} of {int(row['new_total'])} runs lost")
    if not fmt.missing(row.get("accuracy_drop")):
        problems.append(f"less accurate by {row['accuracy_drop']:.4f}")
    if problems:
        return "; ".join(problems)
    if row.get("faster"):
        return "faster" + ("" if row.get("tested") else " (ratio only: too few runs for an interval)")
    return "ok"


def setup(value) -> str:
    """A cell's setup (``keys.setup_of``) in words: "quick", "smoke, --epochs 6",
    "quick, --precision float32"."""
    if not isinstance(value, tuple):
        return ""
    profile, epochs, lr, precision = (tuple(value) + (None,) * 4)[:4]
    return ", ".join([f"{profile}"] + ([f"--epochs {epochs}"] if epochs else [])
                     + ([f"lr {lr}"] if lr else [])
                     + ([f"--precision {precision}"] if precision not in (None, "as-shipped") else []))


def bare(r) -> str:
    """A NEW/OLD ratio with its interval when there is one: "1.03x [0.97-1.10]"."""
    if fmt.missing(r) or r.ratio is None:
        return ""
    return f"{r.ratio:.2f}x" + (f" [{r.low:.2f}-{r.high:.2f}]" if r.low is not None else "")


LEGEND = ("Checked per cell (NEW/OLD, Welch 95% interval over runs when both sides have 2+): "
          "the steady epoch (`interval`) and the time to target (`to target`) may grow by "
          "--max-slowdown, the seconds outside the training call (`overhead`: process start, "
          "imports, data, build, probes) by --max-overhead-growth, the mean test accuracy fall "
          "by --max-accuracy-drop; a target no longer reached in every run, a cell that no "
          "longer measures, and runs lost are regressions too.")


def markdown(df: pd.DataFrame) -> str:
    rows = []
    for r in df.to_dict("records"):
        runs = ("" if fmt.missing(r.get("old_runs"))
                else f"{int(r['old_runs'])}/{int(r['new_runs'])}")
        rows.append({**{k: r[k] for k in KEY}, "setup": setup(r["setup"]),
                     # the baseline has no Keras or native loop: no implementation to name
                     "impl": "" if r["backend"] == BASELINE_BACKEND else r["impl"],
                     "batch_size": r["batch_size"] or "", "runs": runs, "old_s": r.get("old_s"),
                     "new_s": r.get("new_s"), "interval": fmt.ratio(r.get("ratio")),
                     "to target": bare(r.get("tta_ratio")), "overhead": bare(r.get("overhead_ratio")),
                     "old_acc": r.get("old_acc"), "new_acc": r.get("new_acc"),
                     "verdict": verdict(r)})
    shown = pd.DataFrame(rows, columns=[*KEY, "runs", "old_s", "new_s", "interval", "to target",
                                        "overhead", "old_acc", "new_acc", "verdict"])
    return shown.astype(object).fillna("").to_markdown(index=False, floatfmt=".4g")


def words(verdict: str, first) -> str:
    """A replicated comparison's verdict in the report's words, for its first variant (every
    compared figure is a time: "higher" is slower)."""
    name = decisions.variant_label(first)
    return {"higher": f"{name} slower", "lower": f"{name} faster",
            "few runs": "too few runs (under 3)"}.get(verdict, verdict)


def replication_markdown(rep: dict, margin: float) -> str:
    """The replication of the verdicts two result sets share: the counts, then each
    comparison whose verdict is not the same on both sides."""
    n = len(rep["pairs"])
    head = (f"### Verdicts replicated (±{100 * margin:g}% margin)\n\n"
            f"{n} comparisons on both sides: {rep['same']} the same decision on both, "
            f"{rep['flipped']} decided differently, {rep['one side']} decided on one side only, "
            f"{rep['neither']} undecided on both.\n")
    rows = [{"table": key[0], "comparison": f"{key[1]}: {' vs '.join(decisions.variant_label(v) for v in key[2:])}",
             "old": words(a, key[2]), "new": words(b, key[2])} for key, a, b in rep["pairs"] if a != b]
    return head + ("\n" + pd.DataFrame(rows).to_markdown(index=False) + "\n" if rows else "")

