"""Regression tests for defects found in review, each provoked as a user meets it: through the
command line, on record stores written as plain JSON lines (no package API), so each test
means the same against any version of the package."""

from __future__ import annotations

import contextlib
import io
import json
import re

import pytest

from .conftest import run_cli


def rec(spec="mlp_512", backend="jax", block=0, mean=1.0, **fields) -> dict:
    """A valid record of one run of a cell whose steady epochs sit at ``mean`` seconds."""
    r = {"schema": "mnist-bench/record", "version": 1, "timestamp": "2026-01-01T00:00:00+00:00",
         "spec": spec, "backend": backend, "dataset": "mnist", "profile": "quick", "seed": block,
         "epochs": None, "mode": "default", "repeat": block, "block": block,
         "device_requested": "cpu", "data_dir": None, "status": "ok", "run_id": "run-1",
         "test_accuracy": 0.97, "train_samples": 60000,
         "epoch_s": [2 * mean, mean * (1 + 0.01 * block), mean * (1 - 0.01 * block)],
         "steady_epoch_s": mean, "jit_compile": False, "steps_per_execution": 1}
    r.update(fields)
    return r


def write(path, records) -> str:
    path.mkdir(parents=True, exist_ok=True)
    (path / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def main(*argv) -> tuple[int, str, str]:
    """The CLI in this process (for tests that change this process's environment)."""
    from mnist_bench import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def test_compare_counts_every_run_of_a_store_that_holds_two_runs(tmp_path):
    """Defect 1: two runs with the same seeds in one store are six runs, not three."""
    runs = [rec(backend=b, block=k, mean=m, run_id=run)
            for run in ("run-1", "run-2") for k in range(3)
            for b, m in (("jax", 1.0 + 0.05 * k), ("torch", 2.0))]
    store = write(tmp_path / "two-runs", runs)
    proc = run_cli("compare", store, store)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if "| mlp_512" in line]
    assert len(rows) == 2 and all("| 6/6 " in line for line in rows), proc.stdout


def test_compare_on_a_cluster_store_keys_each_node_apart(tmp_path):
    """Defect 2: a store of one run on two Ray nodes: compare must not crash, and sets each
    node's cells against the same node's."""
    runs = [rec(block=k, mean=m, node=node) for node, m in (("node-a", 1.0), ("node-b", 3.0))
            for k in range(3)]
    store = write(tmp_path / "cluster", runs)
    proc = run_cli("compare", store, store)
    assert proc.returncode == 0 and "internal error" not in proc.stderr, proc.stderr
    assert re.search(r"node-a .*\| ok", proc.stdout) and re.search(r"node-b .*\| ok", proc.stdout)


def test_report_renders_records_without_the_optional_steps_per_execution(tmp_path):
    """Defect 3: a valid record may lack steps_per_execution; the mode table must still render."""
    runs = [{k: v for k, v in rec(block=k, mode=mode).items() if k != "steps_per_execution"}
            for k in range(3) for mode in ("default", "tuned")]
    proc = run_cli("report", write(tmp_path / "modes", runs))
    assert proc.returncode == 0, proc.stderr
    assert "Each mode against the default mode" in proc.stdout
    assert "steps/exec=?" in proc.stdout


def test_a_report_of_skipped_cells_gives_their_reasons(tmp_path):
    """Defect 4a: every cell skipped: the report says why, not just "No records."."""
    skipped = [rec(backend=b, status="skipped", reason=f"{b} is not installed in this Python")
               for b in ("jax", "torch")]
    for r in skipped:
        for k in ("test_accuracy", "train_samples", "epoch_s", "steady_epoch_s"):
            r.pop(k)
    proc = run_cli("report", write(tmp_path / "skipped", skipped))
    assert proc.returncode == 0, proc.stderr
    assert "jax is not installed in this Python" in proc.stdout
    assert "torch is not installed in this Python" in proc.stdout


