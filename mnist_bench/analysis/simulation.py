"""The shipped decision loop simulated, with no training: ``run --until-decided`` on the
default matrix (``execute.until.UntilDecided``, the tidy table, the views and the verdicts, as
they ship) driven by a fake executor whose records carry noise of the shapes the real runs
have. It measures how often a verdict is wrong, per comparison and per run (family-wise), and
how often each look's interval covers the truth. docs/method.md prints its table;
tests/test_simulation.py holds the loop to its bounds; ``python -m mnist_bench.analysis.simulation``
prints the table (``--trials N`` runs per true ratio).

A fake run's epochs: block drift shared by every cell of a block (``DRIFT_SD`` on the log), a
run effect per run (``RUN_SD``, times a factor of the variant's own drawn once per simulated
run: ``SPREAD_SD`` on the log, so some variants vary more between runs than others; with it,
37% of the priors ``analysis.prior`` fits here find the comparisons' spreads scattered beyond
4 degrees of freedom, against 29% on the published CPU runs), epoch noise (``EPOCH_SD``),
and on Keras-on-TensorFlow its
one-sided spikes (``SPIKES``: about 16% of steady epochs +25-100%, 2% +100-500%, the shape of
results/tf-spikes). A few runs (``FOREIGN_P``) are disturbed from outside: slower, and flagged
"foreign load", so the loop measures their block again. JAX's figures are the reference;
TensorFlow's and PyTorch's expected figures are ``ratio`` times JAX's (TensorFlow's spikes
included in its expectation), so the truth of every comparison is known: the ratio of the two
variants' expected figures (the mean steady epoch a long training pays; the time to target).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import stats

DRIFT_SD = 0.05  # a block's shared slowdown (log sd)
RUN_SD = 0.05  # a run's own offset (log sd): the between-run spread of the published runs
SPREAD_SD = 0.25  # how much a variant's own run-to-run spread differs from RUN_SD (log sd)
EPOCH_SD = 0.03  # an epoch's own noise (log sd)
SPIKES = ((0.16, 0.25, 1.0), (0.02, 1.0, 5.0))  # (share of epochs, extra from, extra to)
SPIKE_MEAN = sum(p * (lo + hi) / 2 for p, lo, hi in SPIKES)  # a spiking epoch's expected extra
FOREIGN_P = 0.003  # the share of runs disturbed from outside
FOREIGN_SLOWDOWN = 1.5
FIRST_EPOCH = 2.5  # the compiling first epoch, in steady epochs
EPOCHS = 3  # the quick profile's
RATIOS = (1.0, 1 / (1 + stats.MARGIN), 1 + stats.MARGIN, 1.3, 2.0)
SPIKING = ("tensorflow",)


def spike_extra(rng, n: int) -> np.ndarray:
    u = rng.random(n)
    out = np.zeros(n)
    edge = 0.0
    for p, lo, hi in SPIKES:
        hit = (u >= edge) & (u < edge + p)
        out[hit] = rng.uniform(lo, hi, hit.sum())
        edge += p
    return out


@dataclass
class FakeExecutor:
    """Writes each cell's record into ``records`` (an in-memory store) with the noise model
    above; ``speed[backend]``: the backend's steady-epoch base, ``first[backend]`` its first
    epoch's."""

    rng: np.random.Generator
    rs: object
    speed: dict
    first: dict
    records: list = field(default_factory=list)
    drift: dict = field(default_factory=dict)
    spread: dict = field(default_factory=dict)  # (spec, backend) -> its run-spread factor
    clock: list = field(default_factory=lambda: [0.0])

    def run(self, cells, stop=None) -> None:
        from ..record import assemble

        for cell in cells:
            if stop is not None and stop():
                return
            d = self.drift.setdefault((cell.repeat, cell.attempt),
                                      math.exp(self.rng.normal(0, DRIFT_SD)))
            k = self.spread.setdefault((cell.spec, cell.backend),
                                       math.exp(self.rng.normal(0, SPREAD_SD)))
            base = self.speed.get(cell.backend, 1.0) * d * self._lognormal(RUN_SD * k)
            steady = base * np.exp(self.rng.normal(0, EPOCH_SD, EPOCHS - 1))
            if cell.backend in SPIKING:
                steady = steady * (1 + spike_extra(self.rng, EPOCHS - 1))
            first = self.first.get(cell.backend, FIRST_EPOCH) * d * self._lognormal(0.1 * k)
            flags = []
            if self.rng.random() < FOREIGN_P:
                steady, first, flags = steady * FOREIGN_SLOWDOWN, first * FOREIGN_SLOWDOWN, ["foreign load"]
            epochs = [float(first), *map(float, steady)]
            self.clock[0] += sum(epochs) + 5
            self.records.append(assemble.record(
                cell, run={"run_id": self.rs.run_id, "order_seed": self.rs.order_seed},
                status="ok", test_accuracy=float(0.97 + self.rng.normal(0, 0.002)),
                train_samples=60000, epoch_s=epochs, first_epoch_s=epochs[0],
                steady_epoch_s=float(np.mean(epochs[1:])),
                curve=[{"epoch": 1, "train_s": epochs[0], "test_accuracy": 0.999}],
                recipe={}, flags=flags, cell_wall_s=sum(epochs) + 5))

    def _lognormal(self, sd: float) -> float:
        """A factor of mean 1 (so a variant's spread does not move its expected figure)."""
        return math.exp(self.rng.normal(-sd * sd / 2, sd))


