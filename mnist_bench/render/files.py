"""The report's files: tables.md, and the tidy table as tables.csv and tables.json (one row
per cell group, every number as a number; a ratio as its value, interval and run count); with
--batch-sizes, also tables-batch-sizes.csv (one row per variant and batch size)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..analysis import stats
from . import markdown

NESTED = ["run_epoch_s", "run_tta_s", "run_overhead_s", "blocks"]


def spread(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """``frame`` with its ratio column ``column`` spread into its parts (``stats.Ratio.parts``:
    value, low, high, n, verdict), as ``column``, ``column_low``, ... in its place."""
    ratios = list(frame[column])
    at = list(frame.columns).index(column)
    out = frame.drop(columns=[column])
    for i, name in enumerate(stats.Ratio.PARTS):
        out.insert(at + i, column if name == "ratio" else f"{column}_{name}",
                   [getattr(r, name) if isinstance(r, stats.Ratio) else None for r in ratios])
    return out


def flat(t: pd.DataFrame) -> pd.DataFrame:
    """The tidy table with its ratio column spread into five (value, low, high, n, verdict) and the
    per-run maps left out: what CSV can hold."""
    out = spread(t.drop(columns=NESTED), "vs_fastest")
    if "strategy" in out:
        out["strategy"] = [s.text() if s is not None and not isinstance(s, float) else None
                           for s in out["strategy"]]
    return out


def jsonable(t: pd.DataFrame) -> list[dict]:
    rows = json.loads(flat(t).to_json(orient="records"))
    for row, *maps in zip(rows, *(t[c] for c in NESTED[:-1])):
        for col, values in zip(NESTED, maps):
            row[col] = {str(k): v for k, v in values.items()} if isinstance(values, dict) else None
    return rows


def batch_csv(curves: pd.DataFrame) -> str:
    """The throughput-against-batch-size table (``analysis.batches.curve_table``) as CSV, its
    ratio against the fastest backend spread into value, low, high, n and verdict."""
    last = [c for c in curves.columns if c != "vs_fastest"] + ["vs_fastest"]  # its parts last
    return spread(curves[last], "vs_fastest").to_csv(index=False)


def write_tables(rep, out: Path, notes: dict | None = None, text: str | None = None) -> dict:
    """Write tables.md / .csv / .json into ``out`` (each whole or not at all); returns the
    paths. ``text``: the Markdown, when the caller rendered it already."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {ext: out / f"tables.{ext}" for ext in ("md", "csv", "json")}
    bodies = {"md": text if text is not None else markdown.markdown(rep, notes),
              "csv": flat(rep.tidy).to_csv(index=False),
              "json": json.dumps(jsonable(rep.tidy), indent=1) + "\n"}
    if rep.batches is not None and len(rep.batches):  # --batch-sizes: the curves as data too
        paths["batch_csv"] = out / "tables-batch-sizes.csv"
        bodies["batch_csv"] = batch_csv(rep.batches)
    for ext, body in bodies.items():
        tmp = paths[ext].with_name(paths[ext].name + ".tmp")
        tmp.write_text(body, encoding="utf-8")
        tmp.replace(paths[ext])
    return paths
