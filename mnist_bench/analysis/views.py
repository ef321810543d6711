"""The derived tables a report shows beside the tidy table: the recommendation, each mode
against the default, what Keras costs against each framework's own loop, and the fastest
variant of each spec. Each is computed from the tidy table (``tidy.tidy``) and holds numbers,
``stats.Ratio`` objects and names; render/ formats them."""

from __future__ import annotations

import pandas as pd

from .. import strategies
from .. import modes
from . import stats
from .keys import SPEC_GROUP, present
from .tidy import grouped, keras_rows


QUESTIONS = (
    ("short", "time to target", "time_to_target_s", "run_tta_s"),  # compilation included
    ("long", "steady epoch", "steady_epoch_s", "run_epoch_s"),
)


def recommend(t: pd.DataFrame, margin: float = stats.MARGIN) -> pd.DataFrame:
    """Per run, dataset, device, mode and spec, and per question, the Keras backend to pick.

    Two questions: a short training ("time to target": training seconds until the target
    accuracy, the compiling first epoch included, among the backends that reached it in every
    run) and a long training ("steady epoch": the mean epoch after the first). ``against``: the
    pick against each other candidate (other / pick, paired by block, a ``stats.Ratio``);
    ``decision``: "pick" (faster than every other beyond the margin), "equivalent" (faster
    than some, equivalent to the rest: ``equivalent_to``), "undecided" (an open comparison:
    ``more`` blocks would likely settle the last of them), or "no runner-up". ``note``: "only
    reached" (the only backend that reached the target in every run), "accuracy differs".
    """
    out = []
    rows_k = keras_rows(t)
    for key, rows in grouped(rows_k[rows_k.impl == "keras"], SPEC_GROUP):
        for question, by, value_col, runs_col in QUESTIONS:
            cands = sorted((r for r in rows if present(getattr(r, value_col))),
                           key=lambda r: getattr(r, value_col))
            rec = dict(zip(SPEC_GROUP, key), label=rows[0].label, question=question, by=by,
                       pick=None, value_s=None, against={}, decision="no runner-up",
                       equivalent_to=[], more=None, note=None, parity_diff=None,
                       precisions={r.backend: r.precision_short for r in rows})
            if not cands:  # no backend reached the target in every run
                rec["decision"] = "none reached"
                out.append(rec)
                continue
            best = cands[0]
            rec.update(pick=best.backend, value_s=getattr(best, value_col))
            if question == "short" and len(cands) == 1 and len(rows) > 1:
                rec["note"] = "only reached"
            against = {r.backend: stats.paired_ratio(getattr(r, runs_col), getattr(best, runs_col),
                                                     margin, family=len(cands) - 1)
                       for r in cands[1:]}
            rec["against"] = against
            if against:
                open_ = [r for r in against.values() if not r.decided or r.verdict == "lower"]
                rec["equivalent_to"] = [b for b, r in against.items() if r.verdict == "equivalent"]
                if open_:
                    rec["decision"] = "undecided"
                    mores = [r.more for r in open_]
                    rec["more"] = None if None in mores else max(mores)
                else:
                    rec["decision"] = "equivalent" if rec["equivalent_to"] else "pick"
            if best.parity == "differs":  # a faster backend that learns worse
                rec.update(note="accuracy differs", parity_diff=best.parity_diff)
            out.append(rec)
    return pd.DataFrame(out)


def mode_table(t: pd.DataFrame, margin: float = stats.MARGIN) -> pd.DataFrame:
    """Each mode against the default mode per run, spec, backend and device, paired by block:
    the speed-up (default / mode) with its interval and the accuracy difference in points.
    Empty unless one run holds the default and another mode."""
    out = []
    for (run, dataset, device, _setup, _method, impl, spec, backend), g in grouped(
            keras_rows(t), ["run", "dataset", "device_kind", "setup", "method", "impl", "spec",
                            "backend"]):
        by = {r.mode: r for r in g}
        d = by.get("default")
        if d is None:
            continue
        for mode, u in by.items():
            if mode == "default" or not u.run_epoch_s:
                continue
            acc = (u.test_accuracy - d.test_accuracy
                   if present(u.test_accuracy) and present(d.test_accuracy) else None)
            out.append({"run": run, "dataset": dataset, "device": device, "spec": d.label,
                        "backend": backend, "impl": impl, "mode": mode,
                        "default s": d.steady_epoch_s, "mode s": u.steady_epoch_s,
                        "speed-up": stats.paired_ratio(d.run_epoch_s, u.run_epoch_s, margin),
                        "acc vs default (points)": None if acc is None else 100 * acc,
                        "jit_compile": u.jit_compile, "steps_per_execution": u.steps_per_execution,
                        "precision": u.precision,
                        "pair": ((spec, "default", impl, backend), (spec, mode, impl, backend))})
    return pd.DataFrame(out)


def variants() -> list[tuple[str, str]]:
    """(implementation, mode) in the order the tables list them: Keras's modes, then the
    native loops' (modes.MODES order)."""
    return ([("keras", m) for m in modes.keras_modes()]
            + [("native", m) for m in modes.names()])


def _strategy_text(r) -> str | None:
    return r.strategy.text() if r.strategy is not None else None


def _frameworks(t: pd.DataFrame):
    """((run, dataset, device kind, spec, backend), rows) of each framework's Keras and native
    variants of one setup and method; nothing without native records."""
    rows = keras_rows(t)
    if not (rows.impl == "native").any():
        return
    for (run, dataset, device, _setup, _method, spec, backend), g in grouped(
            rows, ["run", "dataset", "device_kind", "setup", "method", "spec", "backend"]):
        yield (run, dataset, device, spec, backend), g


