"""What every cell kind shares: the data it starts from, the epoch log with its clock and
accuracy curve, the after-training tail, and the one result it returns.

A trained cell (Keras or native) runs the same steps in the same order:

1. ``prepare``: the seed set, the profile's data slice, the spec's Keras model built (the
   native loops start from its very weights), its input shape and outputs checked on real
   images, and the recipe's validation split;
2. the epochs, each clocked (device synchronised at both ends) and logged by ``EpochLog``:
   the training clock advanced, the accuracy curve evaluated with the clock stopped, and a
   non-finite loss ending training (status ``diverged``);
3. ``trained_result``: the after-training tail (peak memory, precision, a GPU's own peaks,
   FLOPs), the test accuracy, the inference rate, and the result.

``result`` is the one way a cell (the scikit-learn baseline included) hands back what it
measured: it holds the names to the record's schema, so a cell cannot emit a field that no
record has, nor one that identifies its cell.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .. import settings
from ..errors import MnistBenchError
from ..measure import clock, disturbance, environment, flops, peak, phases, precision
from ..measure.timing import Stopwatch, summarize_epochs
from ..record import schema


class SpecShapeError(MnistBenchError, ValueError):
    """A spec whose model does not fit 28x28 images, or whose outputs are not class scores."""


# fields a worker's result may not carry: they identify the cell and its run (the parent's)
_PARENT_FIELDS = {*schema.IDENTITY, "block", "run_id", "order_seed", "canary_s", "position",
                  "impl", "node", "ray", "machine", "versions", "git",
                  "planned_batch_size", "lr_scaling"} - {"status"}


def result(**fields) -> dict:
    """A cell's result: its measured fields, checked against the record's schema."""
    unknown = sorted(set(fields) - set(schema.FIELDS))
    if unknown:
        raise RuntimeError(f"a cell returned fields no record has: {', '.join(unknown)}")
    owned = sorted(set(fields) & _PARENT_FIELDS)
    if owned:
        raise RuntimeError(f"a cell returned fields that identify its cell: {', '.join(owned)}")
    if fields.get("status") not in schema.STATUSES:
        raise RuntimeError(f"a cell returned status {fields.get('status')!r}")
    return fields


def prepare_arrays(ds, profile: str) -> tuple[np.ndarray, ...]:
    """The profile's slice of the data, scaled to [0, 1] as float32 (outside any timing)."""
    p = settings.PROFILES[profile]
    x_train, y_train = ds.x_train[: p.train_limit], ds.y_train[: p.train_limit]
    x_test, y_test = ds.x_test[: p.test_limit], ds.y_test[: p.test_limit]
    scale = np.float32(1 / 255)
    return (x_train.astype(np.float32) * scale, y_train.astype(np.int32),
            x_test.astype(np.float32) * scale, y_test.astype(np.int32))


def fit_input_shape(model, recipe) -> tuple[int, ...]:
    shape = tuple(recipe.input_shape) or tuple(model.inputs[0].shape[1:])
    if None in shape or math.prod(shape) != 784:
        raise SpecShapeError(
            f"input shape {shape} does not fit 28x28 images (784 values); "
            "valid: (784,), (28, 28), (28, 28, 1)")
    return shape


def check_outputs(model, x_sample: np.ndarray, classes: int, loss: str) -> None:
    """Refuse a model that cannot answer a ``classes``-way question the way ``loss`` expects:
    one output of shape (batch, classes), holding probabilities (rows in [0, 1] summing to 1)
    unless the loss takes logits. Checked on a few real images before any training."""
    import keras

    outputs = model(x_sample, training=False)
    if isinstance(outputs, (list, tuple, dict)):
        raise SpecShapeError(f"the model has {len(outputs)} outputs; valid: one output of "
                             f"{classes} class probabilities")
    out = keras.ops.convert_to_numpy(outputs)
    if out.ndim != 2 or out.shape[1] != classes:
        raise SpecShapeError(
            f"the model's output has shape {('batch',) + tuple(out.shape[1:])}, but the dataset has "
            f"{classes} classes; valid: (batch, {classes})")
    if "logits" in loss or not loss.startswith(("sparse_categorical_crossentropy", "categorical_crossentropy")):
        return
    out = out.astype(np.float64)
    sums = out.sum(axis=1)
    # bfloat16 probabilities carry 8 significant bits: their rows sum to 1 only to ~1e-2
    tol = 1e-3 if keras.config.dtype_policy().compute_dtype == "float32" else 3e-2
    if out.min() < -1e-6 or out.max() > 1 + tol or np.abs(sums - 1).max() > tol:
        raise SpecShapeError(
            f"the model's outputs are not probabilities (values {out.min():.3g} to {out.max():.3g}, "
            f"rows summing to {sums.min():.3g}-{sums.max():.3g}) but the loss {loss} expects them; "
            "valid: a softmax output layer")


