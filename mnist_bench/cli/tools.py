"""``mnist-bench list``, ``bench`` (the pytest-benchmark suite once per backend) and ``doctor``."""

from __future__ import annotations

import sys
from pathlib import Path


def cmd_list(args) -> int:
    from dataclasses import asdict

    from tabulate import tabulate

    from ..specs import BUILTIN

    if getattr(args, "json", False):
        import json

        print(json.dumps([{"spec": s.name, "kind": s.kind, **asdict(s.recipe)}
                          for s in BUILTIN.values()], indent=1, default=str))
        return 0
    rows = []
    for s in BUILTIN.values():
        r = s.recipe
        lr = "" if r.learning_rate is None else f" lr={r.learning_rate:g}"
        rows.append([s.name, s.kind, r.source, r.dataset, r.optimizer + lr, r.batch_size or "",
                     r.epochs, "x".join(map(str, r.input_shape)), r.validation_split or "",
                     r.reported_accuracy, r.target_accuracy or "", r.reported_epoch_time or ""])
    print(tabulate(rows, headers=["spec", "kind", "seed", "dataset", "optimizer", "batch", "epochs",
                                  "input", "val split", "reported acc", "target acc",
                                  "reported epoch time"]))
    return 0


def cmd_bench(args) -> int:
    import os
    import subprocess

    from .. import paths, settings

    for b in args.backends:
        settings.check("backend", b, settings.BACKENDS)
    from ..pytest_plugin import SUITE, _holds_suite

    suite = args.suite or str(SUITE)
    if not _holds_suite(Path(suite, "test_train.py")):
        raise settings.SettingsError(f"--suite {suite}: no benchmark suite there (a folder whose "
                                     "test_train.py is the suite's; default: the package's own)")
    extra = [a for a in args.pytest_args if a != "--"]
    if args.out is None:  # never into a published folder unless asked
        import datetime as dt

        from .options import DEFAULT_OUT

        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        out = Path(DEFAULT_OUT) / f"pytest-benchmark-{stamp}"
    else:
        out = Path(args.out)
    paths.writable(out, "--out", tuple(f"{b}.json" for b in args.backends))
    worst = 0
    for i, b in enumerate(args.backends):
        cmd = [sys.executable, "-P", "-m", "pytest", suite, "--benchmark-only",
               f"--benchmark-json={out / (b + '.json')}", *(["--mnist-bench-baseline"] if i == 0 else []),
               *extra]
        print(f"+ KERAS_BACKEND={b} {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
        worst = max(worst, subprocess.call(cmd, env={**os.environ, "KERAS_BACKEND": b}))
    files = " ".join(str(out / f"{b}.json") for b in args.backends)
    print(f"compare: pytest-benchmark compare {files} --group-by=group\n"
          f"tables:  mnist-bench report {files}", file=sys.stderr)
    return worst


def cmd_doctor(args) -> int:
    from .. import doctor

    return doctor.main(as_json=args.json)


