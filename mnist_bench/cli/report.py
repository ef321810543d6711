"""``mnist-bench report`` and ``mnist-bench compare``: records in, tables out."""

from __future__ import annotations

import sys
from pathlib import Path


def _targets(items: list[str], recs: list[dict]) -> dict:
    from ..settings import SettingsError

    present = sorted({r["spec"] for r in recs})
    targets = {}
    for item in items:
        spec, _, value = item.partition("=")
        try:
            targets[spec] = float(value)
        except ValueError:
            raise SettingsError(f"--target {item!r}: expected SPEC=ACCURACY, e.g. mlp_512=0.97") from None
        if not 0 < targets[spec] <= 1:
            raise SettingsError(f"--target {item!r}: the accuracy must be in (0, 1]")
        if spec not in present:
            raise SettingsError(f"--target {item!r}: no records of spec {spec!r}; specs in these "
                                f"records: {', '.join(present) or 'none'}")
    return targets


def _notes(items: list[str]) -> dict:
    from ..settings import BACKENDS, SettingsError

    notes = {}
    for item in items:
        where, _, text = item.partition("=")
        backend, _, device = where.partition(":")
        if backend not in BACKENDS or device not in ("cpu", "gpu") or not text.strip():
            raise SettingsError(f"--note {item!r}: expected BACKEND:DEVICE=TEXT with BACKEND one of "
                                f"{', '.join(BACKENDS)} and DEVICE cpu or gpu")
        notes[(backend, device)] = text
    return notes


def _shown(given: str | None) -> str:
    """The output form asked for; by default the terminal's (text) on a terminal, Markdown
    where the output goes to a file or a pipe."""
    return given or ("text" if sys.stdout.isatty() else "md")


def cmd_report(args) -> int:
    import json

    from .. import paths
    from ..analysis import report
    from ..record import sources
    from ..render import files, html, markdown
    from ..settings import SettingsError

    if args.html and not args.out:
        raise SettingsError("--html needs --out FOLDER for the page and its charts")
    notes = _notes(args.note)
    if args.out:
        paths.writable(args.out, "--out", paths.REPORT)
    recs = sources.load_any(args.paths)
    rep = report.build(recs, _targets(args.target, recs), margin=args.margin)
    text = markdown.markdown(rep, notes)
    try:
        if args.out:
            for path in files.write_tables(rep, Path(args.out), notes=notes, text=text).values():
                print(f"wrote {path}", file=sys.stderr)
        if args.html:
            print(f"wrote {html.html_report(rep, Path(args.out), notes=notes, text=text)}", file=sys.stderr)
    except OSError as exc:
        raise paths.PathError(f"--out {args.out}: could not write the tables there "
                              f"({exc.strerror or exc}); make room, or pass another --out") from None
    fmt = _shown(args.format)
    if fmt == "text":
        from rich.console import Console

        from ..render import terminal

        others = [line.lstrip("#").strip().split(" (")[0] for line in text.splitlines()
                  if line.startswith("### ") and not line.startswith("### Which backend")]
        terminal.print_report(rep, Console(highlight=False), markdown.run_names(rep.tidy, rep.batches),
                              list(dict.fromkeys(others)))
    elif fmt == "md":
        print(text)
    elif args.format == "csv":
        print(files.flat(rep.tidy).to_csv(index=False), end="")
    else:
        print(json.dumps(files.jsonable(rep.tidy), indent=1))
    return 0


def replication(old: list[dict], new: list[dict], margin: float) -> dict | None:
    """How the verdicts of the comparisons both sides make agree (``decisions.replication``);
    None when they share none."""
    from ..analysis import decisions, report

    sides = [decisions.comparisons(report.judge(recs, margin=margin)) for recs in (old, new)]
    rep = decisions.replication(*sides)
    return rep if rep["pairs"] else None


