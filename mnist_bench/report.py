"""Tables from records (docs/method.md): a tidy table with one row per cell group (repeats
together), Markdown tables with one column group per backend, and the recommendation table.
Tables are derived from records, never the other way round."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import pandas as pd

from . import records, stats
from .settings import BACKENDS, BASELINE_BACKEND
from .specs import BUILTIN

GROUP = ("dataset", "device_kind", "mode", "spec", "backend")
COLUMNS = [
    *GROUP, "device_name", "status", "runs", "test_accuracy", "test_accuracy_std",
    "reported_accuracy", "parity", "steady_epoch_s", "steady_epoch_iqr_s", "train_samples_per_s",
    "first_epoch_s", "inference_samples_per_s", "vs_fastest", "vs_fastest_p", "speed",
    "target_accuracy", "time_to_target_s", "reached", "achieved_gflops", "utilisation",
    "split_accuracy", "jit_compile", "steps_per_execution", "epochs_run", "reason", "steady_epochs",
]
PARITY_FLOOR = 0.005  # accuracy differences below this are never flagged


def device_kind(r: dict) -> str:
    device = r.get("device")
    return (device.get("kind") if isinstance(device, dict) else None) or \
        r.get("device_requested") or "cpu"


def group_key(r: dict) -> tuple:
    return (r["dataset"], device_kind(r), r.get("mode") or "default", r["spec"], r["backend"])


def target_for(spec: str, targets: dict | None) -> float | None:
    if targets and spec in targets:
        return targets[spec]
    builtin = BUILTIN.get(spec)
    return builtin.recipe.target_accuracy if builtin else None


def _median(values):
    vals = [v for v in values if v is not None]
    return stats.median_iqr(vals)[0] if vals else None


def _row(key: tuple, recs: list[dict], targets: dict | None) -> dict:
    row = dict(zip(GROUP, key))
    last = recs[-1]
    row["device_name"] = (last.get("device") if isinstance(last.get("device"), dict) else {}).get("name") or \
        ((last.get("machine") or {}).get("cpu") or {}).get("model")
    row["runs"] = len(recs)
    good = [r for r in recs if r["status"] in ("ok", "diverged")]
    if not good:
        row.update(status=last["status"], reason=last.get("reason"))
        return row
    row["status"] = "ok" if all(r["status"] == "ok" for r in good) else "diverged"
    row["reason"] = next((r.get("reason") for r in good if r.get("reason")), None)
    row["test_accuracy"], row["test_accuracy_std"] = stats.mean_std([r["test_accuracy"] for r in good])
    row["reported_accuracy"] = (good[0].get("recipe") or {}).get("reported_accuracy")
    # per-epoch steady times pooled over repeats (the baseline: one time per pass per run)
    steady = [t for r in good for t in (r["epoch_s"] if r["backend"] == BASELINE_BACKEND
                                        else r["epoch_s"][1:])]
    row["steady_epochs"] = steady
    row["steady_epoch_s"], row["steady_epoch_iqr_s"] = stats.median_iqr(steady)
    if row["steady_epoch_s"]:
        row["train_samples_per_s"] = good[0]["train_samples"] / row["steady_epoch_s"]
    row["first_epoch_s"] = _median(r.get("first_epoch_s") for r in good)
    row["inference_samples_per_s"] = _median(r.get("inference_samples_per_s") for r in good)
    row["split_accuracy"] = stats.mean_std([r.get("split_accuracy") for r in good])[0]
    row["epochs_run"] = max(r.get("epochs_run") or 0 for r in good)
    row["jit_compile"] = good[0].get("jit_compile")
    row["steps_per_execution"] = good[0].get("steps_per_execution")
    flops = good[0].get("train_flops_per_sample")
    if flops and row["steady_epoch_s"]:
        row["achieved_gflops"] = flops * good[0]["train_samples"] / row["steady_epoch_s"] / 1e9
        peak = ((good[0].get("machine") or {}).get("matmul_peak_gflops"))
        if peak and row["device_kind"] == "cpu":
            row["utilisation"] = row["achieved_gflops"] / peak
    target = target_for(row["spec"], targets)
    if target is not None and row["backend"] != BASELINE_BACKEND:
        reached = [stats.time_to_target(r.get("curve") or [], target) for r in good]
        hits = [t for t in reached if t is not None]
        row["target_accuracy"] = target
        row["reached"] = f"{len(hits)}/{len(reached)}"
        row["time_to_target_s"] = _median(hits) if len(hits) == len(reached) else None
    return row


def _compare_backends(rows: list[dict]) -> None:
    """Speed relative to the fastest Keras backend (with a rank test) and accuracy parity."""
    by_spec = defaultdict(list)
    for row in rows:
        if row["backend"] != BASELINE_BACKEND and row.get("steady_epoch_s"):
            by_spec[tuple(row[k] for k in GROUP[:4])].append(row)
    for group in by_spec.values():
        fastest = min(group, key=lambda r: r["steady_epoch_s"])
        for row in group:
            row["vs_fastest"] = row["steady_epoch_s"] / fastest["steady_epoch_s"]
            if row is fastest:
                row["speed"] = "fastest"
                continue
            p = stats.mann_whitney(row["steady_epochs"], fastest["steady_epochs"])
            row["vs_fastest_p"] = p
            row["speed"] = {"significant": "slower", "tied": "tied with fastest",
                            "not tested": "not tested"}[stats.verdict(p)]
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


def tidy(recs: list[dict], targets: dict | None = None) -> pd.DataFrame:
    """One row per cell group (a cell recorded twice, as after a resume that re-ran a failed
    cell, counts once: its last record): time medians and IQR over the pooled steady epochs, accuracy
    mean and standard deviation over repeats, speed vs the fastest backend with a Mann-Whitney
    test, accuracy parity, time to the target accuracy, and utilisation."""
    latest = {records.cell_of(r).key(): r for r in recs}  # a cell run again: its last record
    groups = defaultdict(list)
    for r in latest.values():
        groups[group_key(r)].append(r)
    rows = [_row(k, v, targets) for k, v in groups.items()]
    _compare_backends(rows)
    order = {b: i for i, b in enumerate([*BACKENDS, BASELINE_BACKEND])}
    spec_order = {name: i for i, name in enumerate(BUILTIN)}
    rows.sort(key=lambda r: (r["dataset"], r["device_kind"], r["mode"],
                             spec_order.get(r["spec"], len(spec_order)), r["spec"],
                             order.get(r["backend"], 99)))
    return pd.DataFrame(rows, columns=COLUMNS)


def recommend(t: pd.DataFrame) -> pd.DataFrame:
    """For each dataset, device, mode and spec, the Keras backend to pick: fastest to the
    target accuracy where every run reached it, else fastest per steady epoch; with the margin
    over the runner-up and whether the per-epoch times differ significantly."""
    out = []
    keras_rows = t[(t.backend != BASELINE_BACKEND) & t.steady_epoch_s.notna()]
    for key, g in keras_rows.groupby(list(GROUP[:4]), sort=False):
        rows = list(g.itertuples())
        reached = [r for r in rows if r.time_to_target_s == r.time_to_target_s
                   and r.time_to_target_s is not None]
        if reached:
            by, rank = "time to target", sorted(reached, key=lambda r: r.time_to_target_s)
            value = lambda r: r.time_to_target_s  # noqa: E731
        else:
            by, rank = "steady epoch", sorted(rows, key=lambda r: r.steady_epoch_s)
            value = lambda r: r.steady_epoch_s  # noqa: E731
        best = rank[0]
        rec = dict(zip(GROUP[:4], key), pick=best.backend, by=by, value_s=value(best))
        if by == "time to target" and len(rank) == 1 and len(rows) > 1:
            rec["note"] = "the only backend that reached the target in every run"
        if len(rank) > 1:
            second = rank[1]
            p = stats.mann_whitney(best.steady_epochs, second.steady_epochs)
            rec.update(runner_up=second.backend, margin=value(second) / value(best), p_value=p,
                       verdict=stats.verdict(p))
        if isinstance(best.parity, str) and best.parity.startswith("differs"):
            rec["note"] = f"accuracy {best.parity}"  # a faster backend that learns worse
        out.append(rec)
    return pd.DataFrame(out)


def device_table(t: pd.DataFrame) -> pd.DataFrame:
    """CPU and GPU side by side per spec, backend and mode: train and inference samples/s and
    the GPU's speed-up over the CPU. Empty unless the records hold more than one device kind."""
    keras_rows = t[(t.backend != BASELINE_BACKEND) & t.train_samples_per_s.notna()]
    if keras_rows.device_kind.nunique() < 2:
        return pd.DataFrame()
    out = []
    for (dataset, spec, backend, mode), g in keras_rows.groupby(
            ["dataset", "spec", "backend", "mode"], sort=False):
        by = {r.device_kind: r for r in g.itertuples()}
        cpu, gpu = by.get("cpu"), by.get("gpu")
        row = {"dataset": dataset, "spec": spec, "backend": backend, "mode": mode}
        for kind, r in (("cpu", cpu), ("gpu", gpu)):
            row[f"{kind} train/s"] = r.train_samples_per_s if r else None
            row[f"{kind} infer/s"] = r.inference_samples_per_s if r else None
        row["gpu speed-up (train)"] = (gpu.train_samples_per_s / cpu.train_samples_per_s
                                       if cpu and gpu else None)
        row["gpu speed-up (infer)"] = (gpu.inference_samples_per_s / cpu.inference_samples_per_s
                                       if cpu and gpu and cpu.inference_samples_per_s else None)
        row["gpu"] = gpu.device_name if gpu else "not measured"
        out.append(row)
    return pd.DataFrame(out)


