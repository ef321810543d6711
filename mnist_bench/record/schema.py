"""The record's schema (docs/records.md): every field, its JSON types, and ``validate``.

``record.assemble`` makes records and ``record.store`` keeps them; both hold every record to
this contract, when it is made and when it is loaded.
"""

from __future__ import annotations

import math

from ..errors import MnistBenchError

SCHEMA = "mnist-bench/record"
VERSION = 1
# What a record's figures mean, bumped whenever a measured figure changes its meaning; report and
# compare never pool or pair records of different methods. 1: records without the field (the
# steady epoch once a median, time to target once in whole epochs); 2: the steady epochs are
# the epochs 2..n as timed since the time-to-target snapshots went to epoch ends.
METHOD = 2
STATUSES = ("ok", "diverged", "failed", "timeout", "skipped")


class RecordError(MnistBenchError, ValueError):
    """A file that is not a record store, or a record of a schema this version cannot read."""


_NUM = (int, float)
_OPT_NUM = (int, float, type(None))
_OPT_STR = (str, type(None))
_LIST = (list,)
_OPT_LIST = (list, type(None))
_OPT_DICT = (dict, type(None))
_OPT_INT = (int, type(None))
_OPT_BOOL = (bool, type(None))

# The one definition of a record: every field, its JSON types, and whether every record has it
# (IDENTITY) or only a measured one (status ok or diverged: MEASURED). docs/records.md documents
# exactly these fields (a test checks), and ``validate`` holds every record to them when it is
# made (``new``) and when it is loaded.
IDENTITY = {
    "schema": (str,), "version": (int,), "timestamp": (str,), "spec": (str,), "backend": (str,),
    "dataset": (str,), "profile": (str,), "seed": (int,), "epochs": _OPT_INT, "mode": (str,),
    "repeat": (int,), "device_requested": (str,), "data_dir": _OPT_STR, "status": (str,),
}
MEASURED = {
    "test_accuracy": _NUM, "epoch_s": _LIST, "train_samples": (int,),
}
OPTIONAL = {
    "position": _OPT_INT, "impl": _OPT_STR, "attempt": _OPT_INT, "method": _OPT_INT, "planned_batch_size": _OPT_INT,
    "lr_scaling": _OPT_STR, "float32_precision": _OPT_STR, "learning_rate": _OPT_NUM, "node": _OPT_STR, "ray": _OPT_DICT, "native_forward_diff": _OPT_NUM, "block": _OPT_INT,
    "run_id": _OPT_STR, "order_seed": _OPT_INT,
    "canary_s": _OPT_NUM, "test_samples": _OPT_INT, "reason": _OPT_STR, "output_tail": _OPT_LIST, "kind": _OPT_STR,
    "recipe": _OPT_DICT, "data_source": _OPT_STR, "epochs_planned": _OPT_INT,
    "epochs_run": _OPT_INT, "batch_size": _OPT_INT, "input_shape": _OPT_LIST, "params": _OPT_INT,
    "test_loss": _OPT_NUM, "split_accuracy": _OPT_NUM, "split_samples": _OPT_INT,
    "fit_s": _OPT_NUM, "epoch_call_s": _OPT_LIST, "epoch_wall_s": _OPT_LIST, "eval_s": _OPT_LIST,
    "fit_call_s": _OPT_NUM, "fit_setup_s": _OPT_NUM, "fit_unaccounted_s": _OPT_NUM,
    "first_epoch_s": _OPT_NUM, "steady_epoch_s": _OPT_NUM, "steady_epoch_iqr_s": _OPT_NUM,
    "train_samples_per_s": _OPT_NUM, "inference_samples_per_s": _OPT_NUM,
    "inference_batch_size": _OPT_INT, "curve": _OPT_LIST, "curve_on": _OPT_STR,
    "train_flops_per_sample": _OPT_NUM, "flops_counted_layers": _OPT_LIST,
    "flops_update_share": _OPT_NUM, "achieved_gflops": _OPT_NUM, "jit_compile": _OPT_BOOL,
    "steps_per_execution": _OPT_INT, "mode_note": _OPT_STR, "strategy": _OPT_DICT, "device": _OPT_DICT,
    "peak_device_memory_bytes": _OPT_INT, "precision": _OPT_DICT, "device_peak_gflops": _OPT_DICT,
    "peak_host_rss_bytes": _OPT_INT, "import_s": _OPT_NUM, "worker_start": _OPT_STR, "flags": _OPT_LIST,
    "epoch_cpu_s": _OPT_LIST, "epoch_foreign_cpu_s": _OPT_LIST,
    "cell_wall_s": _OPT_NUM, "phases": _OPT_DICT,
    "machine": _OPT_DICT, "versions": _OPT_DICT, "git": _OPT_DICT, "pytest_benchmark": _OPT_DICT,
}
FIELDS = {**IDENTITY, **MEASURED, **OPTIONAL}
PRIVATE = ("_source", "_looks")  # set by loaders, never stored


