"""The ``mnist-bench`` command: run, list, report, compare, bench, doctor.

``options`` holds the parser; each command lives in its own module (``run``, ``report`` for
report and compare, ``tools`` for list, bench and doctor). An expected error (a bad option, a
bad file) gets one line and exit status 2; an unexpected one gets one line naming it and exit
status 1; ``--debug`` (or ``MNIST_BENCH_DEBUG`` set to a yes value) shows its traceback.
"""

from __future__ import annotations

import os
import sys

from ..errors import MnistBenchError
from .options import build_parser


def _command(name: str):
    from . import report, run, tools

    return {"run": run.cmd_run, "list": tools.cmd_list, "report": report.cmd_report,
            "compare": report.cmd_compare, "bench": tools.cmd_bench,
            "doctor": tools.cmd_doctor}[name]


def main(argv: list[str] | None = None) -> int:
    from .. import envvars, imports

    try:
        imports.check()  # before the parser imports numpy: a numpy.py here must not stand in
    except imports.ShadowError as exc:
        print(f"mnist-bench: error: {exc}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    try:
        debug = args.debug or envvars.flag(envvars.DEBUG)
    except envvars.EnvError as exc:
        print(f"mnist-bench: error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command in ("run", "bench", "doctor"):
            envvars.check_all()  # a bad variable is refused before any work
        return _command(args.command)(args)
    except BrokenPipeError:  # the reader went away (``mnist-bench list | head``): say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:  # Ctrl-C outside a run's cells (those say how to resume)
        print("mnist-bench: interrupted", file=sys.stderr)
        return 130
    except MnistBenchError as exc:
        if debug:
            raise
        print(f"mnist-bench: error: {(str(exc).splitlines() or [type(exc).__name__])[0]}", file=sys.stderr)
        return 2
    except Exception as exc:
        if debug:
            raise
        first = (str(exc).splitlines() or [""])[0]
        print(f"mnist-bench: internal error in '{args.command}': {type(exc).__name__}: {first} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
