"""Markdown of the derived tables of a ``Report``: each mode against the default, what Keras
costs, the fastest variant, machines side by side, CPU against GPU, the recommendation, and
the seed recipes reproduced."""

from __future__ import annotations

import pandas as pd

from .. import strategies
from ..analysis import stats
from . import batches
from . import cells as fmt


def _shown(table: pd.DataFrame, names: dict, multi: bool) -> pd.DataFrame:
    table = table.assign(run=table["run"].map(names))
    return table if multi else table.drop(columns=["run"])


def modes_markdown(modes: pd.DataFrame, names: dict, multi: bool) -> str:
    rows = []
    for r in modes.to_dict("records"):
        ratio = r["speed-up"]
        rows.append({"run": r["run"], "dataset": r["dataset"], "device": r["device"],
                     "spec": r["spec"],
                     "backend": r["backend"] if r["impl"] == "keras" else f"{r['backend']} (native)",
                     "mode": r["mode"], "default s": f"{r['default s']:.3g}",
                     "mode s": f"{r['mode s']:.3g}", "speed-up": fmt.ratio(ratio),
                     "verdict": {"higher": f"{r['mode']} faster", "lower": f"{r['mode']} slower"
                                 }.get(ratio.verdict, fmt.verdict(ratio)),
                     "acc vs default (points)": fmt.num(r["acc vs default (points)"], "+.2f"),
                     "settings": fmt.settings_text(r["jit_compile"], r["steps_per_execution"],
                                                   r["precision"])})
    return _shown(pd.DataFrame(rows), names, multi).to_markdown(index=False)


def native_markdown(native: pd.DataFrame, names: dict, multi: bool) -> str:
    """Each framework at its best: the variants' epochs, the best of each side with its
    strategy, and what staying in fit() costs."""
    shown = native.drop(columns=["pair", "best Keras", "best native"])
    times = [c for c in shown.columns if c.endswith(" s")]
    for c in times:
        shown[c] = shown[c].map(lambda v: fmt.num(v, ".3g"))
    shown = shown.drop(columns=[c for c in times if (shown[c] == "").all()])
    both = lambda v: f"{v[0]}: {v[1]}" if v and v[1] else (v[0] if v else "")  # noqa: E731
    shown["best Keras (strategy)"] = native["best Keras"].map(both)
    shown["best native (strategy)"] = native["best native"].map(both)
    shown["Keras overhead"] = shown["Keras overhead"].map(fmt.ratio)
    shown = shown.rename(columns={"Keras overhead": "best Keras / best native"})
    shown["best variant"] = [fmt.variant_name(f, i, m) for f, i, m in
                             zip(native["framework"], native["best impl"], native["best mode"])]
    shown["best GFLOP/s"] = native["best GFLOP/s"].map(lambda v: fmt.num(v, ".3g"))
    shown["of peak"] = native["of peak"].map(fmt.percent)
    shown = shown.drop(columns=["best impl", "best mode"])
    tail = ["best Keras (strategy)", "best native (strategy)", "best Keras / best native",
            "best variant", "best GFLOP/s", "of peak"]
    cols = [c for c in shown.columns if c not in tail]
    shown = shown[[*cols, *tail]]
    return _shown(shown, names, multi).astype(object).fillna("").to_markdown(index=False) + "\n"


DATA_WORDS = {"fed": "fed from NumPy", "held": "held on the device"}


def matched_markdown(matched: pd.DataFrame, names: dict, multi: bool) -> str:
    """What Keras costs at a matched strategy: one row per Keras variant and its native match."""
    rows = []
    for r in matched.to_dict("records"):
        ratio = r["Keras / native"] if isinstance(r["Keras / native"], stats.Ratio) else None
        rows.append({
            "run": r["run"], "dataset": r["dataset"], "device": r["device"], "spec": r["spec"],
            "framework": r["framework"], "strategy (both sides)": r["strategy"],
            "Keras mode": r["keras mode"],
            "native mode": r["native mode"] if isinstance(r["native mode"], str)
            else "none at this strategy in the run",
            "data (Keras / native)": f"{DATA_WORDS[r['keras data']]} / "
                                     f"{DATA_WORDS.get(r['native data'], '-')}",
            "Keras s": fmt.num(r["keras s"], ".3g"), "native s": fmt.num(r["native s"], ".3g"),
            "Keras / native": fmt.ratio(ratio) if ratio is not None else "",
            "verdict": {"higher": "Keras slower", "lower": "Keras faster"}.get(
                ratio.verdict, fmt.verdict(ratio)) if ratio is not None else ""})
    return _shown(pd.DataFrame(rows), names, multi).astype(object).fillna("").to_markdown(index=False) + "\n"


