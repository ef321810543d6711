"""The empirical-Bayes prior a run's comparisons are moderated with (``analysis.prior``): its fit,
and what it changes in a verdict. tests/test_simulation.py holds the moderated intervals'
coverage, the spiking backend's and the widest-spread variants' apart."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_bench import plan
from mnist_bench.analysis import prior, report, stats
from mnist_bench.record import assemble


def _variances(true: np.ndarray, rng, d: int = 2) -> list[tuple[float, float]]:
    """Sample variances on ``d`` degrees of freedom of comparisons whose true variances are
    ``true``."""
    return [(float(v * rng.chisquare(d) / d), d) for v in true]


def test_the_fit_recovers_the_prior_the_spreads_were_drawn_from():
    """True variances drawn from a scaled inverse chi-square (s0^2 = 0.01, d0 = 3), each seen on
    2 degrees of freedom: the fit finds both, as limma's fitFDist does."""
    rng = np.random.default_rng(1)
    true = 0.01 * 3 / rng.chisquare(3, 4000)
    s2, d0 = prior.fit(_variances(true, rng), max_df=np.inf)
    assert s2 == pytest.approx(0.01, rel=0.15) and d0 == pytest.approx(3, rel=0.25)


def test_spreads_that_agree_give_the_capped_prior_and_scattered_ones_a_weak_one():
    rng = np.random.default_rng(2)
    alike = prior.fit(_variances(np.full(30, 0.01), rng))
    assert alike[1] == prior.MAX_DF  # as if every comparison's spread were known: capped
    scattered = prior.fit(_variances(10 ** rng.uniform(-5, -1, 30), rng))
    assert scattered[1] < 1  # each comparison keeps mostly its own spread
    assert prior.fit(_variances(np.full(prior.MIN_PAIRS - 1, 0.01), rng)) is None


def _run(specs: dict, blocks: int = 3, noise: float = 0.06, seed: int = 0) -> list[dict]:
    """Records of one run: per spec, JAX at 1 s a steady epoch and PyTorch at ``specs[spec]``
    times that, each run off by a factor of sd ``noise`` (the same scale on every spec)."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(blocks):
        for spec, ratio in specs.items():
            for backend, s in (("jax", 1.0), ("torch", ratio)):
                mean = s * float(np.exp(rng.normal(0, noise)))
                cell = plan.Cell(spec=spec, backend=backend, dataset="mnist", repeat=k)
                out.append(assemble.record(
                    cell, run={"run_id": "r"}, status="ok", test_accuracy=0.97,
                    train_samples=60000, epoch_s=[2 * mean, mean, mean], first_epoch_s=2 * mean,
                    steady_epoch_s=mean, recipe={},
                    curve=[{"epoch": 1, "train_s": 2 * mean, "test_accuracy": 0.99}]))
    return out


def _long(recs: list[dict], spec: str) -> stats.Ratio:
    rows = report.judge(recs).recommend
    row = next(r for r in rows.itertuples() if r.question == "long" and r.spec == spec)
    return next(iter(row.against.values()))


SPECS = ("linear_sgd", "linear_rmsprop", "mlp_100x2", "mlp_512", "mlp_256x4")


def test_a_comparison_beside_alike_ones_is_judged_with_their_spread_too():
    """Three runs alone say little of a comparison's spread (2 degrees of freedom); five specs
    whose runs vary alike tell it better. The same 1.3x on mlp_512, in the same records, is
    left open judged alone and decided beside the other four specs' comparisons, with a
    narrower interval round the same ratio."""
    recs = _run({s: (1.3 if s == "mlp_512" else 1.0) for s in SPECS}, seed=5)
    alone = _long([r for r in recs if r["spec"] == "mlp_512"], "mlp_512")
    beside = _long(recs, "mlp_512")
    assert alone.ratio == pytest.approx(beside.ratio)
    assert beside.high - beside.low < alone.high - alone.low
    assert (alone.verdict, beside.verdict) == ("undecided", "higher")


def test_figures_of_different_kinds_are_never_moderated_with_each_other_s_prior():
    """A prior is used only where both sides hold it under one key: a mode against the default
    (two kinds) is judged on its own spread, as before."""
    a, b = {0: 1.5, 1: 1.9, 2: 1.3}, {0: 1.0, 1: 1.0, 2: 1.0}
    p = stats.Prior(("k",), 0.001, 4.0, 8)
    q = stats.Prior(("other",), 0.001, 4.0, 8)
    fa, fb, fc = stats.Figures(a), stats.Figures(b), stats.Figures(b)
    fa.priors[("k",)] = p
    fb.priors[("k",)] = p
    fc.priors[("other",)] = q
    plain = stats.paired_ratio(a, b)
    assert (stats.paired_ratio(fa, fc).low, stats.paired_ratio(fa, fc).high) == (plain.low, plain.high)
    shared = stats.paired_ratio(fa, fb)
    assert plain.low < shared.low and shared.high < plain.high


def test_a_comparison_no_longer_measured_meets_the_same_prior_at_every_later_look():
    """After the look at block 3, only the open comparisons' variants run: here mlp_512, for
    two more blocks of very different spread. linear_sgd's comparison, decided at block 3 and
    not measured since, keeps its interval: its prior is fitted over the first 3 blocks of
    every pair, as at that look, not from the open pairs' 5."""
    specs = {s: (1.3 if s == "linear_sgd" else 1.0) for s in SPECS}
    three = _run(specs, seed=5)
    later = [r for r in _run(specs, blocks=5, noise=0.4, seed=9)
             if r["spec"] == "mlp_512" and r["block"] >= 3]
    before, after = _long(three, "linear_sgd"), _long(three + later, "linear_sgd")
    assert before.verdict == "higher" and (after.low, after.high) == (before.low, before.high)
    assert _long(three + later, "mlp_512").n == 5
