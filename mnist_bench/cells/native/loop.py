"""Drive a native reference loop like a Keras cell: same data, same initial weights, same
clock, same epoch log, same result (``cells.common``).

The Keras model is built exactly as the Keras cell of the same seed builds it
(``common.prepare``), so the native loop starts from the very weights Keras would train. Each
epoch: a fresh permutation (seeded), the framework's loop over its batches with the clock
running (device synchronised at both ends), then the accuracy curve with the clock stopped.
"""

from __future__ import annotations

import time

import numpy as np

from ... import modes, settings
from ...measure import environment, phases
from ...measure.timing import Stopwatch
from .. import common
from . import layers

FORWARD_TOLERANCE = 2e-3  # probabilities; float32 reassociation and TF32 on GPUs stay far below
BF16_FORWARD_TOLERANCE = 3e-2  # bfloat16 carries 8 significant bits (as common.check_outputs)
BF16_POLICY = "mixed_bfloat16"  # what native bf16 follows: bfloat16 compute, float32 weights


def forward_difference(model, trainer, x: np.ndarray) -> float:
    """Largest difference between the Keras model's probabilities and the native loop's on
    ``x``, both at the initial weights: the native model must compute the Keras model's
    function before either trains (a wrong layout or layer shows up here, not in accuracy)."""
    import keras

    expected = keras.ops.convert_to_numpy(model(x, training=False)).astype(np.float64)
    z = trainer.logits(x).astype(np.float64)
    got = np.exp(z - z.max(axis=1, keepdims=True))
    got /= got.sum(axis=1, keepdims=True)
    if got.shape != expected.shape:
        raise common.SpecShapeError(f"native outputs have shape {got.shape}, Keras's {expected.shape}")
    return float(np.abs(got - expected).max())


def trainer_module(backend: str):
    if backend == "torch":
        from . import torch_loop as module
    elif backend == "jax":
        from . import jax_loop as module
    else:
        from . import tf_loop as module
    return module


def same_function(prep, trainer, backend: str, bf16: bool) -> float:
    """The largest difference of predicted probabilities between the native model and the
    Keras model at the initial weights; a native model that computes another function is
    refused (no result recorded)."""
    forward_diff = forward_difference(prep.model, trainer, prep.x_test[:64])
    tolerance = BF16_FORWARD_TOLERANCE if bf16 else FORWARD_TOLERANCE
    if forward_diff > tolerance:
        raise layers.NativeUnsupported(
            f"the native {backend} model does not compute the Keras model's function (largest "
            f"probability difference {forward_diff:.3g} > {tolerance:g} at the initial "
            "weights); no result recorded")
    return forward_diff


def run_cell(cell: settings.Cell, spec, ds, emit=lambda **event: None) -> dict:
    import keras

    backend = keras.config.backend()
    device = environment.backend_device(backend, cell.device)
    recipe = spec.recipe
    prep = common.prepare(spec, ds, cell.profile, cell.seed)  # the Keras cell's very weights
    ops, opt = layers.describe(prep.model), layers.optimizer(recipe)
    module = trainer_module(backend)
    gpu = device["kind"] == "gpu"
    strategy = modes.native_strategy(backend, cell.mode, any(op.kind == "conv2d" for op in ops), gpu)
    bf16 = strategy.precision == modes.BF16
    trainer = module.Trainer(
        ops, opt, prep.x_train, prep.y_train, recipe.batch_size, cell.seed, strategy, gpu=gpu)
    forward_diff = same_function(prep, trainer, backend, bf16)
    epochs = settings.resolve_epochs(recipe.epochs, cell.profile, cell.epochs)
    log = common.EpochLog(
        epochs, prep.curve_on,
        lambda: float((trainer.predict(prep.x_curve) == prep.y_curve).mean()), emit)
    rng = np.random.default_rng(cell.seed)
    watch = Stopwatch(trainer.sync)
    phases.mark("build")
    t_call = time.perf_counter()
    log.start()
    for _ in range(epochs):
        log.begin()  # the CPU meters, read before the clock starts
        watch.start()
        # the shuffle is inside the clock as it is inside Keras's epoch (fit(shuffle=True)):
        # a permutation of the training indices, about a millisecond
        trainer.train_epoch(rng.permutation(len(prep.x_train)))
        # native loops compute no running training accuracy: the curve's "accuracy" is None
        if not log.end(watch.stop(), trainer.last_loss()):
            break
    call_s = time.perf_counter() - t_call
    phases.mark("training")

    def test():
        predicted = trainer.predict(prep.x_test)
        if predicted.shape != prep.y_test.shape:
            raise common.SpecShapeError(f"native predictions have shape {predicted.shape}, "
                                        f"expected {prep.y_test.shape}")
        return None, float((predicted == prep.y_test).mean())

    return common.trained_result(
        prep, log, recipe, backend, device, call_s=call_s, setup_s=0.0, test=test,
        predict=trainer.predict, inference_batch=module.EVAL_BATCH,
        policy=BF16_POLICY if bf16 else None, jit_compile=trainer.jit,
        steps_per_execution=trainer.strategy.steps_per_call or 1, mode_note=trainer.note,
        native_forward_diff=forward_diff, learning_rate=float(opt[1]["learning_rate"]),
        strategy=trainer.strategy.to_dict())
