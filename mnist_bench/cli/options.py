"""The command line's options: the parser, its value types, and one-line errors.

Every option is checked before any work starts: a bad one gets one line saying what was wrong
and what is valid, and exit status 2.
"""

from __future__ import annotations

import argparse
import math
import sys

from .. import __version__, settings
from ..settings import MAX_BUDGET_MIN, MAX_CELL_TIMEOUT_S, MAX_EPOCHS, MAX_SEED

DEFAULT_OUT = "bench-out"
DEFAULT_BUDGET_MIN = 20.0  # --until-decided without --budget


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


def batch_sizes(text: str) -> tuple[int, ...]:
    """--batch-sizes (and the benchmark suite's --mnist-bench-batch-sizes): comma-separated
    whole numbers from 1 to settings.MAX_BATCH_SIZE, each once."""
    items = _csv(text)
    try:
        sizes = tuple(int(x) for x in items)
    except ValueError:
        bad = next(x for x in items if not x.lstrip("+").isdigit())
        raise argparse.ArgumentTypeError(
            f"{bad!r} is not a batch size; valid: comma-separated whole numbers from 1 to "
            f"{settings.MAX_BATCH_SIZE}, e.g. 128,512,2048") from None
    bad = [n for n in sizes if not 1 <= n <= settings.MAX_BATCH_SIZE]
    if bad:
        raise argparse.ArgumentTypeError(
            f"{bad[0]} is not a batch size; valid: comma-separated whole numbers from 1 to "
            f"{settings.MAX_BATCH_SIZE}")
    return sizes


