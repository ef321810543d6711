"""The JAX reference loop: pure functions over a parameter pytree, optax for the optimizer.

default: a ``jax.jit``-compiled train step called once per batch from Python, batches sliced on
the host (the JAX tutorials' loop).
tuned: a whole epoch as one compiled ``lax.scan`` over the batches, the data held on the device
(a short last batch, as Keras trains it, is one more call of the compiled step). Exception: a
model with convolutions on the CPU keeps the data on the device but calls the compiled step per
batch, because XLA's CPU backend runs a convolution inside a loop body many times slower than
outside one (jax-ml/jax#12868; here a smoke epoch of cnn_3conv took 13.2 s in ``lax.scan``
against 0.81 s stepped from Python); the record's note says which was used.
device-step: the tuned loop's data on the device with a compiled step per batch (the batch
gathered inside the step), the analogue of Keras-on-JAX, which calls its jitted step once per
batch whatever ``steps_per_execution`` is.
bf16: the default loop computing in bfloat16 from float32 weights (the weights and inputs cast
inside the step, the logits and loss in float32, gradients and updates in float32: mixed
precision as JAX libraries such as jmp write it).
optax takes Keras's hyper-parameters explicitly: ``rmsprop(decay=0.9, eps=1e-7)`` with eps inside
the square root as Keras has it; ``adam(eps=1e-7)``.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax


ACT = {"linear": lambda x: x, "relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh}
EVAL_BATCH = 1000


def init_params(ops) -> list:
    return [[jnp.asarray(w) for w in op.weights] for op in ops]


def forward(ops, params, x, key=None, dtype=None):
    """Logits in float32; dropout only when ``key`` is given (training); the work in ``dtype``
    (bfloat16) when given, from the float32 weights."""
    if dtype is not None:
        params = jax.tree_util.tree_map(lambda a: a.astype(dtype), params)
        x = x.astype(dtype)
    for op, p in zip(ops, params):
        if op.kind == "dense":
            x = x @ p[0] + (p[1] if len(p) > 1 else 0)
        elif op.kind == "conv2d":
            x = jax.lax.conv_general_dilated(x, p[0], (1, 1), op.config["padding"].upper(),
                                             dimension_numbers=("NHWC", "HWIO", "NHWC"))
            x = x + (p[1] if len(p) > 1 else 0)
        elif op.kind == "maxpool2d":
            (ph, pw), (sh, sw) = op.config["pool"], op.config["strides"]
            x = jax.lax.reduce_window(x, np.array(-np.inf, x.dtype), jax.lax.max,
                                      (1, ph, pw, 1), (1, sh, sw, 1), "VALID")
        elif op.kind == "flatten":
            x = x.reshape(x.shape[0], -1)
        elif op.kind == "reshape":
            x = x.reshape(x.shape[0], *op.config["shape"])
        elif op.kind == "dropout" and key is not None:
            key, sub = jax.random.split(key)
            keep = 1.0 - op.config["rate"]
            x = jnp.where(jax.random.bernoulli(sub, keep, x.shape), x / keep, 0.0)
        x = ACT[op.activation](x)
    return x.astype(jnp.float32)


def make_optimizer(name: str, hp: dict):
    if name == "sgd":
        return optax.sgd(hp["learning_rate"])
    if name == "rmsprop":
        return optax.rmsprop(hp["learning_rate"], decay=hp["rho"], eps=hp["epsilon"],
                             eps_in_sqrt=True)
    return optax.adam(hp["learning_rate"], b1=hp["beta_1"], b2=hp["beta_2"], eps=hp["epsilon"])


class Trainer:
    """Trains the Ops on (x, y), one epoch at a time."""

    def __init__(self, ops, opt, x, y, batch_size: int, seed: int, strategy, gpu: bool):
        self.ops, self.batch_size = ops, batch_size
        dtype = jnp.bfloat16 if strategy.precision == "mixed bfloat16" else None
        has_conv = any(op.kind == "conv2d" for op in ops)
        self.strategy = strategy
        self.scan = self.strategy.steps_per_call is None
        self.held = self.strategy.data == "held"
        self.tx = make_optimizer(*opt)
        self.params = init_params(ops)
        self.state = self.tx.init(self.params)
        self.key = jax.random.PRNGKey(seed)
        self.x, self.y = x, y  # host arrays (default: sliced per batch on the host)
        if self.held:
            self.x, self.y = jax.device_put(x), jax.device_put(y)
        self.step = jax.jit(partial(_step, ops, self.tx, dtype))
        self.held_step = jax.jit(partial(_held_step, ops, self.tx, dtype))
        self.epoch_fn = jax.jit(partial(_epoch, ops, self.tx, dtype))
        self.logits_fn = jax.jit(partial(_logits, ops, dtype))
        self.loss = None
        self.jit = True
        self.note = ("native jax: one lax.scan per epoch, data on the device, optax" if self.scan
                     else "native jax: jax.jit step per batch, data on the device, optax (no "
                          "lax.scan: XLA CPU convolutions in a loop body are slow, "
                          "jax-ml/jax#12868)" if self.held and has_conv and not gpu
                     else "native jax: jax.jit step per batch, data on the device, optax"
                     if self.held
                     else "native jax: jax.jit step per batch, bfloat16 compute, optax" if dtype
                     else "native jax: jax.jit step per batch, optax")

    def sync(self) -> None:
        jax.block_until_ready(self.params)

    def train_epoch(self, perm: np.ndarray) -> None:
        bs = self.batch_size
        full = len(perm) // bs * bs
        self.key, key = jax.random.split(self.key)
        if self.held:
            # the epoch's batches as one device array of indices; each step gathers its batch
            # inside the compiled step (one dispatch per step, nothing copied from the host)
            idx = jnp.asarray(perm[:full].reshape(-1, bs))
            if self.scan:
                self.params, self.state, self.loss = self.epoch_fn(
                    self.params, self.state, self.x, self.y, idx, key)
            else:
                for n in range(idx.shape[0]):
                    self.params, self.state, self.loss = self.held_step(
                        self.params, self.state, self.x, self.y, idx, n, jax.random.fold_in(key, n))
            if full < len(perm):
                rest = jnp.asarray(perm[full:])
                self.params, self.state, self.loss = self.step(
                    self.params, self.state, self.x[rest], self.y[rest],
                    jax.random.fold_in(key, idx.shape[0]))
            return
        for n, start in enumerate(range(0, len(perm), bs)):
            idx = perm[start:start + bs]
            self.params, self.state, self.loss = self.step(
                self.params, self.state, self.x[idx], self.y[idx], jax.random.fold_in(key, n))

    def last_loss(self) -> float:
        return float(self.loss)

    def logits(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.logits_fn(self.params, x))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(self.logits_fn(self.params, x[s:s + EVAL_BATCH]).argmax(1))
                               for s in range(0, len(x), EVAL_BATCH)])


def _logits(ops, dtype, params, x):
    return forward(ops, params, x, None, dtype)


def _loss(ops, dtype, params, x, y, key):
    return optax.softmax_cross_entropy_with_integer_labels(
        forward(ops, params, x, key, dtype), y).mean()


def _step(ops, tx, dtype, params, state, x, y, key):
    loss, grads = jax.value_and_grad(partial(_loss, ops, dtype))(params, x, y, key)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state, loss


def _held_step(ops, tx, dtype, params, state, x, y, idx, n, key):
    batch = jax.lax.dynamic_index_in_dim(idx, n, keepdims=False)
    return _step(ops, tx, dtype, params, state, x[batch], y[batch], key)


def _epoch(ops, tx, dtype, params, state, x, y, idx, key):
    def body(carry, batch):
        params, state, n = carry
        params, state, loss = _step(ops, tx, dtype, params, state, x[batch], y[batch],
                                    jax.random.fold_in(key, n))
        return (params, state, n + 1), loss

    (params, state, _), losses = jax.lax.scan(body, (params, state, 0), idx)
    return params, state, losses[-1]
