"""The whole matrix on the smoke profile, through the CLI, checked record by record."""

import json
import os

import pytest

from mnist_bench import specs
from mnist_bench.analysis import stats, tidy
from mnist_bench.record import schema
from mnist_bench.settings import BACKENDS

from .conftest import run_cli

pytestmark = pytest.mark.slow  # these tests start worker processes

KERAS = [n for n, s in specs.BUILTIN.items() if s.kind == "keras"]
CUSTOM = "examples/custom_spec.py:tiny_cnn"


@pytest.fixture(scope="module")
def recs(smoke_run):
    out, proc, recs = smoke_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    return recs


def by_cell(recs):
    return {(r["spec"], r["backend"]): r for r in recs}


def test_every_spec_ran_on_every_backend(recs):
    cells = by_cell(recs)
    expected = {(s, b) for s in [*KERAS, CUSTOM] for b in BACKENDS} | {("sgd_classifier", "sklearn")}
    assert set(cells) == expected
    assert len(recs) == len(expected)
    bad = {k: r["reason"] for k, r in cells.items() if r["status"] != "ok"}
    assert not bad


def test_records_hold_what_the_schema_promises(recs):
    for r in recs:
        assert r["schema"] == schema.SCHEMA and r["version"] == schema.VERSION
        assert r["profile"] == "smoke" and r["seed"] == 0
        assert 0.0 <= r["test_accuracy"] <= 1.0
        assert r["test_samples"] == 512
        assert r["data_source"]
        assert r["versions"]["python"] and r["versions"]["numpy"] and r["versions"]["scikit-learn"]
        assert r["machine"]["cpu"]["cores"] >= 1 and r["machine"]["cpu"]["model"]
        assert len(r["git"]["commit"] or "") in (0, 40)
        assert r["timestamp"].endswith("+00:00")
        assert r["device"]["kind"] == "cpu"


