"""Train and evaluate one Keras spec on the backend this process was started with.

Only a worker (or the pytest-benchmark suite, one backend per process) imports this module;
keras is imported inside the functions, after ``KERAS_BACKEND`` is set.

``Session`` is the one implementation of training and timing. A cell trains as a user does:
one ``model.fit(epochs=N)`` call (``Session.train``). A callback reads the clock from
``on_epoch_begin`` to ``on_epoch_end`` (the device synchronised at both ends), then, with the
clock stopped, evaluates the accuracy curve; every second of the call is accounted for: the
clocked training, the evaluation, the time between epochs that the clock did not see, and the
setup before the first epoch (``TrainResult``). The pytest-benchmark suite needs one call per
round and uses ``Session.epoch()``, one ``fit(epochs=1)`` call, timed by the same callback.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from . import settings
from .measure import clock, environment, flops, peak, precision
from .data import Dataset
from .specs import Recipe, Spec
from .measure.timing import Stopwatch, summarize_epochs
from .errors import MnistBenchError

INFERENCE_BATCH = 1000  # predict() batch size for the inference-throughput figure
TUNED_STEPS_PER_EXECUTION = 32


class SpecShapeError(MnistBenchError, ValueError):
    """A spec whose model does not fit 28x28 images."""


def mode_settings(backend: str, mode: str) -> dict:
    """The compile() settings a mode asks of a backend, and why.

    ``default`` is Keras out of the box. ``tuned`` is the fastest Keras offers each backend:
    XLA and several steps per call where the backend accepts them; on torch ``jit_compile=True``
    (``torch.compile``), one step per call. ``bf16`` is ``default`` under the
    ``mixed_bfloat16`` dtype policy (bfloat16 compute, float32 weights).
    """
    settings.check("mode", mode, settings.MODES)
    if mode == "default":
        return {"jit_compile": "auto", "steps_per_execution": 1, "policy": "float32",
                "why": "Keras defaults"}
    if mode == "bf16":
        return {"jit_compile": "auto", "steps_per_execution": 1, "policy": "mixed_bfloat16",
                "why": "Keras defaults, mixed_bfloat16 dtype policy"}
    if backend == "torch":
        return {"jit_compile": True, "steps_per_execution": 1, "policy": "float32",
                "why": "torch.compile (jit_compile=True); Keras 3.15.1's torch backend rejects "
                       "steps_per_execution > 1"}
    return {"jit_compile": True, "steps_per_execution": TUNED_STEPS_PER_EXECUTION,
            "policy": "float32", "why": f"XLA, {TUNED_STEPS_PER_EXECUTION} steps per execution"}


def prepare_arrays(ds: Dataset, profile: str) -> tuple[np.ndarray, ...]:
    """The profile's slice of the data, scaled to [0, 1] as float32 (outside any timing)."""
    p = settings.PROFILES[profile]
    x_train, y_train = ds.x_train[: p.train_limit], ds.y_train[: p.train_limit]
    x_test, y_test = ds.x_test[: p.test_limit], ds.y_test[: p.test_limit]
    scale = np.float32(1 / 255)
    return (x_train.astype(np.float32) * scale, y_train.astype(np.int32),
            x_test.astype(np.float32) * scale, y_test.astype(np.int32))


def fit_input_shape(model, recipe: Recipe) -> tuple[int, ...]:
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
class EpochResult:
    train_s: float  # training steps only, device synchronised
    call_s: float  # the whole fit() call: data adapter and callbacks included
    loss: float
    accuracy: float


@dataclass
class TrainResult:
    """Where the seconds of one ``fit(epochs=N)`` call went."""

    epoch_s: list  # clocked training time of each epoch (device synchronised)
    epoch_wall_s: list  # wall time of each epoch, from the end of the previous epoch's evaluation
    #                     (or the first on_epoch_begin's caller) to the end of its training
    eval_s: list  # the paused clock: evaluating the accuracy curve after each epoch
    fit_call_s: float  # the whole fit() call
    setup_s: float  # fit() entry to the first epoch (data adapter, tracing set-up)


