"""Does the harness's steady epoch measure what a user's training costs?

Against an independent timing of the same recipe, written without any of the harness's timing
code: a plain ``model.fit(epochs=N)`` whose only callback notes ``time.perf_counter()`` at each
``on_epoch_end``; its steady epoch is the median gap between consecutive epoch ends (epochs
2..N), every second between them included. Each block runs, for every backend in a fresh random
order, one harness cell (started as a run starts it, ``process.run_worker``: forked from its
backend's pre-imported server, the default, or a fresh interpreter) and one
independent timing, each in a fresh process. A run's figure is its mean steady epoch (the
harness's clocked epochs 2..N; the independent gaps between epoch ends 2..N), as the tables use;
the figure per backend is harness / independent, paired by block, with its 95% interval over
blocks.

    python benchmarks/check_clock.py --spec mlp_512 --epochs 5 --blocks 3 --out results/clock-check
    python benchmarks/check_clock.py --from-json results/clock-check/clock-check.json  # re-render

With ``--batch-size N`` both sides train at batch N (the recipe's learning rate), as a
throughput cell of ``mnist-bench run --batch-sizes`` does.

With ``--impl native`` the same check for each framework's own loop: the harness's native cell
against a plain loop over the native trainer's epochs (``trainer.train_epoch`` on a fresh
permutation, the device synchronised after it), timed by ``time.perf_counter()`` at each
epoch's end alone, with none of the harness's clock, epoch log or evaluation code.

Writes ``clock-check.json`` (every run's figures) and ``clock-check.md`` into ``--out``.
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
from pathlib import Path

MARK = "@@clock-check "


def independent(spec_name: str, epochs: int, seed: int, batch_size: int | None = None) -> dict:
    """Inside a fresh process with KERAS_BACKEND set: time fit(epochs=N) by its epoch ends."""
    import keras
    import numpy as np

    from mnist_bench import data, specs

    spec = specs.load(spec_name)
    r = spec.recipe
    ds = data.load(r.dataset)
    keras.utils.set_random_seed(seed)
    shape = tuple(r.input_shape)
    x = (ds.x_train.astype(np.float32) / 255).reshape(-1, *shape)
    y = ds.y_train.astype(np.int32)
    model = spec.build()
    optimizer = keras.optimizers.get(r.optimizer)
    if r.learning_rate is not None:
        optimizer.learning_rate = r.learning_rate
    model.compile(optimizer=optimizer, loss=r.loss, metrics=["accuracy"])
    ends = []

    class Ends(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            ends.append(time.perf_counter())

    t0 = time.perf_counter()
    model.fit(x, y, batch_size=batch_size or r.batch_size, epochs=epochs, shuffle=True, verbose=0,
              callbacks=[Ends()])
    gaps = [b - a for a, b in zip(ends, ends[1:])]
    return {"steady_epoch_s": statistics.median(gaps), "gaps": gaps, "first_end_s": ends[0] - t0}


def independent_native(spec_name: str, epochs: int, seed: int, mode: str = "default",
                       batch_size: int | None = None) -> dict:
    """The native trainer's epochs timed by their ends only (no harness clock code)."""
    import keras
    import numpy as np

    from mnist_bench import data, specs
    from mnist_bench.cells import common
    from mnist_bench.cells.native import layers, loop

    spec = specs.load(spec_name)
    ds = data.load(spec.recipe.dataset)
    prep = common.prepare(spec, ds, "quick", seed)  # the same data and initial weights
    module = loop.trainer_module(keras.config.backend())
    trainer = module.Trainer(layers.describe(prep.model), layers.optimizer(spec.recipe),
                             prep.x_train, prep.y_train, batch_size or spec.recipe.batch_size, seed, mode,
                             gpu=False)
    rng = np.random.default_rng(seed)
    ends = []
    t0 = time.perf_counter()
    for _ in range(epochs):
        trainer.train_epoch(rng.permutation(len(prep.x_train)))
        trainer.sync()
        ends.append(time.perf_counter())
    gaps = [b - a for a, b in zip(ends, ends[1:])]
    return {"steady_epoch_s": statistics.median(gaps), "gaps": gaps, "first_end_s": ends[0] - t0}


def mean_steady(run: dict) -> float:
    """A run's mean steady epoch: clocked epochs 2..N (harness) or gaps between epoch ends."""
    steady = run["epoch_s"][1:] if run["kind"] == "harness" else run["gaps"]
    return sum(steady) / len(steady)


def _run(cmd, backend) -> str:
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONUNBUFFERED": "1",
           "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"}
    return subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout


