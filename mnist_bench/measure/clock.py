"""The training clock: a process-wide counter of training seconds, advanced only by the epoch
timer (``train.Session``) by each epoch's clocked training time.

pytest-benchmark takes any zero-argument function as its timer (``--benchmark-timer``); the
benchmark suite uses ``training_clock``, so pytest-benchmark's own round statistics are the
training time of each epoch, the same figure as the harness's records and tables, and not the
whole ``fit()`` call (which also converts the arrays to the backend's input pipeline).
"""

from __future__ import annotations

_elapsed = 0.0


def advance(seconds: float) -> None:
    """Add ``seconds`` of clocked training time."""
    global _elapsed
    if not seconds >= 0:
        raise ValueError(f"training time must be a non-negative number, not {seconds!r}")
    _elapsed += seconds


def training_clock() -> float:
    """Training seconds clocked in this process so far."""
    return _elapsed
