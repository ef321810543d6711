"""Device selection and execution modes, on the CPU (no GPU where the tests run)."""

import os
import subprocess
import sys
import textwrap

import pytest

from mnist_bench import cli, modes, plan, strategies
from mnist_bench.record import store
from mnist_bench.analysis import machines, report, stats, tidy, views
from mnist_bench.render import cells as fmt
from mnist_bench.render import derived, markdown
from mnist_bench.measure import environment
from mnist_bench.settings import SettingsError

from .conftest import ROOT, run_cli


def test_an_unknown_mode_is_a_one_line_error():
    with pytest.raises(SettingsError, match="unknown mode 'fast'; valid: default, tuned, bf16"):
        modes.keras_settings("jax", "fast")
    with pytest.raises(SettingsError, match="mode 'steps32' is a native loop's .tensorflow.; "
                                            "valid for Keras: default, tuned, bf16"):
        modes.keras_settings("tensorflow", "steps32")


XLA4 = modes.Mode(
    "xla4", "XLA, 4 steps per call",
    keras=lambda backend: modes.KerasSettings(True, 4, "float32", "XLA, 4 steps per execution"),
    native={"tensorflow": lambda conv, gpu: strategies.Strategy("xla", "train step", 4, "held")})


@pytest.fixture
def xla4():
    modes.register(XLA4)
    yield XLA4
    del modes.MODES[XLA4.name]


def test_a_mode_is_added_in_one_place(xla4, capsys):
    """One ``Mode`` registered, and the parser, the plan, the Keras settings, the native
    strategy and the tables all know it."""
    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    assert "xla4" in capsys.readouterr().out
    cells = plan.plan(plan.RunSettings(specs=("mlp_100x2",), impls=("keras", "native"),
                                       modes=("default", "xla4")))
    got = {(c.backend, c.impl) for c in cells if c.mode == "xla4"}
    # Keras has it on every backend; of the native loops only TensorFlow's
    assert got == {("tensorflow", "keras"), ("jax", "keras"), ("torch", "keras"),
                   ("tensorflow", "native")}
    assert modes.keras_settings("jax", "xla4")["steps_per_execution"] == 4
    native = modes.native_strategy("tensorflow", "xla4")
    # Keras's TensorFlow trainer at jit_compile=True, 4 steps per call, is the same strategy
    strategies.pair(strategies.keras_strategy("tensorflow", True, 4), native)
    # a native record of the mode that predates recorded strategies gets it from the mode
    assert strategies.of_record({"backend": "tensorflow", "impl": "native", "mode": "xla4",
                                 "status": "ok"}) == native
    with pytest.raises(SettingsError, match="mode 'xla4' has no jax native loop"):
        modes.native_strategy("jax", "xla4")


