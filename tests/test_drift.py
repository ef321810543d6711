"""Drift provoked for real: CPU-hogging processes during some cells of a run, seen and flagged."""

import subprocess
import sys

import pytest

from mnist_bench.analysis import compare, keys, machines, report
from mnist_bench.execute.local import LocalExecutor
from mnist_bench.execute.sink import Sink
from mnist_bench.record import store
from mnist_bench.render import markdown
from mnist_bench.settings import Cell

pytestmark = pytest.mark.slow  # these tests start worker processes

HOG = "import time\nend = time.monotonic() + 120\nwhile time.monotonic() < end: pass\n"


@pytest.fixture(scope="module")
def hogged_run(tmp_path_factory, mnist):
    """Six baseline cells (no keras, a second each); the 4th and 5th run beside one hog per
    core this process may use (so every core the canary's threads run on is busy, on a 2-core
    machine as on a 64-core one); the hogs are stopped whatever happens."""
    from mnist_bench.measure import disturbance

    out = tmp_path_factory.mktemp("drift")
    executor = LocalExecutor(Sink(out, {"run_id": "drift-test", "order_seed": 0}), lambda cell: 600)
    hogged = {3, 4}
    hogs = []
    try:
        for i in range(6):
            if i == 3:
                hogs = [subprocess.Popen([sys.executable, "-c", HOG])
                        for _ in range(disturbance.usable_cores())]
            if i == 5:
                _stop(hogs)
            executor.run([Cell("sgd_classifier", "sklearn", "mnist", profile="smoke", seed=i, repeat=i)])
    finally:
        _stop(hogs)
    return store.load(out), hogged


def _stop(hogs) -> None:
    for h in hogs:
        h.kill()
        h.wait()


def test_cells_measured_beside_a_hog_are_flagged(hogged_run):
    recs, hogged = hogged_run
    drift = keys.canary_drift(recs)
    by_block = {r["block"]: drift[id(r)] for r in recs}
    assert all(by_block[b] > keys.DRIFT_FLAG for b in hogged), by_block
    assert min(by_block[b] for b in hogged) > max(v for b, v in by_block.items() if b not in hogged)
    table = machines.drift_table(recs)
    assert table.loc[0, "cells flagged"] >= len(hogged)
    md = markdown.markdown(report.build(recs))
    body = md.split("Method: docs/method.md.")[1]  # past the legend, which explains the mark
    assert "‡" in body and "canary worst vs best" in body


def test_compare_states_the_canary_difference(hogged_run):
    recs, hogged = hogged_run
    calm = [r for r in recs if r["block"] not in hogged]
    slow = [r for r in recs if r["block"] in hogged]
    assert compare.canary_change(calm, slow) > keys.DRIFT_FLAG


def test_the_canary_runs_its_products_on_a_bounded_number_of_threads(monkeypatch):
    """On an idle many-core host a small product split over every core is timed mostly in
    the threads' hand-offs: the canary bounds its BLAS threads (and the cores it may use bound
    them further)."""
    from threadpoolctl import threadpool_info

    from mnist_bench.measure import canary, disturbance

    seen = []
    real = canary._work

    def work(a, b):
        seen.append(max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"))
        return real(a, b)

    monkeypatch.setattr(canary, "_work", work)
    monkeypatch.setattr(disturbance, "usable_cores", lambda: 64)  # a many-core host
    assert canary.measure() > 0
    assert seen and max(seen) <= canary.THREADS, seen
    monkeypatch.setattr(disturbance, "usable_cores", lambda: 1)
    seen.clear()
    canary.measure()
    assert max(seen) == 1, seen
