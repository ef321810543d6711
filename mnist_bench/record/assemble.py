"""The one place a record is made: a cell's identity joined with its run, its machine's facts
and what its worker measured, stamped with the schema and time, and held to the contract.

Every writer comes here: the record sink of every executor (``execute.sink``) and the reader of
pytest-benchmark JSON (``record.sources``).
"""

from __future__ import annotations

import datetime as dt

from .schema import METHOD, SCHEMA, VERSION, RecordError, finite, validate


def now_utc() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def cell_fields(cell) -> dict:
    """A ``Cell`` as record fields: its requested device is ``device_requested``, because
    ``device`` holds what the backend actually ran on; its block is its repeat."""
    d = cell.to_dict()
    d["device_requested"] = d.pop("device")
    d["block"] = d["repeat"]
    return d


def record(cell, *, run: dict | None = None, facts: dict | None = None,
           result: dict | None = None, timestamp: str | None = None, check: bool = True,
           **fields) -> dict:
    """The record of ``cell`` (a ``Cell``, or its record fields as a dict).

    Args:
        run: the run's fields (``run_id``, ``order_seed``).
        facts: the machine's facts (``machine``, ``versions``, ``git``, and ``ray`` on a node).
        result: what the cell's worker measured (``cells.common.result``), status included.
        timestamp: when it was measured (default: now).
        check: validate it against the schema here (False where ``store.append``, which
            validates every record it writes, is the next step: checked once, not twice).
        **fields: the status and reason of a cell without a result, the canary, and the like.

    A result may not overwrite what identifies its cell, its run or its machine.
    """
    ident = dict(cell) if isinstance(cell, dict) else cell_fields(cell)
    result = dict(result or {})
    given = {**(run or {}), **(facts or {}), **fields}
    clash = sorted(set(result) & (set(ident) | set(given)))
    if clash:
        raise RecordError(f"a cell's result would overwrite its fields {', '.join(clash)}")
    rec = finite({"schema": SCHEMA, "version": VERSION, "method": METHOD,
                  "timestamp": timestamp or now_utc(), **ident, **given, **result})
    return validate(rec, f"a new record of {rec.get('spec')}/{rec.get('backend')}") if check else rec
