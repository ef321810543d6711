"""The statistics the tables use: robust summaries and a rank test, as asv does.

Two sets of epoch times differ only if a two-sided Mann-Whitney U test says so at ``ALPHA``;
otherwise they are reported as tied. With fewer than ``MIN_SAMPLES`` times on either side no
test is made and the difference is reported as not tested.
"""

from __future__ import annotations

import math
import statistics
from typing import Sequence

ALPHA = 0.05
MIN_SAMPLES = 3


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None, None
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else None)


def median_iqr(values: Sequence[float]) -> tuple[float | None, float | None]:
    from .timing import quartiles

    vals = [v for v in values if v is not None]
    if not vals:
        return None, None
    q1, q2, q3 = quartiles(vals)
    return q2, q3 - q1


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided p-value that ``a`` and ``b`` come from the same distribution; None if either
    side has fewer than MIN_SAMPLES values."""
    if len(a) < MIN_SAMPLES or len(b) < MIN_SAMPLES:
        return None
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def verdict(p: float | None) -> str:
    """"significant", "tied" or "not tested" for a p-value from ``mann_whitney``."""
    if p is None:
        return "not tested"
    return "significant" if p < ALPHA else "tied"


def time_to_target(curve: list[dict], target: float) -> float | None:
    """Training seconds until the first epoch whose evaluated accuracy reaches ``target``
    (DAWNBench: the first epoch counts, compilation included); None if none does."""
    for point in curve:
        acc = point.get("validation_accuracy", point.get("test_accuracy"))
        if acc is not None and acc >= target:
            return point["train_s"]
    return None
