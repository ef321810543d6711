"""Records from where they are kept: record stores (folders or ``records.jsonl``) and
pytest-benchmark JSON files, so one report serves both ways of running.

Each benchmark of the suite in ``benchmarks/`` carries its measurements in ``extra_info`` (the
same fields, computed by the same code, as a harness record); the file's ``machine_info``,
``commit_info`` and ``datetime`` supply the machine, versions, commit and time. Its records
are made by the same constructor as a run's (``record.assemble``).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import MnistBenchError
from ..identity import RECORD_FIELDS
from . import assemble, store
from .schema import RecordError


class PytestJsonError(MnistBenchError, ValueError):
    """A file that is not a pytest-benchmark JSON file of this suite."""


def from_pytest_json(path: str | Path) -> list[dict]:
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PytestJsonError(f"{path} is not a pytest-benchmark JSON file: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise PytestJsonError(f"{path} is not a pytest-benchmark JSON file (no 'benchmarks' list)")
    info = (doc.get("machine_info") or {}).get("mnist_bench") or {}
    commit = doc.get("commit_info") or {}
    out = []
    for bench in doc["benchmarks"]:
        extra = bench.get("extra_info") or {}
        if extra.get("mnist_bench") != 1:
            continue
        # the cell's identity as the benchmark named it (identity.RECORD_FIELDS), its seed
        cell = {f: extra.get(f) for f in (*RECORD_FIELDS.values(), "seed")}
        cell.update(repeat=0, data_dir=None, device_requested=extra.get("device_requested", "cpu"))
        fields = {k: v for k, v in extra.items() if k not in cell and k != "mnist_bench"}
        fields.setdefault("status", "ok")
        fields.setdefault("reason", None)
        out.append(assemble.record(
            cell, timestamp=doc.get("datetime"),
            # the files one `mnist-bench bench` writes side by side (one a backend) form one run
            run={"run_id": f"pytest-benchmark:{path.parent}"},
            facts={"machine": info.get("machine"), "versions": info.get("versions"),
                   "git": {"commit": commit.get("id"), "dirty": commit.get("dirty")}},
            pytest_benchmark={"name": bench.get("fullname"), "stats": bench.get("stats"),
                              "file": str(path)}, **fields))
    if not out:
        raise PytestJsonError(f"{path} holds no mnist-bench benchmarks (none has its extra_info)")
    return out


WHAT = "a result folder, its records.jsonl, or pytest-benchmark .json files (or a folder of them)"


def load_any(paths: list[str]) -> list[dict]:
    """Records from record stores (folders or .jsonl) and pytest-benchmark JSON files, each
    tagged with the file it came from (``_source``, never written back)."""
    recs = []
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise RecordError(f"{path} does not exist; valid: {WHAT}")
        if path.is_file() and path.suffix not in (".json", ".jsonl"):
            raise RecordError(f"{path} is neither a record store nor a pytest-benchmark file; "
                              f"valid: {WHAT}")
        if path.is_dir() and not store.store_file(path).is_file():
            recs.extend(_pytest_folder(path))
            continue
        found = from_pytest_json(path) if path.suffix == ".json" else store.load(path)
        source = str(path if path.suffix == ".json" else store.store_file(path))
        if not found:
            raise RecordError(f"{source} holds no records")
        for r in found:
            r["_source"] = source
        recs.extend(found)
    return recs


def _pytest_folder(path: Path) -> list[dict]:
    """The records of every pytest-benchmark file of this suite in a folder (``mnist-bench
    bench`` writes one a backend); other JSON files there (tables.json) are not records."""
    recs = []
    for f in sorted(path.glob("*.json")):
        try:
            found = from_pytest_json(f)
        except PytestJsonError:
            continue
        for r in found:
            r["_source"] = str(f)
        recs.extend(found)
    if not recs:
        raise RecordError(f"{path} holds neither {store.FILENAME} nor pytest-benchmark JSON files "
                          "of this suite")
    return recs
