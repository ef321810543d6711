"""What identifies and groups a record in the tables: its run, machine, device kind and block;
its run figure (the mean steady epoch); and the per-record checks (canary drift, unclocked
share, precision, the peak it is measured against). Numbers and names only: no formatting."""

from __future__ import annotations

import math
from collections import defaultdict

from ..identity import of_record
from ..settings import BASELINE_BACKEND
from ..specs import BUILTIN

# A cell's place in every table: its run (and node), the method its figures were measured by,
# and its identity (mnist_bench/identity.py: dataset, device kind, setup, mode, implementation,
# spec, backend; the batch size is added where a table spans several).
# Records that differ in any of these are never pooled into one figure or paired in one ratio.
GROUP = ("run", "dataset", "device_kind", "setup", "method", "mode", "impl", "spec", "backend")
SPEC_GROUP = GROUP[:-1]  # a spec's variants: every backend of one spec, setup and method
DRIFT_FLAG = 0.15  # a cell whose canary ran this much slower than the run's best is flagged
UNCLOCKED_FLAG = 0.10  # a cell whose steady epochs spent this share of their wall time unclocked


def device_kind(r: dict) -> str:
    device = r.get("device")
    return (device.get("kind") if isinstance(device, dict) else None) or \
        r.get("device_requested") or "cpu"


def run_of(r: dict) -> str:
    """The run a record belongs to: its run id, or the file it was read from; for a run spread
    over a cluster's nodes, the part of it one node ran (its comparisons stay on that node)."""
    run = r.get("run_id") or r.get("_source") or "run"
    return f"{run} @ {r['node']}" if r.get("node") else run


def machine_of(r: dict) -> str:
    """What the tables call the machine a record was measured on: its cluster node's name, the
    name it was given ($MNIST_BENCH_MACHINE), else its host and hardware."""
    if r.get("node"):
        return r["node"]
    m = r.get("machine") or {}
    if m.get("name"):
        return m["name"]
    cpu = m.get("cpu") or {}
    gpus = sorted({g.get("name", "?") for g in m.get("gpus") or []})
    return (f"{m.get('hostname') or '?'} ({cpu.get('model') or '?'} x{cpu.get('cores') or '?'}"
            + "".join(f", {g}" for g in gpus) + ")")


def setup_of(r: dict) -> tuple:
    """How a cell trains, as its run planned it (``identity.Identity.setup``). Cells of
    different setups are never set side by side."""
    return of_record(r).setup


def method_of(r: dict) -> int:
    """The method a record's figures were measured by (``record.schema.METHOD``); 1 for
    records written before the field."""
    return int(r.get("method") or 1)


def attempt_of(r: dict) -> int:
    """0 for a block's first measurement; k when its block was measured again k times."""
    return int(r.get("attempt") or 0)


def group_key(r: dict) -> tuple:
    """A record's place in the tables (``GROUP``): its run and method, and its identity
    (``identity.of_record``) with the device it ran on."""
    i = of_record(r, device_kind(r))
    return (run_of(r), i.dataset, i.device, i.setup, method_of(r), i.mode, i.impl, i.spec, i.backend)


def recipe_batch_of(r: dict) -> int | None:
    """The batch size of the record's recipe (as its spec defines it)."""
    recipe = r.get("recipe") or {}
    if recipe.get("batch_size"):
        return recipe["batch_size"]
    builtin = BUILTIN.get(r.get("spec"))
    return builtin.recipe.batch_size if builtin and builtin.kind == "keras" else None


def batch_of(r: dict) -> int | None:
    """The batch size a record trained at: as run, else as planned, else its recipe's (None
    for the scikit-learn baseline)."""
    if r.get("backend") == BASELINE_BACKEND:
        return None
    return r.get("batch_size") or r.get("planned_batch_size") or recipe_batch_of(r)


def is_throughput(r: dict) -> bool:
    """A throughput cell: planned at another batch size than its recipe's (--batch-sizes).
    Its speed is compared across batch sizes; its accuracy is not the recipe's."""
    return r.get("planned_batch_size") is not None and batch_of(r) != recipe_batch_of(r)


def block_of(r: dict) -> int:
    return int(r.get("block", r.get("repeat")) or 0)


def looks_of(r: dict) -> tuple[int, ...] | None:
    """The look schedule of the record's run, where its run planned one to its budget (set
    by ``record.store.load`` from the run's run.json, and by ``execute.until``); None: the
    default, ``stats.LOOKS``."""
    looks = r.get("_looks")
    return tuple(looks) if looks else None


def target_for(spec: str, targets: dict | None) -> float | None:
    if targets and spec in targets:
        return targets[spec]
    builtin = BUILTIN.get(spec)
    return builtin.recipe.target_accuracy if builtin else None


