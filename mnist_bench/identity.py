"""What a measurement is: the one identity the plan, ``--resume``, the budget and progress
estimates, the tables, ``compare`` and the pytest-benchmark reader name a cell by.

Two records of one identity measured the same thing (in different blocks, or the same block
measured again); records of different identities are never pooled into one figure or paired in
one ratio. The block, the seed it sets and the attempt are not part of it: they say which
measurement of the identity a record is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# the record's field for each part of the identity (the device: as requested by the plan)
RECORD_FIELDS = {
    "spec": "spec", "backend": "backend", "dataset": "dataset", "device": "device_requested",
    "mode": "mode", "impl": "impl", "profile": "profile", "epochs": "epochs",
    "lr_scaling": "lr_scaling", "precision": "float32_precision",
    "batch_size": "planned_batch_size", "node": "node",
}


@dataclass(frozen=True)
class Identity:
    spec: str
    backend: str
    dataset: str
    device: str = "cpu"  # the device kind: cpu or gpu
    mode: str = "default"
    impl: str = "keras"
    profile: str | None = None
    epochs: int | None = None  # --epochs; None: the profile's own
    lr_scaling: str | None = None  # None: the recipe's learning rate
    precision: str = "as-shipped"  # --precision
    batch_size: int | None = None  # --batch-sizes' size; None: the recipe's
    node: str | None = None  # the cluster node it ran on; None: the machine of its run

    @property
    def setup(self) -> tuple:
        """How it trains, as its run planned it: (profile, --epochs, lr scaling, precision)."""
        return (self.profile, self.epochs, self.lr_scaling, self.precision)

    @property
    def variant(self) -> tuple:
        """(spec, mode, impl, backend): what a run's comparisons set side by side (the dataset,
        device and setup are one per spec within a run)."""
        return (self.spec, self.mode, self.impl, self.backend)

    def anywhere(self) -> Identity:
        """The same identity with its node left out (a Ray node's copy of a planned cell)."""
        return replace(self, node=None)


def variant_words(v: tuple) -> str:
    """A variant (``Identity.variant``: spec, mode, impl, backend) in a few words, the same in
    every table, chart and message: "jax", "torch native", "tensorflow tuned", "jax native
    device-step"."""
    _, mode, impl, backend = v
    return backend + (" native" if impl == "native" else "") + ("" if mode == "default" else f" {mode}")


def of_cell(cell) -> Identity:
    """The identity of a planned ``settings.Cell``."""
    return Identity(cell.spec, cell.backend, cell.dataset, cell.device, cell.mode, cell.impl,
                    cell.profile, cell.epochs, cell.lr_scaling, cell.float32_precision,
                    cell.planned_batch_size, cell.node)


def of_record(r: dict, device: str | None = None) -> Identity:
    """The identity of a record (a part it does not name takes the default: a record written
    before that part existed measured it that way); ``device``: the device kind it ran on,
    where that is known better than its request (analysis.keys.device_kind)."""
    given = {name: r.get(field) for name, field in RECORD_FIELDS.items()}
    given["device"] = device or given["device"]
    return Identity(**{k: v for k, v in given.items() if v is not None})
