"""Run one cell here: the drift canary, then the cell in a fresh worker process.

One process per cell: a cell that crashes, hangs or runs out of memory ends as an ``Outcome``
with the tail of its output, and the run goes on. ``run_here`` is what every executor calls
where the cell runs (this machine for ``execute.local``, a cluster node for ``execute.ray``).
"""

from __future__ import annotations

import collections
import importlib.util
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import settings
from ..measure import canary, environment, phases
from ..settings import BASELINE_BACKEND, Cell
from ..worker import PARENT_ENV
from . import forkserver, protocol

TAIL_LINES = 30


@dataclass
class Outcome:
    """What a worker process did: its result, or its error, exit status and output tail."""

    result: dict | None = None
    error: str | None = None
    returncode: int | None = None
    timed_out: bool = False
    tail: list[str] = field(default_factory=list)
    wall_s: float | None = None  # spawn to exit, as this process saw it


@dataclass
class Attempt:
    """One cell run here: the canary before it, why it was not run, or its worker's outcome."""

    canary_s: float | None
    skipped: str | None = None
    outcome: Outcome | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Attempt":
        out = d.get("outcome")
        return cls(d.get("canary_s"), d.get("skipped"), Outcome(**out) if out else None)


def backend_missing(backend: str) -> str | None:
    package = settings.BACKEND_PACKAGE[backend]
    if importlib.util.find_spec(package) is None:
        return f"{package} is not installed in this Python ({sys.executable})"
    if backend != BASELINE_BACKEND and importlib.util.find_spec("keras") is None:
        return "keras is not installed"
    return None


# The worker's interpreter: safe-path (-P: the working directory is not on the import path, so a
# keras.py where the user runs from is never imported) and this package found after the installed
# ones (appended, never in front of them); mnist_bench.imports refuses PYTHONPATH shadows.
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
BOOT = ("import sys, runpy; sys.path.append(sys.argv.pop(1)); "
        "runpy.run_module('mnist_bench.worker', run_name='__main__', alter_sys=True)")


def worker_command(*args: str) -> list[str]:
    """The command line that runs ``mnist_bench.worker`` (as ``python -m``) with ``args`` in a
    fresh, safe-path interpreter."""
    return [sys.executable, "-P", "-c", BOOT, PACKAGE_ROOT, *args]


def _reader(stream, q, kind: str):
    for line in stream:
        q.put((kind, line))
    q.put((kind, None))


