"""Records out of pytest-benchmark JSON files, so one report serves both ways of running.

Each benchmark of the suite in ``benchmarks/`` carries its measurements in ``extra_info`` (the
same fields, computed by the same code, as a harness record); the file's ``machine_info``,
``commit_info`` and ``datetime`` supply the machine, versions, commit and time.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import records
from .errors import MnistBenchError


class PytestJsonError(MnistBenchError, ValueError):
    """A file that is not a pytest-benchmark JSON file of this suite."""


def to_records(path: str | Path) -> list[dict]:
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
        cell = {k: extra.get(k) for k in ("spec", "backend", "dataset", "profile", "seed", "mode")}
        cell.update(epochs=None, repeat=0, data_dir=None,
                    device_requested=extra.get("device_requested", "cpu"))
        fields = {k: v for k, v in extra.items() if k not in cell and k != "mnist_bench"}
        rec = records.new(cell, status="ok", reason=None, **fields,
                          machine=info.get("machine"), versions=info.get("versions"),
                          git={"commit": commit.get("id"), "dirty": commit.get("dirty")},
                          pytest_benchmark={"name": bench.get("fullname"),
                                            "stats": bench.get("stats"), "file": str(path)})
        rec["timestamp"] = doc.get("datetime", rec["timestamp"])
        # the files one `mnist-bench bench` writes side by side (one a backend) form one run
        rec["run_id"] = f"pytest-benchmark:{path.parent}"
        out.append(rec)
    if not out:
        raise PytestJsonError(f"{path} holds no mnist-bench benchmarks (none has its extra_info)")
    return out
