"""Run a matrix on the nodes of a Ray cluster (``mnist-bench run --executor ray``).

Placement: every node that has what the run asks for (one GPU for ``--device gpu``, and each
``--ray-resources NAME=AMOUNT``) runs the whole matrix, so one command measures the same cells
on every kind of machine and the tables key them by machine. With ``--spread-blocks`` the
chosen nodes are one kind of machine and share the blocks instead: each block runs whole on
the next free node (so its cells are paired on one node, and a node's own speed is part of its
blocks' effect, which pairing cancels), their records are one machine's for the tables
(``plan.pool_name``), and each names its own node (``ray.name``); N nodes take about 1/N of
the time. A node runs its cells one at a
time (``--cells-per-node``), each as a Ray task pinned to that node that asks for all of its
CPUs (and a GPU for GPU cells): Ray itself then keeps every other task, of this run or any
other, off those cores while a cell is timed. The task starts the very same worker process as a
local run (one cell, one process, the backend chosen before keras is imported) and sends back
its outcome; the driver writes the record into its one store as each cell ends, with the node's
own machine facts.

Before its first cell each node loads every dataset of the run through the same loader as a
local run (its cache or a fetch, checked against the published hashes); a node that cannot is
recorded failed for each of its cells. A node lost mid-cell: the cell is retried once if the
node is still in the cluster (its Ray worker crashed); otherwise that cell and every cell the
node had left are recorded failed with the reason, and ``--resume`` runs them when it is back.
Only the worker process imports a framework; this module imports Ray, on the driver and nodes.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import time
from dataclasses import dataclass

from ..settings import Cell, SettingsError
from .process import Attempt

LABEL = "mnist-bench/machine"  # a node's name for the tables: ray start --labels mnist-bench/machine=NAME
PREPARE_TIMEOUT_S = 1800  # a node's data fetch and facts
CONNECT_TIMEOUT_S = 60.0  # reaching the cluster at --ray-address
ANSWER_GRACE_S = 300.0  # a cell's answer may come this long after its own time limit
RESERVED = ("CPU", "GPU", "memory", "object_store_memory")
INSTALL = "pip install 'mnist-bench[ray]'"


@dataclass(frozen=True)
class Node:
    """A live node of the cluster, as the run names it."""

    id: str
    name: str
    ip: str
    hostname: str
    resources: dict

    def info(self) -> dict:
        """What a record says of the node it ran on (the record field ``ray``)."""
        kept = {k: v for k, v in self.resources.items()
                if not k.startswith("node:") and k not in ("memory", "object_store_memory")}
        return {"node_id": self.id, "name": self.name, "node_ip": self.ip,
                "hostname": self.hostname, "resources": kept}


def require_ray():
    try:
        import ray
    except ImportError:
        raise SettingsError(f"--executor ray needs Ray, which is not installed here: {INSTALL}") from None
    return ray


def parse_resources(items) -> dict[str, float]:
    """``("h100=1", ...)`` -> ``{"h100": 1.0}``; a one-line error for anything else."""
    out = {}
    for item in items:
        name, sep, amount = (x.strip() for x in item.partition("="))
        try:
            value = float(amount) if sep else math.nan
        except ValueError:
            value = math.nan
        if not name or not math.isfinite(value) or value <= 0:
            raise SettingsError(f"--ray-resources {item!r}: expected NAME=AMOUNT with a positive "
                                "amount, e.g. h100=1 or accelerator_type:H100=0.001")
        if name in RESERVED:
            raise SettingsError(f"--ray-resources {item!r}: {name} is set by mnist-bench (all of a "
                                "node's CPUs per cell, one GPU for --device gpu); name a custom "
                                "resource, e.g. h100=1")
        out[name] = value
    return out


def needs(device: str, resources: dict) -> dict:
    """What a node must have to take the matrix: the custom resources, and a GPU for GPU cells."""
    return {**resources, **({"GPU": 1.0} if device == "gpu" else {})}


def nodes_from_table(table: list[dict]) -> list[Node]:
    """The live nodes of ``ray.nodes()``, each named by its ``mnist-bench/machine`` label, else
    its host name; names that would repeat get the node id's first 8 digits."""
    alive = [n for n in table if n.get("Alive")]
    names = [(n.get("Labels") or {}).get(LABEL) or n.get("NodeManagerHostname") or n["NodeID"][:8]
             for n in alive]
    count = collections.Counter(names)
    nodes = [Node(id=n["NodeID"], name=name if count[name] == 1 else f"{name}-{n['NodeID'][:8]}",
                  ip=n.get("NodeManagerAddress") or "", hostname=n.get("NodeManagerHostname") or "",
                  resources=dict(n.get("Resources") or {}))
             for name, n in zip(names, alive)]
    return sorted(nodes, key=lambda n: n.name)


