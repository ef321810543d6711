"""Drive a native reference loop like a Keras cell: same data, same initial weights, same
clock, same record.

The Keras model is built exactly as the Keras cell of the same seed builds it (the seed is set,
then the spec's builder runs), so the native loop starts from the very weights Keras would
train. Each epoch: a fresh permutation (seeded), the framework's loop over its batches with the
clock running (device synchronised at both ends), then the accuracy curve with the clock
stopped.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .. import settings, train
from ..measure import clock, environment
from ..measure.timing import Stopwatch
from . import layers

MODES = settings.NATIVE_MODES
FORWARD_TOLERANCE = 2e-3  # probabilities; float32 reassociation and TF32 on GPUs stay far below
BF16_FORWARD_TOLERANCE = 3e-2  # bfloat16 carries 8 significant bits (as train.check_outputs)
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
        raise train.SpecShapeError(f"native outputs have shape {got.shape}, Keras's {expected.shape}")
    return float(np.abs(got - expected).max())


def trainer_module(backend: str):
    if backend == "torch":
        from . import native_torch as module
    elif backend == "jax":
        from . import native_jax as module
    else:
        from . import native_tf as module
    return module


def run_cell(cell: settings.Cell, spec, ds, emit=lambda **event: None) -> dict:
    import keras

    if cell.mode not in MODES:
        raise layers.NativeUnsupported(f"native loops have the modes {', '.join(MODES)}, not "
                                       f"{cell.mode!r}")
    backend = keras.config.backend()
    device = environment.backend_device(backend, cell.device)
    recipe = spec.recipe
    keras.utils.set_random_seed(cell.seed)  # as train.Session does: the same initial weights
    x_train, y_train, x_test, y_test = train.prepare_arrays(ds, cell.profile)
    model = spec.build()
    shape = train.fit_input_shape(model, recipe)
    x_train, x_test = x_train.reshape(-1, *shape), x_test.reshape(-1, *shape)
    train.check_outputs(model, x_test[:32], int(ds.y_train.max()) + 1, recipe.loss)
    ops, opt = layers.describe(model), layers.optimizer(recipe)
    x_curve, y_curve, curve_on = x_test, y_test, "test"
    if recipe.validation_split:
        from sklearn.model_selection import train_test_split

        x_train, x_curve, y_train, y_curve = train_test_split(
            x_train, y_train, test_size=recipe.validation_split, random_state=42)
        curve_on = "validation"
    module = trainer_module(backend)
    trainer = module.Trainer(
        ops, opt, x_train, y_train, recipe.batch_size, cell.seed, tuned=cell.mode == "tuned",
        gpu=device["kind"] == "gpu", bf16=cell.mode == "bf16")
    forward_diff = forward_difference(model, trainer, x_test[:64])
    tolerance = BF16_FORWARD_TOLERANCE if cell.mode == "bf16" else FORWARD_TOLERANCE
    if forward_diff > tolerance:
        raise layers.NativeUnsupported(
            f"the native {backend} model does not compute the Keras model's function (largest "
            f"probability difference {forward_diff:.3g} > {tolerance:g} at the initial "
            "weights); no result recorded")
    epochs = settings.resolve_epochs(recipe.epochs, cell.profile, cell.epochs)
    rng = np.random.default_rng(cell.seed)
    watch = Stopwatch(trainer.sync)
    epoch_s, walls, evals, curve, problem = [], [], [], [], []
    t_call = time.perf_counter()
    for e in range(epochs):
        mark = time.perf_counter()
        watch.start()
        # the shuffle is inside the clock as it is inside Keras's epoch (fit(shuffle=True)):
        # a permutation of the training indices, about a millisecond
        trainer.train_epoch(rng.permutation(len(x_train)))
        seconds = watch.stop()
        clock.advance(seconds)
        end = time.perf_counter()
        epoch_s.append(seconds)
        walls.append(end - mark)
        loss = trainer.last_loss()
        acc = float((trainer.predict(x_curve) == y_curve).mean()) if math.isfinite(loss) else None
        curve.append({"epoch": e + 1, "train_s": sum(epoch_s), "loss": loss,
                      f"{curve_on}_accuracy": acc})
        emit(event="epoch", epoch=e + 1, epochs=epochs, seconds=seconds, loss=loss, accuracy=acc)
        evals.append(time.perf_counter() - end)
        if not math.isfinite(loss):
            problem.append(f"loss became {loss} in epoch {e + 1}")
            break
    call_s = time.perf_counter() - t_call
    measured = train.after_training(model, recipe, backend, device, epoch_s, len(x_train),
                                    policy=BF16_POLICY if cell.mode == "bf16" else None)
    status, reason = ("diverged", problem[0]) if problem else ("ok", None)
    predicted = trainer.predict(x_test)
    if predicted.shape != y_test.shape:
        raise train.SpecShapeError(f"native predictions have shape {predicted.shape}, expected "
                                   f"{y_test.shape}")
    test_acc = float((predicted == y_test).mean())
    inference = None
    if status == "ok":
        t0 = time.perf_counter()
        trainer.predict(x_test)
        inference = len(x_test) / (time.perf_counter() - t0)
    return {
        "status": status, "reason": reason, "epochs_planned": epochs, "epochs_run": len(epoch_s),
        "batch_size": recipe.batch_size, "train_samples": len(x_train),
        "test_samples": len(x_test), "input_shape": list(shape),
        "params": int(model.count_params()), "test_accuracy": test_acc, "test_loss": None,
        "epoch_s": epoch_s, "epoch_wall_s": walls, "eval_s": evals, "fit_call_s": call_s,
        "fit_setup_s": 0.0, "fit_unaccounted_s": call_s - sum(walls) - sum(evals),
        **measured,
        "inference_samples_per_s": inference, "inference_batch_size": module.EVAL_BATCH,
        "curve": curve, "curve_on": curve_on, "jit_compile": trainer.jit, "steps_per_execution": 1,
        "mode_note": trainer.note, "native_forward_diff": forward_diff, "device": device,
    }
