"""BANANAS (White et al., 2021): Bayesian optimisation with an ensemble of neural predictors.

Loop: query ``--initial`` random cells; then, until the budget is spent, train an ensemble of
``--ensemble`` MLPs on the path encodings (:mod:`search_methods.path_encoding`) of the queried
cells, draw ``--candidates`` unqueried cells by mutating the ``--parents`` best cells queried so
far, score each candidate by independent Thompson sampling (one draw from a normal with the
ensemble's mean and standard deviation for that candidate) and query the ``--batch`` best.
The ensemble members differ by their initialisation (as in the paper); all are trained together
as one batched network, with one torch thread, seeded from the run's generator.
"""
from __future__ import annotations

import numpy as np
import torch

from preprocessing.errors import InputError, require_at_least_one
from search_methods.evolution import random_unseen
from search_methods.oracle import BudgetExhausted
from search_methods.path_encoding import path_encoding

DESCRIPTION = "BANANAS: path encoding, MLP ensemble, independent Thompson sampling over mutations of the best cells"


def add_arguments(parser) -> None:
    parser.add_argument("--initial", type=int, default=10, help="random cells queried first (default 10, paper)")
    parser.add_argument("--batch", type=int, default=10,
                        help="cells queried per acquisition round (default 10, paper)")
    parser.add_argument("--candidates", type=int, default=100,
                        help="unqueried candidate cells scored per round (default 100, paper)")
    parser.add_argument("--parents", type=int, default=10,
                        help="the best queried cells that the candidates are mutated from (default 10)")
    parser.add_argument("--ensemble", type=int, default=5, help="MLPs in the ensemble (default 5, paper)")
    parser.add_argument("--layers", type=int, default=10, help="hidden layers per MLP (default 10, paper)")
    parser.add_argument("--width", type=int, default=20, help="units per hidden layer (default 20, paper)")
    parser.add_argument("--epochs", type=int, default=200, help="full-batch Adam steps per training (default 200)")
    parser.add_argument("--lr", type=float, default=0.01, help="Adam learning rate (default 0.01, paper)")


def prepare(args, benchmark, space) -> None:
    """Flag checks, before any run starts."""
    require_at_least_one(args, ("initial", "batch", "candidates", "parents", "ensemble", "layers", "width", "epochs"))
    if args.lr <= 0:
        raise InputError("--lr must be positive")


