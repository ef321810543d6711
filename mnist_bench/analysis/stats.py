"""Run-level statistics (docs/method.md): the run is the unit of evidence, never the epoch.

Each run (one fresh process) contributes one figure per quantity: its mean steady epoch (epochs 2..n), or
its time to the target accuracy. Two variants measured in the same blocks of one run are
compared by the ratio of their figures in each block, paired: the geometric mean of the
per-block ratios with a Student-t confidence interval on the log ratios. A difference is called
only when the interval excludes 1; with fewer than ``MIN_RUNS`` paired blocks no interval is
made and the comparison's verdict is ``FEW``. Variants from different runs (``compare``)
are not paired: their log figures get Welch's interval instead.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence

CONFIDENCE = 0.95
MIN_RUNS = 3  # fewer paired runs than this: no interval, no verdict
FEW = "few runs"  # the verdict of a ratio with fewer than MIN_RUNS runs


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None, None
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else None)


def _t(df: float) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + CONFIDENCE / 2, df))


def geo_mean_interval(values: Sequence[float]) -> tuple[float | None, float | None, float | None]:
    """(geometric mean, low, high) of positive run figures; the interval is a t-interval on the
    logs, (gm, None, None) with fewer than 2 values."""
    vals = [v for v in values if v is not None and v > 0 and math.isfinite(v)]
    if not vals:
        return None, None, None
    logs = [math.log(v) for v in vals]
    m = statistics.fmean(logs)
    if len(logs) < 2:
        return math.exp(m), None, None
    half = _t(len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    return math.exp(m), math.exp(m - half), math.exp(m + half)


@dataclass(frozen=True)
class Ratio:
    """A ratio A/B of run figures with its confidence interval and verdict.

    ``verdict``: "higher" (A/B > 1 with the whole interval above 1), "lower", "tie" (the
    interval holds 1), or "few runs" (fewer than ``MIN_RUNS``: no interval).
    """

    ratio: float | None
    low: float | None
    high: float | None
    n: int
    verdict: str
    paired: bool = True

    @property
    def decided(self) -> bool:
        return self.verdict in ("higher", "lower")


def _verdict(low: float, high: float) -> str:
    if low > 1:
        return "higher"
    if high < 1:
        return "lower"
    return "tie"


def paired_ratio(a: dict, b: dict) -> Ratio:
    """A/B from two {block: figure} maps, paired on the blocks both have."""
    blocks = [k for k in a if k in b and _positive(a[k]) and _positive(b[k])]
    logs = [math.log(a[k] / b[k]) for k in blocks]
    n = len(logs)
    if not n:
        return Ratio(None, None, None, 0, FEW)
    m = statistics.fmean(logs)
    if n < MIN_RUNS:
        return Ratio(math.exp(m), None, None, n, FEW)
    half = _t(n - 1) * statistics.stdev(logs) / math.sqrt(n)
    low, high = math.exp(m - half), math.exp(m + half)
    return Ratio(math.exp(m), low, high, n, _verdict(low, high))


def unpaired_ratio(a: Sequence[float], b: Sequence[float]) -> Ratio:
    """A/B of geometric means from independent runs, with Welch's interval on the logs."""
    la = [math.log(v) for v in a if _positive(v)]
    lb = [math.log(v) for v in b if _positive(v)]
    n = min(len(la), len(lb))
    if not n:
        return Ratio(None, None, None, 0, FEW, paired=False)
    m = statistics.fmean(la) - statistics.fmean(lb)
    if len(la) < 2 or len(lb) < 2 or len(la) + len(lb) < MIN_RUNS + 1:
        return Ratio(math.exp(m), None, None, n, FEW, paired=False)
    va, vb = statistics.variance(la) / len(la), statistics.variance(lb) / len(lb)
    se = math.sqrt(va + vb)
    if se == 0:
        return Ratio(math.exp(m), math.exp(m), math.exp(m), n,
                     "tie" if m == 0 else _verdict(math.exp(m), math.exp(m)), paired=False)
    df = (va + vb) ** 2 / (va ** 2 / (len(la) - 1) + vb ** 2 / (len(lb) - 1))
    half = _t(df) * se
    low, high = math.exp(m - half), math.exp(m + half)
    return Ratio(math.exp(m), low, high, n, _verdict(low, high), paired=False)


def _positive(v) -> bool:
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v) and v > 0


def time_to_target(curve: list[dict], target: float) -> float | None:
    """Training seconds until the first epoch whose evaluated accuracy reaches ``target``
    (DAWNBench: the first epoch counts, compilation included); None if none does."""
    for point in curve:
        acc = point.get("validation_accuracy", point.get("test_accuracy"))
        if acc is not None and acc >= target:
            return point["train_s"]
    return None
