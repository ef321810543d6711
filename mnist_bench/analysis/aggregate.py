"""Records into the tidy table the renderers draw from (docs/method.md).

One row per cell group: a run (one record store's run, or one pytest-benchmark file), dataset,
device kind, mode, spec and backend, with that group's runs together. Every figure is made per
run first (a run's mean steady epoch, its time to target) and only then summarised over runs,
so no statistic treats the epochs of one run as independent. Comparisons between backends and
modes pair runs by block within one run; groups from different runs are never put in one ratio.
"""

from __future__ import annotations

import math
from collections import defaultdict

import pandas as pd

from .. import records
from ..settings import BACKENDS, BASELINE_BACKEND
from ..specs import BUILTIN, labels
from . import stats

GROUP = ("run", "dataset", "device_kind", "mode", "impl", "spec", "backend")
SPEC_GROUP = GROUP[:6]
DRIFT_FLAG = 0.15  # a cell whose canary ran this much slower than the run's best is flagged
UNCLOCKED_FLAG = 0.10  # a cell whose steady epochs spent this share of their wall time unclocked
PARITY_FLOOR = 0.005  # accuracy differences below this are never flagged
COLUMNS = [
    *GROUP, "machine", "run_id", "label", "device_name", "status", "runs", "blocks", "test_accuracy",
    "test_accuracy_std", "reported_accuracy", "parity", "steady_epoch_s", "steady_epoch_low_s",
    "steady_epoch_high_s", "run_epoch_s", "train_samples_per_s", "first_epoch_s",
    "inference_samples_per_s", "vs_fastest", "vs_fastest_low", "vs_fastest_high", "vs_fastest_n",
    "speed", "target_accuracy", "time_to_target_s", "run_tta_s", "reached", "achieved_gflops",
    "utilisation", "split_accuracy", "passes", "jit_compile", "steps_per_execution",
    "precision", "unclocked_share", "drift", "reason",
]


def device_kind(r: dict) -> str:
    device = r.get("device")
    return (device.get("kind") if isinstance(device, dict) else None) or \
        r.get("device_requested") or "cpu"


def run_of(r: dict) -> str:
    """The run a record belongs to: its run id, or the file it was read from; for a run spread
    over a cluster's nodes, the part of it one node ran (its comparisons stay on that node)."""
    run = r.get("run_id") or r.get("_source") or "run"
    return f"{run} @ {r['node']}" if r.get("node") else run


def machine_of(r: dict) -> str:
    """What the tables call the machine a record was measured on: its cluster node's name, the
    name it was given ($MNIST_BENCH_MACHINE), else its host and hardware."""
    if r.get("node"):
        return r["node"]
    m = r.get("machine") or {}
    if m.get("name"):
        return m["name"]
    cpu = m.get("cpu") or {}
    gpus = sorted({g.get("name", "?") for g in m.get("gpus") or []})
    return (f"{m.get('hostname') or '?'} ({cpu.get('model') or '?'} x{cpu.get('cores') or '?'}"
            + "".join(f", {g}" for g in gpus) + ")")


def group_key(r: dict) -> tuple:
    return (run_of(r), r["dataset"], device_kind(r), r.get("mode") or "default",
            r.get("impl") or "keras", r["spec"], r["backend"])


def block_of(r: dict) -> int:
    return int(r.get("block", r.get("repeat")) or 0)


def target_for(spec: str, targets: dict | None) -> float | None:
    if targets and spec in targets:
        return targets[spec]
    builtin = BUILTIN.get(spec)
    return builtin.recipe.target_accuracy if builtin else None


def run_epoch_s(r: dict) -> float | None:
    """A run's steady epoch: the mean of its epochs 2..n, what its training cost per epoch
    once compiled (the baseline: fit time per pass). A run's epochs are not independent, so
    they are not summarised further; runs are."""
    if r["backend"] == BASELINE_BACKEND:
        return r.get("steady_epoch_s")
    steady = (r.get("epoch_s") or [])[1:]
    return sum(steady) / len(steady) if steady else None


