"""The PyTorch reference loop: ``torch.nn`` + ``torch.optim``, as PyTorch's tutorials train.

default: an eager loop (zero_grad, forward, ``F.cross_entropy`` on logits, backward, step).
tuned: the same loop over ``torch.compile(model)``, PyTorch's standard compiler (the forward
pass compiled; backward through its compiled graph, torch.optim eager).
step-compiled: ``torch.compile`` over the whole train step (zero_grad, batch gather, forward,
loss, backward, optimizer step), the scope Keras's ``jit_compile=True`` compiles.
bf16: the default loop with the forward pass under ``torch.autocast(dtype=torch.bfloat16)``
(PyTorch's mixed precision: float32 weights and updates, bfloat16 products; the loss in float32).
The optimizers take Keras's hyper-parameters explicitly (RMSprop alpha=rho=0.9, eps=1e-7;
Adam eps=1e-7). One difference is PyTorch's own: its RMSprop adds eps outside the square root,
Keras inside (sqrt(v + eps)); torch.optim has no switch for it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


ACT = {"linear": lambda x: x, "relu": F.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}
EVAL_BATCH = 1000


class Net(torch.nn.Module):
    """The Ops as a torch module; Keras weights converted to torch's layouts."""

    def __init__(self, ops):
        super().__init__()
        self.ops = ops
        self.weights_ = torch.nn.ParameterList()
        self.index = []  # per op: (kernel index, bias index or None) in weights_, or None
        for op in ops:
            if op.kind in ("dense", "conv2d"):
                kernel = op.weights[0]
                # Dense: (in, out) -> (out, in); Conv2D: (kh, kw, in, out) -> (out, in, kh, kw)
                kernel = kernel.T if op.kind == "dense" else kernel.transpose(3, 2, 0, 1)
                k = len(self.weights_)
                self.weights_.append(torch.nn.Parameter(torch.tensor(np.ascontiguousarray(kernel))))
                b = None
                if len(op.weights) > 1:
                    b = len(self.weights_)
                    self.weights_.append(torch.nn.Parameter(torch.tensor(op.weights[1])))
                self.index.append((k, b))
            else:
                self.index.append(None)

    def _wb(self, i):
        k, b = i
        return self.weights_[k], (None if b is None else self.weights_[b])

    def forward(self, x):
        nchw = False  # convolutions run channels-first, as torch expects; Flatten sees NHWC
        for op, i in zip(self.ops, self.index):
            if op.kind == "dense":
                if nchw:
                    x, nchw = x.permute(0, 2, 3, 1), False
                x = F.linear(x, *self._wb(i))
            elif op.kind == "conv2d":
                if not nchw:
                    x, nchw = x.permute(0, 3, 1, 2), True
                x = F.conv2d(x, *self._wb(i), padding=op.config["padding"])
            elif op.kind == "maxpool2d":
                x = F.max_pool2d(x, op.config["pool"], op.config["strides"])
            elif op.kind in ("flatten", "reshape"):
                if nchw:
                    x, nchw = x.permute(0, 2, 3, 1), False
                x = x.reshape(x.shape[0], -1) if op.kind == "flatten" \
                    else x.reshape(x.shape[0], *op.config["shape"])
            elif op.kind == "dropout":
                x = F.dropout(x, op.config["rate"], self.training)
            x = ACT[op.activation](x)
        return x


def make_optimizer(params, name: str, hp: dict):
    if name == "sgd":
        return torch.optim.SGD(params, lr=hp["learning_rate"])
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=hp["learning_rate"], alpha=hp["rho"],
                                   eps=hp["epsilon"])
    return torch.optim.Adam(params, lr=hp["learning_rate"], betas=(hp["beta_1"], hp["beta_2"]),
                            eps=hp["epsilon"])


class Trainer:
    """Trains the Ops on (x, y) held on the device, one epoch at a time."""

    def __init__(self, ops, opt, x, y, batch_size: int, seed: int, strategy, gpu: bool):
        torch.manual_seed(seed)
        self.strategy = strategy
        self.device = torch.device("cuda" if gpu else "cpu")
        self.bf16 = strategy.precision == "mixed bfloat16"
        compiled = strategy.compiler == "inductor"
        forward = compiled and strategy.scope == "forward"
        self.net = Net(ops).to(self.device)
        self.model = torch.compile(self.net) if forward else self.net
        self.opt = make_optimizer([p for p in self.net.parameters()], *opt)
        self.x = torch.tensor(x, device=self.device)
        self.y = torch.tensor(y, dtype=torch.long, device=self.device)
        self.batch_size = batch_size
        self.loss = None
        # step-compiled: torch.compile over the whole step (the batch gather, forward, loss,
        # backward, update), the scope Keras's jit_compile=True compiles on this backend
        self.step = torch.compile(self._step) if compiled and not forward else self._step
        self.jit = compiled
        self.note = ("native torch: torch.compile(model), torch.optim" if forward
                     else "native torch: torch.compile(train step), torch.optim"
                     if compiled
                     else "native torch: eager loop, torch.autocast(bfloat16), torch.optim" if self.bf16
                     else "native torch: eager loop, torch.optim")

    def _step(self, idx):
        self.opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self._forward(self.model, self.x[idx]), self.y[idx])
        loss.backward()
        self.opt.step()
        return loss

    def _forward(self, module, x):
        """Logits in float32; the products in bfloat16 under autocast for bf16 (the float32
        loop calls the module alone: nothing else enters its timed steps)."""
        if not self.bf16:
            return module(x)
        with torch.autocast(self.device.type, dtype=torch.bfloat16):
            return module(x).float()

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def train_epoch(self, perm: np.ndarray) -> None:
        self.net.train()
        perm = torch.as_tensor(perm, device=self.device)
        for start in range(0, len(perm), self.batch_size):
            self.loss = self.step(perm[start:start + self.batch_size])

    def last_loss(self) -> float:
        return float(self.loss.item())

    def logits(self, x: np.ndarray) -> np.ndarray:
        self.net.eval()
        with torch.no_grad():
            return self._forward(self.net, torch.as_tensor(x, device=self.device)).cpu().numpy()

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.net.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(x), EVAL_BATCH):
                xb = torch.as_tensor(x[start:start + EVAL_BATCH], device=self.device)
                # the eager module: evaluating through the compiled one would make torch.compile
                # re-specialise it for eval mode and shapes, a cost the next epoch would pay
                out.append(self._forward(self.net, xb).argmax(1).cpu().numpy())
        return np.concatenate(out)