def test_a_run_that_measured_nothing_exits_non_zero(tmp_path, monkeypatch, mnist):
    """Defect 4b: a run whose every cell was skipped (its backend missing here) measured
    nothing: it exits 1 and says why."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "jax" else real(name, *a, **k))
    code, out, err = main("run", "--profile", "smoke", "--models", "mlp_512", "--backends", "jax",
                          "--out", tmp_path / "none")
    assert code == 1, out + err
    assert "jax is not installed" in out + err


@pytest.mark.slow
def test_an_error_with_an_empty_message_is_recorded_as_the_error(tmp_path):
    """Defect 5a: a spec raising an expected error with no message: the cell is failed with
    the error's name, not an IndexError inside the worker."""
    spec = tmp_path / "silent.py"
    spec.write_text("from mnist_bench.errors import MnistBenchError\n\n\n"
                    "def build():\n    raise MnistBenchError('')\n")
    out = tmp_path / "out"
    proc = run_cli("run", "--profile", "smoke", "--models", f"{spec}:build", "--backends", "jax",
                   "--out", out, timeout=600)
    assert proc.returncode == 1
    (r,) = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert r["status"] == "failed" and "IndexError" not in r["reason"], r["reason"]
    assert "MnistBenchError" in r["reason"]


def test_a_mistyped_download_timeout_is_named(tmp_path, monkeypatch):
    """Defect 5b: MNIST_BENCH_TIMEOUT=abc is a bad setting, not "download unavailable"."""
    from mnist_bench import data
    from mnist_bench.errors import MnistBenchError

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # an empty cache: the download is next
    monkeypatch.delenv("MNIST_BENCH_NO_DOWNLOAD", raising=False)
    monkeypatch.setenv("MNIST_BENCH_TIMEOUT", "abc")
    with pytest.raises(MnistBenchError, match="MNIST_BENCH_TIMEOUT='abc' is not a number of seconds"):
        data.load("mnist")


def _plan(out, **change):
    plan = {"specs": ["sgd_classifier"], "backends": ["jax"], "dataset": None, "profile": "smoke",
            "seed": 0, "epochs": None, "device": "cpu", "modes": ["default"], "impls": ["keras"],
            "repeats": 1, "data_dir": None, "order_seed": 1, "run_id": "run-1",
            "executor": "local", "ray_address": None, "ray_resources": [], "cells_per_node": 1,
            "nodes": [], **change}
    out.mkdir(parents=True, exist_ok=True)
    (out / "run.json").write_text(json.dumps(plan))


def test_resume_refuses_options_it_would_ignore(tmp_path):
    """Defect 6a: --resume takes the run's settings from run.json; another run option given
    with it is refused in one line, not silently ignored."""
    _plan(tmp_path / "run")
    proc = run_cli("run", "--out", tmp_path / "run", "--resume", "--models", "mlp_512")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--models cannot be given with it" in lines[0], proc.stderr
    assert not (tmp_path / "run" / "records.jsonl").exists()


