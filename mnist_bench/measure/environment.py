"""Facts about the machine, the libraries and the device a backend runs on.

``machine()`` and ``versions()`` need no backend and run in the parent; ``backend_device()``
and ``peak_device_memory()`` import the backend's library and run inside a worker.
"""

from __future__ import annotations

import functools
import os
import platform
try:
    import resource
except ImportError:  # not on Windows: peak host memory is then not recorded
    resource = None
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from .. import envvars
from . import disturbance
from ..errors import MnistBenchError

PACKAGES = ("mnist-bench", "numpy", "keras", "tensorflow", "tensorflow-cpu", "jax", "jaxlib",
            "torch", "optax", "scikit-learn")


class DeviceError(MnistBenchError, RuntimeError):
    """The device that was asked for is not there."""


def package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def versions() -> dict:
    """Versions of Python and of every library a record depends on (None: not installed)."""
    found = {name: package_version(name) for name in PACKAGES}
    return {"python": platform.python_version(), **{k: v for k, v in found.items() if v}}


@functools.cache
def cpu() -> dict:
    import cpuinfo  # py-cpuinfo: model names on x86 and ARM alike

    info = cpuinfo.get_cpu_info()
    return {
        "model": info.get("brand_raw") or platform.processor() or "unknown",
        "arch": info.get("arch_string_raw") or platform.machine(),
        "cores": os.cpu_count(),
        "usable_cores": disturbance.usable_cores(),  # affinity and cgroup quota: a container's
        "flags": sorted(f for f in info.get("flags", []) if f.startswith(("avx", "amx", "fma", "sse4"))),
    }