def _seconds(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


def _curve_point(v) -> bool:
    return isinstance(v, dict) and _seconds(v.get("train_s")) and all(
        isinstance(v.get(k), (int, float, type(None))) and not isinstance(v.get(k), bool)
        for k in ("validation_accuracy", "test_accuracy"))


# what the elements of list fields must be
_ELEMENTS = (
    *((name, _seconds, "a non-negative number of seconds")
      for name in ("epoch_s", "epoch_call_s", "epoch_wall_s", "eval_s")),
    ("curve", _curve_point, "a point with train_s seconds and numeric accuracies"),
    ("input_shape", lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    ("flops_counted_layers", lambda v: isinstance(v, str), "a string"),
    ("flags", lambda v: isinstance(v, str), "a string"),
    *((name, _seconds, "a non-negative number of seconds")
      for name in ("epoch_cpu_s", "epoch_foreign_cpu_s")),
    ("output_tail", lambda v: isinstance(v, str), "a string"),
)


def validate(record: dict, where: str = "record") -> dict:
    """``record`` if it keeps the contract; else a one-line RecordError naming the field."""
    if not isinstance(record, dict) or record.get("schema") != SCHEMA:
        raise RecordError(f"{where} is not a mnist-bench record")
    if record.get("version") != VERSION:
        raise RecordError(
            f"{where} has record version {record.get('version')}, this mnist-bench reads version "
            f"{VERSION}; install the mnist-bench version that wrote it, or re-run the cell")
    required = dict(IDENTITY)
    if record.get("status") in ("ok", "diverged"):
        required.update(MEASURED)
    for name, types in required.items():
        if name not in record:
            raise RecordError(f"{where} lacks the field {name!r} (status {record.get('status')})")
    for name, value in record.items():
        if name in PRIVATE:
            continue
        if name not in FIELDS:
            raise RecordError(f"{where} has an unknown field {name!r}; the record's fields are "
                              "listed in docs/records.md")
        types = FIELDS[name]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise RecordError(f"{where}: field {name!r} is {type(value).__name__}, expected "
                              + " or ".join(t.__name__ for t in types))
    for name, ok, what in _ELEMENTS:
        value = record.get(name)
        if isinstance(value, list) and not all(ok(v) for v in value):
            raise RecordError(f"{where}: field {name!r} holds an element that is not {what}")
    if record["status"] not in STATUSES:
        raise RecordError(f"{where}: unknown status {record['status']!r}; valid: {', '.join(STATUSES)}")
    if record["status"] in ("ok", "diverged"):
        acc = record["test_accuracy"]
        if not 0 <= acc <= 1:
            raise RecordError(f"{where}: test_accuracy {acc} is not in [0, 1]")
        if any(not isinstance(t, _NUM) or isinstance(t, bool) or not t > 0 for t in record["epoch_s"]):
            raise RecordError(f"{where}: epoch_s holds a time that is not a positive number")
    return record


def finite(value):
    """JSON has no NaN or infinity: store them as null (the record's reason says what happened)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value
