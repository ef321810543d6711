"""Charts (PNG and SVG, matplotlib), deterministic for the same records."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import pandas as pd

from ..analysis import keys, stats
from ..identity import variant_words
from ..settings import BACKENDS, BASELINE_BACKEND

COLORS = {"tensorflow": "#ff8f00", "jax": "#5c6bc0", "torch": "#e53935"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "mnist-bench"  # the same records give the same SVG
    import matplotlib.pyplot as plt

    return plt


def native_chart(native: pd.DataFrame, stem: Path, matched: pd.DataFrame | None = None) -> list[Path]:
    """Keras against each framework's own loop: first at a matched strategy (each Keras
    variant's steady epoch over the native variant of its strategy, per spec; one series per
    framework and Keras mode), then each framework at its best (the best Keras variant over the
    best native variant, whose strategies can differ)."""
    panels = []
    if matched is not None and len(matched):
        for (run, dataset, device), g in matched.groupby(["run", "dataset", "device"], sort=False):
            panels.append((f"{dataset}, {device}: Keras / native at a matched strategy",
                           [(r["spec"], f"{r['framework']} {r['keras mode']}", r["Keras / native"])
                            for r in g.to_dict("records")
                            if isinstance(r["Keras / native"], stats.Ratio)]))
    if native is not None and len(native):
        for (run, dataset, device), g in native.groupby(["run", "dataset", "device"], sort=False):
            panels.append((f"{dataset}, {device}: best Keras variant / best native variant "
                           "(strategies may differ)",
                           [(r["spec"], r["framework"], r["Keras overhead"])
                            for r in g.to_dict("records") if r["Keras overhead"] is not None]))
    if not panels:
        return []
    return ratio_chart(panels, stem, "Keras epoch / native epoch (log scale; 1x = the same)",
                       "Point: mean over runs, paired by block. Bar: 98.75% interval, "
                       "drawn only from 3 or more runs. Matched: same compiler, compiled scope, "
                       "steps per call and precision; at best: the strategies are in the table.")


def _ratio_ticks(ax, low: float, high: float) -> None:
    """A log-ratio axis labelled in plain ratios (1x, 1.5x, 2x, ...), major ticks only."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    candidates = [0.5, 0.67, 0.8, 0.9, 1, 1.1, 1.25, 1.5, 2, 3, 4, 5, 7, 10, 15, 20, 30, 50, 100]
    gap = math.log(high / low) / 14  # labels no closer than this on the axis (1x always kept)
    ticks = []
    for c in sorted(c for c in candidates if low <= c <= high):
        if c == 1 or not ticks or math.log(c / ticks[-1]) >= gap:
            if ticks and ticks[-1] != 1 and math.log(c / ticks[-1]) < gap:
                ticks.pop()  # 1x displaces a neighbour too close to it
            ticks.append(c)
    ticks = [t for i, t in enumerate(ticks) if t == 1 or i + 1 == len(ticks)
             or ticks[i + 1] != 1 or math.log(1 / t) >= gap] or [1]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))


