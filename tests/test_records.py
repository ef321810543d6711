import json
import multiprocessing

import pytest

from mnist_bench import records
from mnist_bench.settings import Cell


def _cell(spec="mlp_512", **kw):
    return records.cell_fields(Cell(spec=spec, backend="jax", dataset="mnist", **kw))


def test_torn_last_line_is_skipped_and_reported(tmp_path):
    records.append(tmp_path, records.new(_cell(), status="ok"))
    with open(tmp_path / "records.jsonl", "a") as fh:
        fh.write('{"schema": "mnist-bench/record", "vers')  # a writer killed mid-line
    warnings = []
    assert len(records.load(tmp_path, warn=warnings.append)) == 1
    assert "torn" in warnings[0]
    # the next append starts on a fresh line, so it is not lost
    records.append(tmp_path, records.new(_cell("mlp_256x4"), status="ok"))
    assert [r["spec"] for r in records.load(tmp_path, warn=warnings.append)] == ["mlp_512", "mlp_256x4"]


def test_unknown_version_says_what_to_do(tmp_path):
    rec = records.new(_cell(), status="ok")
    rec["version"] = 99
    (tmp_path / "records.jsonl").write_text(json.dumps(rec) + "\n")
    with pytest.raises(records.RecordError, match="version 99.*reads version 1; install the mnist-bench version"):
        records.load(tmp_path)


def _writer(args):
    path, who = args
    for i in range(200):
        records.append(path, records.new(_cell(), status="ok", who=who, i=i, pad="x" * 5000))


def test_concurrent_writers_do_not_corrupt_each_other(tmp_path):
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_writer, [(str(tmp_path), "a"), (str(tmp_path), "b")])
    recs = records.load(tmp_path, warn=pytest.fail)
    assert len(recs) == 400
    assert sorted((r["who"], r["i"]) for r in recs) == sorted((w, i) for w in "ab" for i in range(200))


def test_complete_keys_ignore_failures(tmp_path):
    ok = records.new(_cell(), status="ok")
    failed = records.new(_cell("mlp_256x4"), status="failed")
    keys = records.complete_keys([ok, failed])
    assert keys == {Cell(spec="mlp_512", backend="jax", dataset="mnist").key()}


def _big_writer(path):
    while True:  # killed from outside, sooner or later in the middle of a write
        records.append(path, records.new(_cell(), status="ok", pad="x" * 20_000_000))


def test_writer_killed_mid_write_leaves_earlier_records_whole(tmp_path):
    import os
    import signal
    import time

    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_big_writer, args=(str(tmp_path),))
    proc.start()
    store = tmp_path / "records.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not store.exists() or store.stat().st_size < 50_000_000):
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    warnings = []
    whole = records.load(tmp_path, warn=warnings.append)
    assert len(whole) >= 2 and len(warnings) <= 1  # at most the one line being written
    records.append(tmp_path, records.new(_cell("after"), status="ok"))
    assert records.load(tmp_path, warn=warnings.append)[-1]["spec"] == "after"
