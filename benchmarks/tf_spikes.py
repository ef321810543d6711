"""Where do Keras-on-TensorFlow's slow steady epochs spend their time?

A fraction of Keras-on-TensorFlow steady epochs take 0.3-3 s longer than their neighbours while
native TensorFlow loops show none. This script trains one spec with a plain ``model.fit`` (as a
user does, no harness clock) in a fresh process per variant and records, per epoch: the wall
time, the process's CPU time, and every step's start (``on_train_batch_begin``), so that a slow
epoch shows whether its extra time is one long stall or spread over its steps, and whether the
process was computing (CPU time grows with the wall) or waiting (it does not); each garbage
collection (``gc.callbacks``) with its duration, so a stall can be matched with one. Variants
try the suspects one at a time:

- ``fit``: Keras's defaults (its TensorFlow data adapter: tf.data over the NumPy arrays);
- ``gc-off``: the same with Python's garbage collector disabled during fit;
- ``dataset``: fit on a tf.data.Dataset built here (shuffle, batch, no prefetch autotuning);
- ``threads1``: TensorFlow's inter-op thread pool set to one thread.

    python benchmarks/tf_spikes.py --spec linear_sgd --epochs 16 --out results/tf-spikes

Writes ``tf-spikes.json`` (every epoch and step time) and ``tf-spikes.md`` into ``--out``.
A slow epoch is one more than 25% over its variant's median steady epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

MARK = "@@tf-spikes "
VARIANTS = ("fit", "gc-off", "dataset", "threads1")
SLOW = 1.25


def measure(spec_name: str, epochs: int, variant: str, seed: int = 0) -> dict:
    """Inside a fresh process with KERAS_BACKEND=tensorflow."""
    import gc
    import time

    import numpy as np
    import tensorflow as tf

    if variant == "threads1":
        tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    from mnist_bench import data, specs

    spec = specs.load(spec_name)
    r = spec.recipe
    ds = data.load(r.dataset)
    keras.utils.set_random_seed(seed)
    x = (ds.x_train.astype(np.float32) / 255).reshape(-1, *tuple(r.input_shape))
    y = ds.y_train.astype(np.int32)
    model = spec.build()
    optimizer = keras.optimizers.get(r.optimizer)
    if r.learning_rate is not None:
        optimizer.learning_rate = r.learning_rate
    model.compile(optimizer=optimizer, loss=r.loss, metrics=["accuracy"])
    epochs_out, gcs = [], []
    clock = time.perf_counter

    def on_gc(phase, info):
        if phase == "start":
            gcs.append({"start": clock(), "generation": info["generation"]})
        elif gcs:
            gcs[-1]["s"] = clock() - gcs[-1]["start"]

    class Steps(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0, self.cpu0, self.steps = clock(), time.process_time(), []

        def on_train_batch_begin(self, batch, logs=None):
            self.steps.append(clock())

        def on_epoch_end(self, epoch, logs=None):
            t1 = clock()
            starts = self.steps + [t1]
            gaps = [b - a for a, b in zip(starts, starts[1:])]
            epochs_out.append({"epoch": epoch + 1, "wall_s": t1 - self.t0,
                               "cpu_s": time.process_time() - self.cpu0, "step_s": gaps,
                               "start": self.t0, "end": t1,
                               "threads": len(os.listdir("/proc/self/task"))
                               if os.path.isdir("/proc/self/task") else None})

    gc.callbacks.append(on_gc)
    if variant == "gc-off":
        gc.disable()
    if variant == "dataset":
        train = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed).batch(r.batch_size)
        model.fit(train, epochs=epochs, verbose=0, callbacks=[Steps()])
    else:
        model.fit(x, y, batch_size=r.batch_size, epochs=epochs, shuffle=True, verbose=0,
                  callbacks=[Steps()])
    gc.enable()
    for e in epochs_out:
        inside = [g for g in gcs if e["start"] <= g["start"] < e["end"]]
        e["gc_count"], e["gc_s"] = len(inside), sum(g.get("s", 0.0) for g in inside)
        del e["start"], e["end"]
    return {"variant": variant, "epochs": epochs_out}


def summarize(run: dict) -> dict:
    steady = run["epochs"][1:]
    median = statistics.median(e["wall_s"] for e in steady)
    step_median = statistics.median(s for e in steady for s in e["step_s"])
    slow = [e for e in steady if e["wall_s"] > SLOW * median]
    rows = []
    for e in slow:
        excess = e["wall_s"] - median
        longest = max(e["step_s"])
        rows.append({"epoch": e["epoch"], "wall_s": e["wall_s"], "excess_s": excess,
                     "cpu_per_wall": e["cpu_s"] / e["wall_s"],
                     "longest_step_s": longest, "longest_share": (longest - step_median) / excess,
                     "steps_over_10x": sum(s > 10 * step_median for s in e["step_s"]),
                     "gc_s": e["gc_s"], "threads": e["threads"]})
    calm = [e for e in steady if e not in slow]
    return {"variant": run["variant"], "steady": len(steady), "slow": len(slow),
            "median_s": median, "step_median_s": step_median,
            "calm_cpu_per_wall": statistics.median(e["cpu_s"] / e["wall_s"] for e in calm) if calm else None,
            "slow_epochs": rows}


def render(runs: list[dict], cmd: str, out: Path, meta: dict) -> None:
    lines = [f"# Keras-on-TensorFlow slow epochs ({meta['spec']}, {meta['epochs']} epochs per "
             "process, one process per variant)\n",
             f"A slow epoch is a steady epoch more than {100 * (SLOW - 1):.0f}% over its variant's "
             "median. longest step share: how much of the epoch's excess its single longest "
             "step holds (1 = one stall); CPU/wall: the process's CPU seconds per wall second "
             "(2 cores: up to 2; a stall that waits shows as a drop).\n",
             "| variant | steady epochs | slow | median epoch s | median step ms | CPU/wall, calm epochs |",
             "|---|---|---|---|---|---|"]
    sums = [summarize(r) for r in runs]
    for s in sums:
        calm = "" if s["calm_cpu_per_wall"] is None else f"{s['calm_cpu_per_wall']:.2f}"
        lines.append(f"| {s['variant']} | {s['steady']} | {s['slow']} | {s['median_s']:.3f} | "
                     f"{1000 * s['step_median_s']:.2f} | {calm} |")
    lines += ["", "Each slow epoch:\n",
              "| variant | epoch | wall s | excess s | CPU/wall | longest step s | longest step share of excess | steps over 10x median | GC s | threads |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for s in sums:
        for e in s["slow_epochs"]:
            lines.append(f"| {s['variant']} | {e['epoch']} | {e['wall_s']:.3f} | {e['excess_s']:.3f} | "
                         f"{e['cpu_per_wall']:.2f} | {e['longest_step_s']:.3f} | "
                         f"{e['longest_share']:.2f} | {e['steps_over_10x']} | {e['gc_s']:.4f} | {e['threads']} |")
    lines += ["", f"Command: `{cmd}`", ""]
    out.mkdir(parents=True, exist_ok=True)
    (out / "tf-spikes.md").write_text("\n".join(lines))
    (out / "tf-spikes.json").write_text(json.dumps({"command": cmd, "meta": meta, "runs": runs}) + "\n")
    print("\n".join(lines))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--spec", default="linear_sgd")
    p.add_argument("--epochs", type=int, default=16)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--out", default="results/tf-spikes")
    p.add_argument("--from-json", default=None, help="re-render a saved tf-spikes.json")
    p.add_argument("--child", nargs=3, metavar=("SPEC", "EPOCHS", "VARIANT"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.from_json:
        saved = json.loads(Path(a.from_json).read_text())
        render(saved["runs"], saved["command"], Path(a.from_json).parent, saved["meta"])
        return 0
    if a.child:
        spec, epochs, variant = a.child
        print(MARK + json.dumps(measure(spec, int(epochs), variant)))
        return 0
    variants = a.variants.split(",")
    bad = [v for v in variants if v not in VARIANTS]
    if bad:
        p.error(f"unknown variant {bad[0]!r}; valid: {', '.join(VARIANTS)}")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2",
           "CUDA_VISIBLE_DEVICES": ""}
    runs = []
    for v in variants:
        out = subprocess.run([sys.executable, __file__, "--child", a.spec, str(a.epochs), v],
                             env=env, capture_output=True, text=True, check=True).stdout
        runs.append(json.loads(next(x for x in out.splitlines() if x.startswith(MARK))[len(MARK):]))
        print(f"{v}: done", file=sys.stderr, flush=True)
    cmd = "python benchmarks/tf_spikes.py " + " ".join(sys.argv[1:] if argv is None else argv)
    render(runs, cmd, Path(a.out), {"spec": a.spec, "epochs": a.epochs})
    return 0


if __name__ == "__main__":
    sys.exit(main())
