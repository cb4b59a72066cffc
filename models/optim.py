"""Adam for the small networks a search fits hundreds of times (DNGO bodies, MLP predictors).

``torch.optim.Adam(fused=True)`` spends most of a step on bookkeeping when the network is small:
each call re-collects the parameters' state, groups the tensors by device and dtype, and adds 1 to
one step counter per tensor; the update itself is one ``torch._fused_adam_`` call. :class:`LeanAdam`
collects the state once and keeps one step counter that every tensor shares (their steps are always
equal), then calls the same kernel with the same arguments, so the parameters come out bit-identical
to torch's (tested). Measured on the CPU for 38 tensors of 32 x 32: 340 -> 52 us per step.
"""
from __future__ import annotations

import torch
from torch import nn


class LeanAdam:
    """Adam (L2 ``weight_decay`` as in ``torch.optim.Adam``, not AdamW) over one parameter group.

    Every parameter must receive a gradient at every step (torch's Adam would skip the ones without
    and count their steps apart; the searches' networks use all their parameters).
    """

    def __init__(self, params, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        self.params: list[nn.Parameter] = list(params)
        if not self.params:
            raise ValueError("LeanAdam needs at least one parameter")
        self.lr, self.betas, self.eps, self.weight_decay = float(lr), betas, float(eps), float(weight_decay)
        self._values = [p.detach() for p in self.params]
        self._exp_avgs = [torch.zeros_like(v) for v in self._values]
        self._exp_avg_sqs = [torch.zeros_like(v) for v in self._values]
        self._step = torch.zeros((), dtype=torch.float32, device=self._values[0].device)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        grads = [p.grad for p in self.params]
        if any(g is None for g in grads):
            raise RuntimeError("LeanAdam.step: a parameter received no gradient; use torch.optim.Adam for "
                               "networks that leave some parameters out of the loss")
        self._step.add_(1)
        torch._fused_adam_(self._values, grads, self._exp_avgs, self._exp_avg_sqs, [],
                           [self._step] * len(self._values), amsgrad=False, lr=self.lr, beta1=self.betas[0],
                           beta2=self.betas[1], weight_decay=self.weight_decay, eps=self.eps, maximize=False,
                           grad_scale=None, found_inf=None)
