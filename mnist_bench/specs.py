"""The model specs: the seed recipes (docs/seeds.md) as Keras 3 builders, plus user specs.

A spec is a builder that returns an *uncompiled* ``keras.Model`` and a frozen ``Recipe``. The
builders use only ``keras.*`` and import keras when called, never at import time, so the same
code runs on every backend and the parent process never picks one.

A user spec lives outside the package and is named ``path/to/file.py:attr``, or registered
under the ``mnist_bench.specs`` entry-point group. ``attr`` is either a ``Spec`` or a
zero-argument callable returning a ``keras.Model`` (then the default ``Recipe`` is used, with
the input shape taken from the model).
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import math
from dataclasses import asdict, dataclass, field, replace
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable
from .errors import MnistBenchError

ENTRY_POINT_GROUP = "mnist_bench.specs"
# keras.optimizers.get() names (Keras 3), so a recipe is checked without importing keras
OPTIMIZERS = ("adadelta", "adafactor", "adagrad", "adam", "adamax", "adamw", "ftrl",
              "lion", "nadam", "rmsprop", "sgd")


class SpecError(MnistBenchError):
    """A spec that is unknown, or that does not define what it was named for."""


@dataclass(frozen=True)
class Recipe:
    """How a spec is trained, and what its source reported."""

    optimizer: str = "rmsprop"  # a keras.optimizers name
    learning_rate: float | None = None  # None: the optimizer's own default
    batch_size: int = 128
    epochs: int = 5  # the source's epoch count (the `seed` profile)
    dataset: str = "mnist"  # the default dataset; any spec runs on either
    input_shape: tuple[int, ...] = (784,)  # each 28x28 image is reshaped to this; () = the model's
    validation_split: float = 0.0  # held out of train (train_test_split, random_state=42)
    loss: str = "sparse_categorical_crossentropy"  # == categorical CE on one-hot labels
    source: str = ""  # the seed it comes from (docs/seeds.md)
    reported_accuracy: float | None = None  # the source's test accuracy
    reported_epoch_time: str | None = None  # the source's epoch time, as it said it
    target_accuracy: float | None = None  # time-to-accuracy target (reachable in `quick`)
    notes: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        return d

    def check(self, where: str) -> "Recipe":
        """This recipe if every field is valid; else a one-line SpecError naming the field and
        what is valid (the rules the command line holds its options to)."""
        def bad(name, valid):
            raise SpecError(f"{where}: recipe {name}={getattr(self, name)!r}; valid: {valid}")

        def integer(v):
            return isinstance(v, int) and not isinstance(v, bool)

        def number(v):
            return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")

        if not isinstance(self.optimizer, str) or self.optimizer not in OPTIMIZERS:
            bad("optimizer", ", ".join(OPTIMIZERS))
        if self.learning_rate is not None and not (number(self.learning_rate) and self.learning_rate > 0):
            bad("learning_rate", "a positive number, or None for the optimizer's default")
        if not integer(self.batch_size) or self.batch_size < 1:
            bad("batch_size", "an integer >= 1")
        if not integer(self.epochs) or self.epochs < 2:
            bad("epochs", "an integer >= 2 (the first epoch compiles)")
        if self.dataset not in ("mnist", "fashion_mnist"):
            bad("dataset", "mnist, fashion_mnist")
        shape = tuple(self.input_shape) if isinstance(self.input_shape, (tuple, list)) else None
        if shape is None or not all(integer(x) and x > 0 for x in shape) or (
                shape and math.prod(shape) != 784):
            bad("input_shape", "() (the model's own) or a shape of 784 values: (784,), (28, 28), (28, 28, 1)")
        if not number(self.validation_split) or not 0 <= self.validation_split < 1:
            bad("validation_split", "a number in [0, 1)")
        if not isinstance(self.loss, str) or not self.loss:
            bad("loss", "a keras loss name")
        for name in ("reported_accuracy", "target_accuracy"):
            v = getattr(self, name)
            if v is not None and not (number(v) and 0 < v <= 1):
                bad(name, "an accuracy in (0, 1], or None")
        return self


@dataclass(frozen=True)
class Spec:
    """A named model builder with its recipe. ``kind`` is "keras" or "sklearn"."""

    name: str
    build: Callable[[], Any] = field(repr=False)
    recipe: Recipe
    kind: str = "keras"


# Keras 3's default learning rate of each optimizer (keras.optimizers.get(name).learning_rate):
# what a recipe with learning_rate None trains with, and what --lr-scaling scales
DEFAULT_LEARNING_RATE = {name: 0.01 if name == "sgd" else 0.001 for name in OPTIMIZERS}


def learning_rate(recipe: Recipe) -> float:
    """The learning rate ``recipe`` trains with: its own, else its optimizer's default."""
    return recipe.learning_rate if recipe.learning_rate is not None else \
        DEFAULT_LEARNING_RATE[recipe.optimizer]


