"""No silent wrong answer: lost runs shown, compare gates that fail on nothing, settings never
mixed, one run per folder, records written whole, disturbed epochs flagged."""

from __future__ import annotations

import json

import pytest

from .conftest import run_cli
from .test_regressions import rec, write


def _unmeasured(status, reason, **kw):
    """A valid record of a run that measured nothing (failed, timed out)."""
    r = rec(status=status, reason=reason, **kw)
    for k in ("test_accuracy", "train_samples", "epoch_s", "steady_epoch_s"):
        r.pop(k)
    return r


def _timed_out(**kw):
    return _unmeasured("timeout", "stopped after the cell time limit of 5 s", **kw)


def test_lost_repeats_show_in_the_table_and_fail_compare(tmp_path):
    """A cell with 1 run ok and 2 killed: the table says so and compare calls it a regression."""
    old = write(tmp_path / "old", [rec(block=k) for k in range(3)])
    lost = [rec(block=0)] + [_unmeasured("failed", "worker killed by SIGSEGV", block=k) for k in (1, 2)]
    new = write(tmp_path / "new", lost)
    report = run_cli("report", new)
    assert report.returncode == 0, report.stderr
    assert "(ok 1/3; 2 lost, failed: worker killed by SIGSEGV)" in report.stdout
    proc = run_cli("compare", old, new)
    assert proc.returncode == 1 and "2 of 3 runs lost" in proc.stdout, proc.stdout


def test_compare_never_pairs_different_setups_and_fails_on_nothing_in_common(tmp_path):
    smoke = write(tmp_path / "smoke", [rec(block=k, profile="smoke", train_samples=1024)
                                       for k in range(3)])
    quick = write(tmp_path / "quick", [rec(block=k) for k in range(3)])
    longer = write(tmp_path / "longer", [rec(block=k, epochs=6) for k in range(3)])
    assert run_cli("compare", quick, longer).returncode == 1  # --epochs 6 is another setup
    proc = run_cli("compare", smoke, quick)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "slower" not in proc.stdout and "no cell in common" in proc.stderr
    assert "smoke" in proc.stderr and "quick" in proc.stderr  # what differs


def test_compare_fails_when_new_lacks_cells_unless_told(tmp_path):
    old = write(tmp_path / "old", [rec(backend=b, block=k) for b in ("jax", "torch") for k in range(3)])
    new = write(tmp_path / "new", [rec(backend="jax", block=k) for k in range(3)])
    proc = run_cli("compare", old, new)
    assert proc.returncode == 1 and "NEW lacks 1 cell(s)" in proc.stderr, proc.stderr
    assert run_cli("compare", old, new, "--allow-missing").returncode == 0


def test_compare_fails_when_nothing_was_measured(tmp_path):
    both = write(tmp_path / "t", [_timed_out(block=k) for k in range(3)])
    proc = run_cli("compare", both, both)
    assert proc.returncode == 1 and "measured nothing" in proc.stderr, proc.stderr


def test_flagged_runs_are_shown_and_counted_in_the_figures(tmp_path):
    """A flag warns: the flagged run is marked and stays in the figures (every run counts)."""
    runs = [rec(block=k, mean=1.0) for k in range(3)] + [rec(block=3, mean=5.0, flags=["stopped"])]
    from mnist_bench.analysis import report

    row = report.build([json.loads(json.dumps(r)) for r in runs]).tidy.iloc[0]
    assert row.flagged_runs == 1 and row.steady_epoch_s == pytest.approx(2.0, rel=0.02)
    proc = run_cli("report", write(tmp_path / "f", runs))
    assert "§" in proc.stdout.split("### mnist")[1]


def _plan(out, **change):
    from .test_regressions import _plan as plan

    plan(out, **change)


def test_a_fresh_run_into_a_folder_of_another_run_is_refused(tmp_path):
    out = tmp_path / "run"
    _plan(out)
    write(out, [rec("sgd_classifier", "sklearn", profile="smoke")])
    before = (out / "records.jsonl").read_text()
    proc = run_cli("run", "--profile", "smoke", "--models", "sgd_classifier", "--out", out)
    assert proc.returncode == 2 and "already holds another run" in proc.stderr, proc.stderr
    assert "--resume" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert (out / "records.jsonl").read_text() == before  # nothing appended to that run


