"""Throughput against batch size: a real run at two batch sizes, its records, the report's
tables and chart built from them, an out-of-memory cell, and --resume (the Ray executor's
own paths are tests/test_ray.py's)."""

from __future__ import annotations

import math

import pytest

from mnist_bench import specs
from mnist_bench.analysis import report, stats
from mnist_bench.record import store
from mnist_bench.render import plots

from .conftest import run_cli

pytestmark = pytest.mark.slow  # trains 8 cells

OOM = "tests/faulty_specs.py:out_of_memory"
RECIPE = specs.BUILTIN["mlp_100x2"].recipe.batch_size  # 200
SIZES = (RECIPE, 4 * RECIPE)


@pytest.fixture(scope="module")
def batch_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("batches")
    proc = run_cli("run", "--profile", "smoke", "--models", f"mlp_100x2,{OOM}",
                   "--backends", "jax,torch", "--batch-sizes", ",".join(map(str, SIZES)),
                   "--lr-scaling", "linear", "-k", "not (out_of_memory and torch)",
                   "--order-seed", "11", "--out", out, timeout=900)
    return out, proc, store.load(out)


def test_records_carry_the_batch_size_as_planned_and_as_run(batch_run):
    out, proc, recs = batch_run
    assert proc.returncode == 1, proc.stderr[-3000:]  # the out-of-memory cells failed
    trained = [r for r in recs if r["spec"] == "mlp_100x2"]
    assert sorted((r["backend"], r["planned_batch_size"]) for r in trained) == sorted(
        (b, n) for b in ("jax", "torch") for n in SIZES)
    for r in trained:
        assert r["status"] == "ok", r.get("reason")
        assert r["batch_size"] == r["planned_batch_size"] and r["lr_scaling"] == "linear"
        assert r["recipe"]["batch_size"] == RECIPE  # the spec's own recipe, as it defines it
        # the rate the compiled optimizer held: the recipe's, times batch / recipe batch
        want = specs.learning_rate(specs.BUILTIN["mlp_100x2"].recipe) * r["batch_size"] / RECIPE
        assert math.isclose(r["learning_rate"], want, rel_tol=1e-6), (r["learning_rate"], want)
        # FLOPs and steps follow the batch size: 1,024 smoke images are 6 steps at 200, 2 at 800
        assert r["train_samples"] == 1024
    oom = [r for r in recs if r["spec"] == OOM]
    assert sorted(r["planned_batch_size"] for r in oom) == list(SIZES)
    for r in oom:
        assert r["status"] == "failed" and "test_accuracy" not in r
        assert r["reason"].startswith(f"out of memory at batch {r['planned_batch_size']}: "
                                      "cannot allocate"), r["reason"]


