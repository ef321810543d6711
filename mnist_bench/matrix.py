"""Plan the cells of a run, run each in its own worker process, and store every record.

A run is a sequence of blocks, one per repeat. Within a block every variant of a spec (backend
x mode) runs back to back, the specs and the variants in a fresh random order drawn from the
run's ``order_seed`` (recorded in run.json and in every record), so slow drift of the machine
hits all variants of a block alike and comparisons can pair them by block.

One process per cell: a cell that crashes, hangs or runs out of memory is recorded as failed or
timed out with the tail of its output, and the run goes on. Each record is appended to the
store as soon as its cell ends, so nothing measured is lost if the run is stopped.
"""

from __future__ import annotations

import collections
import importlib.util
import json
import os
import queue
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from . import records, settings, specs
from .measure import canary, environment
from .settings import BASELINE_BACKEND, Cell
from .worker import MARK, PARENT_ENV

PLAN_FILE = "run.json"
EXECUTORS = ("local", "ray")
TAIL_LINES = 30


@dataclass(frozen=True)
class RunSettings:
    """Everything that decides which cells a run has (stored as run.json for --resume)."""

    specs: tuple[str, ...] = tuple(specs.BUILTIN)
    backends: tuple[str, ...] = settings.BACKENDS
    dataset: str | None = None  # None: each spec's own default dataset
    profile: str = "quick"
    seed: int = 0
    epochs: int | None = None
    device: str = "cpu"
    modes: tuple[str, ...] = ("default",)
    impls: tuple[str, ...] = ("keras",)
    repeats: int = 1
    data_dir: str | None = None
    order_seed: int | None = None  # None: drawn when the run starts, then saved in run.json
    run_id: str | None = None  # None: made when the run starts (UTC time and a random suffix)
    executor: str = "local"  # local: a process per cell here; ray: on a Ray cluster's nodes
    ray_address: str | None = None  # None: a Ray instance started for the run, on this machine
    ray_resources: tuple[str, ...] = ()  # "name=amount" a node must have to take the matrix
    cells_per_node: int = 1  # timed cells a node runs at once (more than 1 spoils timings)
    nodes: tuple[str, ...] = ()  # the Ray nodes (by name) that run the matrix, chosen at start

    def started(self) -> "RunSettings":
        """These settings with a run id and an order seed, as the run records them."""
        import datetime as dt

        run_id = self.run_id or (dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
                                 + "-" + secrets.token_hex(2))
        seed = self.order_seed if self.order_seed is not None else secrets.randbelow(2 ** 31)
        return replace(self, run_id=run_id, order_seed=seed)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunSettings":
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for key in ("specs", "backends", "modes", "impls", "ray_resources", "nodes"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


def plan(rs: RunSettings) -> list[Cell]:
    """The cells of a run, validated: an unknown name raises a one-line error."""
    settings.check("profile", rs.profile, settings.PROFILES)
    settings.check("device", rs.device, settings.DEVICES)
    for b in rs.backends:
        settings.check("backend", b, settings.BACKENDS)
    for m in rs.modes:
        settings.check("mode", m, settings.MODES)
    for i in rs.impls:
        settings.check("implementation", i, settings.IMPLS)
    if rs.dataset is not None:
        from .data import DATASETS

        settings.check("dataset", rs.dataset, DATASETS)
    settings.check("executor", rs.executor, EXECUTORS)
    if rs.cells_per_node < 1:
        raise settings.SettingsError(f"--cells-per-node must be at least 1, not {rs.cells_per_node}")
    if rs.repeats < 1:
        raise settings.SettingsError(f"--repeats must be at least 1, not {rs.repeats}")
    if rs.epochs is not None and rs.epochs < 1:
        raise settings.SettingsError(f"--epochs must be at least 1, not {rs.epochs}")
    for ref in rs.specs:
        specs.check_ref(ref)
    cells = []
    for repeat in range(rs.repeats):
        rng = random.Random(f"{rs.order_seed or 0}:{repeat}")
        order = list(rs.specs)
        if rs.order_seed is not None:
            rng.shuffle(order)
        block = []
        for ref in order:
            builtin = specs.BUILTIN.get(ref)
            dataset = rs.dataset or (builtin.recipe.dataset if builtin else "mnist")
            common = dict(spec=ref, dataset=dataset, profile=rs.profile, seed=rs.seed + repeat,
                          epochs=rs.epochs, repeat=repeat, data_dir=rs.data_dir)
            if builtin is not None and builtin.kind == "sklearn":
                block.append(Cell(backend=BASELINE_BACKEND, device="cpu", **common))
                continue
            variants = [(b, i, m) for b in rs.backends for i in rs.impls for m in rs.modes]
            if rs.order_seed is not None:
                rng.shuffle(variants)
            block.extend(Cell(backend=b, device=rs.device, mode=m, impl=i, **common)
                         for b, i, m in variants)
        cells.extend(replace(c, position=i) for i, c in enumerate(block))
    if rs.nodes:  # every node runs the whole matrix, in the same order
        return [replace(c, node=n) for n in rs.nodes for c in cells]
    return cells


def backend_missing(backend: str) -> str | None:
    package = settings.BACKEND_PACKAGE[backend]
    if importlib.util.find_spec(package) is None:
        return f"{package} is not installed in this Python ({sys.executable})"
    if backend != BASELINE_BACKEND and importlib.util.find_spec("keras") is None:
        return "keras is not installed"
    return None


@dataclass
class Outcome:
    result: dict | None = None
    error: str | None = None
    returncode: int | None = None
    timed_out: bool = False
    tail: list[str] = field(default_factory=list)


def _reader(stream, q):
    for line in stream:
        q.put(line)
    q.put(None)


def run_worker(cell: Cell, timeout_s: float, on_event=lambda event: None,
               cwd: str | None = None) -> Outcome:
    """Run ``cell`` in a fresh process with its backend set; never raises for a bad cell. The
    worker dies with this process (``worker.PARENT_ENV``), so no orphan runs on untimed."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
           PARENT_ENV: str(os.getpid())}
    if cell.backend != BASELINE_BACKEND:
        env["KERAS_BACKEND"] = cell.backend
    env.update(environment.device_env(cell.device))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mnist_bench.worker", json.dumps(cell.to_dict())],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True, cwd=cwd if cwd and os.path.isdir(cwd) else os.getcwd())
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True).start()
    outcome = Outcome()
    tail = collections.deque(maxlen=TAIL_LINES)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                outcome.timed_out = True
                break
            if line is None:
                break
            if line.startswith(MARK):
                event = json.loads(line[len(MARK):])
                if event["event"] == "result":
                    outcome.result = event["result"]
                elif event["event"] == "error":
                    outcome.error = event["reason"]
                else:
                    on_event(event)
            elif line.strip():
                tail.append(line.rstrip())
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        outcome.returncode = proc.wait()
    outcome.tail = list(tail)
    return outcome


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class Runner:
    """Runs cells one at a time into a store (``run_cell``), with progress callbacks; the CLI
    decides which cells (``plan`` and, for --resume, ``records.complete_keys``). Another
    executor (``execute.ray``) runs the cell elsewhere and hands its outcome to ``finish``."""

    def __init__(self, store: Path, cell_timeout_s: float | None = None, on_event=None,
                 on_record=None, run_id: str | None = None, order_seed: int | None = None):
        self.store = Path(store)
        self.run = {"run_id": run_id, "order_seed": order_seed}
        self.cell_timeout_s = cell_timeout_s
        self.on_event = on_event or (lambda cell, event: None)
        self.on_record = on_record or (lambda cell, record: None)
        self._facts = None

    @property
    def facts(self) -> dict:
        """This machine's facts for every record (measured once, when the first cell runs)."""
        if self._facts is None:
            self._facts = local_facts()
        return self._facts

    def timeout_for(self, cell: Cell) -> float:
        return self.cell_timeout_s or settings.PROFILES[cell.profile].cell_timeout_s

    def run_cell(self, cell: Cell) -> dict:
        canary_s = canary.measure()  # the machine's speed right before this cell
        missing = backend_missing(cell.backend) or cell.not_run()
        out = None if missing else run_worker(cell, self.timeout_for(cell),
                                              lambda event: self.on_event(cell, event))
        return self.finish(cell, canary_s, out, self.facts, skipped=missing)

    def finish(self, cell: Cell, canary_s: float | None, out: Outcome | None, facts: dict,
               skipped: str | None = None, failed: str | None = None, **extra) -> dict:
        """The record of a cell from what its worker did (``out``), or of a cell not run
        (``skipped``) or lost (``failed``) for the reason given; stored and reported."""
        fields = {**records.cell_fields(cell), **self.run, "block": cell.repeat,
                  "canary_s": canary_s, **extra}
        if skipped or failed:
            record = records.new(fields, status="skipped" if skipped else "failed",
                                 reason=skipped or failed, **facts)
        elif out.result is not None:
            clash = set(out.result) & set(fields)
            if clash:  # a result must never overwrite what identifies its cell
                raise RuntimeError(f"worker result overwrites cell fields {sorted(clash)}")
            record = records.new(fields, **out.result, **facts)
        elif out.timed_out:
            record = records.new(fields, status="timeout",
                                 reason=f"stopped after the cell time limit of "
                                        f"{self.timeout_for(cell):g} s",
                                 output_tail=out.tail, **facts)
        else:
            reason = out.error or f"worker {describe_exit(out.returncode)}"
            if not out.error and out.tail:
                reason += f": {out.tail[-1]}"
            record = records.new(fields, status="failed", reason=reason,
                                 output_tail=out.tail, **facts)
        records.append(self.store, record)
        self.on_record(cell, record)
        return record


def local_facts() -> dict:
    """The facts of the machine this runs on: host, CPU, GPUs, measured peak, versions, commit."""
    machine = {**environment.machine(), "matmul_peak_gflops": environment.matmul_peak_gflops()}
    return {"machine": machine, "versions": environment.versions(),
            "git": environment.git_commit()}


def check_writable(out: Path) -> None:
    """A one-line error now, rather than a traceback after the first cell, if ``out`` cannot
    hold results."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise settings.SettingsError(
            f"results folder {out} is not writable ({exc.strerror or exc}); pass --out with a "
            "folder you can write to") from None


def save_plan(out: Path, rs: RunSettings) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (PLAN_FILE + ".tmp")
    tmp.write_text(json.dumps(rs.to_dict(), indent=2) + "\n")
    os.replace(tmp, out / PLAN_FILE)


def load_plan(out: Path) -> RunSettings:
    path = Path(out) / PLAN_FILE
    if not path.is_file():
        raise settings.SettingsError(f"--resume: {path} not found; nothing to resume in {out}")
    return RunSettings.from_dict(json.loads(path.read_text()))
