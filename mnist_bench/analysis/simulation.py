"""The decision rule of ``run --until-decided`` simulated, with no training: how often it
declares two equal variants different (false decisions) and how often it decides a real
difference within the look schedule (power). docs/method.md prints the rates;
tests/test_decisions.py holds them to their bounds; ``python -m mnist_bench.analysis.simulation``
prints them.

A simulated comparison draws one run figure per block for each variant: the log of a run's
mean steady epoch is normal with sd ``sd`` (this machine's between-run spread: 0.03-0.10), and
with ``spikes`` each of its two steady epochs has a 12.5% chance of a 0.3-1.0 epoch extra (the
pattern of Keras-on-TensorFlow's spikes; a larger one makes an outlier epoch, which is flagged
and measured again). At each look of ``stats.LOOKS`` the comparison's interval is made as
``stats.paired_ratio`` makes it, and judged by ``stats.verdict``; it stops at the first look
that decides.
"""

from __future__ import annotations

import numpy as np

from . import stats

SPIKE_P = 0.125  # the share of Keras-on-TensorFlow's steady epochs with a spike
SPIKE = (0.3, 1.0)  # a spike's extra, as a share of the epoch


def figures(rng, trials: int, blocks: int, sd: float, spikes: bool) -> np.ndarray:
    """Log run figures, shape (trials, blocks)."""
    logs = rng.normal(0.0, sd, (trials, blocks))
    if spikes:
        extra = (rng.random((trials, blocks, 2)) < SPIKE_P) * rng.uniform(*SPIKE, (trials, blocks, 2))
        logs += np.log1p(extra.mean(axis=2))
    return logs


def decide(log_ratios: np.ndarray, margin: float = stats.MARGIN) -> tuple[list[str], list[int]]:
    """The verdict each simulated comparison ends with, and the blocks it took."""
    from scipy.stats import t

    trials = log_ratios.shape[0]
    verdicts, used = ["undecided"] * trials, [stats.LOOKS[-1]] * trials
    live = np.ones(trials, dtype=bool)
    for n in stats.LOOKS:
        x = log_ratios[:, :n]
        m, sd = x.mean(axis=1), x.std(axis=1, ddof=1)
        half = t.ppf(0.5 + stats.DECISION_CONFIDENCE / 2, n - 1) * sd / np.sqrt(n)
        for i in np.flatnonzero(live):
            v = stats.verdict(float(np.exp(m[i] - half[i])), float(np.exp(m[i] + half[i])), margin)
            if v != "undecided":
                verdicts[i], used[i], live[i] = v, n, False
    return verdicts, used


def rates(true_ratio: float, sd: float, spikes: bool, trials: int = 1000,
          seed: int = 0) -> dict:
    """Shares of simulated comparisons of A/B = ``true_ratio`` ending in each verdict, and the
    mean number of blocks they took."""
    rng = np.random.default_rng(seed)
    blocks = stats.LOOKS[-1]
    a = figures(rng, trials, blocks, sd, spikes) + np.log(true_ratio)
    b = figures(rng, trials, blocks, sd, spikes)
    verdicts, used = decide(a - b)
    out = {v: verdicts.count(v) / trials for v in ("higher", "lower", "equivalent", "undecided")}
    return {**out, "different": out["higher"] + out["lower"], "mean_blocks": float(np.mean(used))}


def table(trials: int = 1000) -> list[dict]:
    rows = []
    for true in (1.0, 1.3):
        for sd in (0.03, 0.10):
            for spikes in (False, True):
                r = rates(true, sd, spikes, trials)
                rows.append({"true ratio": true, "log sd": sd, "spikes": spikes, **r})
    return rows


if __name__ == "__main__":
    import pandas as pd

    print(f"looks after blocks {stats.LOOKS}, each interval at {stats.DECISION_CONFIDENCE:.4f}, "
          f"margin ±{100 * stats.MARGIN:g}%, 1000 simulated comparisons a row")
    print(pd.DataFrame(table()).to_markdown(index=False, floatfmt=".3f"))
