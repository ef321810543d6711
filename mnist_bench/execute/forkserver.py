"""Cells forked from a pre-imported interpreter: a cell's fixed cost without its imports.

A fresh worker interpreter spends 3-5 s on 2 cores importing Keras and its backend before the
cell does anything. A fork server is one interpreter per backend and environment that imports
them once (``worker.preload``: no device, no framework thread pool started) and then forks one
child per cell, so each cell still runs in a process of its own, started from a state no cell
has touched: whatever a cell changes (seeds, Keras's global state and layer names, compiled
functions, memory) dies with its child, and the next cell starts from the server's state again.

The server serves one cell at a time over a Unix socket (``SOCK_SEQPACKET``, one message each):
a request carries the cell, its environment and working directory, and the two write ends its
output and events go to; the server forks, answers the child's pid, waits for it and answers
its exit status. The child is a session of its own (killed whole on a time-out, as a spawned
worker is) and dies with the server, which dies with the harness.

``MNIST_BENCH_WORKER_START=spawn`` turns it off (``envvars.WORKER_START``); a server that cannot start, or that finds a
device or a framework's threads started before a fork (``worker.preload`` did more than
import), is not used, and the cell is spawned as before. Each record says which
(``worker_start``).
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict

from .. import envvars
from ..measure import phases
from ..measure.environment import SPEED_ENV
from ..worker import FORKED_ENV, PARENT_ENV
from . import protocol

READY_LIMIT_S = 180.0  # a server's imports; past it the cell is spawned instead
REPLY_LIMIT_S = 30.0  # the server's answer to a request, and its report of a killed child
MAX_MSG = 1 << 20
VOLATILE = (PARENT_ENV, protocol.EVENTS_FD, phases.SPAWNED_ENV)  # each cell's own

_servers: OrderedDict = OrderedDict()


def enabled() -> bool:
    return (envvars.worker_start() == "fork" and hasattr(os, "fork")
            and hasattr(socket, "send_fds") and sys.platform.startswith("linux"))


# what a server's imports may read from the environment: a cell whose values differ needs a
# server of its own; the rest of its environment is the child's own (set after the fork)
KEYED = (*SPEED_ENV, "KERAS_", "PYTHON", "LD_", "MNIST_BENCH_", "HIP_", "ROCR_")
UNKEYED = (*VOLATILE, "KMP_DUPLICATE_LIB_OK")  # threadpoolctl sets it in the harness on import
MAX_SERVERS = 4  # the least recently used one goes beyond this (one per backend is the rule)


def _key(env: dict) -> tuple:
    return tuple(sorted((k, v) for k, v in env.items()
                        if k.startswith(KEYED) and k not in UNKEYED))


class ServerError(RuntimeError):
    """The server cannot serve this cell; it is spawned instead."""


class Server:
    """The harness's side of one fork server."""

    def __init__(self, env: dict, command: list[str], wait: bool = True):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        self.log = tempfile.TemporaryFile()  # its imports' output, for the reason it failed
        env = {k: v for k, v in env.items() if k not in VOLATILE}
        env[PARENT_ENV] = str(os.getpid())
        try:
            self.proc = subprocess.Popen(
                [*command, "--serve", str(theirs.fileno())], pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True)
        finally:
            theirs.close()
        self.started = time.monotonic()
        self.ready = None
        if wait:
            self.wait_ready()

    def wait_ready(self) -> "Server":
        """Wait (at most READY_LIMIT_S from its start) for its imports to finish."""
        if self.ready is None:
            left = max(0.0, READY_LIMIT_S - (time.monotonic() - self.started))
            self.ready = self._reply(left, "its imports")
            self.ready_at = time.monotonic()
            if "refused" in self.ready:
                self.close()
                raise ServerError(self.ready["refused"])
        return self

    def _reply(self, limit: float, what: str) -> dict:
        ready, _, _ = select.select([self.sock], [], [], limit)
        msg = self.sock.recv(MAX_MSG) if ready else b""
        if not msg:
            self.close()
            self.log.seek(0)
            tail = self.log.read()[-400:].decode(errors="replace").strip().splitlines()
            raise ServerError(f"the fork server ended or did not answer within {limit:g} s "
                              f"({what})" + (f": {tail[-1]}" if tail else ""))
        return json.loads(msg)

    def fork(self, cell_json: str, env: dict, cwd: str, out_w: int, events_w: int) -> "Forked":
        """A child running ``cell_json`` with ``env`` in ``cwd``, its stdout and stderr on
        ``out_w`` and its events on ``events_w``."""
        request = json.dumps({"cell": cell_json, "env": env, "cwd": cwd}).encode()
        try:
            socket.send_fds(self.sock, [request], [out_w, events_w])
        except OSError as exc:
            self.close()
            raise ServerError(f"the fork server is gone ({exc})") from exc
        reply = self._reply(REPLY_LIMIT_S, "the fork")
        if "refused" in reply:
            raise ServerError(reply["refused"])
        return Forked(self, reply["pid"])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()


