"""Where a cell's wall time goes outside its training call, each cell started as a fresh
interpreter and forked from its backend's pre-imported server (``execute.forkserver``),
measured back to back on one machine (no test asserts these figures).

    python benchmarks/cell_overhead.py --blocks 4 --profile quick
    python benchmarks/cell_overhead.py --from-records results/gpu-h200/default-matrix

Each block runs every backend's cell twice, in a fresh random order: once in a fresh
interpreter (``MNIST_BENCH_WORKER_START=spawn``), once forked from the server, both through
the shipped ``process.run_worker``. The clock is the harness's, from starting the worker to
its exit; the worker's own phases (``measure/phases``) split it. A server's own imports happen
once per backend, before its first cell, outside every cell (printed apart). Prints the median
seconds per backend and start: the whole cell, the training call, and everything else.

``--from-records``: the same split read off a store's records (e.g. a GPU run made with fresh
interpreters), with what forking would remove (the ``start`` and ``imports`` phases) and the
median left.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

STARTS = ("spawn", "fork")


def run(start: str, cell) -> dict:
    from mnist_bench import envvars
    from mnist_bench.execute import forkserver, process

    os.environ[envvars.WORKER_START] = start
    server_s = None
    if start == "fork":
        t0 = time.perf_counter()
        forkserver.server_for(process.worker_env(cell), process.worker_command())
        server_s = time.perf_counter() - t0
    out = process.run_worker(cell, timeout_s=600)
    if out.result is None:
        raise SystemExit(f"{start} {cell.backend}: no result: {out.error}\n" + "\n".join(out.tail))
    return {"wall": out.wall_s, "training": out.result["phases"]["training"],
            "first": out.result.get("first_epoch_s"), "steady": out.result.get("steady_epoch_s"),
            "phases": out.result["phases"], "server_s": server_s,
            "started": out.result.get("worker_start")}


def _outside(r: dict) -> float:
    return r["wall"] - r["training"]


def measure(args) -> None:
    from mnist_bench.settings import Cell

    backends = args.backends.split(",")
    seen: dict = {}
    servers: dict = {}
    rng = random.Random(0)
    for block in range(args.blocks):
        order = [(s, b) for s in STARTS for b in backends]
        rng.shuffle(order)
        for start, backend in order:
            cell = Cell(spec=args.spec, backend=backend, dataset="mnist", profile=args.profile,
                        seed=block, repeat=block)
            got = run(start, cell)
            if got["server_s"] is not None and got["server_s"] > 0.5:
                servers[backend] = got["server_s"]  # the server's imports (its first cell)
            seen.setdefault((backend, start), []).append(got)
            print(f"block {block + 1} {backend:10s} {start:5s} ({got['started']}) "
                  f"{got['wall']:6.2f} s", file=sys.stderr)
    print(f"{args.spec}, {args.profile} profile, {args.blocks} blocks; medians over blocks (s); "
          "spawn: a fresh interpreter per cell, fork: forked from the backend's server\n")
    print("| backend | start | cell wall | training call | first epoch | steady epoch | outside training "
          "| start+imports | data | build | exit |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for backend in backends:
        for start in STARTS:
            runs = seen[(backend, start)]
            med = lambda f: statistics.median(f(r) for r in runs)  # noqa: E731
            ph = lambda name: (lambda r: r["phases"].get(name) or 0.0)  # noqa: E731
            exit_s = med(lambda r: r["wall"] - sum(v for v in r["phases"].values() if v))
            print(f"| {backend} | {start} | {med(lambda r: r['wall']):.2f} | "
                  f"{med(lambda r: r['training']):.2f} | {med(lambda r: r['first']):.2f} | "
                  f"{med(lambda r: r['steady']):.3f} | {med(_outside):.2f} | "
                  f"{med(lambda r: ph('start')(r) + ph('imports')(r)):.2f} | {med(ph('data')):.2f} | "
                  f"{med(ph('build')):.2f} | {exit_s:.2f} |")
    every = {s: statistics.median(_outside(r) for b in backends for r in seen[(b, s)]) for s in STARTS}
    print(f"\nMedian outside the training call over every cell: spawn {every['spawn']:.2f} s, "
          f"fork {every['fork']:.2f} s. Each server's imports, once per run and backend, before "
          "its first cell: " + ", ".join(f"{b} {s:.1f} s" for b, s in servers.items()) + ".")


def from_records(folder: str) -> None:
    from mnist_bench.record import store

    recs = [r for r in store.load(folder, warn=lambda _: None)
            if r.get("status") == "ok" and isinstance(r.get("phases"), dict) and r.get("cell_wall_s")]
    print(f"{folder}: {len(recs)} cells; medians (s)\n")
    print("| backend | cells | outside training | start+imports (forking removes) | left |")
    print("|---|---|---|---|---|")
    rows = {}
    for r in recs:
        ph = r["phases"]
        outside = r["cell_wall_s"] - (ph.get("training") or 0.0)
        removed = (ph.get("start") or 0.0) + (ph.get("imports") or 0.0)
        rows.setdefault(r["backend"], []).append((outside, removed, outside - removed))
    for backend, xs in sorted(rows.items()):
        med = [statistics.median(x[i] for x in xs) for i in range(3)]
        print(f"| {backend} | {len(xs)} | {med[0]:.2f} | {med[1]:.2f} | {med[2]:.2f} |")
    every = [x for xs in rows.values() for x in xs]
    print(f"\nEvery cell: outside {statistics.median(x[0] for x in every):.2f} s, left after "
          f"forking {statistics.median(x[2] for x in every):.2f} s (median).")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--blocks", type=int, default=4)
    p.add_argument("--profile", default="quick")
    p.add_argument("--spec", default="mlp_100x2")
    p.add_argument("--backends", default="tensorflow,jax,torch")
    p.add_argument("--from-records", metavar="FOLDER")
    args = p.parse_args()
    if args.from_records:
        from_records(args.from_records)
    else:
        measure(args)


if __name__ == "__main__":
    main()
