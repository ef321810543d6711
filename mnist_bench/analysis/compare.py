"""``mnist-bench compare OLD NEW``: line two result sets up cell by cell and call regressions.

A cell is keyed by its machine, dataset, device kind, mode, implementation, spec, backend,
setup (profile, epochs, learning-rate scaling), method (``record.schema.METHOD``) and the batch
size it trained at: cells of different setups, methods or batch sizes are never paired, and ``summary`` says what differs when nothing could be. The throughput
cells of --batch-sizes are compared too, each with the same batch size on the other side (its
accuracy with the other side's at that batch size, never with the recipe's).
OLD and NEW are different runs, so their runs are not paired: a cell's figure is the ratio of
the means of its per-run steady epochs (NEW / OLD) with a Welch-style 95% interval on its log. A cell is slower when that ratio exceeds ``1 + max_slowdown`` and the interval lies wholly
above 1. With fewer runs than an interval needs (one run a side), the ratio alone decides
(``tested`` is False): a gate, not a statistical claim. A cell is less accurate when its mean
test accuracy fell by more than ``max_accuracy_drop``. Either is a regression.

One side may hold several stores (or a cluster run's nodes): every run of every store counts
as one run of that side. The drift canary of both sets is compared too (``canary_change``),
so a user sees whether a "regression" is the code or the machine.
"""

from __future__ import annotations

import statistics

import pandas as pd

from . import stats
from .keys import GROUP, block_of, present, run_of
from .tidy import latest, tidy

KEY = ["machine", *GROUP[1:], "batch_size"]  # a cell's place, its machine for its run


def canary_change(old: list[dict], new: list[dict]) -> float | None:
    """NEW's median canary time over OLD's, minus 1 (0.2: the machine ran 20% slower)."""
    a = [r["canary_s"] for r in old if r.get("canary_s")]
    b = [r["canary_s"] for r in new if r.get("canary_s")]
    if not a or not b:
        return None
    return statistics.median(b) / statistics.median(a) - 1


def pooled(recs: list[dict]) -> pd.DataFrame:
    """The tidy table of one side, all its runs as runs of one: each cell's last record per
    run first, then every (run, block) its own block, so stores run with the same seeds and
    blocks stay apart."""
    kept = latest(recs)
    blocks: dict[tuple, int] = {}
    merged = []
    for r in kept:
        block = blocks.setdefault((run_of(r), block_of(r)), len(blocks))
        merged.append({**r, "run_id": "side", "block": block, "repeat": block})
    t = tidy(merged, by_batch=True)
    # a whole number in the key (0: the baseline, which has no batch), so that keys match
    t["batch_size"] = [int(b) if present(b) else 0 for b in t.batch_size]
    return t.set_index(KEY)


METRICS = ("steady epoch", "time to target", "accuracy", "cell overhead", "lost runs")


def _slower(o: dict, n: dict, allowed: float) -> tuple[stats.Ratio | None, bool, bool]:
    """(NEW/OLD ratio of per-run figures, slower, faster) beyond ``allowed`` growth; with one
    run a side the ratio alone decides (the ratio's ``low`` is then None)."""
    if not isinstance(o, dict) or not isinstance(n, dict) or not o or not n:
        return None, False, False
    ratio = stats.unpaired_ratio(list(n.values()), list(o.values()),
                                 noise=(getattr(n, "noise", 0.0), getattr(o, "noise", 0.0)))
    tested = ratio.low is not None
    slower = ratio.ratio > 1 + allowed and (not tested or ratio.low > 1)
    faster = ratio.ratio < 1 / (1 + allowed) and (not tested or ratio.high < 1)
    return ratio, slower, faster


def compare(old: list[dict], new: list[dict], max_slowdown: float = 0.10,
            max_accuracy_drop: float = 0.01, max_overhead_growth: float = 0.25) -> pd.DataFrame:
    """One row per cell of either side: ``side`` ("both", "new only", "old only"), the two
    steady epochs and accuracies, ``ratio`` (NEW/OLD steady epoch, a ``stats.Ratio``),
    ``slower`` / ``faster`` / ``tested``, ``tta_ratio`` / ``tta_slower`` (time to target, the
    same allowance), ``overhead_ratio`` / ``overhead_slower`` (seconds outside the training
    call, ``max_overhead_growth``), ``now_status`` (a cell that measured on OLD and not on
    NEW), ``accuracy_drop``, and ``regression`` (any of them: ``METRICS``)."""
    a, b = pooled(old), pooled(new)
    rows = []
    for key in [k for k in a.index if k in b.index] + [k for k in b.index if k not in a.index]:
        row = dict(zip(KEY, key))
        if key not in a.index:
            rows.append({**row, "side": "new only", "regression": False})
            continue
        rows.append({**row, **_both(a.loc[key], b.loc[key], max_slowdown, max_accuracy_drop,
                                    max_overhead_growth)})
    for key in a.index:
        if key not in b.index:
            rows.append({**dict(zip(KEY, key)), "side": "old only", "regression": False})
    return pd.DataFrame(rows)