@dataclass
class Prepared:
    """The model and data a trained cell starts from (step 1)."""

    model: object
    input_shape: tuple
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_curve: np.ndarray  # what the accuracy curve is evaluated on: the validation split, else test
    y_curve: np.ndarray
    curve_on: str  # "validation" or "test"


def set_precision(backend: str, setting: str) -> None:
    """Make float32 products and convolutions run as ``--precision`` asks, before any model is
    built (settings.PRECISIONS): as-shipped leaves each framework's defaults; float32 turns TF32
    off (JAX's "highest" matmul precision, PyTorch's and TensorFlow's TF32 switches); tf32 turns
    it on where the device has it. The record's ``precision`` probe says what actually ran."""
    if setting == "as-shipped" or backend == settings.BASELINE_BACKEND:
        return
    tf32 = setting == "tf32"
    if backend == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "tensorfloat32" if tf32 else "highest")
    elif backend == "torch":
        import torch

        torch.set_float32_matmul_precision("high" if tf32 else "highest")
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
    elif backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(tf32)


def seed_everything(keras, seed: int) -> None:
    """What ``keras.utils.set_random_seed`` does (Python, NumPy, Keras's global seed generator,
    torch), except that on the JAX and PyTorch backends it does not import TensorFlow just to
    seed it: that import costs about 3 s per cell and starts TensorFlow's thread pools beside
    the framework being measured."""
    if keras.config.backend() == "tensorflow":
        keras.utils.set_random_seed(seed)
        return
    import random

    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils

    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)
    if keras.config.backend() == "torch":
        import torch

        torch.manual_seed(seed)


def prepare(spec, ds, profile: str, seed: int, policy: str = "float32") -> Prepared:
    """Seed, slice and scale the data, build and check the spec's Keras model (under the dtype
    ``policy``), and hold out the recipe's validation split."""
    import keras

    recipe = spec.recipe
    seed_everything(keras, seed)
    x_train, y_train, x_test, y_test = prepare_arrays(ds, profile)
    keras.config.set_dtype_policy(policy)  # before any layer is made
    model = spec.build()
    if not isinstance(model, keras.Model):
        raise SpecShapeError(f"spec {spec.name} built a {type(model).__name__}, not a keras.Model")
    shape = fit_input_shape(model, recipe)
    x_train, x_test = x_train.reshape(-1, *shape), x_test.reshape(-1, *shape)
    check_outputs(model, x_test[:32], int(ds.y_train.max()) + 1, recipe.loss)
    x_curve, y_curve, curve_on = x_test, y_test, "test"
    if recipe.validation_split:
        from sklearn.model_selection import train_test_split

        x_train, x_curve, y_train, y_curve = train_test_split(
            x_train, y_train, test_size=recipe.validation_split, random_state=42)
        curve_on = "validation"
    return Prepared(model, shape, x_train, y_train, x_test, y_test, x_curve, y_curve, curve_on)


SNAPSHOTS_PER_EPOCH = 8  # weight snapshots per epoch for time to target (TargetSnapshots)


class CpuReadings:
    """Each epoch's CPU seconds, this process's and everyone else's on the CPUs it may use
    (``measure.disturbance``), read just outside the epoch's clock; and the run's flags."""

    def __init__(self):
        self.own, self.foreign = [], []
        self.meter = disturbance.CpuMeter()

    def begin(self) -> None:
        self.meter.begin()

    def end(self) -> None:
        own, foreign = self.meter.end()
        self.meter = disturbance.CpuMeter()
        if own is not None:
            self.own.append(own)
            self.foreign.append(foreign)

    def fields(self, epoch_s: list) -> dict:
        """The record's per-epoch CPU readings and flags."""
        if len(self.own) != len(epoch_s):  # an epoch without readings: nothing to judge
            return {"flags": disturbance.flags(epoch_s, [], [])}
        foreign = None if any(f is None for f in self.foreign) else self.foreign
        return {"epoch_cpu_s": self.own, "epoch_foreign_cpu_s": foreign,
                "flags": disturbance.flags(epoch_s, self.own, foreign or [])}


