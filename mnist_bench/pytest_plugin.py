"""The pytest plugin of the benchmark suite (the ``pytest11`` entry point, so an installed
package gives every pytest its ``--mnist-bench-*`` options): the suite's options,
parametrisation and machine info.

It acts only in a session that runs the suite (``pytest --pyargs mnist_bench.suite``, or a
checkout's ``benchmarks/``): elsewhere it adds its options and nothing else. One pytest process
per backend: set KERAS_BACKEND before running (``tox -e bench-jax``, or ``mnist-bench bench``
for all three). Each round is one training epoch of the package's own ``keras_cell.Session``;
the first (compiling) epoch is a warm-up round that is not counted.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mnist_bench import modes, settings, specs
from mnist_bench.cli.options import batch_sizes, bounded
from mnist_bench.measure import environment


def pytest_addoption(parser):
    g = parser.getgroup("mnist-bench", "mnist-bench: what the benchmark suite trains")
    g.addoption("--mnist-bench-profile", default="quick", choices=list(settings.PROFILES),
                help="data slice and epochs (default: quick)")
    g.addoption("--mnist-bench-rounds", type=bounded(int, 1, settings.MAX_EPOCHS - 1), default=None,
                help="timed epochs after the warm-up epoch (default: the profile's epochs - 1)")
    g.addoption("--mnist-bench-models", default=",".join(specs.KERAS_SPECS),
                help="comma-separated spec names or file.py:attr (default: every Keras spec)")
    g.addoption("--mnist-bench-dataset", default=None, help="mnist or fashion_mnist (default: each spec's)")
    g.addoption("--mnist-bench-mode", default="default", choices=list(modes.keras_modes()))
    g.addoption("--mnist-bench-device", default="cpu", choices=list(settings.DEVICES))
    g.addoption("--mnist-bench-seed", type=bounded(int, 0, settings.MAX_SEED), default=0)
    g.addoption("--mnist-bench-batch-sizes", type=batch_sizes, default=(), metavar="N,N,...",
                help="train each spec at each of these batch sizes, one benchmark each (ids "
                     "end in -bsN; default: the recipe's); at another batch size than the "
                     "recipe's a benchmark is a throughput cell, as with mnist-bench run")
    g.addoption("--mnist-bench-lr-scaling", default=None, choices=list(settings.LR_SCALINGS),
                help="with --mnist-bench-batch-sizes: scale the recipe's learning rate by batch "
                     "/ recipe batch (linear) or its square root (sqrt) (default: the recipe's)")
    g.addoption("--mnist-bench-precision", default="as-shipped", choices=list(settings.PRECISIONS),
                help="what float32 products run in on this backend, as mnist-bench run "
                     "--precision (default: as-shipped, each framework's own choice)")
    g.addoption("--mnist-bench-baseline", action="store_true",
                help="also benchmark the scikit-learn baseline (run it in one backend's process)")


TRAINING_CLOCK = "mnist_bench.measure.clock.training_clock"
SUITE = Path(__file__).resolve().parent / "suite"  # the suite shipped in the package


def runs_suite(config) -> bool:
    """Whether this session runs the suite: its package named (``--pyargs mnist_bench.suite``)
    or a path inside it or a checkout's ``benchmarks/`` given, or a module of it collected."""
    if getattr(config, "_mnist_bench_suite", False):
        return True
    for arg in config.args:
        name = str(arg).split("::")[0]
        if name.startswith("mnist_bench.suite"):
            return True
        path = Path(name).resolve()
        if path == SUITE or SUITE in path.parents or _holds_suite(path / "test_train.py") \
                or _holds_suite(path):
            return True
    return False


def _holds_suite(path: Path) -> bool:
    """A test module of the suite (it says so: ``MNIST_BENCH_SUITE``), as a checkout's
    benchmarks/test_train.py does."""
    try:
        return path.suffix == ".py" and path.is_file() and "MNIST_BENCH_SUITE" in path.read_text(errors="replace")
    except OSError:
        return False


