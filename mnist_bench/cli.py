"""The ``mnist-bench`` command: run, list, report, compare, bench, doctor. Options and messages.

Every option is checked before any work starts: a bad one gets one line saying what was wrong
and what is valid, and exit status 2. An unexpected error gets one line naming it and exit
status 1; ``--debug`` (or ``MNIST_BENCH_DEBUG=1``) shows its traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

from . import __version__
from .errors import MnistBenchError

DEFAULT_OUT = "bench-out"
MAX_SEED = 2 ** 32 - 1  # numpy and keras seeds must fit in 32 bits


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block) and exit status 2."""

    def _get_values(self, action, arg_strings):
        # argparse drops a value of '--' (``--epochs=--``) and skips the option's type check
        if action.option_strings and action.nargs is None and arg_strings == ["--"]:
            self.error(f"argument {'/'.join(action.option_strings)}: expected one value, not '--'")
        return super()._get_values(action, arg_strings)

    def error(self, message):
        print(f"mnist-bench: error: {self.prog.removeprefix('mnist-bench ')}: {message}"
              if self.prog != "mnist-bench" else f"mnist-bench: error: {message}", file=sys.stderr)
        sys.exit(2)


def _csv(text: str) -> tuple[str, ...]:
    items = tuple(x.strip() for x in text.split(","))
    if not text.strip() or any(not x for x in items):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of names (empty names are not allowed)")
    dupes = sorted({x for x in items if items.count(x) > 1})
    if dupes:
        raise argparse.ArgumentTypeError(f"{text!r} names {', '.join(dupes)} more than once")
    return items


