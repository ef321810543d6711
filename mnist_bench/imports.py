"""What the harness imports is what is installed: no file in the working directory or on
PYTHONPATH may stand in for a framework or a dependency.

The workers run with Python's safe-path flag (``-P``: the working directory is not put on the
import path) and find this package after the installed ones, so a ``keras.py`` where the user
runs from never reaches a cell. A module on PYTHONPATH (or, under ``python -m mnist_bench``, in
the working directory) would still come first: ``check`` refuses to start, naming the file,
before anything imports it.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
from pathlib import Path

from .errors import MnistBenchError

# the top-level modules the harness and its cells import
DEPENDENCIES = ("keras", "tensorflow", "jax", "jaxlib", "torch", "numpy", "scipy", "sklearn",
                "pandas", "matplotlib", "optax", "ml_dtypes", "optree", "namex", "h5py", "absl",
                "rich", "filelock", "pooch", "psutil", "cpuinfo", "ray", "pytest",
                "pytest_benchmark", "jsonschema", "statsmodels")
SUFFIXES = tuple(importlib.machinery.all_suffixes())


class ShadowError(MnistBenchError, ImportError):
    """A file that would be imported instead of an installed module."""


def _module_file(entry: Path, name: str) -> Path | None:
    """The file ``import name`` would take from the folder ``entry`` (a namespace folder does
    not count: any regular package later on the path wins over it)."""
    package = entry / name / "__init__.py"
    if package.is_file():
        return package
    for suffix in SUFFIXES:
        module = entry / f"{name}{suffix}"
        if module.is_file():
            return module
    return None


def user_entries(path: list[str] | None = None, environ=None) -> list[Path]:
    """The import-path folders the user put there: the working directory when it is on the
    path (``python -m``, ``python -c``), and every PYTHONPATH folder (the workers inherit it)."""
    environ = os.environ if environ is None else environ
    cwd = Path.cwd().resolve()
    entries = [cwd for e in (sys.path if path is None else path)
               if e in ("", ".") or Path(e).resolve() == cwd]
    entries += [(cwd / p).resolve() for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return [e for e in dict.fromkeys(entries) if e.is_dir()]


def shadows(path: list[str] | None = None, environ=None) -> list[tuple[str, Path]]:
    """(module, file) for each dependency a user folder on the import path would supply."""
    found = []
    for entry in user_entries(path, environ):
        for name in DEPENDENCIES:
            hit = _module_file(entry, name)
            if hit is not None and all(n != name for n, _ in found):
                found.append((name, hit))
    return found


def check(path: list[str] | None = None, environ=None) -> None:
    """A one-line error naming the first file that would stand in for a dependency."""
    found = shadows(path, environ)
    if found:
        name, hit = found[0]
        raise ShadowError(f"{hit} would be imported as the module {name!r} instead of the "
                          f"installed one; rename it, or run from another folder and keep its "
                          f"folder off PYTHONPATH")