def unclocked_share(r: dict) -> float | None:
    """The share of the steady epochs' wall time (evaluation excluded) that the training clock
    did not count; for records of one fit() call per epoch, of those calls' wall time."""
    if r["backend"] == BASELINE_BACKEND:
        return None
    wall = r.get("epoch_wall_s") or r.get("epoch_call_s") or []
    train, call = (r.get("epoch_s") or [])[1:], wall[1:]
    if not train or len(train) != len(call) or not sum(call):
        return None
    return max(0.0, 1 - sum(train) / sum(call))


def canary_best(times: list[float]) -> float:
    """A run's best canary time: its 10th percentile, so one lucky reading is not the yardstick
    (the minimum for runs of fewer than 10 cells)."""
    times = sorted(times)
    return times[len(times) // 10]


def canary_drift(recs: list[dict]) -> dict[int, float]:
    """id(record) -> how much slower the canary ran before it than the run's best (0.1 = 10%)."""
    by_run = defaultdict(list)
    for r in recs:
        if r.get("canary_s"):
            by_run[run_of(r)].append(r["canary_s"])
    best = {run: canary_best(times) for run, times in by_run.items()}
    return {id(r): r["canary_s"] / best[run_of(r)] - 1 for r in recs
            if r.get("canary_s") and run_of(r) in best}


def _row(key: tuple, recs: list[dict], targets: dict | None, drift: dict) -> dict:
    row = dict(zip(GROUP, key))
    last = recs[-1]
    row["machine"], row["run_id"] = machine_of(last), last.get("run_id") or run_of(last)
    row["device_name"] = (last.get("device") if isinstance(last.get("device"), dict) else {}).get("name") or \
        ((last.get("machine") or {}).get("cpu") or {}).get("model")
    row["runs"] = len(recs)
    good = [r for r in recs if r["status"] in ("ok", "diverged")]
    if not good:
        row.update(status=last["status"], reason=last.get("reason"))
        return row
    row["status"] = "ok" if all(r["status"] == "ok" for r in good) else "diverged"
    row["reason"] = next((r.get("reason") for r in good if r.get("reason")), None)
    row["blocks"] = [block_of(r) for r in good]
    row["test_accuracy"], row["test_accuracy_std"] = stats.mean_std([r["test_accuracy"] for r in good])
    row["reported_accuracy"] = (good[0].get("recipe") or {}).get("reported_accuracy")
    per_run = {block_of(r): run_epoch_s(r) for r in good if run_epoch_s(r)}
    row["run_epoch_s"] = per_run
    gm, low, high = stats.geo_mean_interval(list(per_run.values()))
    row["steady_epoch_s"], row["steady_epoch_low_s"], row["steady_epoch_high_s"] = gm, low, high
    if gm:
        row["train_samples_per_s"] = good[0]["train_samples"] / gm
    row["first_epoch_s"] = stats.geo_mean_interval([r.get("first_epoch_s") for r in good])[0]
    row["inference_samples_per_s"] = stats.geo_mean_interval(
        [r.get("inference_samples_per_s") for r in good])[0]
    row["split_accuracy"] = stats.mean_std([r.get("split_accuracy") for r in good])[0]
    passes = sorted(r.get("epochs_run") or 0 for r in good)
    row["passes"] = str(passes[0]) if passes[0] == passes[-1] else f"{passes[0]}-{passes[-1]}"
    row["jit_compile"] = good[0].get("jit_compile")
    row["steps_per_execution"] = good[0].get("steps_per_execution")
    row["precision"] = precision_label(good[0])
    shares = [s for s in (unclocked_share(r) for r in good) if s is not None]
    row["unclocked_share"] = max(shares) if shares else None
    drifts = [drift[id(r)] for r in good if id(r) in drift]
    row["drift"] = max(drifts) if drifts else None
    flops = good[0].get("train_flops_per_sample")
    if flops and gm:
        row["achieved_gflops"] = flops * good[0]["train_samples"] / gm / 1e9
        row["utilisation"] = row["achieved_gflops"] / peak_of(good[0]) if peak_of(good[0]) else None
    target = target_for(row["spec"], targets)
    curves = [r for r in good if r.get("curve")]
    if target is not None and row["backend"] != BASELINE_BACKEND and curves:
        reached = {block_of(r): stats.time_to_target(r["curve"], target) for r in curves}
        hits = {k: v for k, v in reached.items() if v is not None}
        row["target_accuracy"] = target
        row["reached"] = f"{len(hits)}/{len(reached)}"
        row["run_tta_s"] = hits
        row["time_to_target_s"] = (stats.geo_mean_interval(list(hits.values()))[0]
                                   if len(hits) == len(reached) else None)
    elif target is not None and row["backend"] != BASELINE_BACKEND:
        row["target_accuracy"] = target
        row["reached"] = "n/a"  # no per-epoch curve was recorded (pytest-benchmark rounds)
    return row


def _compare_backends(rows: list[dict]) -> None:
    """Each Keras backend against the fastest of its spec (paired by block), and accuracy parity."""
    by_spec = defaultdict(list)
    for row in rows:
        if row["backend"] != BASELINE_BACKEND and row.get("steady_epoch_s"):
            by_spec[tuple(row[k] for k in SPEC_GROUP)].append(row)
    for group in by_spec.values():
        fastest = min(group, key=lambda r: r["steady_epoch_s"])
        for row in group:
            if row is fastest:
                row["speed"] = "fastest"
                continue
            ratio = stats.paired_ratio(row["run_epoch_s"], fastest["run_epoch_s"])
            row.update(vs_fastest=ratio.ratio, vs_fastest_low=ratio.low,
                       vs_fastest_high=ratio.high, vs_fastest_n=ratio.n)
            row["speed"] = {"higher": "slower", "lower": "faster", "tie": "tie"}.get(
                ratio.verdict, ratio.verdict)
        accs = {r["backend"]: r for r in group if r.get("test_accuracy") is not None}
        stds = [r["test_accuracy_std"] for r in accs.values() if r.get("test_accuracy_std")]
        for b, row in accs.items():
            others = [r["test_accuracy"] for o, r in accs.items() if o != b]
            if not others:
                continue
            if len(stds) < len(accs):  # the spread over seeds is unknown without repeats
                row["parity"] = "n/a (1 run)"
                continue
            spread = math.sqrt(sum(s * s for s in stds) / len(stds))  # pooled over backends
            diff = row["test_accuracy"] - sum(others) / len(others)
            row["parity"] = "ok" if abs(diff) <= max(PARITY_FLOOR, 3 * spread) \
                else f"differs by {diff:+.4f}"


def precision_label(r: dict) -> str | None:
    """The dtype policy, and what float32 products and convolutions really ran in where that
    was not float32 (TF32 on a GPU, say); None for records that did not measure it."""
    p = r.get("precision")
    if not isinstance(p, dict):
        return None
    lowered = [f"{what} {p.get(f'float32_{what}')}" for what in ("matmul", "conv")
               if p.get(f"float32_{what}") not in (None, "float32")]
    return (p.get("policy") or "?") + (f" (float32 {', '.join(lowered)})" if lowered else "")


def peak_of(r: dict) -> float | None:
    """The rate a cell's achieved GFLOP/s is measured against: numpy's float32 product on the
    CPU; on a GPU the backend's own product in the precision the cell computed in."""
    if device_kind(r) == "cpu":
        return (r.get("machine") or {}).get("matmul_peak_gflops")
    peaks = r.get("device_peak_gflops") or {}
    bf16 = ((r.get("precision") or {}).get("compute_dtype") or "float32") == "bfloat16"
    return peaks.get("bfloat16" if bf16 else "float32")


def tidy(recs: list[dict], targets: dict | None = None) -> pd.DataFrame:
    """One row per cell group (a cell recorded twice, as after a resume that re-ran a failed
    cell, counts once: its last record), with run-level summaries and comparisons."""
    latest = {(run_of(r), records.cell_of(r).key()): r for r in recs}
    drift = canary_drift(list(latest.values()))
    groups = defaultdict(list)
    for r in latest.values():
        groups[group_key(r)].append(r)
    rows = [_row(k, v, targets, drift) for k, v in groups.items()]
    _compare_backends(rows)
    names = labels(sorted({r["spec"] for r in rows}))
    for row in rows:
        row["label"] = names[row["spec"]]
    order = {b: i for i, b in enumerate([*BACKENDS, BASELINE_BACKEND])}
    spec_order = {name: i for i, name in enumerate(BUILTIN)}
    runs = list(dict.fromkeys(run_of(r) for r in recs))
    rows.sort(key=lambda r: (runs.index(r["run"]), r["dataset"], r["device_kind"], r["impl"],
                             r["mode"],
                             spec_order.get(r["spec"], len(spec_order)), r["label"],
                             order.get(r["backend"], 99)))
    return pd.DataFrame(rows, columns=COLUMNS)


def _keras(t: pd.DataFrame) -> pd.DataFrame:
    return t[(t.backend != BASELINE_BACKEND) & t.steady_epoch_s.notna()]


def recommend(t: pd.DataFrame) -> pd.DataFrame:
    """Per run, dataset, device, mode and spec: the Keras backend to pick and how sure.

    By time to target among the backends that reached it in every run (else by steady epoch),
    the same quantity for the pick, the margin over the runner-up and its interval (paired by
    block); "tie" when the interval holds 1, "not enough runs" below ``stats.MIN_RUNS``.
    """
    out = []
    keras_only = _keras(t)
    for key, g in keras_only[keras_only.impl == "keras"].groupby(list(SPEC_GROUP), sort=False):
        rows = list(g.itertuples())
        reached = [r for r in rows if _present(r.time_to_target_s)]
        if reached:
            by, rank = "time to target", sorted(reached, key=lambda r: r.time_to_target_s)
            value, runs = (lambda r: r.time_to_target_s), (lambda r: r.run_tta_s)
        else:
            by, rank = "steady epoch", sorted(rows, key=lambda r: r.steady_epoch_s)
            value, runs = (lambda r: r.steady_epoch_s), (lambda r: r.run_epoch_s)
        best = rank[0]
        rec = dict(zip(SPEC_GROUP, key), label=best.label, pick=best.backend, by=by,
                   value_s=value(best))
        if by == "time to target" and len(rank) == 1 and len(rows) > 1:
            rec["note"] = "the only backend that reached the target in every run"
        if len(rank) > 1:
            second = rank[1]
            ratio = stats.paired_ratio(runs(second), runs(best))
            rec.update(runner_up=second.backend, margin=ratio)
        if isinstance(best.parity, str) and best.parity.startswith("differs"):
            rec["note"] = f"accuracy {best.parity}"  # a faster backend that learns worse
        out.append(rec)
    return pd.DataFrame(out)


def mode_table(t: pd.DataFrame) -> pd.DataFrame:
    """Each mode against the default mode per run, spec, backend and device, paired by block:
    the speed-up (default / mode) with its interval and the accuracy difference. Empty unless
    one run holds the default and another mode."""
    out = []
    for (run, dataset, device, impl, spec, backend), g in _keras(t).groupby(
            ["run", "dataset", "device_kind", "impl", "spec", "backend"], sort=False):
        by = {r.mode: r for r in g.itertuples()}
        d = by.get("default")
        if d is None:
            continue
        for mode, u in by.items():
            if mode == "default" or not u.run_epoch_s:
                continue
            ratio = stats.paired_ratio(d.run_epoch_s, u.run_epoch_s)  # default / mode: speed-up
            acc = (u.test_accuracy - d.test_accuracy
                   if u.test_accuracy is not None and d.test_accuracy is not None else None)
            out.append({"run": run, "dataset": dataset, "device": device, "spec": d.label,
                        "backend": backend if impl == "keras" else f"{backend} (native)",
                        "mode": mode, "default s": d.steady_epoch_s,
                        "mode s": u.steady_epoch_s, "speed-up": ratio,
                        "verdict": {"higher": f"{mode} faster", "lower": f"{mode} slower",
                                    "tie": "tie"}.get(ratio.verdict, ratio.verdict),
                        "acc vs default (points)": None if acc is None else 100 * acc,
                        "settings": f"jit={u.jit_compile}, steps/exec={int(u.steps_per_execution)}"
                                    + (f", {u.precision}" if u.precision else "")})
    return pd.DataFrame(out)


def _variant_name(r) -> str:
    return f"{r.backend} {'Keras' if r.impl == 'keras' else 'native'} {r.mode}"


def native_table(t: pd.DataFrame) -> pd.DataFrame:
    """Per run, spec and framework: every Keras and native variant's steady epoch, the Keras
    overhead (best Keras / best native, paired by block, with its interval) and how close the
    best variant came to the machine's measured peak. Empty without native records."""
    rows = _keras(t)
    if not (rows.impl == "native").any():
        return pd.DataFrame()
    out = []
    for (run, dataset, device, spec, backend), g in rows.groupby(
            ["run", "dataset", "device_kind", "spec", "backend"], sort=False):
        by = {(r.impl, r.mode): r for r in g.itertuples()}
        keras = [r for (i, _), r in by.items() if i == "keras"]
        native = [r for (i, _), r in by.items() if i == "native"]
        row = {"run": run, "dataset": dataset, "device": device,
               "spec": g.label.iloc[0], "framework": backend}
        for impl, mode in (("keras", "default"), ("keras", "tuned"), ("keras", "bf16"),
                           ("native", "default"), ("native", "tuned"), ("native", "bf16")):
            r = by.get((impl, mode))
            row[f"{impl} {mode} s"] = f"{r.steady_epoch_s:.3g}" if r is not None else ""
        best_k = min(keras, key=lambda r: r.steady_epoch_s) if keras else None
        best_n = min(native, key=lambda r: r.steady_epoch_s) if native else None
        row["Keras overhead"] = (stats.paired_ratio(best_k.run_epoch_s, best_n.run_epoch_s)
                                 if best_k is not None and best_n is not None else None)
        best = min([*keras, *native], key=lambda r: r.steady_epoch_s)
        row["best variant"] = _variant_name(best)
        row["best GFLOP/s"] = f"{best.achieved_gflops:.3g}" if _present(best.achieved_gflops) else ""
        row["of peak"] = f"{100 * best.utilisation:.1f}%" if _present(best.utilisation) else ""
        out.append(row)
    table = pd.DataFrame(out)
    return table.drop(columns=[c for c in table.columns if c.endswith(" s")
                               and (table[c] == "").all()])


def fastest_table(t: pd.DataFrame) -> pd.DataFrame:
    """Per run and spec: the fastest variant of all (framework x Keras/native x mode) by steady
    epoch, against the best Keras variant (paired by block). Empty without native records."""
    rows = _keras(t)
    if not (rows.impl == "native").any():
        return pd.DataFrame()
    out = []
    for (run, dataset, device, spec), g in rows.groupby(
            ["run", "dataset", "device_kind", "spec"], sort=False):
        ranked = sorted(g.itertuples(), key=lambda r: r.steady_epoch_s)
        best = ranked[0]
        keras = [r for r in ranked if r.impl == "keras"]
        row = {"run": run, "dataset": dataset, "device": device, "spec": best.label,
               "fastest": _variant_name(best), "epoch s": f"{best.steady_epoch_s:.3g}",
               "acc": f"{best.test_accuracy:.4f}" if _present(best.test_accuracy) else "",
               "best Keras": _variant_name(keras[0]) if keras else "",
               "vs best Keras": None}
        if keras and keras[0] is not best:
            row["vs best Keras"] = stats.paired_ratio(keras[0].run_epoch_s, best.run_epoch_s)
        out.append(row)
    return pd.DataFrame(out)


def device_table(t: pd.DataFrame) -> pd.DataFrame:
    """CPU and GPU side by side per spec, backend and mode: train and inference samples/s. The
    GPU speed-up is given only when both were measured in one run (never across runs)."""
    keras_rows = t[(t.backend != BASELINE_BACKEND) & t.train_samples_per_s.notna()]
    if keras_rows.device_kind.nunique() < 2:
        return pd.DataFrame()
    out = []
    for (dataset, spec, backend, impl, mode), g in keras_rows.groupby(
            ["dataset", "label", "backend", "impl", "mode"], sort=False):
        by = {r.device_kind: r for r in g.itertuples()}
        cpu, gpu = by.get("cpu"), by.get("gpu")
        row = {"dataset": dataset, "spec": spec, "backend": backend, "impl": impl, "mode": mode}
        for kind, r in (("cpu", cpu), ("gpu", gpu)):
            row[f"{kind} train/s"] = r.train_samples_per_s if r else None
            row[f"{kind} infer/s"] = r.inference_samples_per_s if r else None
        same_run = cpu is not None and gpu is not None and cpu.run == gpu.run
        row["gpu speed-up (train)"] = (gpu.train_samples_per_s / cpu.train_samples_per_s
                                       if same_run else None)
        row["gpu"] = gpu.device_name if gpu else "not measured"
        if cpu is not None and gpu is not None and not same_run:
            row["note"] = "CPU and GPU from different runs: no ratio"
        out.append(row)
    return pd.DataFrame(out)


def drift_table(recs: list[dict]) -> pd.DataFrame:
    """Per run: the canary's best, median and worst time, and the cells measured slow."""
    drift = canary_drift(recs)
    out = []
    by_run = defaultdict(list)
    for r in recs:
        if r.get("canary_s"):
            by_run[run_of(r)].append(r)
    for run, rs in by_run.items():
        times = sorted(r["canary_s"] for r in rs)
        best = canary_best(times)
        slow = [r for r in rs if drift.get(id(r), 0) > DRIFT_FLAG]
        out.append({"run": run, "cells": len(rs), "canary best s": best,
                    "median s": times[len(times) // 2], "worst s": times[-1],
                    "worst vs best": times[-1] / best - 1,
                    "cells flagged": len(slow)})
    return pd.DataFrame(out)


def _present(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def versions_differ(recs: list[dict]) -> list[str]:
    """Per library whose version is not the same on every machine of ``recs``: "jax: 0.10.2
    on A; 0.11.2 on B" (a library missing on a machine is not a difference)."""
    by_machine: dict[str, dict] = {}
    for r in recs:
        by_machine.setdefault(machine_of(r), {}).update(r.get("versions") or {})
    if len(by_machine) < 2:
        return []
    out = []
    for lib in sorted({k for v in by_machine.values() for k in v}):
        seen = defaultdict(list)
        for machine, versions in by_machine.items():
            if lib in versions:
                seen[versions[lib]].append(machine)
        if len(seen) > 1:
            out.append(f"{lib}: " + "; ".join(f"{v} on {', '.join(ms)}" for v, ms in seen.items()))
    return out


def machines_table(t: pd.DataFrame) -> pd.DataFrame:
    """The same cells on several machines, side by side: one row per dataset, implementation,
    mode, spec and backend, one column group per machine (per machine and run when a machine
    has several runs of a row). Each machine after the first is set against the first by a
    ratio paired by block only when both come from one run (one cluster run); never across runs
    or sessions. Empty unless the table holds two or more machines."""
    rows = t[t.steady_epoch_s.notna() | (t.status != "ok")]
    if rows.machine.nunique() < 2:
        return pd.DataFrame()
    key = ["dataset", "impl", "mode", "label", "backend"]
    several = rows.groupby([*key, "machine"]).run.nunique().max() > 1
    column = rows.machine + (" · " + rows.run if several else "")
    run_ids = list(dict.fromkeys(rows.run_id))  # runs as given; one cluster run's nodes by name
    columns = list(dict.fromkeys(c for c, _, _ in sorted(
        set(zip(column, rows.run_id, rows.machine)), key=lambda c: (run_ids.index(c[1]), c[2]))))
    out = []
    for k, g in rows.assign(column=column).groupby(key, sort=False):
        row = dict(zip(["dataset", "impl", "mode", "spec", "backend"], k))
        by = {r.column: r for r in g.itertuples()}
        first = by.get(columns[0])
        for c in columns:
            r = by.get(c)
            row.update({f"{c} device": "", f"{c} epoch s": "", f"{c} acc": ""})  # column order
            if r is None:
                row[f"{c} epoch s"] = "not run"
                continue
            if r.status != "ok" or not _present(r.steady_epoch_s):
                row[f"{c} epoch s"] = r.status
                continue
            row[f"{c} device"] = r.device_name
            row[f"{c} epoch s"] = f"{r.steady_epoch_s:.3f}" + (
                f" [{r.steady_epoch_low_s:.3f}-{r.steady_epoch_high_s:.3f}]"
                if _present(r.steady_epoch_low_s) else "")
            row[f"{c} acc"] = f"{r.test_accuracy:.4f}"
            if c != columns[0] and first is not None and _present(first.steady_epoch_s):
                row[f"{c} vs {columns[0]}"] = (
                    stats.paired_ratio(r.run_epoch_s, first.run_epoch_s)
                    if r.run_id == first.run_id else "different runs: no ratio")
        out.append(row)
    return pd.DataFrame(out)
