"""Markdown, CSV and JSON tables from the aggregated table (``analysis.aggregate.tidy``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from ..analysis import aggregate, stats
from ..settings import BACKENDS, BASELINE_BACKEND

LEGEND = (
    "acc: test accuracy, mean ± standard deviation over runs (⚠: differs from the other backends "
    "by more than 3 standard deviations of the seeds). epoch s: geometric mean over runs of each "
    "run's mean steady epoch (epochs 2..n), with its 95% interval over runs [low-high] when there are 2 or "
    "more. vs fastest: this backend's run figures over the fastest backend's, paired by block, "
    "with the 95% interval of the ratio; 'tie' when the interval holds 1, '(n=k)' when there are "
    f"fewer than {stats.MIN_RUNS} paired runs to judge by. samples/s: training throughput at that "
    "epoch time; 1st epoch s: the compiling first epoch. ‡: measured while the drift canary ran "
    f"more than {aggregate.DRIFT_FLAG:.0%} slower than the run's best; †: more than "
    f"{aggregate.UNCLOCKED_FLAG:.0%} of the steady epochs' wall time (evaluation excluded) was "
    "outside the training clock. Method: docs/method.md.\n")


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _num(v, fmt: str) -> str:
    return "" if _missing(v) else format(v, fmt)


def _acc(row) -> str:
    if row.status not in ("ok", "diverged"):
        return row.status
    text = _num(row.test_accuracy, ".4f")
    if row.runs > 1 and _num(row.test_accuracy_std, ".4f"):
        text += f" ± {row.test_accuracy_std:.4f}"
    if isinstance(row.parity, str) and row.parity.startswith("differs"):
        text += " ⚠"
    return text + (" (diverged)" if row.status == "diverged" else "")


def _marks(row) -> str:
    marks = ""
    if not _missing(row.drift) and row.drift > aggregate.DRIFT_FLAG:
        marks += "‡"
    if not _missing(row.unclocked_share) and row.unclocked_share > aggregate.UNCLOCKED_FLAG:
        marks += "†"
    return marks


def _time(row) -> str:
    text = _num(row.steady_epoch_s, ".3f")
    if text and not _missing(row.steady_epoch_low_s):
        text += f" [{row.steady_epoch_low_s:.3f}-{row.steady_epoch_high_s:.3f}]"
    return text + _marks(row) if text else ""


def _vs(row) -> str:
    if row.speed == "fastest":
        return "fastest"
    if _missing(row.vs_fastest):
        return ""
    ratio = stats.Ratio(row.vs_fastest, None if _missing(row.vs_fastest_low) else row.vs_fastest_low,
                        None if _missing(row.vs_fastest_high) else row.vs_fastest_high,
                        int(row.vs_fastest_n), row.speed)
    return ratio.text()


def _keras_cells(row) -> dict:
    return {"acc": _acc(row), "epoch s": _time(row), "vs fastest": _vs(row),
            "samples/s": _num(row.train_samples_per_s, ",.0f"),
            "1st epoch s": _num(row.first_epoch_s, ".2f")}


def _tta(row) -> str:
    if _missing(row.target_accuracy):
        return ""
    if row.reached == "n/a":
        return "n/a (no per-epoch curve)"
    if not _missing(row.time_to_target_s):
        return f"{row.time_to_target_s:.2f} (≥{row.target_accuracy:.3f})"
    return f"not reached (≥{row.target_accuracy:.3f}, {row.reached})"


def _detail_cells(row) -> dict:
    return {"spec": row.label, "backend": row.backend, "runs": row.runs, "acc": _acc(row),
            "reported acc": _num(row.reported_accuracy, ".4f"), "parity": row.parity or "",
            "time to target s": _tta(row),
            "inference samples/s": _num(row.inference_samples_per_s, ",.0f"),
            "GFLOP/s": _num(row.achieved_gflops, ".2f"),
            "of peak": "" if _missing(row.utilisation) else f"{100 * row.utilisation:.1f}%",
            "unclocked": "" if _missing(row.unclocked_share) else f"{100 * row.unclocked_share:.0f}%",
            "canary": "" if _missing(row.drift) else f"+{100 * row.drift:.0f}%",
            "jit": row.jit_compile, "steps/exec": row.steps_per_execution}


def run_names(t: pd.DataFrame) -> dict:
    """Short names for the runs of a table: the run id, or the record store's folder."""
    names = {}
    for run in dict.fromkeys(t["run"]):
        p = Path(run)
        names[run] = str(p.parent) if p.name in ("records.jsonl",) else str(run)
    return names