def mode_table(t: pd.DataFrame) -> pd.DataFrame:
    """Default against tuned mode per spec, backend and device: steady epoch times, the tuned
    speed-up and whether the per-epoch times differ significantly. Empty without both modes."""
    keras_rows = t[(t.backend != BASELINE_BACKEND) & t.steady_epoch_s.notna()]
    out = []
    for (dataset, device, spec, backend), g in keras_rows.groupby(
            ["dataset", "device_kind", "spec", "backend"], sort=False):
        by = {r.mode: r for r in g.itertuples()}
        if "default" not in by or "tuned" not in by:
            continue
        d, u = by["default"], by["tuned"]
        p = stats.mann_whitney(d.steady_epochs, u.steady_epochs)
        verdict = stats.verdict(p)
        speedup = d.steady_epoch_s / u.steady_epoch_s
        out.append({"dataset": dataset, "device": device, "spec": spec, "backend": backend,
                    "default s": d.steady_epoch_s, "tuned s": u.steady_epoch_s,
                    "tuned speed-up": speedup, "p": p,
                    "verdict": ("tuned faster" if speedup > 1 else "tuned slower")
                    if verdict == "significant" else verdict,
                    "tuned settings": f"jit={u.jit_compile}, steps/exec={int(u.steps_per_execution)}"})
    return pd.DataFrame(out)


