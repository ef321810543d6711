"""Modes, each defined once: what a Keras variant compiles with and what a framework's own loop
runs in it.

A ``Mode`` holds both meanings of its name: ``keras(backend)``, the ``compile()`` settings a
Keras variant asks for (None: a mode only native loops have), and ``native[backend](has_conv,
gpu)``, the execution strategy (``strategies.Strategy``) that framework's own loop runs; the
native trainers read their compiler, compiled scope, steps per call, data placement and
precision off that strategy and never the mode's name. The parser, the plan's checks, the
pytest plugin, the cells and the tables all read the modes from ``MODES``, so a new mode is
one ``Mode`` added there (``register`` does it at run time, as the tests show).

Framework-free: the worker imports this before any framework.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .settings import SettingsError
from .strategies import STEPS_K, Strategy

BF16 = "mixed bfloat16"  # a strategy's precision under the mixed_bfloat16 dtype policy
TUNED_STEPS_PER_EXECUTION = STEPS_K  # Keras tuned mode's steps per call, as the native K-step loops


@dataclass(frozen=True)
class KerasSettings:
    """What a Keras variant passes to ``compile()`` (and the dtype policy it builds under)."""

    jit_compile: object  # "auto" (Keras's default) or True
    steps_per_execution: int
    policy: str  # "float32" or "mixed_bfloat16"
    why: str  # a few words for the record's mode_note

    def to_dict(self) -> dict:
        return {"jit_compile": self.jit_compile, "steps_per_execution": self.steps_per_execution,
                "policy": self.policy, "why": self.why}


NativeRule = Callable[[bool, bool], Strategy]  # (the model has convolutions, on a GPU) -> strategy


@dataclass(frozen=True)
class Mode:
    name: str
    about: str  # one line: what it runs
    keras: Callable[[str], KerasSettings] | None  # backend -> settings; None: native loops only
    native: dict[str, NativeRule] = field(default_factory=dict)  # framework -> its loop's strategy

    @property
    def common(self) -> bool:
        """Every backend has it, in Keras and in the native loops."""
        return self.keras is not None


def _keras_default(backend: str) -> KerasSettings:
    return KerasSettings("auto", 1, "float32", "Keras defaults")


def _keras_bf16(backend: str) -> KerasSettings:
    return KerasSettings("auto", 1, "mixed_bfloat16", "Keras defaults, mixed_bfloat16 dtype policy")


def _keras_tuned(backend: str) -> KerasSettings:
    if backend == "torch":
        return KerasSettings(True, 1, "float32", "torch.compile (jit_compile=True); Keras 3.15.1's "
                             "torch backend rejects steps_per_execution > 1")
    return KerasSettings(True, TUNED_STEPS_PER_EXECUTION, "float32",
                         f"XLA, {TUNED_STEPS_PER_EXECUTION} steps per execution")


def _plain(precision: str) -> dict[str, NativeRule]:
    """Each framework's plainest loop: a TensorFlow graph step, a jitted JAX step fed from the
    host, an eager PyTorch step on held data."""
    return {"tensorflow": lambda conv, gpu: Strategy("graph", "train step", 1, "held", precision),
            "jax": lambda conv, gpu: Strategy("xla", "train step", 1, "fed", precision),
            "torch": lambda conv, gpu: Strategy("eager", "train step", 1, "held", precision)}


def _jax_tuned(conv: bool, gpu: bool) -> Strategy:
    # a whole epoch as one lax.scan, except convolutions on the CPU (slow in a loop body,
    # jax-ml/jax#12868): a jitted step per batch on held data there
    per = 1 if conv and not gpu else None
    return Strategy("xla", "train step", per, "held")


MODES: dict[str, Mode] = {m.name: m for m in (
    Mode("default", "Keras out of the box", _keras_default, _plain("float32")),
    Mode("tuned", "the fastest compile() settings each backend accepts", _keras_tuned, {
        "tensorflow": lambda conv, gpu: Strategy("xla", "train step", 1, "held"),
        "jax": _jax_tuned,
        "torch": lambda conv, gpu: Strategy("inductor", "forward", 1, "held")}),
    Mode("bf16", "Keras defaults under the mixed_bfloat16 dtype policy", _keras_bf16, _plain(BF16)),
    Mode("steps32", "an XLA train step, 32 steps per tf.function call", None, {
        "tensorflow": lambda conv, gpu: Strategy("xla", "train step", STEPS_K, "held")}),
    Mode("steps32-graph", "a graph train step, 32 steps per tf.function call", None, {
        "tensorflow": lambda conv, gpu: Strategy("graph", "train step", STEPS_K, "held")}),
    Mode("step-compiled", "torch.compile over the whole train step", None, {
        "torch": lambda conv, gpu: Strategy("inductor", "train step", 1, "held")}),
    Mode("device-step", "a jitted step per batch, the data held on the device", None, {
        "jax": lambda conv, gpu: Strategy("xla", "train step", 1, "held")}),
)}


def register(mode: Mode) -> None:
    """Add a mode (or replace one of the same name)."""
    MODES[mode.name] = mode


def names() -> tuple[str, ...]:
    return tuple(MODES)


def keras_modes() -> tuple[str, ...]:
    """The modes every backend has (Keras's and the native loops')."""
    return tuple(m.name for m in MODES.values() if m.common)


def native_only() -> dict[str, tuple[str, ...]]:
    """Each mode only native loops have, with the frameworks whose loop has it."""
    return {m.name: tuple(m.native) for m in MODES.values() if not m.common}


def get(name: str) -> Mode:
    if name not in MODES:
        raise SettingsError(f"unknown mode {name!r}; valid: {', '.join(MODES)}")
    return MODES[name]


def keras_settings(backend: str, name: str) -> dict:
    """The compile() settings mode ``name`` asks of Keras on ``backend``, and why."""
    mode = get(name)
    if mode.keras is None:
        raise SettingsError(f"mode {name!r} is a native loop's ({', '.join(mode.native)}); "
                            f"valid for Keras: {', '.join(keras_modes())}")
    return mode.keras(backend).to_dict()


def native_strategy(backend: str, name: str, has_conv: bool = False, gpu: bool = False) -> Strategy:
    """What ``backend``'s own loop runs in mode ``name`` (the native trainers build from it)."""
    mode = get(name)
    if backend not in mode.native:
        raise SettingsError(f"mode {name!r} has no {backend} native loop; valid: "
                            f"{', '.join(n for n, m in MODES.items() if backend in m.native)}")
    return mode.native[backend](has_conv, gpu)


def available(backend: str, impl: str, name: str) -> bool:
    """Whether a variant exists: Keras has the common modes on every backend; a native loop
    has the modes that name its framework."""
    mode = get(name)
    return mode.common if impl == "keras" else backend in mode.native


def check(names_, backends, impls) -> None:
    """A one-line error for a mode no planned variant has."""
    for m in names_:
        mode = get(m)
        if not any(available(b, i, m) for b in backends for i in impls):
            owners = ", ".join(mode.native)
            raise SettingsError(f"mode {m!r} is a native loop's ({owners}); add --impl native "
                                f"and --backends {owners}, or choose one of {', '.join(keras_modes())}")
