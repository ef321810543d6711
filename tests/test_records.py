import json
import multiprocessing

import pytest

from mnist_bench.record import assemble, schema, store
from mnist_bench.settings import Cell


def _cell(spec="mlp_512", **kw):
    return assemble.cell_fields(Cell(spec=spec, backend="jax", dataset="mnist", **kw))


MEASURED = {"test_accuracy": 0.97, "epoch_s": [2.0, 1.0], "train_samples": 60000}


def _ok(spec="mlp_512", **fields):
    return assemble.record(_cell(spec), status="ok", **MEASURED, **fields)


def test_torn_last_line_is_skipped_and_reported(tmp_path):
    store.append(tmp_path, _ok())
    with open(tmp_path / "records.jsonl", "a") as fh:
        fh.write('{"schema": "mnist-bench/record", "vers')  # a writer killed mid-line
    warnings = []
    assert len(store.load(tmp_path, warn=warnings.append)) == 1
    assert "torn" in warnings[0]
    # the next append starts on a fresh line, so it is not lost
    store.append(tmp_path, _ok("mlp_256x4"))
    assert [r["spec"] for r in store.load(tmp_path, warn=warnings.append)] == ["mlp_512", "mlp_256x4"]


def test_unknown_version_says_what_to_do(tmp_path):
    rec = _ok()
    rec["version"] = 99
    (tmp_path / "records.jsonl").write_text(json.dumps(rec) + "\n")
    with pytest.raises(schema.RecordError, match="version 99.*reads version 1; install the mnist-bench version"):
        store.load(tmp_path)


def _writer(args):
    path, who = args
    for i in range(200):
        store.append(path, _ok(reason=f"{who}:{i}", output_tail=["x" * 5000]))


def test_concurrent_writers_do_not_corrupt_each_other(tmp_path):
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_writer, [(str(tmp_path), "a"), (str(tmp_path), "b")])
    recs = store.load(tmp_path, warn=pytest.fail)
    assert len(recs) == 400
    assert sorted(r["reason"] for r in recs) == sorted(f"{w}:{i}" for w in "ab" for i in range(200))


def test_complete_keys_ignore_failures(tmp_path):
    ok = _ok()
    failed = assemble.record(_cell("mlp_256x4"), status="failed", reason="boom")
    keys = store.complete_keys([ok, failed])
    assert keys == {Cell(spec="mlp_512", backend="jax", dataset="mnist").key()}


def _big_writer(path):
    while True:  # killed from outside, sooner or later in the middle of a write
        store.append(path, _ok(output_tail=["x" * 20_000_000]))


def test_writer_killed_mid_write_leaves_earlier_records_whole(tmp_path):
    import os
    import signal
    import time

    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_big_writer, args=(str(tmp_path),))
    proc.start()
    path = tmp_path / "records.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not path.exists() or path.stat().st_size < 50_000_000):
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    torn = not path.read_bytes().endswith(b"\n")  # killed inside a write, or between two
    warnings = []
    whole = store.load(tmp_path, warn=warnings.append)
    assert len(whole) >= 2  # every record written before the kill is whole
    assert len(warnings) == (1 if torn else 0)  # the one line being written, if any
    store.append(tmp_path, _ok("after"))
    assert store.load(tmp_path, warn=warnings.append)[-1]["spec"] == "after"


