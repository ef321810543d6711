"""The drift canary: a fixed reference workload, timed in the parent right before every cell.

The machine itself drifts (thermal limits, other tenants, frequency scaling): one published run
slowed 18% from its first repeat to its third. The canary does the same work every time (float32
matrix products through NumPy's BLAS on up to ``THREADS`` of the cores this process may use,
plus an interpreter loop), so a change in its time is the machine's, not the code's. The
threads are bounded because a product this small split over dozens of cores is timed mostly
in the threads' hand-offs, whose cost varies from call to call on an idle many-core host. A cell measured while the canary ran more than
``analysis.aggregate.DRIFT_FLAG`` slower than the run's best is flagged in the tables, and
``compare`` states the canary difference between two result sets.
"""

from __future__ import annotations

import time

import numpy as np

SIZE = 384  # matrix side: ~113 MFLOP a product
PRODUCTS = 48
LOOP = 300_000
REPEATS = 5  # the best of these is the figure: a one-off hiccup is not drift
THREADS = 4  # BLAS threads at most (threadpoolctl, which scikit-learn brings)


def _work(a: np.ndarray, b: np.ndarray) -> float:
    acc = 0.0
    for _ in range(PRODUCTS):
        acc += float((a @ b)[0, 0])
    total = 0
    for i in range(LOOP):
        total += i & 7
    return acc + total


def measure() -> float:
    """Seconds for one canary workload, the best of ``REPEATS`` (well under a second), its
    products on at most ``THREADS`` BLAS threads (the cores this process may use, if fewer)."""
    from threadpoolctl import threadpool_limits

    from .disturbance import usable_cores

    with threadpool_limits(limits=min(THREADS, usable_cores()), user_api="blas"):
        return _best()


def _best() -> float:
    rng = np.random.default_rng(0)
    a = rng.random((SIZE, SIZE), dtype=np.float32)
    b = rng.random((SIZE, SIZE), dtype=np.float32)
    _work(a, b)  # warm caches and BLAS threads
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        _work(a, b)
        best = min(best, time.perf_counter() - t0)
    return best
