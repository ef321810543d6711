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
