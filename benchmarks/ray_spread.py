"""Wall time of one fixed run against the number of Ray nodes sharing its blocks
(``--spread-blocks``), on a local Ray cluster of this machine (reported, never asserted).

    python benchmarks/ray_spread.py --nodes 1,2 --blocks 8

Two workloads, each run once per node count: cells that wait 2 s in their builder
(benchmarks/sleepy_spec.py: the scheduling alone, as on separate machines) and real smoke cells
(``linear_sgd`` on JAX and PyTorch: on one machine the nodes share its cores). Each node of the
local cluster gets an equal share of this machine's cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time

WORKLOADS = {
    "2 s waits": ["--models", "benchmarks/sleepy_spec.py:sleepy", "--backends", "jax"],
    "smoke cells": ["--models", "linear_sgd", "--backends", "jax,torch"],
}


def one(nodes: int, blocks: int, workload: list[str]) -> tuple[float, float, set]:
    from ray import cluster_utils

    from mnist_bench.record import store

    cores = os.cpu_count() or 1
    cluster = cluster_utils.Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "include_dashboard": False})
    try:
        for i in range(nodes):
            cluster.add_node(num_cpus=max(1, cores // nodes),
                             labels={"mnist-bench/machine": f"node-{i + 1}"})
        with tempfile.TemporaryDirectory() as out:
            argv = [sys.executable, "-m", "mnist_bench", "run", "--executor", "ray",
                    "--ray-address", cluster.address, "--spread-blocks", "--profile", "smoke",
                    "--blocks", str(blocks), "--order-seed", "1", "--out", out, *workload]
            t0 = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
            wall = time.perf_counter() - t0
            if done.returncode != 0:
                raise SystemExit(done.stderr[-2000:])
            recs = store.load(out)
            used = {r["ray"]["name"] for r in recs}
            ends = [dt.datetime.fromisoformat(r["timestamp"]).timestamp() for r in recs]
            span = max(ends) - min(e - r["cell_wall_s"] for e, r in zip(ends, recs))
        return wall, span, used
    finally:
        cluster.shutdown()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", default="1,2")
    p.add_argument("--blocks", type=int, default=8)
    args = p.parse_args()
    counts = [int(n) for n in args.nodes.split(",")]
    print(f"{args.blocks} blocks, --spread-blocks on a local Ray cluster of {os.cpu_count()} cores; "
          "wall time of `mnist-bench run` (s: its start, the nodes' data check and the report "
          "included, Ray's own start not), and the cells' span (the first cell's start to the "
          "last one's end, from the records)\n")
    print("| workload | nodes | wall s | cells' span s | nodes used | span vs 1 node |")
    print("|---|---|---|---|---|---|")
    for name, workload in WORKLOADS.items():
        base = None
        for n in counts:
            wall, span, used = one(n, args.blocks, workload)
            base = base or span
            print(f"| {name} | {n} | {wall:.1f} | {span:.1f} | {len(used)} | {span / base:.2f}x |",
                  flush=True)


if __name__ == "__main__":
    main()
