"""Charts (PNG and SVG, matplotlib), deterministic for the same records."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import pandas as pd

from ..analysis import keys
from ..settings import BACKENDS, BASELINE_BACKEND

COLORS = {"tensorflow": "#ff8f00", "jax": "#5c6bc0", "torch": "#e53935"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "mnist-bench"  # the same records give the same SVG
    import matplotlib.pyplot as plt

    return plt


def epoch_time_chart(t: pd.DataFrame, stem: Path) -> list[Path]:
    """Steady epoch time per backend per spec (median, IQR as error bars), log scale."""
    plt = _pyplot()
    keras_rows = t[(t.backend != BASELINE_BACKEND) & t.steady_epoch_s.notna()]
    groups = list(keras_rows.groupby(["run", "dataset", "device_kind", "impl", "mode"], sort=False))
    if not groups:
        return []
    fig, axes = plt.subplots(len(groups), 1, figsize=(10, 3.6 * len(groups)), squeeze=False)
    for ax, ((run, dataset, device, impl, mode), g) in zip(axes[:, 0], groups):
        specs = list(dict.fromkeys(g.label))
        width = 0.8 / len(BACKENDS)
        for i, b in enumerate(BACKENDS):
            gb = g[g.backend == b].set_index("label")
            xs = [j + (i - 1) * width for j, s in enumerate(specs) if s in gb.index]
            ys = [gb.loc[s, "steady_epoch_s"] for s in specs if s in gb.index]
            lo = [_gap(gb.loc[s, "steady_epoch_s"], gb.loc[s, "steady_epoch_low_s"]) for s in specs if s in gb.index]
            hi = [_gap(gb.loc[s, "steady_epoch_high_s"], gb.loc[s, "steady_epoch_s"]) for s in specs if s in gb.index]
            ax.bar(xs, ys, width, yerr=[lo, hi], label=b, color=COLORS.get(b), capsize=2)
        ax.set_xticks(range(len(specs)), specs, rotation=20, ha="right", fontsize=8)
        ax.set_yscale("log")
        from matplotlib.ticker import FormatStrFormatter

        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
        ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.set_ylabel("steady epoch (s)")
        title = f"{dataset}, {device}, {mode} mode{' (native)' if impl != 'keras' else ''} (geometric mean over runs, 95% interval; lower is better)"
        ax.set_title(title + (f"\nrun {run}" if len(groups) > 1 and t.run.nunique() > 1 else ""), fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, stem, plt)


def _gap(a, b) -> float:
    """A non-negative error-bar length, 0 where there is no interval."""
    return 0.0 if a is None or b is None or a != a or b != b else max(0.0, a - b)


def curves_chart(recs: list[dict], stem: Path) -> list[Path]:
    """Evaluated accuracy against cumulative training time, one panel per spec and dataset."""
    plt = _pyplot()
    panels = defaultdict(list)
    for r in recs:
        if r.get("backend") != BASELINE_BACKEND and r.get("curve") and r["status"] in ("ok", "diverged"):
            key = (r["spec"], r["dataset"], keys.device_kind(r), (r.get("mode") or "default") + ("" if (r.get("impl") or "keras") == "keras" else " native"))
            panels[key].append(r)
    if not panels:
        return []
    cols = 3
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(12, 3.2 * rows), squeeze=False)
    for ax, ((spec, dataset, device, mode), rs) in zip(axes.flat, panels.items()):
        seen = set()
        for r in rs:
            xs = [p["train_s"] for p in r["curve"]]
            ys = [p.get("validation_accuracy", p.get("test_accuracy")) for p in r["curve"]]
            label = r["backend"] if r["backend"] not in seen else None
            seen.add(r["backend"])
            ax.plot(xs, ys, marker="o", ms=3, lw=1, color=COLORS.get(r["backend"]), label=label)
        target = keys.target_for(spec, None)
        if target:
            ax.axhline(target, color="grey", lw=0.8, ls="--")
        ax.set_title(f"{spec} ({dataset}, {device}, {mode})", fontsize=9)
        ax.set_xlabel("training time (s)", fontsize=8)
        ax.set_ylabel("accuracy", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    return _save(fig, stem, plt)


def _save(fig, stem: Path, plt) -> list[Path]:
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    for p in paths:
        fig.savefig(p, dpi=110, metadata={"Date": None} if p.suffix == ".svg" else None)
    plt.close(fig)
    return paths
