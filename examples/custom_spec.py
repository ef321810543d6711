"""A spec defined outside the package: run it with

    mnist-bench run --models examples/custom_spec.py:tiny_cnn
    mnist-bench run --models examples/custom_spec.py:build     # default recipe

A module-level ``import keras`` is fine: the file is imported inside each backend's worker,
after KERAS_BACKEND is set. Use only ``keras.*`` so it runs on every backend.
"""

import keras

from mnist_bench.specs import Recipe, Spec


def build():
    """An uncompiled keras.Model for 28x28x1 images with 10 softmax outputs."""
    return keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
        keras.layers.Conv2D(8, (3, 3), activation="relu"),
        keras.layers.MaxPooling2D((2, 2)),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])


tiny_cnn = Spec("tiny_cnn", build, Recipe(optimizer="adam", batch_size=128, epochs=3,
                                          input_shape=(28, 28, 1), notes="example user spec"))