def bounded(kind, low=None, high=None, low_open=False):
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
    from ..analysis.stats import MARGIN
    from .. import modes
    from ..settings import BACKENDS, DEVICES, LR_SCALINGS, PRECISIONS, PROFILES

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
    run.add_argument("--profile", default="quick", help="; ".join(f"{p.name}: {p.about}" for p in PROFILES.values()))
    run.add_argument("--epochs", type=bounded(int, 2, MAX_EPOCHS), default=None,
                     help="override the profile's epoch count (at least 2: the first one compiles)")
    run.add_argument("-k", dest="select", default=None, metavar="EXPR",
                     help="only the cells whose label matches EXPR, as pytest -k: words matched "
                          "in labels such as mlp_512/jax/mnist/cpu [tuned], joined by and, or, "
                          "not and parentheses, e.g. -k 'mlp and not torch'")
    run.add_argument("--seed", type=bounded(int, 0, MAX_SEED), default=0,
                     help="the first block's training seed (block k uses seed+k): weights, "
                          "shuffling, dropout (default 0)")
    run.add_argument("--blocks", "--repeats", dest="repeats", type=bounded(int, 1, 1000), default=1,
                     help="blocks: runs of each cell, seeds seed..seed+N-1, each block in a fresh "
                          "random order (--repeats: the same)")
    run.add_argument("--machine", default=None, metavar="NAME",
                     help="what the tables call this machine (default: $MNIST_BENCH_MACHINE, else "
                          "its host and hardware); Ray nodes keep their own labels")
    run.add_argument("--order-seed", type=bounded(int, 0, MAX_SEED), default=None,
                     help="seed of the random order within blocks (default: drawn and recorded)")
    run.add_argument("--device", default="cpu", help=f"one of {', '.join(DEVICES)} (default: cpu)")
    run.add_argument("--modes", type=_csv, default=("default",),
                     help=f"comma-separated, of {','.join(modes.keras_modes())}; native loops also "
                          f"{','.join(f'{m} ({o[0]})' for m, o in modes.native_only().items())}, "
                          "see docs/usage.md (default: default)")
    run.add_argument("--impl", type=_csv, default=("keras",), dest="impls",
                     help="comma-separated, of keras,native: Keras on the backend, and/or the "
                          "framework's own reference loop built from the spec (default: keras)")
    run.add_argument("--batch-sizes", type=batch_sizes, default=(), metavar="N,N,...",
                     help="train every variant at each of these batch sizes, in the same blocks "
                          "(default: each recipe's own); at another batch size than the recipe's a "
                          "cell is a throughput cell whose accuracy is not compared (docs/method.md)")
    run.add_argument("--lr-scaling", default=None, choices=LR_SCALINGS,
                     help="with --batch-sizes: scale the recipe's learning rate by batch / recipe "
                          "batch (linear) or its square root (sqrt) (default: the recipe's rate)")
    run.add_argument("--precision", default="as-shipped", choices=PRECISIONS,
                     help="what float32 products and convolutions run in on every backend: "
                          "as-shipped (each framework's default: on NVIDIA GPUs JAX and "
                          "TensorFlow take TF32, PyTorch float32), float32, or tf32 (where the "
                          "device has it); part of what each cell is (default: as-shipped)")
    run.add_argument("--data-dir", default=None, help="a folder holding the dataset files")
    run.add_argument("--out", default=None, help=f"result folder (default: {DEFAULT_OUT}/<UTC time>)")
    run.add_argument("--cell-timeout", type=bounded(float, 0, MAX_CELL_TIMEOUT_S, low_open=True), default=None,
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
    run.add_argument("--spread-blocks", action="store_true",
                     help="--executor ray: the chosen nodes are one kind of machine and share the "
                          "blocks, each block whole on one node (so pairing holds), their records "
                          "one machine's (default: every node runs the whole matrix)")
    run.add_argument("--cells-per-node", type=bounded(int, 1, 1024), default=1,
                     help="cells a Ray node runs at once (default 1: timed cells never share a node)")
    run.add_argument("--until-decided", action="store_true",
                     help="run blocks until every comparison of the tables is decided (faster, "
                          "equivalent) or --budget is spent; after 3 blocks only open comparisons "
                          "are measured (docs/method.md, Deciding)")
    run.add_argument("--budget", type=bounded(float, 0, MAX_BUDGET_MIN, low_open=True), default=None,
                     metavar="MINUTES", help="--until-decided: minutes the run may take "
                                             f"(default {DEFAULT_BUDGET_MIN:g})")
    run.add_argument("--margin", type=bounded(float, 0, 1, low_open=True), default=MARGIN,
                     help="the practical margin of every verdict, as a fraction (default 0.05: "
                          "a ratio within ±5%% is equivalent)")
    run.add_argument("--resume", action="store_true",
                     help="continue the run in --out: only cells with no complete record, same settings")

    lst = sub.add_parser("list", help="show every spec, its recipe and its target accuracy")
    lst.add_argument("--json", action="store_true", help="print JSON instead of a table")

    rep = sub.add_parser("report", help="tables from record stores or pytest-benchmark JSON")
    rep.add_argument("paths", nargs="+", help="result folders, records.jsonl or pytest-benchmark .json files")
    rep.add_argument("--out", default=None, help="also write tables.md/.csv/.json into this folder")
    rep.add_argument("--format", default=None, choices=("text", "md", "csv", "json"),
                     help="what to print: the decision fitted to the terminal (text), every "
                          "table as Markdown, or the tidy table as CSV or JSON (default: text on "
                          "a terminal, md otherwise)")
    rep.add_argument("--json", dest="format", action="store_const", const="json",
                     help="the same as --format json")
    rep.add_argument("--html", action="store_true",
                     help="also write report.html and the charts (PNG, SVG) into --out")
    rep.add_argument("--target", action="append", default=[], metavar="SPEC=ACC",
                     help="time-to-accuracy target for a spec (repeatable; default: the spec's own)")
    rep.add_argument("--margin", type=bounded(float, 0, 1, low_open=True), default=MARGIN,
                     help="the practical margin of every verdict (default 0.05: ±5%%)")
    rep.add_argument("--note", action="append", default=[], metavar="BACKEND:DEVICE=TEXT",
                     help="text shown for a backend with no results on a device, e.g. "
                          "'tensorflow:gpu=no GPU build on this machine' (repeatable)")

    cmp = sub.add_parser("compare", help="compare two result sets; exit 1 on a regression")
    cmp.add_argument("sides", nargs="*", metavar="OLD NEW",
                     help="the baseline results and the results to check (each a folder, "
                          "records.jsonl, pytest-benchmark .json, or a folder of them)")
    cmp.add_argument("--old", action="append", default=[], metavar="PATH",
                     help="one more path of the baseline side (repeatable), e.g. each backend's "
                          "pytest-benchmark .json")
    cmp.add_argument("--new", action="append", default=[], metavar="PATH",
                     help="one more path of the side to check (repeatable)")
    cmp.add_argument("--json", action="store_true",
                     help="print the comparison as JSON (cells, verdicts replicated, canary, "
                          "regressions, problems) instead of Markdown")
    cmp.add_argument("--format", default=None, choices=("text", "md"),
                     help="the per-cell table fitted to the terminal (text) or as Markdown "
                          "(default: text on a terminal, md otherwise)")
    cmp.add_argument("--max-overhead-growth", type=bounded(float, 0), default=0.25,
                     help="allowed growth of a cell's time outside its training call (process "
                          "start, imports, data, build, probes), as a fraction (default 0.25)")
    cmp.add_argument("--max-slowdown", type=bounded(float, 0), default=0.10,
                     help="allowed growth of the steady epoch and of the time to target, as "
                          "a fraction (default 0.10)")
    cmp.add_argument("--max-accuracy-drop", type=bounded(float, 0, 1), default=0.01,
                     help="allowed fall of the mean test accuracy (default 0.01)")
    cmp.add_argument("--margin", type=bounded(float, 0, 1, low_open=True), default=MARGIN,
                     help="the margin of the verdicts whose replication is counted (default 0.05)")
    cmp.add_argument("--allow-missing", action="store_true",
                     help="pass although NEW lacks cells that OLD has (default: that fails)")

    bench = sub.add_parser("bench", help="run the pytest-benchmark suite once per backend")
    bench.add_argument("--backends", type=_csv, default=BACKENDS,
                       help=f"comma-separated, of {','.join(BACKENDS)} (default: all), each in its own pytest process")
    bench.add_argument("--out", default=None,
                       help=f"folder for one <backend>.json per backend (default: a fresh "
                            f"{DEFAULT_OUT}/pytest-benchmark-<UTC time>)")
    bench.add_argument("--suite", default=None,
                       help="the suite's folder (default: the suite shipped in the package)")
    bench.add_argument("pytest_args", nargs=argparse.REMAINDER,
                       help="after --: passed to pytest (e.g. -- --mnist-bench-profile smoke)")

    doctor = sub.add_parser("doctor", help="what is installed, which devices and data are there")
    doctor.add_argument("--json", action="store_true", help="the same facts as one JSON document")
    for sp in sub.choices.values():  # --debug after the command too
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of an unexpected error")
    return p


def run_defaults() -> dict:
    """The value of every ``run`` option when it is not given."""
    args = build_parser().parse_args(["run"])
    return {k: v for k, v in vars(args).items() if k not in ("command", "debug")}
