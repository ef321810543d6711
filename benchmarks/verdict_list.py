"""Every verdict a results folder's report makes, one JSON line each: what
results/README.md's "verdicts that changed" list is made from, by running this script once with
an older checkout of the package on PYTHONPATH and once with this one, then diffing the two.

    python benchmarks/verdict_list.py results/cpu-decide-a results/cpu-decide-b ... > new.jsonl
"""

from __future__ import annotations

import json
import sys

from mnist_bench.analysis import decisions, report
from mnist_bench.record import store


def main(folders: list[str]) -> None:
    for folder in folders:
        rep = report.build(store.load(folder, warn=lambda _: None))
        for c in decisions.comparisons(rep):
            r = c.ratio
            print(json.dumps({"folder": folder, "table": c.table, "label": c.label,
                              "pair": [list(c.a), list(c.b)], "verdict": r.verdict, "n": r.n,
                              "ratio": r.ratio, "low": r.low, "high": r.high}))


if __name__ == "__main__":
    main(sys.argv[1:])
