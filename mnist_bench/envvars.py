"""Every environment variable the harness reads, in one place, each read one way.

A yes/no variable takes the spellings people write (1/0, true/false, yes/no, on/off, any case,
empty for no); a number takes a finite number in its range. Anything else is refused in one line
naming the variable, what it held and what is valid (``EnvError``, exit status 2), never read as
the other answer.
"""

from __future__ import annotations

import math
import os

from .errors import MnistBenchError

DEBUG = "MNIST_BENCH_DEBUG"  # yes/no: tracebacks of unexpected errors (as --debug)
NO_DOWNLOAD = "MNIST_BENCH_NO_DOWNLOAD"  # yes/no: never download a dataset
TIMEOUT = "MNIST_BENCH_TIMEOUT"  # seconds a download may go without progress (default 20)
MACHINE = "MNIST_BENCH_MACHINE"  # what the tables call this machine (as --machine)
GIT_COMMIT = "MNIST_BENCH_GIT_COMMIT"  # the harness's commit, where git cannot tell it
WORKER_START = "MNIST_BENCH_WORKER_START"  # fork (default: a fork server per backend) or spawn
WORKER_STARTS = ("fork", "spawn")

TRUE = ("1", "true", "yes", "on", "y", "t")
FALSE = ("", "0", "false", "no", "off", "n", "f")
MAX_TIMEOUT_S = 3600.0


class EnvError(MnistBenchError, ValueError):
    """An environment variable holding a value the harness cannot read."""


def flag(name: str, environ=None) -> bool:
    """A yes/no variable: unset or empty is no."""
    text = (os.environ if environ is None else environ).get(name, "")
    word = text.strip().lower()
    if word in TRUE:
        return True
    if word in FALSE:
        return False
    raise EnvError(f"{name}={text!r} is not a yes/no value; valid: 1/0, true/false, yes/no, "
                   "on/off (any case), or empty for no")


def seconds(name: str, default: float, low: float, high: float, environ=None) -> float:
    """A number of seconds of ``name`` in (low, high], else ``default`` when unset or empty."""
    text = (os.environ if environ is None else environ).get(name, "")
    if not text.strip():
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and low < value <= high):
        raise EnvError(f"{name}={text!r} is not a number of seconds in range; valid: a number "
                       f"> {low:g} and <= {high:g}, e.g. {default:g}")
    return value


def text(name: str, environ=None) -> str | None:
    """A free-text variable, stripped; None when unset or blank."""
    value = (os.environ if environ is None else environ).get(name, "").strip()
    return value or None


def worker_start(environ=None) -> str:
    """How each cell's worker process starts: "fork" (from a pre-imported server per backend,
    the default) or "spawn" (a fresh interpreter)."""
    text_ = (os.environ if environ is None else environ).get(WORKER_START, "")
    word = text_.strip().lower() or "fork"
    if word not in WORKER_STARTS:
        raise EnvError(f"{WORKER_START}={text_!r} is not a worker start; valid: "
                       + ", ".join(WORKER_STARTS))
    return word


def check_all(environ=None) -> None:
    """Read every variable once, so a bad one is refused before any work starts."""
    flag(DEBUG, environ)
    worker_start(environ)
    flag(NO_DOWNLOAD, environ)
    download_timeout(environ)


def download_timeout(environ=None) -> float:
    """Seconds a download may go without progress: ``MNIST_BENCH_TIMEOUT``, else 20."""
    return seconds(TIMEOUT, 20.0, 0.0, MAX_TIMEOUT_S, environ)