class TargetSnapshots:
    """Time to target finer than an epoch. Given the recipe's ``target`` and ``with_weights``
    (``with_weights(weights, fn)`` runs ``fn`` with the model holding ``weights``, then puts
    the training weights back), a cell hands in ``snapshot``s of its weights taken with the
    clock paused at ``SNAPSHOTS_PER_EPOCH`` points of each epoch, until the target is reached.
    Only in the epoch whose end first reaches the target are the snapshots evaluated, in order
    and with the clock stopped, up to the first that reaches it: each becomes a curve point
    (``within_epoch``) with its clocked seconds, so the first point at the target is known to
    an eighth of an epoch at a cost of a few evaluations in one epoch."""

    def __init__(self, target: float | None, with_weights, curve_on: str):
        self.target, self.with_weights, self.curve_on = target, with_weights, curve_on
        self.reached, self.snaps = False, []

    def wanted(self) -> bool:
        return self.target is not None and self.with_weights is not None and not self.reached

    def add(self, seconds: float, fraction: float, weights) -> None:
        self.snaps.append((seconds, fraction, weights))

    def epoch_end(self, n: int, before_s: float, accuracy: float | None, evaluate) -> list[dict]:
        """The points inside epoch ``n`` (``before_s``: the clocked seconds of the epochs
        before it) when its end first reached the target, else none; the epoch's snapshots
        are dropped either way."""
        points = []
        if accuracy is not None and self.wanted() and accuracy >= self.target:
            self.reached = True
            for seconds, fraction, weights in self.snaps:
                acc = float(self.with_weights(weights, evaluate))
                points.append({"epoch": round(n - 1 + fraction, 4), "train_s": before_s + seconds,
                               "loss": None, "accuracy": None,
                               f"{self.curve_on}_accuracy": acc, "within_epoch": True})
                if acc >= self.target:
                    break
        self.snaps = []
        return points


class EpochLog:
    """Each epoch's clocked seconds, its wall time, the paused clock of its evaluation, the
    accuracy curve, and the first non-finite loss (step 2); the CPU readings around each
    epoch (``CpuReadings``) and the points inside the epoch that reached the target
    (``TargetSnapshots``) are kept by their own parts.

    ``start()`` marks where the first epoch's wall time begins; ``end(...)`` follows each
    epoch's clocked training and returns False when training must stop (the loss is not
    finite). Wall time runs from the previous evaluation's end to the epoch's end.
    """

    def __init__(self, epochs: int, curve_on: str, evaluate, emit=lambda **event: None,
                 target: float | None = None, with_weights=None):
        self.epochs, self.curve_on, self.evaluate, self.emit = epochs, curve_on, evaluate, emit
        self.epoch_s, self.walls, self.evals, self.curve, self.problem = [], [], [], [], None
        self.mark = self.started = None
        self.cpu = CpuReadings()
        self.target = TargetSnapshots(target, with_weights, curve_on)

    def wants_snapshots(self) -> bool:
        return self.target.wanted()

    def snapshot(self, seconds: float, fraction: float, weights) -> None:
        """The weights after ``seconds`` of this epoch's clocked training, ``fraction`` of
        its steps done (taken with the clock paused)."""
        self.target.add(seconds, fraction, weights)

    def start(self) -> None:
        self.mark = self.started = time.perf_counter()

    def begin(self) -> None:
        """Just before the epoch's clock starts: the CPU meters' first reading (kept out of
        the timed region)."""
        self.cpu.begin()

    def end(self, seconds: float, loss: float, train_accuracy: float | None = None) -> bool:
        self.cpu.end()
        clock.advance(seconds)
        end = time.perf_counter()
        self.epoch_s.append(seconds)
        self.walls.append(end - (self.mark if self.mark is not None else end - seconds))
        n = len(self.epoch_s)
        finite = math.isfinite(loss)
        acc = self.evaluate() if finite else None  # the clock is stopped here
        self.curve.extend(self.target.epoch_end(n, sum(self.epoch_s[:-1]), acc, self.evaluate))
        self.curve.append({"epoch": n, "train_s": sum(self.epoch_s), "loss": loss,
                           "accuracy": train_accuracy, f"{self.curve_on}_accuracy": acc})
        self.emit(event="epoch", epoch=n, epochs=self.epochs, seconds=seconds, loss=loss,
                  accuracy=acc)
        if not finite and self.problem is None:
            self.problem = f"loss became {loss} in epoch {n}"
        self.mark = time.perf_counter()
        self.evals.append(self.mark - end)
        return finite

    def status(self) -> tuple[str, str | None]:
        return ("diverged", self.problem) if self.problem else ("ok", None)

    def disturbance(self) -> dict:
        """The per-epoch CPU readings and the run's flags (``measure.disturbance``)."""
        return self.cpu.fields(self.epoch_s)


