"""A spec whose builder reports the process-wide state it finds, then changes it: two cells of
it forked from one server must each find the state no cell has touched (tests/test_forkserver.py)."""

import json
import os


def leaky():
    import keras
    import numpy as np

    from mnist_bench.cells import common

    first = keras.layers.Dense(10, activation="softmax")  # Keras names layers from a global count
    seen = {"pid": os.getpid(), "parent": os.getppid(), "uid": keras.backend.get_uid("isolation"),
            "layer": first.name, "epsilon": keras.config.epsilon(),
            "module_state": getattr(common, "_left_by_a_cell", None),
            "compiled": hasattr(keras, "_compiled_by_a_cell"), "numpy_draw": float(np.random.rand())}
    print("SEEN " + json.dumps(seen), flush=True)
    # what a cell might leave behind for the next one, if cells shared a process
    common._left_by_a_cell = os.getpid()
    keras.config.set_epsilon(0.5)
    keras._compiled_by_a_cell = keras.ops.vectorize(lambda x: x + 1)
    np.random.seed(99)
    keras.backend.get_uid("isolation")
    return keras.Sequential([keras.Input(shape=(784,)), first])
