"""Where a cell's worker process runs: here, one process at a time (``mnist_bench.matrix``), or
on the nodes of a Ray cluster (``execute.ray``), which start the very same worker process."""
