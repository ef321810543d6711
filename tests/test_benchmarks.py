"""The pytest-benchmark suite: collects every spec, runs on each backend, and its JSON feeds
the same tables as the harness's records."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_bench import specs
from mnist_bench.record import sources
from mnist_bench.analysis import tidy
from mnist_bench.settings import BACKENDS

from .conftest import ROOT, run_cli

RUN_MODELS = "mlp_512,linear_rmsprop,fmnist_mlp_20"  # cnn_3conv left out: 40 s of JAX convs


def pytest_run(backend, *args, timeout=900):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks", "-p", "no:cacheprovider", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "KERAS_BACKEND": backend})


def test_suite_collects_every_keras_spec():
    proc = pytest_run("jax", "--collect-only", "-q", "--mnist-bench-baseline")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in specs.KERAS_SPECS:
        assert f"test_train_epoch[{name}-jax]" in proc.stdout
    assert "test_baseline_fit" in proc.stdout


@pytest.fixture(scope="module")
def bench_json(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    proc = run_cli("bench", "--out", out, "--", "--mnist-bench-profile", "smoke",
                   "--mnist-bench-rounds", "1", "--mnist-bench-models", RUN_MODELS)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, {b: json.loads((out / f"{b}.json").read_text()) for b in BACKENDS}


@pytest.mark.slow  # trains
def test_each_backend_writes_json_with_extra_info(bench_json):
    _, docs = bench_json
    for backend, doc in docs.items():
        info = doc["machine_info"]["mnist_bench"]
        assert info["backend"] == backend and info["device"]["kind"] == "cpu"
        assert info["versions"]["keras"] and info["versions"]["numpy"] and info["versions"]["scikit-learn"]
        names = {b["extra_info"]["spec"] for b in doc["benchmarks"]}
        expected = set(RUN_MODELS.split(","))
        assert names == (expected | {"sgd_classifier"} if backend == BACKENDS[0] else expected)
        for b in doc["benchmarks"]:
            x = b["extra_info"]
            assert b["stats"]["rounds"] == 1  # the compiling epoch was a warm-up, not counted
            for key in ("dataset", "device", "test_accuracy", "train_samples_per_s", "data_source"):
                assert x[key] is not None, key
            if x["backend"] == "sklearn":  # its training clock is the whole fit
                assert b["stats"]["median"] == pytest.approx(x["fit_s"], rel=1e-9)
            if x["backend"] != "sklearn":
                assert x["backend"] == backend
                assert x["first_epoch_s"] > 0 and len(x["epoch_s"]) == 2
                # pytest-benchmark's own statistics are the training clock of the timed round,
                # not the wall time of its fit() call around it (data adapter, callbacks)
                assert b["options"]["timer"] == "training_clock"  # pytest-benchmark stores the name
                assert b["stats"]["median"] == pytest.approx(x["epoch_s"][1], rel=1e-9)
                assert b["stats"]["median"] < x["epoch_call_s"][1]
                assert x["jit_compile"] == (backend == "jax") and x["steps_per_execution"] == 1


@pytest.mark.slow  # trains
def test_tables_from_pytest_json_match_the_harness(bench_json, smoke_run):
    out, _ = bench_json
    from_bench = tidy.tidy(sources.load_any([str(out / f"{b}.json") for b in BACKENDS]))
    from_runs = tidy.tidy(sources.load_any([str(smoke_run[0])]))
    assert list(from_bench.columns) == list(from_runs.columns)
    a = from_bench.set_index(["spec", "backend"])
    b = from_runs.set_index(["spec", "backend"])
    for key in a.index:
        # same seed, same data slice, same epochs: the same training, on deterministic JAX and
        # on the baseline to the last digit
        if key[1] in ("jax", "sklearn"):
            assert a.loc[key, "test_accuracy"] == b.loc[key, "test_accuracy"], key
        assert a.loc[key, "dataset"] == b.loc[key, "dataset"]
    md = run_cli("report", *[out / f"{b}.json" for b in BACKENDS])
    assert md.returncode == 0 and "jax epoch s" in md.stdout and "mlp_512" in md.stdout


@pytest.mark.slow  # trains
def test_pytest_benchmark_compare_reads_the_files(bench_json):
    out, _ = bench_json
    cli = str(Path(sys.executable).parent / "pytest-benchmark")  # its console script
    proc = subprocess.run([cli, "compare",
                           *[str(out / f"{b}.json") for b in BACKENDS], "--group-by=group"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "test_train_epoch[mlp_512-torch]" in proc.stdout and "test_train_epoch[mlp_512-jax]" in proc.stdout


@pytest.mark.slow  # trains
def test_compare_takes_folders_and_several_files_per_side(bench_json, tmp_path):
    out, _ = bench_json
    proc = run_cli("compare", out, out, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["regressions"] == 0 and doc["problems"] == []
    assert {c["side"] for c in doc["cells"]} == {"both"}
    assert {(c["spec"], c["backend"]) for c in doc["cells"]} == \
        {(s, b) for s in RUN_MODELS.split(",") for b in BACKENDS} | {("sgd_classifier", "sklearn")}
    assert all(c["ratio"]["ratio"] == 1 for c in doc["cells"] if c.get("ratio"))
    assert doc["metrics"] == ["steady epoch", "time to target", "accuracy", "cell overhead", "lost runs"]
    # the same sides named file by file
    files = [str(out / f"{b}.json") for b in BACKENDS]
    proc = run_cli("compare", "--old", files[0], "--old", files[1], "--new", files[0], "--new", files[1],
                   "--json")
    assert proc.returncode == 0, proc.stderr
    assert {c["backend"] for c in json.loads(proc.stdout)["cells"]} == {BACKENDS[0], BACKENDS[1], "sklearn"}
    # nothing in common: non-zero, and says so
    other = tmp_path / "other.json"
    doc = json.loads((out / "torch.json").read_text())
    for b in doc["benchmarks"]:
        b["extra_info"]["dataset"] = "fashion_mnist"
    other.write_text(json.dumps(doc))
    proc = run_cli("compare", files[0], other)
    assert proc.returncode == 1 and "no cell in common" in proc.stderr


@pytest.mark.slow  # trains
def test_each_backend_keeps_its_own_pytest_benchmark_history(tmp_path):
    """--benchmark-autosave in two backends' processes keeps two histories, and
    --benchmark-compare in each finds its own (not the other backend's newer run)."""
    args = ["--benchmark-only", "--mnist-bench-profile", "smoke", "--mnist-bench-rounds", "1",
            "--mnist-bench-models", "linear_rmsprop"]

    def run(backend, *more):
        return subprocess.run(
            [sys.executable, "-m", "pytest", str(ROOT / "benchmarks"), "-p", "no:cacheprovider",
             "--rootdir", str(ROOT), *args, *more],
            cwd=tmp_path, capture_output=True, text=True, timeout=900,
            env={**os.environ, "KERAS_BACKEND": backend})

    for backend in ("torch", "jax"):  # jax saved last: a shared history would compare with it
        proc = run(backend, "--benchmark-autosave")
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    saved = sorted((tmp_path / ".benchmarks").rglob("*.json"))
    assert sorted(p.relative_to(tmp_path / ".benchmarks").parts[0] for p in saved) == ["jax", "torch"]
    proc = run("torch", "--benchmark-compare", "--benchmark-min-rounds", "2",
               f"--benchmark-json={tmp_path / 'now.json'}")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "test_train_epoch[linear_rmsprop-torch] (0001" in proc.stdout, proc.stdout[-3000:]
    assert "linear_rmsprop-jax" not in proc.stdout
    now = json.loads((tmp_path / "now.json").read_text())
    assert [b["stats"]["rounds"] for b in now["benchmarks"]] == [2]  # --benchmark-min-rounds honoured


@pytest.mark.slow  # trains
def test_the_suite_trains_at_each_batch_size_and_feeds_the_batch_tables(tmp_path):
    """--mnist-bench-batch-sizes: one benchmark per batch size, ids ending in -bsN, each
    recording the batch size as planned and as run, the rate its optimizer held, and the
    report's batch-size tables built from the JSON."""
    from mnist_bench.analysis import report

    recipe = specs.BUILTIN["mlp_512"].recipe
    sizes = (recipe.batch_size, 4 * recipe.batch_size)
    out = tmp_path / "jax.json"
    proc = pytest_run("jax", "--benchmark-only", "--mnist-bench-profile", "smoke",
                      "--mnist-bench-rounds", "1", "--mnist-bench-models", "mlp_512",
                      "--mnist-bench-batch-sizes", ",".join(map(str, sizes)),
                      "--mnist-bench-lr-scaling", "sqrt", "--mnist-bench-precision", "float32",
                      f"--benchmark-json={out}")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert sorted(b["name"] for b in doc["benchmarks"]) == sorted(
        f"test_train_epoch[mlp_512-jax-bs{n}]" for n in sizes)
    for b in doc["benchmarks"]:
        x = b["extra_info"]
        n = int(b["name"].split("-bs")[1].rstrip("]"))
        assert x["planned_batch_size"] == n and x["batch_size"] == n and x["lr_scaling"] == "sqrt"
        assert x["recipe"]["batch_size"] == recipe.batch_size
        want = specs.learning_rate(recipe) * (n / recipe.batch_size) ** 0.5
        assert x["learning_rate"] == pytest.approx(want, rel=1e-6)
        assert b["group"] == f"mlp_512 on mnist at batch {n}"
        assert x["float32_precision"] == "float32"  # --mnist-bench-precision, as run's --precision
    rep = report.build(sources.load_any([str(out)]))
    assert set(rep.tidy.setup) == {("smoke", None, "sqrt", "float32")}  # part of the cells' setup
    assert sorted(rep.batches.batch_size) == list(sizes)
    assert sorted(rep.batches.cell) == ["recipe", "throughput"]
    # the recipe-batch tables hold only the recipe's batch size
    assert list(rep.tidy.batch_size) == [recipe.batch_size]


@pytest.mark.parametrize("args, message", [
    (["--mnist-bench-batch-sizes", "0,128"], "0 is not a batch size; valid: comma-separated whole"),
    (["--mnist-bench-batch-sizes", "128,128"], "'128,128' names 128 more than once"),
    (["--mnist-bench-lr-scaling", "linear"], "--mnist-bench-lr-scaling needs --mnist-bench-batch-sizes"),
    (["--mnist-bench-rounds", "0"], "'0' is out of range; valid: a finite integer >= 1 and <= 9999"),
    (["--mnist-bench-seed", "-1"], "'-1' is out of range; valid: a finite integer >= 0"),
    (["--mnist-bench-seed", str(2 ** 32)], "is out of range; valid: a finite integer >= 0 and <= 4294967295"),
    (["--mnist-bench-precision", "fp8"], "invalid choice: 'fp8'"),
])
def test_the_suite_refuses_bad_options(args, message):
    proc = pytest_run("jax", "--collect-only", "-q", *args)
    assert proc.returncode == 4, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert message in proc.stderr, proc.stderr[-2000:]


@pytest.mark.parametrize("backend", ["tensorflw", "sklearn"])
def test_the_suite_refuses_a_backend_it_cannot_run(backend):
    proc = pytest_run(backend, "--collect-only", "-q")
    assert proc.returncode == 4, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"KERAS_BACKEND='{backend}' is not a backend of this suite" in proc.stderr, proc.stderr[-2000:]


@pytest.mark.slow
def test_an_installed_package_is_a_pytest_plugin_anywhere(tmp_path):
    """``pip install`` the package into a fresh virtualenv (its dependencies seen from this
    one), then, in a folder outside the checkout: ``pytest --help`` lists the suite's options,
    ``pytest --pyargs mnist_bench.suite`` runs the installed suite, and another project's
    tests run untouched by the plugin (even with a KERAS_BACKEND the suite would refuse)."""
    import site
    import sysconfig

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    Path(purelib, "zz_dependencies.pth").write_text(
        "\n".join([*site.getsitepackages(), sysconfig.get_paths()["purelib"]]) + "\n")
    install = subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(ROOT)],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stdout + install.stderr
    elsewhere = tmp_path / "another-project"
    elsewhere.mkdir()
    (elsewhere / "test_theirs.py").write_text("def test_theirs():\n    assert True\n")

    def pytest_there(*args, backend="jax"):
        return subprocess.run([python, "-m", "pytest", "-p", "no:cacheprovider", *args],
                              cwd=elsewhere, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": ""})

    helped = pytest_there("--help")
    for option in ("--mnist-bench-models", "--mnist-bench-profile", "--mnist-bench-batch-sizes"):
        assert option in helped.stdout, helped.stdout[-2000:]
    # the installed suite, run once as plain tests (--benchmark-disable: pytest-benchmark then
    # gives no warm-up round, and the suite trains its compiling epoch itself)
    ran = pytest_there("--pyargs", "mnist_bench.suite", "--benchmark-disable", "-q",
                       "--mnist-bench-profile", "smoke", "--mnist-bench-models", "linear_sgd")
    assert ran.returncode == 0 and "1 passed" in ran.stdout, ran.stdout[-2000:] + ran.stderr[-2000:]
    where = subprocess.run([python, "-c", "import mnist_bench.suite as s; print(s.__file__)"],
                           cwd=elsewhere, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ""})
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr  # the installed copy
    theirs = pytest_there("test_theirs.py", backend="not-a-backend")
    assert theirs.returncode == 0 and "1 passed" in theirs.stdout, theirs.stdout + theirs.stderr
