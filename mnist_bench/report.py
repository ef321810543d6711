"""Tables from records: a tidy table (CSV/JSON, one row per cell group) and Markdown tables with
one column group per backend, per dataset, device and mode. Tables are derived from records,
never the other way round."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from . import records
from .settings import BACKENDS, BASELINE_BACKEND
from .specs import BUILTIN

GROUP = ["dataset", "device_kind", "mode", "spec", "backend"]
TIDY_COLUMNS = [
    *GROUP, "device_name", "status", "runs", "test_accuracy", "test_accuracy_std",
    "steady_epoch_s", "steady_epoch_iqr_s", "train_samples_per_s", "first_epoch_s",
    "inference_samples_per_s", "vs_fastest", "split_accuracy", "jit_compile",
    "steps_per_execution", "epochs_run", "reason",
]


def frame(recs: list[dict]) -> pd.DataFrame:
    """One row per record, with the fields the tables use."""
    rows = []
    for r in recs:
        device = r.get("device") or {}
        rows.append({
            "dataset": r["dataset"], "spec": r["spec"], "backend": r["backend"],
            "mode": r.get("mode", "default"),
            "device_kind": device.get("kind") or r.get("device_requested") or r.get("device_kind")
            or ("cpu" if r.get("device") in (None, "cpu") else str(r.get("device"))),
            "device_name": device.get("name") or (r.get("machine") or {}).get("cpu", {}).get("model"),
            "status": r["status"], "reason": r.get("reason"),
            **{k: r.get(k) for k in ("test_accuracy", "steady_epoch_s", "steady_epoch_iqr_s",
                                     "train_samples_per_s", "first_epoch_s",
                                     "inference_samples_per_s", "split_accuracy", "jit_compile",
                                     "steps_per_execution", "epochs_run")},
        })
    return pd.DataFrame(rows, columns=[c for c in TIDY_COLUMNS if c not in
                                       ("runs", "test_accuracy_std", "vs_fastest")])


def _first(s: pd.Series):
    s = s.dropna()
    return s.iloc[0] if len(s) else None


def tidy(recs: list[dict]) -> pd.DataFrame:
    """Records grouped by cell (repeats together): medians of times, mean and spread of accuracy,
    and each Keras backend's steady epoch time relative to the fastest of its group."""
    df = frame(recs)
    if df.empty:
        return pd.DataFrame(columns=TIDY_COLUMNS)
    ok = df[df.status.isin(["ok", "diverged"])]
    agg = ok.groupby(GROUP, dropna=False).agg(
        device_name=("device_name", _first), runs=("status", "size"),
        test_accuracy=("test_accuracy", "mean"), test_accuracy_std=("test_accuracy", "std"),
        steady_epoch_s=("steady_epoch_s", "median"),
        steady_epoch_iqr_s=("steady_epoch_iqr_s", "median"),
        train_samples_per_s=("train_samples_per_s", "median"),
        first_epoch_s=("first_epoch_s", "median"),
        inference_samples_per_s=("inference_samples_per_s", "median"),
        split_accuracy=("split_accuracy", "mean"), jit_compile=("jit_compile", _first),
        steps_per_execution=("steps_per_execution", _first), epochs_run=("epochs_run", "max"),
        status=("status", lambda s: "ok" if (s == "ok").all() else "diverged"),
    ).reset_index()
    # cells with no usable record show their last status and reason instead of numbers
    bad = df[~df.set_index(GROUP).index.isin(agg.set_index(GROUP).index)]
    bad = bad.groupby(GROUP, dropna=False).agg(
        device_name=("device_name", _first), status=("status", "last"),
        reason=("reason", "last"), runs=("status", "size")).reset_index()
    out = pd.concat([agg, bad], ignore_index=True) if len(bad) else agg
    keras_rows = out.backend != BASELINE_BACKEND
    fastest = out[keras_rows].groupby(["dataset", "device_kind", "mode", "spec"])["steady_epoch_s"]
    out["vs_fastest"] = None
    out.loc[keras_rows, "vs_fastest"] = out.loc[keras_rows, "steady_epoch_s"] / fastest.transform("min")
    for col in TIDY_COLUMNS:
        if col not in out:
            out[col] = None
    order = {b: i for i, b in enumerate([*BACKENDS, BASELINE_BACKEND])}
    spec_order = {name: i for i, name in enumerate(BUILTIN)}
    out["_o"] = out.backend.map(lambda b: order.get(b, 99))
    out["_s"] = out.spec.map(lambda s: spec_order.get(s, len(spec_order)))
    out = out.sort_values(["dataset", "device_kind", "mode", "_s", "spec", "_o"])
    return out[TIDY_COLUMNS].reset_index(drop=True)


