"""Run-level statistics (docs/method.md): the run is the unit of evidence, never the epoch.

Each run (one fresh process) contributes one figure per quantity: its mean steady epoch
(epochs 2..n), or its time to the target accuracy. Two variants measured in the same blocks of
one run are compared by the ratio of their figures in each block, paired: the geometric mean of
the per-block ratios with a Student-t confidence interval on the log ratios.

Three verdicts, against a practical margin δ (``MARGIN``, ``--margin``): "higher" or "lower"
when the interval lies wholly beyond 1 + δ or 1 / (1 + δ), "equivalent" when it lies wholly
inside [1 / (1 + δ), 1 + δ] (two one-sided tests, each at the interval's level), else
"undecided". An interval that holds 1 is never read as "no difference". With fewer than
``MIN_RUNS`` paired blocks no interval is made (``FEW``).

The interval is valid under repeated looks: ``mnist-bench run --until-decided`` looks after the
blocks in ``LOOKS`` only and stops measuring a comparison once it is decided, so each interval
is made at level 1 - ``ALPHA`` / len(``LOOKS``) (Bonferroni over the looks): the chance that
any look of a comparison decides wrongly stays below ``ALPHA``. The same level is used for
every table, so a run read once and a run read after every look say the same.
Variants from different runs (``compare``) are not paired: Welch's 95% interval instead.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Sequence

CONFIDENCE = 0.95  # the descriptive intervals (one variant's epoch time; compare's Welch)
ALPHA = 0.05  # the chance of any wrong decision of a comparison, over all its looks
LOOKS = (3, 5, 8, 12)  # the blocks after which --until-decided looks (and at most 12 blocks)
DECISION_CONFIDENCE = 1 - ALPHA / len(LOOKS)
MARGIN = 0.05  # δ: a ratio within [1/(1+δ), 1+δ] is equivalent in practice
MIN_RUNS = LOOKS[0]  # fewer paired runs than this: no interval, no verdict
FEW = "few runs"  # the verdict of a ratio with fewer than MIN_RUNS runs
DIFFERS = ("higher", "lower")
VERDICTS = (*DIFFERS, "equivalent", "undecided", FEW)
MAX_MORE = 500  # blocks beyond which "needs about k more" is not worth estimating


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None, None
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else None)


def _t(df: float, confidence: float = CONFIDENCE) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + confidence / 2, df))


def geo_mean_interval(values: Sequence[float]) -> tuple[float | None, float | None, float | None]:
    """(geometric mean, low, high) of positive run figures; the interval is a 95% t-interval on
    the logs, (gm, None, None) with fewer than 2 values."""
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

    ``verdict``: "higher" (the whole interval above 1 + ``margin``), "lower" (wholly below
    1 / (1 + margin)), "equivalent" (wholly inside those bounds), "undecided", or "few runs"
    (fewer than ``MIN_RUNS``: no interval). ``more``: for an open comparison, about how many
    more blocks would decide it at the spread seen so far (None: not estimable, or decided).
    """

    ratio: float | None
    low: float | None
    high: float | None
    n: int
    verdict: str
    paired: bool = True
    margin: float = MARGIN
    confidence: float = DECISION_CONFIDENCE
    more: int | None = None

    @property
    def differs(self) -> bool:
        """A decided difference: A is higher or lower than B beyond the margin."""
        return self.verdict in DIFFERS

    @property
    def decided(self) -> bool:
        """Any of the three verdicts reached: a difference, or equivalence within the margin."""
        return self.verdict in (*DIFFERS, "equivalent")


def verdict(low: float, high: float, margin: float = MARGIN) -> str:
    """The verdict of an interval [low, high] of a ratio against the margin δ."""
    top = 1 + margin
    if low > top:
        return "higher"
    if high < 1 / top:
        return "lower"
    if low >= 1 / top and high <= top:
        return "equivalent"
    return "undecided"


def blocks_needed(mean: float, sd: float, n: int, margin: float = MARGIN,
                  confidence: float = DECISION_CONFIDENCE) -> int | None:
    """About how many more paired blocks a comparison with log-ratio ``mean`` and ``sd`` over
    ``n`` blocks needs before its interval clears (or fits inside) the margin, if the mean and
    spread stay as seen; None when the mean sits on the margin (hundreds of blocks)."""
    room = abs(abs(mean) - math.log1p(margin))  # what the interval's half-width must fit in
    if sd == 0:
        return 0
    if room == 0:
        return None
    import numpy as np
    from scipy.stats import t

    totals = np.arange(max(n, MIN_RUNS), n + MAX_MORE)
    fits = t.ppf(0.5 + confidence / 2, totals - 1) * sd / np.sqrt(totals) < room
    return int(totals[fits.argmax()]) - n if fits.any() else None


def paired_ratio(a: dict, b: dict, margin: float = MARGIN) -> Ratio:
    """A/B from two {block: figure} maps, paired on the blocks both have."""
    blocks = [k for k in a if k in b and _positive(a[k]) and _positive(b[k])]
    logs = [math.log(a[k] / b[k]) for k in blocks]
    n = len(logs)
    if not n:
        return Ratio(None, None, None, 0, FEW, margin=margin, more=MIN_RUNS)
    m = statistics.fmean(logs)
    if n < MIN_RUNS:
        return Ratio(math.exp(m), None, None, n, FEW, margin=margin, more=MIN_RUNS - n)
    sd = statistics.stdev(logs)
    half = _t(n - 1, DECISION_CONFIDENCE) * sd / math.sqrt(n)
    low, high = math.exp(m - half), math.exp(m + half)
    v = verdict(low, high, margin)
    more = None if v in (*DIFFERS, "equivalent") else blocks_needed(m, sd, n, margin)
    return Ratio(math.exp(m), low, high, n, v, margin=margin, more=more)


def unpaired_ratio(a: Sequence[float], b: Sequence[float], margin: float = 0.0) -> Ratio:
    """A/B of geometric means from independent runs, with Welch's 95% interval on the logs."""
    la = [math.log(v) for v in a if _positive(v)]
    lb = [math.log(v) for v in b if _positive(v)]
    n = min(len(la), len(lb))
    common = dict(paired=False, margin=margin, confidence=CONFIDENCE)
    if not n:
        return Ratio(None, None, None, 0, FEW, **common)
    m = statistics.fmean(la) - statistics.fmean(lb)
    if len(la) < 2 or len(lb) < 2 or len(la) + len(lb) < MIN_RUNS + 1:
        return Ratio(math.exp(m), None, None, n, FEW, **common)
    va, vb = statistics.variance(la) / len(la), statistics.variance(lb) / len(lb)
    se = math.sqrt(va + vb)
    if se == 0:
        return Ratio(math.exp(m), math.exp(m), math.exp(m), n,
                     verdict(math.exp(m), math.exp(m), margin), **common)
    df = (va + vb) ** 2 / (va ** 2 / (len(la) - 1) + vb ** 2 / (len(lb) - 1))
    half = _t(df) * se
    low, high = math.exp(m - half), math.exp(m + half)
    return Ratio(math.exp(m), low, high, n, verdict(low, high, margin), **common)


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