def test_every_record_accounts_for_its_wall_time_in_phases(recs):
    """cell_wall_s is the parent's spawn-to-exit; the worker's own phases (read on its clock)
    fit inside it, so ``exit``, what is left of the parent's time, is never negative, and the
    training phase holds every epoch's clock."""
    for r in recs:
        ph = r["phases"]
        assert {"start", "imports", "data", "build", "training", "probes" if r["backend"] != "sklearn"
                else "training", "inference", "exit"} <= set(ph), (r["spec"], r["backend"], ph)
        assert all(v is not None and v >= 0 for v in ph.values()), ph
        # the worker's own phases fit in the parent's spawn-to-exit time (``exit`` is the
        # remainder, clamped at 0, so it would hide a worker clock running past the parent's)
        assert sum(v for k, v in ph.items() if k != "exit") <= r["cell_wall_s"] * 1.001, ph
        assert ph["training"] >= sum(r["epoch_s"]) * 0.999  # the epochs' clocks are inside it


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_seeding_a_cell_does_not_import_tensorflow(backend):
    """keras.utils.set_random_seed imports TensorFlow whenever it is installed (seconds, and
    its thread pools beside the framework measured); the cell's seeding does not, and seeds
    what it does: the same draws after the same seed."""
    import subprocess
    import sys

    code = ("import sys, keras, numpy as np, random\n"
            "from mnist_bench.cells.common import seed_everything\n"
            "seed_everything(keras, 7); a = (random.random(), np.random.rand(), float(keras.random.uniform(())))\n"
            "seed_everything(keras, 7); b = (random.random(), np.random.rand(), float(keras.random.uniform(())))\n"
            "print(a == b, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "KERAS_BACKEND": backend}, timeout=300)
    assert out.stdout.split() == ["True", "False"], out.stdout + out.stderr[-2000:]


def test_keras_records_keep_compile_epoch_apart(recs):
    for r in recs:
        if r["backend"] == "sklearn":
            continue
        assert r["versions"]["keras"]
        ends = [p for p in r["curve"] if not p.get("within_epoch")]
        assert r["epochs"] is None and r["epochs_planned"] == 2 and len(r["epoch_s"]) == 2 and len(ends) == 2
        assert all(t > 0 for t in r["epoch_s"])
        # one fit() call: the clocked training inside each epoch's wall time, the evaluation
        # apart, and the spans never add up to more than the call (no second counted twice)
        assert all(0 < t <= w for t, w in zip(r["epoch_s"], r["epoch_wall_s"]))
        assert len(r["eval_s"]) == 2 and all(e > 0 for e in r["eval_s"])
        assert r["fit_unaccounted_s"] >= 0 and r["fit_setup_s"] >= 0
        # points inside the epoch that reached the target: in order, inside that epoch
        assert [p["train_s"] for p in r["curve"]] == sorted(p["train_s"] for p in r["curve"])
        assert [p["epoch"] for p in r["curve"]] == sorted(p["epoch"] for p in r["curve"])
        assert r["inference_samples_per_s"] > 0
        assert r["import_s"] > 0
        assert isinstance(r["jit_compile"], bool) and r["steps_per_execution"] == 1
        assert r["jit_compile"] == (r["backend"] == "jax")  # Keras's "auto" on the CPU


def test_recipes_are_followed(recs):
    cells = by_cell(recs)
    for name in KERAS:
        for b in BACKENDS:
            r = cells[(name, b)]
            recipe = specs.BUILTIN[name].recipe
            assert r["batch_size"] == recipe.batch_size
            assert r["dataset"] == recipe.dataset
            assert r["recipe"]["optimizer"] == recipe.optimizer
    # the 000 recipe holds out 10% for validation; the rest train on the whole slice
    assert cells[("linear_sgd", "jax")]["train_samples"] == 921
    assert cells[("linear_sgd", "jax")]["curve_on"] == "validation"
    assert cells[("mlp_512", "torch")]["train_samples"] == 1024
    # parameter counts the sources printed, the same on every backend
    for name, params in (("cnn_3conv", 61514), ("fmnist_mlp_20", 15910),
                         ("fmnist_mlp_50x2_dropout", 42310), ("linear_rmsprop", 7850),
                         ("mlp_100x2", 89610)):
        assert {cells[(name, b)]["params"] for b in BACKENDS} == {params}


def test_models_learn_something(recs):
    # 2 epochs on 1,024 images: far from the seeds' figures, but well above chance (0.1)
    for r in recs:
        if r["spec"] not in ("linear_sgd",):  # SGD at lr 1e-3 barely moves in 32 steps
            assert r["test_accuracy"] > 0.3, (r["spec"], r["backend"], r["test_accuracy"])


def test_baseline_record(recs):
    r = by_cell(recs)[("sgd_classifier", "sklearn")]
    assert r["train_samples"] == 768 and r["split_samples"] == 256  # the seed's 75/25 split
    assert 1 <= r["epochs_run"] <= 200
    assert r["test_accuracy"] > 0.6 and r["split_accuracy"] > 0.6


def test_run_writes_tables(smoke_run):
    out, proc, recs = smoke_run
    md = (out / "tables.md").read_text()
    for name in [*KERAS, "sgd_classifier", "custom_spec:tiny_cnn"]:
        assert name in md
    assert CUSTOM not in md  # the user spec's row is labelled by file stem and builder
    for col in ("tensorflow acc", "jax epoch s", "torch samples/s", "jax 1st epoch s", "vs fastest"):
        assert col in md
    # the main job ends with its decisions in short lines and where every table is, not the tables
    assert "Which backend" in proc.stdout and "|" not in proc.stdout
    assert all(name in proc.stdout for name in KERAS)
    assert max(len(line) for line in proc.stdout.splitlines()) < 160
    assert f"every table: {out / 'tables.md'}" in proc.stderr
    table = json.loads((out / "tables.json").read_text())
    assert len(table) == len(recs)
    # one run per backend: no speed verdict and no interval anywhere, only "not enough runs"
    speeds = {row["speed"] for row in table if row["backend"] != "sklearn"}
    assert speeds == {"fastest", stats.FEW}
    assert all(row["vs_fastest_low"] is None for row in table)
    assert "p=" not in md and "faster" not in md.replace("fastest", "")
    assert "(n=1)" in md


def test_report_rebuilds_the_same_tables(smoke_run, tmp_path):
    out, _, recs = smoke_run
    proc = run_cli("report", out, "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "tables.md").read_text() == (out / "tables.md").read_text()
    assert tidy.tidy(recs).shape[0] == len(recs)


def test_records_follow_the_recorded_plan(smoke_run):
    """Every record names its run, block, place and canary, in the order run.json replans."""
    from mnist_bench import plan

    out, _, recs = smoke_run
    assert len({r["run_id"] for r in recs}) == 1 and len({r["order_seed"] for r in recs}) == 1
    assert all(r["block"] == 0 and r["canary_s"] > 0 for r in recs)
    # in the order they were measured (written), not the order they claim
    ran = [(r["spec"], r["backend"]) for r in sorted(recs, key=lambda r: r["timestamp"])]
    planned = [(c.spec, c.backend) for c in plan.plan(plan.load_plan(out))]
    assert ran == planned
