"""The entry point that runs one cell inside its own process (``python -m mnist_bench.worker``).

The parent sets ``KERAS_BACKEND`` (and, for ``--device cpu``, hides the GPUs) before starting
this process; this is the only place keras gets imported for a run. The worker sends its
progress and result on its events pipe (``execute.protocol``); a cell kind is picked from
``CELLS``.
"""

from __future__ import annotations

import json
import os
import sys
import time

from .execute.protocol import emit

PARENT_ENV = "MNIST_BENCH_PARENT_PID"  # the harness process this worker must not outlive
FORKED_ENV = "MNIST_BENCH_FORKED"  # set in a worker forked by a server (execute.forkserver)

# (spec kind, implementation) -> "module:function" of the cell that runs it
CELLS = {
    ("keras", "keras"): "keras_cell",
    ("keras", "native"): "native.loop",
    ("sklearn", "keras"): "baseline",
}


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


def first_line(exc: BaseException) -> str:
    """An error's message in one line: its first non-empty line, else the error's type."""
    lines = [x for x in str(exc).splitlines() if x.strip()]
    return lines[0] if lines else type(exc).__name__


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a framework running out of host or device memory (Python's
    MemoryError, torch's OutOfMemoryError, TensorFlow's ResourceExhaustedError, XLA's
    RESOURCE_EXHAUSTED)."""
    text = str(exc)[:4000]
    return (isinstance(exc, MemoryError)
            or type(exc).__name__ in ("OutOfMemoryError", "ResourceExhaustedError")
            or "RESOURCE_EXHAUSTED" in text or "out of memory" in text.lower())


def main(argv: list[str]) -> int:
    from .measure import phases
    from .settings import Cell

    phases.start()
    die_with_parent()
    cell = Cell(**json.loads(argv[0]))
    state = {"batch_size": cell.planned_batch_size}
    try:
        result = _measure(cell, state)
    except Exception as exc:
        from .errors import MnistBenchError

        if out_of_memory(exc):  # a batch that does not fit: the curve stops there
            at = f" at batch {state['batch_size']}" if state["batch_size"] else ""
            emit(event="error", reason=f"out of memory{at}: {first_line(exc)}"[:500])
            return 3
        if not isinstance(exc, MnistBenchError):
            raise  # a real crash: the parent records the traceback tail
        emit(event="error", reason=first_line(exc))
        return 3
    emit(event="result", result=result)
    return 0


def _measure(cell, state: dict) -> dict:
    """Import the backend (checking Keras took it), set the precision, load the spec and data,
    run the cell's kind, and complete its result with what the worker knows; ``state`` keeps
    the batch size so far for an out-of-memory message."""
    import importlib

    from .measure import phases
    from .settings import BASELINE_BACKEND

    import_s = None
    if cell.backend != BASELINE_BACKEND:
        t0 = time.perf_counter()
        import keras  # the backend is fixed here, from KERAS_BACKEND

        import_s = time.perf_counter() - t0
        if keras.config.backend() != cell.backend:
            raise RuntimeError(f"keras chose {keras.config.backend()}, not {cell.backend}")
    phases.mark("imports")
    from . import data, specs
    from .cells.common import set_precision
    from .measure import environment

    set_precision(cell.backend, cell.float32_precision)
    spec = specs.load(cell.spec)
    recipe = spec.recipe  # recorded as the spec defines it
    spec = specs.at_batch_size(spec, cell.planned_batch_size, cell.lr_scaling)
    state["batch_size"] = spec.recipe.batch_size if spec.kind == "keras" else None
    ds = data.load(cell.dataset, cell.data_dir)
    phases.mark("data")
    if (spec.kind == "sklearn") != (cell.backend == BASELINE_BACKEND):
        raise specs.SpecError(f"spec {cell.spec} cannot run on backend {cell.backend}")
    impl = cell.impl if spec.kind == "keras" else "keras"
    module = importlib.import_module(f".cells.{CELLS[(spec.kind, impl)]}", __package__)
    result = module.run_cell(cell, spec, ds, emit=emit)
    phases.mark("inference")  # what the cell did after its last mark
    result.setdefault("learning_rate", None)  # the cell reads it off its optimizer
    result.update(kind=spec.kind, recipe=recipe.to_dict(), data_source=ds.source,
                  import_s=import_s, peak_host_rss_bytes=environment.peak_host_rss(),
                  worker_start="fork server" if os.environ.get(FORKED_ENV) else "fresh interpreter",
                  phases=phases.read())
    return result


def finish(code: int) -> None:
    """End the worker now: its result is written and flushed, and nothing it holds needs a
    clean shutdown (the frameworks' interpreter teardown, thread joins and atexit hooks take
    1.5-2.5 s per cell: cell phase ``exit``)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def preload() -> None:
    """What every cell of this process's backend imports, imported once, for a fork server
    (``execute.forkserver``): Keras with its backend, the data, spec and cell modules. Nothing
    here starts a device or a framework's thread pool (``started_devices`` checks)."""
    from .settings import BASELINE_BACKEND

    backend = os.environ.get("KERAS_BACKEND")
    if backend and backend != BASELINE_BACKEND:
        import keras  # noqa: F401 - the backend is fixed here, from KERAS_BACKEND

        from .cells import keras_cell  # noqa: F401
        from .cells.native import loop  # noqa: F401
    else:
        from .cells import baseline  # noqa: F401
    from . import data, specs  # noqa: F401
    from .measure import environment  # noqa: F401


def started_devices() -> str | None:
    """What a framework started in this process that a forked child cannot inherit: JAX's
    backends, PyTorch's CUDA, TensorFlow's eager context; None when nothing is."""
    found = []
    if "jax" in sys.modules:
        from jax._src import xla_bridge

        if getattr(xla_bridge, "_backends", None):
            found.append("JAX's backends")
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        found.append("PyTorch's CUDA")
    if "tensorflow" in sys.modules:
        from tensorflow.python.eager import context

        if context.context_safe() is not None and context.context_safe()._context_handle is not None:
            found.append("TensorFlow's eager context")
    return ", ".join(found) or None


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        from .execute.forkserver import serve

        serve(int(sys.argv[2]))
    finish(main(sys.argv[1:]))
