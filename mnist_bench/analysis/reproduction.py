"""Did each backend reproduce what the seed's source reported? (docs/seeds.md)

Only records of the ``seed`` profile count: they train each recipe for its source's own epoch
count (a run with ``--epochs`` other than the source's is not judged against the source). Per
spec and backend: the source's figure, the reproduced test accuracy (mean and
standard deviation over seeds), the difference in points, and whether it is within a tolerance of
1 point (1.5 for the Fashion-MNIST specs, whose source reported two runs 0.4 points apart). The
scikit-learn baseline is judged on its 15k split, the figure its source reported.
"""

from __future__ import annotations

import pandas as pd

from ..settings import BASELINE_BACKEND
from . import stats
from .keys import device_kind, is_throughput

TOLERANCE = {"mnist": 0.010, "fashion_mnist": 0.015}


def table(recs: list[dict]) -> pd.DataFrame:
    """One row per seed-profile spec, dataset, backend and device kind (Keras, default mode);
    empty without seed-profile records."""
    groups: dict[tuple, list[dict]] = {}
    for r in recs:
        if r.get("profile") != "seed" or r.get("status") not in ("ok", "diverged") \
                or (r.get("mode") or "default") != "default" or (r.get("impl") or "keras") != "keras" \
                or is_throughput(r):
            continue
        recipe = r.get("recipe") or {}
        if recipe.get("reported_accuracy") is None or r["dataset"] != recipe.get("dataset"):
            continue  # no figure to reproduce (user spec, or a spec moved to the other dataset)
        if r.get("epochs") not in (None, recipe.get("epochs")) or r.get("lr_scaling"):
            continue  # --epochs other than the source's: not the source's training
        groups.setdefault((r["spec"], r["dataset"], r["backend"], device_kind(r)), []).append(r)
    rows = []
    for (spec, dataset, backend, device), rs in groups.items():
        key = "split_accuracy" if backend == BASELINE_BACKEND else "test_accuracy"
        mean, sd = stats.mean_std([r.get(key) for r in rs])
        reported = rs[0]["recipe"]["reported_accuracy"]
        tol = TOLERANCE.get(dataset, 0.01)
        diff = mean - reported
        rows.append({"spec": spec, "dataset": dataset, "backend": backend, "device": device,
                     "epochs": max(r.get("epochs_run") or 0 for r in rs), "runs": len(rs),
                     "reported": reported, "reproduced": mean, "sd": sd,
                     "measured on": "15k split" if backend == BASELINE_BACKEND else "test set",
                     "difference (points)": 100 * diff, "tolerance": tol,
                     "within": abs(diff) <= tol})
    return pd.DataFrame(rows)
