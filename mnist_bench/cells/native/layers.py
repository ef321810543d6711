"""A Keras model as a framework-free list of operations, with its own initial weights.

Only standard layers translate (``SUPPORTED``); anything else is refused with a one-line
reason naming the layer, so a user spec of standard layers gets native loops with no extra
code and any other spec says why it gets none. The last layer must produce softmax
probabilities: native loops train on its logits with the framework's own cross-entropy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...errors import MnistBenchError

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "softmax")
SUPPORTED = ("InputLayer", "Dense", "Conv2D", "MaxPooling2D", "Flatten", "Reshape", "Dropout",
             "Activation")
# Keras's own defaults for the optimizers a recipe may name, set explicitly in every native loop
OPTIMIZERS = {
    "sgd": {"learning_rate": 0.01},
    "rmsprop": {"learning_rate": 0.001, "rho": 0.9, "epsilon": 1e-7},
    "adam": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
}
LOSSES = ("sparse_categorical_crossentropy",)


class NativeUnsupported(MnistBenchError):
    """A spec that the native loops cannot express."""


@dataclass
class Op:
    """One operation: ``kind`` with its weights (Keras layout) and settings."""

    kind: str  # dense, conv2d, maxpool2d, flatten, reshape, dropout, activation
    weights: list = field(default_factory=list)  # numpy arrays: kernel[, bias]
    activation: str = "linear"  # applied after the op; the last op's softmax becomes logits
    config: dict = field(default_factory=dict)


def _activation(layer, where: str) -> str:
    act = getattr(layer.activation, "__name__", str(layer.activation))
    if act not in ACTIVATIONS:
        raise NativeUnsupported(f"{where} has activation {act!r}; native loops support "
                                f"{', '.join(ACTIVATIONS)}")
    return act


def describe(model) -> list[Op]:
    """The model's layers as Ops; NativeUnsupported for anything the native loops lack."""
    ops = []
    for layer in model.layers:
        name = type(layer).__name__
        where = f"layer {layer.name!r} ({name})"
        if name not in SUPPORTED:
            raise NativeUnsupported(f"{where} has no native equivalent; native loops support "
                                    f"{', '.join(SUPPORTED[1:])}")
        if name == "InputLayer":
            continue
        weights = [np.asarray(w, np.float32) for w in layer.get_weights()]
        if name == "Dense":
            ops.append(Op("dense", weights, _activation(layer, where)))
        elif name == "Conv2D":
            if (layer.data_format != "channels_last" or tuple(layer.strides) != (1, 1)
                    or tuple(layer.dilation_rate) != (1, 1) or layer.groups != 1
                    or layer.padding not in ("valid", "same")):
                raise NativeUnsupported(f"{where}: native loops support channels_last, stride 1, "
                                        "no dilation or groups, valid or same padding")
            ops.append(Op("conv2d", weights, _activation(layer, where),
                          {"padding": layer.padding}))
        elif name == "MaxPooling2D":
            if layer.padding != "valid" or layer.data_format != "channels_last":
                raise NativeUnsupported(f"{where}: native loops support valid padding, channels_last")
            ops.append(Op("maxpool2d", config={"pool": tuple(layer.pool_size),
                                               "strides": tuple(layer.strides)}))
        elif name == "Flatten":
            ops.append(Op("flatten"))
        elif name == "Reshape":
            ops.append(Op("reshape", config={"shape": tuple(layer.target_shape)}))
        elif name == "Dropout":
            ops.append(Op("dropout", config={"rate": float(layer.rate)}))
        elif name == "Activation":
            ops.append(Op("activation", activation=_activation(layer, where)))
    if not ops or ops[-1].activation != "softmax":
        raise NativeUnsupported("the model's last layer must end in a softmax (native loops train "
                                "on its logits with the framework's cross-entropy)")
    if any(op.activation == "softmax" for op in ops[:-1]):
        raise NativeUnsupported("softmax is supported only as the last activation")
    ops[-1].activation = "linear"  # logits; the loss applies the softmax
    return ops


def optimizer(recipe) -> tuple[str, dict]:
    """The recipe's optimizer with Keras's hyper-parameters, explicit."""
    name = recipe.optimizer.lower()
    if name not in OPTIMIZERS:
        raise NativeUnsupported(f"optimizer {recipe.optimizer!r} has no native loop; valid: "
                                f"{', '.join(OPTIMIZERS)}")
    if recipe.loss not in LOSSES:
        raise NativeUnsupported(f"loss {recipe.loss!r} has no native loop; valid: {', '.join(LOSSES)}")
    hp = dict(OPTIMIZERS[name])
    if recipe.learning_rate is not None:
        hp["learning_rate"] = recipe.learning_rate
    return name, hp
