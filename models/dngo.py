"""DNGO (Snoek et al., ICML 2015): a neural network's last hidden layer as basis functions for
Bayesian linear regression -- the surrogate of arch2vec's BO search.

    model = DNGO(lambda: BasisRegressor(tanh_mlp(16, (50, 50, 50)), 50))
    model.fit(x, y, seed=0)          # x: (N, ...) float tensor, y: (N,) accuracies
    mean, std = model.predict(x_all) # predictive mean and std (noise included), unit of y

Fitting (1) trains the whole network (basis + linear head) on standardised targets by MSE with
mini-batch Adam, from a fresh initialisation drawn from ``seed``; (2) drops the head and fits a
:class:`~models.bayesian_linear_regression.BayesianLinearRegression` on the basis functions
(plus a constant), its precisions alpha / beta tuned by maximising the marginal likelihood.
The input may be anything the network's body accepts with the batch on dim 0 (embeddings
(N, d); graphs (N, nodes, types) for the supervised GIN body).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from models.bayesian_linear_regression import BayesianLinearRegression
from models.device import move
from models.optim import LeanAdam
from preprocessing.errors import InputError

# pybnn's DNGO network: 3 tanh hidden layers of 50 units.
PYBNN_HIDDEN = (50, 50, 50)


def tanh_mlp(in_dim: int, hidden: tuple[int, ...] = PYBNN_HIDDEN) -> nn.Sequential:
    """Linear-tanh stack (in_dim -> hidden...); its output (B, hidden[-1]) is the basis."""
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip((in_dim, *hidden[:-1]), hidden):
        layers += [nn.Linear(fan_in, fan_out), nn.Tanh()]
    return nn.Sequential(*layers)


class BasisRegressor(nn.Module):
    """body: x -> (B, n_basis) basis functions; a linear head maps them to one output (B,)."""

    def __init__(self, body: nn.Module, n_basis: int):
        super().__init__()
        self.body = body
        self.head = nn.Linear(n_basis, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).squeeze(-1)


class DNGO:
    """Neural basis functions + Bayesian linear regression.

    Args:
        make_network: builds a fresh :class:`BasisRegressor` (called under the fit seed); the network trains and
            computes the basis on the device it is built on (the data follow it), the BLR runs in numpy.
        epochs / batch_size / lr: Adam training of the network; ``batch_size=None`` = full batch
            (pybnn: 100 epochs of batches of 10, lr 0.01).
        optimize_hypers: tune the BLR precisions by marginal likelihood (else alpha=1, beta=1000
            on the standardised targets, pybnn's fixed defaults).
        warm_epochs: 0 = every fit trains a fresh network for ``epochs``; > 0 = only the first fit
            does, later fits continue the previous network for ``warm_epochs`` (fresh Adam state).
        chunk: rows per forward pass in :meth:`predict` (1024: a GIN body's activations of 1024 cells stay
            in the L2 cache; 1.3x faster scoring than 4096).
    """

    def __init__(self, make_network: Callable[[], BasisRegressor], epochs: int = 100, batch_size: int | None = None,
                 lr: float = 0.01, optimize_hypers: bool = True, chunk: int = 1024, warm_epochs: int = 0):
        if epochs < 1 or (batch_size is not None and batch_size < 1) or chunk < 1 or lr <= 0 or warm_epochs < 0:
            raise InputError("DNGO needs epochs, batch_size and chunk >= 1, warm_epochs >= 0 and a positive lr")
        self.make_network = make_network
        self.epochs, self.batch_size, self.lr = int(epochs), batch_size, float(lr)
        self.optimize_hypers = optimize_hypers
        self.chunk = int(chunk)
        self.warm_epochs = int(warm_epochs)
        self.network: BasisRegressor | None = None
        self.blr: BayesianLinearRegression | None = None
        self._y_mean, self._y_std = 0.0, 1.0

    def fit(self, x: torch.Tensor, y: np.ndarray, seed: int) -> "DNGO":
        y = np.asarray(y, dtype=np.float64)
        if len(x) != len(y) or len(y) < 2:
            raise InputError(f"DNGO.fit needs at least 2 points and as many targets as inputs, got {len(x)} / {len(y)}")
        self._y_mean = float(y.mean())
        self._y_std = float(y.std()) if y.std() > 0 else 1.0
        target = torch.as_tensor((y - self._y_mean) / self._y_std, dtype=torch.float32)
        generator = torch.Generator().manual_seed(int(seed))
        epochs = self.epochs
        if self.warm_epochs and self.network is not None:
            epochs = self.warm_epochs
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(seed))
                self.network = self.make_network()
        optimiser = LeanAdam(self.network.parameters(), lr=self.lr)
        self.network.train()
        batch = len(y) if self.batch_size is None else min(self.batch_size, len(y))
        x_on, target_on = self._on_network(x), self._on_network(target)  # once, not per step
        for _ in range(epochs):
            order = self._on_network(torch.randperm(len(y), generator=generator))
            # pybnn drops the last incomplete batch; every point is still seen over the epochs
            for start in range(0, len(y) - batch + 1, batch):
                rows = order[start:start + batch]
                optimiser.zero_grad()
                loss = torch.mean((self.network(x_on[rows]) - target_on[rows]) ** 2)
                loss.backward()
                optimiser.step()
        self.blr = BayesianLinearRegression(optimize=self.optimize_hypers).fit(self.basis(x), target.numpy())
        return self

    @torch.no_grad()
    def basis(self, x: torch.Tensor) -> np.ndarray:
        """(N, n_basis + 1) basis functions of the trained network plus a constant column."""
        if self.network is None:
            raise InputError("DNGO used before fit()")
        self.network.eval()
        phi = torch.cat([self.network.body(self._on_network(x[i:i + self.chunk])) for i in range(0, len(x), self.chunk)])
        return np.concatenate([phi.double().cpu().numpy(), np.ones((len(phi), 1))], axis=1)

    def _on_network(self, value):
        return move(value, next(self.network.parameters()).device)

    def predict(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(mean (N,), std (N,)) of the predictive distribution, in the unit of the training targets."""
        mean, std = self.blr.predict(self.basis(x))
        return mean * self._y_std + self._y_mean, std * self._y_std
