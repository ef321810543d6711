"""One identity names a cell everywhere (mnist_bench/identity.py): the plan's cells and their
records agree on it, and records that differ in any part of it never share a figure."""

from __future__ import annotations

import pytest

from mnist_bench import identity, plan
from mnist_bench.analysis import tidy
from mnist_bench.record import assemble, store

CHANGES = {  # a part of the identity -> (the record field, another value than the cell's)
    "dataset": ("dataset", "fashion_mnist"), "mode": ("mode", "tuned"), "impl": ("impl", "native"),
    "profile": ("profile", "smoke"), "epochs": ("epochs", 5), "lr_scaling": ("lr_scaling", "sqrt"),
    "precision": ("float32_precision", "float32"), "spec": ("spec", "linear_sgd"),
    "backend": ("backend", "torch"), "device": ("device_requested", "gpu"),
}


def _record(block: int, **change) -> dict:
    cell = plan.Cell(spec="mlp_512", backend="jax", dataset="mnist", repeat=block, seed=block)
    fields = {**assemble.cell_fields(cell), **change}
    return assemble.record(fields, run={"run_id": "r"}, status="ok", test_accuracy=0.97,
                           train_samples=60000, epoch_s=[2.0, 1.0 + block / 10, 1.0], recipe={})


def test_every_part_of_the_identity_is_named_by_identity_fields():
    assert set(CHANGES) | {"batch_size", "node"} == set(identity.RECORD_FIELDS)


def test_a_record_names_the_identity_of_the_cell_it_measured():
    for cell in plan.plan(plan.RunSettings(specs=("mlp_512", "linear_sgd"), modes=("default", "tuned"),
                                           precision="float32")):
        rec = assemble.record(cell, run={"run_id": "r"}, status="failed", reason="x")
        assert store.cell_of(rec).key() == cell.key()
        assert identity.of_record(rec) == identity.of_cell(cell)


@pytest.mark.parametrize("part", sorted(CHANGES))
def test_records_that_differ_in_any_part_of_their_identity_are_never_pooled(part):
    field, value = CHANGES[part]
    same = [_record(k) for k in range(3)]
    other = [_record(k, **{field: value}) for k in range(3)]
    t = tidy.tidy(same + other)
    assert len(t) == 2 and sorted(t.runs) == [3, 3], t[["spec", "backend", "mode", "runs"]]
