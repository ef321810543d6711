"""Where a cell's wall time goes outside its training call, before and after the two cuts of
the cell's own overhead, measured back to back on one machine (no test asserts these figures).

    python benchmarks/cell_overhead.py --blocks 4 --profile smoke

Each block runs every backend's cell twice, in a fresh random order: once as the worker runs
now (``python -m mnist_bench.worker``), once as it ran before the cuts: seeding through
``keras.utils.set_random_seed`` (which imports TensorFlow on every backend where it is
installed) and a normal interpreter exit (the frameworks' teardown). The clock is this
process's, from spawning the worker to its exit; the worker's own phases (``measure/phases``)
split it. Prints the median seconds per backend and variant: the whole cell, the training
call, and everything else.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

BEFORE = ("import sys\n"
          "import mnist_bench.cells.common as c\n"
          "c.seed_everything = lambda keras, seed: keras.utils.set_random_seed(seed)\n"
          "from mnist_bench import worker\n"
          "sys.exit(worker.main(sys.argv[1:]))\n")


def run(variant: str, cell: dict, backend: str) -> dict:
    from mnist_bench.execute import protocol
    from mnist_bench.measure import phases

    env = {**os.environ, "KERAS_BACKEND": backend, "CUDA_VISIBLE_DEVICES": "",
           "TF_CPP_MIN_LOG_LEVEL": "2", phases.SPAWNED_ENV: repr(time.time())}
    argv = ([sys.executable, "-m", "mnist_bench.worker"] if variant == "after"
            else [sys.executable, "-c", BEFORE])
    t0 = time.perf_counter()
    done = subprocess.run([*argv, json.dumps(cell)], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    result = None
    for line in done.stdout.splitlines():
        _, event = protocol.parse(line)
        if event and event.get("event") == "result":
            result = event["result"]
    if result is None:
        raise SystemExit(f"{variant} {backend}: no result\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return {"wall": wall, "training": result["phases"]["training"], "phases": result["phases"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--blocks", type=int, default=4)
    p.add_argument("--profile", default="smoke")
    p.add_argument("--spec", default="mlp_100x2")
    p.add_argument("--backends", default="tensorflow,jax,torch")
    args = p.parse_args()
    from mnist_bench.settings import Cell

    backends = args.backends.split(",")
    seen: dict = {}
    rng = random.Random(0)
    for block in range(args.blocks):
        order = [(v, b) for v in ("before", "after") for b in backends]
        rng.shuffle(order)
        for variant, backend in order:
            cell = Cell(spec=args.spec, backend=backend, dataset="mnist", profile=args.profile,
                        seed=block, repeat=block).to_dict()
            got = run(variant, cell, backend)
            seen.setdefault((backend, variant), []).append(got)
            print(f"block {block + 1} {backend:10s} {variant:6s} {got['wall']:6.2f} s", file=sys.stderr)
    print(f"{args.spec}, {args.profile} profile, {args.blocks} blocks; medians over blocks (s)\n")
    print("| backend | variant | cell wall | training call | outside training | imports | build | exit |")
    print("|---|---|---|---|---|---|---|---|")
    for backend in backends:
        for variant in ("before", "after"):
            runs = seen[(backend, variant)]
            med = lambda f: statistics.median(f(r) for r in runs)  # noqa: E731
            # exit: the wall time no worker phase holds (result line, teardown, the pipe)
            exit_s = f"{med(lambda r: r['wall'] - sum(v for v in r['phases'].values() if v)):.2f}"
            print(f"| {backend} | {variant} | {med(lambda r: r['wall']):.2f} | "
                  f"{med(lambda r: r['training']):.2f} | {med(lambda r: r['wall'] - r['training']):.2f} | "
                  f"{med(lambda r: r['phases']['imports']):.2f} | {med(lambda r: r['phases']['build']):.2f} | "
                  f"{exit_s} |")


if __name__ == "__main__":
    main()
