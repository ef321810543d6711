"""The record sink: every executor hands each cell's attempt here, and here alone it becomes a
record (``record.assemble``), is appended to the store and is reported."""

from __future__ import annotations

import re
from pathlib import Path

from ..record import assemble, store
from ..settings import Cell
from .process import Attempt, describe_exit


def outcome_fields(attempt: Attempt | None, timeout_s: float, failed: str | None = None) -> dict:
    """The status, reason and measured result of an attempt (or of a cell lost: ``failed``)."""
    if failed or attempt is None:
        return {"status": "failed", "reason": failed or "the cell was not run"}
    if attempt.skipped:
        return {"status": "skipped", "reason": attempt.skipped}
    out = attempt.outcome
    wall = {"cell_wall_s": out.wall_s} if out.wall_s is not None else {}
    if out.result is not None:
        return {"result": with_exit(out.result, out.wall_s), **wall}
    if out.timed_out:
        return {"status": "timeout", "output_tail": out.tail, **wall,
                "reason": f"stopped after the cell time limit of {timeout_s:g} s"}
    reason = out.error or f"worker {describe_exit(out.returncode)}"
    if not out.error and out.tail:
        reason += f": {error_line(out.tail)}"
    return {"status": "failed", "reason": reason, "output_tail": out.tail, **wall}


def with_exit(result: dict, wall_s: float | None) -> dict:
    """The result with its ``phases`` completed by ``exit``: the cell's wall time that no
    worker phase holds (the result line, the interpreter's teardown, the pipe)."""
    ph = result.get("phases")
    if not isinstance(ph, dict) or wall_s is None:
        return result
    inside = sum(v for v in ph.values() if isinstance(v, (int, float)))
    return {**result, "phases": {**ph, "exit": max(0.0, wall_s - inside)}}


ERROR = re.compile(r"^[\w.]*(Error|Exception|Exit|Interrupt|Fault)\b(:|$)")


def error_line(tail: list[str]) -> str:
    """The line of a worker's output that names its error (a traceback's last "XError: ..."
    line), not whatever library noise came after it; else its last line."""
    for line in reversed(tail):
        if ERROR.match(line.strip()):
            return line.strip()
    return tail[-1]


class Sink:
    """Writes the record of each cell into one store and calls ``on_record(cell, record)``."""

    def __init__(self, out: Path, run: dict, on_record=lambda cell, record: None):
        self.out, self.run, self.on_record = Path(out), run, on_record

    def write(self, cell: Cell, attempt: Attempt | None, facts: dict, timeout_s: float,
              failed: str | None = None) -> dict:
        record = assemble.record(cell, run=self.run, facts=facts,
                                 canary_s=attempt.canary_s if attempt else None, check=False,
                                 **outcome_fields(attempt, timeout_s, failed))
        record = store.append(self.out, record)  # validated there, once
        self.on_record(cell, record)
        return record