class MLPEnsemble:
    """``n`` ReLU MLPs (``layers`` hidden layers of ``width``) trained together: weights are stacked
    along a leading model axis, so one batched matmul runs every member. Training back-propagates by
    hand (no autograd graph): for nets this small, autograd's per-op bookkeeping is most of the cost."""

    def __init__(self, n: int, in_dim: int, layers: int, width: int, generator: torch.Generator):
        sizes = [in_dim] + [width] * layers + [1]
        shapes = [shape for fan_in, fan_out in zip(sizes[:-1], sizes[1:])
                  for shape in ((n, fan_in, fan_out), (n, 1, fan_out))]
        # One flat buffer for all parameters (and one for their gradients), so Adam is a few whole-buffer ops.
        self.params = torch.empty(sum(int(np.prod(shape)) for shape in shapes))
        self.grads = torch.zeros_like(self.params)
        views = lambda flat: [chunk.view(shape) for chunk, shape in  # noqa: E731
                              zip(torch.split(flat, [int(np.prod(shape)) for shape in shapes]), shapes)]
        tensors, grads = views(self.params), views(self.grads)
        self.weights, self.biases = tensors[0::2], tensors[1::2]
        self.grad_w, self.grad_b = grads[0::2], grads[1::2]
        for w, b in zip(self.weights, self.biases):
            bound = 1.0 / w.shape[1] ** 0.5  # torch.nn.Linear's default initialisation range
            w.copy_((torch.rand(w.shape, generator=generator) * 2 - 1) * bound)
            b.copy_((torch.rand(b.shape, generator=generator) * 2 - 1) * bound)
        self.n = n

    def _activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Input (broadcast to every member) and each layer's output; the last is (n, B, 1)."""
        out = [x.expand(self.n, *x.shape)]
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, out[-1], w)
            if i < len(self.weights) - 1:
                h.clamp_(min=0)
            out.append(h)
        return out

    @torch.no_grad()
    def fit(self, x: np.ndarray, y: np.ndarray, epochs: int, lr: float,
            betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        """Mean absolute error (the paper's loss) on all of (x, y) for every member, full-batch Adam."""
        inputs = torch.from_numpy(x)
        targets = torch.from_numpy(y.astype(np.float32))[None, :, None]
        first, second = torch.zeros_like(self.params), torch.zeros_like(self.params)
        for step in range(1, epochs + 1):
            acts = self._activations(inputs)
            grad = torch.sign(acts[-1] - targets) / len(x)  # d mean|error| / d output, per member
            for i in range(len(self.weights) - 1, -1, -1):
                torch.bmm(acts[i].transpose(1, 2), grad, out=self.grad_w[i])
                torch.sum(grad, 1, keepdim=True, out=self.grad_b[i])
                if i:
                    grad = torch.bmm(grad, self.weights[i].transpose(1, 2)) * (acts[i] > 0)
            first.mul_(betas[0]).add_(self.grads, alpha=1 - betas[0])
            second.mul_(betas[1]).addcmul_(self.grads, self.grads, value=1 - betas[1])
            denom = (second / (1 - betas[1] ** step)).sqrt_().add_(eps)
            self.params.addcdiv_(first, denom, value=-lr / (1 - betas[0] ** step))

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        """(B, D) -> (n, B) predictions."""
        return self._activations(torch.from_numpy(x))[-1].squeeze(-1).numpy()


def standardised(values: np.ndarray) -> np.ndarray:
    return (values - values.mean()) / (values.std() + 1e-8)


def fitted_ensemble(encode, keys: np.ndarray, values: np.ndarray, args, rng) -> MLPEnsemble:
    """An ensemble trained on the queried cells (targets standardised), seeded from ``rng``."""
    x = encode(keys)
    generator = torch.Generator().manual_seed(int(rng.integers(2**31)))
    ensemble = MLPEnsemble(args.ensemble, x.shape[1], args.layers, args.width, generator)
    ensemble.fit(x, standardised(values), args.epochs, args.lr)
    return ensemble


def _round_robin(pools: list[list[int]], found: dict[int, None], count: int) -> None:
    for rank in range(max((len(pool) for pool in pools), default=0)):
        for pool in pools:
            if rank < len(pool) and len(found) < count:
                found.setdefault(pool[rank])


def mutation_candidates(space, oracle, parents: np.ndarray, count: int, rng) -> np.ndarray:
    """Up to ``count`` distinct unqueried mutations of the parents: their one-edit neighbours, taken from
    each parent in turn (round robin, each parent's in random order); where those run out, two-edit
    ones (neighbours of as many of those neighbours as there are parents); then random unqueried
    cells. ``space.neighbours`` is called at most twice per parent (it is slow on some spaces)."""
    def shuffled_neighbours(key) -> list[int]:
        return [int(n) for n in rng.permutation(space.neighbours(key))]

    rings = [shuffled_neighbours(parent) for parent in parents]
    found: dict[int, None] = {}
    _round_robin([[n for n in ring if not oracle.seen(n)] for ring in rings], found, count)
    if len(found) < count:  # step on from the new cells (or, if there are none, from the queried neighbours)
        steps = (list(found) or [n for ring in rings for n in ring])[:len(parents)]
        _round_robin([[n for n in shuffled_neighbours(key) if not oracle.seen(n) and n not in found]
                      for key in steps], found, count)
    target = min(count, len(space) - oracle.n_queries)
    while len(found) < target:
        found.setdefault(int(random_unseen(space, oracle, rng)))
    return np.fromiter(found, dtype=np.int64, count=len(found))


def query_top(oracle, candidates: np.ndarray, scores: np.ndarray, batch: int) -> None:
    for index in np.argsort(-scores, kind="stable")[:batch]:
        oracle.query(candidates[index])


def search(space, oracle, rng, args, context) -> None:
    for _ in range(args.initial):
        oracle.query(random_unseen(space, oracle, rng))
    encode = lambda keys: path_encoding(space, keys)  # noqa: E731  (the space's cached table)
    while True:
        keys, values = oracle.history()
        parents = keys[np.argsort(-values, kind="stable")[:args.parents]]
        candidates = mutation_candidates(space, oracle, parents, args.candidates, rng)
        if len(candidates) == 0:
            raise BudgetExhausted  # every cell of the space is queried
        predictions = fitted_ensemble(encode, keys, values, args, rng).predict(encode(candidates))
        # Independent Thompson sampling: one normal draw per candidate from the ensemble's mean and spread.
        samples = rng.normal(predictions.mean(0), predictions.std(0))
        query_top(oracle, candidates, samples, args.batch)
