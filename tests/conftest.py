"""Shared fixtures. Every test uses the real data (small slices of it) and real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_bench import data
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
