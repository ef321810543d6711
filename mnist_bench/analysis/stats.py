"""Run-level statistics (docs/method.md): the run is the unit of evidence, never the epoch.

Each run (one fresh process) contributes one figure per quantity: its mean steady epoch
(epochs 2..n), or its time to the target accuracy. Every run counts, whatever its figure
(a backend's own slow epochs are its cost). A variant's figure is the arithmetic mean of its
runs' figures: what a long training pays per epoch on average, spikes included (a geometric
mean would understate a backend whose slow epochs come on one side). Two variants measured in
the same blocks of one run are compared by the ratio of their means over the blocks both
have, paired: the interval is the delta method's on the log of that ratio, from the per-block
differences ``a_i / mean(a) - b_i / mean(b)`` with Student's t, so drift shared by a block
cancels as in a paired t-test; their spread moderated towards what the same two backends show
on the run's other specs (``analysis.prior``: limma's moderated t), never below the epoch noise
floor (``Figures``).

Three verdicts, against a practical margin δ (``MARGIN``, ``--margin``): "higher" or "lower"
when the interval lies wholly beyond 1 + δ or 1 / (1 + δ), "equivalent" when it lies wholly
inside [1 / (1 + δ), 1 + δ] (two one-sided tests, each at the interval's level), else
"undecided". An interval that holds 1 is never read as "no difference". With fewer than
``MIN_RUNS`` paired blocks no interval is made (``FEW``).

Looks happen on schedule only: an interval is made from the first ``looked(n)`` blocks a pair
has, the largest look of the run's schedule not above n (all n past the last look), so a run
stopped between looks (a budget, an interrupt) is judged as at its last scheduled look, and the
blocks after it are shown but not judged. The schedule is ``LOOKS``, or the first of them that a
run planned to its budget can reach (``Figures.looks``; ``execute.until`` chooses it from the
cells' costs before any look). Each interval is made at level 1 - ``ALPHA`` / (the schedule's
looks) (Bonferroni over the looks): 98.75% over the four of ``LOOKS``, 95% over one. A
comparison against the fastest of k variants, the fastest chosen from the same runs, is one
of a family of k - 1 that hold together at that level (``family``: Bonferroni over the k - 1,
as in Hsu's multiple comparisons with the best), so choosing the fastest by its luck does not
cost the interval its level. ``analysis.simulation`` measures, with the shipped loop, how
often these intervals cover the truth and how often a verdict is wrong (docs/method.md).
Variants from different runs (``compare``) are not paired: the ratio of means with a
Welch-style 95% interval on its log instead.
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
MAX_MORE = 500  # blocks beyond which "needs about k more" is not worth estimating


@dataclass(frozen=True)
class Prior:
    """The spread that paired comparisons of one kind show in one run (``analysis.prior``):
    the per-block differences' variance ``s2`` as an empirical-Bayes prior with ``df``
    degrees of freedom, fitted over ``group`` (the run, device, setup, method, mode,
    implementation, figure, pair of backends and number of blocks judged that the comparisons
    share) from ``pairs`` comparisons."""

    group: tuple
    s2: float
    df: float
    pairs: int


class Figures(dict):
    """{block: a run's figure}, with what epoch noise alone adds to the variance of one run's
    figure relative to its mean (``noise``: an epoch's relative variance over the steady epochs
    a run averages, pooled over every cell of the backend in the run, with ``noise_df`` degrees
    of freedom). Three runs of a few epochs mostly miss a backend's rare slow epochs, and their
    spread alone then understates what a mean holding them varies by; the pooled epoch noise is
    the floor ``paired_ratio`` puts under that spread. ``looks``: the look schedule of the run
    the figures come from (``LOOKS``, or the first of them, planned to the run's budget).
    ``priors``: {key: ``Prior``}, the spread the comparisons of their kind show in their run,
    which ``paired_ratio`` moderates a comparison's own spread with where both sides hold one
    prior under one key."""

    def __init__(self, figures=(), noise: float = 0.0, noise_df: float = 0.0,
                 looks: tuple[int, ...] | None = None):
        super().__init__(figures)
        self.noise, self.noise_df = noise, noise_df
        self.looks = tuple(looks or getattr(figures, "looks", None) or LOOKS)
        self.priors = dict(getattr(figures, "priors", None) or {})


def schedule_of(*figures) -> tuple[int, ...]:
    """The look schedule that judges ``figures``: their run's, the longest where two differ
    (the lower level)."""
    return max((getattr(f, "looks", None) or LOOKS for f in figures), key=len)


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None, None
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else None)


def _t(df: float, confidence: float = CONFIDENCE) -> float:
    from scipy.stats import t

    return float(t.ppf(0.5 + confidence / 2, df))


def mean_interval(values: Sequence[float]) -> tuple[float | None, float | None, float | None]:
    """(mean, low, high) of positive run figures: the arithmetic mean with a 95% interval made
    on its log by the delta method (so it stays positive), (mean, None, None) with fewer than
    2 values."""
    vals = [v for v in values if _positive(v)]
    if not vals:
        return None, None, None
    m = statistics.fmean(vals)
    if len(vals) < 2:
        return m, None, None
    half = _t(len(vals) - 1) * statistics.stdev(vals) / m / math.sqrt(len(vals))
    return m, m * math.exp(-half), m * math.exp(half)


def looked(n: int, looks: tuple[int, ...] = LOOKS) -> int:
    """How many of ``n`` paired blocks a verdict uses: the largest scheduled look (of
    ``looks``) not above n, all n past the last look, n itself below the first (no verdict)."""
    if n < looks[0] or n > looks[-1]:
        return n
    return max(k for k in looks if k <= n)


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
    margin: float = MARGIN
    confidence: float = DECISION_CONFIDENCE
    more: int | None = None
    family: int = 1  # the intervals that hold together at ``confidence`` (decision_confidence)

    PARTS = ("ratio", "low", "high", "n", "verdict")  # what a file holds of it (JSON, CSV)

    def parts(self) -> dict:
        """The ratio as data: value, interval, runs and verdict (every file spells it so)."""
        return {name: getattr(self, name) for name in self.PARTS}

    @property
    def differs(self) -> bool:
        """A decided difference: A is higher or lower than B beyond the margin."""
        return self.verdict in DIFFERS

    @property
    def decided(self) -> bool:
        """Any of the three verdicts reached: a difference, or equivalence within the margin."""
        return self.verdict in (*DIFFERS, "equivalent")


def decision_confidence(family: int = 1, looks: tuple[int, ...] = LOOKS) -> float:
    """The level of one interval of ``family`` that hold together at 1 - ``ALPHA`` / (the
    looks of the schedule ``looks``: ``DECISION_CONFIDENCE`` over ``LOOKS``) (Bonferroni): a
    comparison against the fastest of k variants, the fastest chosen from the same runs, is
    one of k - 1. Without it, at a true ratio near 1 the fastest is the luckiest
    of k and its intervals cover the truth less often than their level says
    (``analysis.simulation``: 96.8% at the last look against 98.75%)."""
    return 1 - ALPHA / len(looks) / max(1, family)


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
                  confidence: float = DECISION_CONFIDENCE, extra_df: float = 0.0) -> int | None:
    """About how many more paired blocks a comparison with log-ratio ``mean`` and ``sd`` over
    ``n`` blocks needs before its interval clears (or fits inside) the margin, if the mean and
    spread stay as seen (``extra_df``: the prior's degrees of freedom a moderated spread
    adds); None when the mean sits on the margin (hundreds of blocks)."""
    room = abs(abs(mean) - math.log1p(margin))  # what the interval's half-width must fit in
    if sd == 0:
        return 0
    if room == 0:
        return None
    import numpy as np
    from scipy.stats import t

    totals = np.arange(max(n, MIN_RUNS), n + MAX_MORE)
    fits = t.ppf(0.5 + confidence / 2, totals - 1 + extra_df) * sd / np.sqrt(totals) < room
    return int(totals[fits.argmax()]) - n if fits.any() else None


def paired_ratio(a: dict, b: dict, margin: float = MARGIN, schedule: bool = True,
                 family: int = 1) -> Ratio:
    """mean(A)/mean(B) from two {block: figure} maps, paired on the blocks both have (in block
    order); with ``schedule``, only the first ``looked(n)`` of them (the last scheduled look);
    one of ``family`` intervals that hold together (``decision_confidence``), at the level of
    the figures' look schedule (``schedule_of``)."""
    looks = schedule_of(a, b)
    level, held = decision_confidence(family, looks), decision_confidence(1, looks)
    blocks = paired_blocks(a, b, schedule)
    n = len(blocks)
    if not n:
        return Ratio(None, None, None, 0, FEW, margin=margin, more=MIN_RUNS, family=family,
                     confidence=held)
    x, y = [a[k] for k in blocks], [b[k] for k in blocks]
    mx, my = statistics.fmean(x), statistics.fmean(y)
    m = math.log(mx / my)
    if n < MIN_RUNS:
        return Ratio(mx / my, None, None, n, FEW, margin=margin, more=MIN_RUNS - n, family=family,
                     confidence=held)
    sd = statistics.stdev(xi / mx - yi / my for xi, yi in zip(x, y))
    sd, df = _spread(sd, n - 1, a, b)
    half = _t(df, level) * sd / math.sqrt(n)
    low, high = math.exp(m - half), math.exp(m + half)
    v = verdict(low, high, margin)
    more = (None if v in (*DIFFERS, "equivalent")
            else blocks_needed(m, sd, n, margin, level, extra_df=df - (n - 1)))
    return Ratio(mx / my, low, high, n, v, margin=margin, confidence=held, more=more, family=family)


def paired_blocks(a: dict, b: dict, schedule: bool = True) -> list:
    """The blocks two {block: figure} maps are paired on, in order: both have a figure there;
    with ``schedule``, only the first ``looked(n)`` of them (the last scheduled look)."""
    blocks = sorted(k for k in a if k in b and _positive(a[k]) and _positive(b[k]))
    return blocks[:looked(len(blocks), schedule_of(a, b))] if schedule else blocks


def paired_variance(a: dict, b: dict, blocks: list) -> tuple[float, int]:
    """(the variance of the per-block relative differences, its degrees of freedom) of two
    {block: figure} maps over ``blocks`` (``paired_blocks``), as ``paired_ratio`` sees it."""
    x, y = [a[k] for k in blocks], [b[k] for k in blocks]
    mx, my = statistics.fmean(x), statistics.fmean(y)
    return statistics.variance(xi / mx - yi / my for xi, yi in zip(x, y)), len(blocks) - 1


def _spread(sd: float, df: float, a, b) -> tuple[float, float]:
    """(sd, df) of the per-block differences. Where both sides hold one ``Prior`` (the same
    pair's comparisons on the run's other specs), the variance seen is moderated towards it as
    in limma's moderated t: (d0 s0^2 + df sd^2) / (d0 + df), on df + d0 degrees of freedom.
    Under it, the two sides' pooled epoch noise (``Figures.noise``) is the floor; where the
    floor is the larger, it stands in for the spread on the blocks' own degrees of freedom (the
    prior's say nothing of it: a backend's rare slow epochs, which the floor is there for, make
    its runs' spread an uncertain guide)."""
    floor = math.sqrt(sum(getattr(f, "noise", 0.0) for f in (a, b)))
    theirs = getattr(b, "priors", {})
    prior = next((p for k, p in getattr(a, "priors", {}).items() if theirs.get(k) == p), None)
    if prior is not None and prior.df > 0:
        moderated = math.sqrt((prior.df * prior.s2 + df * sd * sd) / (prior.df + df))
        if moderated >= floor:
            return moderated, df + prior.df
    return max(sd, floor), df


def unpaired_ratio(a: Sequence[float], b: Sequence[float], margin: float = 0.0,
                   noise: tuple[float, float] = (0.0, 0.0)) -> Ratio:
    """mean(A)/mean(B) from independent runs, with a Welch-style 95% interval on its log (the
    delta method: each side's relative standard error); ``noise``: each side's epoch noise
    floor (``Figures.noise``) under its runs' relative variance, as ``paired_ratio`` has."""
    xa = [v for v in a if _positive(v)]
    xb = [v for v in b if _positive(v)]
    n = min(len(xa), len(xb))
    common = dict(margin=margin, confidence=CONFIDENCE)
    if not n:
        return Ratio(None, None, None, 0, FEW, **common)
    ma, mb = statistics.fmean(xa), statistics.fmean(xb)
    m = math.log(ma / mb)
    la, lb = [v / ma for v in xa], [v / mb for v in xb]  # relative to each side's mean
    if len(la) < 2 or len(lb) < 2 or len(la) + len(lb) < MIN_RUNS + 1:
        return Ratio(math.exp(m), None, None, n, FEW, **common)
    seen_a, seen_b = statistics.variance(la) / len(la), statistics.variance(lb) / len(lb)
    va, vb = max(seen_a, noise[0] / len(la)), max(seen_b, noise[1] / len(lb))
    se = math.sqrt(va + vb)
    if se == 0:
        return Ratio(math.exp(m), math.exp(m), math.exp(m), n,
                     verdict(math.exp(m), math.exp(m), margin), **common)
    # Welch's degrees of freedom from the variances seen (the floor only ever widens)
    df = ((seen_a + seen_b) ** 2 / (seen_a ** 2 / (len(la) - 1) + seen_b ** 2 / (len(lb) - 1))
          if seen_a + seen_b > 0 else len(la) + len(lb) - 2)
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
