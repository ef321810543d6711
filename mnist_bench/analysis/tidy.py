"""Records into the tidy table every view and renderer draws from (docs/method.md).

One row per cell identity (``keys.GROUP``: a run, one record store's run or one pytest-benchmark
file, its dataset, device kind, setup, method, mode, implementation, spec and backend), with
that cell's runs together. Every figure is made per run first (a run's mean steady epoch, its
time to target) and only then summarised over runs, so no statistic treats the epochs of one
run as independent. Every run counts: a flag warns and is counted (``flagged_runs``), it never
takes a run out of a figure. The one exception is a block measured again because a run of it
was disturbed from outside (``measure.disturbance.OUTSIDE``): the block's last measurement
stands for it, both sides alike, and the earlier runs stay in the row as ``remeasured_runs``.
Backends are compared by pairing runs by block within one run; groups from different runs are
never put in one ratio. Numbers, intervals and category names only: render/ formats them.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

import pandas as pd

from ..measure.disturbance import outside
from ..record.store import cell_of
from ..settings import BACKENDS, BASELINE_BACKEND
from ..specs import BUILTIN, labels
from ..strategies import of_record
from . import prior, stats
from .keys import (GROUP, SPEC_GROUP, attempt_of, batch_of, block_of, canary_drift, flags_of,
                   group_key, is_throughput, looks_of, machine_of, peak_of, precision_label,
                   precision_short, recipe_batch_of, run_epoch_s, run_of, target_for,
                   unclocked_share)

PARITY_FLOOR = 0.005  # accuracy differences below this are never flagged
SLOW_EPOCH = 1.5  # a steady epoch over this many times its variant's median steady epoch is slow
COLUMNS = [
    *GROUP, "machine", "run_id", "label", "device_name", "status", "runs", "blocks", "test_accuracy",
    "test_accuracy_std", "reported_accuracy", "parity", "parity_diff", "steady_epoch_s",
    "steady_epoch_low_s", "steady_epoch_high_s", "run_epoch_s", "train_samples_per_s",
    "first_epoch_s", "inference_samples_per_s", "vs_fastest", "speed", "target_accuracy",
    "time_to_target_s", "run_tta_s", "reached_runs", "target_runs", "achieved_gflops",
    "utilisation", "split_accuracy", "passes_min", "passes_max", "jit_compile",
    "steps_per_execution", "strategy", "precision", "precision_short", "unclocked_share", "drift", "reason", "ok_runs",
    "failed_runs", "failed_reason", "flagged_runs", "remeasured_runs", "remeasured_why",
    "slow_epoch_share", "steady_epochs", "run_overhead_s",
    "batch_size", "recipe_batch_size", "throughput_cell", "learning_rate", "host_rss_bytes",
    "device_memory_bytes",
]


def overhead_s(r: dict) -> float | None:
    """A record's seconds outside its training call: the parent's spawn-to-exit wall time
    (``cell_wall_s``) less the training phase (process start, imports, data, build, probes,
    inference, exit); None for records without phases."""
    wall, training = r.get("cell_wall_s"), (r.get("phases") or {}).get("training")
    if not isinstance(wall, (int, float)) or not isinstance(training, (int, float)):
        return None
    return max(wall - training, 0.0) or None


def slow_share(runs: list[dict]) -> tuple[float | None, int]:
    """(the share of the steady epochs of ``runs`` over ``SLOW_EPOCH`` times their median, the
    number of steady epochs): how often a variant pays a slow epoch, a figure of its own beside
    the mean that already holds them."""
    steady = [t for r in runs if r["backend"] != BASELINE_BACKEND for t in (r.get("epoch_s") or [])[1:]]
    if not steady:
        return None, 0
    median = statistics.median(steady)
    return sum(t > SLOW_EPOCH * median for t in steady) / len(steady), len(steady)


def _row(key: tuple, recs: list[dict], targets: dict | None, drift: dict,
         final: dict | None = None) -> dict:
    """The row of one cell identity from its records. ``final``: (run, block) -> the block's
    last measurement (its attempt); earlier measurements of a block are counted, not used."""
    row = dict(zip(GROUP, key))
    final = final or {}
    stands = [attempt_of(r) >= final.get((run_of(r), block_of(r)), 0) for r in recs]
    superseded = [r for r, ok in zip(recs, stands) if not ok]
    recs = [r for r, ok in zip(recs, stands) if ok] or recs
    row["remeasured_runs"] = len(superseded)
    row["remeasured_why"] = sorted({f for r in superseded for f in outside(flags_of(r))}) or None
    good = _runs(row, recs)
    if not good:
        return row
    _speed(row, good)
    _facts(row, good, drift)
    _target(row, good, targets)
    return row


def _runs(row: dict, recs: list[dict]) -> list[dict]:
    """Where and how the cell ran, and its runs counted (ok, lost, flagged); the measured ones."""
    last = recs[-1]
    row["machine"], row["run_id"] = machine_of(last), last.get("run_id") or run_of(last)
    row["device_name"] = (last.get("device") if isinstance(last.get("device"), dict) else {}).get("name") or \
        ((last.get("machine") or {}).get("cpu") or {}).get("model")
    row["runs"] = len(recs)
    row["batch_size"], row["recipe_batch_size"] = batch_of(last), recipe_batch_of(last)
    row["throughput_cell"] = is_throughput(last)
    good = [r for r in recs if r["status"] in ("ok", "diverged")]
    lost = [r for r in recs if r["status"] in ("failed", "timeout")]
    row["ok_runs"], row["failed_runs"] = len(good), len(lost)
    row["failed_reason"] = f"{lost[0]['status']}: {lost[0].get('reason')}" if lost else None
    row["flagged_runs"] = sum(1 for r in good if flags_of(r))  # a warning: every run counts
    if not good:
        row.update(status=last["status"], reason=last.get("reason"))
        return good
    row["status"] = "ok" if all(r["status"] == "ok" for r in good) else "diverged"
    row["reason"] = next((r.get("reason") for r in good if r.get("reason")), None)
    row["blocks"] = [block_of(r) for r in good]
    return good


def _speed(row: dict, good: list[dict]) -> None:
    """The run figures (per block) and their summaries: the steady epoch with its interval,
    the slow-epoch share, throughput, the first epoch, inference, the time outside training."""
    row["test_accuracy"], row["test_accuracy_std"] = stats.mean_std([r["test_accuracy"] for r in good])
    row["reported_accuracy"] = (good[0].get("recipe") or {}).get("reported_accuracy")
    per_run = stats.Figures(by_block(good, run_epoch_s), looks=looks_of(good[0]))
    row["run_epoch_s"] = per_run
    row["_noise"] = epoch_noise(good)
    gm, low, high = stats.mean_interval(list(per_run.values()))
    row["steady_epoch_s"], row["steady_epoch_low_s"], row["steady_epoch_high_s"] = gm, low, high
    row["slow_epoch_share"], row["steady_epochs"] = slow_share(good)
    if gm:
        row["train_samples_per_s"] = good[0]["train_samples"] / gm
    overheads = {block_of(r): overhead_s(r) for r in good}
    row["run_overhead_s"] = {k: v for k, v in overheads.items() if v}
    row["first_epoch_s"] = stats.mean_interval([r.get("first_epoch_s") for r in good])[0]
    row["inference_samples_per_s"] = stats.mean_interval(
        [r.get("inference_samples_per_s") for r in good])[0]
    row["split_accuracy"] = stats.mean_std([r.get("split_accuracy") for r in good])[0]
    passes = sorted(r.get("epochs_run") or 0 for r in good)
    row["passes_min"], row["passes_max"] = passes[0], passes[-1]


def _facts(row: dict, good: list[dict], drift: dict) -> None:
    """How the cell trained and on what: learning rate, memory, strategy, precision, the
    clock's and the canary's checks, and the share of the measured peak it reached."""
    row["learning_rate"] = good[0].get("learning_rate")
    rss = [r["peak_host_rss_bytes"] for r in good if r.get("peak_host_rss_bytes")]
    dev = [r["peak_device_memory_bytes"] for r in good if r.get("peak_device_memory_bytes")]
    row["host_rss_bytes"], row["device_memory_bytes"] = (max(rss) if rss else None,
                                                         max(dev) if dev else None)
    row["jit_compile"] = good[0].get("jit_compile")
    row["steps_per_execution"] = good[0].get("steps_per_execution")
    row["strategy"] = of_record(good[0])  # a strategies.Strategy, or None (the baseline)
    row["precision"] = precision_label(good[0])
    row["precision_short"] = precision_short(good[0])
    shares = [s for s in (unclocked_share(r) for r in good) if s is not None]
    row["unclocked_share"] = max(shares) if shares else None
    drifts = [drift[id(r)] for r in good if id(r) in drift]
    row["drift"] = max(drifts) if drifts else None
    flops, gm = good[0].get("train_flops_per_sample"), row.get("steady_epoch_s")
    if flops and gm:
        row["achieved_gflops"] = flops * good[0]["train_samples"] / gm / 1e9
        row["utilisation"] = row["achieved_gflops"] / peak_of(good[0]) if peak_of(good[0]) else None


def _target(row: dict, good: list[dict], targets: dict | None) -> None:
    """The time to the spec's target accuracy, per run (block) and as a mean over runs when
    every run reached it."""
    target = target_for(row["spec"], targets)
    if target is None or row["backend"] == BASELINE_BACKEND:
        return
    row["target_accuracy"] = target
    curves = [r for r in good if r.get("curve")]
    # no curve: pytest-benchmark rounds record none (target_runs 0)
    reached = [stats.time_to_target(r["curve"], target) for r in curves]
    row["reached_runs"] = sum(v is not None for v in reached)
    row["target_runs"] = len(reached)
    if curves:
        hits = stats.Figures(by_block([r for r, v in zip(curves, reached) if v is not None],
                                      lambda r: stats.time_to_target(r["curve"], target)),
                             looks=looks_of(good[0]))
        row["run_tta_s"] = hits
        row["time_to_target_s"] = (stats.mean_interval(list(hits.values()))[0]
                                   if row["reached_runs"] == len(reached) else None)


def epoch_noise(runs: list[dict]) -> tuple[float, int, float]:
    """(the sum of squared relative deviations of each run's steady epochs from that run's
    mean, their degrees of freedom, the mean number of steady epochs a run averages): the
    epoch noise inside runs, pooled later over a backend's cells (``pool_noise``)."""
    ss, df, counts = 0.0, 0, []
    for r in runs:
        steady = [t for t in (r.get("epoch_s") or [])[1:] if t and t > 0]
        if r["backend"] == BASELINE_BACKEND or len(steady) < 2:
            continue
        m = sum(steady) / len(steady)
        ss += sum((t / m - 1) ** 2 for t in steady)
        df += len(steady) - 1
        counts.append(len(steady))
    return ss, df, (sum(counts) / len(counts) if counts else 0.0)


