"""The TensorFlow reference loop without Keras: a ``tf.Module`` of variables, ``tf.nn`` ops,
``tf.GradientTape`` and a hand-written update (TensorFlow's optimizers are Keras's).

default: the train step as a ``tf.function`` (graph, no XLA), as TensorFlow's custom-loop
guides write it. tuned: the same step as ``tf.function(jit_compile=True)`` (XLA). steps32: the
XLA step called 32 times per call of an outer graph ``tf.function`` (a tf.while_loop), as
Keras's ``steps_per_execution=32`` runs it; steps32-graph: the same without XLA. bf16: the
default step computing in bfloat16 (weights and inputs cast inside the step, logits and loss in
float32, float32 variables and updates). The training set is one tensor; each step gathers its
batch inside the step.
The updates are Keras's formulas with its hyper-parameters: SGD; RMSprop
v = rho v + (1 - rho) g^2, w -= lr g / sqrt(v + eps); Adam with Keras's epsilon placement.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


ACT = {"linear": tf.identity, "relu": tf.nn.relu, "sigmoid": tf.sigmoid, "tanh": tf.tanh}
EVAL_BATCH = 1000


class Net(tf.Module):
    def __init__(self, ops, dtype=tf.float32):
        super().__init__()
        self.ops, self.dtype = ops, dtype
        self.params = [[tf.Variable(w) for w in op.weights] for op in ops]

    def __call__(self, x, seed=None):
        """Logits in float32; dropout only when ``seed`` (a stateless-RNG seed pair) is given;
        the work in ``self.dtype`` from the float32 variables."""
        x = tf.cast(x, self.dtype)
        for n, (op, vs) in enumerate(zip(self.ops, self.params)):
            p = [tf.cast(v, self.dtype) for v in vs]
            if op.kind == "dense":
                x = tf.matmul(x, p[0]) + (p[1] if len(p) > 1 else 0.0)
            elif op.kind == "conv2d":
                x = tf.nn.conv2d(x, p[0], 1, op.config["padding"].upper())
                x = x + (p[1] if len(p) > 1 else 0.0)
            elif op.kind == "maxpool2d":
                x = tf.nn.max_pool2d(x, op.config["pool"], op.config["strides"], "VALID")
            elif op.kind == "flatten":
                x = tf.reshape(x, (tf.shape(x)[0], -1))
            elif op.kind == "reshape":
                x = tf.reshape(x, (tf.shape(x)[0], *op.config["shape"]))
            elif op.kind == "dropout" and seed is not None:
                keep = 1.0 - op.config["rate"]
                mask = tf.random.stateless_uniform(tf.shape(x), seed + [0, n]) < keep
                x = tf.where(mask, x / keep, tf.zeros_like(x))
            x = ACT[op.activation](x)
        return tf.cast(x, tf.float32)

    @property
    def variables_(self):
        return [v for p in self.params for v in p]


class Optimizer:
    """Keras's update rules on tf.Variables."""

    def __init__(self, name: str, hp: dict, variables):
        self.name, self.hp = name, hp
        self.t = tf.Variable(0.0)
        self.v = [tf.Variable(tf.zeros_like(v)) for v in variables]
        self.m = [tf.Variable(tf.zeros_like(v)) for v in variables] if name == "adam" else []

    def apply(self, grads, variables):
        lr = self.hp["learning_rate"]
        self.t.assign_add(1.0)
        for i, (g, w) in enumerate(zip(grads, variables)):
            if self.name == "sgd":
                w.assign_sub(lr * g)
            elif self.name == "rmsprop":
                rho, eps = self.hp["rho"], self.hp["epsilon"]
                v = self.v[i].assign(rho * self.v[i] + (1 - rho) * tf.square(g))
                w.assign_sub(lr * g / tf.sqrt(v + eps))
            else:
                b1, b2, eps = self.hp["beta_1"], self.hp["beta_2"], self.hp["epsilon"]
                alpha = lr * tf.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
                m = self.m[i].assign_add((g - self.m[i]) * (1 - b1))
                v = self.v[i].assign_add((tf.square(g) - self.v[i]) * (1 - b2))
                w.assign_sub(m * alpha / (tf.sqrt(v) + eps))


class Trainer:
    def __init__(self, ops, opt, x, y, batch_size: int, seed: int, strategy, gpu: bool):
        tf.random.set_seed(seed)
        self.strategy = strategy
        xla = self.strategy.compiler == "xla"
        bf16 = strategy.precision == "mixed bfloat16"
        self.net = Net(ops, tf.bfloat16 if bf16 else tf.float32)
        self.variables = self.net.variables_
        self.opt = Optimizer(*opt, self.variables)
        self.x, self.y = tf.constant(x), tf.constant(y, tf.int32)
        self.batch_size, self.seed = batch_size, seed
        self.per_call = self.strategy.steps_per_call
        # as Keras's TensorFlow trainer: the step a tf.function (XLA-compiled when jit), several
        # steps a graph tf.while_loop around it (autograph turns the tf.range loop into one)
        self.step_fn = tf.function(self._step, jit_compile=True if xla else None,
                                   reduce_retracing=True)
        self.steps_fn = tf.function(self._steps, reduce_retracing=True)
        self.logits_fn = tf.function(self.net.__call__, jit_compile=True if xla else None)
        self.loss = None
        self.jit = xla
        what = "tf.function(jit_compile=True) step" if xla else "tf.function step"
        if self.per_call > 1:
            what += f", {self.per_call} steps per tf.function call (a graph while loop)"
        if bf16:
            what += " in bfloat16"
        self.note = f"native tensorflow: {what}, hand-written Keras updates"
        self.steps = 0

    def _step(self, idx, seed):
        x, y = tf.gather(self.x, idx), tf.gather(self.y, idx)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                y, self.net(x, seed)))
        self.opt.apply(tape.gradient(loss, self.variables), self.variables)
        return loss

    def _steps(self, blocks, first):
        """``blocks[i]`` is the i-th batch's indices; the steps numbered from ``first``."""
        loss = tf.constant(0.0)
        for i in tf.range(tf.shape(blocks)[0]):
            loss = self.step_fn(blocks[i], tf.stack([tf.constant(self.seed, tf.int32), first + i]))
        return loss

    def sync(self) -> None:
        if self.loss is not None:
            self.loss.numpy()
        self.variables[-1].numpy()

    def train_epoch(self, perm: np.ndarray) -> None:
        bs = self.batch_size
        if self.per_call > 1:
            full = len(perm) // bs * bs
            blocks = perm[:full].astype(np.int32).reshape(-1, bs)
            for start in range(0, len(blocks), self.per_call):
                chunk = tf.constant(blocks[start:start + self.per_call])
                self.loss = self.steps_fn(chunk, tf.constant(self.steps + 1, tf.int32))
                self.steps += int(chunk.shape[0])
            perm = perm[full:]  # a short last batch, as Keras trains it: one more step
        perm = tf.constant(perm.astype(np.int32))
        for start in range(0, int(perm.shape[0]), bs):
            self.steps += 1
            self.loss = self.step_fn(perm[start:start + bs],
                                     tf.constant([self.seed, self.steps], tf.int32))

    def last_loss(self) -> float:
        return float(self.loss.numpy())

    def logits(self, x: np.ndarray) -> np.ndarray:
        return self.net(tf.constant(x)).numpy()

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.concatenate([self.logits_fn(tf.constant(x[s:s + EVAL_BATCH])).numpy().argmax(1)
                               for s in range(0, len(x), EVAL_BATCH)])