def at_batch_size(spec: Spec, batch_size: int | None, scaling: str | None = None) -> Spec:
    """``spec`` trained at ``batch_size`` (None: the recipe's, unchanged). The learning rate
    stays the recipe's unless ``scaling`` is "linear" (times batch / recipe batch) or "sqrt"
    (times its square root), the usual large-batch rules."""
    if batch_size is None or spec.kind != "keras":
        return spec
    recipe = spec.recipe
    lr = recipe.learning_rate
    if scaling is not None:
        factor = batch_size / recipe.batch_size
        lr = learning_rate(recipe) * (factor if scaling == "linear" else math.sqrt(factor))
    return replace(spec, recipe=replace(recipe, batch_size=batch_size, learning_rate=lr))


# --- the builders (keras is imported when one is called) -----------------------------------


def _sequential(input_shape, *layers):
    import keras

    return keras.Sequential([keras.Input(shape=input_shape), *layers])


def _dense_stack(widths, input_shape=(784,), dropout=0.0):
    def build():
        from keras import layers

        stack = [layers.Flatten()] if len(input_shape) > 1 else []
        for width in widths:
            stack.append(layers.Dense(width, activation="relu"))
            if dropout:
                stack.append(layers.Dropout(dropout))
        stack.append(layers.Dense(10, activation="softmax"))
        return _sequential(input_shape, *stack)

    return build


def _cnn_3conv():
    from keras import layers

    return _sequential(
        (28, 28, 1),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.Flatten(),
        layers.Dense(10, activation="softmax"),
    )


def _sgd_classifier():
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(max_iter=200)


BUILTIN: dict[str, Spec] = {
    s.name: s
    for s in (
        Spec("linear_sgd", _dense_stack([], input_shape=(28, 28)), Recipe(
            optimizer="sgd", learning_rate=1e-3, batch_size=64, epochs=100, input_shape=(28, 28),
            validation_split=0.1, source="000", target_accuracy=0.75, reported_accuracy=0.9078,
            reported_epoch_time="~2 s on a Colab GPU, 844 steps",
            notes="54k/6k train/validation split; val 0.9025 at epoch 100")),
        Spec("linear_rmsprop", _dense_stack([]), Recipe(
            batch_size=128, epochs=30, source="001", target_accuracy=0.91, reported_accuracy=0.9275,
            reported_epoch_time="1-2 s, 469 steps")),
        Spec("mlp_100x2", _dense_stack([100, 100]), Recipe(
            batch_size=200, epochs=30, source="001", target_accuracy=0.955, reported_accuracy=0.9789,
            reported_epoch_time="~1 s, 300 steps (4 ms/step)")),
        Spec("cnn_3conv", _cnn_3conv, Recipe(
            batch_size=200, epochs=30, input_shape=(28, 28, 1), source="001",
            target_accuracy=0.98, reported_accuracy=0.9912, reported_epoch_time="~2 s on GPU, 300 steps (8 ms/step)",
            notes="61,514 params")),
        Spec("sgd_classifier", _sgd_classifier, Recipe(
            optimizer="SGDClassifier(max_iter=200)", batch_size=0, epochs=200,
            validation_split=0.25, loss="hinge", source="001", reported_accuracy=0.9111,
            notes="scikit-learn baseline; reported figure is on a 45k/15k split of train"),
            kind="sklearn"),
        Spec("mlp_512", _dense_stack([512]), Recipe(
            batch_size=128, epochs=5, source="002", target_accuracy=0.97, reported_accuracy=0.9799,
            reported_epoch_time="5-6 s, 469 steps")),
        Spec("fmnist_mlp_20", _dense_stack([20], input_shape=(28, 28)), Recipe(
            optimizer="adam", batch_size=32, epochs=10, dataset="fashion_mnist",
            input_shape=(28, 28), source="003", target_accuracy=0.835, reported_accuracy=0.8631,
            reported_epoch_time="5-7 s on CPU, 1875 steps", notes="15,910 params")),
        Spec("fmnist_mlp_50x2_dropout", _dense_stack([50, 50], input_shape=(28, 28), dropout=0.2),
             Recipe(optimizer="adam", batch_size=32, epochs=10, dataset="fashion_mnist",
                    input_shape=(28, 28), source="003", target_accuracy=0.835, reported_accuracy=0.8696,
                    reported_epoch_time="~7 s on CPU, 1875 steps",
                    notes="42,310 params; a second run reported 0.8659")),
        Spec("mlp_256x4", _dense_stack([256] * 4), Recipe(
            optimizer="adam", batch_size=100, epochs=20, source="004", target_accuracy=0.97, reported_accuracy=0.9791,
            reported_epoch_time="~4 s, 600 steps")),
    )
}
KERAS_SPECS = tuple(n for n, s in BUILTIN.items() if s.kind == "keras")


