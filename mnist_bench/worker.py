"""The entry point that runs one cell inside its own process (``python -m mnist_bench.worker``).

The parent sets ``KERAS_BACKEND`` (and, for ``--device cpu``, hides the GPUs) before starting
this process; this is the only place keras gets imported for a run. The worker prints progress
and its result as JSON lines starting with ``MARK`` on stdout; anything else it prints is
library noise that the parent keeps as the output tail of a failed cell.
"""

from __future__ import annotations

import json
import os
import sys
import time

MARK = "@@mnist-bench "
PARENT_ENV = "MNIST_BENCH_PARENT_PID"  # the harness process this worker must not outlive


def die_with_parent() -> None:
    """Ask Linux to kill this process when the harness that started it dies (a killed run, a
    lost cluster node), so no orphaned cell keeps the cores busy; elsewhere, do nothing."""
    parent = os.environ.get(PARENT_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != int(parent):  # the parent died before the request took hold
        os._exit(1)


def emit(**event) -> None:
    sys.stdout.write(MARK + json.dumps(event, default=str) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    from .settings import BASELINE_BACKEND, Cell

    die_with_parent()
    cell = Cell(**json.loads(argv[0]))
    import_s = None
    try:
        if cell.backend != BASELINE_BACKEND:
            t0 = time.perf_counter()
            import keras  # the backend is fixed here, from KERAS_BACKEND

            import_s = time.perf_counter() - t0
            if keras.config.backend() != cell.backend:
                raise RuntimeError(f"keras chose {keras.config.backend()}, not {cell.backend}")
        from . import baseline, data, specs, train
        from .measure import environment

        spec = specs.load(cell.spec)
        ds = data.load(cell.dataset, cell.data_dir)
        if (spec.kind == "sklearn") != (cell.backend == BASELINE_BACKEND):
            raise specs.SpecError(f"spec {cell.spec} cannot run on backend {cell.backend}")
        runner = baseline.run_cell if spec.kind == "sklearn" else train.run_cell
        if cell.impl == "native" and spec.kind != "sklearn":
            from .impl import loop

            runner = loop.run_cell
        result = runner(cell, spec, ds, emit=emit)
    except Exception as exc:
        from .errors import MnistBenchError

        if not isinstance(exc, MnistBenchError):
            raise  # a real crash: the parent records the traceback tail
        emit(event="error", reason=str(exc).splitlines()[0])
        return 3
    result.update(kind=spec.kind, recipe=spec.recipe.to_dict(), data_source=ds.source,
                  import_s=import_s, peak_host_rss_bytes=environment.peak_host_rss())
    emit(event="result", result=result)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
