"""The timed region, with clocks and syncs we control (fast: no training)."""

import time

import pytest

from mnist_bench.analysis import keys, stats
from mnist_bench.measure import clock, flops
from mnist_bench.measure.timing import Stopwatch, summarize_epochs


class FakeDevice:
    """A clock that moves only when told, and a device that owes work: waiting for it (sync)
    moves the clock by what it still owes."""

    def __init__(self):
        self.t, self.owed, self.synced = 100.0, 0.0, 0

    def now(self):
        return self.t

    def sync(self):
        self.t += self.owed
        self.owed, self.synced = 0.0, self.synced + 1


def test_work_the_device_still_owes_at_stop_is_counted_and_work_before_start_is_not():
    dev = FakeDevice()
    watch = Stopwatch(dev.sync, now=dev.now)
    dev.owed = 0.2  # queued before the region: synced away before the clock starts
    watch.start()
    dev.t += 0.05  # the region itself
    dev.owed = 0.1  # queued inside the region, finished only when stop() syncs
    assert watch.stop() == pytest.approx(0.15)
    assert dev.synced == 2


def test_the_steady_epoch_is_the_mean_of_epochs_after_the_first():
    s = summarize_epochs([5.0, 1.0, 1.0, 4.0], 1200)
    assert s["first_epoch_s"] == 5.0 and s["steady_epoch_s"] == pytest.approx(2.0)
    assert s["train_samples_per_s"] == pytest.approx(600)  # the same figure as the tables'
    assert summarize_epochs([5.0], 10)["steady_epoch_s"] is None


def test_stop_before_start_is_an_error():
    with pytest.raises(RuntimeError):
        Stopwatch().stop()


def test_the_training_clock_only_moves_by_clocked_training():
    before = clock.training_clock()
    time.sleep(0.02)
    assert clock.training_clock() == before
    clock.advance(1.25)
    assert clock.training_clock() - before == pytest.approx(1.25)
    with pytest.raises(ValueError):
        clock.advance(float("nan"))


def test_unclocked_share_flags_time_the_clock_did_not_see():
    rec = {"backend": "jax", "epoch_s": [3.0, 1.0, 1.0], "epoch_wall_s": [3.1, 1.3, 1.3]}
    assert keys.unclocked_share(rec) == pytest.approx(1 - 2.0 / 2.6)
    # records of one fit() call per epoch: the calls' wall time
    old = {"backend": "tensorflow", "epoch_s": [3.0, 1.0, 1.0], "epoch_call_s": [4.0, 1.05, 1.05]}
    assert keys.unclocked_share(old) == pytest.approx(1 - 2.0 / 2.1)
    assert keys.unclocked_share({"backend": "sklearn", "epoch_s": [0.4]}) is None


class _Kernel:
    def __init__(self, *shape):
        self.shape = shape


class _Dense:
    def __init__(self, name, n_in, n_out):
        self.name, self.kernel = name, _Kernel(n_in, n_out)


_Dense.__name__ = "Dense"


class _Model:
    def __init__(self, *layers):
        self.layers = list(layers)
        self.trainable_weights = [l.kernel for l in layers]


def test_training_flops_skip_the_input_gradient_of_the_first_layer():
    linear = _Model(_Dense("d", 784, 10))
    total, counted, share = flops.train_flops_per_sample(linear)
    assert total == 2 * (2 * 784 * 10) and counted == ["d:Dense"] and share == 0
    mlp = _Model(_Dense("a", 784, 512), _Dense("b", 512, 10))
    fwd = 2 * 784 * 512 + 2 * 512 * 10
    assert flops.train_flops_per_sample(mlp)[0] == 3 * fwd - 2 * 784 * 512
    # the optimizer update, per parameter and step, spread over the batch
    total, _, share = flops.train_flops_per_sample(mlp, "rmsprop", 128)
    params = 784 * 512 + 512 * 10
    assert total == pytest.approx(3 * fwd - 2 * 784 * 512 + 8 * params / 128)
    assert share == pytest.approx(8 * params / 128 / total)


SLEEPY = r"""
import json, time

# a fake clock, installed before the harness is imported: real time plus offsets the test adds,
# far beyond anything real in this process
real, offset = time.perf_counter, [0.0]
time.perf_counter = lambda: real() + offset[0]
IN_EPOCH, AFTER = 1000.0, 5000.0

import keras
from mnist_bench import data, specs
from mnist_bench.cells import common, keras_cell


class JumpInsideTheEpoch(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            offset[0] += IN_EPOCH


session = keras_cell.Session(specs.BUILTIN["mlp_512"], data.load("mnist"), "smoke", 0)


def evaluate():  # the accuracy curve, with the clock stopped: it "takes" AFTER seconds
    offset[0] += AFTER
    return session.evaluate("test")[1]


log = common.EpochLog(4, "test", evaluate)
t0 = real()
call_s, setup_s = session.train(log, callbacks=[JumpInsideTheEpoch()])
print(json.dumps({"epoch_s": log.epoch_s, "walls": log.walls, "evals": log.evals,
                  "call_s": call_s, "setup_s": setup_s, "real_s": real() - t0}))
"""


