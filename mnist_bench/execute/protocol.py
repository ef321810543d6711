"""The events a worker sends its parent: progress, the result and an error, one JSON object a
line with an ``event``.

The harness starts each worker with a pipe of its own for them (its descriptor in
``EVENTS_FD``), so whatever the cell prints (library noise, a user spec's output, even a line
that looks like an event) stays output, kept as the failed cell's tail, and never passes for a
result (pyperf hands results back the same way). A worker started without that pipe (the
benchmark scripts run ``python -m mnist_bench.worker`` themselves) writes its events to stdout
after ``MARK``; ``parse`` finds them anywhere in a line (output that did not end its line may
come first), and a marker line that is not whole JSON with an ``event`` is kept as noise.
"""

from __future__ import annotations

import json
import os
import sys

MARK = "@@mnist-bench "
EVENTS = ("epoch", "result", "error")
EVENTS_FD = "MNIST_BENCH_EVENTS_FD"  # the worker's descriptor of the events pipe
_pipe = None


def _events():
    """The events pipe, opened once (and kept from the worker's own children); None without."""
    global _pipe
    if _pipe is None:
        fd = os.environ.pop(EVENTS_FD, None)
        if fd is None or not fd.isdigit():
            _pipe = False
        else:
            try:
                os.set_inheritable(int(fd), False)
                _pipe = os.fdopen(int(fd), "w", encoding="utf-8", buffering=1)
            except OSError:
                _pipe = False
    return _pipe or None


def emit(**event) -> None:
    """Worker side: one event, on the events pipe, else on a stdout line of its own (a newline
    first, in case user output left the line open)."""
    text = json.dumps(event, default=str)
    pipe = _events()
    if pipe is not None:
        pipe.write(text + "\n")
        pipe.flush()
        return
    sys.stdout.write("\n" + MARK + text + "\n")
    sys.stdout.flush()


def read(line: str) -> dict | None:
    """Parent side, the events pipe: the event of a line, or None."""
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and event.get("event") in EVENTS else None


def parse(line: str) -> tuple[str, dict | None]:
    """Parent side, a worker's stdout without the pipe: (the noise before a marker, the event
    or None)."""
    at = line.find(MARK)
    if at < 0:
        return line, None
    noise, event = line[:at], read(line[at + len(MARK):])
    return (line, None) if event is None else (noise, event)
