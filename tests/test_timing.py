"""The timed region, with clocks and syncs we control (fast: no training)."""

import time

import pytest

from mnist_bench.analysis import aggregate
from mnist_bench.measure import clock, flops
from mnist_bench.measure.timing import Stopwatch


def test_work_the_device_still_owes_at_stop_is_counted_and_work_before_start_is_not():
    owed = {"s": 0.0}

    def sync():  # a fake device: waiting for it takes whatever it still owes
        time.sleep(owed["s"])
        owed["s"] = 0.0

    watch = Stopwatch(sync)
    owed["s"] = 0.2  # queued before the region: synced away before the clock starts
    watch.start()
    time.sleep(0.05)  # the region itself
    owed["s"] = 0.1  # queued inside the region, finished only when stop() syncs
    elapsed = watch.stop()
    assert 0.15 <= elapsed < 0.2 + 0.05


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
    assert aggregate.unclocked_share(rec) == pytest.approx(1 - 2.0 / 2.6)
    # records of one fit() call per epoch: the calls' wall time
    old = {"backend": "tensorflow", "epoch_s": [3.0, 1.0, 1.0], "epoch_call_s": [4.0, 1.05, 1.05]}
    assert aggregate.unclocked_share(old) == pytest.approx(1 - 2.0 / 2.1)
    assert aggregate.unclocked_share({"backend": "sklearn", "epoch_s": [0.4]}) is None


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
import json, sys, time
import keras
from mnist_bench import data, specs, train

IN_EPOCH, AFTER = 0.25, 0.3


class SleepInsideTheEpoch(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            time.sleep(IN_EPOCH)


def session():
    return train.Session(specs.BUILTIN["mlp_512"], data.load("mnist"), "smoke", 0)


plain = session().train(4)
sleepy = session().train(4, after_epoch=lambda e, logs, s: time.sleep(AFTER),
                         callbacks=[SleepInsideTheEpoch()])
print(json.dumps({"plain": plain.__dict__, "sleepy": sleepy.__dict__}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_a_sleep_inside_the_epoch_is_clocked_and_one_after_it_is_not(backend, mnist):
    """A real fit(): a callback sleeping 0.25 s inside each epoch adds that to the clocked
    epoch; one sleeping 0.3 s after it (where the accuracy curve is evaluated) adds nothing to
    the clock, shows in eval_s, and every second of the call is still accounted for."""
    import json
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", SLEEPY], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu"})
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    plain, sleepy = got["plain"], got["sleepy"]
    for e in range(1, 4):  # steady epochs
        extra = sleepy["epoch_s"][e] - plain["epoch_s"][e]
        assert 0.2 < extra < 0.25 + 0.2, (e, plain["epoch_s"], sleepy["epoch_s"])
        assert sleepy["eval_s"][e] >= 0.3 > plain["eval_s"][e]
        assert sleepy["epoch_s"][e] <= sleepy["epoch_wall_s"][e] < sleepy["epoch_s"][e] + 0.05
    accounted = sleepy["setup_s"] + sum(sleepy["epoch_wall_s"]) + sum(sleepy["eval_s"])
    assert 0 <= sleepy["fit_call_s"] - accounted < 0.05