@pytest.mark.slow
def test_cell_timeout_is_saved_for_resume(tmp_path, mnist):
    """Defect 6b: --cell-timeout is part of the run's settings (run.json), so --resume keeps it."""
    out = tmp_path / "run"
    proc = run_cli("run", "--profile", "smoke", "--models", "sgd_classifier", "--cell-timeout", "77",
                   "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "run.json").read_text())["cell_timeout_s"] == 77


def test_resume_counts_only_its_own_runs_records(tmp_path):
    """--resume after another run wrote the same cells into the folder: those are not this
    run's, so they are not "already complete"."""
    out = tmp_path / "run"
    _plan(out, run_id="mine")
    write(out, [rec("sgd_classifier", "sklearn", run_id="someone-else", order_seed=1,
                    profile="smoke", impl="keras", position=0, node=None)])
    from mnist_bench.record import store

    assert store.complete_keys(store.load(out), "mine") == set()
    assert store.complete_keys(store.load(out), "someone-else")


def test_compare_pairs_throughput_cells_at_their_own_batch_size(tmp_path):
    """compare left out the throughput cells of --batch-sizes: each is now set against the
    other side's cell at the same batch size, never against the recipe's."""
    def side(run, slow_at_512):
        return [rec(backend="jax", block=k, run_id=run, planned_batch_size=n, batch_size=n,
                    mean=(1.0 if n == 128 else 0.5 * slow_at_512))
                for k in range(3) for n in (128, 512)]

    old = write(tmp_path / "old", side("run-1", 1.0))
    new = write(tmp_path / "new", side("run-2", 1.6))
    proc = run_cli("compare", old, new, "--json")
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the 512 cell regressed
    cells = {c["batch_size"]: c for c in json.loads(proc.stdout)["cells"]}
    assert sorted(cells) == [128, 512]
    assert cells[512]["slower"] and cells[512]["ratio"]["ratio"] == pytest.approx(1.6, rel=0.02)
    assert not cells[128]["regression"] and cells[128]["ratio"]["ratio"] == pytest.approx(1.0, abs=1e-9)
    md = run_cli("compare", old, new)
    row = next(line for line in md.stdout.splitlines() if " 512 | " in line)
    assert "slower" in row, md.stdout
    # NEW without the 512 cells lacks a cell OLD has
    only = write(tmp_path / "only-128", [r for r in side("run-3", 1.0) if r["batch_size"] == 128])
    proc = run_cli("compare", old, only)
    assert proc.returncode == 1 and "NEW lacks 1 cell(s)" in proc.stderr + proc.stdout


def test_compare_json_names_both_variants_of_each_replicated_pair(tmp_path):
    """compare --json used to drop the variants from replication.pairs: "jax vs tensorflow" and
    "jax vs torch" shared one key with different verdicts. Each pair now names a and b, and the
    document its schema and version."""
    runs = [rec(backend=b, block=k, mean=m * (1 + 0.01 * k))
            for k in range(3) for b, m in (("jax", 1.0), ("torch", 2.0), ("tensorflow", 1.02))]
    store = write(tmp_path / "s", runs)
    code, out, err = main("compare", store, store, "--json")
    doc = json.loads(out)
    assert doc["schema"] == "mnist-bench/compare" and doc["version"] == 2
    pairs = doc["replication"]["pairs"]
    keys = [(p["table"], p["comparison"], p["a"], p["b"]) for p in pairs]
    assert len(set(keys)) == len(keys) >= 2, pairs
    against = {frozenset((p["a"], p["b"])): p["old"] for p in pairs if p["table"] == pairs[0]["table"]}
    assert {"jax", "torch"} in [set(k) for k in against] and {"jax", "tensorflow"} in [set(k) for k in against]


def test_compare_of_two_machines_ends_saying_why_it_failed(tmp_path):
    """Two machines share no cell: no canary line setting one machine against the other, and
    the last line names the machines and why nothing is paired."""
    def side(name, mean):
        return write(tmp_path / name, [rec(block=k, mean=mean, machine={"name": name},
                                           canary_s=0.05 * mean) for k in range(3)])
    code, out, err = main("compare", side("box-a", 1.0), side("box-b", 2.0))
    lines = err.strip().splitlines()
    assert code == 1 and not any("drift canary" in line for line in lines), err
    assert "box-a" in lines[-1] and "box-b" in lines[-1] and "never paired" in lines[-1], err


def test_compare_calls_a_decided_improvement_faster(tmp_path):
    old = write(tmp_path / "old", [rec(block=k, mean=2.0 * (1 + 0.01 * k)) for k in range(3)])
    new = write(tmp_path / "new", [rec(block=k, mean=1.0 * (1 + 0.01 * k)) for k in range(3)])
    code, out, err = main("compare", old, new)
    row = next(line for line in out.splitlines() if "| mlp_512" in line)
    assert code == 0 and row.rstrip(" |").endswith("faster"), row


def test_compare_names_no_implementation_for_the_baseline(tmp_path):
    runs = [rec(spec="sgd_classifier", backend="sklearn", block=k, mean=5.0) for k in range(3)]
    store = write(tmp_path / "s", runs)
    code, out, err = main("compare", store, store)
    row = next(line for line in out.splitlines() if "| sgd_classifier" in line)
    assert "keras" not in row, row