def eligible(nodes: list[Node], need: dict) -> list[Node]:
    """The nodes with a CPU and at least ``need`` of every resource."""
    return [n for n in nodes if n.resources.get("CPU", 0) >= 1
            and all(n.resources.get(k, 0) >= v for k, v in need.items())]


def describe(nodes: list[Node]) -> str:
    if not nodes:
        return "none"
    return "; ".join(f"{n.name} ({', '.join(f'{k}={v:g}' for k, v in sorted(n.info()['resources'].items()))})"
                     for n in nodes)


def _refused(address: str, why: str) -> SettingsError:
    return SettingsError(f"--ray-address {address}: cannot connect to a Ray cluster there ({why}); "
                         "start one with `ray start --head`, or leave --ray-address out to run on "
                         "a Ray instance started here")


def _probe(address: str) -> None:
    """A TCP connection to ``host:port`` (``ray://host:port`` too) within CONNECT_TIMEOUT_S:
    nothing listening is a one-line error now, not Ray's endless retries."""
    import socket

    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto" and other forms Ray resolves itself (bounded by connect's timeout)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise _refused(address, f"nothing answers at {hostport}: {exc.strerror or exc}") from None


def connect(address: str | None):
    """Ray, connected to the cluster at ``address`` (within CONNECT_TIMEOUT_S), or to a Ray
    instance started here."""
    import threading

    ray = require_ray()
    if ray.is_initialized():
        return ray
    quiet = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    if not address:
        ray.init(object_store_memory=200 * 2**20, **quiet)
        return ray
    _probe(address)
    outcome: dict = {}

    def init():  # in a thread: Ray retries a silent address for ever
        try:
            ray.init(address=address, **quiet)
        except Exception as exc:  # handed to the caller below
            outcome["error"] = exc

    thread = threading.Thread(target=init, name="ray-connect", daemon=True)
    thread.start()
    thread.join(CONNECT_TIMEOUT_S)
    if thread.is_alive():
        raise _refused(address, f"no answer from a Ray head within {CONNECT_TIMEOUT_S:g} s")
    if "error" in outcome:
        exc = outcome["error"]
        raise _refused(address, (str(exc).splitlines() or [type(exc).__name__])[0]) from None
    return ray


def choose_nodes(address: str | None, device: str, resources: dict) -> list[str]:
    """The names of the nodes that will run the matrix; a one-line error when none can."""
    ray = connect(address)
    nodes = nodes_from_table(ray.nodes())
    need = needs(device, resources)
    chosen = eligible(nodes, need)
    if not chosen:
        wanted = ", ".join(f"{k}={v:g}" for k, v in need.items()) or "a CPU"
        raise SettingsError(f"no node of the Ray cluster has {wanted}; its nodes: {describe(nodes)}")
    return [n.name for n in chosen]


# ---- on the node ----------------------------------------------------------------------------

def prepare_node(datasets: list[str], data_dir: str | None) -> dict:
    """On a node, before its cells: every dataset through the verified loader, and the
    node's facts (host, CPU, GPUs, measured peak, versions, commit)."""
    from .. import data
    from ..measure import environment

    sources = {name: data.load(name, data_dir).source for name in datasets}
    return {"sources": sources, "facts": environment.facts()}