def native_table(t: pd.DataFrame, margin: float = stats.MARGIN) -> pd.DataFrame:
    """Each framework at its best: per run, spec and framework, every Keras and native
    variant's steady epoch (columns "<impl> <mode> s", None where not measured), the best Keras
    and the best native variant with their strategies, what staying in ``fit()`` costs
    ("Keras overhead": best Keras / best native, paired by block; the two may run different
    strategies, which the row names) and the best variant with its GFLOP/s and share of the
    measured peak. Empty without native records."""
    out = []
    for (run, dataset, device, spec, backend), g in _frameworks(t):
        by = {(r.impl, r.mode): r for r in g}
        keras = [r for (i, _), r in by.items() if i == "keras"]
        native = [r for (i, _), r in by.items() if i == "native"]
        row = {"run": run, "dataset": dataset, "device": device,
               "spec": g[0].label, "framework": backend}
        for impl, mode in variants():
            r = by.get((impl, mode))
            row[f"{impl} {mode} s"] = r.steady_epoch_s if r is not None else None
        best_k = min(keras, key=lambda r: r.steady_epoch_s) if keras else None
        best_n = min(native, key=lambda r: r.steady_epoch_s) if native else None
        row["best Keras"] = (best_k.mode, _strategy_text(best_k)) if best_k is not None else None
        row["best native"] = (best_n.mode, _strategy_text(best_n)) if best_n is not None else None
        row["Keras overhead"] = (stats.paired_ratio(best_k.run_epoch_s, best_n.run_epoch_s, margin,
                                                    family=len(keras) * len(native))
                                 if best_k is not None and best_n is not None else None)
        row["pair"] = ((spec, best_k.mode, "keras", backend), (spec, best_n.mode, "native", backend)) \
            if best_k is not None and best_n is not None else None
        best = min([*keras, *native], key=lambda r: r.steady_epoch_s)
        row.update({"best impl": best.impl, "best mode": best.mode,
                    "best GFLOP/s": best.achieved_gflops, "of peak": best.utilisation})
        out.append(row)
    return pd.DataFrame(out)


def _mode_order(mode: str) -> int:
    names = modes.names()
    return names.index(mode) if mode in names else len(names)


def matched_table(t: pd.DataFrame, margin: float = stats.MARGIN) -> pd.DataFrame:
    """What Keras costs at a matched strategy: per run, spec and framework, each Keras variant
    against the native variant of the same execution strategy (``strategies.pair``: compiler,
    compiled scope, steps per call and precision agree; of several, the one whose data
    placement is Keras's too), paired by block ("Keras / native"). Each row names the
    strategy and both sides' data placement and per-step metric work. A Keras variant with no
    native variant of its strategy in the run gets a row without a ratio ("native mode" None).
    Empty without native records."""
    out = []
    for (run, dataset, device, spec, backend), g in _frameworks(t):
        keras = [r for r in g if r.impl == "keras" and r.strategy is not None]
        native = [r for r in g if r.impl == "native" and r.strategy is not None]
        for k in keras:
            same = sorted((n for n in native if n.strategy.key() == k.strategy.key()),
                          key=lambda n: (n.strategy.data != k.strategy.data,
                                         _mode_order(n.mode)))
            n = same[0] if same else None
            row = {"run": run, "dataset": dataset, "device": device, "spec": g[0].label,
                   "framework": backend, "keras mode": k.mode,
                   "native mode": n.mode if n is not None else None,
                   "strategy": k.strategy.text(), "keras data": k.strategy.data,
                   "native data": n.strategy.data if n is not None else None,
                   "keras metrics": k.strategy.metrics,
                   "native metrics": n.strategy.metrics if n is not None else None,
                   "keras s": k.steady_epoch_s, "native s": n.steady_epoch_s if n is not None else None,
                   "Keras / native": None, "pair": None}
            if n is not None:
                strategies.pair(k.strategy, n.strategy)  # refuses a pair of different strategies
                row["Keras / native"] = stats.paired_ratio(k.run_epoch_s, n.run_epoch_s, margin)
                row["pair"] = ((spec, k.mode, "keras", backend), (spec, n.mode, "native", backend))
            out.append(row)
    return pd.DataFrame(out)


def fastest_table(t: pd.DataFrame, margin: float = stats.MARGIN) -> pd.DataFrame:
    """Per run and spec: the fastest variant of all (framework x Keras/native x mode) by steady
    epoch, against the best Keras variant (paired by block). Empty without native records."""
    rows = keras_rows(t)
    if not (rows.impl == "native").any():
        return pd.DataFrame()
    out = []
    for (run, dataset, device, _setup, _method, spec), g in grouped(
            rows, ["run", "dataset", "device_kind", "setup", "method", "spec"]):
        ranked = sorted(g, key=lambda r: r.steady_epoch_s)
        best = ranked[0]
        keras = [r for r in ranked if r.impl == "keras"]
        out.append({"run": run, "dataset": dataset, "device": device, "spec": best.label,
                    "fastest": (best.backend, best.impl, best.mode),
                    "epoch s": best.steady_epoch_s, "acc": best.test_accuracy,
                    "best Keras": (keras[0].backend, "keras", keras[0].mode) if keras else None,
                    "vs best Keras": (stats.paired_ratio(keras[0].run_epoch_s, best.run_epoch_s, margin,
                                                         family=len(keras) * (len(ranked) - len(keras)))
                                      if keras and keras[0] is not best else None)})
    return pd.DataFrame(out)
