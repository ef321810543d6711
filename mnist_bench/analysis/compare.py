"""``mnist-bench compare OLD NEW``: line two result sets up cell by cell and call regressions.

OLD and NEW are different runs, so their runs are not paired: a cell's figure is the ratio of
the geometric means of its per-run steady epochs (NEW / OLD) with Welch's 95% interval on the
logs. A cell is slower when that ratio exceeds ``1 + max_slowdown`` and the interval lies wholly
above 1. With fewer runs than an interval needs (one run a side), the ratio alone decides and
the row says "ratio only": a gate, not a statistical claim. A cell is less accurate when its
mean test accuracy fell by more than ``max_accuracy_drop``. Either makes the command exit 1.

The drift canary of both sets is compared too (``canary``), so a user sees whether a
"regression" is the code or the machine.
"""

from __future__ import annotations

import statistics

import pandas as pd

from . import aggregate, stats

KEY = ["dataset", "device_kind", "mode", "impl", "spec", "backend"]


def canary_change(old: list[dict], new: list[dict]) -> float | None:
    """NEW's median canary time over OLD's, minus 1 (0.2: the machine ran 20% slower)."""
    a = [r["canary_s"] for r in old if r.get("canary_s")]
    b = [r["canary_s"] for r in new if r.get("canary_s")]
    if not a or not b:
        return None
    return statistics.median(b) / statistics.median(a) - 1


def _merged(recs: list[dict]) -> pd.DataFrame:
    """The tidy table of one side, its runs pooled (one side may hold several stores)."""
    return aggregate.tidy([{**r, "run_id": "side"} for r in recs]).set_index(KEY)


def compare(old: list[dict], new: list[dict], max_slowdown: float = 0.10,
            max_accuracy_drop: float = 0.01) -> pd.DataFrame:
    a, b = _merged(old), _merged(new)
    rows = []
    for key in [k for k in a.index if k in b.index] + [k for k in b.index if k not in a.index]:
        row = dict(zip(KEY, key))
        if key not in a.index:
            rows.append({**row, "verdict": "new cell", "regression": False})
            continue
        o, n = a.loc[key], b.loc[key]
        row.update(old_s=o.steady_epoch_s, new_s=n.steady_epoch_s, old_acc=o.test_accuracy,
                   new_acc=n.test_accuracy)
        problems = []
        if isinstance(o.run_epoch_s, dict) and isinstance(n.run_epoch_s, dict) \
                and o.run_epoch_s and n.run_epoch_s:
            ratio = stats.unpaired_ratio(list(n.run_epoch_s.values()), list(o.run_epoch_s.values()))
            row.update(ratio=ratio.ratio, interval=ratio.text(), runs=f"{len(o.run_epoch_s)}/{len(n.run_epoch_s)}")
            tested = ratio.low is not None
            if ratio.ratio > 1 + max_slowdown and (not tested or ratio.low > 1):
                problems.append("slower" + ("" if tested else " (ratio only: too few runs for an interval)"))
            elif ratio.ratio < 1 / (1 + max_slowdown) and (not tested or ratio.high < 1):
                row["note"] = "faster" + ("" if tested else " (ratio only)")
        elif n.status not in ("ok", "diverged") and o.status in ("ok", "diverged"):
            problems.append(f"now {n.status}")
        if aggregate._present(o.test_accuracy) and aggregate._present(n.test_accuracy):
            drop = o.test_accuracy - n.test_accuracy
            if drop > max_accuracy_drop:
                problems.append(f"less accurate by {drop:.4f}")
        row["verdict"] = "; ".join(problems) if problems else "ok"
        row["regression"] = bool(problems)
        rows.append(row)
    for key in a.index:
        if key not in b.index:
            rows.append({**dict(zip(KEY, key)), "verdict": "missing in NEW", "regression": False})
    return pd.DataFrame(rows)


def markdown(df: pd.DataFrame) -> str:
    cols = [c for c in [*KEY, "runs", "old_s", "new_s", "interval", "old_acc", "new_acc",
                        "verdict", "note"] if c in df]
    return df[cols].astype(object).fillna("").to_markdown(index=False, floatfmt=".4g")
