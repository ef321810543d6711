"""Bad input: one line that says what was wrong and what is valid, and a non-zero exit."""

import pytest

from .conftest import run_cli


@pytest.mark.parametrize("args, message", [
    (["--models", "resnet50"], "unknown spec 'resnet50'; valid: linear_sgd, linear_rmsprop"),
    (["--backends", "jax,mxnet"], "unknown backend 'mxnet'; valid: tensorflow, jax, torch"),
    (["--dataset", "cifar10"], "unknown dataset 'cifar10'; valid: mnist, fashion_mnist"),
    (["--profile", "fast"], "unknown profile 'fast'; valid: smoke, quick, seed"),
    (["--device", "tpu"], "unknown device 'tpu'; valid: cpu, gpu, auto"),
    (["--modes", "turbo"], "unknown mode 'turbo'; valid: default, tuned"),
    (["--models", "nowhere/spec.py:build"], "spec file nowhere/spec.py does not exist"),
    (["--models", "tests/faulty_specs.py:missing"],
     "spec file tests/faulty_specs.py does not define 'missing' (it defines: "),
    (["--repeats", "0"], "--repeats must be at least 1"),
    (["--resume"], "--resume needs --out FOLDER"),
])
def test_bad_run_input(args, message, tmp_path):
    proc = run_cli("run", *args, "--out", tmp_path / "o") if "--resume" not in args else run_cli("run", *args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("mnist-bench: error: ") and message in lines[0]
    assert not (tmp_path / "o" / "records.jsonl").exists()


def test_bad_data_dir(tmp_path):
    proc = run_cli("run", "--models", "mlp_512", "--data-dir", tmp_path, "--out", tmp_path / "o")
    assert proc.returncode == 2
    assert "holds neither mnist.npz nor the four IDX files" in proc.stderr


def test_list_shows_every_seed_recipe():
    proc = run_cli("list")
    assert proc.returncode == 0
    for line in ("linear_sgd", "sgd lr=0.001", "fmnist_mlp_50x2_dropout", "fashion_mnist", "0.9912",
                 "SGDClassifier(max_iter=200)", "28x28x1"):
        assert line in proc.stdout


def test_report_refuses_a_file_that_is_not_records(tmp_path):
    bogus = tmp_path / "records.jsonl"
    bogus.write_text('{"hello": "world"}\n')
    proc = run_cli("report", bogus)
    assert proc.returncode == 2 and "is not a mnist-bench record" in proc.stderr


def test_results_folder_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    proc = run_cli("run", "--models", "mlp_512", "--out", blocker / "out")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"mnist-bench: error: results folder {blocker / 'out'} is not writable (Not a directory); "
        "pass --out with a folder you can write to"]


def test_doctor_reports_backends_devices_and_data(mnist, fashion):
    proc = run_cli("doctor", timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for backend in ("tensorflow", "jax", "torch"):
        assert f"  {backend:<11} " in proc.stdout and "-> cpu: " in proc.stdout
    assert "mnist          verified" in proc.stdout and "fashion_mnist  verified" in proc.stdout