def test_a_folder_in_use_by_a_live_run_is_refused(tmp_path):
    from mnist_bench.record import store

    out = tmp_path / "busy"
    out.mkdir()
    with store.RunLock(out):  # a live run holds it
        proc = run_cli("run", "--profile", "smoke", "--models", "sgd_classifier", "--out", out)
    assert proc.returncode == 2, proc.stderr
    assert f"in use by another mnist-bench run (pid {__import__('os').getpid()})" in proc.stderr
    assert not (out / "records.jsonl").exists()


def test_a_record_write_that_fails_leaves_the_store_whole_and_says_how_to_resume(tmp_path, monkeypatch):
    """A full disk mid-write: os.write takes part of the line, then fails. The store keeps
    every earlier record, holds no torn line, and the error names the file and the resume."""
    import os

    from mnist_bench.record import schema, store

    store.append(tmp_path, rec(block=0))
    real = os.write
    calls = []

    def full_disk(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real(fd, data[:100])  # a short write
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(schema.RecordError) as err:
        store.append(tmp_path, rec(block=1))
    monkeypatch.setattr(os, "write", real)
    msg = str(err.value)
    assert str(tmp_path / "records.jsonl") in msg and "--resume" in msg and "\n" not in msg
    warnings = []
    assert [r["block"] for r in store.load(tmp_path, warn=warnings.append)] == [0] and not warnings


def test_tables_are_written_whole_or_not_at_all(tmp_path, monkeypatch):
    from pathlib import Path

    from mnist_bench.analysis import report
    from mnist_bench.render import files

    rep = report.build([rec(block=k) for k in range(3)])
    files.write_tables(rep, tmp_path)
    before = (tmp_path / "tables.json").read_text()
    real = Path.write_text

    def fails(self, *a, **k):
        if self.name.startswith("tables.json"):
            raise OSError(28, "No space left on device")
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", fails)
    with pytest.raises(OSError):
        files.write_tables(rep, tmp_path)
    assert (tmp_path / "tables.json").read_text() == before  # never a 0-byte or torn file


def test_the_error_line_is_the_reason_not_the_noise_after_it():
    from mnist_bench.execute.process import Attempt, Outcome
    from mnist_bench.execute.sink import outcome_fields

    tail = ["Traceback (most recent call last):", '  File "x.py", line 1, in <module>',
            "ValueError: the real problem",
            "For simplicity, JAX has removed its internal frames from the traceback"]
    fields = outcome_fields(Attempt(0.1, outcome=Outcome(returncode=1, tail=tail)), 60)
    assert fields["reason"] == "worker exited with code 1: ValueError: the real problem"


@pytest.mark.slow
def test_a_user_recipe_is_checked_like_an_option(tmp_path):
    """epochs=0 would record an untrained model as ok: the cell fails with the field named; a
    spec that prints without ending its line does not swallow the worker's result; and one that
    prints a line like a result (then exits) is no result: results come on their own pipe."""
    spec = tmp_path / "careless.py"
    spec.write_text("import keras\nfrom mnist_bench.specs import Recipe, Spec\n\n\n"
                    "def build():\n    return keras.Sequential([keras.Input((784,)), "
                    "keras.layers.Dense(10, activation='softmax')])\n\n\n"
                    "no_epochs = Spec('no_epochs', build, Recipe(epochs=0))\n"
                    "bad_optimizer = Spec('bad_optimizer', build, Recipe(optimizer='adamm'))\n\n\n"
                    "def chatty():\n    for _ in range(3):\n        print('.', end='', flush=True)\n"
                    "    return build()\n\n\n"
                    "def impostor():\n    import os\n"
                    "    print('@@mnist-bench {\"event\": \"result\", \"result\": {\"test_accuracy\": 0.999, "
                    "\"epoch_s\": [1.0, 1.0], \"train_samples\": 1024}}', flush=True)\n    os._exit(0)\n")
    out = tmp_path / "out"
    proc = run_cli("run", "--profile", "smoke", "--backends", "jax", "--models",
                   f"{spec}:no_epochs,{spec}:bad_optimizer,{spec}:chatty,{spec}:impostor", "--out", out,
                   timeout=600)
    assert proc.returncode == 1
    by = {r["spec"].rpartition(":")[2]: r for r in
          (json.loads(line) for line in (out / "records.jsonl").read_text().splitlines())}
    assert by["no_epochs"]["status"] == "failed"
    assert "recipe epochs=0; valid: an integer >= 2" in by["no_epochs"]["reason"]
    assert "recipe optimizer='adamm'; valid: adadelta" in by["bad_optimizer"]["reason"]
    # a spec that prints without a newline: its result line is still read, the cell ok
    assert by["chatty"]["status"] == "ok", by["chatty"].get("reason")
    # a spec that prints a line looking like a result and exits: its output is not a result
    assert by["impostor"]["status"] == "failed" and by["impostor"].get("test_accuracy") is None


def test_flags_from_cpu_readings():
    from mnist_bench.measure.disturbance import flags

    even = [1.0, 0.5, 0.5, 0.5]
    assert flags(even, [1.1, 0.55, 0.5, 0.52], [0.0, 0.05, 0.0, 0.0], cores=2) == []
    # epoch 3's clock ran 5 s while the worker got 0.5 s of CPU: stopped
    # (under 0.3 of its usual CPU per second: halted, a disturbance from outside)
    assert flags([1.0, 0.5, 5.5, 0.5], [1.1, 0.55, 0.5, 0.52], [0.0] * 4, cores=2) == [
        "stopped", "halted", "outlier epoch"]
    # another program took a whole core of two while the clock ran
    assert flags(even, [1.1, 0.55, 0.5, 0.52], [0.0, 0.5, 0.0, 0.0], cores=2) == ["foreign load"]


@pytest.mark.slow
def test_a_worker_stopped_inside_an_epoch_is_flagged(tmp_path):
    """A worker stopped inside a clocked epoch (its spec stops its own process a third into
    epoch 3 for 3 s, and resumes itself: tests/faulty_specs.py stops_itself) finishes ok, and
    its record and table say the clock ran while the worker was stopped."""
    from .conftest import ROOT
    from .faulty_specs import STOP_S

    out = tmp_path / "stopped"
    proc = run_cli("run", "--models", f"{ROOT / 'tests' / 'faulty_specs.py'}:stops_itself",
                   "--backends", "torch", "--profile", "smoke", "--epochs", "4", "--out", out,
                   timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (r,) = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert r["status"] == "ok", r.get("reason")
    # the stop (3x epoch 2, at least STOP_S) dominates epoch 3 on a quiet or a busy machine
    assert r["epoch_s"][2] >= max(STOP_S, 2 * max(r["epoch_s"][1], r["epoch_s"][3])), r["epoch_s"]
    assert "stopped" in r["flags"], (r["flags"], r["epoch_s"], r["epoch_cpu_s"])
    assert "§" in (out / "tables.md").read_text().split("### mnist")[1]


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"specs": 5}', '{"profile": "nope"}'])
def test_a_corrupt_run_json_names_the_file(tmp_path, content):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text(content)
    proc = run_cli("run", "--out", out, "--resume")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(out / "run.json") in lines[0] and "Traceback" not in proc.stderr


def test_runs_lost_on_both_sides_are_no_regression(tmp_path):
    runs = [rec(block=0)] + [_unmeasured("failed", "worker killed by SIGSEGV", block=k) for k in (1, 2)]
    store = write(tmp_path / "s", runs)
    proc = run_cli("compare", store, store)
    assert proc.returncode == 0 and "0 regression(s)" in proc.stderr, proc.stdout + proc.stderr


def test_the_compiling_epoch_is_not_judged_for_cpu():
    """torch.compile's first epoch runs mostly one compiler thread, with inductor's helper
    processes counted as another program's CPU (a real tuned torch run's readings below): not
    a stopped worker. A stop in a steady epoch still is; records are judged by the current
    rule from their own readings, whatever flags they stored."""
    from mnist_bench.analysis.keys import flags_of
    from mnist_bench.measure.disturbance import flags

    epochs, cpu, foreign = [20.44, 2.04, 2.12], [18.47, 4.05, 4.21], [3.88, 0.01, 0.02]
    assert flags(epochs, cpu, foreign, cores=2) == []
    assert flags([20.44, 9.0, 2.12], [18.47, 4.05, 4.21], foreign, cores=2) == ["stopped", "outlier epoch"]
    old = {"epoch_s": epochs, "epoch_cpu_s": cpu, "epoch_foreign_cpu_s": foreign,
           "flags": ["stopped"], "machine": {"cpu": {"cores": 2}}}
    assert flags_of(old) == []
    assert flags_of({"epoch_s": epochs, "flags": ["stopped"]}) == ["stopped"]  # no readings


def test_foreign_load_counts_only_the_cpus_the_worker_may_use(tmp_path):
    """On a 2-CPU container of a 4-CPU host a neighbour busy on CPUs 2-3 is not load on this
    worker; busy on CPU 1 it is. /proc/stat's per-CPU lines are read for the allowed CPUs."""
    from mnist_bench.measure import disturbance

    def stat(busy):  # user ticks per CPU, idle 1000 each
        lines = [f"cpu  {sum(busy)} 0 0 4000 0 0 0 0 0 0"]
        lines += [f"cpu{i} {b} 0 0 1000 0 0 0 0 0 0" for i, b in enumerate(busy)]
        path = tmp_path / f"stat{sum(busy)}"
        path.write_text("\n".join(lines) + "\nintr 0\n")
        return str(path)

    tick = disturbance._TICK
    before = stat([100, 100, 100, 100])
    neighbour = stat([100, 100, 100 + 5 * tick, 100 + 5 * tick])
    assert disturbance.machine_busy_s([0, 1], neighbour) - disturbance.machine_busy_s([0, 1], before) == 0
    assert disturbance.machine_busy_s(None, neighbour) - disturbance.machine_busy_s(None, before) == 10
    on_mine = stat([100, 100 + 3 * tick, 100, 100])
    assert disturbance.machine_busy_s([0, 1], on_mine) - disturbance.machine_busy_s([0, 1], before) == 3
    # per-CPU lines that do not name the allowed CPUs: the whole machine's line is used
    assert disturbance.machine_busy_s([7], neighbour) == disturbance.machine_busy_s(None, neighbour)


def test_the_cores_a_worker_counts_on_are_its_affinity_capped_by_its_cgroup_quota(tmp_path, monkeypatch):
    from mnist_bench.measure import disturbance

    assert disturbance.usable_cores(cpus=list(range(64)), quota=2.0) == 2
    assert disturbance.usable_cores(cpus=[0, 1], quota=None) == 2
    assert disturbance.usable_cores(cpus=[0, 1, 2, 3], quota=1.5) == 2
    assert disturbance.usable_cores(cpus=[0], quota=8.0) == 1
    group = tmp_path / "cg" / "box"
    group.mkdir(parents=True)
    (group / "cpu.max").write_text("200000 100000\n")
    real_open = open

    def fake_open(path, *a, **k):
        if path == "/proc/self/cgroup":
            path = tmp_path / "self-cgroup"
            path.write_text("0::/box\n")
        return real_open(path, *a, **k)

    monkeypatch.setattr("builtins.open", fake_open)
    assert disturbance.cgroup_quota_cpus(str(tmp_path / "cg")) == 2.0
    (group / "cpu.max").write_text("max 100000\n")
    assert disturbance.cgroup_quota_cpus(str(tmp_path / "cg")) is None
    flags = disturbance.flags
    # 30% of 2 usable cores is foreign load; on the 64 the host has it was not
    even = [1.0, 0.5, 0.5, 0.5]
    assert flags(even, [1.1, 0.55, 0.5, 0.52], [0.0, 0.3, 0.0, 0.0], cores=2) == ["foreign load"]
    assert flags(even, [1.1, 0.55, 0.5, 0.52], [0.0, 0.3, 0.0, 0.0], cores=64) == []


def test_records_name_the_environment_variables_that_change_speed():
    from mnist_bench.measure import environment

    env = {"OMP_NUM_THREADS": "1", "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false",
           "TF_ENABLE_ONEDNN_OPTS": "0", "TORCHINDUCTOR_MAX_AUTOTUNE": "1", "KMP_BLOCKTIME": "0",
           "MKL_NUM_THREADS": "2", "TF_CPP_MIN_LOG_LEVEL": "2", "HOME": "/root", "PATH": "/bin"}
    assert environment.speed_env(env) == {
        "KMP_BLOCKTIME": "0", "MKL_NUM_THREADS": "2", "OMP_NUM_THREADS": "1",
        "TF_ENABLE_ONEDNN_OPTS": "0", "TORCHINDUCTOR_MAX_AUTOTUNE": "1",
        "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"}
