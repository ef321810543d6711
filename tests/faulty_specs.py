"""Specs that go wrong in the ways a user's spec can; used by tests/test_faults.py."""

import os
import signal
import time

from mnist_bench.specs import Recipe, Spec


def not_a_model():
    return "a string, not a keras.Model"


def wrong_shape():
    import keras

    return keras.Sequential([keras.Input(shape=(32, 32, 3)), keras.layers.Flatten(),
                             keras.layers.Dense(10, activation="softmax")])


def hang():
    time.sleep(3600)


def segfault():
    os.kill(os.getpid(), signal.SIGSEGV)


def raises():
    raise RuntimeError("boom in the builder")


def _linear():
    import keras

    return keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(10, activation="softmax")])


# a learning rate this large overflows the weights to inf, so the loss is NaN in the first epoch
diverge = Spec("diverge", _linear, Recipe(optimizer="sgd", learning_rate=1e38, batch_size=32, epochs=2))

not_callable = 42


def five_outputs():
    """Five classes for a ten-class dataset: it trains, and its accuracy means nothing."""
    import keras

    return keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(5, activation="softmax")])


def logits():
    """Ten outputs without a softmax, for a loss that expects probabilities."""
    import keras

    return keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(10)])


def out_of_memory():
    """A model whose memory runs out, as a batch too large for the device does."""
    raise MemoryError("cannot allocate 17179869184 bytes")


STOP_S = 3.0  # how long stops_itself holds its own process stopped, at least
STEPS = 128  # smoke profile, batch 8: steps an epoch
STOP_STEP = 2 * STEPS + 40  # a third into epoch 3


def _stops_once():
    """A linear model whose one pass-through layer stops its own process once, at training
    step ``STOP_STEP``, having armed a SIGCONT for three times as long as epoch 2 took (at least
    ``STOP_S``): a worker stopped inside a clocked epoch, at a known place, for longer than its
    own epochs however fast or busy the machine is (needs a backend that runs the layer's
    Python each step: Keras on PyTorch)."""
    import subprocess

    import keras

    class StopOnce(keras.layers.Layer):
        calls = 0
        marks: dict = {}

        def call(self, x, training=None):
            if training:
                StopOnce.calls += 1
                if StopOnce.calls in (STEPS + 1, 2 * STEPS + 1):  # epochs 2 and 3 begin
                    StopOnce.marks[StopOnce.calls] = time.monotonic()
                if StopOnce.calls == STOP_STEP:
                    epoch2 = StopOnce.marks[2 * STEPS + 1] - StopOnce.marks[STEPS + 1]
                    hold = max(STOP_S, 3 * epoch2)
                    subprocess.Popen(["sh", "-c", f"sleep {hold:.2f}; kill -CONT {os.getpid()}"])
                    os.kill(os.getpid(), signal.SIGSTOP)
            return x

    return keras.Sequential([keras.Input(shape=(784,)), StopOnce(),
                             keras.layers.Dense(10, activation="softmax")])


stops_itself = Spec("stops_itself", _stops_once,
                    Recipe(optimizer="sgd", learning_rate=0.01, batch_size=8, epochs=4))