def pool_noise(rows: list[dict]) -> None:
    """Each row's run figures become ``stats.Figures`` carrying the epoch noise of its backend
    in its run (every spec's cells of one run, setup, method, mode, implementation and
    backend pooled): what one run's mean steady epoch varies by from epoch noise alone."""
    pools: dict = defaultdict(lambda: [0.0, 0])
    for row in rows:
        ss, df, _ = row.get("_noise") or (0.0, 0, 0.0)
        pool = pools[tuple(row[k] for k in GROUP if k != "spec")]
        pool[0] += ss
        pool[1] += df
    for row in rows:
        _, _, m = row.pop("_noise", None) or (0.0, 0, 0.0)
        ss, df = pools[tuple(row[k] for k in GROUP if k != "spec")]
        if isinstance(row.get("run_epoch_s"), dict) and df and m:
            row["run_epoch_s"] = stats.Figures(row["run_epoch_s"], noise=ss / df / m, noise_df=df)


def by_block(runs: list[dict], figure) -> dict:
    """{block: the figure of its run}; a block with two measured runs of one cell (stores
    written before attempts existed) gets the mean of both, so both count and pairing by
    block holds."""
    out: dict = defaultdict(list)
    for r in runs:
        v = figure(r)
        if v:
            out[block_of(r)].append(v)
    return {k: sum(v) / len(v) for k, v in out.items()}


