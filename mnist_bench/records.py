"""The result record (docs/records.md) and the store that holds them.

A store is a folder with ``records.jsonl``: one JSON record per line, appended under an
exclusive lock and fsynced, so a kill at any moment leaves every earlier line whole and at most
one torn last line, which ``load`` skips and reports. Two runs may append to one store at once.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import math
import os
import sys
from pathlib import Path

SCHEMA = "mnist-bench/record"
VERSION = 1
FILENAME = "records.jsonl"
STATUSES = ("ok", "diverged", "failed", "timeout", "skipped")


class RecordError(ValueError):
    """A file that is not a record store, or a record of a schema this version cannot read."""


def now_utc() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def new(cell: dict, **fields) -> dict:
    """A record for ``cell`` (``cell_fields(Cell)``), stamped with schema, version and time."""
    return {"schema": SCHEMA, "version": VERSION, "timestamp": now_utc(), **cell, **fields}


def store_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path / FILENAME if path.is_dir() or path.suffix != ".jsonl" else path


def _finite(value):
    """JSON has no NaN or infinity: store them as null (the record's reason says what happened)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def append(store: str | os.PathLike, record: dict) -> None:
    """Append one record, whole, to the store at ``store`` (a folder or a .jsonl file)."""
    path = store_file(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(_finite(record), sort_keys=True, allow_nan=False, default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size:  # a torn line left by a killed writer must not swallow this one
            with open(path, "rb") as fh:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":
                    line = b"\n" + line
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def check(record: dict, where: str) -> dict:
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise RecordError(f"{where} is not a mnist-bench record")
    if record.get("version") != VERSION:
        raise RecordError(
            f"{where} has record version {record.get('version')}, this mnist-bench reads version "
            f"{VERSION}; install the mnist-bench version that wrote it, or re-run the cell")
    return record


def load(store: str | os.PathLike, warn=lambda msg: print(msg, file=sys.stderr)) -> list[dict]:
    """Every whole record in a store; a torn line is skipped with a warning."""
    path = store_file(store)
    if not path.is_file():
        raise RecordError(f"no record store at {path}")
    records = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                warn(f"mnist-bench: skipped a torn or corrupt line {path}:{n} (a killed writer)")
                continue
            records.append(check(record, f"{path}:{n}"))
    return records


def cell_fields(cell) -> dict:
    """A ``Cell`` as record fields: its requested device is ``device_requested``, because
    ``device`` holds what the backend actually ran on."""
    d = cell.to_dict()
    d["device_requested"] = d.pop("device")
    return d


def cell_of(record: dict):
    from .settings import Cell

    fields = {k: record.get(k) for k in Cell.__dataclass_fields__ if k != "device"}
    return Cell(device=record.get("device_requested"), **fields)


def complete_keys(records: list[dict]) -> set[tuple]:
    """The cell keys that have a finished record (ok or diverged) in ``records``."""
    return {cell_of(r).key() for r in records if r.get("status") in ("ok", "diverged")}
