"""Shared fixtures. Every test uses the real data (small slices of it) and real processes."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_bench import cli, data
from mnist_bench.execute import local
from mnist_bench.record import store

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args, timeout: float = 1200, env: dict | None = None, cwd=ROOT):
    """Run ``python -m mnist_bench ARGS`` as a user would; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "mnist_bench", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="session")
def mnist():
    return data.load("mnist")


@pytest.fixture(scope="session")
def fashion():
    return data.load("fashion_mnist")


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """The whole default matrix plus a user spec on the smoke profile, run once through the CLI."""
    out = tmp_path_factory.mktemp("smoke")
    specs = "linear_sgd,linear_rmsprop,mlp_100x2,cnn_3conv,sgd_classifier,mlp_512,fmnist_mlp_20," \
            "fmnist_mlp_50x2_dropout,mlp_256x4,examples/custom_spec.py:tiny_cnn"
    proc = run_cli("run", "--profile", "smoke", "--models", specs, "--out", out)
    return out, proc, store.load(out)


# ---- the command line in this process (tests/test_fault_classes.py, tests/test_cli.py) -------

class Reached(BaseException):
    """The run got past every check to its first cell (raised by the stand-in executor)."""

    def __init__(self, cells):
        super().__init__(len(cells))
        self.cells = cells


@pytest.fixture
def stop_at_work(monkeypatch):
    """An executor that stops at the first cell."""
    def stop(self, cells, stop=None):
        raise Reached(list(cells))

    monkeypatch.setattr(local.LocalExecutor, "run", stop)


@pytest.fixture
def no_work(stop_at_work, monkeypatch):
    """And data that is never read."""
    from types import SimpleNamespace

    import mnist_bench.data

    monkeypatch.setattr(mnist_bench.data, "load", lambda name, data_dir=None: SimpleNamespace(source="stand-in"))


def main(*argv, env: dict | None = None, monkeypatch=None):
    """(exit status or "reached", stdout, stderr, the cells that would have run)."""
    out, err = io.StringIO(), io.StringIO()
    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v) if v is not None else monkeypatch.delenv(k, raising=False)
    cells = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main([str(a) for a in argv])
        except Reached as reached:
            code, cells = "reached", reached.cells
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue(), cells


def refused(code, err, *words):
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("mnist-bench: error: "), err
    assert "internal error" not in err and "Traceback" not in err
    for w in words:
        assert w in lines[0], lines[0]
