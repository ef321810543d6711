"""The lines a worker and its parent speak: progress and the result as JSON after ``MARK``.

Everything else a worker prints is library noise, which the parent keeps as the output tail of
a failed cell. A marker may follow output that did not end its line (a layer that prints
without a newline), so the parent looks for it anywhere in a line; a marker line that is not
whole JSON with an ``event`` is kept as noise, never taken for a result.
"""

from __future__ import annotations

import json
import sys

MARK = "@@mnist-bench "
EVENTS = ("epoch", "result", "error")


def emit(**event) -> None:
    """Worker side: one event on a line of its own (a newline first, in case user output
    left the line open)."""
    sys.stdout.write("\n" + MARK + json.dumps(event, default=str) + "\n")
    sys.stdout.flush()


def parse(line: str) -> tuple[str, dict | None]:
    """Parent side: (the noise before a marker, the event or None)."""
    at = line.find(MARK)
    if at < 0:
        return line, None
    noise, payload = line[:at], line[at + len(MARK):]
    try:
        event = json.loads(payload)
    except json.JSONDecodeError:
        return line, None
    if not isinstance(event, dict) or event.get("event") not in EVENTS:
        return line, None
    return noise, event