def harness(spec: str, backend: str, epochs: int, seed: int, impl: str = "keras",
            mode: str = "default", batch_size: int | None = None) -> dict:
    """One harness cell started as a run starts it (``process.run_worker``: forked from the
    backend's pre-imported server unless MNIST_BENCH_WORKER_START=spawn)."""
    from mnist_bench.execute import process
    from mnist_bench.settings import Cell

    cell = Cell(spec=spec, backend=backend, dataset="mnist", profile="quick", seed=seed,
                epochs=epochs, impl=impl, mode=mode, planned_batch_size=batch_size or None)
    out = process.run_worker(cell, timeout_s=3600)
    res = out.result
    if res is None:
        raise RuntimeError(f"no result from the harness worker: {out.error or out.tail[-5:]}")
    return {"steady_epoch_s": res["steady_epoch_s"], "epoch_s": res["epoch_s"],
            "epoch_wall_s": res["epoch_wall_s"], "status": res["status"],
            "worker_start": res.get("worker_start")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--spec", default="mlp_512")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--blocks", type=int, default=3)
    p.add_argument("--backends", default="tensorflow,jax,torch")
    p.add_argument("--order-seed", type=int, default=0)
    p.add_argument("--impl", default="keras", choices=("keras", "native"),
                   help="keras: model.fit; native: each framework's own loop")
    p.add_argument("--mode", default="default",
                   help="the mode of both sides (--impl native: a native mode, e.g. steps32)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="both sides at this batch size (default: the recipe's)")
    p.add_argument("--out", default="results/clock-check")
    p.add_argument("--from-json", default=None, help="re-render the tables of a saved clock-check.json")
    p.add_argument("--independent", nargs=6, metavar=("IMPL", "SPEC", "EPOCHS", "SEED", "MODE", "BATCH"),
                   help=argparse.SUPPRESS)  # the child process
    a = p.parse_args(argv)
    if a.from_json:
        saved = json.loads(Path(a.from_json).read_text())
        return render(saved["runs"], saved["command"], Path(a.from_json).parent, saved.get("meta"))
    if a.independent:
        impl, spec, epochs, seed, mode, batch = a.independent
        batch = int(batch) or None  # 0: the recipe's
        if impl == "native":
            print(MARK + json.dumps(independent_native(spec, int(epochs), int(seed), mode, batch)))
        else:
            print(MARK + json.dumps(independent(spec, int(epochs), int(seed), batch)))
        return 0
    backends = a.backends.split(",")
    rng = random.Random(a.order_seed)
    runs = []
    for block in range(a.blocks):
        jobs = [(b, kind) for b in backends for kind in ("harness", "independent")]
        rng.shuffle(jobs)
        for backend, kind in jobs:
            if kind == "harness":
                fig = harness(a.spec, backend, a.epochs, block, a.impl, a.mode, a.batch_size)
            else:
                out = _run([sys.executable, __file__, "--independent", a.impl, a.spec,
                            str(a.epochs), str(block), a.mode, str(a.batch_size or 0)], backend)
                fig = json.loads(next(x for x in out.splitlines() if x.startswith(MARK))[len(MARK):])
            runs.append({"block": block, "backend": backend, "kind": kind, **fig})
            print(f"block {block} {backend:<10} {kind:<11} steady epoch {fig['steady_epoch_s']:.3f} s",
                  file=sys.stderr, flush=True)
    cmd = "python benchmarks/check_clock.py " + " ".join(sys.argv[1:] if argv is None else argv)
    from mnist_bench.measure import environment

    meta = {"spec": a.spec, "epochs": a.epochs, "blocks": a.blocks, "impl": a.impl, "mode": a.mode,
            "batch_size": a.batch_size, "git": environment.git_commit()}
    return render(runs, cmd, Path(a.out), meta)


def render(runs: list[dict], cmd: str, out: Path, meta: dict | None) -> int:
    from mnist_bench.analysis import stats
    from mnist_bench.render import cells as fmt

    meta = meta or {}
    what = ("the native loop timed by its epoch ends alone" if meta.get("impl") == "native"
            else "an independent single-fit timing")
    lines = [f"# Harness clock against {what} ({meta.get('spec')}, "
             f"{meta.get('epochs')} epochs, {meta.get('blocks')} blocks"
             + (f", batch {meta['batch_size']}" if meta.get("batch_size") else "") + ")\n",
             "Mean steady epoch of each run (epochs 2..N), the median over runs, and harness / "
             f"independent paired by block with its {100 * stats.DECISION_CONFIDENCE:g}% interval "
             f"and verdict against a ±{100 * stats.MARGIN:g}% margin (docs/method.md).\n",
             "| backend | harness s | independent s | harness / independent [interval] | verdict |",
             "|---|---|---|---|---|"]
    summary = {}
    for b in dict.fromkeys(r["backend"] for r in runs):
        h = {r["block"]: mean_steady(r) for r in runs if r["backend"] == b and r["kind"] == "harness"}
        i = {r["block"]: mean_steady(r) for r in runs if r["backend"] == b and r["kind"] == "independent"}
        ratio = stats.paired_ratio(h, i, schedule=False)  # one fixed check, not a sequence of looks
        summary[b] = ratio.parts()
        lines.append(f"| {b} | {statistics.median(h.values()):.3f} | {statistics.median(i.values()):.3f} "
                     f"| {fmt.ratio(ratio, bare=True)} | {fmt.verdict(ratio)} |")
    starts = sorted({r["worker_start"] for r in runs if r.get("worker_start")})
    if starts:
        lines.append(f"\nHarness cells started as: {', '.join(starts)}.")
    git = meta.get("git") or {}
    if git.get("commit"):
        lines.append(f"Commit {git['commit'][:7]}{' (dirty)' if git.get('dirty') else ''}.")
    out.mkdir(parents=True, exist_ok=True)
    (out / "clock-check.json").write_text(json.dumps({"command": cmd, "meta": meta, "summary": summary,
                                                      "runs": runs}, indent=1) + "\n")
    (out / "clock-check.md").write_text("\n".join(lines) + f"\n\nMade with `{cmd}`.\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