# --- Markdown ------------------------------------------------------------------------------


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


def _time(row) -> str:
    text = _num(row.steady_epoch_s, ".3f")
    if row.runs > 1 or (isinstance(row.steady_epochs, list) and len(row.steady_epochs) > 1):
        text += f" ±{_num(row.steady_epoch_iqr_s, '.3f')}" if text else ""
    return text


def _vs(row) -> str:
    if row.speed == "fastest":
        return "1.00x"
    text = _num(row.vs_fastest, ".2f")
    return f"{text}x" + (" (tie)" if row.speed == "tied with fastest" else "") if text else ""


def _keras_cells(row) -> dict:
    return {"acc": _acc(row), "epoch s": _time(row), "vs fastest": _vs(row),
            "samples/s": _num(row.train_samples_per_s, ",.0f"),
            "1st epoch s": _num(row.first_epoch_s, ".2f")}


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _tta(row) -> str:
    if _missing(row.target_accuracy):
        return ""
    if not _missing(row.time_to_target_s):
        return f"{row.time_to_target_s:.2f} (≥{row.target_accuracy:.3f})"
    return f"not reached (≥{row.target_accuracy:.3f}, {row.reached})"


def _detail_cells(row) -> dict:
    return {"spec": row.spec, "backend": row.backend, "runs": row.runs, "acc": _acc(row),
            "reported acc": _num(row.reported_accuracy, ".4f"), "parity": row.parity or "",
            "time to target s": _tta(row),
            "inference samples/s": _num(row.inference_samples_per_s, ",.0f"),
            "GFLOP/s": _num(row.achieved_gflops, ".2f"),
            "of peak": "" if _missing(row.utilisation) else f"{100 * row.utilisation:.1f}%",
            "jit": row.jit_compile, "steps/exec": row.steps_per_execution}


LEGEND = (
    "acc: test accuracy, mean ± standard deviation over runs (⚠: differs from the other backends "
    "by more than 3 standard deviations of the seeds); epoch s: median steady-state epoch ± "
    "interquartile range, over every steady epoch of every run; vs fastest: steady epoch time over "
    "the fastest backend's, '(tie)' when a Mann-Whitney U test on the epoch times gives p ≥ 0.05; "
    "samples/s: training throughput at the median epoch; 1st epoch s: the compiling first epoch. "
    "Method: docs/method.md.\n")