def _make_timer(sync, after_epoch=None):
    """A callback that clocks each epoch; ``after_epoch(epoch, logs, seconds)`` runs with the
    clock stopped."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        """Reads the clock at the epoch's start and after its last training step."""

        def __init__(self):
            super().__init__()
            self.watch = Stopwatch(sync)
            self.seconds = None
            self.mark = None  # end of the last accounted span
            self.walls, self.evals, self.times = [], [], []
            self.train_begin = None

        def on_train_begin(self, logs=None):
            self.train_begin = self.mark = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.watch.start()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = self.watch.stop()
            clock.advance(self.seconds)
            end = time.perf_counter()
            self.times.append(self.seconds)
            self.walls.append(end - self.mark)  # mark: on_train_begin, or the last evaluation's end
            if after_epoch is not None:
                after_epoch(epoch, logs or {}, self.seconds)
            self.mark = time.perf_counter()
            self.evals.append(self.mark - end)

    return EpochTimer()


class Session:
    """A compiled model and its data, ready to train one epoch at a time.

    Args:
        spec: the spec to build.
        ds: the verified dataset.
        profile: the data slice (see ``settings.PROFILES``).
        seed: seeds keras, numpy and the backend, and the validation split.
        mode: "default" or "tuned" (see ``mode_settings``).
    """

    def __init__(self, spec: Spec, ds: Dataset, profile: str = "quick", seed: int = 0,
                 mode: str = "default"):
        import keras

        self.keras = keras
        self.backend = keras.config.backend()
        self.spec, self.recipe = spec, spec.recipe
        keras.utils.set_random_seed(seed)
        x_train, y_train, self.x_test, self.y_test = prepare_arrays(ds, profile)
        self.mode = mode_settings(self.backend, mode)
        keras.config.set_dtype_policy(self.mode["policy"])  # before any layer is made
        model = spec.build()
        if not isinstance(model, keras.Model):
            raise SpecShapeError(f"spec {spec.name} built a {type(model).__name__}, not a keras.Model")
        self.input_shape = fit_input_shape(model, self.recipe)
        x_train = x_train.reshape(-1, *self.input_shape)
        self.x_test = self.x_test.reshape(-1, *self.input_shape)
        check_outputs(model, self.x_test[:32], int(ds.y_train.max()) + 1, self.recipe.loss)
        self.x_val = self.y_val = None
        if self.recipe.validation_split:
            from sklearn.model_selection import train_test_split

            x_train, self.x_val, y_train, self.y_val = train_test_split(
                x_train, y_train, test_size=self.recipe.validation_split, random_state=42)
        self.x_train, self.y_train = x_train, y_train
        optimizer = keras.optimizers.get(self.recipe.optimizer)
        if self.recipe.learning_rate is not None:
            optimizer.learning_rate = self.recipe.learning_rate
        model.compile(optimizer=optimizer, loss=self.recipe.loss, metrics=["accuracy"],
                      jit_compile=self.mode["jit_compile"],
                      steps_per_execution=self.mode["steps_per_execution"])
        self.model = model
        self.epochs_done = 0
        self._timer = _make_timer(self.sync)

    def sync(self) -> None:
        """Wait for the device: reading a weight back needs every step before it finished."""
        if self.model.built and self.model.optimizer.built:
            self.keras.ops.convert_to_numpy(self.model.optimizer.iterations)
            self.keras.ops.convert_to_numpy(self.model.trainable_variables[-1])

    @property
    def effective(self) -> dict:
        return {"jit_compile": bool(self.model.jit_compile),
                "steps_per_execution": int(self.model.steps_per_execution),
                "mode_note": self.mode["why"]}

    def train(self, epochs: int, after_epoch=None, callbacks=()) -> TrainResult:
        """Train ``epochs`` epochs in one ``fit()`` call, as a user does, and account for its time.

        ``after_epoch(epoch, logs, seconds)`` runs after each epoch with the clock stopped (the
        accuracy curve); setting ``self.model.stop_training`` there ends training after that epoch.
        """
        timer = _make_timer(self.sync, after_epoch)
        t0 = time.perf_counter()
        self.model.fit(
            self.x_train, self.y_train, batch_size=self.recipe.batch_size, epochs=epochs,
            shuffle=True, verbose=0, callbacks=[timer, *callbacks])
        fit_call_s = time.perf_counter() - t0
        self.epochs_done += len(timer.times)
        return TrainResult(timer.times, timer.walls, timer.evals, fit_call_s,
                           (timer.train_begin or t0) - t0)

    def epoch(self) -> EpochResult:
        """Train one epoch (one ``fit(epochs=1)`` call) and time it (the pytest-benchmark round)."""
        t0 = time.perf_counter()
        history = self.model.fit(
            self.x_train, self.y_train, batch_size=self.recipe.batch_size,
            epochs=self.epochs_done + 1, initial_epoch=self.epochs_done, shuffle=True,
            verbose=0, callbacks=[self._timer])
        call_s = time.perf_counter() - t0
        self.epochs_done += 1
        return EpochResult(self._timer.seconds, call_s, float(history.history["loss"][-1]),
                           float(history.history["accuracy"][-1]))

    def evaluate(self, on: str = "test") -> tuple[float, float]:
        """(loss, accuracy) on the test set or on the recipe's validation split."""
        x, y = (self.x_val, self.y_val) if on == "validation" else (self.x_test, self.y_test)
        loss, acc = self.model.evaluate(x, y, batch_size=INFERENCE_BATCH, verbose=0)
        return float(loss), float(acc)

    def inference_samples_per_s(self) -> float:
        """Test-set predictions per second, after one untimed warm-up pass."""
        self.model.predict(self.x_test, batch_size=INFERENCE_BATCH, verbose=0)
        watch = Stopwatch(lambda: None)  # predict() returns host arrays: already synchronised
        watch.start()
        self.model.predict(self.x_test, batch_size=INFERENCE_BATCH, verbose=0)
        return len(self.x_test) / watch.stop()


