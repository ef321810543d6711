"""Train and evaluate one Keras spec on the backend this process was started with.

Only a worker (or the pytest-benchmark suite, one backend per process) imports this module;
keras is imported inside the functions, after ``KERAS_BACKEND`` is set.

``Session`` is the one implementation of training and timing: the CLI's ``run_cell`` and the
pytest-benchmark rounds both call ``Session.epoch()``, one ``model.fit(epochs=1)`` each, whose
training time is read by a callback between ``on_epoch_begin`` and the end of the last step
(the device synchronised first), so data conversion and validation stay outside the clock.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from . import environment, flops, settings
from .data import Dataset
from .specs import Recipe, Spec
from .timing import Stopwatch, summarize_epochs

INFERENCE_BATCH = 1000  # predict() batch size for the inference-throughput figure
TUNED_STEPS_PER_EXECUTION = 32


class SpecShapeError(ValueError):
    """A spec whose model does not fit 28x28 images."""


def mode_settings(backend: str, mode: str) -> dict:
    """The compile() settings a mode asks of a backend, and why.

    ``default`` is Keras out of the box. ``tuned`` is the fastest Keras offers each backend:
    XLA and several steps per call where the backend accepts them.
    """
    settings.check("mode", mode, settings.MODES)
    if mode == "default":
        return {"jit_compile": "auto", "steps_per_execution": 1, "why": "Keras defaults"}
    if backend == "torch":
        return {"jit_compile": False, "steps_per_execution": 1,
                "why": "Keras 3.15.1's torch backend rejects steps_per_execution > 1; "
                       "torch.compile is slower than eager for Keras models"}
    return {"jit_compile": True, "steps_per_execution": TUNED_STEPS_PER_EXECUTION,
            "why": f"XLA, {TUNED_STEPS_PER_EXECUTION} steps per execution"}


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


@dataclass
class EpochResult:
    train_s: float  # training steps only, device synchronised
    call_s: float  # the whole fit() call: data adapter and callbacks included
    loss: float
    accuracy: float


def _make_timer(sync):
    import keras

    class EpochTimer(keras.callbacks.Callback):
        """Reads the clock at the epoch's start and after its last training step."""

        def __init__(self):
            super().__init__()
            self.watch = Stopwatch(sync)
            self.seconds = None

        def on_epoch_begin(self, epoch, logs=None):
            self.watch.start()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = self.watch.stop()

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
        model = spec.build()
        if not isinstance(model, keras.Model):
            raise SpecShapeError(f"spec {spec.name} built a {type(model).__name__}, not a keras.Model")
        self.input_shape = fit_input_shape(model, self.recipe)
        x_train = x_train.reshape(-1, *self.input_shape)
        self.x_test = self.x_test.reshape(-1, *self.input_shape)
        self.x_val = self.y_val = None
        if self.recipe.validation_split:
            from sklearn.model_selection import train_test_split

            x_train, self.x_val, y_train, self.y_val = train_test_split(
                x_train, y_train, test_size=self.recipe.validation_split, random_state=42)
        self.x_train, self.y_train = x_train, y_train
        self.mode = mode_settings(self.backend, mode)
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

    def epoch(self) -> EpochResult:
        """Train one epoch (one ``fit(epochs=1)`` call) and time it."""
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


def run_cell(cell: settings.Cell, spec: Spec, ds: Dataset, emit=lambda **event: None) -> dict:
    """Train ``spec`` per ``cell`` and return the measured part of its record.

    ``emit(event=..., ...)`` receives progress after each epoch.
    """
    import keras

    device = environment.backend_device(keras.config.backend(), cell.device)  # fail fast
    session = Session(spec, ds, cell.profile, cell.seed, cell.mode)
    epochs = settings.resolve_epochs(spec.recipe.epochs, cell.profile, cell.epochs)
    curve_on = "validation" if session.x_val is not None else "test"
    epoch_s, call_s, curve, status, reason = [], [], [], "ok", None
    elapsed = 0.0
    for e in range(epochs):
        result = session.epoch()
        epoch_s.append(result.train_s)
        call_s.append(result.call_s)
        elapsed += result.train_s
        eval_loss, eval_acc = session.evaluate(curve_on)  # outside the clock
        curve.append({"epoch": e + 1, "train_s": elapsed, "loss": result.loss,
                      "accuracy": result.accuracy, f"{curve_on}_accuracy": eval_acc})
        emit(event="epoch", epoch=e + 1, epochs=epochs, seconds=result.train_s,
             loss=result.loss, accuracy=eval_acc)
        if not math.isfinite(result.loss):
            status, reason = "diverged", f"loss became {result.loss} in epoch {e + 1}"
            break
    test_loss, test_acc = session.evaluate("test")
    inference = session.inference_samples_per_s() if status == "ok" else None
    step_flops, counted = flops.train_flops_per_sample(session.model)
    summary = summarize_epochs(epoch_s, len(session.x_train))
    achieved = (step_flops * len(session.x_train) / summary["steady_epoch_s"] / 1e9
                if summary["steady_epoch_s"] else None)
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
        "epoch_call_s": call_s,
        **summary,
        "train_flops_per_sample": step_flops,
        "flops_counted_layers": counted,
        "achieved_gflops": achieved,
        "inference_samples_per_s": inference,
        "inference_batch_size": INFERENCE_BATCH,
        "curve": curve,
        "curve_on": curve_on,
        **session.effective,
        "device": device,
        "peak_device_memory_bytes": environment.peak_device_memory(session.backend, device),
    }