def _compare_backends(rows: list[dict], margin: float = stats.MARGIN) -> None:
    """Each Keras backend against the fastest of its spec at the same batch size (paired by
    block), and accuracy parity."""
    by_spec = defaultdict(list)
    for row in rows:
        if row["backend"] != BASELINE_BACKEND and row.get("steady_epoch_s"):
            by_spec[tuple(row[k] for k in (*SPEC_GROUP, "batch_size"))].append(row)
    for group in by_spec.values():
        fastest = min(group, key=lambda r: r["steady_epoch_s"])
        for row in group:
            if row is fastest:
                row["speed"] = "fastest"
                continue
            ratio = stats.paired_ratio(row["run_epoch_s"], fastest["run_epoch_s"], margin,
                                       family=len(group) - 1)
            row["vs_fastest"] = ratio
            row["speed"] = {"higher": "slower", "lower": "faster"}.get(ratio.verdict, ratio.verdict)
        accs = {r["backend"]: r for r in group if r.get("test_accuracy") is not None}
        stds = [r["test_accuracy_std"] for r in accs.values() if r.get("test_accuracy_std")]
        for b, row in accs.items():
            others = [r["test_accuracy"] for o, r in accs.items() if o != b]
            if not others:
                continue
            if len(stds) < len(accs):  # the spread over seeds is unknown without repeats
                row["parity"] = "one run"
                continue
            spread = math.sqrt(sum(s * s for s in stds) / len(stds))  # pooled over backends
            diff = row["test_accuracy"] - sum(others) / len(others)
            row["parity_diff"] = diff
            row["parity"] = "ok" if abs(diff) <= max(PARITY_FLOOR, 3 * spread) else "differs"


