"""Device selection and execution modes, on the CPU (no GPU where the tests run)."""

import pytest

from mnist_bench import records, train
from mnist_bench.analysis import aggregate
from mnist_bench.render import tables
from mnist_bench.measure import environment
from mnist_bench.settings import SettingsError

from .conftest import run_cli


def test_default_mode_is_keras_out_of_the_box():
    for backend in ("tensorflow", "jax", "torch"):
        assert train.mode_settings(backend, "default") == {
            "jit_compile": "auto", "steps_per_execution": 1, "policy": "float32",
            "why": "Keras defaults"}


def test_tuned_mode_asks_each_backend_for_what_it_accepts():
    for backend in ("tensorflow", "jax"):
        s = train.mode_settings(backend, "tuned")
        assert s["jit_compile"] is True and s["steps_per_execution"] == train.TUNED_STEPS_PER_EXECUTION
    torch = train.mode_settings("torch", "tuned")
    assert torch["jit_compile"] is True and torch["steps_per_execution"] == 1
    assert "rejects steps_per_execution > 1" in torch["why"]
    for backend in ("tensorflow", "jax", "torch"):
        bf16 = train.mode_settings(backend, "bf16")
        assert bf16["policy"] == "mixed_bfloat16" and bf16["jit_compile"] == "auto"
    with pytest.raises(SettingsError, match="unknown mode 'fast'; valid: default, tuned, bf16"):
        train.mode_settings("jax", "fast")


def test_cpu_device_hides_gpus_from_the_worker():
    assert environment.device_env("cpu") == {"CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"}
    assert environment.device_env("gpu") == {} and environment.device_env("auto") == {}


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
    return {(r["backend"], r["mode"]): r for r in records.load(out) + records.load(torch)}


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
    t = aggregate.tidy(list(mode_run.values()))
    assert set(t["mode"]) == {"default", "tuned", "bf16"}  # two runs: jax's and torch's
    md = tables.markdown(t)
    assert "default mode" in md and "tuned mode" in md and "bf16 mode" in md


@pytest.mark.slow
def test_gpu_that_is_not_there_is_a_clear_error(tmp_path):
    proc = run_cli("run", "--profile", "smoke", "--models", "mlp_512", "--backends", "jax",
                   "--device", "gpu", "--out", tmp_path)
    (r,) = records.load(tmp_path)
    if r["status"] == "ok":  # only where jax sees a GPU: then the cell ran there, and says so
        assert proc.returncode == 0 and r["device"]["kind"] == "gpu" and environment.gpus()
        return
    assert proc.returncode == 1
    assert r["status"] == "failed"
    assert r["reason"] == "--device gpu: the jax backend sees no GPU here; valid here: cpu"


@pytest.mark.slow
def test_device_table_puts_cpu_and_gpu_side_by_side(mode_run):
    # the table's logic on real CPU records, one set relabelled as if measured on a GPU
    cpu = [r for r in mode_run.values() if r["mode"] == "default"]
    gpu = [{**r, "device": {"kind": "gpu", "name": "a GPU"}, "device_requested": "gpu"}
           for r in cpu if r["backend"] == "jax"]
    table = aggregate.device_table(aggregate.tidy(cpu + gpu))
    jax = table[table.backend == "jax"].iloc[0]
    assert jax["gpu speed-up (train)"] == pytest.approx(1.0)
    torch = table[table.backend == "torch"].iloc[0]
    assert torch["gpu"] == "not measured"
    md = tables.markdown(aggregate.tidy(cpu + gpu), {("tensorflow", "gpu"): "no GPU build here"})
    gpu_table = md.split("### mnist, gpu (a GPU), default mode")[1].split("###")[0]
    assert "no GPU build here" in gpu_table and "jax epoch s" in gpu_table


@pytest.mark.slow
def test_mode_table_sets_each_mode_against_default(mode_run):
    table = aggregate.mode_table(aggregate.tidy(list(mode_run.values())))
    assert sorted(zip(table.backend, table["mode"])) == [
        ("jax", "bf16"), ("jax", "tuned"), ("torch", "bf16")]
    jax = table[(table.backend == "jax") & (table["mode"] == "tuned")].iloc[0]
    assert jax["settings"] == "jit=True, steps/exec=32, float32"
    assert jax["verdict"] == "not enough runs (n=1)"  # one run of each: no verdict
    bf16 = table[(table.backend == "torch") & (table["mode"] == "bf16")].iloc[0]
    assert bf16["settings"].endswith("mixed_bfloat16")
    runs = {(r["backend"], r["mode"]): r["test_accuracy"] for r in mode_run.values()}
    assert bf16["acc vs default (points)"] == pytest.approx(
        100 * (runs[("torch", "bf16")] - runs[("torch", "default")]))
    md = tables.markdown(aggregate.tidy(list(mode_run.values())))
    assert "Each mode against the default mode" in md and "(n=1)" in md
