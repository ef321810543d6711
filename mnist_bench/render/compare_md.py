"""Markdown of ``mnist-bench compare``'s table (``analysis.compare.compare``)."""

from __future__ import annotations

import pandas as pd

from ..analysis import decisions
from ..analysis.compare import KEY
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
    if not fmt.missing(row.get("now_status")):
        problems.append(f"now {row['now_status']}")
    if not fmt.missing(row.get("new_lost")):
        problems.append(f"{int(row['new_lost'])} of {int(row['new_total'])} runs lost")
    if not fmt.missing(row.get("accuracy_drop")):
        problems.append(f"less accurate by {row['accuracy_drop']:.4f}")
    return "; ".join(problems) if problems else "ok"


def setup(value) -> str:
    """A cell's setup: "quick" or "smoke, --epochs 6"."""
    if not isinstance(value, tuple):
        return ""
    profile, epochs = value
    return f"{profile}" + (f", --epochs {epochs}" if epochs else "")


def note(row: dict) -> str:
    if row.get("faster") is True:
        return "faster" + ("" if row.get("tested") else " (ratio only)")
    return ""


def markdown(df: pd.DataFrame) -> str:
    rows = []
    for r in df.to_dict("records"):
        runs = ("" if fmt.missing(r.get("old_runs"))
                else f"{int(r['old_runs'])}/{int(r['new_runs'])}")
        rows.append({**{k: r[k] for k in KEY if k != "setup"}, "setup": setup(r["setup"]), "runs": runs, "old_s": r.get("old_s"),
                     "new_s": r.get("new_s"), "interval": fmt.ratio(r.get("ratio")),
                     "old_acc": r.get("old_acc"), "new_acc": r.get("new_acc"),
                     "verdict": verdict(r), "note": note(r)})
    shown = pd.DataFrame(rows, columns=[*KEY, "runs", "old_s", "new_s", "interval", "old_acc",
                                        "new_acc", "verdict", "note"])
    return shown.astype(object).fillna("").to_markdown(index=False, floatfmt=".4g")


def replication_markdown(rep: dict, margin: float) -> str:
    """The replication of the verdicts two result sets share: the counts, then each
    comparison whose verdict is not the same on both sides."""
    n = len(rep["pairs"])
    head = (f"### Verdicts replicated (±{100 * margin:g}% margin)\n\n"
            f"{n} comparisons on both sides: {rep['same']} the same decision on both, "
            f"{rep['flipped']} decided differently, {rep['one side']} decided on one side only, "
            f"{rep['neither']} undecided on both.\n")
    rows = [{"table": key[0], "comparison": f"{key[1]}: {' vs '.join(decisions.variant_label(v) for v in key[2:])}",
             "old": a, "new": b} for key, a, b in rep["pairs"] if a != b]
    return head + ("\n" + pd.DataFrame(rows).to_markdown(index=False) + "\n" if rows else "")

