"""Markdown of ``mnist-bench compare``'s table (``analysis.compare.compare``)."""

from __future__ import annotations

import pandas as pd

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
