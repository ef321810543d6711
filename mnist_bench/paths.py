"""Paths of the right kind, checked before any work: every folder a command writes into and
every file it will write there.

A command that writes (``run --out``, ``report --out``, ``bench --out``) asks ``writable`` first:
the folder is made if missing, a file where the folder should be, a folder where one of its
files should be, or a folder that cannot be written is a one-line error naming the path and what
is valid, before the first cell, so that nothing is measured that cannot be stored.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import MnistBenchError

# what each command writes into its folder
TABLES = ("tables.md", "tables.csv", "tables.json", "tables-batch-sizes.csv")
CHARTS = tuple(f"{stem}.{ext}" for stem in ("epoch_time", "seconds", "modes", "keras_vs_native",
                                            "batch_sizes", "accuracy_curves")
               for ext in ("png", "svg"))
REPORT = TABLES + ("report.html",) + CHARTS
RUN = ("records.jsonl", "run.json") + REPORT


class PathError(MnistBenchError, ValueError):
    """A path of the wrong kind, or one that cannot be written."""


def writable(out: str | os.PathLike, option: str, files: tuple[str, ...] = ()) -> Path:
    """``out`` as a folder this process can write ``files`` into (made if missing)."""
    out = Path(out)
    for parent in (out, *out.parents):
        if parent.exists() and not parent.is_dir():
            where = "" if parent == out else f" ({parent} is a file)"
            raise PathError(f"{option} {out}: not a folder{where}; valid: a folder, new or "
                            "existing, that you can write to")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise PathError(f"{option} {out}: cannot write there ({exc.strerror or exc}); valid: a "
                        "folder you can write to") from None
    for name in files:
        path = out / name
        if path.exists() and not path.is_file():
            raise PathError(f"{option} {out}: {name} there is not a file, and this command writes "
                            "that file; remove it or pass another folder")
        if path.is_file() and not os.access(path, os.W_OK):
            raise PathError(f"{option} {out}: {name} there cannot be written; make it writable "
                            "or pass another folder")
    return out
