"""How many steady epochs per run the measured spreads and costs call for (Kalibera and Jones,
"Rigorous benchmarking in reasonable time", ISMM 2013), per variant of published runs; no test
asserts these figures.

    python benchmarks/kalibera.py results/cpu-decide-c results/cpu-decide-d > results/measuring-time.md

Two levels: runs (a fresh process each, the unit of evidence) and steady epochs inside a run.
For each variant with 3 or more ok runs of 2 or more steady epochs each:

- ``S1^2``: the within-run variance of steady epochs, pooled over the runs (each run's squared
  deviations from its own mean, n - 1 degrees of freedom each);
- ``T2^2 = S2^2 - S1^2 / n``: the between-run component, ``S2^2`` the variance of the runs'
  mean steady epochs and ``n`` the steady epochs a run averaged (K&J's unbiased estimator;
  negative or zero: no between-run spread seen beyond what epoch noise explains);
- ``c1``: one steady epoch's cost (its mean seconds); ``c2``: what a run costs besides its
  steady epochs (the cell's wall time less them: the process, the model, the compiling first
  epoch, the evaluations);
- ``r* = sqrt(c2 / c1 * S1^2 / T2^2)``: the steady epochs per run that give the narrowest
  interval for the time spent (K&J eq. 7); with T2^2 <= 0 every extra epoch pays ("many").

The saving column is what a block would spend on the variant if each run measured
``max(1, min(r*, n))`` steady epochs (never more than it did: the quick profile's 2) instead
of ``n``, at the same fixed cost. That is an upper bound for ``--until-decided``: the spreads
are only known once a variant has 3 runs, which is the first look (blocks 1-3, every run
whole), so the last column estimates r* from blocks 1-3 alone and saves only in the runs of
blocks 4 and later, as a run that chose its epochs from what it had measured would.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections import defaultdict

import numpy as np


def variants(recs: list[dict]) -> dict:
    out = defaultdict(list)
    for r in recs:
        steady = (r.get("epoch_s") or [])[1:]
        if r.get("status") != "ok" or len(steady) < 2 or not r.get("cell_wall_s"):
            continue
        key = (r.get("run_id"), r["spec"], r["backend"], r.get("impl") or "keras", r.get("mode"))
        out[key].append((np.array(steady, dtype=float), float(r["cell_wall_s"]),
                         int(r.get("block") or 0)))
    return out


def kj(runs: list) -> dict | None:
    if len(runs) < 3:
        return None
    n = float(np.mean([len(s) for s, *_ in runs]))
    s1 = float(np.mean([s.var(ddof=1) for s, *_ in runs]))
    means = np.array([s.mean() for s, *_ in runs])
    t2 = float(means.var(ddof=1) - s1 / n)
    c1 = float(means.mean())
    c2 = float(np.mean([wall - s.sum() for s, wall, _ in runs]))
    r = math.sqrt(c2 / c1 * s1 / t2) if t2 > 0 and c1 > 0 else math.inf
    use = max(1, min(math.ceil(r), int(n))) if math.isfinite(r) else int(n)
    now, then = c2 + n * c1, c2 + use * c1
    return {"runs": len(runs), "n": n, "c1": c1, "c2": c2, "within_cv": math.sqrt(s1) / c1,
            "between_cv": math.sqrt(max(t2, 0.0)) / c1, "r": r, "use": use,
            "cell_s": now, "saved_s": now - then}


def after_first_look(runs: list) -> float | None:
    """Seconds saved in the runs of blocks 4 and later had each measured the r* steady epochs
    that blocks 1-3 call for (None without 3 runs in blocks 1-3)."""
    first = kj([run for run in runs if 1 <= run[2] <= 3])
    if first is None:
        return None
    later = [s for s, _, block in runs if block > 3]
    return sum(max(0, len(s) - first["use"]) * float(s.mean()) for s in later)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stores", nargs="+")
    args = ap.parse_args(argv)
    from mnist_bench.record import store

    print("# Steady epochs per run, as Kalibera and Jones would choose them\n")
    print(f"`python benchmarks/kalibera.py {' '.join(args.stores)}` (benchmarks/kalibera.py explains "
          "every column). Records:")
    for folder in args.stores:
        recs = store.load(folder)
        commits = sorted({f"{(r.get('git') or {}).get('commit', '?')[:7]}"
                          f"{' (dirty)' if (r.get('git') or {}).get('dirty') else ''}" for r in recs})
        cpus = sorted({f"{r['machine']['cpu'].get('model')} ({r['machine']['cpu'].get('cores')} cores)"
                       for r in recs if (r.get("machine") or {}).get("cpu")})
        print(f"- {folder}: {len(recs)} records, commit {', '.join(commits)}, {', '.join(cpus)}")
    print()
    print("| run | spec | backend | runs | steady epoch s (c1) | fixed s per run (c2) | "
          "within-run cv | between-run cv | K&J r* | would use | cell s now | saved s per cell | "
          "saved s after the first look |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    totals = defaultdict(lambda: [0.0, 0.0, 0.0])
    for folder in args.stores:
        for (run, spec, backend, impl, mode), runs in sorted(variants(store.load(folder)).items()):
            k = kj(runs)
            if k is None:
                continue
            totals[run][0] += k["cell_s"] * k["runs"]
            totals[run][1] += k["saved_s"] * k["runs"]
            late = after_first_look(runs)
            totals[run][2] += late or 0.0
            r = "many" if not math.isfinite(k["r"]) else f"{k['r']:.2f}"
            print(f"| {run} | {spec} | {backend}{'' if impl == 'keras' else ' ' + impl}"
                  f"{'' if mode in (None, 'default') else ' ' + mode} | {k['runs']} | {k['c1']:.3f} | "
                  f"{k['c2']:.2f} | {k['within_cv']:.3f} | {k['between_cv']:.3f} | {r} | "
                  f"{k['use']} of {k['n']:g} | {k['cell_s']:.1f} | {k['saved_s']:.1f} | "
                  f"{'' if late is None else f'{late:.1f}'} |")
    print()
    for run, (spent, saved, late) in totals.items():
        print(f"- {run}: the runs above spent {spent / 60:.1f} minutes in cells; measuring r* "
              f"steady epochs per run (at most the 2 they had) would have saved "
              f"{saved / 60:.1f} minutes ({saved / spent:.0%}); choosing them at the first look "
              f"and measuring so from block 4 on, {late / 60:.1f} minutes ({late / spent:.0%}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