def _number(kind, low=None, high=None, low_open=False):
    """An argparse type: a finite ``kind`` (int or float) within [low, high]."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        bad = not math.isfinite(value) or (low is not None and (value <= low if low_open else value < low)) \
            or (high is not None and value > high)
        if bad:
            lo = "" if low is None else (f"> {low}" if low_open else f">= {low}")
            hi = "" if high is None else f"<= {high}"
            raise argparse.ArgumentTypeError(
                f"{text!r} is out of range; valid: a finite {'integer' if kind is int else 'number'} "
                + " and ".join(x for x in (lo, hi) if x))
        return value
    parse.__name__ = kind.__name__
    return parse


def build_parser() -> argparse.ArgumentParser:
    from .settings import BACKENDS, DEVICES, MODES, PROFILES

    p = Parser(prog="mnist-bench", description=(
        "Train one Keras 3 spec on TensorFlow, JAX and PyTorch beside a scikit-learn baseline, "
        "and compare accuracy, epoch time and throughput."))
    p.add_argument("--version", action="version", version=f"mnist-bench {__version__}")
    p.add_argument("--debug", action="store_true",
                   help="show the traceback of an unexpected error (also MNIST_BENCH_DEBUG=1)")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="train a matrix of specs x backends and write tables")
    run.add_argument("--models", "--specs", dest="models", type=_csv, default=None,
                     help="comma-separated spec names or path/file.py:builder (default: all built-in)")
    run.add_argument("--backends", type=_csv, default=BACKENDS,
                     help=f"comma-separated, of {','.join(BACKENDS)} (default: all)")
    run.add_argument("--dataset", default=None, help="mnist or fashion_mnist (default: each spec's own)")
    run.add_argument("--profile", default="quick", help=f"one of {', '.join(PROFILES)} (default: quick)")
    run.add_argument("--epochs", type=_number(int, 2), default=None,
                     help="override the profile's epoch count (at least 2: the first one compiles)")
    run.add_argument("--seed", type=_number(int, 0, MAX_SEED), default=0)
    run.add_argument("--repeats", type=_number(int, 1, 1000), default=1,
                     help="blocks: runs of each cell, seeds seed..seed+N-1, each block in a fresh random order")
    run.add_argument("--order-seed", type=_number(int, 0, MAX_SEED), default=None,
                     help="seed of the random order within blocks (default: drawn and recorded)")
    run.add_argument("--device", default="cpu", help=f"one of {', '.join(DEVICES)} (default: cpu)")
    run.add_argument("--modes", type=_csv, default=("default",),
                     help=f"comma-separated, of {','.join(MODES)} (default: default)")
    run.add_argument("--impl", type=_csv, default=("keras",), dest="impls",
                     help="comma-separated, of keras,native: Keras on the backend, and/or the "
                          "framework's own reference loop built from the spec (default: keras)")
    run.add_argument("--data-dir", default=None, help="a folder holding the dataset files")
    run.add_argument("--out", default=None, help=f"result folder (default: {DEFAULT_OUT}/<UTC time>)")
    run.add_argument("--cell-timeout", type=_number(float, 0, low_open=True), default=None,
                     help="seconds per cell before it is stopped (default: per profile)")
    run.add_argument("--executor", default="local",
                     help="where cells run: local (a process per cell here, the default) or ray "
                          "(the whole matrix on every fitting node of a Ray cluster)")
    run.add_argument("--ray-address", default=None,
                     help="the Ray cluster to use, e.g. ray://head:10001 or head:6379 (default: "
                          "a Ray instance started here)")
    run.add_argument("--ray-resources", type=_csv, default=(),
                     help="comma-separated NAME=AMOUNT a node must have to run the matrix, e.g. "
                          "h100=1 (default: every node)")
    run.add_argument("--cells-per-node", type=_number(int, 1, 1024), default=1,
                     help="cells a Ray node runs at once (default 1: timed cells never share a node)")
    run.add_argument("--resume", action="store_true",
                     help="continue the run in --out: only cells with no complete record, same settings")

    sub.add_parser("list", help="show every spec and its recipe")

    rep = sub.add_parser("report", help="tables from record stores or pytest-benchmark JSON")
    rep.add_argument("paths", nargs="+", help="result folders, records.jsonl or pytest-benchmark .json files")
    rep.add_argument("--out", default=None, help="also write tables.md/.csv/.json into this folder")
    rep.add_argument("--format", default="md", choices=("md", "csv", "json"))
    rep.add_argument("--html", action="store_true",
                     help="also write report.html and the charts (PNG, SVG) into --out")
    rep.add_argument("--target", action="append", default=[], metavar="SPEC=ACC",
                     help="time-to-accuracy target for a spec (repeatable; default: the spec's own)")
    rep.add_argument("--note", action="append", default=[], metavar="BACKEND:DEVICE=TEXT",
                     help="text shown for a backend with no results on a device, e.g. "
                          "'tensorflow:gpu=no GPU build on this machine' (repeatable)")

    cmp = sub.add_parser("compare", help="compare two result sets; exit 1 on a regression")
    cmp.add_argument("old", help="the baseline results (folder, records.jsonl or pytest-benchmark .json)")
    cmp.add_argument("new", help="the results to check")
    cmp.add_argument("--max-slowdown", type=_number(float, 0), default=0.10,
                     help="allowed growth of the steady epoch time, as a fraction (default 0.10)")
    cmp.add_argument("--max-accuracy-drop", type=_number(float, 0, 1), default=0.01,
                     help="allowed fall of the mean test accuracy (default 0.01)")

    bench = sub.add_parser("bench", help="run the pytest-benchmark suite once per backend")
    bench.add_argument("--backends", type=_csv, default=BACKENDS)
    bench.add_argument("--out", default="results/pytest-benchmark",
                       help="folder for one <backend>.json per backend (default: results/pytest-benchmark)")
    bench.add_argument("--suite", default="benchmarks", help="the suite's folder (default: benchmarks)")
    bench.add_argument("pytest_args", nargs=argparse.REMAINDER,
                       help="after --: passed to pytest (e.g. -- --mnist-bench-profile smoke)")

    sub.add_parser("doctor", help="what is installed, which devices and data are there")
    for sp in sub.choices.values():  # --debug after the command too
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of an unexpected error")
    return p


def cmd_list(args) -> int:
    from tabulate import tabulate

    from .specs import BUILTIN

    rows = []
    for s in BUILTIN.values():
        r = s.recipe
        lr = "" if r.learning_rate is None else f" lr={r.learning_rate:g}"
        rows.append([s.name, s.kind, r.source, r.dataset, r.optimizer + lr, r.batch_size or "",
                     r.epochs, "x".join(map(str, r.input_shape)), r.validation_split or "",
                     r.reported_accuracy, r.reported_epoch_time or ""])
    print(tabulate(rows, headers=["spec", "kind", "seed", "dataset", "optimizer", "batch", "epochs",
                                  "input", "val split", "reported acc", "reported epoch time"]))
    return 0


def _targets(items: list[str], recs: list[dict]) -> dict:
    from .settings import SettingsError

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
    from .settings import BACKENDS, SettingsError

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
    from . import report
    from .analysis import aggregate
    from .render import tables
    from .settings import SettingsError

    if args.html and not args.out:
        raise SettingsError("--html needs --out FOLDER for the page and its charts")
    notes = _notes(args.note)
    recs = report.load_any(args.paths)
    t = aggregate.tidy(recs, _targets(args.target, recs))
    if args.out:
        for path in tables.write_tables(t, Path(args.out), notes=notes, recs=recs).values():
            print(f"wrote {path}", file=sys.stderr)
    if args.html:
        from .render import plots

        print(f"wrote {plots.html_report(t, recs, Path(args.out), notes=notes)}", file=sys.stderr)
    if args.format == "md":
        print(tables.markdown(t, notes, recs=recs))
    elif args.format == "csv":
        print(t.drop(columns=["run_epoch_s", "run_tta_s", "blocks"]).to_csv(index=False), end="")
    else:
        import json

        print(json.dumps(tables._jsonable(t), indent=1))
    return 0


def _progress_printer(console, total: int):
    """Progress callbacks: a live display (cell, epoch, elapsed, estimated time left for the
    whole run) on a terminal, plain lines otherwise (CI logs, files)."""
    state = {"n": 0, "t0": time.monotonic(), "cell": ""}
    live = None
    if console.is_terminal:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        from rich.table import Column

        live = Progress(TextColumn("{task.description}", table_column=Column(
                            max_width=44, no_wrap=True, overflow="ellipsis")),
                        BarColumn(bar_width=10), MofNCompleteColumn(), TextColumn("cells"),
                        TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(),
                        TextColumn("{task.fields[epoch]}"), console=console)
        task = live.add_task("starting", total=total, epoch="")

    def say(text):
        (live.console if live else console).print(text, highlight=False, markup=False)

    def on_event(cell, event):
        if event.get("event") == "epoch":
            acc = event.get("accuracy")
            line = (f"epoch {event['epoch']}/{event['epochs']}  {event['seconds']:.2f} s"
                    + (f"  acc {acc:.4f}" if acc is not None else ""))
            if live:
                live.update(task, epoch=line)
            else:
                say(f"    {line}")

    def on_start(cell):
        state["n"] += 1
        state["cell"] = f"[{state['n']}/{total}] {cell.label()}"
        if live:
            if not live.live.is_started:
                live.start()
            from rich.markup import escape  # a cell's label holds "[tuned]": text, not markup

            live.update(task, description=escape(state["cell"]), epoch="")
        else:
            elapsed = time.monotonic() - state["t0"]
            say(f"{state['cell']}  (run elapsed {elapsed:.0f} s)")

    def on_record(cell, record):
        head = f"{state['cell']}: " if live else "    "
        if record["status"] == "ok":
            steady = record.get("steady_epoch_s")
            say(f"{head}ok: test acc {record['test_accuracy']:.4f}"
                + (f", steady epoch {steady:.3f} s" if steady else ""))
        else:
            say(f"{head}{record['status']}: {record.get('reason')}")
        if live:
            live.advance(task)

    def done():
        if live and live.live.is_started:
            live.stop()

    return on_start, on_event, on_record, done


def cmd_run(args) -> int:
    import datetime as dt
    from dataclasses import replace

    from rich.console import Console

    from . import data, matrix, records, specs
    from .analysis import aggregate
    from .render import tables

    console = Console(stderr=True, soft_wrap=True)
    if args.resume:
        if not args.out:
            raise matrix.settings.SettingsError("--resume needs --out FOLDER, the run to continue")
        rs = matrix.load_plan(Path(args.out))
    else:
        rs = matrix.RunSettings(
            specs=args.models or tuple(specs.BUILTIN), backends=args.backends,
            dataset=args.dataset, profile=args.profile, seed=args.seed, epochs=args.epochs,
            device=args.device, modes=args.modes, impls=args.impls, repeats=args.repeats,
            data_dir=args.data_dir, order_seed=args.order_seed, executor=args.executor,
            ray_address=args.ray_address, ray_resources=args.ray_resources,
            cells_per_node=args.cells_per_node).started()
        ray_only = [o for o, v in (("--ray-address", args.ray_address),
                                   ("--ray-resources", args.ray_resources),
                                   ("--cells-per-node", args.cells_per_node != 1)) if v]
        if args.executor != "ray" and ray_only:
            raise matrix.settings.SettingsError(f"{ray_only[0]} needs --executor ray")
        matrix.plan(rs)  # every other option checked before a cluster is touched
        if rs.executor == "ray":
            from .execute import ray as ray_exec

            resources = ray_exec.parse_resources(rs.ray_resources)
            rs = replace(rs, nodes=tuple(ray_exec.choose_nodes(rs.ray_address, rs.device, resources)))
            console.print(f"Ray nodes running the matrix: {', '.join(rs.nodes)}", highlight=False,
                          markup=False)
    cells = matrix.plan(rs)
    out = Path(args.out or Path(DEFAULT_OUT) / dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
    matrix.check_writable(out)
    for name in sorted({c.dataset for c in cells}) if rs.executor == "local" else ():
        ds = data.load(name, rs.data_dir)  # fetched and verified once, before any cell
        console.print(f"data: {name} from {ds.source}", highlight=False, markup=False)
    matrix.save_plan(out, rs)
    done = set()
    if args.resume and records.store_file(out).is_file():
        done = records.complete_keys(records.load(out))
    todo = [c for c in cells if c.key() not in done]
    console.print(f"{len(todo)} cells to run ({len(cells) - len(todo)} already complete) -> {out}",
                  highlight=False)
    on_start, on_event, on_record, done = _progress_printer(console, len(todo))
    runner = matrix.Runner(out, args.cell_timeout, on_event=on_event, on_record=on_record,
                           run_id=rs.run_id, order_seed=rs.order_seed)
    resume_cmd = f"mnist-bench run --out {out} --resume"
    try:
        if rs.executor == "ray":
            from .execute import ray as ray_exec

            ray_exec.Driver(rs, runner, on_start, say=lambda text: console.print(
                text, highlight=False, markup=False)).run(todo)
        else:
            for cell in todo:
                on_start(cell)
                runner.run_cell(cell)
    except KeyboardInterrupt:
        done()
        console.print(f"\ninterrupted; every finished cell is saved in {out}. Resume with:\n  {resume_cmd}")
        return 130
    finally:
        done()
    recs = records.load(out)
    t = aggregate.tidy(recs)
    paths = tables.write_tables(t, out, recs=recs)
    if any(r["status"] == "ok" for r in recs):
        from .render import plots

        plots.html_report(t, recs, out)
    print(tables.markdown(t, recs=recs))
    console.print(f"records: {records.store_file(out)}\ntables: {paths['md']}, {paths['csv']}, "
                  f"{paths['json']}, {out / 'report.html'}", highlight=False)
    bad = t[~t.status.isin(["ok", "skipped"])]
    return 1 if len(bad) else 0


def cmd_compare(args) -> int:
    from . import report
    from .analysis import compare

    old, new = report.load_any([args.old]), report.load_any([args.new])
    df = compare.compare(old, new, args.max_slowdown, args.max_accuracy_drop)
    print(compare.markdown(df))
    change = compare.canary_change(old, new)
    if change is not None:
        print(f"drift canary: NEW's machine ran {abs(change):.0%} "
              f"{'slower' if change > 0 else 'faster'} than OLD's (median canary time)",
              file=sys.stderr)
    bad = df[df["regression"].fillna(False).astype(bool)] if "regression" in df else df.iloc[:0]
    print(f"{len(bad)} regression(s) in {len(df)} cells", file=sys.stderr)
    return 1 if len(bad) else 0


def cmd_bench(args) -> int:
    import os
    import subprocess

    from . import settings

    for b in args.backends:
        settings.check("backend", b, settings.BACKENDS)
    if not Path(args.suite, "conftest.py").is_file():
        raise settings.SettingsError(f"--suite {args.suite}: no benchmark suite there "
                                     "(run from the mnist-bench checkout, or pass --suite)")
    extra = [a for a in args.pytest_args if a != "--"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    worst = 0
    for i, b in enumerate(args.backends):
        cmd = [sys.executable, "-m", "pytest", args.suite, "--benchmark-only",
               f"--benchmark-json={out / (b + '.json')}", *(["--mnist-bench-baseline"] if i == 0 else []),
               *extra]
        print(f"+ KERAS_BACKEND={b} {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
        worst = max(worst, subprocess.call(cmd, env={**os.environ, "KERAS_BACKEND": b}))
    files = " ".join(str(out / f"{b}.json") for b in args.backends)
    print(f"compare: pytest-benchmark compare {files} --group-by=group\n"
          f"tables:  mnist-bench report {files}", file=sys.stderr)
    return worst


def cmd_doctor(args) -> int:
    from . import doctor

    return doctor.main()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = {"run": cmd_run, "list": cmd_list, "report": cmd_report, "bench": cmd_bench, "compare": cmd_compare,
               "doctor": cmd_doctor}[args.command]
    debug = args.debug or os.environ.get("MNIST_BENCH_DEBUG", "") not in ("", "0")
    try:
        return command(args)
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
