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
