"""``mnist-bench run``: build the run's settings, plan once, hand the cells to an executor,
and write the report."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

from .options import DEFAULT_BUDGET_MIN, DEFAULT_OUT, run_defaults

# the options that say what a run is: --resume takes them from run.json instead
RUN_OPTIONS = {"models": "--models", "backends": "--backends", "dataset": "--dataset",
               "profile": "--profile", "epochs": "--epochs", "seed": "--seed",
               "repeats": "--blocks", "order_seed": "--order-seed", "device": "--device",
               "modes": "--modes", "impls": "--impl", "data_dir": "--data-dir",
               "cell_timeout": "--cell-timeout", "executor": "--executor",
               "ray_address": "--ray-address", "ray_resources": "--ray-resources",
               "cells_per_node": "--cells-per-node", "spread_blocks": "--spread-blocks",
               "until_decided": "--until-decided",
               "budget": "--budget", "margin": "--margin", "select": "-k", "machine": "--machine",
               "batch_sizes": "--batch-sizes", "lr_scaling": "--lr-scaling",
               "precision": "--precision"}


def settings_from(args, console):
    """The run's settings: from the options, or (``--resume``) from the folder's run.json."""
    from .. import plan, specs
    from ..settings import SettingsError

    if args.resume:
        if not args.out:
            raise SettingsError("--resume needs --out FOLDER, the run to continue")
        defaults = run_defaults()
        given = [opt for dest, opt in RUN_OPTIONS.items() if getattr(args, dest) != defaults[dest]]
        if given:
            raise SettingsError(f"--resume continues the run in {args.out} with the settings in "
                                f"its {plan.PLAN_FILE}; {given[0]} cannot be given with it")
        return plan.load_plan(Path(args.out))
    rs = plan.RunSettings(
        specs=args.models or tuple(specs.BUILTIN), backends=args.backends,
        dataset=args.dataset, profile=args.profile, seed=args.seed, epochs=args.epochs,
        device=args.device, modes=args.modes, impls=args.impls, repeats=args.repeats,
        data_dir=args.data_dir, order_seed=args.order_seed, executor=args.executor,
        ray_address=args.ray_address, ray_resources=args.ray_resources,
        cells_per_node=args.cells_per_node, cell_timeout_s=args.cell_timeout,
        until_decided=args.until_decided, margin=args.margin, select=args.select,
        machine=args.machine, batch_sizes=args.batch_sizes, lr_scaling=args.lr_scaling,
        precision=args.precision, spread=args.spread_blocks,
        budget_min=(args.budget if args.budget is not None
                    else DEFAULT_BUDGET_MIN if args.until_decided else None)).started()
    ray_only = [o for o, v in (("--ray-address", args.ray_address),
                               ("--ray-resources", args.ray_resources),
                               ("--cells-per-node", args.cells_per_node != 1),
                               ("--spread-blocks", args.spread_blocks)) if v]
    if args.executor != "ray" and ray_only:
        raise SettingsError(f"{ray_only[0]} needs --executor ray")
    plan.check(rs)  # every other option checked before a cluster is touched
    if rs.device == "gpu" and rs.executor == "local":
        from ..measure import environment

        if not environment.gpu_visible():
            raise SettingsError("--device gpu: this machine shows no NVIDIA GPU (nvidia-smi lists "
                                "none); valid here: --device cpu, or auto (a GPU where a backend "
                                "sees one)")
    if rs.executor == "ray":
        from ..execute import ray as ray_exec

        resources = ray_exec.parse_resources(rs.ray_resources)
        rs = replace(rs, nodes=tuple(ray_exec.choose_nodes(rs.ray_address, rs.device, resources)))
        console.print(f"Ray nodes {'sharing the blocks' if rs.spread else 'running the matrix'}: "
                      f"{', '.join(rs.nodes)}", highlight=False, markup=False)
    return rs


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI cancel, ``timeout``, ``docker stop``): stop as for Ctrl-C."""


def _terminate(signum, frame):
    raise Terminated()


def refuse_another_run(out: Path, resume: bool) -> None:
    """A fresh run never writes into a folder that holds another run: its records and run.json
    would be mixed with this one's, and that run could no longer be resumed."""
    from .. import plan
    from ..record import store
    from ..settings import SettingsError

    if resume:
        return
    held = [p.name for p in (store.store_file(out), out / plan.PLAN_FILE) if p.is_file()]
    if held:
        raise SettingsError(f"results folder {out} already holds another run ({', '.join(held)}); "
                            "continue it with --resume, or pass another --out")


def exit_status(recs: list[dict], run_id: str | None) -> int:
    """1 when a cell of this run (its last record) failed or timed out, or when the run
    measured nothing at all; else 0."""
    from ..analysis.tidy import latest

    mine = [r for r in latest(recs) if r.get("run_id") == run_id] if run_id else latest(recs)
    if any(r["status"] in ("failed", "timeout") for r in mine):
        return 1
    return 0 if any(r["status"] in ("ok", "diverged") for r in mine) else 1


