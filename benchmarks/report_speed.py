"""How long `mnist-bench report` takes on a large store (no training): N runs of a small
matrix, written as records, then loaded, tabled and rendered as the command does.

    python benchmarks/report_speed.py --runs 2000

Prints seconds per stage and in all, and the same for a tenth of the runs, so growth with the
store's size shows (linear: about 10x). A figure to report, never a test's pass mark.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def records(runs: int) -> list[dict]:
    out = []
    for run in range(runs):
        for spec in ("mlp_512", "linear_sgd"):
            for backend in ("tensorflow", "jax", "torch"):
                mean = {"tensorflow": 1.0, "jax": 0.5, "torch": 1.5}[backend]
                out.append({
                    "schema": "mnist-bench/record", "version": 1,
                    "timestamp": "2026-01-01T00:00:00+00:00", "spec": spec, "backend": backend,
                    "dataset": "mnist", "profile": "quick", "seed": 0, "epochs": None,
                    "mode": "default", "repeat": 0, "block": 0, "device_requested": "cpu",
                    "data_dir": None, "status": "ok", "run_id": f"run-{run:05d}",
                    "canary_s": 0.02 + 0.001 * (run % 7), "test_accuracy": 0.97,
                    "train_samples": 60000, "epoch_s": [2 * mean, mean, mean * 1.01],
                    "steady_epoch_s": mean, "machine": {"hostname": "vm"},
                    "curve": [{"epoch": 1, "train_s": 2 * mean, "test_accuracy": 0.95}]})
    return out


def timed(runs: int, folder: Path) -> dict:
    from mnist_bench.analysis import report
    from mnist_bench.record import sources
    from mnist_bench.render import markdown

    store = folder / f"store-{runs}"
    store.mkdir()
    (store / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records(runs)))
    t = {"runs": runs}
    t0 = time.perf_counter()
    recs = sources.load_any([str(store)])
    t["load_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    rep = report.build(recs)
    t["tables_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    markdown.markdown(rep)
    t["render_s"] = time.perf_counter() - t0
    t["total_s"] = t["load_s"] + t["tables_s"] + t["render_s"]
    return t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for runs in (max(1, args.runs // 10), args.runs):
            t = timed(runs, Path(tmp))
            print(f"{t['runs']:>6} runs ({6 * t['runs']} records): load {t['load_s']:.2f} s, "
                  f"tables {t['tables_s']:.2f} s, render {t['render_s']:.2f} s, "
                  f"total {t['total_s']:.2f} s")


if __name__ == "__main__":
    main()
