"""The record contract (``record.schema``) as a JSON Schema (draft 2020-12), so other tools
can read and check mnist-bench records without this package.

    python -m mnist_bench.record.jsonschema > docs/record.schema.json

The published file is this function's output (a test keeps the two equal), and every
published record validates against it (a test checks them with the ``jsonschema`` library).
``record.schema.validate`` stays the check the harness itself runs (its messages name the
field in one line); the two accept the same records.
"""

from __future__ import annotations

import json

from . import schema

_JSON = {int: "integer", float: "number", str: "string", list: "array", dict: "object",
         type(None): "null", bool: "boolean"}

SECONDS = {"type": "number", "minimum": 0}
# the element rules of list fields (``schema._ELEMENTS``), as JSON Schema
ITEMS = {
    **{name: SECONDS for name in ("epoch_s", "epoch_call_s", "epoch_wall_s", "eval_s",
                                  "epoch_cpu_s", "epoch_foreign_cpu_s")},
    "curve": {"type": "object", "required": ["train_s"],
              "properties": {"train_s": SECONDS,
                             "validation_accuracy": {"type": ["number", "null"]},
                             "test_accuracy": {"type": ["number", "null"]}}},
    "input_shape": {"type": "integer"},
    "flops_counted_layers": {"type": "string"},
    "flags": {"type": "string"},
    "output_tail": {"type": "string"},
}


def _types(types: tuple) -> list[str] | str:
    names = list(dict.fromkeys(_JSON[t] for t in types))
    if "number" in names and "integer" in names:  # JSON's number already holds the integers
        names.remove("integer")
    return names[0] if len(names) == 1 else names


def json_schema() -> dict:
    """The JSON Schema of one record (a line of records.jsonl)."""
    props = {}
    for name, types in schema.FIELDS.items():
        prop = {"type": _types(types)}
        if name in ITEMS:
            prop["items"] = ITEMS[name]
        props[name] = prop
    props["schema"] = {"const": schema.SCHEMA}
    props["version"] = {"const": schema.VERSION}
    props["status"] = {"enum": list(schema.STATUSES)}
    measured = {"properties": {"status": {"enum": ["ok", "diverged"]}}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "mnist-bench record",
        "description": "One line of records.jsonl: one cell's run (docs/records.md).",
        "type": "object",
        "properties": props,
        "required": list(schema.IDENTITY),
        "additionalProperties": False,
        "if": measured,
        "then": {"required": list(schema.MEASURED),
                 "properties": {"test_accuracy": {"minimum": 0, "maximum": 1},
                                "epoch_s": {"items": {"type": "number", "exclusiveMinimum": 0}}}},
    }


def main() -> None:
    print(json.dumps(json_schema(), indent=1))


if __name__ == "__main__":
    main()
