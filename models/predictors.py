"""Accuracy predictors: regressors from a flat architecture encoding to a (validation) accuracy.

One small interface, shared by every search method that needs a surrogate:

    predictor = make_predictor("mlp", hidden=(1000,) * 4)      # or MLPPredictor(...)
    predictor.fit(X, y, seed=0)           # X (n, d) float, y (n,) accuracies in any unit
    mean = predictor.predict(X_all)       # (N,) in the unit of y
    mean, std = ensemble.predict_dist(X_all)   # ensembles only: spread across members

Labels are standardised inside ``fit`` (mean 0, std 1 over the training labels) and predictions
are mapped back, so callers pass raw accuracies. ``fit`` always starts from a fresh random
initialisation drawn from ``seed``: the same (X, y, seed) gives the same predictor on CPU.

An ensemble of E MLPs is one :class:`StackedMLP` whose weights carry a leading member axis, so
training and scoring all members is one batched matmul per layer (``torch.baddbmm``), not E
separate models. Training is full-batch Adam for a fixed number of steps, which on the <= ~1000
labelled architectures of a NAS run is both faster and more reproducible than mini-batches.
"""
from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import torch
from torch import nn

from models.optim import LeanAdam
from preprocessing.errors import InputError

# The WeakNAS paper's MLP: 4 hidden layers of 1000 units.
PAPER_HIDDEN = (1000, 1000, 1000, 1000)


class Predictor(Protocol):
    """What a search method may rely on."""

    def fit(self, X: np.ndarray, y: np.ndarray, seed: int) -> "Predictor": ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...


