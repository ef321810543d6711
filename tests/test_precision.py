"""The precision probe names what float32 arithmetic really ran in (no framework needed: a
stand-in for keras.ops that rounds its inputs the way TF32 or bfloat16 hardware does)."""

import numpy as np

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