def _sides(args) -> tuple[list[str], list[str]]:
    from ..settings import SettingsError

    if len(args.sides) not in (0, 2):
        raise SettingsError(f"compare takes OLD and NEW (two paths), not {len(args.sides)}; more "
                            "paths of a side go after --old or --new (repeatable)")
    old = args.sides[:1] + args.old
    new = args.sides[1:] + args.new
    if not old or not new:
        raise SettingsError("compare needs both sides: OLD NEW, or --old PATH and --new PATH "
                            "(each repeatable)")
    return old, new


# compare --json's layout; 2: each replicated pair names its two variants ("a", "b"; verdicts
# are a's against b's), and the document names its schema and version
COMPARE_JSON_VERSION = 2


def _jsonable(v):
    """A compare cell's value as JSON: ratios spread into ratio/low/high/n/verdict, NaN as null."""
    import math

    from ..analysis import stats

    if isinstance(v, stats.Ratio):
        return v.parts()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, tuple):
        return list(v)
    if hasattr(v, "item"):  # numpy scalars
        return _jsonable(v.item())
    return v


def cmd_compare(args) -> int:
    import json

    from ..analysis import compare
    from ..record import sources
    from ..render import compare_md

    old_paths, new_paths = _sides(args)
    old, new = sources.load_any(old_paths), sources.load_any(new_paths)
    df = compare.compare(old, new, args.max_slowdown, args.max_accuracy_drop,
                         args.max_overhead_growth)
    rep = replication(old, new, args.margin)
    from ..analysis.keys import machine_of

    # the canary compares one machine's speed at two times; across machines it says nothing
    same = {machine_of(r) for r in old} & {machine_of(r) for r in new}
    change = compare.canary_change(old, new) if same else None
    bad = df[df["regression"].fillna(False).astype(bool)] if "regression" in df else df.iloc[:0]
    problems = compare.summary(df, args.allow_missing)
    if args.json:
        print(json.dumps(_compare_json(args, df, rep, bad, problems, change, old_paths, new_paths),
                         indent=1, default=str))
    elif _shown(args.format) == "text":
        from rich.console import Console

        from ..render import terminal

        terminal.print_compare(df, rep, args.margin, Console(highlight=False))
    else:
        print(compare_md.markdown(df) + "\n\n" + compare_md.LEGEND)
        if rep is not None:
            print("\n" + compare_md.replication_markdown(rep, args.margin))
    if change is not None:
        print(f"drift canary: NEW's machine ran {abs(change):.0%} "
              f"{'slower' if change > 0 else 'faster'} than OLD's (median canary time)",
              file=sys.stderr)
    print(f"{len(bad)} regression(s) in {len(df)} cells", file=sys.stderr)
    for problem in problems:
        print(f"mnist-bench compare: {problem}", file=sys.stderr)
    return 1 if len(bad) or problems else 0


def _compare_json(args, df, rep, bad, problems, change, old_paths, new_paths) -> dict:
    """``compare --json``: every cell with its verdict, the allowances, the regressions and
    problems, the canary's change and the replication count."""
    from ..analysis import compare
    from ..analysis.decisions import variant_label
    from ..render import compare_md

    cells = [{k: _jsonable(v) for k, v in row.items()
              if not (isinstance(v, float) and v != v)} | {"verdict": compare_md.verdict(row)}
             for row in df.to_dict("records")]
    return {
        "schema": "mnist-bench/compare", "version": COMPARE_JSON_VERSION,
        "old": old_paths, "new": new_paths, "metrics": list(compare.METRICS),
        "allowed": {"slowdown": args.max_slowdown, "accuracy_drop": args.max_accuracy_drop,
                    "overhead_growth": args.max_overhead_growth},
        "cells": cells, "regressions": len(bad), "problems": problems,
        "canary_change": change,
        "replication": None if rep is None else {
            k: rep[k] for k in ("same", "flipped", "one side", "neither")} | {
            "pairs": [{"table": key[0], "comparison": key[1], "a": variant_label(key[2]),
                       "b": variant_label(key[3]), "old": a, "new": b}
                      for key, a, b in rep["pairs"]]},
    }
