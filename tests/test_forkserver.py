"""Cells forked from one pre-imported server (``execute.forkserver``): each in a process of its
own that starts from the state no cell has touched, and a server that cannot start or serve
costs the cell nothing but the fresh interpreter it would have had."""

from __future__ import annotations

import json
import os
import sys

import pytest

from mnist_bench import envvars
from mnist_bench.execute import forkserver, process
from mnist_bench.settings import Cell

SPEC = "tests/isolation_specs.py:leaky"


def _seen(outcome) -> dict:
    assert outcome.result is not None, (outcome.error, outcome.tail)
    lines = [x for x in outcome.tail if x.startswith("SEEN ")]
    assert len(lines) == 1, outcome.tail
    return {**json.loads(lines[0][5:]), "started": outcome.result["worker_start"]}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])
def test_two_cells_forked_from_one_server_cannot_see_each_other(backend, monkeypatch):
    monkeypatch.setenv(envvars.WORKER_START, "fork")
    cell = Cell(spec=SPEC, backend=backend, dataset="mnist", profile="smoke", seed=0)
    first, second = (_seen(process.run_worker(cell, timeout_s=300)) for _ in range(2))
    assert first["started"] == second["started"] == "fork server"
    assert first["parent"] == second["parent"] != os.getpid()  # one server forked both
    assert first["pid"] != second["pid"]
    # the second found what the first found: no layer counted, no module state, no compiled
    # function, Keras's settings and NumPy's global generator as the server left them
    for key in ("uid", "layer", "epsilon", "module_state", "compiled", "numpy_draw"):
        assert first[key] == second[key], (key, first, second)
    assert first["uid"] == 1 and first["layer"] == "dense" and first["module_state"] is None
    monkeypatch.setenv(envvars.WORKER_START, "spawn")
    spawned = _seen(process.run_worker(cell, timeout_s=300))
    assert spawned["started"] == "fresh interpreter" and spawned["parent"] == os.getpid()
    assert (spawned["uid"], spawned["layer"], spawned["module_state"]) == (1, "dense", None)


def test_a_server_that_cannot_start_leaves_the_cell_to_a_fresh_interpreter(monkeypatch, capsys):
    monkeypatch.setenv(envvars.WORKER_START, "fork")
    env = {"KERAS_BACKEND": "jax", "MNIST_BENCH_TEST_KEY": "a server that dies"}
    broken = [sys.executable, "-c", "import sys; print('no imports here'); sys.exit(3)"]
    try:
        assert forkserver.server_for(env, broken) is None
        assert "did not answer" in capsys.readouterr().err
        assert forkserver.server_for(env, process.worker_command()) is None  # not tried again
    finally:
        forkserver.forget(env)


def test_an_unknown_worker_start_is_refused_in_one_line(monkeypatch):
    monkeypatch.setenv(envvars.WORKER_START, "thread")
    with pytest.raises(envvars.EnvError, match="valid: fork, spawn"):
        envvars.check_all()


@pytest.mark.slow  # imports two frameworks
def test_a_run_starts_its_backends_servers_side_by_side_before_the_first_cell(monkeypatch):
    monkeypatch.setenv(envvars.WORKER_START, "fork")
    monkeypatch.setenv("MNIST_BENCH_TEST_KEY", "side by side")  # servers of this test only
    cells = [Cell(spec="mlp_512", backend=b, dataset="mnist") for b in ("jax", "torch", "jax")]
    envs = [process.worker_env(c) for c in cells[:2]]
    # as many servers as may live are there already (earlier runs', failed ones): the least
    # recently used make room
    from collections import OrderedDict

    monkeypatch.setattr(forkserver, "_servers", OrderedDict(
        ((("old", str(k)),), "a server that failed") for k in range(forkserver.MAX_SERVERS)))
    try:
        process.prestart(cells)
        assert len(forkserver._servers) == forkserver.MAX_SERVERS
        jax, torch = (forkserver._servers[forkserver._key(e)] for e in envs)
        assert isinstance(jax, forkserver.Server) and isinstance(torch, forkserver.Server)
        assert jax.alive() and torch.alive()
        # the second started before the first was ready: their imports overlapped
        assert torch.started < jax.ready_at and jax.started < torch.ready_at
        # the first cell of each backend then forks from its server (none started again)
        assert forkserver.server_for(envs[0], process.worker_command()) is jax
    finally:
        for e in envs:
            forkserver.forget(e)
