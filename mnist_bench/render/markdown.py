"""Markdown from a ``Report`` (``analysis.report.build``): the result tables, the derived
tables, the recommendation and the cells without a result."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..analysis import stats
from ..analysis.keys import DRIFT_FLAG, UNCLOCKED_FLAG, looks_of, machine_of, run_of
from ..analysis.tidy import grouped
from ..settings import BACKENDS, BASELINE_BACKEND
from . import cells as fmt
from . import derived
from .compare_md import setup as setup_text

LEGEND = (
    "acc: test accuracy, mean ± standard deviation over runs (⚠: differs from the other backends "
    "by more than 3 standard deviations of the seeds). epoch s: mean over runs of each "
    "run's mean steady epoch (epochs 2..n; every run counts), with its 95% interval over runs "
    "[low-high] when there are 2 or more. vs fastest: this backend's mean figure over the "
    "fastest backend's, over the blocks both measured (paired by block), "
    f"with the {100 * stats.DECISION_CONFIDENCE:g}% interval of the ratio (95% over the "
    f"{len(stats.LOOKS)} looks after blocks {', '.join(map(str, stats.LOOKS))}; 97.5% or 95% "
    "where the run's budget planned 2 looks or 1: the runs table's 'looks'; its spread "
    "moderated towards the spread the same two backends show on the run's other specs, with "
    "the degrees of freedom that adds (an empirical-Bayes moderated t), and never below what "
    "the backends' epoch noise, pooled over their cells of the run, alone makes a run vary "
    "by); a ratio is decided when its interval lies wholly beyond the "
    "margin (shown bare), 'equivalent' when wholly inside it, else 'undecided' (an interval "
    "that holds 1 is not evidence of no difference); '(n=k)' when there are "
    f"fewer than {stats.MIN_RUNS} paired runs to judge by. samples/s: training throughput at that "
    "epoch time; 1st epoch s: the compiling first epoch. ‡: measured while the drift canary ran "
    f"more than {DRIFT_FLAG:.0%} slower than the run's best; †: more than "
    f"{UNCLOCKED_FLAG:.0%} of the steady epochs' wall time (evaluation excluded) was "
    "outside the training clock; §: a run of the cell was flagged (its worker stopped, halted "
    "or starved, other programs busy, or an outlier epoch): a warning, the run stays in the "
    "figures; slow epochs: the share of steady epochs over 1.5x the variant's median; "
    "re-measured: runs whose block was measured again after a disturbance from outside "
    "(counted, the block's last measurement used); (ok k/n; ...): runs that failed or timed "
    "out, the figures resting on the k that finished. Method: docs/method.md.\n")


def _keras_cells(row) -> dict:
    return {"acc": fmt.acc(row), "epoch s": fmt.epoch_time(row), "vs fastest": fmt.vs_fastest(row),
            "samples/s": fmt.num(row.train_samples_per_s, ",.0f"),
            "1st epoch s": fmt.num(row.first_epoch_s, ".2f")}


def _detail_cells(row) -> dict:
    return {"spec": row.label, "backend": row.backend, "runs": row.runs, "acc": fmt.acc(row),
            "reported acc": fmt.num(row.reported_accuracy, ".4f"), "parity": fmt.parity(row),
            "time to target s": fmt.time_to_target(row),
            "inference samples/s": fmt.num(row.inference_samples_per_s, ",.0f"),
            "GFLOP/s": fmt.num(row.achieved_gflops, ".2f"),
            "of peak": fmt.share(row.utilisation),
            "unclocked": fmt.percent(row.unclocked_share, 0),
            "canary": fmt.percent(row.drift, 0, "+"),
            "slow epochs": fmt.percent(getattr(row, "slow_epoch_share", None), 0),
            "re-measured": (f"{int(row.remeasured_runs)} ({', '.join(row.remeasured_why or [])})"
                            if not fmt.missing(getattr(row, "remeasured_runs", None))
                            and row.remeasured_runs else ""),
            "jit": row.jit_compile, "steps/exec": row.steps_per_execution}


def run_names(t: pd.DataFrame, *more: pd.DataFrame | None) -> dict:
    """Short names for the runs of the tables: the run id, or the record store's folder
    (``more``: other tables whose runs may have no row in ``t``, as a run of throughput cells)."""
    names = {}
    runs = [*t["run"], *(run for m in more if m is not None and len(m) for run in m["run"])]
    for run in dict.fromkeys(runs):
        p = Path(run)
        names[run] = str(p.parent) if p.name in ("records.jsonl",) else str(run)
    return names


def _looks(r: dict) -> str:
    """The run's look schedule and each look's level: "3, 5, 8, 12 (98.75%)"."""
    looks = looks_of(r) or stats.LOOKS
    return f"{', '.join(map(str, looks))} ({100 * stats.decision_confidence(1, looks):.4g}%)"


def runs_markdown(rep, names: dict) -> str:
    """One line per run: where it ran, the matmul peak, the versions and the canary."""
    rows = []
    drift = rep.drift.set_index("run") if len(rep.drift) else None
    by_run: dict = {}
    for r in rep.recs:
        by_run.setdefault(run_of(r), []).append(r)
    for run in names:
        rs = by_run.get(run, [])
        if not rs:
            continue
        m, v = rs[-1].get("machine") or {}, rs[-1].get("versions") or {}
        cpu = m.get("cpu") or {}
        gpus = ", ".join(g["name"] for g in m.get("gpus") or []) or "none"
        row = {"run": names[run], "machine": machine_of(rs[-1]),
               "host": m.get("hostname") or "", "CPU": f"{cpu.get('model')} "
               f"({cpu.get('cores')} cores)", "GPUs": gpus,
               "matmul peak GFLOP/s": fmt.num(m.get("matmul_peak_gflops"), ".0f"),
               "keras": v.get("keras", ""), "records": len(rs),
               "from": min(r["timestamp"] for r in rs), "to": max(r["timestamp"] for r in rs),
               "looks": _looks(rs[-1])}
        if drift is not None and run in drift.index:
            d = drift.loc[run]
            row["canary worst vs best"] = f"+{100 * d['worst vs best']:.0f}%"
            row["cells flagged ‡"] = int(d["cells flagged"])
        rows.append(row)
    return pd.DataFrame(rows).to_markdown(index=False)


def _result_tables(t: pd.DataFrame, names: dict, multi: bool, notes: dict) -> list[str]:
    parts = []
    keras_rows = t[t.backend != BASELINE_BACKEND]
    several = len(set(zip(t.setup, t.method))) > 1
    for (run, dataset, device, setup, method, impl, mode), g in grouped(
            keras_rows, ["run", "dataset", "device_kind", "setup", "method", "impl", "mode"]):
        if all(r.status == "skipped" for r in g):
            continue  # a variant not measured anywhere here (its reason: the failed-cells list)
        where = next((r.device_name for r in g if not fmt.missing(r.device_name)), device)
        parts.append(f"### {dataset}, {device} ({where}), {fmt.variant(impl, mode)}"
                     + (f", {setup_words(setup, method)}" if several else "")
                     + (f", run {names[run]}" if multi else "") + "\n")
        present = {r.backend for r in g}
        backends = [b for b in BACKENDS if b in present or (b, device) in notes]
        backends += sorted(present - set(backends))
        rows = []
        by_label: dict = {}
        for r in g:
            by_label.setdefault(r.label, []).append(r)
        for spec, sg in by_label.items():
            row = {"spec": spec}
            by = {r.backend: r for r in sg}
            for b in backends:
                if b in by:
                    row.update({f"{b} {k}": v for k, v in _keras_cells(by[b]).items()})
                else:
                    row[f"{b} acc"] = notes.get((b, device), "not run")
            rows.append(row)
        parts.append(fmt.table(rows) + "\n")
    base = t[t.backend == BASELINE_BACKEND]
    for (run, dataset), g in grouped(base, ["run", "dataset"]):
        if all(r.status == "skipped" for r in g):
            continue
        parts.append(f"### {dataset}, scikit-learn baseline" + (f", run {names[run]}" if multi else "") + "\n")
        rows = [{"spec": r.label, "runs": r.runs, "test acc": fmt.acc(r),
                 "15k-split acc": fmt.num(r.split_accuracy, ".4f"),
                 "reported (split)": fmt.num(r.reported_accuracy, ".4f"),
                 "passes": fmt.passes(r), "s/pass": fmt.epoch_time(r),
                 "samples/s": fmt.num(r.train_samples_per_s, ",.0f")} for r in g]
        parts.append(pd.DataFrame(rows).to_markdown(index=False) + "\n")
    return parts


def setup_words(setup, method) -> str:
    """A cell's setup and method in words: "quick, method 2", "smoke, --epochs 6, method 1"."""
    return f"{setup_text(tuple(setup))}, method {method}"