def runs_markdown(recs: list[dict], t: pd.DataFrame) -> str:
    """One line per run: where it ran, the matmul peak, the versions and the canary."""
    names = run_names(t)
    rows = []
    drift = aggregate.drift_table(recs).set_index("run") if any(r.get("canary_s") for r in recs) else None
    for run in names:
        rs = [r for r in recs if aggregate.run_of(r) == run]
        if not rs:
            continue
        m, v = rs[-1].get("machine") or {}, rs[-1].get("versions") or {}
        cpu = m.get("cpu") or {}
        gpus = ", ".join(g["name"] for g in m.get("gpus") or []) or "none"
        row = {"run": names[run], "machine": aggregate.machine_of(rs[-1]),
               "host": m.get("hostname") or "", "CPU": f"{cpu.get('model')} "
               f"({cpu.get('cores')} cores)", "GPUs": gpus,
               "matmul peak GFLOP/s": _num(m.get("matmul_peak_gflops"), ".0f"),
               "keras": v.get("keras", ""), "records": len(rs),
               "from": min(r["timestamp"] for r in rs), "to": max(r["timestamp"] for r in rs)}
        if drift is not None and run in drift.index:
            d = drift.loc[run]
            row["canary worst vs best"] = f"+{100 * d['worst vs best']:.0f}%"
            row["cells flagged ‡"] = int(d["cells flagged"])
        rows.append(row)
    return pd.DataFrame(rows).to_markdown(index=False)


def variant(impl: str, mode: str) -> str:
    """A table's heading for one implementation and mode: "tuned mode", "native default"."""
    return f"{mode} mode" if impl == "keras" else f"{impl} {mode} (the framework's own loop)"


def _ratio_table(table: pd.DataFrame, column: str, names: dict, multi: bool) -> str:
    """Markdown of a table whose ``column`` holds paired ratios (or None); the run column only
    when several runs are shown."""
    shown = table.assign(**{"run": table["run"].map(names),
                            column: table[column].map(lambda r: r.text() if r is not None else "")})
    return ((shown if multi else shown.drop(columns=["run"]))
            .astype(object).fillna("").to_markdown(index=False) + "\n")


def markdown(t: pd.DataFrame, notes: dict | None = None, detail: bool = True,
             recs: list[dict] | None = None) -> str:
    """Markdown: per run x dataset x device x mode, one column group per Keras backend, then the
    scikit-learn baseline, tuned vs default, CPU vs GPU, the recommendation, and (``detail``)
    accuracy, time-to-target and utilisation per cell. ``notes[(backend, device)]`` stands in
    for a backend with no rows."""
    parts = [LEGEND]
    names = run_names(t)
    multi = len(names) > 1
    if recs:
        parts.append("### Runs\n")
        parts.append(runs_markdown(recs, t) + "\n")
    keras_rows = t[t.backend != BASELINE_BACKEND]
    for (run, dataset, device, impl, mode), g in keras_rows.groupby(
            ["run", "dataset", "device_kind", "impl", "mode"], sort=False):
        if (g.status == "skipped").all():
            continue  # a variant not measured anywhere here (its reason: the failed-cells table)
        where = g.device_name.dropna().iloc[0] if g.device_name.notna().any() else device
        parts.append(f"### {dataset}, {device} ({where}), {variant(impl, mode)}"
                     + (f", run {names[run]}" if multi else "") + "\n")
        backends = [b for b in BACKENDS if b in set(g.backend) or (b, device) in (notes or {})]
        backends += sorted(set(g.backend) - set(backends))
        rows = []
        for spec, sg in g.groupby("label", sort=False):
            row = {"spec": spec}
            by = {r.backend: r for r in sg.itertuples()}
            for b in backends:
                if b in by:
                    row.update({f"{b} {k}": v for k, v in _keras_cells(by[b]).items()})
                else:
                    row[f"{b} acc"] = (notes or {}).get((b, device), "not run")
            rows.append(row)
        parts.append(pd.DataFrame(rows).astype(object).fillna("").to_markdown(index=False) + "\n")
    base = t[t.backend == BASELINE_BACKEND]
    for (run, dataset), g in base.groupby(["run", "dataset"], sort=False):
        parts.append(f"### {dataset}, scikit-learn baseline" + (f", run {names[run]}" if multi else "") + "\n")
        rows = [{"spec": r.label, "runs": r.runs, "test acc": _acc(r),
                 "15k-split acc": _num(r.split_accuracy, ".4f"),
                 "reported (split)": _num(r.reported_accuracy, ".4f"),
                 "passes": r.passes, "s/pass": _time(r),
                 "samples/s": _num(r.train_samples_per_s, ",.0f")} for r in g.itertuples()]
        parts.append(pd.DataFrame(rows).to_markdown(index=False) + "\n")
    if len(parts) == 1 + (2 if recs else 0):
        return "No records.\n"
    modes = aggregate.mode_table(t)
    if len(modes):
        parts.append("### Each mode against the default mode (measured together, paired by "
                     "block; speed-up = default / mode)\n")
        modes = modes.assign(**{"run": modes["run"].map(names),
                                "speed-up": modes["speed-up"].map(lambda r: r.text()),
                                "default s": modes["default s"].map(lambda v: f"{v:.3g}"),
                                "mode s": modes["mode s"].map(lambda v: f"{v:.3g}"),
                                "acc vs default (points)": modes["acc vs default (points)"].map(
                                    lambda v: "" if v is None or v != v else f"{v:+.2f}")})
        parts.append((modes if multi else modes.drop(columns=["run"])).to_markdown(index=False) + "\n")
    native = aggregate.native_table(t)
    if len(native):
        parts.append("### What Keras costs: each framework's Keras variants against its own loop "
                     "(measured together, paired by block)\n")
        parts.append("Keras overhead = the best Keras variant's epoch / the best native variant's "
                     "epoch of the same framework, with its 95% interval; of peak: the best "
                     "variant's achieved GFLOP/s against the measured peak.\n")
        parts.append(_ratio_table(native, "Keras overhead", names, multi))
    fastest = aggregate.fastest_table(t)
    if len(fastest):
        parts.append("### The fastest way to train each spec here (any framework, Keras or native, "
                     "any mode)\n")
        parts.append(_ratio_table(fastest, "vs best Keras", names, multi))
    machines = aggregate.machines_table(t)
    if len(machines):
        parts.append("### The same cells on each machine, side by side\n")
        differ = aggregate.versions_differ(recs or [])
        parts.append(("Software versions differ between these machines: " + " | ".join(differ)
                      if differ else "The machines run the same library versions.")
                     + " A ratio between machines is given only for cells of one run (paired "
                       "by block); never across runs.\n")
        shown = machines.map(lambda v: v.text() if isinstance(v, stats.Ratio) else v)
        parts.append(shown.astype(object).fillna("").to_markdown(index=False) + "\n")
    dev = aggregate.device_table(t)
    if len(dev):
        parts.append("### Throughput by device (samples/s)\n")
        parts.append(dev.to_markdown(index=False, floatfmt=",.1f") + "\n")
    rec = aggregate.recommend(t)
    if len(rec):
        parts.append("### Which backend\n")
        parts.append(recommendation_markdown(rec, names if multi else None) + "\n")
    if recs:
        from ..analysis import reproduction

        rep = reproduction.markdown(recs)
        if rep:
            parts.append("### The seed recipes reproduced (seed profile, default mode)\n")
            parts.append(rep + "\n")
    if detail and len(keras_rows):
        for (run, dataset, device, impl, mode), g in keras_rows.groupby(
                ["run", "dataset", "device_kind", "impl", "mode"], sort=False):
            parts.append(f"### {dataset}, {device}, {variant(impl, mode)}"
                         + (f", run {names[run]}" if multi else "")
                         + ": accuracy, time to target, utilisation, clock and drift\n")
            parts.append(pd.DataFrame([_detail_cells(r) for r in g.itertuples()])
                         .astype(object).fillna("").to_markdown(index=False) + "\n")
    failed = t[~t.status.isin(["ok", "diverged"])]
    if len(failed):
        parts.append("Cells without a result:\n")
        parts.extend(f"- {r.label} / {r.backend}{' (native)' if r.impl == 'native' else ''} / "
                     f"{r.mode} / {r.dataset} / {r.device_kind}: {r.status}: {r.reason}"
                     for r in failed.itertuples())
        parts.append("")
    return "\n".join(parts)