def truth(ratio: float) -> tuple[dict, dict, dict]:
    """(steady-epoch bases, first-epoch bases, expected figures per question) for a scenario
    whose TensorFlow and PyTorch figures are ``ratio`` times JAX's."""
    expected = {"steady epoch": {"jax": 1.0, "torch": ratio, "tensorflow": ratio},
                "time to target": {"jax": FIRST_EPOCH, "torch": FIRST_EPOCH * ratio,
                                   "tensorflow": FIRST_EPOCH * ratio}}
    speed = {b: v / (1 + SPIKE_MEAN) if b in SPIKING else v for b, v in expected["steady epoch"].items()}
    return speed, dict(expected["time to target"]), expected


def wrong(verdict: str, true: float, margin: float) -> bool:
    """A verdict the truth contradicts: a difference where the truth lies within the margin
    (or beyond it the other way), or "equivalent" where it lies outside."""
    top, bottom = 1 + margin, 1 / (1 + margin)
    return ((verdict == "higher" and true <= top) or (verdict == "lower" and true >= bottom)
            or (verdict == "equivalent" and not bottom <= true <= top))


def one_run(ratio: float, seed: int, margin: float = stats.MARGIN, budget_min: float = 1e9) -> dict:
    """One simulated ``run --until-decided`` of the default matrix: per comparison its verdict,
    whether that is wrong, and per look whether each interval made there covered the truth.
    ``budget_min``: the run's budget on the fake clock (a cell takes its epochs' seconds and
    5 s more: a block about 4 minutes), so the loop plans its look schedule to it."""
    from .. import plan
    from ..execute.until import UntilDecided

    rng = np.random.default_rng(seed)
    rs = plan.RunSettings(until_decided=True, budget_min=budget_min, margin=margin,
                          order_seed=seed, run_id=f"sim-{seed}")
    speed, first, expected = truth(ratio)
    ex = FakeExecutor(rng, rs, speed, first)
    covered: list[tuple[int, bool, bool, bool]] = []  # (look, covered, spiky, wide spread)
    until = UntilDecided(rs, None, ex.run, say=lambda _: None, now=lambda: ex.clock[0],
                         load=lambda: ex.records, save=lambda *_: None)
    judge = until.judge

    def judged():  # every look's intervals, checked against the truth as they are made
        comps = judge()
        now = stats.looked(len({r["block"] for r in ex.records}), until.looks)
        for c in comps:
            r = c.ratio
            if r.low is not None and r.n == now:  # made at this look (not a decided one kept)
                q = expected[_question(c.label)]
                spiky = _question(c.label) == "steady epoch" and bool(set(SPIKING) & {c.a[3], c.b[3]})
                wide = max(ex.spread[(v[0], v[3])] for v in (c.a, c.b)) > math.exp(SPREAD_SD)
                covered.append((r.n, r.low <= q[c.a[3]] / q[c.b[3]] <= r.high, spiky, wide))
        return comps

    until.judge = judged
    until.run()
    out = []
    for c in until.comparisons:
        q = _question(c.label)
        true = expected[q][c.a[3]] / expected[q][c.b[3]]
        out.append({"question": q, "true": true, "verdict": c.ratio.verdict,
                    "wrong": wrong(c.ratio.verdict, true, margin), "n": c.ratio.n})
    return {"comparisons": out, "covered": covered, "looks": until.looks,
            "blocks": len({r["block"] for r in ex.records}),
            "remeasured": sum(1 for r in ex.records if r.get("attempt"))}


