"""The plan of a run: its settings (saved as run.json for --resume) and its cells, in blocks.

A run is a sequence of blocks, one per repeat. Within a block every variant of a spec (backend
x implementation x mode x batch size) runs back to back, the specs and the variants in a fresh random order drawn from the
run's ``order_seed`` (recorded in run.json and in every record), so slow drift of the machine
hits all variants of a block alike and comparisons can pair them by block.

Executors (``execute``) run the planned cells and store each record as soon as its cell ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from . import modes, settings, specs
from .analysis import stats
from .analysis.stats import MARGIN
from .settings import BASELINE_BACKEND, Cell

PLAN_FILE = "run.json"
EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class RunSettings:
    """Everything that decides which cells a run has (stored as run.json for --resume)."""

    specs: tuple[str, ...] = tuple(specs.BUILTIN)
    backends: tuple[str, ...] = settings.BACKENDS
    dataset: str | None = None  # None: each spec's own default dataset
    profile: str = "quick"
    seed: int = 0
    epochs: int | None = None
    device: str = "cpu"
    modes: tuple[str, ...] = ("default",)
    impls: tuple[str, ...] = ("keras",)
    repeats: int = 1
    data_dir: str | None = None
    order_seed: int | None = None  # None: drawn when the run starts, then saved in run.json
    run_id: str | None = None  # None: made when the run starts (UTC time and a random suffix)
    executor: str = "local"  # local: a process per cell here; ray: on a Ray cluster's nodes
    ray_address: str | None = None  # None: a Ray instance started for the run, on this machine
    ray_resources: tuple[str, ...] = ()  # "name=amount" a node must have to take the matrix
    cells_per_node: int = 1  # timed cells a node runs at once (more than 1 spoils timings)
    nodes: tuple[str, ...] = ()  # the Ray nodes (by name) that run the matrix, chosen at start
    spread: bool = False  # --spread-blocks: the nodes share the blocks, each block whole on one
    cell_timeout_s: float | None = None  # None: each profile's own limit
    until_decided: bool = False  # blocks until every comparison is decided (execute.until)
    budget_min: float | None = None  # --until-decided: minutes the run may take
    margin: float = MARGIN  # δ of every verdict
    select: str | None = None  # -k: only the cells whose label matches (pytest -k syntax)
    machine: str | None = None  # --machine: the name the tables give this machine
    batch_sizes: tuple[int, ...] = ()  # --batch-sizes: each variant at each; (): the recipe's
    lr_scaling: str | None = None  # --lr-scaling (settings.LR_SCALINGS); None: the recipe's rate
    precision: str = "as-shipped"  # --precision (settings.PRECISIONS): float32 work's arithmetic
    # --until-decided's state, kept for --resume: the blocks its last scheduled look saw, the
    # seconds of the budget spent so far, and the look schedule planned to the budget (the first
    # of stats.LOOKS; (): not planned yet, all of them)
    looked: int = 0
    spent_s: float = 0.0
    looks: tuple[int, ...] = ()

    def started(self) -> "RunSettings":
        """These settings with a run id and an order seed, as the run records them."""
        import datetime as dt

        run_id = self.run_id or (dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
                                 + "-" + secrets.token_hex(2))
        seed = self.order_seed if self.order_seed is not None else secrets.randbelow(2 ** 31)
        return replace(self, run_id=run_id, order_seed=seed)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunSettings":
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        for key in ("specs", "backends", "modes", "impls", "ray_resources", "nodes", "batch_sizes",
                    "looks"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


def check(rs: RunSettings) -> RunSettings:
    """``rs`` if every setting is valid; else a one-line error saying what is valid."""
    _check_names(rs)
    _check_numbers(rs)
    _check_matrix(rs)
    return rs


def _check_names(rs: RunSettings) -> None:
    """Each name one of the valid ones."""
    settings.check("profile", rs.profile, settings.PROFILES)
    settings.check("device", rs.device, settings.DEVICES)
    for b in rs.backends:
        settings.check("backend", b, settings.BACKENDS)
    for i in rs.impls:
        settings.check("implementation", i, settings.IMPLS)
    modes.check(rs.modes, rs.backends, rs.impls)
    if rs.dataset is not None:
        from .data import DATASETS

        settings.check("dataset", rs.dataset, DATASETS)
    settings.check("executor", rs.executor, EXECUTORS)


def _check_numbers(rs: RunSettings) -> None:
    """Each number in its range (settings.MAX_*), and the options that go together."""
    if rs.cells_per_node < 1:
        raise settings.SettingsError(f"--cells-per-node must be at least 1, not {rs.cells_per_node}")
    if rs.repeats < 1:
        raise settings.SettingsError(f"--blocks must be at least 1, not {rs.repeats}")
    if rs.cell_timeout_s is not None and not 0 < rs.cell_timeout_s <= settings.MAX_CELL_TIMEOUT_S:
        raise settings.SettingsError(f"--cell-timeout must be a number of seconds > 0 and <= "
                                     f"{settings.MAX_CELL_TIMEOUT_S:g}, not {rs.cell_timeout_s}")
    blocks = stats.LOOKS[-1] if rs.until_decided else rs.repeats
    if rs.seed + blocks - 1 > settings.MAX_SEED:
        raise settings.SettingsError(
            f"--seed {rs.seed} with {blocks} blocks needs seeds up to {rs.seed + blocks - 1}; valid: "
            f"every block's seed (--seed + block) at most {settings.MAX_SEED}, so --seed <= "
            f"{settings.MAX_SEED - blocks + 1} here")
    if rs.looks and rs.looks != stats.LOOKS[:len(rs.looks)]:
        raise settings.SettingsError(f"looks {list(rs.looks)}: a look schedule is the first of "
                                     f"{list(stats.LOOKS)}")
    if not 0 < rs.margin < 1:
        raise settings.SettingsError(f"--margin must be a fraction between 0 and 1 (0.05: ±5%), not {rs.margin}")
    if rs.budget_min is not None and not 0 < rs.budget_min <= settings.MAX_BUDGET_MIN:
        raise settings.SettingsError(f"--budget must be a number of minutes > 0 and <= "
                                     f"{settings.MAX_BUDGET_MIN:g}, not {rs.budget_min}")
    if rs.budget_min is not None and not rs.until_decided:
        raise settings.SettingsError("--budget needs --until-decided (a fixed run has --blocks instead)")
    if rs.until_decided and rs.repeats != 1:
        raise settings.SettingsError("--blocks cannot be given with --until-decided: blocks run "
                                     "until every comparison is decided (at most 12)")
    if rs.epochs is not None and not 2 <= rs.epochs <= settings.MAX_EPOCHS:
        raise settings.SettingsError(f"--epochs must be from 2 to {settings.MAX_EPOCHS}, not {rs.epochs}")


def _check_matrix(rs: RunSettings) -> None:
    """The specs, batch sizes, precision, learning-rate scaling, selection and machine name."""
    for ref in rs.specs:
        specs.check_ref(ref)
    for bs in rs.batch_sizes:
        if isinstance(bs, bool) or not isinstance(bs, int) or not 1 <= bs <= settings.MAX_BATCH_SIZE:
            raise settings.SettingsError(
                f"--batch-sizes: {bs!r} is not a batch size; valid: whole numbers from 1 to "
                f"{settings.MAX_BATCH_SIZE}, comma-separated, e.g. 128,512,2048")
    if len(set(rs.batch_sizes)) != len(rs.batch_sizes):
        raise settings.SettingsError(f"--batch-sizes names a batch size more than once: "
                                     f"{','.join(map(str, rs.batch_sizes))}")
    if rs.batch_sizes and rs.until_decided:
        raise settings.SettingsError("--batch-sizes cannot be combined with --until-decided (its "
                                     "comparisons are at the recipe's batch size); give --blocks")
    settings.check("precision", rs.precision, settings.PRECISIONS)
    if rs.lr_scaling is not None:
        settings.check("learning-rate scaling", rs.lr_scaling, settings.LR_SCALINGS)
        if not rs.batch_sizes:
            raise settings.SettingsError("--lr-scaling needs --batch-sizes (at the recipe's batch "
                                         "size the rate is the recipe's)")
    if rs.select is not None:
        _selector(rs.select)
    if rs.machine is not None and not rs.machine.strip():
        raise settings.SettingsError("--machine needs a name, e.g. --machine laptop")


def _selector(expr: str):
    """``-k EXPR`` (``selection.compile_selection``): a test of a cell label."""
    from .selection import SelectionError, compile_selection

    try:
        return compile_selection(expr)
    except SelectionError as exc:
        raise settings.SettingsError(
            f"-k {expr!r} is not a selection ({exc}); valid: words matched in cell labels "
            "joined by and, or, not and parentheses, e.g. -k 'mlp and not torch'") from None


def plan(rs: RunSettings) -> list[Cell]:
    """The cells of a run, validated (``check``), in blocks."""
    check(rs)
    cells = [c for repeat in range(rs.repeats) for c in block(rs, repeat)]
    if not cells:
        raise settings.SettingsError(
            f"-k {rs.select!r} selects no cell of the matrix; cell labels look like "
            f"{block(replace(rs, select=None), 0)[0].label()}")
    if rs.until_decided:
        per_spec: dict = {}
        for c in cells:
            per_spec[c.spec] = per_spec.get(c.spec, 0) + 1
        if max(per_spec.values()) < 2:  # one variant a spec: no verdict to wait for
            raise settings.SettingsError(
                "--until-decided: nothing to compare, each spec has one variant here "
                f"({cells[0].label()}); valid: two or more backends (--backends), modes "
                "(--modes) or implementations (--impl keras,native) of a spec")
    return cells


def block(rs: RunSettings, repeat: int) -> list[Cell]:
    """The cells of block ``repeat`` of a run, in their random order (on every node of a
    cluster run, in the same order)."""
    rng = random.Random(f"{rs.order_seed or 0}:{repeat}")
    order = list(rs.specs)
    if rs.order_seed is not None:
        rng.shuffle(order)
    cells = []
    for ref in order:
        builtin = specs.BUILTIN.get(ref)
        dataset = rs.dataset or (builtin.recipe.dataset if builtin else "mnist")
        common = dict(spec=ref, dataset=dataset, profile=rs.profile, seed=rs.seed + repeat,
                      epochs=rs.epochs, repeat=repeat, data_dir=rs.data_dir,
                      float32_precision=rs.precision)
        if builtin is not None and builtin.kind == "sklearn":
            cells.append(Cell(backend=BASELINE_BACKEND, device="cpu", **common))
            continue
        variants = [(b, i, m, bs) for b in rs.backends for i in rs.impls for m in rs.modes
                    for bs in (rs.batch_sizes or (None,)) if modes.available(b, i, m)]
        if rs.order_seed is not None:
            rng.shuffle(variants)
        cells.extend(Cell(backend=b, device=rs.device, mode=m, impl=i, planned_batch_size=bs,
                          lr_scaling=rs.lr_scaling if bs is not None else None, **common)
                     for b, i, m, bs in variants)
    if rs.select is not None:
        chosen = _selector(rs.select)
        cells = [c for c in cells if chosen(c.label())]
    cells = [replace(c, position=i) for i, c in enumerate(cells)]
    if rs.nodes and rs.spread:  # the nodes share the blocks: one machine kind, one pool
        return [replace(c, node=pool_name(rs.nodes)) for c in cells]
    if rs.nodes:  # every node runs the whole matrix, in the same order
        return [replace(c, node=n) for n in rs.nodes for c in cells]
    return cells


def pool_name(nodes) -> str:
    """What the tables call the nodes that share a run's blocks (``--spread-blocks``): one
    machine, for the comparisons; each record names its own node too (``ray.name``)."""
    return "+".join(nodes)


def timeout_for(cell: Cell, cell_timeout_s: float | None) -> float:
    """A cell's time limit: --cell-timeout, else its profile's."""
    return cell_timeout_s or settings.PROFILES[cell.profile].cell_timeout_s


def save_plan(out: Path, rs: RunSettings) -> None:
    """run.json, whole or not at all (a full disk is a one-line error, before any cell runs)."""
    from .paths import PathError

    tmp = out / (PLAN_FILE + ".tmp")
    try:
        out.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(rs.to_dict(), indent=2) + "\n")
        os.replace(tmp, out / PLAN_FILE)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise PathError(f"--out {out}: could not write {PLAN_FILE} ({exc.strerror or exc}); make "
                        "room, or pass another --out") from None


def load_plan(out: Path) -> RunSettings:
    path = Path(out) / PLAN_FILE
    if not path.is_file():
        raise settings.SettingsError(f"--resume: {path} not found; nothing to resume in {out}")
    try:
        rs = check(RunSettings.from_dict(json.loads(path.read_text())))
    except (ValueError, TypeError, AttributeError) as exc:
        raise settings.SettingsError(
            f"--resume: {path} is not a readable run plan ({type(exc).__name__}: "
            f"{(str(exc).splitlines() or [''])[0]}); start a new run with another --out") from None
    return rs
