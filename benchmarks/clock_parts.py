"""Which part of the harness's Keras instrumentation changes what an epoch costs?

One ``fit(epochs=N)`` of a spec at its recipe's batch size per fresh process, with one more
part of the harness's epoch instrumentation (``cells.keras_cell``) switched on in each variant:

- ``plain``: a callback that notes ``time.perf_counter()`` at each ``on_epoch_end`` only;
- ``timer``: the harness's ``EpochTimer`` (device synchronised at both ends of each epoch),
  no evaluation between epochs, no time-to-target snapshots;
- ``timer+eval``: and the accuracy curve evaluated between epochs (off the clock);
- ``harness``: and the time-to-target weight snapshots at each eighth of an epoch until the
  target is reached, i.e. what a harness cell runs.

Each variant reports its epochs' wall time between consecutive epoch ends less the evaluation
between them (what training itself took, whatever the harness's clock says), and, where it
has one, the harness's clocked epochs. Blocks of all variants in a fresh random order.

    python benchmarks/clock_parts.py --backend tensorflow --spec mlp_512 --epochs 4 --blocks 3
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

VARIANTS = ("plain", "timer", "timer+eval", "harness")
MARK = "@@clock-parts "


def child(variant: str, spec_name: str, epochs: int, seed: int) -> dict:
    import keras

    from mnist_bench import data, specs
    from mnist_bench.cells import common, keras_cell

    spec = specs.load(spec_name)
    ds = data.load(spec.recipe.dataset)
    session = keras_cell.Session(spec, ds, "quick", seed, "default")
    ends, evals = [], []
    if variant == "plain":
        class Ends(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                ends.append(time.perf_counter())

        session.model.fit(session.x_train, session.y_train, batch_size=spec.recipe.batch_size,
                          epochs=epochs, shuffle=True, verbose=0, callbacks=[Ends()])
        clocked = None
    else:
        def evaluate():
            t = time.perf_counter()
            acc = session.evaluate(session.prep.curve_on)[1] if variant != "timer" else 0.0
            evals.append(time.perf_counter() - t)
            return acc

        log = common.EpochLog(epochs, session.prep.curve_on, evaluate, lambda **_: None,
                              target=spec.recipe.target_accuracy if variant == "harness" else None,
                              with_weights=session.with_weights if variant == "harness" else None)

        class Ends(keras.callbacks.Callback):  # runs after the timer's on_epoch_end
            def on_epoch_end(self, epoch, logs=None):
                ends.append(time.perf_counter())

        session.train(log, callbacks=[Ends()])
        clocked = list(log.epoch_s)
    gaps = [b - a for a, b in zip(ends, ends[1:])]
    # an epoch's evaluation runs inside its on_epoch_end, before Ends notes the end
    train = [g - (evals[i + 1] if len(evals) > i + 1 else 0.0) for i, g in enumerate(gaps)]
    return {"variant": variant, "gaps_less_eval": train, "clocked": clocked}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", default="tensorflow")
    p.add_argument("--spec", default="mlp_512")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--blocks", type=int, default=3)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        variant, spec, epochs, seed = a.child
        print(MARK + json.dumps(child(variant, spec, int(epochs), int(seed))))
        return 0
    env = {**os.environ, "KERAS_BACKEND": a.backend, "TF_CPP_MIN_LOG_LEVEL": "2",
           "CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"}
    rng = random.Random(0)
    rows = []
    for block in range(a.blocks):
        order = a.variants.split(",")
        rng.shuffle(order)
        for v in order:
            out = subprocess.run([sys.executable, __file__, "--child", v, a.spec, str(a.epochs),
                                  str(block)], env=env, capture_output=True, text=True,
                                 timeout=1800).stdout
            r = json.loads(next(x for x in out.splitlines() if x.startswith(MARK))[len(MARK):])
            r["block"] = block
            rows.append(r)
            steady = r["gaps_less_eval"]
            clk = r["clocked"][1:] if r["clocked"] else None
            print(f"block {block} {v:<11} epoch wall less eval {statistics.fmean(steady):.3f} s"
                  + (f", harness clock {statistics.fmean(clk):.3f} s" if clk else ""), flush=True)
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
