"""One bad cell never costs the others: real crashes, hangs, NaNs and bad specs."""

import pytest

from mnist_bench.record import store

from .conftest import run_cli

pytestmark = pytest.mark.slow  # these tests start worker processes

ROOT_REL = "tests/faulty_specs.py"


WRONG_OUTPUTS = ("five_outputs", "logits")


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory):
    """One run: every faulty spec on JAX beside a good cell after them, and the two models
    whose outputs cannot answer on every backend."""
    out = tmp_path_factory.mktemp("faults")
    models = ",".join(f"{ROOT_REL}:{name}" for name in (
        "not_a_model", "wrong_shape", "segfault", "raises", "diverge", "not_callable",
        *WRONG_OUTPUTS))
    models += ",tests/broken_spec.py:build,mlp_512"
    proc = run_cli("run", "--profile", "smoke", "--models", models, "--out", out,
                   "-k", "jax or " + " or ".join(WRONG_OUTPUTS))
    return proc, store.load(out)


@pytest.fixture(scope="module")
def fault_run(faulty_run):
    proc, recs = faulty_run
    return proc, {r["spec"].rpartition(":")[2]: r for r in recs
                  if r["spec"].rpartition(":")[2] not in WRONG_OUTPUTS}


@pytest.fixture(scope="module")
def hang_run(tmp_path_factory):
    """The hanging spec alone, under a short cell timeout (that no good cell has to share)."""
    out = tmp_path_factory.mktemp("hang")
    proc = run_cli("run", "--profile", "smoke", "--backends", "jax", "--models",
                   f"{ROOT_REL}:hang", "--cell-timeout", "8", "--out", out)
    return proc, store.load(out)


def test_run_goes_on_and_exits_nonzero(fault_run):
    proc, recs = fault_run
    assert proc.returncode == 1
    assert recs["mlp_512"]["status"] == "ok"  # the good cell after the bad ones still ran
    assert len(recs) == 8


def test_crash_is_recorded_with_its_signal(fault_run):
    r = fault_run[1]["segfault"]
    assert r["status"] == "failed" and "SIGSEGV" in r["reason"]


def test_hang_is_stopped_by_the_cell_timeout(hang_run):
    proc, (r,) = hang_run
    assert proc.returncode == 1
    assert r["status"] == "timeout" and "8 s" in r["reason"]


def test_exception_is_recorded_with_the_output_tail(fault_run):
    r = fault_run[1]["raises"]
    assert r["status"] == "failed" and "boom in the builder" in r["reason"]
    assert any("Traceback" in line for line in r["output_tail"])


def test_nan_loss_stops_the_cell_as_diverged(fault_run):
    r = fault_run[1]["diverge"]
    assert r["status"] == "diverged" and "epoch 1" in r["reason"]
    assert r["epochs_run"] == 1


@pytest.mark.parametrize("name, message", [
    ("not_a_model", "built a str, not a keras.Model"),
    ("wrong_shape", "input shape (32, 32, 3) does not fit 28x28 images (784 values); valid: (784,)"),
    ("not_callable", "is a int, not a Spec or a callable"),
    ("build", "failed to import: ImportError: this spec file is broken on purpose"),
])
def test_bad_user_specs_get_a_one_line_reason(fault_run, name, message):
    r = fault_run[1][name]
    assert r["status"] == "failed"
    assert message in r["reason"] and "\n" not in r["reason"]


@pytest.fixture(scope="module")
def wrong_output_run(faulty_run):
    proc, recs = faulty_run
    return proc, [r for r in recs if r["spec"].rpartition(":")[2] in WRONG_OUTPUTS]


def test_a_model_that_cannot_answer_is_a_failed_cell_on_every_backend(wrong_output_run):
    """5 classes for a 10-class dataset, or logits for a loss that expects probabilities: it
    would train and print an accuracy; it must be a failed cell with its reason instead."""
    proc, recs = wrong_output_run
    assert proc.returncode == 1
    got = {(r["spec"].rpartition(":")[2], r["backend"]): r for r in recs}
    assert set(got) == {(n, b) for n in ("five_outputs", "logits") for b in ("tensorflow", "jax", "torch")}
    for (name, backend), r in got.items():
        assert r["status"] == "failed" and "test_accuracy" not in r, (name, backend)
        expected = ("the model's output has shape ('batch', 5), but the dataset has 10 classes; "
                    "valid: (batch, 10)") if name == "five_outputs" else \
            "the model's outputs are not probabilities"
        assert r["reason"].startswith(expected), r["reason"]
    md = proc.stdout
    assert "faulty_specs:five_outputs" in md and "failed" in md  # a label a person can read
    assert "/tmp" not in md
