"""The Keras cell: one spec trained by ``model.fit`` on the backend this process started with.

Only a worker (or the pytest-benchmark suite, one backend per process) imports this module;
keras is imported inside the functions, after ``KERAS_BACKEND`` is set.

A cell trains as a user does: one ``model.fit(epochs=N)`` call (``Session.train``). A callback
reads the clock from ``on_epoch_begin`` to ``on_epoch_end`` (the device synchronised at both
ends) and hands each epoch to the shared ``common.EpochLog``, which evaluates the accuracy
curve with the clock stopped; every second of the call is accounted for (the clocked training,
the evaluation, the time between epochs the clock did not see, and the setup before the first
epoch). The pytest-benchmark suite needs one call per round and uses ``Session.epoch()``, one
``fit(epochs=1)`` call, timed by the same callback.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .. import modes, settings, strategies
from ..measure import clock, environment, phases
from ..measure.timing import Stopwatch
from . import common

INFERENCE_BATCH = 1000  # predict() batch size for the inference-throughput figure


@dataclass
class EpochResult:
    """One ``fit(epochs=1)`` call: a pytest-benchmark round."""

    train_s: float  # training steps only, device synchronised
    call_s: float  # the whole fit() call: data adapter and callbacks included
    loss: float


class _EpochClock:
    """Reads the clock at each epoch's start and after its last training step and, with the
    clock stopped, hands the epoch to ``log`` (``common.EpochLog``), which evaluates the
    accuracy curve and may stop training; mixed into a Keras callback by ``_make_timer``."""

    def __init__(self, sync, log=None):
        super().__init__()
        self.log = log
        self.watch = Stopwatch(sync)
        self.seconds = None
        self.clocked, self.next_point, self.steps, self.due = 0.0, 1, 0, float("inf")

    def on_train_begin(self, logs=None):
        if self.log is not None:
            self.log.start()

    def on_epoch_begin(self, epoch, logs=None):
        if self.log is not None:
            self.log.begin()  # the CPU meters, read before the clock starts
        self.clocked, self.next_point = 0.0, 1
        # the step at which the next snapshot is due, worked out here, off the clock
        self.steps = (self.params or {}).get("steps") or 0
        wanted = self.log is not None and self.log.wants_snapshots() and self.steps
        self.due = self.steps / common.SNAPSHOTS_PER_EPOCH if wanted else float("inf")
        self.watch.start()

    def on_train_batch_begin(self, batch, logs=None):
        # a batch-begin hook (unlike batch-end) leaves Keras's asynchronous dispatch of
        # batch callbacks as it is; with steps_per_execution > 1 it runs once per call
        if batch < self.due:  # all the clocked time this hook costs on most steps
            return
        model = self.model  # on JAX this attaches the in-flight state to the model first
        self.clocked += self.watch.stop()  # the clock pauses after the device finished
        self.log.snapshot(self.clocked, batch / self.steps, model.get_weights())
        per = self.steps / common.SNAPSHOTS_PER_EPOCH
        while self.next_point * per <= batch:
            self.next_point += 1
        self.due = self.next_point * per if self.next_point < common.SNAPSHOTS_PER_EPOCH else float("inf")
        self.watch.start()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = self.clocked + self.watch.stop()
        if self.log is None:  # one epoch a call (pytest-benchmark rounds)
            clock.advance(self.seconds)
            return
        logs = logs or {}
        loss = float(logs.get("loss", float("nan")))
        if not self.log.end(self.seconds, loss, float(logs.get("accuracy", float("nan")))):
            self.model.stop_training = True


def _make_timer(sync, log=None):
    """The epoch clock (``_EpochClock``) as a Keras callback (keras imported only here, in the
    worker)."""
    import keras

    class EpochTimer(_EpochClock, keras.callbacks.Callback):
        pass

    return EpochTimer(sync, log)


class Session:
    """A compiled model and its data, ready to train.

    Args:
        spec: the spec to build.
        ds: the verified dataset.
        profile: the data slice (see ``settings.PROFILES``).
        seed: seeds keras, numpy and the backend.
        mode: one of ``modes.keras_modes()`` (its compile() settings: ``modes.keras_settings``).
    """

    def __init__(self, spec, ds, profile: str = "quick", seed: int = 0, mode: str = "default"):
        import keras

        self.keras = keras
        self.backend = keras.config.backend()
        self.spec, self.recipe = spec, spec.recipe
        self.mode = modes.keras_settings(self.backend, mode)
        self.prep = common.prepare(spec, ds, profile, seed, self.mode["policy"])
        self.x_train, self.y_train = self.prep.x_train, self.prep.y_train
        self.x_test, self.y_test = self.prep.x_test, self.prep.y_test
        model = self.prep.model
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
        jit, per = bool(self.model.jit_compile), int(self.model.steps_per_execution)
        precision = "float32" if self.mode["policy"] == "float32" else "mixed bfloat16"
        # the rate the compiled optimizer holds (the recipe's, or --lr-scaling's), read back
        rate = float(self.keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        return {"jit_compile": jit, "steps_per_execution": per, "mode_note": self.mode["why"],
                "learning_rate": rate,
                "strategy": strategies.keras_strategy(self.backend, jit, per, precision).to_dict()}

    def train(self, log: common.EpochLog, callbacks=()) -> tuple[float, float]:
        """Train ``log.epochs`` epochs in one ``fit()`` call, as a user does; returns the
        call's seconds and its setup before the first epoch (data adapter, tracing set-up)."""
        timer = _make_timer(self.sync, log)
        t0 = time.perf_counter()
        self.model.fit(
            self.x_train, self.y_train, batch_size=self.recipe.batch_size, epochs=log.epochs,
            shuffle=True, verbose=0, callbacks=[timer, *callbacks])
        call_s = time.perf_counter() - t0
        self.epochs_done += len(log.epoch_s)
        return call_s, (log.started or t0) - t0

    def epoch(self) -> EpochResult:
        """Train one epoch (one ``fit(epochs=1)`` call) and time it (the pytest-benchmark round)."""
        t0 = time.perf_counter()
        history = self.model.fit(
            self.x_train, self.y_train, batch_size=self.recipe.batch_size,
            epochs=self.epochs_done + 1, initial_epoch=self.epochs_done, shuffle=True,
            verbose=0, callbacks=[self._timer])
        call_s = time.perf_counter() - t0
        self.epochs_done += 1
        return EpochResult(self._timer.seconds, call_s, float(history.history["loss"][-1]))

    def evaluate(self, on: str = "test") -> tuple[float, float]:
        """(loss, accuracy) on the test set or on the recipe's validation split."""
        x, y = ((self.prep.x_curve, self.prep.y_curve) if on == "validation"
                else (self.x_test, self.y_test))
        loss, acc = self.model.evaluate(x, y, batch_size=INFERENCE_BATCH, verbose=0)
        return float(loss), float(acc)

    def with_weights(self, weights, fn):
        """``fn()`` with the model holding ``weights``; the training weights are put back
        (values identical, assigned in place on TensorFlow and PyTorch; on JAX the next epoch
        reads its state from the model's variables)."""
        current = self.model.get_weights()
        self.model.set_weights(weights)
        try:
            return fn()
        finally:
            self.model.set_weights(current)

    def predict(self, x):
        return self.model.predict(x, batch_size=INFERENCE_BATCH, verbose=0)

    def inference_samples_per_s(self) -> float:
        """Test-set predictions per second, after one untimed warm-up pass."""
        return common.inference_rate(self.predict, self.x_test)


def run_cell(cell: settings.Cell, spec, ds, emit=lambda **event: None) -> dict:
    """Train ``spec`` per ``cell`` and return its result (``common.result``); ``emit(event=...)``
    receives progress after each epoch."""
    import keras

    device = environment.backend_device(keras.config.backend(), cell.device)  # fail fast
    session = Session(spec, ds, cell.profile, cell.seed, cell.mode)
    phases.mark("build")
    prep = session.prep
    epochs = settings.resolve_epochs(spec.recipe.epochs, cell.profile, cell.epochs)
    log = common.EpochLog(epochs, prep.curve_on, lambda: session.evaluate(prep.curve_on)[1], emit,
                          target=spec.recipe.target_accuracy, with_weights=session.with_weights)
    call_s, setup_s = session.train(log)
    phases.mark("training")
    return common.trained_result(
        prep, log, spec.recipe, session.backend, device, call_s=call_s, setup_s=setup_s,
        test=lambda: session.evaluate("test"), predict=session.predict,
        inference_batch=INFERENCE_BATCH, **session.effective)
