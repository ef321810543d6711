"""Throughput against batch size (``mnist-bench run --batch-sizes``): the tables a report shows
for a run that trained its variants at several batch sizes in the same blocks (a variant at one
batch size is in them only when that batch size is not its recipe's: a throughput cell).

Three tables, each from the by-batch tidy table (``tidy.tidy(..., by_batch=True)``: one row per
variant and batch size, figures per run first, then over runs):

- ``curve_table``: per variant and batch size, training samples/s with its interval over runs,
  the variant against the fastest backend at that batch size (paired by block, a
  ``stats.Ratio`` of steady epochs, so > 1 is slower), achieved GFLOP/s and its share of the
  measured peak, peak host and device memory, the learning rate, and whether the cell is the
  recipe's or a throughput cell; a batch size whose cells all failed (out of memory, say) is a
  row with its reason, and the curve stops there;
- ``knee_table``: per curve, its best throughput and where it first reaches ``KNEE`` of it,
  the batch size from which per-step dispatch no longer dominates;
- ``ranking_table``: per spec, implementation, mode and batch size, the backends from fastest to
  slowest with the verdict of the fastest against the runner-up, and whether the fastest
  backend differs from the previous batch size's.

Numbers, ratios and names only: render/ formats them.
"""

from __future__ import annotations

import pandas as pd

from ..settings import BASELINE_BACKEND
from . import stats
from .keys import present
from .tidy import grouped

KNEE = 0.8  # a curve's knee: the first batch size reaching this share of its best samples/s
CURVE = ["run", "dataset", "device_kind", "setup", "method", "impl", "mode", "spec", "backend"]
FAMILY = CURVE[:-1]


def _charted(rows) -> bool:
    """A variant's rows belong in the batch-size tables: it ran at more than one batch size,
    or at a batch size not its recipe's (a throughput cell has no other table to go to)."""
    return len({r.batch_size for r in rows}) > 1 or any(r.throughput_cell for r in rows)


def has_curves(tb: pd.DataFrame) -> bool:
    """Whether some variant of ``tb`` belongs in the batch-size tables (see _charted)."""
    return any(_charted(rows) for _, rows in grouped(tb[tb.backend != BASELINE_BACKEND], CURVE))


def _rate(row, seconds) -> float | None:
    return row.train_samples_per_s * row.steady_epoch_s / seconds if present(seconds) and \
        present(row.train_samples_per_s) else None


def curve_table(tb: pd.DataFrame) -> pd.DataFrame:
    """One row per variant and batch size (see the module's docstring)."""
    if not has_curves(tb):
        return pd.DataFrame()
    out = []
    for key, rows in grouped(tb[tb.backend != BASELINE_BACKEND], CURVE):
        if not _charted(rows):
            continue
        stopped = False
        for r in sorted(rows, key=lambda r: r.batch_size or 0):
            measured = present(r.steady_epoch_s)
            rec = dict(zip(CURVE, key), label=r.label, batch_size=r.batch_size,
                       cell="throughput" if r.throughput_cell else "recipe",
                       samples_per_s=r.train_samples_per_s if measured else None,
                       samples_low=_rate(r, r.steady_epoch_high_s) if measured else None,
                       samples_high=_rate(r, r.steady_epoch_low_s) if measured else None,
                       runs=r.ok_runs, vs_fastest=r.vs_fastest if isinstance(r.vs_fastest, stats.Ratio) else None,
                       speed=r.speed if measured else None,
                       gflops=r.achieved_gflops, utilisation=r.utilisation,
                       host_rss_bytes=r.host_rss_bytes, device_memory_bytes=r.device_memory_bytes,
                       learning_rate=r.learning_rate, failed=None, after_stop=stopped)
            if not measured:
                rec["failed"] = r.reason or r.failed_reason or r.status
                stopped = True
            out.append(rec)
    return pd.DataFrame(out)


def knee_table(curves: pd.DataFrame, share: float = KNEE) -> pd.DataFrame:
    """Per curve: its best samples/s and that batch size, the first batch size reaching
    ``share`` of the best (point estimates: means over runs), the batch sizes
    measured, and the first that failed with its reason."""
    if not len(curves):
        return pd.DataFrame()
    out = []
    for key, g in curves.groupby(CURVE, sort=False):
        ok = g[g.samples_per_s.notna()].sort_values("batch_size")
        failed = g[g.failed.notna()].sort_values("batch_size")
        rec = dict(zip(CURVE, key), label=g.label.iloc[0], batch_sizes=list(g.batch_size),
                   best_samples_per_s=None, best_batch=None, knee_batch=None,
                   smallest_batch_share=None,
                   first_failed=(int(failed.batch_size.iloc[0]), failed.failed.iloc[0])
                   if len(failed) else None)
        if len(ok):
            best = ok.loc[ok.samples_per_s.idxmax()]
            rec.update(best_samples_per_s=best.samples_per_s, best_batch=int(best.batch_size),
                       knee_batch=int(ok[ok.samples_per_s >= share * best.samples_per_s].batch_size.iloc[0]),
                       smallest_batch_share=ok.samples_per_s.iloc[0] / best.samples_per_s)
        out.append(rec)
    return pd.DataFrame(out)


def _beats(rec: dict) -> bool:
    """The fastest of a ranking is faster than its runner-up beyond the margin."""
    ratio = rec["runner_up_ratio"]
    return isinstance(ratio, stats.Ratio) and ratio.verdict == "higher"


def ranking_table(curves: pd.DataFrame) -> pd.DataFrame:
    """Per spec, implementation, mode and batch size: the backends by samples/s (fastest
    first), the fastest against the runner-up (the runner-up's steady epoch / the fastest's,
    paired by block) with its verdict, and ``changed``: the fastest backend is not the one of
    the previous batch size measured (None for the first); ``decided_change``: it changed and
    at both batch sizes the fastest is faster than its runner-up beyond the margin (a change of
    point estimates alone is not a change of ranking)."""
    rows = curves[curves.samples_per_s.notna()] if len(curves) else curves
    if not len(rows):
        return pd.DataFrame()
    out = []
    for key, g in rows.groupby(FAMILY, sort=False):
        previous = None
        for batch, b in sorted(g.groupby("batch_size"), key=lambda x: x[0]):
            order = b.sort_values("samples_per_s", ascending=False)
            fastest = order.iloc[0]
            runner = order.iloc[1] if len(order) > 1 else None
            rec = dict(zip(FAMILY, key), label=fastest.label, batch_size=int(batch),
                       ranking=list(order.backend), fastest=fastest.backend,
                       runner_up=runner.backend if runner is not None else None,
                       runner_up_ratio=runner.vs_fastest if runner is not None else None,
                       changed=None if previous is None else fastest.backend != previous["fastest"])
            rec["decided_change"] = bool(rec["changed"]) and _beats(rec) and _beats(previous)
            previous = rec
            out.append(rec)
    return pd.DataFrame(out)
