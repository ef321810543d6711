"""Clocks and the summaries taken from them. No keras here: the sync function is passed in.

The rule everywhere: a clock is read only after the device has finished the work being timed
(``sync()``), and the first epoch (tracing/compilation) is kept apart from the steady state.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable, Sequence


class Stopwatch:
    """Times one region; ``sync`` runs before each reading so async device work is counted."""

    def __init__(self, sync: Callable[[], object] = lambda: None,
                 now: Callable[[], float] = time.perf_counter):
        self.sync, self.now = sync, now
        self._t0: float | None = None

    def start(self) -> None:
        self.sync()
        self._t0 = self.now()

    def stop(self) -> float:
        if self._t0 is None:
            raise RuntimeError("Stopwatch.stop() before start()")
        self.sync()
        elapsed = self.now() - self._t0
        self._t0 = None
        return elapsed


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """(q1, median, q3) with the inclusive method; a single value gives (v, v, v)."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def summarize_epochs(epoch_s: Sequence[float], samples: int) -> dict:
    """First-epoch time apart from the steady state and throughput. The steady epoch is the
    mean of epochs 2..n: the run figure every table uses (docs/method.md), so a record's
    samples/s and GFLOP/s agree with the tables' epoch time."""
    if not epoch_s:
        return {"first_epoch_s": None, "steady_epoch_s": None, "steady_epoch_iqr_s": None,
                "train_samples_per_s": None}
    steady = list(epoch_s[1:])
    if not steady:  # one epoch only: it includes compilation, so no steady-state figure
        return {"first_epoch_s": epoch_s[0], "steady_epoch_s": None, "steady_epoch_iqr_s": None,
                "train_samples_per_s": None}
    q1, _, q3 = quartiles(steady)
    mean = statistics.fmean(steady)
    return {
        "first_epoch_s": epoch_s[0],
        "steady_epoch_s": mean,
        "steady_epoch_iqr_s": q3 - q1,
        "train_samples_per_s": samples / mean,
    }
