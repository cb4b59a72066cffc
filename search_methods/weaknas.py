"""WeakNAS (Wu et al., NeurIPS 2021): a sequence of weak predictors, each focused on the predicted top.

Each iteration fits a fresh predictor (an MLP on the flat encoding, labels standardised) to every
architecture queried so far, scores every unqueried cell (or, for spaces larger than
``--score-pool``, a uniform sample of that many), and queries the next batch:

* ``weaknas``: uniformly at random from the unqueried cells among the predicted top-N of all cells
  (the best-ranked unqueried cells when fewer than a batch are left there); N follows the paper's
  exponential decay schedule from ``--top-start`` to ``--top-end`` (constant 100 by default).
* ``weaknas_ei``: an ensemble of MLPs gives a mean and a spread per cell; the batch is the cells of
  highest expected improvement over the best label so far (spread divided by ``--ei-calibration``,
  5 as in the original).

Differences from the original code (VITA-Group/WeakNAS): labels are standardised over the queried
architectures only (the original used the mean and std of the whole table); EI uses the best label
so far as the incumbent (the original used the worst); the ensemble is trained as one batched model
with full-batch Adam. The best-so-far in our logs counts only queried architectures (the
original's notebooks also counted the predictor's unqueried top-1).

The original's NB201 protocol, as flags: ``--hidden 1000 1000 1000 1000 --train-steps 100 --lr 1e-3
--weight-decay 1e-4 --fit-batch 200`` (sklearn's MLPRegressor: 100 Adam epochs in batches of 200, L2
1e-4; its early stop on a flat training loss is not reproduced), ``--signal seed`` (one random
training seed's validation per architecture) and ``--queries 1000``; init 10, batch 10 and a
constant top-100 pool are the defaults. Its labels were standardised over the whole table, which
only rescales what the predictor here standardises over the queried cells anyway.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

from models.predictors import MLPPredictor
from preprocessing.errors import InputError, require_at_least_one

DESCRIPTION = "WeakNAS: iterated weak MLP predictors, uniform sampling from the predicted top-N"
SCHEDULE_QUERIES = 1000  # the paper's max_sample: schedule length when no query budget is set


def add_arguments(parser) -> None:
    parser.add_argument("--init-samples", type=int, default=10,
                        help="random architectures queried before the first predictor (paper: 10 on NB201, "
                             "100 on NB101; default 10)")
    parser.add_argument("--batch", type=int, default=10,
                        help="architectures queried per iteration (paper: 10; default 10)")
    parser.add_argument("--top-start", type=int, default=100,
                        help="top-N pool size at the first iteration (default 100)")
    parser.add_argument("--top-end", type=int, default=100,
                        help="top-N pool size at the last iteration (default 100 = no decay)")
    parser.add_argument("--top-decay", type=float, default=0.96,
                        help="base of the exponential top-N decay, in (0, 1) (paper: 0.96)")
    parser.add_argument("--hidden", type=int, nargs="+", default=[128] * 4,
                        help="MLP hidden widths (default 128 128 128 128, the setting of the reported grids, "
                             "about 20x cheaper; paper: 1000 1000 1000 1000 with --train-steps 100 --lr 1e-3 "
                             "--weight-decay 1e-4 --fit-batch 200)")
    parser.add_argument("--train-steps", type=int, default=50,
                        help="full-batch Adam steps per predictor fit (default 50)")
    parser.add_argument("--lr", type=float, default=0.01, help="Adam learning rate of the predictor (default 0.01)")
    parser.add_argument("--weight-decay", type=float, default=0.0,
                        help="L2 penalty of the predictor's Adam (default 0; the original's sklearn MLP: 1e-4)")
    parser.add_argument("--fit-batch", type=int, default=0,
                        help="if > 0: each of --train-steps is an epoch of shuffled mini-batches of this many "
                             "labels (the original's sklearn MLP: 200, so 100 epochs); default 0 = full batch")
    parser.add_argument("--ensemble", type=int, default=5,
                        help="MLPs in the weaknas_ei ensemble (paper: 5; ignored by weaknas)")
    parser.add_argument("--ei-calibration", type=float, default=5.0,
                        help="weaknas_ei: the ensemble spread is divided by this before EI (original: 5)")
    parser.add_argument("--score-pool", type=int, default=100_000,
                        help="score every unqueried cell when there are at most this many, else a uniform "
                             "sample of this many per iteration (NB101); default 100000")


def top_n_schedule(n_iterations: int, start: int, end: int, decay: float) -> np.ndarray:
    """Top-N pool size per iteration: exponential decay from ``start`` to ``end`` (the paper's scheduler).

    The decay curve ``decay ** x`` over x in [0, 99] is rescaled to run exactly from start to end,
    so the schedule's shape does not depend on the number of iterations.
    """
    if n_iterations < 1:
        raise InputError("the top-N schedule needs at least one iteration")
    if not 0 < decay < 1:
        raise InputError(f"--top-decay must be in (0, 1), got {decay}")
    if n_iterations == 1:
        return np.array([start])
    curve = decay ** np.linspace(0, 99, n_iterations)
    curve = (curve - curve.min()) / (curve.max() - curve.min())
    return (curve * (start - end) + end).astype(int)


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """EI of each candidate over the incumbent ``best`` (maximisation), Gaussian belief (mean, std)."""
    std = np.maximum(std, 1e-12)
    z = (mean - best) / std
    return std * (z * norm.cdf(z) + norm.pdf(z))


def check_args(args) -> None:
    require_at_least_one(args, ("init_samples", "batch", "top_start", "top_end", "train_steps", "score_pool"))
    if args.top_end > args.top_start:
        raise InputError(f"--top-end ({args.top_end}) must not exceed --top-start ({args.top_start})")
    if args.ensemble < 2 and args.method == "weaknas_ei":
        raise InputError("--ensemble must be at least 2 for weaknas_ei (the spread needs two members)")
    if args.ei_calibration <= 0 or args.lr <= 0:
        raise InputError("--ei-calibration and --lr must be positive")
    if args.weight_decay < 0 or args.fit_batch < 0:
        raise InputError(f"--weight-decay ({args.weight_decay}) and --fit-batch ({args.fit_batch}) must not be "
                         "negative (0 = off)")
    if args.ensemble < 1 or not 0 < args.top_decay < 1:
        raise InputError("--ensemble must be at least 1 and --top-decay in (0, 1)")


def prepare(args, benchmark, space) -> None:
    check_args(args)  # bad flags fail once in the parent, before any worker starts


class WeakNAS:
    """One WeakNAS run over a generic space (``keys()``, ``onehot(keys)``) and oracle.

    ``acquisition`` is ``"uniform"`` (``weaknas``) or ``"ei"`` (``weaknas_ei``). ``iterations``
    records, per iteration, the keys queried in it (iteration 0 = the random initial sample).
    """

    def __init__(self, space, oracle, rng: np.random.Generator, args, acquisition: str):
        check_args(args)
        self.space, self.oracle, self.rng, self.args = space, oracle, rng, args
        self.acquisition = acquisition
        self.keys = np.asarray(space.keys())
        self._sorter = np.argsort(self.keys)
        # Small spaces (NB201): encode every cell once; large ones encode each iteration's sample.
        self.features = space.onehot() if len(self.keys) <= args.score_pool else None
        self.queried = np.zeros(len(self.keys), dtype=bool)
        self.predictor = MLPPredictor(hidden=tuple(args.hidden), steps=args.train_steps, lr=args.lr,
                                      n_models=args.ensemble if acquisition == "ei" else 1,
                                      weight_decay=args.weight_decay, batch_size=args.fit_batch or None,
                                      device=getattr(args, "device", "cpu"))
        budget = oracle.max_queries if oracle.max_queries is not None else SCHEDULE_QUERIES
        n_iterations = max(1, math.ceil((min(budget, len(self.keys)) - args.init_samples) / args.batch))
        self.top_n = top_n_schedule(n_iterations, args.top_start, args.top_end, args.top_decay)
        self.iterations: list[np.ndarray] = []

    def positions(self, keys) -> np.ndarray:
        return self._sorter[np.searchsorted(self.keys, keys, sorter=self._sorter)]

    def encode(self, positions: np.ndarray) -> np.ndarray:
        return self.features[positions] if self.features is not None else self.space.onehot(self.keys[positions])

    def query(self, positions: np.ndarray) -> None:
        """Query in order, marking each cell as it is paid for (BudgetExhausted propagates)."""
        self.iterations.append(self.keys[positions])
        for pos in positions:
            self.oracle.query(self.keys[pos])
            self.queried[pos] = True

    def candidates(self) -> np.ndarray:
        unqueried = np.flatnonzero(~self.queried)
        if len(unqueried) > self.args.score_pool:
            unqueried = np.sort(self.rng.choice(unqueried, size=self.args.score_pool, replace=False))
        return unqueried

    def next_batch(self, iteration: int) -> np.ndarray:
        """Fit a fresh predictor on every queried cell and choose the next batch (positions)."""
        keys, values = self.oracle.history()
        self.predictor.fit(self.encode(self.positions(keys)), values, seed=int(self.rng.integers(2**31)))
        pool = self.candidates()
        size = min(self.args.batch, len(pool))
        if self.acquisition == "ei":
            mean, std = self.predictor.predict_dist(self.encode(pool))
            score = expected_improvement(mean, std / self.args.ei_calibration, best=float(values.max()))
            return pool[np.argsort(-score, kind="stable")[:size]]
        # The paper's pool: the predicted top-N of all cells, queried ones included, minus those
        # queried. As the search closes in, the top fills with queried cells and the pool shrinks.
        ranked = np.concatenate([np.flatnonzero(self.queried), pool])
        ranked = ranked[np.argsort(-self.predictor.predict(self.encode(ranked)), kind="stable")]
        n_top = self.top_n[min(iteration, len(self.top_n) - 1)]
        top = ranked[:n_top][~self.queried[ranked[:n_top]]]
        if len(top) >= size:
            return self.rng.choice(top, size=size, replace=False)
        return ranked[~self.queried[ranked]][:size]  # too few left in the top-N: the best-ranked unqueried

    def run(self) -> None:
        """Query until the oracle's budget (or the space) is exhausted."""
        n_init = min(self.args.init_samples, len(self.keys))
        self.query(self.rng.choice(len(self.keys), size=n_init, replace=False))
        iteration = 0
        # Stop before fitting a predictor whose batch could not be paid for.
        while not self.queried.all() and not self.oracle.exhausted:
            self.query(self.next_batch(iteration))
            iteration += 1


def search(space, oracle, rng, args, context) -> WeakNAS:
    """The ``weaknas`` / ``weaknas_ei`` entry point of the protocol runner (``args.method`` picks)."""
    acquisition = "ei" if args.method == "weaknas_ei" else "uniform"
    weaknas = WeakNAS(space, oracle, rng, args, acquisition)
    weaknas.run()
    return weaknas