def fastest_markdown(fastest: pd.DataFrame, names: dict, multi: bool) -> str:
    shown = fastest.assign(
        fastest=fastest["fastest"].map(lambda v: fmt.variant_name(*v)),
        **{"epoch s": fastest["epoch s"].map(lambda v: f"{v:.3g}"),
           "acc": fastest["acc"].map(lambda v: fmt.num(v, ".4f")),
           "best Keras": fastest["best Keras"].map(lambda v: fmt.variant_name(*v) if v else ""),
           "vs best Keras": fastest["vs best Keras"].map(fmt.ratio)})
    return _shown(shown, names, multi).astype(object).fillna("").to_markdown(index=False) + "\n"


def machines_markdown(side, versions_differ: dict) -> str:
    differ = [f"{lib}: " + "; ".join(f"{v} on {', '.join(ms)}" for v, ms in seen.items())
              for lib, seen in versions_differ.items()]
    head = (("Software versions differ between these machines: " + " | ".join(differ)
             if differ else "The machines run the same library versions.")
            + " A ratio between machines is given only for cells of one run (paired "
              "by block); never across runs.\n")
    first = side.columns[0]
    rows = []
    for r in side.rows:
        row = {k: r[k] for k in ("dataset", "impl", "mode", "spec", "backend")}
        for c in side.columns:
            cell = r["cells"][c]
            row.update({f"{c} device": "", f"{c} epoch s": "", f"{c} acc": ""})  # column order
            if cell["status"] != "ok":
                row[f"{c} epoch s"] = cell["status"]
                continue
            row[f"{c} device"] = cell["device"]
            row[f"{c} epoch s"] = f"{cell['epoch_s']:.3f}" + (
                f" [{cell['low']:.3f}-{cell['high']:.3f}]" if not fmt.missing(cell["low"]) else "")
            row[f"{c} acc"] = f"{cell['acc']:.4f}"
            if "same_run" in cell:
                row[f"{c} vs {first}"] = (fmt.ratio(cell["vs_first"]) if cell["same_run"]
                                          else "different runs: no ratio")
        rows.append(row)
    return head + "\n" + pd.DataFrame(rows).astype(object).fillna("").to_markdown(index=False) + "\n"


def devices_markdown(dev: pd.DataFrame) -> str:
    shown = dev.assign(gpu=dev["gpu"].map(lambda v: "not measured" if fmt.missing(v) else v))
    notes = ["CPU and GPU from different runs: no ratio" if both and not same else None
             for both, same in zip(dev["both"], dev["same_run"])]
    shown = shown.drop(columns=["same_run", "both"])
    if any(notes):
        shown["note"] = notes
    return shown.to_markdown(index=False, floatfmt=",.1f") + "\n"


QUESTION = {"short": "short training: time to target", "long": "long training: steady epoch"}


def _runner_up(r) -> tuple[str, stats.Ratio] | None:
    """The closest other candidate and the pick's ratio against it."""
    if not r.against:
        return None
    return min(r.against.items(), key=lambda kv: kv[1].ratio if kv[1].ratio else float("inf"))


def unlike(r, other: str) -> str:
    """" (jax ran tf32; torch float32, conv tf32: not like for like)" where the pick and
    ``other`` computed float32 work at different precisions (TF32 is not float32), else ""."""
    prec = getattr(r, "precisions", None) or {}
    a, b = prec.get(r.pick), prec.get(other)
    if a is None or b is None or a == b:
        return ""
    return f" ({r.pick} ran {a}; {other} {b}: not like for like)"


def decision_text(r) -> tuple[str, str]:
    """(pick, why) of one recommendation row, in words; a verdict between two precisions
    says so."""
    pick, why, other = _decision_text(r)
    return pick, why + (unlike(r, other) if other else "")


def _decision_text(r) -> tuple[str, str, str | None]:
    """(pick, why, the other backend named) of one recommendation row."""
    if r.decision == "none reached":
        return "", "no backend reached the target in every run", None
    closest = _runner_up(r)
    if closest is None:
        return r.pick, "no runner-up", None
    other, ratio = closest
    if r.decision == "pick":
        return r.pick, f"faster than {other}: {fmt.ratio(ratio)}", other
    if r.decision == "equivalent":
        both = " or ".join([r.pick, *r.equivalent_to])
        return both, (f"equivalent within ±{100 * ratio.margin:g}%: {r.pick} vs {other} "
                      f"{fmt.ratio(ratio)}"), other
    undecided = [(b, x) for b, x in r.against.items() if not x.decided or x.verdict == "lower"]
    other, ratio = min(undecided, key=lambda kv: kv[1].ratio or float("inf"))
    return f"({r.pick})", f"{fmt.ratio(ratio, bare=True)} over {other}: undecided, {fmt.needs(r.more)}", other