class Forked:
    """A forked worker as ``process.run_worker`` uses a ``subprocess.Popen``."""

    def __init__(self, server: Server, pid: int):
        self.server, self.pid, self.returncode = server, pid, None

    def poll(self) -> int | None:
        if self.returncode is None:
            ready, _, _ = select.select([self.server.sock], [], [], 0)
            if ready:
                self._read_exit(0)
        return self.returncode

    def wait(self) -> int:
        if self.returncode is None:
            self._read_exit(REPLY_LIMIT_S)
        return self.returncode

    def _read_exit(self, limit: float) -> None:
        try:
            self.returncode = self.server._reply(limit, "the child's exit")["exit"]
        except ServerError:  # the server died with it: the child is gone too
            self.returncode = -signal.SIGKILL


def server_for(env: dict, command: list[str]) -> Server | None:
    """The live server for ``env``, started if need be; None when forking is off or the
    server cannot start (the reason is printed once)."""
    if not enabled():
        return None
    key = _key(env)
    server = _servers.get(key)
    if server is not None:
        _servers.move_to_end(key)
        if not isinstance(server, Server):
            return None  # it failed before: spawn
        if server.alive():
            return server
    _make_room(1)
    try:
        _servers[key] = Server(env, command)
    except (ServerError, OSError) as exc:
        _servers[key] = str(exc)
        print(f"mnist-bench: cells of this backend start fresh interpreters: {exc}", file=sys.stderr)
        return None
    return _servers[key]


def prestart(envs: list[dict], command: list[str]) -> None:
    """Start the servers of ``envs`` that are not running yet side by side, so that their
    imports overlap (on 2 cores, TensorFlow's, JAX's and PyTorch's together take about half
    their sum), and wait until each is ready or has failed: called before a run's first
    cell, so no import overlaps a measured cell. At most MAX_SERVERS."""
    if not enabled():
        return
    new = {}
    for env in envs:
        if _key(env) not in _servers:
            new.setdefault(_key(env), env)
    new = dict(list(new.items())[:MAX_SERVERS])
    _make_room(len(new))
    starting = []
    for key, env in new.items():
        try:
            starting.append((key, Server(env, command, wait=False)))
        except OSError as exc:
            _servers[key] = str(exc)
    for key, server in starting:
        try:
            _servers[key] = server.wait_ready()
        except ServerError as exc:
            _servers[key] = str(exc)
            print(f"mnist-bench: cells of this backend start fresh interpreters: {exc}",
                  file=sys.stderr)


def _make_room(n: int) -> None:
    """Close the least recently used servers until ``n`` more fit under MAX_SERVERS."""
    while _servers and len(_servers) + n > MAX_SERVERS:
        old = _servers.popitem(last=False)[1]
        if isinstance(old, Server):
            old.close()


def forget(env: dict) -> None:
    """Stop using the server for ``env`` (it failed a request): later cells spawn."""
    server = _servers.get(_key(env))
    if isinstance(server, Server):
        server.close()
    _servers[_key(env)] = "it failed a request"


@atexit.register
def close_all() -> None:
    for server in list(_servers.values()):
        if isinstance(server, Server):
            server.close()
    _servers.clear()


# -- the server's side -------------------------------------------------------------------
def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


def serve(fd: int) -> None:
    """The server: preload, say it is ready, then fork one child per request until the
    harness closes the socket."""
    from .. import worker

    worker.die_with_parent()
    sock = socket.socket(fileno=fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the harness handles an interrupt
    worker.preload()
    threads = _threads()  # the BLAS pools' idle threads: fork-safe, and no more may appear
    sock.send(json.dumps({"pid": os.getpid(), "threads": threads}).encode())
    while True:
        msg, fds, _, _ = socket.recv_fds(sock, MAX_MSG, 2)
        if not msg:
            os._exit(0)
        now = _threads()
        unsafe = worker.started_devices() or (
            f"{now} threads, {threads} after its imports" if now > threads else None)
        if unsafe or len(fds) != 2:
            for f in fds:
                os.close(f)
            sock.send(json.dumps({"refused": f"not safe to fork: {unsafe or 'no pipes'}"}).encode())
            continue
        pid = os.fork()
        if pid == 0:
            _child(sock, json.loads(msg), fds)
        for f in fds:
            os.close(f)
        sock.send(json.dumps({"pid": pid}).encode())
        _, status = os.waitpid(pid, 0)
        sock.send(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode())


def _child(sock, request: dict, fds: list[int]) -> None:
    """In the forked child: become the cell's worker process, then run the cell."""
    from .. import worker

    code = 1
    try:
        sock.close()
        os.setsid()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        out_w, events_w = fds
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_w, 1)
        os.dup2(out_w, 2)
        os.close(null)
        os.close(out_w)
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - the child's streams
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ[protocol.EVENTS_FD] = str(events_w)
        os.environ[PARENT_ENV] = str(os.getppid())
        os.environ[FORKED_ENV] = "1"
        os.chdir(request["cwd"])
        code = worker.main([request["cell"]])
    except BaseException:  # noqa: BLE001 - the child must never return into the server's loop
        import traceback

        traceback.print_exc()
    finally:
        worker.finish(code)
