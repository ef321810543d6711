"""The arithmetic a cell actually ran in, read off the device rather than assumed.

A float32 matrix product or convolution may silently run in TF32 (10 mantissa bits) or
bfloat16 (7 bits) on GPUs, depending on the framework's defaults. ``probe`` finds out by
multiplying numbers whose low mantissa bits only full float32 keeps: a matrix holding
1 + 2**-12 (kept by float32 alone) and 1 + 2**-9 (kept by float32 and TF32, lost by bfloat16)
times the identity. The product is exact in every precision except for the rounding of the
inputs, so what comes back names the precision the device used. ``flags`` adds the
framework's own switches (TF32 on torch, JAX's default matmul precision, TF's TF32 flag).
"""

from __future__ import annotations

import numpy as np

N = 128  # large enough that GPUs take their tensor-core kernels
FP32_ONLY = 1 + 2.0**-12
TF32_KEPT = 1 + 2.0**-9


def classify(values: np.ndarray) -> str:
    """Name the precision from what came back for (FP32_ONLY, TF32_KEPT) inputs."""
    fp32_only, tf32_kept = (float(v) for v in values)
    if fp32_only == np.float32(FP32_ONLY) and tf32_kept == np.float32(TF32_KEPT):
        return "float32"
    if tf32_kept == np.float32(TF32_KEPT):
        return "tf32"
    return "bfloat16 or less"


def _inputs() -> np.ndarray:
    a = np.full((N, N), FP32_ONLY, np.float32)
    a[:, N // 2:] = TF32_KEPT
    return a


def matmul(ops) -> str:
    """Precision of a float32 ``ops.matmul`` on the default device (``ops``: keras.ops)."""
    out = ops.convert_to_numpy(ops.matmul(ops.convert_to_tensor(_inputs()),
                                          ops.convert_to_tensor(np.eye(N, dtype=np.float32))))
    return classify((out[0, 0], out[0, N - 1]))


def conv(ops) -> str:
    """Precision of a float32 ``ops.conv`` (a 1x1 identity kernel over N channels)."""
    x = _inputs().reshape(1, N, 1, N)  # (batch, height, width, channels), channels-last
    kernel = np.eye(N, dtype=np.float32).reshape(1, 1, N, N)
    out = ops.convert_to_numpy(ops.conv(ops.convert_to_tensor(x), ops.convert_to_tensor(kernel),
                                        data_format="channels_last"))
    return classify((out[0, 0, 0, 0], out[0, 0, 0, N - 1]))


def flags(backend: str) -> dict:
    """The framework's own switches that choose float32 arithmetic's precision."""
    try:
        if backend == "torch":
            import torch

            return {"torch.backends.cuda.matmul.allow_tf32": torch.backends.cuda.matmul.allow_tf32,
                    "torch.backends.cudnn.allow_tf32": torch.backends.cudnn.allow_tf32,
                    "float32_matmul_precision": torch.get_float32_matmul_precision()}
        if backend == "jax":
            import jax

            return {"jax_default_matmul_precision": jax.config.jax_default_matmul_precision}
        if backend == "tensorflow":
            import tensorflow as tf

            return {"tensor_float_32_execution":
                    tf.config.experimental.tensor_float_32_execution_enabled()}
    except Exception as exc:  # a framework that cannot say: say so
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {}


def probe(backend: str, policy: str | None = None) -> dict:
    """What a record states of its precision: the dtype policy (Keras's, or ``policy``, the one
    a native loop follows), what float32 products and convolutions ran in on this device, and
    the framework's switches."""
    import keras

    policy = keras.DTypePolicy(policy) if policy else keras.config.dtype_policy()
    return {"policy": policy.name, "compute_dtype": policy.compute_dtype,
            "variable_dtype": policy.variable_dtype,
            "float32_matmul": matmul(keras.ops), "float32_conv": conv(keras.ops),
            "flags": flags(backend)}