MEASURED = ("ok", "diverged")


def latest(recs: list[dict]) -> list[dict]:
    """The records that count: every measured one (ok or diverged), whatever came after it, and
    a cell's unmeasured record (failed, timeout, skipped) only when no later record of that
    cell follows (a resume re-ran it). A block measured again is another cell (its
    ``attempt``): both stay. Stores written before attempts existed hold a cell measured twice
    in one block; both of its runs count."""
    last = {(run_of(r), cell_of(r).key()): i for i, r in enumerate(recs)}
    return [r for i, r in enumerate(recs)
            if r.get("status") in MEASURED or last[(run_of(r), cell_of(r).key())] == i]


def final_attempts(recs: list[dict]) -> dict[tuple, int]:
    """(run, block) -> the attempt of the block's last measurement."""
    out: dict[tuple, int] = {}
    for r in recs:
        k = (run_of(r), block_of(r))
        out[k] = max(out.get(k, 0), attempt_of(r))
    return out


def tidy(recs: list[dict], targets: dict | None = None, margin: float = stats.MARGIN,
         by_batch: bool = False) -> pd.DataFrame:
    """One row per cell group, with run-level summaries and comparisons. The cells trained at
    their recipe's batch size only; ``by_batch``: every batch size of --batch-sizes, one row
    per group and batch size (the throughput cells among them)."""
    kept = latest(recs)
    drift = canary_drift(kept)  # the canary's yardstick: every cell of the run
    if not by_batch:
        kept = [r for r in kept if not is_throughput(r)]
    groups = defaultdict(list)
    for r in kept:
        groups[group_key(r) + ((batch_of(r),) if by_batch else ())].append(r)
    final = final_attempts(kept)
    rows = [_row(k, v, targets, drift, final) for k, v in groups.items()]
    pool_noise(rows)
    prior.pool(rows, BASELINE_BACKEND)
    _compare_backends(rows, margin)
    names = labels(sorted({r["spec"] for r in rows}))
    for row in rows:
        row["label"] = names[row["spec"]]
    order = {b: i for i, b in enumerate([*BACKENDS, BASELINE_BACKEND])}
    spec_order = {name: i for i, name in enumerate(BUILTIN)}
    runs = {run: i for i, run in enumerate(dict.fromkeys(run_of(r) for r in recs))}
    rows.sort(key=lambda r: (runs[r["run"]], r["dataset"], r["device_kind"], r["impl"],
                             r["mode"],
                             spec_order.get(r["spec"], len(spec_order)), r["label"],
                             r["batch_size"] or 0, order.get(r["backend"], 99)))
    return pd.DataFrame(rows, columns=COLUMNS)


def keras_rows(t: pd.DataFrame) -> pd.DataFrame:
    """The rows of trained Keras-spec cells (not the baseline) with a steady epoch."""
    return t[(t.backend != BASELINE_BACKEND) & t.steady_epoch_s.notna()]


def grouped(t: pd.DataFrame, keys) -> list[tuple[tuple, list]]:
    """The rows of ``t`` (named tuples) grouped by the columns ``keys``, in order of first
    appearance: one pass over the table, however many groups (``groupby`` + ``itertuples``
    per group costs a column extraction per group)."""
    out: dict[tuple, list] = {}
    for row in t.itertuples(index=False):
        out.setdefault(tuple(getattr(row, k) for k in keys), []).append(row)
    return list(out.items())
