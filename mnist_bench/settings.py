"""The names a run is made of: backends, devices, modes, profiles, and one cell of a matrix."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from .errors import MnistBenchError

BACKENDS = ("tensorflow", "jax", "torch")
BASELINE_BACKEND = "sklearn"  # the "backend" column of the scikit-learn baseline
DEVICES = ("cpu", "gpu", "auto")
# the modes (default, tuned, bf16 and the native loops' own) are defined in mnist_bench/modes.py
# keras: the spec trained by Keras on the backend; native: the framework's own reference loop
# built from the spec's layers (mnist_bench/cells/native)
IMPLS = ("keras", "native")
# --lr-scaling: how the learning rate follows a batch size other than the recipe's (the
# recipe's rate times batch / recipe batch, or its square root); None: the recipe's rate
LR_SCALINGS = ("linear", "sqrt")
# --precision: what float32 matrix products and convolutions run in. as-shipped: each framework's
# own default (on NVIDIA GPUs JAX and TensorFlow take TF32, PyTorch full float32 for products);
# float32: full float32 everywhere; tf32: TF32 where the device has it (cells.common.set_precision)
PRECISIONS = ("as-shipped", "float32", "tf32")
MAX_BATCH_SIZE = 1 << 20
# the ranges of the numeric run options (the parser and plan.check hold a run to them)
MAX_SEED = 2 ** 32 - 1  # numpy and keras seeds must fit in 32 bits: every block's seed too
MAX_EPOCHS = 10_000  # the longest source recipe trains 200
MAX_CELL_TIMEOUT_S = 7 * 86_400.0  # a week: longer waits overflow the platform's clock types
MAX_BUDGET_MIN = 7 * 1_440.0  # a week, in minutes
BACKEND_PACKAGE = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch", "sklearn": "sklearn"}


class SettingsError(MnistBenchError, ValueError):
    """A name that is not one of the valid ones."""


@dataclass(frozen=True)
class Profile:
    """How much of the data and how many epochs a run uses."""

    name: str
    train_limit: int | None  # the first N training images; None: all 60,000
    test_limit: int | None  # the first N test images; None: all 10,000
    max_epochs: int | None  # cap on the recipe's epochs; None: the recipe's own count
    cell_timeout_s: float  # default per-cell time limit
    about: str


PROFILES = {
    p.name: p
    for p in (
        Profile("smoke", 1024, 512, 2, 600,
                "1,024 train / 512 test images, 2 epochs: checks that everything runs"),
        Profile("quick", None, None, 3, 1800,
                "full data, at most 3 epochs: compile epoch + steady state (the default)"),
        Profile("seed", None, None, None, 6 * 3600,
                "full data, each source's own epoch count: reproduces the seed recipes"),
    )
}


def check(kind: str, value: str, valid) -> str:
    if value not in valid:
        raise SettingsError(f"unknown {kind} {value!r}; valid: {', '.join(valid)}")
    return value


@dataclass(frozen=True)
class Cell:
    """One measurement: a spec trained on one backend, dataset and device, in one mode."""

    spec: str  # a spec reference (a built-in name, an entry point, or file.py:attr)
    backend: str  # one of BACKENDS, or BASELINE_BACKEND
    dataset: str
    profile: str = "quick"
    seed: int = 0
    epochs: int | None = None  # overrides the profile's epoch count
    device: str = "cpu"
    mode: str = "default"
    repeat: int = 0  # the block: every variant of a block runs before any of the next
    data_dir: str | None = None
    position: int = 0  # place in its block's random order (not part of what the cell is)
    impl: str = "keras"  # keras, or native: the framework's own loop (see IMPLS)
    node: str | None = None  # the cluster node it is planned for (--executor ray); None: here
    # --batch-sizes: the batch size it trains at; None: the recipe's. At another batch size than
    # the recipe's the cell is a throughput cell (docs/method.md, Batch size)
    planned_batch_size: int | None = None
    lr_scaling: str | None = None  # see LR_SCALINGS; None: the recipe's learning rate
    # 0: the block's first measurement; k: its block measured again for the k-th time, after a
    # run of it was disturbed from outside (execute.until; measure.disturbance.OUTSIDE)
    attempt: int = 0
    float32_precision: str = "as-shipped"  # --precision (PRECISIONS): part of what the cell is

    def key(self) -> tuple:
        """What makes two cells the same measurement (--resume, the budget's and the progress
        estimates): its identity (``identity.Identity``) and which measurement of it this is."""
        from .identity import of_cell

        return (of_cell(self), self.seed, self.repeat, self.attempt)

    def label(self) -> str:
        extra = "" if self.mode == "default" else f" [{self.mode}]"
        extra = (" native" if self.impl == "native" else "") + extra
        if self.planned_batch_size is not None:
            extra += f" bs{self.planned_batch_size}" + (f" lr-{self.lr_scaling}" if self.lr_scaling else "")
        if self.float32_precision != "as-shipped":
            extra += f" {self.float32_precision}"
        rep = f" #{self.repeat + 1}" if self.repeat else ""
        rep += f" again{'' if self.attempt == 1 else f' x{self.attempt}'}" if self.attempt else ""
        node = f" @{self.node}" if self.node else ""
        return f"{self.spec}/{self.backend}/{self.dataset}/{self.device}{extra}{rep}{node}"

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_epochs(recipe_epochs: int, profile: str, override: int | None) -> int:
    if override is not None:
        return override
    cap = PROFILES[profile].max_epochs
    return recipe_epochs if cap is None else min(recipe_epochs, cap)