def cmd_run(args) -> int:
    from rich.console import Console

    from .. import paths, plan
    from ..record import store

    console = Console(stderr=True, soft_wrap=True)
    rs = settings_from(args, console)
    cells = plan.plan(rs)
    if rs.machine:  # the workers read it when they describe the machine (measure.environment)
        import os

        from ..measure.environment import MACHINE_NAME_ENV

        os.environ[MACHINE_NAME_ENV] = rs.machine
    out = Path(args.out or Path(DEFAULT_OUT) / dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
    paths.writable(out, "--out", paths.RUN)
    with store.RunLock(out):
        refuse_another_run(out, args.resume)
        return _run(args, rs, cells, out, console)


def _todo(args, rs, cells, out: Path, console) -> list:
    """Before any cell: the data fetched and verified once, run.json written, and the cells
    this run still has to run (``--resume``: those without a finished record of this run)."""
    from .. import data, plan
    from ..record import store

    from ..measure import disturbance

    if rs.executor == "local" and disturbance.load_meter() is None:
        console.print("note: this OS has no /proc/stat, so foreign load (other programs busy "
                      "during a cell's clock) is not measured, and no run can be flagged or "
                      "measured again for it; the records say so (machine.load_meter null)",
                      highlight=False, markup=False)
    # each dataset verified once here (0.1 s from the cache): a missing or corrupt one stops
    # the run before any cell, and the first load from a download fills the cache every
    # worker then reads (Ray nodes load their own)
    for name in sorted({c.dataset for c in cells}) if rs.executor == "local" else ():
        ds = data.load(name, rs.data_dir)
        console.print(f"data: {name} from {ds.source}", highlight=False, markup=False)
    plan.save_plan(out, rs)
    done = set()
    if args.resume and store.store_file(out).is_file():
        done = store.complete_keys(store.load(out), rs.run_id)
    return [c for c in cells if c.key() not in done]


def _execute(rs, todo, out: Path, console, say):
    """Every cell of ``todo`` (or blocks until decided) through the run's executor; returns
    the UntilDecided loop, if any. Ctrl-C and SIGTERM come out as KeyboardInterrupt."""
    import signal

    from .. import plan
    from ..execute.local import LocalExecutor
    from ..execute.sink import Sink
    from . import progress

    estimate = progress.Estimate()
    on_start, on_event, on_record, finished = progress.printer(
        console, None if rs.until_decided else len(todo), estimate)
    sink = Sink(out, {"run_id": rs.run_id, "order_seed": rs.order_seed}, on_record)

    def timeout_for(cell):
        return plan.timeout_for(cell, rs.cell_timeout_s)

    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        if rs.executor == "ray":
            from ..execute import ray as ray_exec

            executor = ray_exec.Driver(rs, sink, timeout_for, on_start, say=say)
        else:
            executor = LocalExecutor(sink, timeout_for, on_start, on_event)

        def run_cells(block, stop=None):
            estimate.expect(block)
            return executor.run(block, stop=stop)

        if not rs.until_decided:
            run_cells(todo)
            return None
        from ..execute.until import UntilDecided

        until = UntilDecided(rs, out, run_cells, say=say)
        until.run()
        return until
    finally:
        signal.signal(signal.SIGTERM, previous)
        finished()


def _finish(rs, out: Path, until, say) -> int:
    """The report written (tables, report.html), the decisions printed; the exit status."""
    from ..analysis import report
    from ..record import store
    from ..render import files, html, markdown, summary

    recs = store.load(out)
    rep = report.build(recs, margin=rs.margin)
    text = markdown.markdown(rep)
    try:
        paths = files.write_tables(rep, out, text=text)
        if any(r["status"] == "ok" for r in recs):
            html.html_report(rep, out, text=text)
    except OSError as exc:
        from ..settings import SettingsError

        raise SettingsError(
            f"could not write the tables into {out} ({exc.strerror or exc}); every record is whole "
            f"in {store.store_file(out)}: make room, then mnist-bench report {out} --out {out} --html") from None
    print(summary.end_of_run(rep, recs, rs.run_id))
    for line in until.summary() if until else ():
        say(line)
    say(f"records: {store.store_file(out)}\nevery table: {paths['md']} (also {paths['csv'].name}, "
        f"{paths['json'].name}, report.html)")
    return exit_status(recs, rs.run_id)


def _run(args, rs, cells, out: Path, console) -> int:
    todo = _todo(args, rs, cells, out, console)
    say = lambda text: console.print(text, highlight=False, markup=False)  # noqa: E731
    if rs.until_decided:
        say(f"until decided: blocks of {len(cells)} cells until every comparison is decided "
            f"(±{100 * rs.margin:g}% margin), at most {rs.budget_min:g} minutes -> {out}")
    else:
        say(f"{len(todo)} cells to run ({len(cells) - len(todo)} already complete) -> {out}")
    try:
        until = _execute(rs, todo, out, console, say)
    except KeyboardInterrupt as stop:
        why = "stopped by SIGTERM" if isinstance(stop, Terminated) else "interrupted"
        console.print(f"\n{why}; every finished cell is saved in {out}. Resume with:\n"
                      f"  mnist-bench run --out {out} --resume")
        return 143 if isinstance(stop, Terminated) else 130
    return _finish(rs, out, until, say)