def recommendation_markdown(rec: pd.DataFrame, names: dict | None = None) -> str:
    rows = []
    for r in rec.itertuples():
        margin = getattr(r, "margin", None)
        if not isinstance(margin, stats.Ratio):
            why = "no runner-up"
        elif margin.verdict == "tie":
            why = f"tie with {r.runner_up}: {margin.text()}"
        elif margin.decided:
            why = f"ahead of {r.runner_up}: {margin.text()}"
        else:
            why = f"{margin.ratio:.2f}x over {r.runner_up}, {margin.verdict}: undecided"
        note = getattr(r, "note", None)
        row = {"dataset": r.dataset, "device": r.device_kind, "mode": r.mode, "spec": r.label,
               "pick": r.pick if (isinstance(margin, stats.Ratio) and margin.decided) or
               not isinstance(margin, stats.Ratio) else f"({r.pick})",
               "by": f"{r.by} ({r.value_s:.2f} s)", "margin": why,
               "note": note if isinstance(note, str) else ""}
        if names:
            row = {"run": names[r.run], **row}
        rows.append(row)
    return pd.DataFrame(rows).to_markdown(index=False)


def _jsonable(t: pd.DataFrame) -> list[dict]:
    rows = json.loads(t.drop(columns=["run_epoch_s", "run_tta_s"]).to_json(orient="records"))
    for row, per_run, tta in zip(rows, t["run_epoch_s"], t["run_tta_s"]):
        row["run_epoch_s"] = {str(k): v for k, v in per_run.items()} if isinstance(per_run, dict) else None
        row["run_tta_s"] = {str(k): v for k, v in tta.items()} if isinstance(tta, dict) else None
    return rows


def write_tables(t: pd.DataFrame, out: Path, stem: str = "tables", header: str = "",
                 notes: dict | None = None, recs: list[dict] | None = None) -> dict:
    """Write ``stem``.md / .csv / .json into ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {ext: out / f"{stem}.{ext}" for ext in ("md", "csv", "json")}
    paths["md"].write_text(header + markdown(t, notes, recs=recs))
    t.drop(columns=["run_epoch_s", "run_tta_s", "blocks"]).to_csv(paths["csv"], index=False)
    paths["json"].write_text(json.dumps(_jsonable(t), indent=1) + "\n")
    return paths