def inference_rate(predict, x: np.ndarray) -> float:
    """Predictions per second over ``x``, after one untimed warm-up pass (``predict`` returns
    host arrays, so the device has finished when it returns)."""
    predict(x)
    watch = Stopwatch()
    watch.start()
    predict(x)
    return len(x) / watch.stop()


def after_training(model, recipe, backend: str, device: dict, epoch_s: list,
                   train_samples: int, policy: str | None = None) -> dict:
    """What every trained cell records beside its own results, read right after training:
    peak device memory, the precision its float32 work ran in, a GPU's own product rates, the
    epoch summary and the FLOPs and GFLOP/s achieved."""
    import keras

    # read before the peak measurement below, whose 4096^2 matrices are not the model's
    peak_memory = environment.peak_device_memory(backend, device)
    fields = {"peak_device_memory_bytes": peak_memory,
              "precision": precision.probe(backend, policy),  # read off the device, not assumed
              "device_peak_gflops": peak.gpu_peaks(keras.ops) if device["kind"] == "gpu" else None}
    step_flops, counted, update_share = flops.train_flops_per_sample(
        model, recipe.optimizer, recipe.batch_size)
    summary = summarize_epochs(epoch_s, train_samples)
    achieved = (step_flops * train_samples / summary["steady_epoch_s"] / 1e9
                if summary["steady_epoch_s"] else None)
    return {**fields, **summary, "train_flops_per_sample": step_flops,
            "flops_counted_layers": counted, "flops_update_share": update_share,
            "achieved_gflops": achieved}


def trained_result(prep: Prepared, log: EpochLog, recipe, backend: str, device: dict, *,
                   call_s: float, setup_s: float, test, predict, inference_batch: int,
                   policy: str | None = None, **settings_fields) -> dict:
    """Step 3: the result of a trained cell. ``test()`` gives (loss or None, accuracy) on the
    test set; ``predict(x)`` the class predictions timed for the inference rate."""
    measured = after_training(prep.model, recipe, backend, device, log.epoch_s,
                              len(prep.x_train), policy=policy)
    phases.mark("probes")
    status, reason = log.status()
    test_loss, test_acc = test()
    inference = inference_rate(predict, prep.x_test) if status == "ok" else None
    return result(
        status=status, reason=reason, epochs_planned=log.epochs, epochs_run=len(log.epoch_s),
        batch_size=recipe.batch_size, train_samples=len(prep.x_train),
        test_samples=len(prep.x_test), input_shape=list(prep.input_shape),
        params=int(prep.model.count_params()), test_accuracy=test_acc, test_loss=test_loss,
        epoch_s=log.epoch_s, epoch_wall_s=log.walls, eval_s=log.evals, fit_call_s=call_s,
        fit_setup_s=setup_s,
        # the whole call less every span accounted for: the framework's teardown after the last epoch
        fit_unaccounted_s=call_s - setup_s - sum(log.walls) - sum(log.evals),
        **measured, inference_samples_per_s=inference, inference_batch_size=inference_batch,
        curve=log.curve, curve_on=log.curve_on, device=device, **log.disturbance(),
        **settings_fields)