def run_on_node(cell: dict, timeout_s: float, cwd: str | None) -> dict:
    """On a node: the cell run exactly as a local run runs it (``process.run_here``)."""
    import ray

    from .process import run_here

    attempt = run_here(Cell(**cell), timeout_s, cwd=cwd)
    return {"attempt": attempt.to_dict(), "node_id": ray.get_runtime_context().get_node_id()}


# ---- on the driver --------------------------------------------------------------------------

def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}"


class Driver:
    """Sends each node its cells, one (or ``cells_per_node``) at a time, and records them."""

    def __init__(self, rs, sink, timeout_for, on_start=lambda cell: None, say=print):
        self.rs, self.sink, self.timeout_for = rs, sink, timeout_for
        self.on_start, self.say = on_start, say
        self.ray = connect(rs.ray_address)
        self.resources = parse_resources(rs.ray_resources)
        self.facts: dict[str, dict] = {}
        self.inflight: dict = {}
        self.retried: set = set()
        self._remote: dict = {}

    def nodes(self) -> dict[str, Node]:
        return {n.name: n for n in nodes_from_table(self.ray.nodes())}

    def _task(self, fn, node: Node, cpus: float, gpus: float = 0, resources: dict | None = None):
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if fn not in self._remote:
            self._remote[fn] = self.ray.remote(fn)
        return self._remote[fn].options(
            num_cpus=cpus, num_gpus=gpus, resources=resources or {}, max_retries=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node.id, soft=False))

    def lose(self, name: str, reason: str) -> None:
        """Every cell ``name`` had left, recorded failed for ``reason``."""
        queue = self.queues[name]
        while queue:
            cell = queue.popleft()
            self.sink.write(cell, None, self.facts.get(name, {}), self.timeout_for(cell), failed=reason)

    def submit(self, node: Node, cell: Cell | None = None) -> None:
        """``cell`` again (a retry: not counted as a start again), or the node's next cell."""
        if cell is None:
            cell = self.queues[node.name].popleft()
            self.on_start(cell)
        cpus = node.resources.get("CPU", 1) / self.rs.cells_per_node
        gpus = 1 if cell.device == "gpu" else 0
        ref = self._task(run_on_node, node, cpus, gpus, self.resources).remote(
            cell.to_dict(), self.timeout_for(cell), os.getcwd())
        self.inflight[ref] = (cell, node, time.monotonic() + self.timeout_for(cell) + ANSWER_GRACE_S)

    def refill(self, name: str) -> bool:
        """Whether node ``name`` has a cell to run: with ``--spread-blocks``, a node whose
        queue is empty takes the next whole block."""
        queue = self.queues[name]
        if not queue and self.blocks:
            queue.extend(self.blocks.popleft())
        return bool(queue)

    def run(self, todo: list[Cell], stop=None) -> None:
        """Every cell of ``todo`` on its node (``--spread-blocks``: each block whole on the
        next free node); once ``stop()`` is true (a spent budget), no further cell is sent,
        and those in flight finish."""
        self.stop = stop or (lambda: False)
        self.queue_up(todo)
        live = self.nodes()
        datasets = sorted({c.dataset for c in todo})
        prepared = {}
        for name, queue in self.queues.items():
            if not queue and not self.blocks:
                continue
            if name not in live and self.rs.spread:
                self.say(f"node {name} is not in the Ray cluster now; the other nodes take its blocks")
                continue
            if name not in live:
                self.lose(name, f"node {name} is not in the Ray cluster now (its nodes: "
                                f"{', '.join(live) or 'none'}); --resume runs these cells when it is back")
                continue
            prepared[name] = self._task(prepare_node, live[name], 1).remote(datasets, self.rs.data_dir)
        for name, ref in prepared.items():
            try:
                got = self.ray.get(ref, timeout=PREPARE_TIMEOUT_S)
            except Exception as exc:  # a Ray, data or timeout error: that node's cells fail
                self.lose(name, f"node {name} could not load and verify the data: {_first_line(exc)}")
                continue
            self.facts[name] = {**got["facts"], "ray": live[name].info()}
            self.say(f"node {name}: data verified ({'; '.join(f'{k} from {v}' for k, v in got['sources'].items())})")
            for _ in range(self.rs.cells_per_node):
                if self.refill(name):
                    self.submit(live[name])
        while self.inflight:
            ready, _ = self.ray.wait(list(self.inflight), num_returns=1, timeout=self.wait_s())
            if not ready:
                self.silent()
                continue
            cell, node, _ = self.inflight.pop(ready[0])
            try:
                got = self.ray.get(ready[0])
            except self.ray.exceptions.RayError as exc:
                self.failed(cell, node, exc)
                continue
            facts = {**self.facts[node.name], "ray": {**node.info(), "node_id": got["node_id"]}}
            self.sink.write(cell, Attempt.from_dict(got["attempt"]), facts, self.timeout_for(cell))
            if not self.stop() and self.refill(node.name):
                self.submit(node)
        if self.blocks and not self.stop():
            self.lose_pool()

    def queue_up(self, todo: list[Cell]) -> None:
        """Each node's queue of cells (its own, or with ``--spread-blocks`` none yet, and the
        blocks in ``self.blocks`` for whichever node is free)."""
        self.blocks = collections.deque()
        if self.rs.spread:
            by_block: dict = {}
            for c in todo:
                by_block.setdefault((c.repeat, c.attempt), []).append(c)
            self.blocks.extend(by_block.values())
            self.queues = {name: collections.deque() for name in self.rs.nodes}
        else:
            self.queues = {name: collections.deque(c for c in todo if c.node == name)
                           for name in self.rs.nodes}

    def lose_pool(self) -> None:
        """Every block no node took, recorded failed: every node sharing them is lost."""
        for block in self.blocks:
            for cell in block:
                self.sink.write(cell, None, {}, self.timeout_for(cell),
                                failed="no node sharing the blocks is left in the Ray cluster; "
                                       "--resume runs the cell again")
        self.blocks.clear()

    def wait_s(self) -> float:
        """Seconds until the first in-flight cell is overdue: its time limit and
        ANSWER_GRACE_S past its submission (a cell ends itself at its limit)."""
        now = time.monotonic()
        return max(0.0, min(due for _, _, due in self.inflight.values()) - now)

    def silent(self) -> None:
        """Every overdue cell recorded failed, and its node's other cells with it: a node, or
        the head, that gives no answer is lost to this run (``--resume`` runs them again)."""
        now = time.monotonic()
        for ref, (cell, node, due) in list(self.inflight.items()):
            if due > now:
                continue
            del self.inflight[ref]
            try:
                self.ray.cancel(ref, force=True)
            except Exception:  # the cluster may be gone: nothing left to cancel
                pass
            reason = (f"node {node.name} gave no answer within {ANSWER_GRACE_S:g} s of the cell's "
                      "time limit (the node or the Ray head is lost); --resume runs the cell again")
            self.sink.write(cell, None, self.facts.get(node.name, {}), self.timeout_for(cell),
                            failed=reason)
            self.lose(node.name, reason)

    def failed(self, cell: Cell, node: Node, exc: BaseException) -> None:
        """A cell whose Ray task failed: retried once while its node lives, else recorded failed
        (and, when the node is gone, every cell it had left)."""
        alive = node.name in self.nodes()
        if alive and cell.key() not in self.retried:
            self.retried.add(cell.key())
            self.say(f"    {cell.label()}: its Ray task failed ({_first_line(exc)}); retrying once")
            self.submit(node, cell)
            return
        what = "was lost mid-cell" if not alive else "failed twice"
        self.sink.write(cell, None, self.facts.get(node.name, {}), self.timeout_for(cell),
                        failed=f"node {node.name} {what} ({_first_line(exc)}); --resume runs "
                               "the cell again")
        if not alive:
            self.lose(node.name, f"node {node.name} left the Ray cluster before this cell ran; "
                                 "--resume runs it when the node is back")
        elif self.refill(node.name):
            self.submit(node)
