"""The two update rules the (B)LSTM trains with, written out: SGD with momentum (the paper's)
and Adam (the workflow's default).

They compute what ``torch.optim.SGD`` and ``torch.optim.Adam`` (single-tensor implementation,
default betas and eps) compute, step for step (``tests/test_rnn.py`` compares them). They exist
because constructing any ``torch.optim`` optimiser imports the TorchDynamo compiler (sympy and
all), about 1.4 s per training job on this project's 2-core machines, for a few lines of
arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch


class _UpdateRule:
    """The trainable parameters a rule updates, and the reset of their gradients."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.lr = lr

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None


class SGD(_UpdateRule):
    """``p -= lr * v`` with ``v = momentum * v + grad`` (``v = grad`` at the first step)."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float,
                 momentum: float = 0.0) -> None:
        super().__init__(params, lr)
        self.momentum = momentum
        self._velocity: list[torch.Tensor | None] = [None] * len(self.params)

    @torch.no_grad()
    def step(self) -> None:
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            grad = p.grad
            if self.momentum != 0:
                v = self._velocity[i]
                if v is None:
                    v = self._velocity[i] = grad.clone()
                else:
                    v.mul_(self.momentum).add_(grad)
                grad = v
            p.add_(grad, alpha=-self.lr)


class Adam(_UpdateRule):
    """Adam (Kingma & Ba 2015) with bias correction, betas (0.9, 0.999), eps 1e-8."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        super().__init__(params, lr)
        self.betas, self.eps = betas, eps
        self._steps = [0] * len(self.params)
        self._mean = [torch.zeros_like(p) for p in self.params]
        self._square = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self) -> None:
        beta1, beta2 = self.betas
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            grad = p.grad
            self._steps[i] += 1
            t = self._steps[i]
            mean, square = self._mean[i], self._square[i]
            mean.lerp_(grad, 1 - beta1)
            square.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            step_size = self.lr / (1 - beta1 ** t)
            denom = (square.sqrt() / math.sqrt(1 - beta2 ** t)).add_(self.eps)
            p.addcdiv_(mean, denom, value=-step_size)