@pytest.mark.slow  # starts a Keras process
def test_a_registered_mode_compiles_the_keras_cell_with_its_settings(mnist):
    code = textwrap.dedent("""
        import sys
        from mnist_bench import data, modes, specs, strategies
        from tests.test_modes import XLA4
        modes.register(XLA4)
        from mnist_bench.cells import keras_cell
        s = keras_cell.Session(specs.load("mlp_100x2"), data.load("mnist"), "smoke", 0, "xla4")
        e = s.effective
        print(e["jit_compile"], e["steps_per_execution"], e["mode_note"], sep="|")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "KERAS_BACKEND": "tensorflow"}, timeout=300)
    assert out.stdout.strip().splitlines()[-1:] == ["True|4|XLA, 4 steps per execution"], \
        out.stdout + out.stderr[-2000:]


@pytest.fixture(scope="module")
def mode_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("modes")
    # torch's tuned cell (torch.compile) is left out here: it compiles for ~40 s on 2 cores;
    # the published runs measure it, and its settings are checked above
    proc = run_cli("run", "--profile", "smoke", "--models", "mlp_512", "--backends", "jax,torch",
                   "--modes", "default,tuned,bf16", "-k", "not (torch and tuned)", "--out", out)
    assert proc.returncode == 0, proc.stderr
    return {(r["backend"], r["mode"]): r for r in store.load(out)}


@pytest.mark.slow
def test_records_state_the_effective_settings(mode_run):
    assert mode_run[("jax", "tuned")]["jit_compile"] is True
    assert mode_run[("jax", "tuned")]["steps_per_execution"] == 32
    assert mode_run[("torch", "default")]["mode_note"] == "Keras defaults"
    assert mode_run[("torch", "default")]["jit_compile"] is False
    for (backend, mode), r in mode_run.items():
        assert r["status"] == "ok" and r["device_requested"] == "cpu" and r["device"]["kind"] == "cpu"
        p = r["precision"]  # read off the device: float32 work on a CPU is float32
        assert p["float32_matmul"] == "float32" and p["float32_conv"] == "float32"
        assert p["policy"] == ("mixed_bfloat16" if mode == "bf16" else "float32")
        assert p["compute_dtype"] == ("bfloat16" if mode == "bf16" else "float32")
        assert r["device_peak_gflops"] is None  # GPU cells only


@pytest.mark.slow
def test_both_modes_appear_in_the_tables(mode_run):
    rep = report.build(list(mode_run.values()))
    assert set(rep.tidy["mode"]) == {"default", "tuned", "bf16"}  # two runs: jax's and torch's
    md = markdown.markdown(rep)
    assert "default mode" in md and "tuned mode" in md and "bf16 mode" in md


def test_gpu_on_a_machine_without_one_is_refused_before_any_cell(tmp_path, monkeypatch):
    """--device gpu where the machine shows no GPU: one line before any cell (it used to start
    every cell and fail each, then name a report.html that was never written)."""
    from .test_regressions import main

    monkeypatch.setattr(environment, "gpu_visible", lambda: False)
    code, out, err = main("run", "--profile", "smoke", "--models", "mlp_512", "--backends", "jax",
                          "--device", "gpu", "--out", tmp_path / "o")
    assert code == 2 and err.strip().splitlines() == [
        "mnist-bench: error: --device gpu: this machine shows no NVIDIA GPU (nvidia-smi lists "
        "none); valid here: --device cpu, or auto (a GPU where a backend sees one)"]
    assert not (tmp_path / "o" / "records.jsonl").exists()


@pytest.mark.slow
def test_gpu_that_a_backend_does_not_see_is_a_clear_error(tmp_path, monkeypatch):
    """A machine with a GPU whose backend build cannot use it (here: as if one were there, for
    the CPU build of jax): the cell fails with the reason."""
    from .test_regressions import main

    monkeypatch.setattr(environment, "gpu_visible", lambda: True)
    code, out, err = main("run", "--profile", "smoke", "--models", "mlp_512", "--backends", "jax",
                          "--device", "gpu", "--out", tmp_path)
    (r,) = store.load(tmp_path)
    if r["status"] == "ok":  # only where jax sees a GPU: then the cell ran there, and says so
        assert code == 0 and r["device"]["kind"] == "gpu" and environment.gpus()
        return
    assert code == 1
    assert r["status"] == "failed"
    assert r["reason"] == "--device gpu: the jax backend sees no GPU here; valid here: cpu"


@pytest.mark.slow
def test_device_table_puts_cpu_and_gpu_side_by_side(mode_run):
    # the table's logic on real CPU records, one set relabelled as if measured on a GPU that
    # trains four times as fast: the speed-up is GPU over CPU (a swapped ratio reads 0.25)
    cpu = [r for r in mode_run.values() if r["mode"] == "default"]
    gpu = [{**r, "device": {"kind": "gpu", "name": "a GPU"}, "device_requested": "gpu",
            "epoch_s": [t / 4 for t in r["epoch_s"]], "steady_epoch_s": r["steady_epoch_s"] / 4}
           for r in cpu if r["backend"] == "jax"]
    table = machines.device_table(tidy.tidy(cpu + gpu))
    jax = table[table.backend == "jax"].iloc[0]
    assert jax["gpu speed-up (train)"] == pytest.approx(4.0)
    torch = table[table.backend == "torch"].iloc[0]
    assert fmt.missing(torch["gpu"]) and not torch["both"]
    assert "not measured" in derived.devices_markdown(table)
    md = markdown.markdown(report.build(cpu + gpu), {("tensorflow", "gpu"): "no GPU build here"})
    gpu_table = md.split("### mnist, gpu (a GPU), default mode")[1].split("###")[0]
    assert "no GPU build here" in gpu_table and "jax epoch s" in gpu_table


@pytest.mark.slow
def test_mode_table_sets_each_mode_against_default(mode_run):
    table = views.mode_table(tidy.tidy(list(mode_run.values())))
    assert sorted(zip(table.backend, table["mode"])) == [
        ("jax", "bf16"), ("jax", "tuned"), ("torch", "bf16")]
    jax = table[(table.backend == "jax") & (table["mode"] == "tuned")].iloc[0]
    assert (jax["jit_compile"], jax["steps_per_execution"], jax["precision"]) == (True, 32, "float32")
    assert jax["speed-up"].verdict == stats.FEW and jax["speed-up"].n == 1  # one run each: no verdict
    bf16 = table[(table.backend == "torch") & (table["mode"] == "bf16")].iloc[0]
    assert bf16["precision"] == "mixed_bfloat16"
    runs = {(r["backend"], r["mode"]): r["test_accuracy"] for r in mode_run.values()}
    assert bf16["acc vs default (points)"] == pytest.approx(
        100 * (runs[("torch", "bf16")] - runs[("torch", "default")]))
    md = markdown.markdown(report.build(list(mode_run.values())))
    assert "Each mode against the default mode" in md and "not enough runs (n=1)" in md
    assert "jit=True, steps/exec=32, float32" in md
