"""The record store: a folder with ``records.jsonl``, one JSON record per line.

Each record is appended whole under an exclusive lock (``filelock``, on a hidden lock file
beside the store) and fsynced, so a kill at any moment
leaves every earlier line whole and at most one torn last line, which ``load`` skips and
reports. ``complete_keys`` tells ``--resume`` which cells already have a finished record.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import filelock

from .schema import PRIVATE, RecordError, finite, validate

FILENAME = "records.jsonl"


def store_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path / FILENAME if path.is_dir() or path.suffix != ".jsonl" else path


def append(store: str | os.PathLike, record: dict) -> dict:
    """Append one record, whole, to the store at ``store`` (a folder or a .jsonl file), after
    validating it; returns the record as written."""
    path = store_file(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = validate(finite({k: v for k, v in record.items() if k not in PRIVATE}))
    line = (json.dumps(record, sort_keys=True, allow_nan=False, default=str) + "\n").encode()
    with filelock.FileLock(path.parent / f".{path.name}.lock"):
        _append_locked(path, line)
    return record


def _append_locked(path: Path, line: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o644)
    try:
        size = os.fstat(fd).st_size
        if size:  # a torn line left by a killed writer must not swallow this one
            with open(path, "rb") as fh:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":
                    line = b"\n" + line
        try:
            written = 0
            while written < len(line):  # a short write (a full disk) must not pass as whole
                n = os.write(fd, line[written:])
                if n <= 0:
                    raise OSError(28, "no space left on device")
                written += n
            os.fsync(fd)
        except OSError as exc:
            os.ftruncate(fd, size)  # leave the store as it was: every earlier record whole
            raise RecordError(f"could not write a record to {path} ({exc.strerror or exc}); every "
                              "earlier record is kept: make room, then resume with "
                              f"mnist-bench run --out {path.parent} --resume") from None
    finally:
        os.close(fd)


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
            records.append(validate(record, f"{path}:{n}"))
    _stamp_looks(records, path.parent / "run.json", warn)
    return records


def _stamp_looks(records: list[dict], plan: Path, warn) -> None:
    """The look schedule a run planned to its budget (``looks`` in its run.json beside the
    store, ``execute.until``) set on that run's records as ``_looks``, never stored: what
    judges the run's verdicts when the records are read again."""
    if not plan.is_file():
        return
    try:
        saved = json.loads(plan.read_text())
        looks, run_id = saved.get("looks"), saved.get("run_id")
    except (OSError, ValueError, AttributeError) as exc:
        warn(f"mnist-bench: {plan} is not readable ({exc}); its run is judged at the default "
             "look schedule")
        return
    if looks:
        for r in records:
            if r.get("run_id") == run_id:
                r["_looks"] = list(looks)


def cell_of(record: dict):
    """The ``Cell`` a record measured."""
    from ..settings import Cell

    fields = {k: record[k] for k in Cell.__dataclass_fields__ if k != "device" and k in record
              and record[k] is not None}
    return Cell(device=record.get("device_requested"), **fields)


def complete_keys(records: list[dict], run_id: str | None = None) -> set[tuple]:
    """The cell keys that have a finished record (ok or diverged) in ``records``; with
    ``run_id``, only that run's records count (another run's cells are not this run's)."""
    return {cell_of(r).key() for r in records if r.get("status") in ("ok", "diverged")
            and (run_id is None or r.get("run_id") == run_id)}


LOCK = ".mnist-bench.lock"


class RunLock:
    """Held by a live run on its results folder: a second run on the folder is refused."""

    def __init__(self, out: str | os.PathLike):
        self.path = Path(out) / LOCK
        self.lock = filelock.FileLock(self.path, timeout=0)

    def __enter__(self) -> "RunLock":
        try:
            self.lock.acquire()
        except filelock.Timeout:
            try:
                holder = self.path.read_text(errors="replace").strip() or "?"
            except OSError:  # where the holder's lock keeps others from reading the file
                holder = "?"
            raise RecordError(f"results folder {self.path.parent} is in use by another "
                              f"mnist-bench run (pid {holder}); wait for it, or pass another --out") from None
        try:  # who holds it, for the message above (the lock itself is the OS's)
            self.path.write_text(str(os.getpid()))
        except OSError:
            pass
        return self

    def __exit__(self, *exc) -> None:
        self.lock.release()
