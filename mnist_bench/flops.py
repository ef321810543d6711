"""FLOPs of one training step, counted from the model's layers (docs/method.md).

Forward FLOPs per sample: Dense 2*in*out, Conv2D 2*kh*kw*cin*cout*H_out*W_out (a multiply and
an add per weight use). Biases, activations, pooling, dropout and the loss are left out: on
these models they are under 2% of the total. A training step costs 3x the forward pass (the
forward pass, the gradient with respect to the inputs and the gradient with respect to the
weights). Layers of other kinds count as zero, and ``counted_layers`` says which were counted.
"""

from __future__ import annotations

import math


def _layers(model):
    for layer in getattr(model, "layers", []):
        if getattr(layer, "layers", None):
            yield from _layers(layer)
        else:
            yield layer


def forward_flops_per_sample(model) -> tuple[int, list[str]]:
    total, counted = 0, []
    for layer in _layers(model):
        kind = type(layer).__name__
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        shape = tuple(kernel.shape)
        if kind == "Dense" and len(shape) == 2:
            total += 2 * shape[0] * shape[1]
        elif kind == "Conv2D" and len(shape) == 4:
            out = tuple(layer.output.shape)  # (None, H, W, C) for channels_last
            spatial = math.prod(d for d in out[1:3]) if layer.data_format == "channels_last" \
                else math.prod(out[2:4])
            total += 2 * math.prod(shape) * spatial
        else:
            continue
        counted.append(f"{layer.name}:{kind}")
    return total, counted


def train_flops_per_sample(model) -> tuple[int, list[str]]:
    forward, counted = forward_flops_per_sample(model)
    return 3 * forward, counted
