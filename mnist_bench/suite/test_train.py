"""Training throughput of every spec on this process's backend: one round = one epoch."""

import pytest

from mnist_bench import data, pytest_plugin, specs
from mnist_bench.cells import baseline, common, keras_cell
from mnist_bench.measure import environment
from mnist_bench.measure.timing import summarize_epochs
from mnist_bench.record import sources
from mnist_bench.settings import Cell


MNIST_BENCH_SUITE = True  # the plugin parametrizes this module's tests, and no other's


@pytest.fixture
def batch_size():
    """The batch size a benchmark trains at: None, the recipe's (parametrized over
    --mnist-bench-batch-sizes when given, so that the default ids stay as they were)."""
    return None


@pytest.fixture
def bench_options(request):
    return pytest_plugin.options(request.config)


def readable(benchmark) -> None:
    """The benchmark's extra_info must make a valid record, as ``mnist-bench report`` reads it
    (the same constructor and contract as a run's records): a field that no record has, or of
    the wrong type, fails here rather than in the user's report."""
    doc = {"benchmarks": [{"extra_info": benchmark.extra_info, "fullname": "check"}]}
    import json
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(doc, fh, default=str)
    (record,) = sources.from_pytest_json(fh.name)
    assert record["status"] == "ok"


def test_train_epoch(benchmark, backend_name, spec_ref, batch_size, bench_options):
    o = bench_options
    defined = specs.load(spec_ref)  # its recipe is recorded as the spec defines it
    spec = specs.at_batch_size(defined, batch_size, o["lr_scaling"])
    ds = data.load(o["dataset"] or spec.recipe.dataset)
    common.set_precision(backend_name, o["precision"])  # before the model is built, as a run's worker
    session = keras_cell.Session(spec, ds, o["profile"], o["seed"], o["mode"])
    assert session.backend == backend_name
    device = environment.backend_device(session.backend, o["device"])
    epochs = []
    benchmark.group = f"{spec_ref} on {ds.name}" + (f" at batch {batch_size}" if batch_size else "")
    if benchmark.disabled:  # --benchmark-disable: pytest-benchmark calls it once, no warm-up
        epochs.append(session.epoch())  # the compiling epoch, as the warm-up round would be
    benchmark.pedantic(lambda: epochs.append(session.epoch()), rounds=o["rounds"],
                       warmup_rounds=1, iterations=1)
    loss, acc = session.evaluate("test")
    benchmark.extra_info.update({
        "mnist_bench": 1, "spec": spec_ref, "dataset": ds.name, "backend": session.backend,
        "profile": o["profile"], "mode": o["mode"], "seed": o["seed"], "device": device,
        "device_requested": o["device"],
        "test_accuracy": acc, "test_loss": loss, "data_source": ds.source,
        "train_samples": len(session.x_train), "test_samples": len(session.x_test),
        "batch_size": spec.recipe.batch_size, "recipe": defined.recipe.to_dict(),
        "planned_batch_size": batch_size, "lr_scaling": o["lr_scaling"] if batch_size else None,
        "float32_precision": o["precision"],
        "epoch_s": [e.train_s for e in epochs], "epoch_call_s": [e.call_s for e in epochs],
        **summarize_epochs([e.train_s for e in epochs], len(session.x_train)),
        "inference_samples_per_s": session.inference_samples_per_s(),
        **session.effective,
    })
    readable(benchmark)


@pytest.mark.parametrize("library", ["sklearn"])  # its label: not the backend of the process
def test_baseline_fit(benchmark, bench_options, library):
    """The scikit-learn baseline: one round = one full fit (deselected unless --mnist-bench-baseline)."""
    o = bench_options
    spec = specs.BUILTIN["sgd_classifier"]
    ds = data.load(o["dataset"] or spec.recipe.dataset)
    cell = Cell("sgd_classifier", "sklearn", ds.name, profile=o["profile"], seed=o["seed"])
    results = []
    benchmark.group = f"sgd_classifier on {ds.name}"
    benchmark.pedantic(lambda: results.append(baseline.run_cell(cell, spec, ds)), rounds=1,
                       iterations=1)
    r = results[-1]
    benchmark.extra_info.update({"mnist_bench": 1, "spec": "sgd_classifier", "backend": "sklearn",
                                 "profile": o["profile"], "mode": "default", "seed": o["seed"],
                                 "data_source": ds.source, "dataset": ds.name,
                                 **{k: v for k, v in r.items() if k not in ("curve", "status", "reason")}})
    readable(benchmark)