@functools.cache
def gpus() -> list[dict]:
    """NVIDIA GPUs from nvidia-smi (name, memory, driver); empty where there is none."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    rows = [line.split(", ") for line in out.strip().splitlines() if line.count(", ") == 2]
    return [{"name": n, "memory": m, "driver": d} for n, m, d in rows]


def gpu_visible() -> bool:
    """Whether this machine shows an NVIDIA GPU at all (nvidia-smi lists one, or a device node
    exists where nvidia-smi is not installed)."""
    import glob

    return bool(gpus()) or (not shutil.which("nvidia-smi") and bool(glob.glob("/dev/nvidia[0-9]*")))


@functools.cache
def git_commit() -> dict:
    """The commit of the checkout this package runs from, and whether it has local changes.
    Only a repository whose top level is the folder holding this package is the harness's own:
    a copy of the package inside another repository (a vendored copy, a tree shipped into some
    other checkout's folder, a virtualenv inside a repository) has no known commit of its own
    here, and never reports that repository's."""
    root = Path(__file__).resolve().parents[2]  # the folder holding the mnist_bench package
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=root, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        if Path(top).resolve() != root:
            raise subprocess.SubprocessError(f"{root} is inside another repository ({top})")
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip() != ""
        return {"commit": sha, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        # a copy of the tree without its .git (shipped to another machine): the sender may say
        # which commit it is; "dirty" stays unknown
        return {"commit": envvars.text(envvars.GIT_COMMIT), "dirty": None}


MACHINE_NAME_ENV = envvars.MACHINE


# environment variables that change how fast a framework runs: each run records those set
SPEED_ENV = ("OMP_", "MKL_", "KMP_", "OPENBLAS_", "BLIS_", "GOTO_", "XLA_", "TF_", "JAX_", "TORCH_",
             "TORCHINDUCTOR_", "PYTORCH_", "CUDA_", "NVIDIA_TF32_OVERRIDE", "ONEDNN_", "DNNL_")
NOT_SPEED = ("TF_CPP_MIN_LOG_LEVEL", "TF_CPP_MAX_VLOG_LEVEL")  # log levels only


def speed_env(environ=None) -> dict:
    """The speed-changing variables set in ``environ`` (default: this process's), by name."""
    environ = os.environ if environ is None else environ
    return {k: environ[k] for k in sorted(environ)
            if k.startswith(SPEED_ENV) and k not in NOT_SPEED}


def machine() -> dict:
    """Everything about the host that goes into each record; ``name``: what tables call this
    machine, from $MNIST_BENCH_MACHINE (or a Ray node's label), when it is set."""
    name = envvars.text(MACHINE_NAME_ENV)
    return {
        **({"name": name} if name else {}),
        "hostname": platform.node(),
        "os": f"{platform.system()} {platform.release()}",
        "cpu": cpu(),
        "gpus": gpus(),
        "memory_gb": memory_gb(),
        "speed_env": speed_env(),
        "load_meter": disturbance.load_meter(),
    }


def memory_gb() -> float | None:
    """The host's physical memory in GB; None where the OS does not say (no ``os.sysconf``,
    as on Windows)."""
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (AttributeError, ValueError, OSError):
        return None


def device_env(device: str) -> dict:
    """Environment variables that keep a worker off the GPU when ``device == "cpu"``."""
    if device == "cpu":  # KERAS_TORCH_DEVICE: Keras-on-PyTorch would pick MPS on Apple silicon
        return {"CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu", "KERAS_TORCH_DEVICE": "cpu"}
    return {}


def backend_device(backend: str, requested: str) -> dict:
    """What ``backend`` will run on in this process; DeviceError if a GPU was asked for and
    there is none. Imports the backend's library."""
    gpu = None
    if backend == "jax":
        import jax

        d = jax.devices()[0]
        if d.platform == "gpu":
            stats = d.memory_stats() or {}
            gpu = {"name": d.device_kind, "memory_bytes": stats.get("bytes_limit")}
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            gpu = {"name": props.name, "memory_bytes": props.total_memory, "cuda": torch.version.cuda}
    elif backend == "tensorflow":
        import tensorflow as tf

        found = tf.config.list_physical_devices("GPU")
        if found:
            details = tf.config.experimental.get_device_details(found[0])
            gpu = {"name": details.get("device_name", found[0].name)}
    if requested == "gpu" and gpu is None:
        raise DeviceError(f"--device gpu: the {backend} backend sees no GPU here; valid here: cpu")
    if gpu is not None:
        driver = next((g["driver"] for g in gpus()), None)
        return {"kind": "gpu", **gpu, "driver": driver}
    c = cpu()
    return {"kind": "cpu", "name": c["model"], "cores": c["cores"]}


def peak_device_memory(backend: str, device: dict) -> int | None:
    """Peak bytes the backend held on the GPU, where it can tell; None on the CPU."""
    if device.get("kind") != "gpu":
        return None
    try:
        if backend == "jax":
            import jax

            return (jax.devices()[0].memory_stats() or {}).get("peak_bytes_in_use")
        if backend == "torch":
            import torch

            return torch.cuda.max_memory_allocated()
        if backend == "tensorflow":
            import tensorflow as tf

            return tf.config.experimental.get_memory_info("GPU:0")["peak"]
    except Exception:  # a backend that cannot say is not an error
        return None
    return None


def peak_host_rss() -> int | None:
    """Peak resident memory of this process, in bytes (None where the OS cannot say)."""
    if resource is None:
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def matmul_peak_gflops(n: int = 2048, repeats: int = 7) -> float:
    """The machine's measured float32 matrix-product rate on the CPU (numpy's BLAS, all cores):
    the best of ``repeats`` n x n products, in GFLOP/s. The yardstick for utilisation."""
    import time

    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    a @ b  # warm-up: thread pool start, page faults
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def facts() -> dict:
    """The facts of the machine this runs on, for every record: host, CPU, GPUs, the measured
    matrix-product peak, library versions, and the commit."""
    return {"machine": {**machine(), "matmul_peak_gflops": matmul_peak_gflops()},
            "versions": versions(), "git": git_commit()}