def _num(v, fmt: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return format(v, fmt)


def _acc(row) -> str:
    if row.status not in ("ok", "diverged"):
        return row.status
    text = _num(row.test_accuracy, ".4f")
    if row.runs and row.runs > 1 and row.test_accuracy_std == row.test_accuracy_std:
        text += f" ± {row.test_accuracy_std:.4f}"
    return text + (" (diverged)" if row.status == "diverged" else "")


def _keras_row(r) -> dict:
    vs = r.vs_fastest
    return {"acc": _acc(r), "epoch s": _num(r.steady_epoch_s, ".3f"),
            "vs fastest": "" if vs is None or vs != vs else f"{vs:.2f}x",
            "samples/s": _num(r.train_samples_per_s, ",.0f"),
            "1st epoch s": _num(r.first_epoch_s, ".2f")}


def _baseline_row(r) -> dict:
    return {"test acc": _acc(r), "15k-split acc": _num(r.split_accuracy, ".4f"),
            "passes": _num(r.epochs_run, ".0f"), "s/pass": _num(r.steady_epoch_s, ".3f"),
            "samples/s": _num(r.train_samples_per_s, ",.0f")}


def markdown(t: pd.DataFrame, notes: dict | None = None) -> str:
    """Markdown tables, one per dataset x device x mode with one column group per Keras backend,
    then the scikit-learn baseline. ``notes[(backend, device)]`` fills a backend with no rows."""
    parts = []
    keras_rows = t[t.backend != BASELINE_BACKEND]
    for (dataset, device, mode), g in keras_rows.groupby(["dataset", "device_kind", "mode"], sort=False):
        parts.append(f"### {dataset}, {device} ({_first(g.device_name) or device}), {mode} mode\n")
        backends = [b for b in BACKENDS if b in set(g.backend) or (b, device) in (notes or {})]
        rows = []
        for spec, sg in g.groupby("spec", sort=False):
            row = {"spec": spec}
            by = {r.backend: r for r in sg.itertuples()}
            for b in backends:
                if b in by:
                    row.update({f"{b} {k}": v for k, v in _keras_row(by[b]).items()})
                else:
                    row[f"{b} acc"] = (notes or {}).get((b, device), "not run")
            rows.append(row)
        parts.append(pd.DataFrame(rows).fillna("").to_markdown(index=False) + "\n")
    base = t[t.backend == BASELINE_BACKEND]
    for dataset, g in base.groupby("dataset", sort=False):
        parts.append(f"### {dataset}, scikit-learn baseline on cpu ({_first(g.device_name)})\n")
        rows = [{"spec": r.spec, **_baseline_row(r)} for r in g.itertuples()]
        parts.append(pd.DataFrame(rows).to_markdown(index=False) + "\n")
    if not parts:
        return "No records.\n"
    failed = t[~t.status.isin(["ok", "diverged"])]
    if len(failed):
        parts.append("Cells without a result:\n")
        parts.extend(f"- {r.spec} / {r.backend} / {r.dataset} / {r.device_kind}: {r.status}: "
                     f"{r.reason}" for r in failed.itertuples())
        parts.append("")
    return "\n".join(parts)


def write_tables(t: pd.DataFrame, out: Path, stem: str = "tables", header: str = "") -> dict:
    """Write ``stem``.md / .csv / .json into ``out``; returns the paths."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {ext: out / f"{stem}.{ext}" for ext in ("md", "csv", "json")}
    paths["md"].write_text(header + markdown(t))
    t.to_csv(paths["csv"], index=False)
    paths["json"].write_text(json.dumps(json.loads(t.to_json(orient="records")), indent=1) + "\n")
    return paths


def load_any(paths: list[str]) -> list[dict]:
    """Records from record stores (folders or .jsonl) and pytest-benchmark JSON files."""
    from . import pytest_json

    recs = []
    for p in paths:
        path = Path(p)
        if path.suffix == ".json" and path.is_file():
            recs.extend(pytest_json.to_records(path))
        else:
            recs.extend(records.load(path))
    return recs
