"""Where a cell's wall time goes, outside its training clock: the worker marks the end of each
phase (``mark``), and its result carries the seconds of each (``read``).

Phases, in order: ``start`` (from the parent's spawn to the worker's first line of Python: the
interpreter and this package), ``imports`` (keras and its backend), ``data`` (the spec and the
verified dataset), ``build`` (seeding, slicing, the model, its shape and output checks, the
compile or the native trainer), ``training`` (the whole training call, compilation and
evaluation of the curve included), ``probes`` (peak memory, precision, FLOPs), ``inference``
(test accuracy and the inference rate). The parent adds ``exit`` (the result line to the
process's end) from the cell's wall time (``cell_wall_s``).
"""

from __future__ import annotations

import os
import time

SPAWNED_ENV = "MNIST_BENCH_SPAWNED_AT"  # the parent's time.time() when it started the worker

_last: float | None = None
_phases: dict[str, float] = {}


def start() -> None:
    """At the worker's first line: the ``start`` phase from the parent's spawn time."""
    global _last
    _phases.clear()
    _last = time.perf_counter()
    spawned = os.environ.get(SPAWNED_ENV)
    try:
        _phases["start"] = max(0.0, time.time() - float(spawned)) if spawned else None
    except ValueError:
        _phases["start"] = None


def mark(name: str) -> None:
    """The phase ``name`` ends now (its seconds add up if it is marked twice)."""
    global _last
    if _last is None:
        return
    now = time.perf_counter()
    _phases[name] = (_phases.get(name) or 0.0) + now - _last
    _last = now


def read() -> dict[str, float | None]:
    return dict(_phases)