def markdown(t: pd.DataFrame, notes: dict | None = None, detail: bool = True) -> str:
    """Markdown: per dataset x device x mode, one column group per Keras backend, then the
    scikit-learn baseline, the recommendation, and (``detail``) accuracy, time-to-target and
    utilisation per cell. ``notes[(backend, device)]`` stands in for a backend with no rows."""
    parts = [LEGEND]
    keras_rows = t[t.backend != BASELINE_BACKEND]
    for (dataset, device, mode), g in keras_rows.groupby(["dataset", "device_kind", "mode"], sort=False):
        parts.append(f"### {dataset}, {device} ({g.device_name.dropna().iloc[0] if g.device_name.notna().any() else device}), {mode} mode\n")
        backends = [b for b in BACKENDS if b in set(g.backend) or (b, device) in (notes or {})]
        backends += sorted(set(g.backend) - set(backends))
        rows = []
        for spec, sg in g.groupby("spec", sort=False):
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
    for dataset, g in base.groupby("dataset", sort=False):
        parts.append(f"### {dataset}, scikit-learn baseline\n")
        rows = [{"spec": r.spec, "runs": r.runs, "test acc": _acc(r),
                 "15k-split acc": _num(r.split_accuracy, ".4f"),
                 "reported (split)": _num(r.reported_accuracy, ".4f"),
                 "passes": _num(r.epochs_run, ".0f"), "s/pass": _time(r),
                 "samples/s": _num(r.train_samples_per_s, ",.0f")} for r in g.itertuples()]
        parts.append(pd.DataFrame(rows).to_markdown(index=False) + "\n")
    if len(parts) == 1:
        return "No records.\n"
    modes = mode_table(t)
    if len(modes):
        parts.append("### Tuned against default mode\n")
        parts.append(modes.to_markdown(index=False, floatfmt=".3g") + "\n")
    dev = device_table(t)
    if len(dev):
        parts.append("### Throughput by device (samples/s)\n")
        parts.append(dev.to_markdown(index=False, floatfmt=",.1f") + "\n")
    rec = recommend(t)
    if len(rec):
        parts.append("### Which backend\n")
        parts.append(recommendation_markdown(rec) + "\n")
    if detail and len(keras_rows):
        for (dataset, device, mode), g in keras_rows.groupby(["dataset", "device_kind", "mode"], sort=False):
            parts.append(f"### {dataset}, {device}, {mode} mode: accuracy, time to target, utilisation\n")
            parts.append(pd.DataFrame([_detail_cells(r) for r in g.itertuples()])
                         .astype(object).fillna("").to_markdown(index=False) + "\n")
    failed = t[~t.status.isin(["ok", "diverged"])]
    if len(failed):
        parts.append("Cells without a result:\n")
        parts.extend(f"- {r.spec} / {r.backend} / {r.dataset} / {r.device_kind}: {r.status}: "
                     f"{r.reason}" for r in failed.itertuples())
        parts.append("")
    return "\n".join(parts)


def recommendation_markdown(rec: pd.DataFrame) -> str:
    rows = []
    for r in rec.itertuples():
        margin = getattr(r, "margin", None)
        verdict = getattr(r, "verdict", None)
        if margin is None or margin != margin:
            why = "no runner-up"
        elif verdict == "tied":
            why = f"tied with {r.runner_up} ({margin:.2f}x, p={r.p_value:.2f})"
        elif verdict == "significant":
            why = f"{margin:.2f}x ahead of {r.runner_up} (p={r.p_value:.3f})"
        else:
            why = f"{margin:.2f}x ahead of {r.runner_up} (too few epochs to test)"
        note = getattr(r, "note", None)
        rows.append({"dataset": r.dataset, "device": r.device_kind, "mode": r.mode, "spec": r.spec,
                     "pick": r.pick, "by": f"{r.by} ({r.value_s:.2f} s)", "margin": why,
                     "note": note if isinstance(note, str) else ""})
    return pd.DataFrame(rows).to_markdown(index=False)


def write_tables(t: pd.DataFrame, out: Path, stem: str = "tables", header: str = "",
                 notes: dict | None = None) -> dict:
    """Write ``stem``.md / .csv / .json into ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {ext: out / f"{stem}.{ext}" for ext in ("md", "csv", "json")}
    paths["md"].write_text(header + markdown(t, notes))
    flat = t.drop(columns=["steady_epochs"])
    flat.to_csv(paths["csv"], index=False)
    paths["json"].write_text(json.dumps(json.loads(t.to_json(orient="records")), indent=1) + "\n")
    return paths


def load_any(paths: list[str]) -> list[dict]:
    """Records from record stores (folders or .jsonl) and pytest-benchmark JSON files."""
    from . import pytest_json

    recs = []
    for p in paths:
        path = Path(p)
        if path.suffix == ".json":
            recs.extend(pytest_json.to_records(path))
        else:
            recs.extend(records.load(path))
    return recs
