"""The datasets' published facts (shapes, SHA-256 of each array, IDX file names), the readers
of their file formats (IDX, gzipped or not; Keras's .npz), and the check every load passes."""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np

from ..errors import MnistBenchError

DATASETS = ("mnist", "fashion_mnist")
ARRAYS = ("x_train", "y_train", "x_test", "y_test")
SHAPES = {"x_train": (60000, 28, 28), "y_train": (60000,), "x_test": (10000, 28, 28), "y_test": (10000,)}

SHA256 = {
    "mnist": {
        "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
        "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
        "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
        "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
    },
    "fashion_mnist": {
        "x_train": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
        "y_train": "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
        "x_test": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
        "y_test": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
    },
}

IDX_FILES = {  # array -> standard IDX file name
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

class DataError(MnistBenchError):
    """The data could not be had, or what was found is not the official data."""


class Unavailable(Exception):
    """A source that cannot serve the data here (not an error unless every source is)."""


def keras_home() -> Path:
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")


def cache_path(name: str) -> Path:
    """Where this package keeps its verified copy of ``name``."""
    return keras_home() / "datasets" / "mnist-bench" / f"{name}.npz"


def verify(name: str, arrays: dict, source: str, where: str) -> None:
    """Raise DataError unless ``arrays`` are exactly the published arrays of ``name``."""
    for key in ARRAYS:
        a = arrays.get(key)
        if a is None:
            raise DataError(f"{name} from {source} ({where}) has no {key} array")
        if a.dtype != np.uint8 or a.shape != SHAPES[key]:
            raise DataError(
                f"{name} {key} from {source} ({where}) is {a.dtype}{list(a.shape)}, "
                f"expected uint8{list(SHAPES[key])}"
            )
        digest = hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
        if digest != SHA256[name][key]:
            raise DataError(
                f"{name} {key} from {source} ({where}) does not match its published SHA-256 "
                f"(got {digest[:12]}..., expected {SHA256[name][key][:12]}...): the file is "
                "corrupt or not the official data; delete or replace it"
            )


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (gzipped or not) as a uint8 array."""
    raw = path.read_bytes()
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as exc:
        raise DataError(f"corrupt gzip file {path}: {exc}") from None
    if len(raw) < 8 or raw[:3] != b"\x00\x00\x08" or raw[3] not in (1, 3):
        raise DataError(f"{path} is not an IDX file of unsigned bytes")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    if len(raw) - offset != int(np.prod(dims)):
        raise DataError(f"{path} is truncated or padded: header says {dims}")
    return np.frombuffer(raw, np.uint8, offset=offset).reshape(dims)


def find_idx(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def read_idx_dir(folder: Path) -> dict | None:
    paths = {key: find_idx(folder, stem) for key, stem in IDX_FILES.items()}
    if not all(paths.values()):
        return None
    return {key: read_idx(path) for key, path in paths.items()}


def read_npz(path: Path, source: str = "file") -> dict:
    try:
        with np.load(path, allow_pickle=False) as f:
            return {key: f[key] for key in f.files}
    except Exception as exc:  # zipfile, ValueError, OSError: all mean a bad file
        raise DataError(f"corrupt or unreadable {source} {path}: {exc}") from None
