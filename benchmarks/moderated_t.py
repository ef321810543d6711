"""The shipped decision loop's simulation (mnist_bench.analysis.simulation) with the moderated
spread (mnist_bench.analysis.prior) as shipped, with one prior per figure instead of one per
pair of backends, or with none (``--max-df 0``: each comparison on its own spread, the rule
before the prior): docs/method.md ("The moderated spread") prints what these gave.

    python benchmarks/moderated_t.py --trials 100                # as shipped
    python benchmarks/moderated_t.py --trials 100 --by figure    # one prior per figure
    python benchmarks/moderated_t.py --trials 100 --max-df 0     # no prior
"""

from __future__ import annotations

import argparse

from mnist_bench.analysis import prior, simulation, stats

SHOWN = ("covered, spiking backend's steady epoch", "covered, the others",
         "covered, a widest-spread variant's")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--by", choices=("pair", "figure"), default="pair",
                   help="one prior per pair of backends (shipped) or one per figure")
    p.add_argument("--max-df", type=float, default=prior.MAX_DF,
                   help=f"the cap on the prior's degrees of freedom (shipped: {prior.MAX_DF:g}; "
                        "0: no prior)")
    p.add_argument("--trials", type=int, default=60)
    p.add_argument("--budget", type=float, default=1e9, help="minutes of the fake clock")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    prior.BY_PAIR, prior.MAX_DF = args.by == "pair", args.max_df
    for r in simulation.table(args.trials, seed=args.seed, budget_min=args.budget):
        looks = ", ".join(f"{r[f'covered at {k}']:.1%}" if r[f"covered at {k}"] is not None
                          else "-" for k in stats.LOOKS)
        print(f"by {args.by}, max d0 {args.max_df:g}, ratio {r['true ratio']}: "
              f"wrong {r['wrong per comparison']:.2%}, per run {r['wrong per run']:.1%}, "
              f"decided {r['decided']:.1%}, blocks {r['mean blocks']:.2f}, looks {r['looks']}, "
              f"covered by look {looks}; "
              + "; ".join(f"{k.removeprefix('covered, ')} {r[k]:.1%}" for k in SHOWN))


if __name__ == "__main__":
    main()
