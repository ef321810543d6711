"""Which look schedule ``run --until-decided`` plans for published runs, and what each schedule
decides from their records; no test asserts these figures.

    python benchmarks/look_schedules.py results/cpu-decide-c results/cpu-decide-d \
        results/cpu-decide-g results/cpu-decide-h > results/look-schedules.md

For each run folder: the minutes each block took (the cells' wall times), and the schedule the
shipped plan (``execute.until.UntilDecided.plan_to_budget``) chooses when replayed on the
run's own first-block records, at the moment the run had measured every spec (its clock from
the records' timestamps). Then, for each schedule (the first k of ``stats.LOOKS``), the
comparisons decided by each of its looks, judged by the shipped tables from the records of the
blocks before that look, each interval at that schedule's level.

What this is not: a re-run. The blocks after the first look hold only the variants the run
itself left open under its own schedule (four looks) at its own times; a run with another
schedule would have left others open, and a one-look run stops at its first look. The counts
at the first look are exact for every schedule (every cell ran in blocks 1-3); later ones
approximate.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from mnist_bench import plan
from mnist_bench.analysis import decisions, report, stats
from mnist_bench.execute.until import UntilDecided
from mnist_bench.record import store

SCHEDULES = [stats.LOOKS[:k] for k in range(len(stats.LOOKS), 0, -1)]


def _ts(r: dict) -> float:
    return dt.datetime.fromisoformat(r["timestamp"]).timestamp()


def planned(folder: Path, recs: list[dict]) -> tuple[tuple, list[str]]:
    """The schedule the shipped final plan chooses from the run's first block, and what it says."""
    rs = replace(plan.load_plan(folder), looked=0, spent_s=0.0, looks=())
    specs = {c.spec for c in plan.block(rs, 0)}
    seen, have = [], set()
    for r in recs:
        seen.append(r)
        if r.get("cell_wall_s"):
            have.add(r["spec"])
        if have >= specs:
            break
    clock, lines = [0.0], []
    until = UntilDecided(rs, folder, None, say=lines.append, now=lambda: clock[0],
                         load=lambda: seen, save=lambda *_: None)
    clock[0] = _ts(seen[-1]) - _ts(seen[0]) + (seen[0].get("cell_wall_s") or 0.0)
    until.planned = "provisional"
    until.plan_to_budget()
    return until.looks, lines


def decided(recs: list[dict], looks: tuple, blocks: int) -> list[tuple[int, int, int]]:
    """(look, decided by it, comparisons) for each look of ``looks`` the run's blocks reach."""
    got, out = set(), []
    for k in looks:
        if k > blocks:
            break
        part = [dict(r, _looks=list(looks)) for r in recs if r["block"] < k]
        comps = decisions.comparisons(report.judge(part))
        got |= {(c.label, c.a, c.b) for c in comps if c.ratio.decided}
        out.append((k, len(got), len(comps)))
    return out


def main() -> None:
    p = argparse.ArgumentParser(prog="python benchmarks/look_schedules.py")
    p.add_argument("folders", nargs="+", help="result folders of run --until-decided")
    args = p.parse_args()
    print("# Which look schedule the budget plan chooses, and what each schedule decides\n")
    print("Made by `python benchmarks/look_schedules.py " + " ".join(args.folders) + "` from the "
          "runs' records (no new run). \"planned looks\": the schedule the shipped plan chooses "
          "when replayed on the run's first block, at the moment every spec had a measured cell. "
          "Each \"decided\" column: the comparisons decided by each look of that schedule, judged "
          "from the blocks before it at that schedule's level (98.75% over four looks, 98.33% "
          "over three, 97.5% over two, 95% over one). The counts at the first look are exact for "
          "every schedule (blocks 1-3 ran every cell); later ones approximate: after block 3 the "
          "records hold only the variants each run left open under its own four-look schedule, "
          "at its own times.\n")
    print("| run | matmul peak GFLOP/s | budget min | block minutes | planned looks | "
          + " | ".join(f"decided, looks {', '.join(map(str, s))}" for s in SCHEDULES) + " |")
    print("|---" * (5 + len(SCHEDULES)) + "|")
    said = []
    for folder in map(Path, args.folders):
        recs = store.load(folder)
        for r in recs:
            r.pop("_looks", None)  # each schedule below sets its own
        minutes = defaultdict(float)
        for r in recs:
            minutes[r["block"]] += (r.get("cell_wall_s") or 0.0) / 60
        looks, lines = planned(folder, recs)
        said += [f"- {folder.name}: {line}" for line in lines if line.startswith("plan")]
        peak = (recs[0].get("machine") or {}).get("matmul_peak_gflops") or 0
        cells = [", ".join(f"{n} of {total} at {k}" for k, n, total in decided(recs, s, len(minutes)))
                 for s in SCHEDULES]
        print(f"| {folder.name} | {peak:.0f} | {plan.load_plan(folder).budget_min:g} | "
              f"{', '.join(f'{minutes[b]:.1f}' for b in sorted(minutes))} | "
              f"{', '.join(map(str, looks))} | " + " | ".join(cells) + " |")
    print("\nWhat the replayed plan said:\n")
    print("\n".join(said))


if __name__ == "__main__":
    main()