@pytest.hookimpl(tryfirst=True)  # before pytest-benchmark reads its timer option
def pytest_configure(config):
    if not runs_suite(config):
        return
    config._mnist_bench_suite = True
    if backend() not in settings.BACKENDS:
        raise pytest.UsageError(f"KERAS_BACKEND={backend()!r} is not a backend of this suite; "
                                f"valid: {', '.join(settings.BACKENDS)}")
    if config.getoption("--mnist-bench-lr-scaling") and not config.getoption("--mnist-bench-batch-sizes"):
        raise pytest.UsageError("--mnist-bench-lr-scaling needs --mnist-bench-batch-sizes N,N,...")
    # before keras is imported anywhere in this process
    os.environ.update(environment.device_env(config.getoption("--mnist-bench-device")))
    # pytest-benchmark's round statistics are the training clock, not the whole fit() call,
    # unless the user named another timer
    from pytest_benchmark.timers import default_timer
    from pytest_benchmark.utils import NameWrapper

    if config.getoption("benchmark_timer", None) == str(NameWrapper(default_timer)):
        config.option.benchmark_timer = TRAINING_CLOCK
    # each backend keeps its own history (.benchmarks/<backend>/<machine id>/), so that
    # --benchmark-autosave / --benchmark-compare in a torch process compare torch with torch;
    # an explicit --benchmark-storage is the user's
    if config.getoption("benchmark_storage", None) == DEFAULT_STORAGE:
        config.option.benchmark_storage = f"{DEFAULT_STORAGE}/{backend()}"


DEFAULT_STORAGE = "file://./.benchmarks"  # pytest-benchmark's own default


def _given(config, option: str) -> bool:
    return any(a == option or a.startswith(option + "=") for a in config.invocation_params.args)


def backend() -> str:
    return os.environ.get("KERAS_BACKEND") or "tensorflow"


def _in_suite(module) -> bool:
    return getattr(module, "MNIST_BENCH_SUITE", False)


def pytest_generate_tests(metafunc):
    if not _in_suite(metafunc.module):
        return
    if "spec_ref" in metafunc.fixturenames:
        refs = [r for r in metafunc.config.getoption("--mnist-bench-models").split(",") if r]
        for ref in refs:
            specs.check_ref(ref)
        keras_refs = [r for r in refs if specs.BUILTIN.get(r) is None or specs.BUILTIN[r].kind == "keras"]
        metafunc.parametrize("spec_ref", keras_refs)
        metafunc.parametrize("backend_name", [backend()])
    sizes = metafunc.config.getoption("--mnist-bench-batch-sizes")
    if "batch_size" in metafunc.fixturenames and sizes:  # else the fixture: the recipe's
        metafunc.parametrize("batch_size", sizes, ids=[f"bs{n}" for n in sizes])


def pytest_collection_modifyitems(config, items):
    if config.getoption("--mnist-bench-baseline"):
        return
    keep = [i for i in items if not (_in_suite(getattr(i, "module", None)) and "baseline" in i.name)]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep


def pytest_report_header(config):
    if runs_suite(config):
        return (f"mnist-bench: KERAS_BACKEND={backend()}, "
                f"profile={config.getoption('--mnist-bench-profile')}")
    return None


def pytest_benchmark_update_machine_info(config, machine_info):
    if not runs_suite(config):
        return
    device = environment.backend_device(backend(), config.getoption("--mnist-bench-device"))
    machine_info["mnist_bench"] = {"backend": backend(), "device": device,
                                   "versions": environment.versions(),
                                   "machine": environment.machine()}


def options(config) -> dict:
    """The suite's settings from the command line: what ``bench_options`` hands each test."""
    get = config.getoption
    profile = get("--mnist-bench-profile")
    rounds = get("--mnist-bench-rounds")
    if rounds is None:
        rounds = max(1, (settings.PROFILES[profile].max_epochs or 3) - 1)
    if _given(config, "--benchmark-min-rounds"):  # honoured when asked for
        rounds = max(rounds, get("benchmark_min_rounds"))
    return {"profile": profile, "rounds": rounds, "dataset": get("--mnist-bench-dataset"),
            "mode": get("--mnist-bench-mode"), "device": get("--mnist-bench-device"),
            "seed": get("--mnist-bench-seed"), "lr_scaling": get("--mnist-bench-lr-scaling"),
            "precision": get("--mnist-bench-precision")}
