"""The ``mnist-bench`` command: run, list, report, compare, bench, doctor.

``options`` holds the parser; each command lives in its own module (``run``, ``report`` for
report and compare, ``tools`` for list, bench and doctor). An expected error (a bad option, a
bad file) gets one line and exit status 2; an unexpected one gets one line naming it and exit
status 1; ``--debug`` (or ``MNIST_BENCH_DEBUG=1``) shows its traceback.
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
    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get("MNIST_BENCH_DEBUG", "") not in ("", "0")
    try:
        return _command(args.command)(args)
    except BrokenPipeError:  # the reader went away (``mnist-bench list | head``): say nothing more
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
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
