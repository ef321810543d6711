"""Markdown of the throughput-against-batch-size tables (``analysis.batches``)."""

from __future__ import annotations

import pandas as pd

from ..analysis import stats
from ..analysis.batches import KNEE
from . import cells as fmt

MB = 1 << 20


def _rate(v) -> str:
    return "" if fmt.missing(v) else f"{v:,.0f}"


def _interval(r: dict) -> str:
    head = _rate(r["samples_per_s"])
    if fmt.missing(r["samples_low"]) or r["runs"] < stats.MIN_RUNS:
        return head
    return f"{head} [{_rate(r['samples_low'])}-{_rate(r['samples_high'])}]"


def _mb(v) -> str:
    return "" if fmt.missing(v) else f"{v / MB:,.0f}"


def _common(r: dict, multi: bool, names: dict) -> dict:
    head = {"run": names.get(r["run"], r["run"])} if multi else {}
    return {**head, "dataset": r["dataset"], "device": r["device_kind"], "spec": r["label"],
            "variant": fmt.variant_name(r["backend"], r["impl"], r["mode"])}


def curve_markdown(curves: pd.DataFrame, names: dict, multi: bool) -> str:
    rows = []
    for r in curves.to_dict("records"):
        if r["after_stop"]:
            continue  # the curve stopped at the batch size that failed
        vs = r["vs_fastest"]
        rows.append({**_common(r, multi, names), "batch": int(r["batch_size"]), "cell": r["cell"],
                     "samples/s": _interval(r) if fmt.missing(r["failed"]) else f"failed: {r['failed']}",
                     "vs fastest backend": "fastest" if r["speed"] == "fastest" else
                     (f"{fmt.ratio(vs)} {'slower' if vs.verdict == 'higher' else ''}".strip()
                      if isinstance(vs, stats.Ratio) else ""),
                     "GFLOP/s": fmt.num(r["gflops"], ".3g"), "of peak": fmt.share(r["utilisation"]),
                     "host MB": _mb(r["host_rss_bytes"]), "device MB": _mb(r["device_memory_bytes"]),
                     "lr": fmt.num(r["learning_rate"], ".3g")})
    if all(not row["device MB"] for row in rows):  # a CPU run: no device memory of its own
        for row in rows:
            del row["device MB"]
    return fmt.table(rows) + "\n"


def knee_markdown(knees: pd.DataFrame, names: dict, multi: bool) -> str:
    rows = []
    for r in knees.to_dict("records"):
        stop = r["first_failed"]
        rows.append({**_common(r, multi, names),
                     "batch sizes": ",".join(str(int(b)) for b in r["batch_sizes"]),
                     "best samples/s": _rate(r["best_samples_per_s"]),
                     "at batch": "" if fmt.missing(r["best_batch"]) else int(r["best_batch"]),
                     f"first at {100 * KNEE:.0f}% of best": "" if fmt.missing(r["knee_batch"])
                     else int(r["knee_batch"]),
                     "smallest batch's share of best": fmt.percent(r["smallest_batch_share"], 0),
                     "stopped": f"batch {stop[0]}: {stop[1]}" if stop else ""})
    return fmt.table(rows) + "\n"


def ranking_markdown(ranking: pd.DataFrame, names: dict, multi: bool) -> str:
    rows = []
    for r in ranking.to_dict("records"):
        ratio = r["runner_up_ratio"]
        head = {"run": names.get(r["run"], r["run"])} if multi else {}
        change = "" if r["changed"] is None else (
            "changed (decided)" if r["decided_change"] else
            "changed (point estimates only)" if r["changed"] else "same")
        rows.append({**head, "dataset": r["dataset"], "device": r["device_kind"], "spec": r["label"],
                     "variants": fmt.variant(r["impl"], r["mode"]), "batch": int(r["batch_size"]),
                     "fastest to slowest": " > ".join(r["ranking"]),
                     "runner-up / fastest": fmt.ratio(ratio) if isinstance(ratio, stats.Ratio) else "",
                     "verdict": ("fastest faster" if ratio.verdict == "higher" else fmt.verdict(ratio))
                     if isinstance(ratio, stats.Ratio) else "",
                     "fastest vs previous batch": change})
    return fmt.table(rows) + "\n"


def sections(rep, names: dict, multi: bool) -> list[str]:
    if rep.batches is None or not len(rep.batches):
        return []
    return [
        "### Throughput against batch size (each variant at each batch size, measured together, "
        "paired by block)\n",
        "samples/s: training samples per second of the steady epochs (one pass over the training "
        "data each), mean over runs with its 95% interval from 3 or more. cell: "
        "'recipe' at the recipe's batch size; 'throughput' at another, where the accuracy is not "
        "the recipe's and is not compared (lr: the rate it trained with). vs fastest backend: "
        "this variant's steady epoch over the fastest backend's at the same batch size "
        f"(98.75% interval, ±{100 * rep.margin:g}% margin). of peak: achieved GFLOP/s against the "
        "measured matrix-product peak. host MB / device MB: the cell's peak memory. A batch "
        "size that failed (out of memory) ends its curve.\n",
        curve_markdown(rep.batches, names, multi),
        f"### Where per-step dispatch stops dominating (first batch size at {100 * KNEE:.0f}% of "
        "the curve's best throughput; point estimates)\n",
        knee_markdown(rep.knees, names, multi),
        "### The backend ranking at each batch size\n",
        "runner-up / fastest: the runner-up's steady epoch over the fastest's, paired by block. A "
        "change of the fastest backend counts as decided only where the fastest beats its "
        "runner-up beyond the margin at both batch sizes.\n",
        ranking_markdown(rep.ranking, names, multi),
    ]
