"""The empirical-Bayes prior of a run's paired comparisons (limma's moderated t; Smyth 2004).

With three runs a comparison's own spread has 2 degrees of freedom, and Student's t there is
wide: its 95% quantile is 4.30, against 2.45 at 6 degrees of freedom. The comparisons of one
run share much of what makes them vary (the machine, its load, the two backends' own noise),
so each is judged with its own spread moderated towards what the run's other comparisons of
the same two backends show: ``stats.paired_ratio`` uses (d0 s0^2 + d s^2) / (d0 + d) with
d + d0 degrees of freedom where both sides hold one ``stats.Prior`` under one key.

A prior's key is one figure (the steady epoch, or the time to target) of one run, device,
setup, method, mode and implementation, and one pair of backends (``BY_PAIR``); its
comparisons are that pair on every spec (dataset and batch size) of the run, paired by block
over the blocks the comparison is judged on (``pool``), whether the tables set the pair
against each other or not (a pair's own spread does not depend on which of the two is the
fastest). One prior per pair, not one per figure: a backend with rare slow epochs makes its
pairs vary more than the others', and a prior per pair keeps them apart (the simulation finds
the two alike at the shipped settings, one per figure deciding a true 2x about half a block
sooner: docs/method.md). s0^2 and d0 are fitted to the pairs' variances as limma's
``fitFDist`` does (the moments of log s^2): where the comparisons' true spreads differ from one
spec to another, their variances scatter more than d degrees of freedom alone make them, d0
comes out small and each comparison keeps mostly its own spread; where they agree, d0 is
large. d0 is capped at ``MAX_DF`` (a handful of comparisons of one run cannot know a spread
better than that), and no prior is fitted from fewer than ``MIN_PAIRS``. Under the moderated
spread the epoch noise floor stays (``stats.Figures``). ``analysis.simulation`` measures the
intervals' coverage with it, the spiking backend's and the widest-spread variants' apart.
"""

from __future__ import annotations

import math
from collections import defaultdict
from itertools import combinations

import numpy as np

from . import stats

MAX_DF = 2.0  # the most degrees of freedom the prior may add to a comparison's own
MIN_PAIRS = 4  # the fewest comparisons a prior is fitted from
FIGURES = ("run_epoch_s", "run_tta_s")
BY_PAIR = True  # one prior per pair of backends within a kind (else one per kind)
KIND = ("run", "device_kind", "setup", "method", "mode", "impl")
SPEC = ("dataset", "spec", "batch_size")  # a spec's variants, within a kind


def _trigamma_inverse(x: float) -> float:
    """y with trigamma(y) = x (limma's Newton iteration)."""
    from scipy.special import polygamma

    if x > 1e7:
        return 1 / math.sqrt(x)
    if x < 1e-6:
        return 1 / x
    y = 0.5 + 1 / x
    for _ in range(50):
        tri = float(polygamma(1, y))
        step = tri * (1 - tri / x) / float(polygamma(2, y))
        y += step
        if -step / y < 1e-8:
            break
    return y


def fit(variances: list[tuple[float, float]],
        max_df: float | None = None) -> tuple[float, float] | None:
    """(s0^2, d0) of sample variances [(s^2, d), ...] as limma's ``fitFDist`` fits them (d0
    capped at ``max_df``, ``MAX_DF`` unless given); None with fewer than ``MIN_PAIRS`` positive
    ones, or a cap of 0 (no prior)."""
    from scipy.special import digamma, polygamma

    pos = [(v, d) for v, d in variances if v > 0 and d > 0]
    if len(pos) < MIN_PAIRS:
        return None
    s2 = np.array([v for v, _ in pos])
    d = np.array([d for _, d in pos], dtype=float)
    e = np.log(s2) - digamma(d / 2) + np.log(d / 2)
    excess = float(np.var(e, ddof=1) - np.mean(polygamma(1, d / 2)))
    cap = MAX_DF if max_df is None else max_df
    d0 = min(2 * _trigamma_inverse(excess) if excess > 0 else math.inf, cap)
    if d0 <= 0:
        return None
    if math.isinf(d0):  # the limit: the spreads' own mean on the log scale
        return float(math.exp(e.mean())), d0
    return float(math.exp(e.mean() + digamma(d0 / 2) - math.log(d0 / 2))), d0


def pool(rows: list[dict], baseline: str) -> None:
    """Give each pair of run figures (``FIGURES``, already ``stats.Figures``) of one spec the
    ``stats.Prior`` of its kind and pair of backends at the blocks it is judged on (n, its
    last scheduled look): fitted from every pair of that kind and those backends with at least
    n paired blocks, each over its first n. So a comparison is judged with what the run's
    other specs showed over the same blocks: a comparison decided at one look and measured no
    more meets the same prior at every later look, its verdict unchanged, however the open
    ones go on."""
    by_spec: dict = defaultdict(list)
    for row in rows:
        if row.get("backend") != baseline:
            by_spec[(tuple(row.get(k) for k in KIND), tuple(row.get(k) for k in SPEC))].append(row)
    for column in FIGURES:
        pairs = []  # (prior key but n, the two figures, their paired blocks at the last look)
        for (kind, _), group in by_spec.items():
            rows_ = [r for r in group if isinstance(r.get(column), stats.Figures)]
            for a, b in combinations(rows_, 2):
                blocks = stats.paired_blocks(a[column], b[column])
                if len(blocks) >= stats.MIN_RUNS:
                    pairs.append(((*kind, column, *_pair(a, b)), a[column], b[column], blocks))
        priors: dict = {}
        for key, fa, fb, blocks in pairs:
            full = (*key, len(blocks))
            if full not in priors:
                n = len(blocks)
                variances = [stats.paired_variance(x, y, bl[:n])
                             for k, x, y, bl in pairs if k == key and len(bl) >= n]
                fitted = fit(variances)
                priors[full] = fitted and stats.Prior(full, *fitted, len(variances))
            if priors[full]:
                fa.priors[full] = fb.priors[full] = priors[full]


def _pair(a: dict, b: dict) -> tuple:
    """The part of a prior's key two rows' pair brings: their backends (``BY_PAIR``), or none."""
    return tuple(sorted((a["backend"], b["backend"]))) if BY_PAIR else ()
