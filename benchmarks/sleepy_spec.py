"""A spec whose cell waits 2 s in its builder: a cell whose time is the same on any number of
cores, for benchmarks/ray_spread.py."""

import time


def sleepy():
    import keras

    time.sleep(2.0)
    return keras.Sequential([keras.Input(shape=(784,)), keras.layers.Dense(10, activation="softmax")])