def test_the_batch_tables_and_chart_come_from_the_records(batch_run, tmp_path):
    out, proc, recs = batch_run
    rep = report.build(recs)
    # the tables at the recipe's batch size hold only the recipe cells
    main = rep.tidy[rep.tidy.spec == "mlp_100x2"]
    assert sorted(main.backend) == ["jax", "torch"] and set(main.batch_size) == {RECIPE}
    assert not main.throughput_cell.any()

    curves = rep.batches[rep.batches.spec == "mlp_100x2"]
    assert sorted(zip(curves.backend, curves.batch_size)) == sorted(
        (b, n) for b in ("jax", "torch") for n in SIZES)
    for r in curves.itertuples():
        rec = next(x for x in recs if (x["spec"], x["backend"], x.get("batch_size")) ==
                   ("mlp_100x2", r.backend, r.batch_size))
        # (samples/s from a steady epoch: the fixed case in tests/test_timing.py)
        assert r.samples_per_s > 0
        assert r.cell == ("recipe" if r.batch_size == RECIPE else "throughput")
        assert r.host_rss_bytes == rec["peak_host_rss_bytes"] and r.gflops > 0
        assert math.isclose(r.learning_rate, rec["learning_rate"])
    for n in SIZES:  # at each batch size one backend is the fastest, the other against it
        at = curves[curves.batch_size == n]
        assert sorted(at.speed) == ["fastest", "few runs"]
        slower = at[at.speed != "fastest"].iloc[0]
        assert isinstance(slower.vs_fastest, stats.Ratio) and slower.vs_fastest.ratio >= 1
    failed = rep.batches[rep.batches.spec == OOM]
    assert list(failed.batch_size) == list(SIZES) and list(failed.after_stop) == [False, True]
    assert failed.failed.iloc[0].startswith(f"out of memory at batch {RECIPE}")

    knees = rep.knees[rep.knees.spec == "mlp_100x2"]
    assert sorted(knees.backend) == ["jax", "torch"]
    for k in knees.itertuples():
        mine = curves[curves.backend == k.backend]
        assert k.best_samples_per_s == mine.samples_per_s.max()
        assert k.knee_batch in SIZES and k.knee_batch <= k.best_batch
    ranking = rep.ranking[rep.ranking.spec == "mlp_100x2"]
    assert list(ranking.batch_size) == list(SIZES)
    for r in ranking.itertuples():
        at = curves[curves.batch_size == r.batch_size]
        assert r.fastest == at.loc[at.samples_per_s.idxmax()].backend
        assert sorted(r.ranking) == ["jax", "torch"]
    assert ranking.changed.iloc[0] is None
    assert bool(ranking.changed.iloc[1]) == (ranking.fastest.iloc[0] != ranking.fastest.iloc[1])

    tables = (out / "tables.md").read_text()
    assert "### Throughput against batch size" in tables and "### The backend ranking" in tables
    assert f"out of memory at batch {RECIPE}" in tables
    assert "Fastest backend at each batch size" in proc.stdout
    import pandas as pd

    data = pd.read_csv(out / "tables-batch-sizes.csv")  # the curves as data
    assert len(data) == len(rep.batches)
    assert sorted(data[data.spec == "mlp_100x2"].samples_per_s) == sorted(curves.samples_per_s)

    paths = plots.batch_chart(rep.batches, tmp_path / "batch_sizes")
    assert [p.suffix for p in paths] == [".png", ".svg"] and all(p.stat().st_size for p in paths)
    svg = paths[1].read_text()
    assert "<!-- jax -->" in svg and "<!-- torch -->" in svg  # the legend, in the tables' words


def test_a_run_of_throughput_cells_only_still_gets_its_batch_tables(batch_run, tmp_path):
    """A --batch-sizes list without the recipe's batch size (cnn_3conv's is 200, the published
    curves run 128, 512, ...) has no recipe cell: its report is the batch-size tables, not
    "No results"."""
    out, proc, recs = batch_run
    only = [r for r in recs if r["spec"] == "mlp_100x2" and r["planned_batch_size"] != RECIPE]
    assert only and all(r["status"] == "ok" for r in only)
    for r in only:
        store.append(tmp_path, r)
    proc = run_cli("report", tmp_path, "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (tmp_path / "tables.md").read_text()
    assert "No results" not in text, text[:2000]
    assert "every cell here is a throughput cell" in text
    runs = text[text.index("### Runs"):text.index("No cell ran")]
    assert only[0]["run_id"] in runs and "records" in runs, runs  # the run is listed
    assert "### Throughput against batch size" in text and "### The backend ranking" in text
    curve = text[text.index("### Throughput against batch size"):text.index("### Where per-step")]
    rows = [line for line in curve.splitlines() if "mlp_100x2" in line]
    assert len(rows) == 2 and all(f" {4 * RECIPE} |" in line for line in rows), curve


def test_resume_runs_only_the_cells_without_a_result(batch_run):
    out, proc, recs = batch_run
    again = run_cli("run", "--out", out, "--resume", timeout=600)
    assert again.returncode == 1, again.stderr[-3000:]  # the out-of-memory cells fail again
    after = store.load(out)
    assert len(after) == len(recs) + 2  # the two failed cells, nothing measured again
    rerun = after[len(recs):]
    assert sorted((r["spec"], r["planned_batch_size"]) for r in rerun) == [(OOM, n) for n in SIZES]