def run_epoch_s(r: dict) -> float | None:
    """A run's steady epoch: the mean of its epochs 2..n, what its training cost per epoch
    once compiled (the baseline: fit time per pass). A run's epochs are not independent, so
    they are not summarised further; runs are."""
    if r["backend"] == BASELINE_BACKEND:
        return r.get("steady_epoch_s")
    steady = (r.get("epoch_s") or [])[1:]
    return sum(steady) / len(steady) if steady else None


def unclocked_share(r: dict) -> float | None:
    """The share of the steady epochs' wall time (evaluation excluded) that the training clock
    did not count; for records of one fit() call per epoch, of those calls' wall time."""
    if r["backend"] == BASELINE_BACKEND:
        return None
    wall = r.get("epoch_wall_s") or r.get("epoch_call_s") or []
    train, call = (r.get("epoch_s") or [])[1:], wall[1:]
    if not train or len(train) != len(call) or not sum(call):
        return None
    return max(0.0, 1 - sum(train) / sum(call))


def canary_best(times: list[float]) -> float:
    """A run's best canary time: its 10th percentile, so one lucky reading is not the yardstick
    (the minimum for runs of fewer than 10 cells)."""
    times = sorted(times)
    return times[len(times) // 10]


def canary_judges(r: dict) -> bool:
    """Whether the host's drift canary speaks for a record: a CPU cell's. A GPU cell trains on
    the device, which the canary (a host product and a Python loop) does not measure, so its
    canary reading is kept but never marks the cell (results/gpu-h200: it marked 14 of 17 cells
    of a host that ran nothing else)."""
    return device_kind(r) != "gpu"


def canary_drift(recs: list[dict]) -> dict[int, float]:
    """id(record) -> how much slower the canary ran before it than the run's best (0.1 = 10%),
    for the records the canary judges (``canary_judges``)."""
    by_run = defaultdict(list)
    judged = [r for r in recs if r.get("canary_s") and canary_judges(r)]
    for r in judged:
        by_run[run_of(r)].append(r["canary_s"])
    best = {run: canary_best(times) for run, times in by_run.items()}
    return {id(r): r["canary_s"] / best[run_of(r)] - 1 for r in judged if run_of(r) in best}


def precision_label(r: dict) -> str | None:
    """The dtype policy, and what float32 products and convolutions really ran in where that
    was not float32 (TF32 on a GPU, say); None for records that did not measure it."""
    p = r.get("precision")
    if not isinstance(p, dict):
        return None
    lowered = [f"{what} {p.get(f'float32_{what}')}" for what in ("matmul", "conv")
               if p.get(f"float32_{what}") not in (None, "float32")]
    return (p.get("policy") or "?") + (f" (float32 {', '.join(lowered)})" if lowered else "")


def precision_short(r: dict) -> str | None:
    """What a record's float32 work ran in, in a few words: its matrix products' precision
    ("tf32", "float32") and its convolutions' where they differ ("float32, conv tf32"), or the
    dtype policy when it is not float32 ("mixed_bfloat16"); None for records that did not
    measure it."""
    p = r.get("precision")
    if not isinstance(p, dict):
        return None
    if (p.get("policy") or "float32") != "float32":
        return p["policy"]
    matmul, conv = p.get("float32_matmul") or "float32", p.get("float32_conv")
    return matmul + (f", conv {conv}" if conv and conv != matmul else "")


def peak_of(r: dict) -> float | None:
    """The rate a cell's achieved GFLOP/s is measured against: numpy's float32 product on the
    CPU; on a GPU the backend's own product in the precision the cell computed in."""
    if device_kind(r) == "cpu":
        return (r.get("machine") or {}).get("matmul_peak_gflops")
    peaks = r.get("device_peak_gflops") or {}
    bf16 = ((r.get("precision") or {}).get("compute_dtype") or "float32") == "bfloat16"
    return peaks.get("bfloat16" if bf16 else "float32")


def present(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))




def flags_of(r: dict) -> list[str]:
    """A run's disturbance flags by the current rule (``measure.disturbance.flags``), from its
    own per-epoch CPU readings and its machine's core count, so records written under an
    earlier rule are judged alike; the flags it stored where it holds no readings."""
    from ..measure import disturbance

    epochs, cpu = r.get("epoch_s") or [], r.get("epoch_cpu_s")
    if not cpu or len(cpu) != len(epochs):  # the CPU rules need readings; the epoch rule does not
        stored = [f for f in r.get("flags") or [] if f != "outlier epoch"]
        return stored + disturbance.outlier(epochs)
    foreign = r.get("epoch_foreign_cpu_s") or []
    if any(f is None for f in foreign):
        foreign = []
    cores = ((r.get("machine") or {}).get("cpu") or {}).get("cores")
    return disturbance.flags(epochs, cpu, foreign, cores)
