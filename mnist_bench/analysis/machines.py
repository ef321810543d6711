"""Tables across devices and machines, and the machine's drift while a run was measured:
CPU against GPU, the same cells on several machines side by side, the drift canary per run,
and the library versions that differ between machines. Numbers and names only."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import pandas as pd

from ..settings import BASELINE_BACKEND
from . import stats
from .keys import DRIFT_FLAG, canary_best, canary_drift, machine_of, present, run_of
from .tidy import grouped


def device_table(t: pd.DataFrame) -> pd.DataFrame:
    """CPU and GPU side by side per spec, backend and mode: train and inference samples/s. The
    GPU speed-up is given only when both were measured in one run (``same_run``)."""
    keras_rows = t[(t.backend != BASELINE_BACKEND) & t.train_samples_per_s.notna()]
    if keras_rows.device_kind.nunique() < 2:
        return pd.DataFrame()
    out = []
    for (dataset, _setup, _method, spec, backend, impl, mode), g in grouped(
            keras_rows, ["dataset", "setup", "method", "label", "backend", "impl", "mode"]):
        by = {r.device_kind: r for r in g}
        cpu, gpu = by.get("cpu"), by.get("gpu")
        row = {"dataset": dataset, "spec": spec, "backend": backend, "impl": impl, "mode": mode}
        for kind, r in (("cpu", cpu), ("gpu", gpu)):
            row[f"{kind} train/s"] = r.train_samples_per_s if r else None
            row[f"{kind} infer/s"] = r.inference_samples_per_s if r else None
        both = cpu is not None and gpu is not None
        row["same_run"] = both and cpu.run == gpu.run
        row["gpu speed-up (train)"] = (gpu.train_samples_per_s / cpu.train_samples_per_s
                                       if row["same_run"] else None)
        row["gpu"] = gpu.device_name if gpu else None
        row["both"] = both
        out.append(row)
    return pd.DataFrame(out)


@dataclass
class SideBySide:
    """The same cells on several machines: ``columns`` (a machine, or a machine and run, per
    column, the first being the reference) and one row per dataset, implementation, mode, spec
    and backend, whose ``cells`` map each column to what was measured there."""

    columns: list = field(default_factory=list)
    rows: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)


def machines_table(t: pd.DataFrame, margin: float = stats.MARGIN) -> SideBySide:
    """Each machine after the first is set against the first by a ratio paired by block only
    when both come from one run (one cluster run); never across runs or sessions. Empty unless
    the table holds two or more machines."""
    rows = t[t.steady_epoch_s.notna() | (t.status != "ok")]
    if rows.machine.nunique() < 2:
        return SideBySide()
    key = ["dataset", "setup", "method", "impl", "mode", "label", "backend"]
    several = rows.groupby([*key, "machine"]).run.nunique().max() > 1
    column = rows.machine + (" · " + rows.run if several else "")
    run_ids = list(dict.fromkeys(rows.run_id))  # runs as given; one cluster run's nodes by name
    columns = list(dict.fromkeys(c for c, _, _ in sorted(
        set(zip(column, rows.run_id, rows.machine)), key=lambda c: (run_ids.index(c[1]), c[2]))))
    out = []
    for k, g in grouped(rows.assign(column=column), key):
        by = {r.column: r for r in g}
        first = by.get(columns[0])
        cells = {}
        for c in columns:
            r = by.get(c)
            if r is None:
                cells[c] = {"status": "not run"}
                continue
            if r.status != "ok" or not present(r.steady_epoch_s):
                cells[c] = {"status": r.status}
                continue
            cell = {"status": "ok", "device": r.device_name, "epoch_s": r.steady_epoch_s,
                    "low": r.steady_epoch_low_s, "high": r.steady_epoch_high_s,
                    "acc": r.test_accuracy}
            if c != columns[0] and first is not None and present(first.steady_epoch_s):
                cell["same_run"] = r.run_id == first.run_id
                cell["vs_first"] = (stats.paired_ratio(r.run_epoch_s, first.run_epoch_s, margin)
                                    if cell["same_run"] else None)
            cells[c] = cell
        out.append({**dict(zip(["dataset", "setup", "method", "impl", "mode", "spec", "backend"], k)),
                    "cells": cells})
    return SideBySide(columns, out)


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


def versions_differ(recs: list[dict]) -> dict[str, dict[str, list[str]]]:
    """Per library whose version is not the same on every machine of ``recs``: version ->
    the machines that run it (a library missing on a machine is not a difference)."""
    by_machine: dict[str, dict] = {}
    for r in recs:
        by_machine.setdefault(machine_of(r), {}).update(r.get("versions") or {})
    if len(by_machine) < 2:
        return {}
    out = {}
    for lib in sorted({k for v in by_machine.values() for k in v}):
        seen = defaultdict(list)
        for machine, versions in by_machine.items():
            if lib in versions:
                seen[versions[lib]].append(machine)
        if len(seen) > 1:
            out[lib] = dict(seen)
    return out
