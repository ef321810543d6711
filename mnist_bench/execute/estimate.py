"""The time cells will take, from the cells already run: the one estimate both the progress
line (time left) and the budget (what fits) use."""

from __future__ import annotations

import statistics

from ..identity import Identity


def expected_s(cells: list[Identity], took: list[tuple[Identity, float]]) -> float | None:
    """Seconds the ``cells`` will likely take, given ``took`` (identity, seconds) of cells
    already run: each cell the median of what the same variant took at the same batch size,
    else of what its spec took, else of every cell; None before any cell has run."""
    took = [(i, s) for i, s in took if s and s > 0]
    if not took:
        return None
    same: dict = {}
    spec: dict = {}
    for i, s in took:
        same.setdefault((i.variant, i.batch_size), []).append(s)
        spec.setdefault(i.spec, []).append(s)
    every = [s for _, s in took]
    return sum(statistics.median(same.get((c.variant, c.batch_size)) or spec.get(c.spec) or every)
               for c in cells)