class StackedMLP(nn.Module):
    """E independent ReLU MLPs evaluated together.

    Args:
        in_dim: input features d.
        hidden: hidden layer widths.
        n_members: E, the number of independent networks.
        generator: seeds the Glorot-uniform initialisation (biases start at 0).

    Shapes: ``forward(x)``: x (B, d) shared by all members -> (E, B) predictions.
    """

    def __init__(self, in_dim: int, hidden: tuple[int, ...], n_members: int, generator: torch.Generator):
        super().__init__()
        widths = (in_dim, *hidden, 1)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            bound = math.sqrt(6.0 / (fan_in + fan_out))
            weight = (torch.rand(n_members, fan_in, fan_out, generator=generator) * 2 - 1) * bound
            self.weights.append(nn.Parameter(weight))
            self.biases.append(nn.Parameter(torch.zeros(n_members, 1, fan_out)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self._first_layer(x)
        for weight, bias in zip(self.weights[1:], self.biases[1:]):
            h = torch.baddbmm(bias, torch.relu(h), weight)
        return h.squeeze(-1)

    @torch.no_grad()
    def score(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` without autograd, about 2x faster on CPU: ``baddbmm`` with a broadcast
        bias runs at about 60% of ``bmm``'s speed, so the bias and the ReLU are applied in place
        after a plain ``bmm``. Bit-identical where MKL adds the bias after the product (the machine
        of the earlier sessions); on AMD Zen 5 it differs from :meth:`forward` by float32 rounding
        (<= 1 ulp of the hidden units; tested)."""
        h = self._first_layer(x).contiguous()
        for weight, bias in zip(self.weights[1:], self.biases[1:]):
            h = torch.bmm(h.relu_(), weight).add_(bias)
        return h.squeeze(-1)

    def _first_layer(self, x: torch.Tensor) -> torch.Tensor:
        """(B, d) shared input -> (E, B, h1). One (B, d) x (d, E * h1) product: broadcasting ``x``
        against the (E, d, h1) weights would copy it E times and run E small products (7x slower)."""
        members, fan_in, width = self.weights[0].shape
        flat = self.weights[0].transpose(0, 1).reshape(fan_in, members * width)
        return (x @ flat).view(len(x), members, width).transpose(0, 1) + self.biases[0]


class MLPPredictor:
    """MLP regressor (``n_models=1``) or an ensemble of MLPs (``n_models>1``, adds :meth:`predict_dist`).

    Args:
        hidden: hidden widths (paper: 4 x 1000).
        n_models: ensemble members; each gets its own initialisation, all see the same data.
        steps: Adam steps per :meth:`fit`: full-batch steps, or with ``batch_size`` epochs.
        batch_size: if set and smaller than the labels, each step is an epoch of shuffled mini-batches of
            this size (sklearn's MLPRegressor, which WeakNAS used: min(200, n)); None = full batch.
        lr: Adam learning rate.
        weight_decay: L2 penalty (Adam ``weight_decay``).
        chunk: rows scored per forward pass in :meth:`predict` (bounds memory at
            ``n_models * chunk * max(hidden)`` floats).
        device: where the MLPs train and score (the seeded initialisation is drawn on the CPU first).
    """

    def __init__(self, hidden: tuple[int, ...] = PAPER_HIDDEN, n_models: int = 1, steps: int = 200,
                 lr: float = 1e-3, weight_decay: float = 0.0, chunk: int = 4096, device="cpu",
                 batch_size: int | None = None):
        hidden = tuple(int(h) for h in hidden)
        if not hidden or min(hidden) < 1:
            raise InputError(f"hidden widths must be positive integers, got {hidden}")
        if n_models < 1 or steps < 1 or chunk < 1 or (batch_size is not None and batch_size < 1):
            raise InputError("n_models, steps, chunk and batch_size must be at least 1")
        if lr <= 0 or weight_decay < 0:
            raise InputError("lr must be positive and weight_decay non-negative")
        self.hidden, self.n_models, self.steps = hidden, int(n_models), int(steps)
        self.lr, self.weight_decay, self.chunk = float(lr), float(weight_decay), int(chunk)
        self.device = torch.device(device)
        self.batch_size = None if batch_size is None else int(batch_size)
        self.model: StackedMLP | None = None
        self._y_mean = 0.0
        self._y_std = 1.0

    def fit(self, X: np.ndarray, y: np.ndarray, seed: int) -> "MLPPredictor":
        """Train from scratch on (X (n, d), y (n,)); returns self."""
        X = torch.as_tensor(np.asarray(X, dtype=np.float32))
        y = np.asarray(y, dtype=np.float64)
        if X.ndim != 2 or y.shape != (X.shape[0],) or len(y) == 0:
            raise InputError(f"fit needs X (n, d) and y (n,) with n >= 1, got {tuple(X.shape)} and {y.shape}")
        if not np.all(np.isfinite(y)):
            raise InputError("fit labels contain NaN or inf; drop those architectures first")
        self._y_mean = float(y.mean())
        # One label (or all equal) has no spread: keep the unit scale instead of dividing by 0.
        self._y_std = float(y.std()) if y.std() > 0 else 1.0
        target = torch.as_tensor((y - self._y_mean) / self._y_std, dtype=torch.float32)
        generator = torch.Generator().manual_seed(int(seed))
        self.model = StackedMLP(X.shape[1], self.hidden, self.n_models, generator).to(self.device)
        X, target = X.to(self.device), target.to(self.device)
        optimiser = LeanAdam(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        n = len(target)
        batch = n if self.batch_size is None else min(self.batch_size, n)
        for _ in range(self.steps):
            # Full batch: one step; mini-batches: one epoch over a seeded shuffle (the order is not used
            # when the batch is the whole set, so full-batch fits draw nothing and stay as they were).
            order = None if batch == n else torch.randperm(n, generator=generator).to(self.device)
            for start in range(0, n, batch):
                rows = slice(None) if order is None else order[start:start + batch]
                optimiser.zero_grad()
                # Sum over members of each member's MSE: the members' gradients stay independent.
                loss = ((self.model(X[rows]) - target[rows]) ** 2).mean(dim=1).sum()
                loss.backward()
                optimiser.step()
        return self

    @torch.no_grad()
    def predict_members(self, X: np.ndarray) -> np.ndarray:
        """(n_models, N) predictions of every member, in the unit of the training labels."""
        if self.model is None:
            raise InputError("predictor used before fit(); call fit(X, y, seed) first")
        X = torch.as_tensor(np.asarray(X, dtype=np.float32))
        out = torch.cat([self.model.score(X[i:i + self.chunk].to(self.device)) for i in range(0, len(X), self.chunk)], dim=1)
        return out.double().cpu().numpy() * self._y_std + self._y_mean

    def predict(self, X: np.ndarray) -> np.ndarray:
        """(N,) mean prediction over the members."""
        return self.predict_members(X).mean(axis=0)

    def predict_dist(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean (N,), std (N,)) across the ensemble members; needs ``n_models >= 2``."""
        if self.n_models < 2:
            raise InputError("predict_dist needs an ensemble: build the predictor with n_models >= 2")
        members = self.predict_members(X)
        return members.mean(axis=0), members.std(axis=0)


def make_predictor(name: str, **kwargs) -> MLPPredictor:
    """Build a predictor by name: 'mlp' (one MLP) or 'mlp_ensemble' (5 MLPs unless n_models is given)."""
    if name == "mlp":
        return MLPPredictor(**kwargs)
    if name == "mlp_ensemble":
        return MLPPredictor(**{"n_models": 5, **kwargs})
    raise InputError(f"unknown predictor {name!r}; available: {', '.join(PREDICTORS)}")


PREDICTORS = ("mlp", "mlp_ensemble")
