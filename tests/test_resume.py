"""An interrupted run (kill -9 or Ctrl-C of the harness) resumes to the same tables."""

import signal
import subprocess
import sys
import time

import pytest

from mnist_bench.record import store
from mnist_bench.analysis import tidy

from .conftest import ROOT, run_cli

pytestmark = pytest.mark.slow  # these tests start worker processes

MODELS = "linear_rmsprop,mlp_100x2,sgd_classifier"
ARGS = ["run", "--profile", "smoke", "--backends", "jax", "--models", MODELS]
TIMES = ["run", "run_id", "steady_epoch_s", "steady_epoch_low_s", "steady_epoch_high_s", "run_epoch_s",
         "train_samples_per_s", "first_epoch_s", "inference_samples_per_s", "vs_fastest", "speed", "time_to_target_s",
         "run_tta_s", "achieved_gflops", "utilisation", "unclocked_share", "drift", "run_overhead_s",
         "host_rss_bytes", "device_memory_bytes"]  # measured: they differ run to run


def _default_sigint():
    # a suite started in the background (``cmd &`` in a script) hands its children SIGINT
    # ignored, and Python then never raises KeyboardInterrupt: give the harness a user's Ctrl-C
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(out, *extra):
    return subprocess.Popen([sys.executable, "-m", "mnist_bench", *ARGS, *extra, "--out", str(out)],
                            preexec_fn=_default_sigint,
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_records(out, n, proc, limit=300):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        path = out / "records.jsonl"
        if path.exists() and len(store.load(out)) >= n:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    pytest.fail(f"no {n} records in {limit} s")


def cells(out):
    t = tidy.tidy(store.load(out)).drop(columns=TIMES + ["device_name"])
    return t.astype(object).where(t.notna(), None).to_dict(orient="records")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    proc = run_cli(*ARGS, "--out", out)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.parametrize("sig, code, words", [
    (signal.SIGKILL, -signal.SIGKILL, None),  # kill -9: no last word
    (signal.SIGINT, 130, "interrupted"),  # Ctrl-C
    (signal.SIGTERM, 143, "stopped by SIGTERM"),  # a CI cancel, `timeout`, `docker stop`
])
def test_an_interrupted_run_keeps_its_records_and_resumes_to_the_same_tables(
        tmp_path, uninterrupted, sig, code, words):
    out = tmp_path / "run"
    proc = start(out)
    wait_for_records(out, 1, proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    n = len(store.load(out))
    assert proc.returncode == code and 1 <= n < 3, (n, err[-500:])
    if words:  # a clean stop says so, and how to go on
        assert words in err and f"mnist-bench run --out {out} --resume" in err
    resumed = run_cli("run", "--out", out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"{3 - n} cells to run ({n} already complete)" in resumed.stderr
    recs = store.load(out)
    assert sorted(r["spec"] for r in recs) == sorted(MODELS.split(","))  # each cell once
    assert len({r["run_id"] for r in recs}) == 1  # the resumed cells belong to the same run
    assert len({r["order_seed"] for r in recs}) == 1
    assert cells(out) == cells(uninterrupted)
