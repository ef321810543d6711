"""``mnist-bench report``: records in, tables out. Loading lives here; aggregation and
statistics in ``analysis``, rendering in ``render``. Tables are derived from records, never the
other way round."""

from __future__ import annotations

from pathlib import Path

from . import records


def load_any(paths: list[str]) -> list[dict]:
    """Records from record stores (folders or .jsonl) and pytest-benchmark JSON files, each
    tagged with the file it came from (``_source``, never written back)."""
    from . import pytest_json

    recs = []
    for p in paths:
        path = Path(p)
        found = pytest_json.to_records(path) if path.suffix == ".json" else records.load(path)
        source = str(path if path.suffix == ".json" else records.store_file(path))
        if not found:
            raise records.RecordError(f"{source} holds no records")
        for r in found:
            r["_source"] = source
        recs.extend(found)
    return recs