@pytest.mark.parametrize("change, message", [
    ({"test_accuracy": 1.7}, "test_accuracy 1.7 is not in [0, 1]"),
    ({"epoch_s": [1.0, -0.5]}, "field 'epoch_s' holds an element that is not a non-negative number"),
    ({"epoch_s": [1.0, 0.0]}, "epoch_s holds a time that is not a positive number"),
    ({"epoch_wall_s": [1.0, None]}, "field 'epoch_wall_s' holds an element that is not"),
    ({"curve": [{"epoch": 1}]}, "field 'curve' holds an element that is not a point"),
    ({"speed": "fast"}, "unknown field 'speed'"),
    ({"seed": "0"}, "field 'seed' is str, expected int"),
    ({"status": "great"}, "unknown status 'great'"),
    ({"test_accuracy": None}, "field 'test_accuracy' is NoneType"),
])
def test_a_record_that_breaks_the_contract_is_refused_when_made_and_when_loaded(tmp_path, change, message):
    rec = {**_ok(), **change}
    import re

    with pytest.raises(schema.RecordError, match=re.escape(message)):
        schema.validate(rec)
    with pytest.raises(schema.RecordError, match=re.escape(message)):
        store.append(tmp_path, rec)
    (tmp_path / "records.jsonl").write_text(json.dumps(rec) + "\n")
    with pytest.raises(schema.RecordError, match="records.jsonl:1.*" + re.escape(message)):
        store.load(tmp_path)


def test_a_measured_record_needs_its_measurements():
    with pytest.raises(schema.RecordError, match="lacks the field 'epoch_s'"):
        assemble.record(_cell(), status="ok", test_accuracy=0.9, train_samples=10)
    assert assemble.record(_cell(), status="failed", reason="boom")["status"] == "failed"


def test_docs_list_exactly_the_record_fields():
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "records.md").read_text()
    documented = set()
    for line in doc.splitlines():
        if line.startswith("| `"):
            documented.update(re.findall(r"`([a-z][a-z0-9_]*)`", line.split("|")[1]))
    assert documented == set(schema.FIELDS)


def test_the_published_json_schema_is_the_contract_and_every_published_record_keeps_it():
    """docs/record.schema.json is what ``record.jsonschema`` makes of the contract, and other
    tools reading it accept every published record and refuse what ``validate`` refuses."""
    import pathlib

    import jsonschema

    from mnist_bench.record import jsonschema as js

    root = pathlib.Path(__file__).resolve().parent.parent
    published = json.loads((root / "docs" / "record.schema.json").read_text())
    assert published == js.json_schema()  # remake: python -m mnist_bench.record.jsonschema
    check = jsonschema.Draft202012Validator(published)
    stores = sorted((root / "results").rglob("records.jsonl"))
    assert len(stores) >= 8
    for path in stores:
        for rec in store.load(path):  # as stored: without what the loader adds (``_looks``)
            rec = {k: v for k, v in rec.items() if k not in schema.PRIVATE}
            errors = list(check.iter_errors(rec))
            assert not errors, (path, errors[0].message)
    good = store.load(stores[0])[0]
    for bad in ({**good, "surprise": 1}, {**good, "seed": "0"}, {**good, "status": "fine"},
                {k: v for k, v in good.items() if k != "spec"}, {**good, "epoch_s": [1.0, -2.0]},
                {**good, "flags": [3]}, {**good, "test_accuracy": 1.5}):
        assert list(check.iter_errors(bad)), bad
        with pytest.raises(schema.RecordError):
            schema.validate(bad)


def test_the_sink_checks_each_record_once_and_writes_no_invalid_one(tmp_path, monkeypatch):
    from mnist_bench.execute import sink as sink_module

    calls = []
    real = store.validate
    monkeypatch.setattr(store, "validate", lambda rec, *a: calls.append(1) or real(rec, *a))
    monkeypatch.setattr(assemble, "validate", lambda rec, *a: calls.append(1) or real(rec, *a))
    sink = sink_module.Sink(tmp_path, {"run_id": "r", "order_seed": 0})
    cell = Cell(spec="mlp_512", backend="jax", dataset="mnist")
    written = sink.write(cell, None, {}, 60.0, failed="boom")
    assert calls == [1] and written["reason"] == "boom"
    with pytest.raises(schema.RecordError):  # a run id of the wrong type never reaches the store
        sink_module.Sink(tmp_path, {"run_id": 7, "order_seed": 0}).write(cell, None, {}, 60.0, "x")
    assert [r["reason"] for r in store.load(tmp_path)] == ["boom"]
