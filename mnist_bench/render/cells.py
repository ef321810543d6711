"""Formatting one value of a table: numbers, intervals, ratios, flags. The only place the
tables' figures become text."""

from __future__ import annotations

import math

from ..analysis import stats
from ..analysis.keys import DRIFT_FLAG, UNCLOCKED_FLAG
from ..identity import variant_words


def table(rows: list[dict]) -> str:
    """A Markdown (pipe) table of ``rows``, columns in order of first appearance, a missing value
    blank: what ``DataFrame(rows).astype(object).fillna("").to_markdown(index=False)`` gives,
    without building a DataFrame per table."""
    from tabulate import tabulate

    columns = list(dict.fromkeys(k for row in rows for k in row))
    body = [["" if missing(row.get(c)) else row.get(c) for c in columns] for row in rows]
    return tabulate(body, headers=columns, tablefmt="pipe", showindex=False)


def missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def num(v, fmt: str) -> str:
    return "" if missing(v) else format(v, fmt)


def ratio(r, bare: bool = False) -> str:
    """e.g. ``2.38x [2.10-2.61]``, ``1.04x [0.97-1.12] undecided``, ``1.01x [0.98-1.03]
    equivalent`` or ``1.10x (n=1)``; "" for none. ``bare``: without the verdict word."""
    if not isinstance(r, stats.Ratio) or r.ratio is None:
        return ""
    head = f"{r.ratio:.2f}x"
    if r.low is None:
        return f"{head} (n={r.n})"
    tail = "" if r.differs or bare else f" {r.verdict}"
    return f"{head} [{r.low:.2f}-{r.high:.2f}]{tail}"


def verdict(r: stats.Ratio) -> str:
    """A ratio's verdict in words: "higher", "lower", "equivalent within ±5%", "undecided,
    needs about 4 more blocks", "not enough runs (n=1), needs 2 more blocks"."""
    if r.verdict == "equivalent":
        return f"equivalent within ±{100 * r.margin:g}%"
    return {stats.FEW: f"not enough runs (n={r.n})"}.get(r.verdict, r.verdict) + more(r)


def more(r: stats.Ratio) -> str:
    """", needs about k more blocks" for an open comparison (``needs``); "" for a decided one."""
    return "" if r.decided else ", " + needs(r.more)


def needs(more, few: bool = False) -> str:
    """How many more blocks an open comparison needs, in the one wording every table and
    message uses: "needs about 3 more blocks", "needs at least 2 more blocks" (before its first
    interval), "needs many more blocks" (not estimable: its ratio sits on the margin)."""
    if missing(more):
        return "needs many more blocks"
    k = int(more)
    return f"needs {'at least' if few else 'about'} {k} more block{'s' if k != 1 else ''}"


def acc(row) -> str:
    if row.status not in ("ok", "diverged"):
        return row.status
    text = num(row.test_accuracy, ".4f")
    if row.runs > 1 and num(row.test_accuracy_std, ".4f"):
        text += f" ± {row.test_accuracy_std:.4f}"
    if row.parity == "differs":
        text += " ⚠"
    return text + (" (diverged)" if row.status == "diverged" else "") + lost_runs(row)


def lost_runs(row) -> str:
    """" (ok 1/3; 2 failed: worker killed by SIGSEGV)" for a cell whose runs did not all finish."""
    failed = 0 if missing(getattr(row, "failed_runs", None)) else int(row.failed_runs)
    if not failed:
        return ""
    reason = str(row.failed_reason or "")
    reason = reason if len(reason) <= 60 else reason[:57] + "..."
    return f" (ok {int(row.ok_runs)}/{int(row.runs)}; {failed} lost, {reason})"


def parity(row) -> str:
    if missing(row.parity):
        return ""
    if row.parity == "differs":
        return f"differs by {row.parity_diff:+.4f}"
    return "n/a (1 run)" if row.parity == "one run" else row.parity


def marks(row) -> str:
    out = ""
    if not missing(row.drift) and row.drift > DRIFT_FLAG:
        out += "‡"
    if not missing(row.unclocked_share) and row.unclocked_share > UNCLOCKED_FLAG:
        out += "†"
    if not missing(getattr(row, "flagged_runs", None)) and row.flagged_runs:
        out += "§"
    return out


def epoch_time(row) -> str:
    text = num(row.steady_epoch_s, ".3f")
    if text and not missing(row.steady_epoch_low_s):
        text += f" [{row.steady_epoch_low_s:.3f}-{row.steady_epoch_high_s:.3f}]"
    return text + marks(row) if text else ""


def vs_fastest(row) -> str:
    return "fastest" if row.speed == "fastest" else ratio(row.vs_fastest)


def time_to_target(row) -> str:
    if missing(row.target_accuracy):
        return ""
    if not row.target_runs:
        return "n/a (no per-epoch curve)"
    if not missing(row.time_to_target_s):
        return f"{row.time_to_target_s:.2f} (≥{row.target_accuracy:.3f})"
    return f"not reached (≥{row.target_accuracy:.3f}, {int(row.reached_runs)}/{int(row.target_runs)})"


def passes(row) -> str:
    if missing(row.passes_min):
        return ""
    lo, hi = int(row.passes_min), int(row.passes_max)
    return str(lo) if lo == hi else f"{lo}-{hi}"


def percent(v, digits: int = 1, sign: str = "") -> str:
    return "" if missing(v) else f"{sign}{100 * v:.{digits}f}%"


def share(v) -> str:
    """A share of the peak: one decimal from 1% up, two significant digits below ("0.00050%":
    a small model on a GPU reaches a few millionths of its peak, which one decimal shows as
    "0.0%")."""
    if missing(v):
        return ""
    p = 100 * v
    if p >= 1 or p <= 0:
        return f"{p:.1f}%"
    return f"{p:.{1 - math.floor(math.log10(p))}f}%"


def variant_name(backend: str, impl: str, mode: str) -> str:
    """A variant in the words every table uses (``identity.variant_words``)."""
    return variant_words((None, mode, impl, backend))


def variant(impl: str, mode: str) -> str:
    """A table's heading for one implementation and mode: "tuned mode", "native default"."""
    return f"{mode} mode" if impl == "keras" else f"{impl} {mode} (the framework's own loop)"


def settings_text(jit, steps, precision) -> str:
    """A mode's settings: "jit=True, steps/exec=32, float32"; a field a record lacks is "?"."""
    steps_text = "?" if missing(steps) else str(int(steps))
    return f"jit={jit}, steps/exec={steps_text}" + (f", {precision}" if not missing(precision) else "")