def _without_result(t: pd.DataFrame) -> list[str]:
    failed = t[~t.status.isin(["ok", "diverged"])]
    if not len(failed):
        return []
    return ["Cells without a result:\n",
            *(f"- {r.label} / {r.backend}{' (native)' if r.impl == 'native' else ''} / "
              f"{r.mode} / {r.dataset} / {r.device_kind}: {r.status}: {r.reason}"
              for r in failed.itertuples()), ""]


def markdown(rep, notes: dict | None = None, detail: bool = True, decision: bool = True) -> str:
    """Markdown: the recommendation first (``decision``), then per run x dataset x device x
    mode, one column group per Keras backend, the scikit-learn baseline, the derived tables and
    (``detail``) accuracy, time-to-target and utilisation per cell. ``notes[(backend,
    device)]`` stands in for a backend with no rows."""
    t, notes = rep.tidy, notes or {}
    names = run_names(t, rep.batches)
    multi = len(names) > 1
    parts = [LEGEND.rstrip("\n") + f" Margin of every verdict: ±{100 * rep.margin:g}% (--margin).\n"]
    if decision:
        parts += derived.decision_section(rep, names, multi)
    if rep.recs:
        parts += ["### Runs\n", runs_markdown(rep, names) + "\n"]
    results = _result_tables(t, names, multi, notes)
    more = derived.sections(rep, names, multi)
    if not results and not more:
        return "No results.\n\n" + "\n".join(_without_result(t) or ["No records.", ""])
    if not results:  # a --batch-sizes run that left out every recipe's own batch size
        parts.append("No cell ran at its recipe's batch size, so there is no accuracy table: "
                     "every cell here is a throughput cell (--batch-sizes).\n")
    parts += results
    parts += more
    if detail:
        keras_rows = t[t.backend != BASELINE_BACKEND]
        several = len(set(zip(t.setup, t.method))) > 1
        for (run, dataset, device, setup, method, impl, mode), g in grouped(
                keras_rows, ["run", "dataset", "device_kind", "setup", "method", "impl", "mode"]):
            parts.append(f"### {dataset}, {device}, {fmt.variant(impl, mode)}"
                         + (f", {setup_words(setup, method)}" if several else "")
                         + (f", run {names[run]}" if multi else "")
                         + ": accuracy, time to target, utilisation, clock and drift\n")
            parts.append(fmt.table([_detail_cells(r) for r in g]) + "\n")
    parts += _without_result(t)
    return "\n".join(parts)
