"""``mnist-bench compare OLD NEW``: line two result sets up cell by cell and call regressions.

A cell is slower when its steady epoch time grew by more than ``max_slowdown`` and a
Mann-Whitney U test on the per-epoch times says the difference is real (with too few epochs to
test, the ratio alone decides, and the row says so). It is less accurate when its mean test
accuracy fell by more than ``max_accuracy_drop``. Either makes the command exit 1, so it can gate
CI like pytest-benchmark's ``--benchmark-compare-fail``.
"""

from __future__ import annotations

import pandas as pd

from . import report, stats

KEY = list(report.GROUP)


def compare(old: list[dict], new: list[dict], max_slowdown: float = 0.10,
            max_accuracy_drop: float = 0.01) -> pd.DataFrame:
    a = report.tidy(old).set_index(KEY)
    b = report.tidy(new).set_index(KEY)
    rows = []
    for key in [k for k in a.index if k in b.index] + [k for k in b.index if k not in a.index]:
        row = dict(zip(KEY, key))
        if key not in a.index:
            rows.append({**row, "verdict": "new cell"})
            continue
        o, n = a.loc[key], b.loc[key]
        row.update(old_s=o.steady_epoch_s, new_s=n.steady_epoch_s, old_acc=o.test_accuracy,
                   new_acc=n.test_accuracy)
        problems = []
        if o.steady_epoch_s and n.steady_epoch_s and o.steady_epoch_s == o.steady_epoch_s \
                and n.steady_epoch_s == n.steady_epoch_s:
            ratio = n.steady_epoch_s / o.steady_epoch_s
            p = stats.mann_whitney(o.steady_epochs, n.steady_epochs)
            row.update(ratio=ratio, p_value=p)
            real = p is None or p < stats.ALPHA
            if ratio > 1 + max_slowdown and real:
                problems.append("slower" + (" (untested: too few epochs)" if p is None else ""))
            elif ratio < 1 / (1 + max_slowdown) and real:
                row["note"] = "faster"
        elif n.status not in ("ok", "diverged") and o.status in ("ok", "diverged"):
            problems.append(f"now {n.status}")
        if o.test_accuracy == o.test_accuracy and n.test_accuracy == n.test_accuracy and \
                o.test_accuracy is not None and n.test_accuracy is not None:
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
    cols = [c for c in [*KEY, "old_s", "new_s", "ratio", "p_value", "old_acc", "new_acc", "verdict",
                        "note"] if c in df]
    return df[cols].to_markdown(index=False, floatfmt=".4g")
