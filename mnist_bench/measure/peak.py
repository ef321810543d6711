"""The device's own matrix-product rate, the denominator of a GPU cell's utilisation.

On the CPU the parent measures numpy's rate once per run (``environment.matmul_peak_gflops``).
A GPU is measured inside the worker, through the backend that trains: the best of a few
n x n products in float32 (in whatever precision the backend gives float32 by default, see
``precision``) and in bfloat16, each timed to a device synchronisation.
"""

from __future__ import annotations

import time

import numpy as np


def matmul_gflops(ops, dtype: str, n: int = 4096, repeats: int = 10) -> float:
    """Best rate of ``repeats`` back-to-back n x n products in ``dtype`` (``ops``: keras.ops)."""
    rng = np.random.default_rng(0)
    a = ops.cast(ops.convert_to_tensor(rng.standard_normal((n, n), dtype=np.float32)), dtype)
    b = ops.cast(ops.convert_to_tensor(rng.standard_normal((n, n), dtype=np.float32)), dtype)

    def sync(x):
        return float(ops.convert_to_numpy(ops.cast(x[0, 0], "float32")))

    sync(ops.matmul(a, b))  # warm-up: kernel choice, compilation
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(repeats):
            c = ops.matmul(a, b)
        sync(c)
        best = min(best, (time.perf_counter() - t0) / repeats)
    return 2 * n**3 / best / 1e9


def gpu_peaks(ops) -> dict:
    """float32 and bfloat16 matrix-product rates of the GPU this process trains on, GFLOP/s."""
    return {"float32": matmul_gflops(ops, "float32"), "bfloat16": matmul_gflops(ops, "bfloat16")}