def _question(label: str) -> str:
    return "time to target" if label.endswith("time to target") else "steady epoch"


def table(trials: int = 40, ratios=RATIOS, margin: float = stats.MARGIN, seed: int = 0,
          budget_min: float = 1e9) -> list[dict]:
    """One row per true ratio: comparisons, the share of wrong verdicts per comparison and per
    run (any wrong verdict among the run's comparisons), the share decided, the look schedules
    the runs planned, and per look the share of intervals covering the truth."""
    rows = []
    for i, ratio in enumerate(ratios):
        comps, covered, runs_wrong, blocks, again, looks = [], [], 0, [], 0, set()
        for t in range(trials):
            got = one_run(ratio, seed + 1000 * i + t, margin, budget_min)
            looks.add(got["looks"])
            comps += got["comparisons"]
            covered += got["covered"]
            runs_wrong += any(c["wrong"] for c in got["comparisons"])
            blocks.append(got["blocks"])
            again += got["remeasured"]
        row = {"true ratio": round(ratio, 4), "runs": trials, "comparisons": len(comps),
               "wrong per comparison": float(np.mean([c["wrong"] for c in comps])),
               "wrong per run": runs_wrong / trials,
               "decided": float(np.mean([c["verdict"] in ("higher", "lower", "equivalent")
                                         for c in comps])),
               "mean blocks": float(np.mean(blocks)), "cells measured again": again,
               "looks": " or ".join(", ".join(map(str, k)) for k in sorted(looks)),
               "level": min(stats.decision_confidence(1, k) for k in looks)}
        for look in stats.LOOKS:
            at = [ok for n, ok, *_ in covered if n == look]
            row[f"covered at {look}"] = float(np.mean(at)) if at else None
            row[f"intervals at {look}"] = len(at)
        kinds = {"covered, spiking backend's steady epoch": [ok for _, ok, s, _ in covered if s],
                 "covered, the others": [ok for _, ok, s, _ in covered if not s],
                 "covered, a widest-spread variant's": [ok for _, ok, _, w in covered if w]}
        for name, oks in kinds.items():
            row[name] = float(np.mean(oks)) if oks else None
        rows.append(row)
    return rows


if __name__ == "__main__":
    import argparse

    import pandas as pd

    p = argparse.ArgumentParser(prog="python -m mnist_bench.analysis.simulation")
    p.add_argument("--trials", type=int, default=40, help="simulated runs per true ratio")
    p.add_argument("--budget", type=float, default=1e9,
                   help="the runs' budget in minutes of the fake clock (a block about 4 minutes)")
    args = p.parse_args()
    print(f"the default matrix under run --until-decided --budget {args.budget:g}, looks after "
          f"blocks {stats.LOOKS} or the first of them its budget reaches, each interval at "
          f"1 - {stats.ALPHA:g} / looks, margin ±{100 * stats.MARGIN:g}%, "
          f"{args.trials} simulated runs per true ratio")
    df = pd.DataFrame(table(args.trials, budget_min=args.budget))
    cover = [c for c in df.columns if c.startswith("covered")]
    df[cover] = df[cover].map(lambda v: "-" if v is None or v != v else f"{100 * v:.1f}%")
    for c in ("wrong per comparison", "wrong per run", "decided"):
        df[c] = df[c].map(lambda v: f"{100 * v:.1f}%")
    print(df.to_markdown(index=False, floatfmt=".4g"))