def recommendation_markdown(rec: pd.DataFrame, names: dict | None = None) -> str:
    rows = []
    for r in rec.itertuples():
        pick, why = decision_text(r)
        note = {"only reached": "the only backend that reached the target in every run",
                "accuracy differs": f"accuracy differs by {r.parity_diff:+.4f}"
                if not fmt.missing(r.parity_diff) else ""}.get(r.note, "")
        row = {"dataset": r.dataset, "device": r.device_kind, "mode": r.mode, "spec": r.label,
               "question": QUESTION[r.question], "pick": pick,
               "pick's figure": "" if fmt.missing(r.value_s) else f"{r.value_s:.3g} s",
               "verdict": why, "note": note}
        if names:
            row = {"run": names[r.run], **row}
        rows.append(row)
    text = pd.DataFrame(rows).to_markdown(index=False)
    differ = picks_differ(rec)
    if differ:
        text += ("\n\nThe two questions pick different backends for: " + "; ".join(differ)
                 + ". A short training is won by the backend that compiles quickest; a long "
                 "one by the fastest steady epoch.")
    return text


def picks_differ(rec: pd.DataFrame) -> list[str]:
    """The specs whose short-training and long-training picks are both decided and differ."""
    out = []
    keys = ["run", "dataset", "device_kind", "mode", "impl", "spec"]
    for _, g in rec.groupby(keys, sort=False):
        by = {r.question: r for r in g.itertuples()}
        s, lg = by.get("short"), by.get("long")
        if s is None or lg is None or s.decision != "pick" or lg.decision != "pick":
            continue
        if s.pick != lg.pick:
            out.append(f"{s.label} ({s.mode}): {s.pick} for a short training, {lg.pick} for a long one")
    return out


def reproduction_markdown(t: pd.DataFrame) -> str:
    shown = t.assign(
        reproduced=[f"{m:.4f}" + (f" ± {s:.4f}" if s == s and s is not None else "")
                    for m, s in zip(t.reproduced, t.sd)],
        **{"difference (points)": t["difference (points)"].map(lambda d: f"{d:+.2f}"),
           "verdict": [f"within {100 * tol:g} point{'s' if tol != 0.01 else ''}" if ok
                       else f"miss by {abs(d):.2f} points"
                       for tol, ok, d in zip(t.tolerance, t.within, t["difference (points)"])]})
    return shown.drop(columns=["sd", "tolerance", "within"]).to_markdown(index=False, floatfmt=".4f")


def decision_section(rep, names: dict, multi: bool) -> list[str]:
    """The answer first: which backend, for a short and a long training, with its verdict."""
    if not len(rep.recommend):
        return []
    return [f"### Which backend (verdicts against a ±{100 * rep.margin:g}% margin)\n",
            recommendation_markdown(rep.recommend, names if multi else None) + "\n"]


def sections(rep, names: dict, multi: bool) -> list[str]:
    parts = []
    if len(rep.modes):
        parts.append("### Each mode against the default mode (measured together, paired by "
                     "block; speed-up = default / mode)\n")
        parts.append(modes_markdown(rep.modes, names, multi) + "\n")
    if len(rep.matched):
        parts.append("### What Keras costs at a matched strategy (each Keras variant against the "
                     "native loop that runs the same strategy; measured together, paired by block)\n")
        parts.append("Like for like: both sides run the same compiler, compiled scope, steps per "
                     "call and precision (mnist_bench/strategies.py; the pairing refuses any other). "
                     "What still differs is stated: the data (Keras's fit() feeds each batch from "
                     "NumPy; native loops hold the training set as one array and gather each batch "
                     "inside the step) and the metric work inside the timed step (Keras: "
                     f"{strategies.KERAS_METRICS}; native: {strategies.NATIVE_METRICS}). "
                     "Keras / native > 1: Keras slower.\n")
        parts.append(matched_markdown(rep.matched, names, multi))
    if len(rep.native):
        parts.append("### Each framework at its best (the fastest Keras and the fastest native "
                     "variant measured, whatever their strategies; measured together, paired by "
                     "block)\n")
        parts.append("best Keras / best native: what a user gives up by staying in fit() with "
                     "this framework, among the variants this run measured; the two sides may run "
                     "different strategies (named in their columns), so this is not what Keras "
                     "costs at equal strategy (the table above). of peak: the best variant's "
                     "achieved GFLOP/s against the measured peak.\n")
        parts.append(native_markdown(rep.native, names, multi))
    if len(rep.fastest):
        parts.append("### The fastest way to train each spec here (any framework, Keras or native, "
                     "any mode)\n")
        parts.append(fastest_markdown(rep.fastest, names, multi))
    parts += batches.sections(rep, names, multi)
    if len(rep.machines):
        parts.append("### The same cells on each machine, side by side\n")
        parts.append(machines_markdown(rep.machines, rep.versions_differ))
    if len(rep.devices):
        parts.append("### Throughput by device (samples/s)\n")
        parts.append(devices_markdown(rep.devices))
    if len(rep.reproduction):
        parts.append("### The seed recipes reproduced (seed profile, default mode)\n")
        parts.append(reproduction_markdown(rep.reproduction) + "\n")
    return parts
