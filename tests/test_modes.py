"""Device selection and execution modes, on the CPU (no GPU where the tests run)."""

import pytest

from mnist_bench.record import store
from mnist_bench.cells import keras_cell
from mnist_bench.analysis import machines, report, stats, tidy, views
from mnist_bench.render import cells as fmt
from mnist_bench.render import derived, markdown
from mnist_bench.measure import environment
from mnist_bench.settings import SettingsError

from .conftest import run_cli


def test_an_unknown_mode_is_a_one_line_error():
    with pytest.raises(SettingsError, match="unknown mode 'fast'; valid: default, tuned, bf16"):
        keras_cell.mode_settings("jax", "fast")


@pytest.fixture(scope="module")
def mode_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("modes")
    proc = run_cli("run", "--profile", "smoke", "--models", "mlp_512", "--backends", "jax",
                   "--modes", "default,tuned,bf16", "--out", out)
    assert proc.returncode == 0, proc.stderr
    # torch's tuned cell (torch.compile) is left out here: it compiles for ~40 s on 2 cores;
    # the published runs measure it, and its settings are checked above
    torch = tmp_path_factory.mktemp("modes_torch")
    proc = run_cli("run", "--profile", "smoke", "--models", "mlp_512", "--backends", "torch",
                   "--modes", "default,bf16", "--out", torch)
    assert proc.returncode == 0, proc.stderr
    return {(r["backend"], r["mode"]): r for r in store.load(out) + store.load(torch)}


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
