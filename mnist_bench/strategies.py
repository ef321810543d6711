"""Execution strategies: how a variant runs its training steps, so that a comparison of Keras
against a framework's own loop sets like against like.

A strategy is what decides the cost of dispatch per step: the compiler (op by op from Python,
a TensorFlow graph, XLA, or ``torch.compile``), what one compiled call holds (the whole train
step, or only the model's forward pass with backward and update eager), and how many train
steps one call from Python runs (1, K, or a whole epoch as one ``lax.scan``). Two variants
are *like for like* when these three and the precision agree (``Strategy.key``); where the
data lives and the metric work per step are stated beside each pair, not matched: a Keras
``fit()`` always feeds batches from NumPy and updates its loss and accuracy trackers each step,
and no native loop does the latter.

Framework-free: the worker records each variant's strategy (``keras_strategy`` from the
compiled model's own settings, ``modes.native_strategy`` from the native loop's mode) and the tables
pair records through ``pair``, which refuses a pair whose strategies differ.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .errors import MnistBenchError

KERAS_METRICS = "loss and accuracy trackers updated every step, batch callbacks dispatched"
NATIVE_METRICS = "none (the loss of the last step kept)"
STEPS_K = 32  # steps per call of the native several-steps variants, as Keras tuned mode's



class StrategyMismatch(MnistBenchError, ValueError):
    """A like-for-like pair asked of two variants whose strategies differ."""


@dataclass(frozen=True)
class Strategy:
    compiler: str  # eager (op by op), graph (tf.function, no XLA), xla, inductor (torch.compile)
    scope: str  # what one compiled call holds: the whole "train step", or the "forward" pass
    steps_per_call: int | None  # train steps per call from Python; None: a whole epoch
    data: str  # "fed" (batches fed from NumPy each step) or "held" (held as one framework array)
    precision: str = "float32"  # or "mixed bfloat16"
    metrics: str = NATIVE_METRICS  # the metric work inside the timed step

    def key(self) -> tuple:
        """What like for like must match."""
        return (self.compiler, self.scope, self.steps_per_call, self.precision)

    def text(self) -> str:
        """A few words: "XLA train step, 32 per call", "torch.compile forward, 1 per call"."""
        what = "train step" if self.scope == "train step" else "forward"
        per = "an epoch per call (lax.scan)" if self.steps_per_call is None \
            else f"{self.steps_per_call} per call"
        name = {"eager": "eager", "graph": "graph", "xla": "XLA", "inductor": "torch.compile"}[self.compiler]
        extra = "" if self.precision == "float32" else f", {self.precision}"
        return f"{name} {what}, {per}{extra}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Strategy":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def keras_strategy(backend: str, jit_compile: bool, steps_per_execution: int,
                   precision: str = "float32") -> Strategy:
    """What ``fit()`` runs, from the compiled model's effective settings (Keras 3.15.1's
    trainers): TensorFlow, a tf.function over ``steps_per_execution`` steps (a tf.while_loop)
    whose step is XLA-compiled when jit_compile; JAX, a jitted step per batch, Python looping
    ``steps_per_execution`` times between callbacks (one XLA call per step); PyTorch, the whole
    train step under torch.compile when jit_compile, else eager, one step per call."""
    if backend == "tensorflow":
        return Strategy("xla" if jit_compile else "graph", "train step", steps_per_execution,
                        "fed", precision, KERAS_METRICS)
    if backend == "jax":
        return Strategy("xla" if jit_compile else "eager", "train step", 1, "fed", precision,
                        KERAS_METRICS)
    return Strategy("inductor" if jit_compile else "eager", "train step", 1, "fed", precision,
                    KERAS_METRICS)


def of_record(r: dict) -> Strategy | None:
    """A record's strategy: the one it carries, else (records written before strategies were
    recorded, or whose stored strategy is not a whole one) the one its backend, implementation
    and effective settings imply."""
    if isinstance(r.get("strategy"), dict):
        try:
            return Strategy.from_dict(r["strategy"])
        except (TypeError, ValueError):
            pass  # a damaged field: read the strategy off the record's settings instead
    from . import modes

    backend, impl = r.get("backend"), r.get("impl") or "keras"
    mode = modes.MODES.get(r.get("mode") or "default")
    if backend not in NATIVE_BACKENDS or mode is None or r.get("status") not in ("ok", "diverged"):
        return None
    if impl == "keras":
        if mode.keras is None or r.get("jit_compile") is None or r.get("steps_per_execution") is None:
            return None
        precision = modes.BF16 if mode.keras(backend).policy == "mixed_bfloat16" else "float32"
        return keras_strategy(backend, bool(r["jit_compile"]), int(r["steps_per_execution"]), precision)
    if backend not in mode.native:
        return None
    if backend == "jax":  # whether an epoch ran as one lax.scan, its note says
        return mode.native[backend]("one lax.scan per epoch" not in (r.get("mode_note") or ""), False)
    return mode.native[backend](False, (r.get("device") or {}).get("kind") == "gpu")


NATIVE_BACKENDS = ("tensorflow", "jax", "torch")


@dataclass(frozen=True)
class Pair:
    """A like-for-like pair: a Keras variant and a native one of the same strategy."""

    keras: Strategy
    native: Strategy

    def __post_init__(self):
        if self.keras.key() != self.native.key():
            raise StrategyMismatch(
                f"not like for like: Keras runs {self.keras.text()}, the native loop "
                f"{self.native.text()}; a pair needs the same compiler, compiled scope, steps "
                "per call and precision")


def pair(keras: Strategy, native: Strategy) -> Pair:
    return Pair(keras, native)
