"""Adam as torch.optim.Adam computes it on CPU, without torch.optim's start-up cost.

torch.optim's optimisers import ``torch._dynamo`` the first time one is
built: over a second of CPU in every worker process and every in-process
run, for an update of six tensor operations. This is torch's single-tensor
Adam (no weight decay, no amsgrad), operation for operation, so training is
bit for bit what ``torch.optim.Adam`` gives (tests/test_models.py checks it).
"""

from __future__ import annotations

from typing import Iterable

import torch

__all__ = ["Adam"]


class Adam:
    """Adam (Kingma and Ba) with torch's defaults: betas (0.9, 0.999), eps 1e-8."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float | torch.Tensor,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        """``lr`` is one rate, or a tensor of rates shaped like each parameter (batched_torch.py: one
        flat parameter holding many models, each with its own rate)."""
        self.params = list(params)
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.steps = 0

    def zero_grad(self) -> None:
        for param in self.params:
            param.grad = None

    def step(self) -> None:
        self.steps += 1
        step_size = self.lr / (1 - self.beta1**self.steps)
        bias_correction2_sqrt = (1 - self.beta2**self.steps) ** 0.5
        with torch.no_grad():
            for param, exp_avg, exp_avg_sq in zip(self.params, self.exp_avg, self.exp_avg_sq, strict=True):
                grad = param.grad
                exp_avg.lerp_(grad, 1 - self.beta1)
                exp_avg_sq.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
                denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)
                if isinstance(step_size, torch.Tensor):  # a rate per element
                    param.sub_(exp_avg / denom * step_size)
                else:
                    param.addcdiv_(exp_avg, denom, value=-step_size)