def is_file_ref(ref: str) -> bool:
    return ".py:" in ref


def _entry_points():
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def valid_names() -> list[str]:
    return [*BUILTIN, *sorted(_entry_points())]


def check_ref(ref: str) -> str:
    """Check a spec reference without importing user code (or keras). Returns it unchanged."""
    if ref in BUILTIN or ref in _entry_points():
        return ref
    if is_file_ref(ref):
        path, _, attr = ref.rpartition(":")
        if not Path(path).is_file():
            raise SpecError(f"spec file {path} does not exist")
        try:
            tree = ast.parse(Path(path).read_text(), filename=path)
        except SyntaxError as exc:
            raise SpecError(f"spec file {path} does not parse: line {exc.lineno}: {exc.msg}") from None
        defined = set()
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                defined.update(t.id for t in targets if isinstance(t, ast.Name))
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                defined.update((a.asname or a.name).split(".")[0] for a in node.names)
        if attr not in defined:
            names = ", ".join(sorted(n for n in defined if not n.startswith("_"))) or "nothing"
            raise SpecError(f"spec file {path} does not define {attr!r} (it defines: {names})")
        return ref
    raise SpecError(
        f"unknown spec {ref!r}; valid: {', '.join(valid_names())}, or path/to/file.py:builder"
    )


def load(ref: str) -> Spec:
    """Turn a spec reference into a ``Spec``, importing user code if it names any."""
    check_ref(ref)
    if ref in BUILTIN:
        return BUILTIN[ref]
    if is_file_ref(ref):
        path, _, attr = ref.rpartition(":")
        module_spec = importlib.util.spec_from_file_location(Path(path).stem, path)
        module = importlib.util.module_from_spec(module_spec)
        folder = str(Path(path).resolve().parent)
        if folder not in sys.path:  # its own helper modules import, after the installed ones
            sys.path.append(folder)
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            raise SpecError(f"spec file {path} failed to import: {type(exc).__name__}: {exc}") from None
        obj = getattr(module, attr)
    else:
        try:
            obj = _entry_points()[ref].load()
        except Exception as exc:
            raise SpecError(f"spec entry point {ref!r} failed to load: {type(exc).__name__}: {exc}") from None
    if isinstance(obj, Spec):
        if obj.kind == "keras":
            obj.recipe.check(f"spec {ref}")
        return replace(obj, name=ref)
    if callable(obj):
        # input_shape=() means: take it from the model the callable builds
        return Spec(ref, obj, Recipe(input_shape=(), notes="user spec with the default recipe"))
    raise SpecError(f"{ref} is a {type(obj).__name__}, not a Spec or a callable returning a keras.Model")


def label(ref: str) -> str:
    """A name a person can read for a spec reference: a file spec ``dir/my_specs.py:build`` is
    ``my_specs:build``; built-in and entry-point names are themselves."""
    if is_file_ref(ref):
        path, _, attr = ref.rpartition(":")
        return f"{Path(path).stem}:{attr}"
    return ref


def labels(refs) -> dict[str, str]:
    """``label`` for each reference, unique among ``refs``: references whose short labels clash
    keep their full reference."""
    short = {ref: label(ref) for ref in refs}
    counts: dict[str, int] = {}
    for name in short.values():
        counts[name] = counts.get(name, 0) + 1
    return {ref: name if counts[name] == 1 else ref for ref, name in short.items()}
