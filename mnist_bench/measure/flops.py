"""FLOPs of one training step, counted from the model's layers (docs/method.md).

Forward FLOPs per sample: Dense 2*in*out, Conv2D 2*kh*kw*cin*cout*H_out*W_out (a multiply and
an add per weight use). Biases, activations, pooling, dropout and the loss are left out: on
these models they are under 2% of the total. A training step costs, per layer, its forward
FLOPs, as many again for the gradient with respect to its weights, and as many again for the
gradient with respect to its input, except for the first layer with weights: nothing needs the
gradient with respect to the data, and no framework computes it. So a model whose only layer is
Dense (the linear specs) costs 2x its forward pass, not 3x. The optimizer's update is counted
per parameter and step (``UPDATE_FLOPS``) and spread over the batch's samples; its share is
returned apart. Layers of other kinds count as zero, and ``counted_layers`` says which were
counted.
"""

from __future__ import annotations

import math


def _layers(model):
    for layer in getattr(model, "layers", []):
        if getattr(layer, "layers", None):
            yield from _layers(layer)
        else:
            yield layer


def _layer_flops(layer) -> int | None:
    """Forward FLOPs per sample of one Dense or Conv2D layer; None for any other layer."""
    kind = type(layer).__name__
    kernel = getattr(layer, "kernel", None)
    if kernel is None:
        return None
    shape = tuple(kernel.shape)
    if kind == "Dense" and len(shape) == 2:
        return 2 * shape[0] * shape[1]
    if kind == "Conv2D" and len(shape) == 4:
        out = tuple(layer.output.shape)  # (None, H, W, C) for channels_last
        spatial = math.prod(d for d in out[1:3]) if layer.data_format == "channels_last" \
            else math.prod(out[2:4])
        return 2 * math.prod(shape) * spatial
    return None


def layer_forward_flops(model) -> list[tuple[str, int]]:
    """(name:kind, forward FLOPs per sample) of each counted layer, in model order."""
    return [(f"{layer.name}:{type(layer).__name__}", f) for layer in _layers(model)
            if (f := _layer_flops(layer)) is not None]


# FLOPs per parameter per step of each optimizer's update, as Keras writes it (multiplies,
# adds, square roots and divisions each count one)
UPDATE_FLOPS = {"sgd": 2, "rmsprop": 8, "adam": 12, "adamw": 14, "adagrad": 6, "adadelta": 12,
                "adamax": 10, "nadam": 16}


def train_flops_per_sample(model, optimizer: str | None = None,
                           batch_size: int | None = None) -> tuple[float, list[str], float]:
    """(FLOPs of one training sample, counted layers, the optimizer update's share of them)."""
    per_layer = layer_forward_flops(model)
    forward, counted = sum(f for _, f in per_layer), [name for name, _ in per_layer]
    first = per_layer[0][1] if per_layer else 0
    backward = 2 * forward - first  # weight gradients of every layer, input gradients but the first
    update = 0.0
    if optimizer and batch_size:
        params = sum(int(math.prod(w.shape)) for w in getattr(model, "trainable_weights", []))
        update = UPDATE_FLOPS.get(optimizer.lower(), 0) * params / batch_size
    total = forward + backward + update
    return total, counted, (update / total if total else 0.0)
