"""The precision probe names what float32 arithmetic really ran in (no framework needed: a
stand-in for keras.ops that rounds its inputs the way TF32 or bfloat16 hardware does)."""

import numpy as np
import pytest

from mnist_bench.analysis import keys
from mnist_bench.measure import precision


def _rounding(mantissa_bits):
    """A keras.ops stand-in whose products round inputs to ``mantissa_bits`` bits, as tensor
    cores do for TF32 (10) and bfloat16 (7); None keeps float32."""

    class Ops:
        @staticmethod
        def convert_to_tensor(x):
            return np.asarray(x, np.float32)

        @staticmethod
        def convert_to_numpy(x):
            return np.asarray(x)

        @staticmethod
        def _round(x):
            if mantissa_bits is None:
                return x
            m, e = np.frexp(x.astype(np.float64))
            return np.ldexp(np.round(m * 2.0 ** (mantissa_bits + 1)) / 2.0 ** (mantissa_bits + 1),
                            e).astype(np.float32)

        @classmethod
        def matmul(cls, a, b):
            return (cls._round(a).astype(np.float64) @ cls._round(b).astype(np.float64)).astype(np.float32)

        @classmethod
        def conv(cls, x, kernel, data_format):  # 1x1 kernel: a product over channels
            assert data_format == "channels_last" and kernel.shape[:2] == (1, 1)
            return cls.matmul(x.reshape(-1, x.shape[-1]), kernel[0, 0]).reshape(
                *x.shape[:-1], kernel.shape[-1])

    return Ops


def test_probe_tells_float32_tf32_and_bfloat16_apart():
    assert precision.matmul(_rounding(None)) == "float32"
    assert precision.matmul(_rounding(10)) == "tf32"
    assert precision.matmul(_rounding(7)) == "bfloat16 or less"
    assert precision.conv(_rounding(None)) == "float32"
    assert precision.conv(_rounding(10)) == "tf32"


def test_tables_state_precision_where_it_was_not_float32():
    rec = {"precision": {"policy": "float32", "float32_matmul": "tf32", "float32_conv": "tf32"}}
    assert keys.precision_label(rec) == "float32 (float32 matmul tf32, conv tf32)"
    rec = {"precision": {"policy": "mixed_bfloat16", "float32_matmul": "float32",
                         "float32_conv": "float32"}}
    assert keys.precision_label(rec) == "mixed_bfloat16"
    assert keys.precision_label({}) is None  # older records did not measure it


def test_the_precision_setting_is_part_of_every_cell_and_of_its_setup():
    """--precision float32 (or tf32) is planned into every cell, named in its label, part of its
    identity; records of one variant at two settings are never pooled or paired."""
    from mnist_bench import plan
    from mnist_bench.analysis import report, tidy

    from .test_regressions import rec

    shipped = plan.plan(plan.RunSettings(specs=("mlp_512",), backends=("jax", "torch")))
    matched = plan.plan(plan.RunSettings(specs=("mlp_512",), backends=("jax", "torch"),
                                         precision="float32"))
    assert {c.float32_precision for c in matched} == {"float32"}
    assert {c.float32_precision for c in shipped} == {"as-shipped"}
    assert all(c.label().endswith("float32") for c in matched)
    assert not {c.key() for c in matched} & {c.key() for c in shipped}
    runs = [rec(backend="jax", block=k, mean=1.0) for k in range(3)] + \
           [rec(backend="jax", block=k, mean=2.0, float32_precision="float32") for k in range(3)]
    t = tidy.tidy(runs)
    assert sorted(t.steady_epoch_s.round(3)) == [1.0, 2.0]  # two variants, not one of 1.5
    md = __import__("mnist_bench.render.markdown", fromlist=["markdown"]).markdown(report.build(runs))
    assert "--precision float32" in md


def test_a_precision_that_is_not_one_is_refused_and_resume_keeps_the_runs(tmp_path):
    from .conftest import run_cli
    from .test_regressions import main

    proc = run_cli("run", "--precision", "fp32", "--out", tmp_path / "o")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "argument --precision: invalid choice: 'fp32'" in proc.stderr
    from mnist_bench import plan

    plan.save_plan(tmp_path / "r", plan.RunSettings(specs=("mlp_512",)).started())
    code, _, err = main("run", "--out", tmp_path / "r", "--resume", "--precision", "float32")
    assert code == 2 and "--precision cannot be given with it" in err


@pytest.mark.slow
def test_float32_turns_tf32_off_on_every_backend_and_the_records_say_so(tmp_path):
    """On every backend the framework's own switch is set before the model is built (the
    probe's flags read it back), and the record carries the setting."""
    import json

    from .conftest import run_cli

    out = tmp_path / "f32"
    proc = run_cli("run", "--profile", "smoke", "--models", "mlp_512", "--precision", "float32",
                   "--out", out, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    recs = {r["backend"]: r for r in map(json.loads, (out / "records.jsonl").read_text().splitlines())}
    assert {r["float32_precision"] for r in recs.values()} == {"float32"}
    assert recs["jax"]["precision"]["flags"]["jax_default_matmul_precision"] == "highest"
    assert recs["torch"]["precision"]["flags"]["torch.backends.cuda.matmul.allow_tf32"] is False
    assert recs["torch"]["precision"]["flags"]["float32_matmul_precision"] == "highest"
    assert recs["tensorflow"]["precision"]["flags"]["tensor_float_32_execution"] is False
    assert all(r["precision"]["float32_matmul"] == "float32" for r in recs.values())
