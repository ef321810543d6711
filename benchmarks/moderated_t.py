"""The shipped decision loop's simulation (mnist_bench.analysis.simulation) with an
empirical-Bayes moderated t in place of the shipped interval's spread, for comparison:
docs/method.md ("Evaluated, not adopted") prints what this gave.

Each comparison's per-block variance s^2 (n - 1 degrees of freedom) is shrunk towards a prior
s0^2, the relative between-run variance of each side's backend pooled over every spec of the
run: (d0 s0^2 + (n - 1) s^2) / (d0 + n - 1), with n - 1 + d0 degrees of freedom (limma's
moderated t, d0 capped at 2); the epoch noise floor still applies under it. ``--d0 0`` is the
shipped rule.

    python benchmarks/moderated_t.py --d0 2 --trials 60
    python benchmarks/moderated_t.py --d0 0 --trials 60
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections import defaultdict

from mnist_bench.analysis import simulation, stats, tidy
from mnist_bench.analysis.keys import GROUP

SPIKY = "covered, spiking backend's steady epoch"


def install(d0: float) -> None:
    """Swap the moderated spread into the shipped code (this process only)."""
    shipped_pool = tidy.pool_noise

    def pool(rows):
        shipped_pool(rows)
        pools = defaultdict(lambda: [0.0, 0])
        for row in rows:
            f = row.get("run_epoch_s")
            if isinstance(f, dict) and len(f) >= 2:
                v = list(f.values())
                m = statistics.fmean(v)
                pool_ = pools[tuple(row[k] for k in GROUP if k != "spec")]
                pool_[0] += sum((x / m - 1) ** 2 for x in v)
                pool_[1] += len(v) - 1
        for row in rows:
            f = row.get("run_epoch_s")
            if isinstance(f, stats.Figures):
                ss, df = pools[tuple(row[k] for k in GROUP if k != "spec")]
                f.spread = ss / df if df else 0.0

    def floored(sd, df, a, b):
        floor = sum(getattr(f, "noise", 0.0) for f in (a, b))
        s0 = sum(getattr(f, "spread", 0.0) for f in (a, b))
        if s0 > 0 and d0 > 0:
            return max(math.sqrt((d0 * s0 + df * sd * sd) / (d0 + df)), math.sqrt(floor)), df + d0
        return max(sd, math.sqrt(floor)), df

    tidy.pool_noise = pool
    stats._floored = floored


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--d0", type=float, default=2.0, help="the prior's degrees of freedom (0: shipped)")
    p.add_argument("--trials", type=int, default=60)
    p.add_argument("--seed", type=int, default=100)
    args = p.parse_args()
    install(args.d0)
    for r in simulation.table(args.trials, seed=args.seed):
        print(f"d0={args.d0:g} ratio {r['true ratio']}: wrong {r['wrong per comparison']:.2%}, "
              f"per run {r['wrong per run']:.1%}, decided {r['decided']:.1%}, "
              f"blocks {r['mean blocks']:.1f}, covered by look "
              + ", ".join(f"{r[f'covered at {k}']:.1%}" if r[f'covered at {k}'] is not None else "-"
                          for k in stats.LOOKS)
              + f"; spiking {r[SPIKY]:.1%}, "
              f"others {r['covered, the others']:.1%}")


if __name__ == "__main__":
    main()
