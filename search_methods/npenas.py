"""NPENAS (Wei et al., 2022): neural-predictor-guided evolutionary search (the NPENAS-NP variant).

Loop: query ``--initial`` random cells; then, until the budget is spent, the ``--parents`` best
queried cells are mutated into up to ``--candidates`` unqueried cells (their one-edit neighbours,
round robin; further mutations where those run out), a graph neural predictor trained on the
queried cells scores every candidate, and the ``--batch`` best are queried.

The predictor is a GIN over ``space.graphs`` (node-type one-hot features, messages along the
edges in both directions, mean over the cell's nodes, a linear read-out), trained from scratch
each round with full-batch Adam on the standardised accuracies (mean squared error), its weights
drawn from a generator seeded by the run, with one torch thread.
"""
from __future__ import annotations

import numpy as np
import torch

from preprocessing.errors import InputError, require_at_least_one
from search_methods.bananas import mutation_candidates, query_top, standardised
from search_methods.evolution import random_unseen
from search_methods.oracle import BudgetExhausted

DESCRIPTION = "NPENAS: evolution whose mutated candidates are filtered by a GIN accuracy predictor"


def add_arguments(parser) -> None:
    parser.add_argument("--initial", type=int, default=10, help="random cells queried first (default 10)")
    parser.add_argument("--batch", type=int, default=10, help="cells queried per round (default 10)")
    parser.add_argument("--candidates", type=int, default=200,
                        help="unqueried mutated candidates the predictor scores per round (default 200)")
    parser.add_argument("--parents", type=int, default=10,
                        help="the best queried cells that the candidates are mutated from (default 10)")
    parser.add_argument("--gin-layers", type=int, default=3, help="GIN message-passing layers (default 3)")
    parser.add_argument("--gin-width", type=int, default=32, help="GIN hidden units (default 32)")
    parser.add_argument("--epochs", type=int, default=100, help="full-batch Adam steps per training (default 100)")
    parser.add_argument("--lr", type=float, default=0.01, help="Adam learning rate (default 0.01)")


def prepare(args, benchmark, space) -> None:
    """Flag checks, before any run starts."""
    require_at_least_one(args, ("initial", "batch", "candidates", "parents", "gin_layers", "gin_width", "epochs"))
    if args.lr <= 0:
        raise InputError("--lr must be positive")


class GINPredictor:
    """Dense GIN: h <- MLP(h + sum of in- and out-neighbours' h), ``layers`` times; prediction =
    linear(mean of the node states over the nodes that have a type)."""

    def __init__(self, n_types: int, layers: int, width: int, generator: torch.Generator):
        shapes = []
        for i in range(layers):
            shapes += [(n_types if i == 0 else width, width), (width,), (width, width), (width,)]
        shapes += [(width, 1), (1,)]
        self.shapes = shapes
        # One flat leaf tensor holds every weight (the layers are views of it), so Adam steps one tensor.
        chunks = []
        for weight_shape, bias_shape in zip(shapes[0::2], shapes[1::2]):
            bound = 1.0 / weight_shape[0] ** 0.5  # torch.nn.Linear's default initialisation range
            for shape in (weight_shape, bias_shape):
                chunks.append((torch.rand(int(np.prod(shape)), generator=generator) * 2 - 1) * bound)
        self.flat = torch.cat(chunks).requires_grad_()

    def parameters(self) -> list[torch.Tensor]:
        return [self.flat]

    def _unpacked(self) -> list[torch.Tensor]:
        sizes = [int(np.prod(shape)) for shape in self.shapes]
        return [chunk.view(shape) for chunk, shape in zip(torch.split(self.flat, sizes), self.shapes)]

    def forward(self, adjacency: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """(B, N, N), (B, N, T) -> (B,) predictions."""
        params = self._unpacked()
        # Self plus in- and out-neighbours: one matrix, one batched product per layer.
        neighbourhood = adjacency + adjacency.transpose(1, 2) + torch.eye(adjacency.shape[1])
        h = types
        for i in range(0, len(params) - 2, 4):
            w1, b1, w2, b2 = params[i:i + 4]
            h = torch.relu(torch.relu(torch.bmm(neighbourhood, h) @ w1 + b1) @ w2 + b2)
        real = types.sum(-1, keepdim=True)  # 1 for a typed node, 0 for padding
        pooled = (h * real).sum(1) / real.sum(1).clamp(min=1)
        w, b = params[-2:]
        return (pooled @ w + b).squeeze(-1)

    def fit(self, adjacency: torch.Tensor, types: torch.Tensor, y: np.ndarray, epochs: int, lr: float) -> None:
        targets = torch.from_numpy(y.astype(np.float32))
        optimizer = torch.optim.Adam(self.parameters(), lr=lr)
        for _ in range(epochs):
            optimizer.zero_grad()
            ((self.forward(adjacency, types) - targets) ** 2).mean().backward()
            optimizer.step()

    @torch.no_grad()
    def predict(self, adjacency: torch.Tensor, types: torch.Tensor) -> np.ndarray:
        return self.forward(adjacency, types).numpy()


def graph_tensors(space, keys) -> tuple[torch.Tensor, torch.Tensor]:
    adjacency, types = space.graphs(keys)
    return torch.from_numpy(np.ascontiguousarray(adjacency)), torch.from_numpy(np.ascontiguousarray(types))


def search(space, oracle, rng, args, context) -> None:
    for _ in range(args.initial):
        oracle.query(random_unseen(space, oracle, rng))
    while True:
        keys, values = oracle.history()
        parents = keys[np.argsort(-values, kind="stable")[:args.parents]]
        candidates = mutation_candidates(space, oracle, parents, args.candidates, rng)
        if len(candidates) == 0:
            raise BudgetExhausted  # every cell of the space is queried
        adjacency, types = graph_tensors(space, keys)
        generator = torch.Generator().manual_seed(int(rng.integers(2**31)))
        predictor = GINPredictor(types.shape[-1], args.gin_layers, args.gin_width, generator)
        predictor.fit(adjacency, types, standardised(values), args.epochs, args.lr)
        query_top(oracle, candidates, predictor.predict(*graph_tensors(space, candidates)), args.batch)