def _both(o, n, max_slowdown: float, max_accuracy_drop: float, max_overhead_growth: float) -> dict:
    """A cell on both sides: its steady epoch, then the other metrics, each a regression when
    it grew (or fell) past its allowance."""
    row = dict(side="both", old_s=o.steady_epoch_s, new_s=n.steady_epoch_s,
               old_acc=o.test_accuracy, new_acc=n.test_accuracy, slower=False, faster=False)
    regression = False
    ratio, slower, faster = _slower(o.run_epoch_s, n.run_epoch_s, max_slowdown)
    if ratio is not None:
        row.update(ratio=ratio, tested=ratio.low is not None, old_runs=len(o.run_epoch_s),
                   new_runs=len(n.run_epoch_s), slower=slower, faster=faster and not slower)
        regression = slower
    elif n.status not in ("ok", "diverged") and o.status in ("ok", "diverged"):
        row["now_status"] = n.status
        regression = True
    if n.status in ("ok", "diverged"):
        regression = _others(row, o, n, max_slowdown, max_overhead_growth) or regression
    lost = {side: int(x.failed_runs) if present(x.failed_runs) else 0 for side, x in (("old", o), ("new", n))}
    if lost["new"] > lost["old"] and n.status in ("ok", "diverged"):  # NEW lost runs OLD did not
        row.update(new_lost=lost["new"], new_total=int(n.runs))
        regression = True
    if present(o.test_accuracy) and present(n.test_accuracy):
        drop = o.test_accuracy - n.test_accuracy
        if drop > max_accuracy_drop:
            row["accuracy_drop"] = drop
            regression = True
    row["regression"] = regression
    return row


def _others(row: dict, o, n, max_slowdown: float, max_overhead_growth: float) -> bool:
    """The time to target and the seconds outside training of a cell NEW measured, into
    ``row``; whether either regressed (a target no longer reached in every run included)."""
    regression = False
    tta, tta_slower, _ = _slower(getattr(o, "run_tta_s", None), getattr(n, "run_tta_s", None),
                                 max_slowdown)
    if tta is not None:
        row.update(tta_ratio=tta, tta_slower=tta_slower)
        regression = tta_slower
    if present(o.time_to_target_s) and not present(n.time_to_target_s) \
            and present(n.target_runs) and n.target_runs:
        row["target_missed"] = f"{int(n.target_runs - n.reached_runs)}/{int(n.target_runs)}"
        regression = True
    over, over_slower, _ = _slower(getattr(o, "run_overhead_s", None),
                                   getattr(n, "run_overhead_s", None), max_overhead_growth)
    if over is not None:
        row.update(overhead_ratio=over, overhead_slower=over_slower)
        regression = regression or over_slower
    return regression


def summary(df: pd.DataFrame, allow_missing: bool = False) -> list[str]:
    """Why a compare must fail although no cell regressed: nothing in common, cells the new
    side lacks, or a side that measured nothing. Empty when the comparison stands."""
    if not len(df):
        return ["neither side holds any cell"]
    problems = []
    both = df[df.side == "both"]
    measured = lambda col: both[col].notna().any() if col in both else False  # noqa: E731
    if not len(both):
        machines = lambda side: sorted({str(m) for m in df[df.side == side].machine})  # noqa: E731
        if not set(machines("old only")) & set(machines("new only")):
            return [f"no cell in common: OLD ran on {', '.join(machines('old only'))}, NEW on "
                    f"{', '.join(machines('new only'))}, and cells of different machines are "
                    "never paired (report both folders together to set them side by side)"]
        setups = lambda side: sorted({s for s in df[df.side == side].setup}, key=str)  # noqa: E731
        methods = lambda side: sorted({int(m) for m in df[df.side == side].method})  # noqa: E731
        problems.append("no cell in common" + (
            f" (OLD's setups: {setups('old only')}; NEW's: {setups('new only')})"
            if set(setups("old only")) != set(setups("new only")) else
            f" (OLD measured by method {methods('old only')}, NEW by method {methods('new only')}: "
            "figures of different methods are never paired)"
            if set(methods("old only")) != set(methods("new only")) else ""))
    elif not measured("old_s") or not measured("new_s"):
        problems.append("a side measured nothing: no steady epoch on "
                        + ("either side" if not measured("old_s") and not measured("new_s")
                           else "OLD" if not measured("old_s") else "NEW"))
    missing = int((df.side == "old only").sum())
    if missing and not allow_missing:
        problems.append(f"NEW lacks {missing} cell(s) that OLD has (--allow-missing accepts that)")
    return problems
