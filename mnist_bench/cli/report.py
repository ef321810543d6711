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


def cmd_report(args) -> int:
    import json

    from ..analysis import report
    from ..record import sources
    from ..render import files, html, markdown
    from ..settings import SettingsError

    if args.html and not args.out:
        raise SettingsError("--html needs --out FOLDER for the page and its charts")
    notes = _notes(args.note)
    recs = sources.load_any(args.paths)
    rep = report.build(recs, _targets(args.target, recs), margin=args.margin)
    text = markdown.markdown(rep, notes)
    if args.out:
        for path in files.write_tables(rep, Path(args.out), notes=notes, text=text).values():
            print(f"wrote {path}", file=sys.stderr)
    if args.html:
        print(f"wrote {html.html_report(rep, Path(args.out), notes=notes, text=text)}", file=sys.stderr)
    if args.format == "md":
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

    sides = [decisions.comparisons(report.build(recs, margin=margin)) for recs in (old, new)]
    rep = decisions.replication(*sides)
    return rep if rep["pairs"] else None


def cmd_compare(args) -> int:
    from ..analysis import compare
    from ..record import sources
    from ..render import compare_md

    old, new = sources.load_any([args.old]), sources.load_any([args.new])
    df = compare.compare(old, new, args.max_slowdown, args.max_accuracy_drop)
    print(compare_md.markdown(df))
    rep = replication(old, new, args.margin)
    if rep is not None:
        print("\n" + compare_md.replication_markdown(rep, args.margin))
    change = compare.canary_change(old, new)
    if change is not None:
        print(f"drift canary: NEW's machine ran {abs(change):.0%} "
              f"{'slower' if change > 0 else 'faster'} than OLD's (median canary time)",
              file=sys.stderr)
    bad = df[df["regression"].fillna(False).astype(bool)] if "regression" in df else df.iloc[:0]
    print(f"{len(bad)} regression(s) in {len(df)} cells", file=sys.stderr)
    problems = compare.summary(df, args.allow_missing)
    for problem in problems:
        print(f"mnist-bench compare: {problem}", file=sys.stderr)
    return 1 if len(bad) or problems else 0