def _stacked(panels: list) -> tuple:
    """(pyplot, figure, axes) of one panel per (title, rows) stacked, each as tall as its
    rows (their first item names the row)."""
    plt = _pyplot()
    heights = [max(1.6, 0.42 * len(dict.fromkeys(r[0] for r in rows)) + 1.0) for _, rows in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    return plt, fig, list(axes[:, 0])


def _rows_axis(ax, labels: list, title: str) -> None:
    """A panel of labelled rows, top to bottom, with a vertical grid and its legend aside."""
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.tick_params(axis="x", labelsize=8)
    ax.set_title(title, fontsize=9)
    ax.grid(axis="x", color="#eee", lw=0.6)
    _legend_outside(ax)


def ratio_chart(panels: list[tuple[str, list[tuple[str, str, object]]]], stem: Path,
                xlabel: str, note: str) -> list[Path]:
    """A forest plot per panel: one row per item, one point per series at its ratio on a
    log-ratio axis, with the interval as a horizontal error bar only where the ratio has one
    (``stats.Ratio`` from at least 3 runs); a legend entry only for a series with data.

    ``panels``: (title, [(row label, series, Ratio-or-number)]); a number is a point without
    an interval (the reference itself is 1)."""
    panels = [(title, [r for r in rows if _value(r[2]) is not None]) for title, rows in panels]
    panels = [(title, rows) for title, rows in panels if rows]
    if not panels:
        return []
    plt, fig, axes = _stacked(panels)
    for ax, (title, rows) in zip(axes, panels):
        labels = list(dict.fromkeys(r[0] for r in rows))
        series = list(dict.fromkeys(r[1] for r in rows))
        step = 0.7 / max(1, len(series))
        lows, highs = [1.0], [1.0]
        for i, name in enumerate(series):
            mine = [r for r in rows if r[1] == name]
            ys = [labels.index(r[0]) + (i - (len(series) - 1) / 2) * step for r in mine]
            xs = [_value(r[2]) for r in mine]
            err = [[x - lo if lo else 0 for x, lo in zip(xs, [_low(r[2]) for r in mine])],
                   [hi - x if hi else 0 for x, hi in zip(xs, [_high(r[2]) for r in mine])]]
            ax.errorbar(xs, ys, xerr=err, fmt="o", ms=5, capsize=3, lw=1.2,
                        color=COLORS.get(name.split()[0]), label=name,
                        mfc=COLORS.get(name.split()[0]) if "native" not in name else "white")
            lows += [lo or x for x, lo in zip(xs, [_low(r[2]) for r in mine])]
            highs += [hi or x for x, hi in zip(xs, [_high(r[2]) for r in mine])]
        ax.axvline(1.0, color="grey", lw=0.8, ls="--")
        ax.set_xscale("log")
        lo, hi = min(lows) / 1.15, max(highs) * 1.15
        ax.set_xlim(lo, hi)
        _ratio_ticks(ax, lo, hi)
        _rows_axis(ax, labels, title)
        ax.set_xlabel(xlabel, fontsize=8)
    fig.text(0.01, 0.002, note, fontsize=7, color="#555", ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return _save(fig, stem, plt)


def _legend_outside(ax, fontsize: int = 7) -> None:
    """The legend beside the axes, right of the plotting area, never on the data."""
    ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
              borderaxespad=0.0)


def _value(r):
    v = getattr(r, "ratio", r)
    return None if v is None or v != v else float(v)


def _low(r):
    v = getattr(r, "low", None)
    return None if v is None or v != v else float(v)


def _high(r):
    v = getattr(r, "high", None)
    return None if v is None or v != v else float(v)


def _by_setting(t: pd.DataFrame):
    """(title, rows) of the trained Keras-spec cells with a steady epoch, per run, dataset,
    device, implementation and mode: "mnist, cpu, default mode" (", run R" with several)."""
    rows = t[(t.backend != BASELINE_BACKEND) & t.steady_epoch_s.notna()]
    for (run, dataset, device, impl, mode), g in rows.groupby(
            ["run", "dataset", "device_kind", "impl", "mode"], sort=False):
        title = f"{dataset}, {device}, {mode} mode{' (native)' if impl != 'keras' else ''}"
        yield title + (f", run {run}" if t.run.nunique() > 1 else ""), g


def epoch_time_chart(t: pd.DataFrame, stem: Path) -> list[Path]:
    """Each backend's steady epoch as a ratio to the fastest backend of its spec, per run,
    dataset, device, implementation and mode: points on a log-ratio axis, intervals from at
    least 3 runs (the tables' paired intervals)."""
    panels = []
    for title, g in _by_setting(t):
        items = []
        for r in g.itertuples():
            value = 1.0 if r.speed == "fastest" else r.vs_fastest
            if isinstance(value, float) or getattr(value, "ratio", None) is not None:
                items.append((r.label, r.backend, value))
        items.sort(key=lambda x: list(BACKENDS).index(x[1]) if x[1] in BACKENDS else 9)
        panels.append((title, items))
    return ratio_chart(panels, stem, "steady epoch / the fastest backend's (log scale; lower is "
                       "better, 1x = fastest)",
                       "Point: ratio of the mean figures over runs, paired by block. Bar: the tables' "
                       "interval (98.75%), drawn only from 3 or more runs.")


def modes_chart(modes: pd.DataFrame, stem: Path) -> list[Path]:
    """Each mode's speed-up over the default mode (default epoch / mode epoch), per backend."""
    if modes is None or not len(modes):
        return []
    panels = []
    for (run, dataset, device, mode), g in modes.groupby(["run", "dataset", "device", "mode"], sort=False):
        panels.append((f"{dataset}, {device}: {mode} mode against the default mode",
                       [(r["spec"], r["backend"] + (" native" if r["impl"] != "keras" else ""),
                         r["speed-up"]) for r in g.to_dict("records")]))
    return ratio_chart(panels, stem, "speed-up: default epoch / this mode's epoch (log scale; "
                       "higher is better)",
                       "Point: mean over runs, paired by block. Bar: 98.75% interval, "
                       "drawn only from 3 or more runs.")


MODE_STYLE = {"default": "-", "tuned": "--"}


def batch_chart(curves: pd.DataFrame, stem: Path) -> list[Path]:
    """Training samples/s against batch size, one panel per spec (and run, dataset, device),
    one line per backend, implementation and mode, both axes logarithmic; the 95% interval over
    runs as a vertical bar where there are 3 or more; a batch size that failed ends its line."""
    if curves is None or not len(curves):
        return []
    from matplotlib.ticker import FuncFormatter, LogLocator

    ok = curves[curves.samples_per_s.notna()]
    panels = list(ok.groupby(["run", "dataset", "device_kind", "spec"], sort=False))
    if not panels:
        return []
    failed = {tuple(k): int(b) for *k, b in curves[curves.failed.notna() & ~curves.after_stop][
        ["run", "dataset", "device_kind", "spec", "backend", "impl", "mode", "batch_size"]].itertuples(index=False)}
    plt = _pyplot()
    cols = min(2, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(8.2 * cols, 4.0 * rows), squeeze=False)
    for ax, ((run, dataset, device, spec), g) in zip(axes.flat, panels):
        _batch_lines(ax, g, failed, (run, dataset, device, spec))
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        _clip_to_points(ax, list(g.samples_per_s), list(g.samples_low), list(g.samples_high),
                        list(g.batch_size))
        sizes = sorted(g.batch_size.unique())
        ax.set_xticks(sizes, [str(int(b)) for b in sizes], fontsize=7)
        ax.minorticks_off()
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        ax.tick_params(axis="y", labelsize=7)
        ax.set_title(f"{g.label.iloc[0]} ({dataset}, {device})", fontsize=9)
        ax.set_xlabel("batch size", fontsize=8)
        ax.set_ylabel("training samples/s (log scale)", fontsize=8)
        ax.grid(color="#eee", lw=0.6)
        _legend_outside(ax, 6)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.text(0.01, 0.002, "Point: mean over runs of the steady epochs' samples/s. Bar: "
             "95% interval, drawn only from 3 or more runs; an interval reaching past the axis, "
             "which the points set, is cut there and marked ^ or v. Hollow: native loop.",
             fontsize=7, color="#555", ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return _save(fig, stem, plt)


def _batch_lines(ax, g: pd.DataFrame, failed: dict, where: tuple) -> None:
    """One line per backend, implementation and mode of a batch chart's panel: samples/s at
    each batch size, its interval from 3 or more runs, the batch size it failed at named."""
    for (backend, impl, mode), line in g.groupby(["backend", "impl", "mode"], sort=False):
        line = line.sort_values("batch_size")
        xs, ys = list(line.batch_size), list(line.samples_per_s)
        has = (line.runs >= stats.MIN_RUNS) & line.samples_low.notna()
        err = [[y - lo if h else 0 for y, lo, h in zip(ys, line.samples_low, has)],
               [hi - y if h else 0 for y, hi, h in zip(ys, line.samples_high, has)]]
        color = COLORS.get(backend)
        stop = failed.get((*where, backend, impl, mode))
        ax.errorbar(xs, ys, yerr=err, marker="o", ms=4, capsize=2, lw=1.2, color=color,
                    ls=MODE_STYLE.get(mode, ":"), mfc=color if impl == "keras" else "white",
                    label=variant_words((None, mode, impl, backend))
                    + (f" (failed at {stop})" if stop else ""))


CLIP = 3.0  # a batch chart's axis reaches this factor beyond its lowest and highest point


def _clip_to_points(ax, ys, lows, highs, xs) -> None:
    """The y axis set by the points (``CLIP`` beyond them), not by an interval: an interval
    past it is cut at the edge and marked there (^ above, v below)."""
    pts = [y for y in ys if y == y and y]
    if not pts:
        return
    bottom, top = min(pts) / CLIP, max(pts) * CLIP
    ax.set_ylim(bottom, top)
    for x, lo, hi in zip(xs, lows, highs):
        if hi == hi and hi is not None and hi > top:
            ax.plot([x], [top], marker="^", ms=5, color="#555", clip_on=False)
        if lo == lo and lo is not None and 0 < lo < bottom:
            ax.plot([x], [bottom], marker="v", ms=5, color="#555", clip_on=False)


def _absolute_panels(t: pd.DataFrame) -> list:
    """(title, [(spec label, backend, mean, low, high)]) per question and run, dataset, device,
    implementation and mode: the mean steady epoch and the mean time to target over runs."""
    panels = []
    for where, g in _by_setting(t):
        epoch, target = [], []
        for r in g.itertuples():
            epoch.append((r.label, r.backend, r.steady_epoch_s, r.steady_epoch_low_s, r.steady_epoch_high_s))
            tta = r.run_tta_s if isinstance(r.run_tta_s, dict) else {}
            if r.time_to_target_s == r.time_to_target_s and r.time_to_target_s and tta:
                target.append((r.label, r.backend, *stats.mean_interval(list(tta.values()))))
        panels += [(f"steady epoch (s): {where}", epoch),
                   (f"time to target accuracy (s, compiling epoch included): {where}", target)]
    return [(title, items) for title, items in panels if items]


def absolute_chart(t: pd.DataFrame, stem: Path) -> list[Path]:
    """What each spec costs on each backend, in seconds: the mean steady epoch (a long
    training's cost per epoch) and the mean time to the spec's target accuracy (a short
    training's), a point per backend with its 95% interval over runs, one panel per question
    (``_absolute_panels``); log scale, lower is better."""
    panels = _absolute_panels(t)
    if not panels:
        return []
    from matplotlib.ticker import FuncFormatter, LogLocator

    plt, fig, axes = _stacked(panels)
    order = {b: i for i, b in enumerate(BACKENDS)}
    for ax, (title, items) in zip(axes, panels):
        labels = list(dict.fromkeys(i[0] for i in items))
        series = sorted(dict.fromkeys(i[1] for i in items), key=lambda b: order.get(b, 9))
        step = 0.7 / max(1, len(series))
        for k, backend in enumerate(series):
            mine = [i for i in items if i[1] == backend]
            ys = [labels.index(i[0]) + (k - (len(series) - 1) / 2) * step for i in mine]
            xs = [i[2] for i in mine]
            err = [[x - lo if lo == lo and lo else 0 for x, lo in zip(xs, [i[3] for i in mine])],
                   [hi - x if hi == hi and hi else 0 for x, hi in zip(xs, [i[4] for i in mine])]]
            ax.errorbar(xs, ys, xerr=err, fmt="o", ms=5, capsize=3, lw=1.2,
                        color=COLORS.get(backend), label=backend)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        _rows_axis(ax, labels, title)
    fig.text(0.01, 0.002, "Point: mean over runs (lower is better). Bar: 95% interval over "
             "runs, from 2 or more. Log scale, in seconds.", fontsize=7, color="#555", ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return _save(fig, stem, plt)


def curves_chart(recs: list[dict], stem: Path) -> list[Path]:
    """Evaluated accuracy against cumulative training time, one panel per spec and dataset:
    per backend the mean over runs of each epoch's point (time and accuracy), with a band from
    the lowest to the highest run's accuracy at that epoch; the legend in one order."""
    plt = _pyplot()
    panels = defaultdict(list)
    for r in recs:
        if r.get("backend") != BASELINE_BACKEND and r.get("curve") and r["status"] in ("ok", "diverged") \
                and not keys.is_throughput(r):  # accuracy curves at the recipe's batch size
            key = (r["spec"], r["dataset"], keys.device_kind(r), (r.get("mode") or "default") + ("" if (r.get("impl") or "keras") == "keras" else " native"))
            panels[key].append(r)
    if not panels:
        return []
    cols = 3
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(12, 3.2 * rows), squeeze=False)
    order = {b: i for i, b in enumerate(BACKENDS)}
    for ax, ((spec, dataset, device, mode), rs) in zip(axes.flat, panels.items()):
        for backend in sorted({r["backend"] for r in rs}, key=lambda b: order.get(b, 9)):
            xs, ys, lo, hi = _mean_curve([r["curve"] for r in rs if r["backend"] == backend])
            color = COLORS.get(backend)
            ax.fill_between(xs, lo, hi, color=color, alpha=0.18, lw=0)
            ax.plot(xs, ys, marker="o", ms=3, lw=1.2, color=color, label=backend)
        target = keys.target_for(spec, None)
        if target:
            ax.axhline(target, color="grey", lw=0.8, ls="--")
        ax.set_title(f"{spec} ({dataset}, {device}, {mode})", fontsize=9)
        ax.set_xlabel("training time (s)", fontsize=8)
        ax.set_ylabel("accuracy", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    handles = {}
    for ax in axes.flat:  # one legend for every panel, above them, in one order
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    names = sorted(handles, key=lambda b: order.get(b, 9))
    fig.legend([handles[n] for n in names], names, loc="upper center", ncol=len(names),
               fontsize=8, frameon=False, bbox_to_anchor=(0.5, 1.0))
    fig.text(0.01, 0.002, "Line: mean over runs of each epoch's training time and accuracy. "
             "Band: the lowest to the highest run's accuracy at that epoch. Dashed: the target.",
             fontsize=7, color="#555", ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    return _save(fig, stem, plt)


def _mean_curve(curves: list[list[dict]]) -> tuple[list, list, list, list]:
    """(mean time, mean accuracy, lowest, highest accuracy) per epoch over runs' curves, up to
    the epochs every run has."""
    n = min(len(c) for c in curves)
    xs, ys, lo, hi = [], [], [], []
    for k in range(n):
        accs = [c[k].get("validation_accuracy", c[k].get("test_accuracy")) for c in curves]
        accs = [a for a in accs if a is not None]
        if not accs:
            continue
        xs.append(sum(c[k]["train_s"] for c in curves) / len(curves))
        ys.append(sum(accs) / len(accs))
        lo.append(min(accs))
        hi.append(max(accs))
    return xs, ys, lo, hi


def _save(fig, stem: Path, plt) -> list[Path]:
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    for p in paths:
        fig.savefig(p, dpi=110, metadata={"Date": None} if p.suffix == ".svg" else None)
    plt.close(fig)
    return paths