def worker_env(cell: Cell) -> dict:
    """The environment a cell's worker runs in (its backend, its device), before the per-cell
    entries (the events pipe, the parent, the start time)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    if cell.backend != BASELINE_BACKEND:
        env["KERAS_BACKEND"] = cell.backend
    env.update(environment.device_env(cell.device))
    return env


def _fork(cell: Cell, env: dict, cwd: str):
    """The worker of ``cell`` forked by its backend's fork server (``execute.forkserver``), and
    the reading end of its events pipe; None when no server can fork it."""
    server = forkserver.server_for(env, worker_command())
    if server is None:
        return None
    out_r, out_w = os.pipe()
    events_r, events_w = os.pipe()
    env = {**env, phases.SPAWNED_ENV: repr(time.time())}
    try:
        proc = server.fork(json.dumps(cell.to_dict()), env, cwd, out_w, events_w)
    except forkserver.ServerError as exc:
        os.close(out_r)
        os.close(events_r)
        print(f"mnist-bench: {cell.backend} cells start fresh interpreters from now: {exc}",
              file=sys.stderr)
        forkserver.forget(env)
        return None
    finally:
        os.close(out_w)
        os.close(events_w)
    proc.stdout = os.fdopen(out_r, encoding="utf-8", errors="replace")
    return proc, events_r


def _spawn(cell: Cell, cwd: str | None):
    """The worker process of ``cell`` (forked by a server where one can, else a fresh
    interpreter) and the reading end of its events pipe."""
    env = worker_env(cell)
    cwd = cwd if cwd and os.path.isdir(cwd) else os.getcwd()
    forked = _fork(cell, env, cwd)
    if forked is not None:
        return forked
    env[PARENT_ENV] = str(os.getpid())
    events_r, events_w = os.pipe()
    env[protocol.EVENTS_FD] = str(events_w)
    env[phases.SPAWNED_ENV] = repr(time.time())
    try:
        proc = subprocess.Popen(
            worker_command(json.dumps(cell.to_dict())), pass_fds=(events_w,),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
            start_new_session=os.name == "posix", cwd=cwd)
    except BaseException:
        os.close(events_r)
        raise
    finally:
        os.close(events_w)  # the worker holds the only writing end: its exit ends the pipe
    return proc, events_r


def _listen(proc, events_r: int, deadline: float, on_event, outcome: "Outcome") -> list[str]:
    """Read the worker's output and events until both end or ``deadline``; returns the output
    tail, and fills ``outcome`` with the result, the error or the time-out."""
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, lines, "out"), daemon=True).start()
    threading.Thread(target=_reader, args=(os.fdopen(events_r, encoding="utf-8", errors="replace"),
                                           lines, "event"), daemon=True).start()
    tail = collections.deque(maxlen=TAIL_LINES)
    open_streams = 2
    while open_streams:
        try:
            kind, line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            outcome.timed_out = True
            break
        if line is None:
            open_streams -= 1
        elif kind == "out":
            if line.strip():
                tail.append(line.rstrip())
        elif (event := protocol.read(line)) is None:
            continue
        elif event["event"] == "result":
            outcome.result = event.get("result")
        elif event["event"] == "error":
            outcome.error = event.get("reason") or "the cell reported an error without a message"
        else:
            on_event(event)
    return list(tail)


def run_worker(cell: Cell, timeout_s: float, on_event=lambda event: None,
               cwd: str | None = None) -> Outcome:
    """Run ``cell`` in a fresh process with its backend set; never raises for a bad cell. The
    worker dies with this process (``worker.PARENT_ENV``), so no orphan runs on untimed. Its
    events (progress, result, error) come on a pipe of their own (``protocol.EVENTS_FD``), so
    nothing the cell prints can pass for its result; its output is kept as the tail."""
    t_spawn = time.perf_counter()
    proc, events_r = _spawn(cell, cwd)
    outcome = Outcome()
    try:
        outcome.tail = _listen(proc, events_r, time.monotonic() + timeout_s, on_event, outcome)
    finally:
        if proc.poll() is None:
            _kill(proc)
        outcome.returncode = proc.wait()
        outcome.wall_s = time.perf_counter() - t_spawn
    return outcome


def _kill(proc) -> None:
    """Kill the worker's whole session (anything it started too)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):  # not a session leader yet
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def prestart(cells) -> None:
    """Start the fork servers of every backend ``cells`` use (each with the environment of
    its first cell), side by side, before the first cell (``forkserver.prestart``)."""
    envs, seen = [], set()
    for cell in cells:
        if cell.backend in seen or backend_missing(cell.backend):
            continue
        seen.add(cell.backend)
        envs.append(worker_env(cell))
    forkserver.prestart(envs, worker_command())


def run_here(cell: Cell, timeout_s: float, on_event=lambda event: None,
             cwd: str | None = None) -> Attempt:
    """The drift canary (the machine's speed right before the cell), then the cell in its own
    worker process, unless its backend is not installed here. A fork server's imports
    (``execute.forkserver``), paid once per backend and environment, come before the canary and
    outside the cell's wall time."""
    missing = backend_missing(cell.backend)
    if missing:
        return Attempt(canary.measure(), skipped=missing)
    forkserver.server_for(worker_env(cell), worker_command())  # its imports before the canary
    canary_s = canary.measure()
    return Attempt(canary_s, outcome=run_worker(cell, timeout_s, on_event, cwd))