def after_training(model, recipe: Recipe, backend: str, device: dict, epoch_s: list,
                   train_samples: int, policy: str | None = None) -> dict:
    """What every trained cell (Keras or native) records beside its own results, read right
    after training: peak device memory, the precision its float32 work ran in, a GPU's own
    product rates, the epoch summary and the FLOPs and GFLOP/s achieved."""
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


def run_cell(cell: settings.Cell, spec: Spec, ds: Dataset, emit=lambda **event: None) -> dict:
    """Train ``spec`` per ``cell`` and return the measured part of its record.

    ``emit(event=..., ...)`` receives progress after each epoch.
    """
    import keras

    device = environment.backend_device(keras.config.backend(), cell.device)  # fail fast
    session = Session(spec, ds, cell.profile, cell.seed, cell.mode)
    epochs = settings.resolve_epochs(spec.recipe.epochs, cell.profile, cell.epochs)
    curve_on = "validation" if session.x_val is not None else "test"
    curve, problem = [], []

    def after_epoch(e, logs, seconds):  # the clock is stopped here
        loss = float(logs.get("loss", float("nan")))
        elapsed = seconds + (curve[-1]["train_s"] if curve else 0.0)
        eval_acc = session.evaluate(curve_on)[1] if math.isfinite(loss) else None
        curve.append({"epoch": e + 1, "train_s": elapsed, "loss": loss,
                      "accuracy": float(logs.get("accuracy", float("nan"))),
                      f"{curve_on}_accuracy": eval_acc})
        emit(event="epoch", epoch=e + 1, epochs=epochs, seconds=seconds, loss=loss,
             accuracy=eval_acc)
        if not math.isfinite(loss):
            problem.append(f"loss became {loss} in epoch {e + 1}")
            session.model.stop_training = True

    result = session.train(epochs, after_epoch)
    epoch_s = result.epoch_s
    measured = after_training(session.model, spec.recipe, session.backend, device, epoch_s,
                              len(session.x_train))
    status, reason = ("diverged", problem[0]) if problem else ("ok", None)
    test_loss, test_acc = session.evaluate("test")
    inference = session.inference_samples_per_s() if status == "ok" else None
    return {
        "status": status,
        "reason": reason,
        "epochs_planned": epochs,
        "epochs_run": len(epoch_s),
        "batch_size": spec.recipe.batch_size,
        "train_samples": len(session.x_train),
        "test_samples": len(session.x_test),
        "input_shape": list(session.input_shape),
        "params": int(session.model.count_params()),
        "test_accuracy": test_acc,
        "test_loss": test_loss,
        "epoch_s": epoch_s,
        "epoch_wall_s": result.epoch_wall_s,
        "eval_s": result.eval_s,
        "fit_call_s": result.fit_call_s,
        "fit_setup_s": result.setup_s,
        # the whole call less every span accounted for above: Keras's teardown after the last epoch
        "fit_unaccounted_s": result.fit_call_s - result.setup_s - sum(result.epoch_wall_s)
        - sum(result.eval_s),
        **measured,
        "inference_samples_per_s": inference,
        "inference_batch_size": INFERENCE_BATCH,
        "curve": curve,
        "curve_on": curve_on,
        **session.effective,
        "device": device,
    }