@pytest.mark.slow
def test_time_inside_the_epoch_is_clocked_and_time_after_it_is_not(mnist):
    """A real fit() under a fake clock: 1,000 s added inside each epoch are in its clocked
    time, 5,000 s added while the accuracy curve is evaluated are not (they are in eval_s),
    and the call's every second is accounted for. The offsets dwarf any real time, so the
    check holds however fast or busy the machine is."""
    import json
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", SLEEPY], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"})
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    real = got["real_s"]  # all the real time the call took: a bound on every real span in it
    for e in range(4):
        assert 1000 <= got["epoch_s"][e] < 1000 + real
        assert got["epoch_s"][e] <= got["walls"][e] < got["epoch_s"][e] + real
        assert 5000 <= got["evals"][e] < 5000 + real
    accounted = got["setup_s"] + sum(got["walls"]) + sum(got["evals"])
    assert 0 <= got["call_s"] - accounted < real
    assert 4 * (1000 + 5000) <= got["call_s"] <= 4 * (1000 + 5000) + real


SNAPSHOTS = r"""
import json, time

real, offset = time.perf_counter, [0.0]
time.perf_counter = lambda: real() + offset[0]
IN_EPOCH, AFTER = 1000.0, 5000.0

import keras
import numpy as np
from mnist_bench import data, specs
from mnist_bench.cells import common, keras_cell


class JumpInsideTheEpoch(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            offset[0] += IN_EPOCH


ds = data.load("mnist")
spec = specs.BUILTIN["mlp_512"]
session = keras_cell.Session(spec, ds, "smoke", 0)
# scripted accuracies: epoch 1 ends below the target, epoch 2 ends above it; then epoch 2's
# snapshots are evaluated in order and the third is the first to reach it
script = iter([0.1, 0.9, 0.2, 0.3, 0.6] + [0.95] * 10)


def evaluate():  # with the clock stopped: it "takes" AFTER seconds
    offset[0] += AFTER
    return next(script)


log = common.EpochLog(3, "test", evaluate, target=0.5, with_weights=session.with_weights)
t0 = real()
session.train(log, callbacks=[JumpInsideTheEpoch()])
first = {"epoch_s": log.epoch_s, "evals": log.evals, "curve": log.curve, "real_s": real() - t0}

# the snapshots' evaluation leaves training as it was: the same seed with and without them
# ends with the same weights, and a snapshot's accuracy is its own, not the epoch end's
offset[0] = 0.0
trained = []
for target in (0.0, None):
    s = keras_cell.Session(spec, ds, "smoke", 0)
    log = common.EpochLog(2, "test", lambda: s.evaluate("test")[1], target=target,
                          with_weights=s.with_weights)
    s.train(log)
    trained.append((s.model.get_weights(), log.curve))
same = all(np.array_equal(a, b) for a, b in zip(trained[0][0], trained[1][0]))
print(json.dumps({**first, "same_weights": same, "curve_with": trained[0][1],
                  "curve_without": trained[1][1]}))
"""


@pytest.mark.slow
def test_time_to_target_is_resolved_within_the_epoch_that_reaches_it(mnist):
    """A real fit() under a fake clock: snapshots are taken with the clock paused and
    evaluated only in the epoch whose end first reaches the target, in order, up to the first
    that reaches it; their evaluation is outside the clock (in eval_s), their points carry the
    clocked seconds at which they were taken, and training is exactly as without them."""
    import json
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", SNAPSHOTS], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"})
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    real, e = got["real_s"], got["epoch_s"]
    for seconds in e:  # the pauses took nothing from the clocked epoch
        assert 1000 <= seconds < 1000 + real
    # epoch 1: one evaluation; epoch 2: the end and three snapshots; epoch 3: the end only
    assert [round(v // 5000) for v in got["evals"]] == [1, 4, 1]
    points = [(p["epoch"], p["test_accuracy"], p.get("within_epoch", False)) for p in got["curve"]]
    assert points == [(1, 0.1, False), (1.125, 0.2, True), (1.25, 0.3, True), (1.375, 0.6, True),
                      (2, 0.9, False), (3, 0.95, False)]
    within = [p["train_s"] for p in got["curve"][1:4]]
    # taken after the jump in batch 0 of epoch 2, before its end, in order
    assert e[0] + 1000 <= within[0] < within[1] < within[2] < e[0] + e[1]
    assert stats.time_to_target(got["curve"], 0.5) == within[2]
    assert got["same_weights"]
    with_points = got["curve_with"]
    # target 0: epoch 1's end reaches it, so its first snapshot (after one step) is evaluated
    assert with_points[0]["within_epoch"] and with_points[0]["epoch"] == 0.125
    assert with_points[0]["test_accuracy"] != with_points[1]["test_accuracy"]
    assert [p["test_accuracy"] for p in got["curve_without"]] == \
        [with_points[1]["test_accuracy"], with_points[2]["test_accuracy"]]
