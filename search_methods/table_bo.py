"""Table BO: a Gaussian-process predictor that scores every cell each query, plus local exploitation.

Built for queries-to-optimum (how soon the best cell is queried), from parts of the project's methods:

* WeakNAS's loop: refit the predictor on every answer so far and score the *whole* table (all
  unqueried cells) each iteration; but one query per refit (``--batch 1``), because every answer
  changes where the optimum probably is.
* arch2vec-BO / GMAE-NAS's Bayesian head, exact instead of on a learned feature layer: a GP with a
  squared-exponential kernel on the flat encoding, ``k(x, x') = exp(-theta * |x - x'|^2 / 2)``.
  On NB201's one-hot encoding ``|x - x'|^2 / 2`` is the number of differing edges, so the kernel
  is a weighted sum of interactions of every order between edge ops. Fixed hyperparameters
  (``--theta``, ``--noise``): no per-step optimisation, so the Cholesky factor grows by one row
  per query (O(n N) per step for n answers and N cells).
* GMAE-NAS's point that only the ranking matters: the GP is fitted to the rank-normal scores of the
  answers (``--targets rank``), so the many near-zero cells do not dominate the fit.
* A local phase (as in local search / NPENAS's mutations): while the ``--local-top`` best answered
  cells have unqueried neighbours (one-op edits), the next query is the best-scored of those;
  only then does the search jump to the best-scored cell anywhere. Near the top, differences
  between cells are smaller than any predictor's error, so the neighbourhood is where the
  optimum is found.

* Op similarity (``--similar-ops A B --similar-cost C``): the kernel's distance counts a change
  between two ops named similar (NB201's 1x1 and 3x3 convolutions) as C of an edit instead of a
  whole one. Features are then built from the space's graph codec (upper-triangle adjacency bits and
  each node's op embedded so that ``|v_a - v_b|^2 / 2`` is C between similar ops and 1 otherwise);
  without the flag the flat encoding is used as before (on NB201 and NB101 the same distances).
  Why it was tried: over NB201 the two convolutions are the most interchangeable pair of ops.
  Measured (README, moonshot section): no better than whole-edit costs over 48 seeds, so off by default.

* An escape (``--escape S``): after S queries in a row without a new best answer, one query is the
  best cell of a *joint* sample of the GP posterior over the whole table (Thompson sampling), then
  the search returns to the posterior mean. The sample is exact: where cells differ only in their
  node ops (NB201), the prior is a Kronecker product of one small matrix per node, so a prior
  sample over all cells costs a few tensor products, and Matheron's rule turns it into a posterior
  sample with the Cholesky factor the GP already keeps. Why: the mean never queries a cell the
  answers so far rate low, so a run in a basin a few coordinated edits from the optimum stays there.
  Measured (README): recovers most cifar10 runs that miss the optimum, off by default.

Acquisition (``--acquisition``): posterior mean (``mean``), expected improvement over the best
answer (``ei``) or an upper confidence bound ``mean + kappa * std`` (``ucb``).
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular
from scipy.stats import norm

from preprocessing.errors import InputError, require_at_least_one
from search_methods.weaknas import expected_improvement

DESCRIPTION = "Table BO: GP on the flat encoding scoring every cell per query, rank targets, local phase"
ACQUISITIONS = ("mean", "ei", "ucb")
TARGETS = ("rank", "standard")


def add_arguments(parser) -> None:
    parser.add_argument("--init-samples", type=int, default=10,
                        help="random cells queried before the first fit (default 10)")
    parser.add_argument("--batch", type=int, default=1, help="cells queried per refit (default 1)")
    parser.add_argument("--theta", type=float, default=0.3,
                        help="kernel inverse length scale: k = exp(-theta * |x - x'|^2 / 2); on NB201 "
                             "exp(-theta * differing edges) (default 0.3)")
    parser.add_argument("--noise", type=float, default=1e-3,
                        help="GP noise variance, in units of the (unit-variance) targets (default 1e-3)")
    parser.add_argument("--targets", choices=TARGETS, default="rank",
                        help="what the GP fits: rank = normal scores of the answers' ranks (default); "
                             "standard = standardised accuracies")
    parser.add_argument("--acquisition", choices=ACQUISITIONS, default="mean",
                        help="score of a cell: posterior mean (default), ei (expected improvement over "
                             "the best answer) or ucb (mean + kappa * std)")
    parser.add_argument("--kappa", type=float, default=1.0, help="ucb: weight of the posterior std (default 1)")
    parser.add_argument("--local-top", type=int, default=2,
                        help="local phase: query the best-scored unqueried neighbour of the best LOCAL_TOP "
                             "answers while there is one; 0 = no local phase (default 2)")
    parser.add_argument("--local-max", type=int, default=12,
                        help="local phase: leave an answer's neighbourhood once this many of its neighbours "
                             "are queried; 0 = all of them (default 12, half of an NB201 cell's 24)")
    parser.add_argument("--similar-ops", nargs="+", metavar="OP", default=None,
                        help="op names (of the space's node types, e.g. nor_conv_1x1 nor_conv_3x3 on NB201, "
                             "conv1x1-bn-relu conv3x3-bn-relu on NB101) whose mutual changes cost --similar-cost "
                             "of an edit in the kernel distance (default: none, every change costs 1)")
    parser.add_argument("--similar-cost", type=float, default=0.25,
                        help="with --similar-ops: kernel distance of a change between two of those ops, in edits, "
                             "0 < C <= 1 (default 0.25)")
    parser.add_argument("--escape", type=int, default=0, metavar="S",
                        help="after S queries in a row without a new best answer, query the best cell of one joint "
                             "GP posterior sample over all cells (Thompson sampling); needs a space whose cells "
                             "differ only in node ops (NB201); 0 = never (default 0)")
    parser.add_argument("--score-pool", type=int, default=100_000,
                        help="global phase: score every unqueried cell when there are at most this many, "
                             "else a uniform sample of this many (default 100000)")


def check_args(args) -> None:
    if args.escape < 0:
        raise InputError("--escape must be 0 or more")
    require_at_least_one(args, ("init_samples", "batch", "score_pool"))
    if args.local_top < 0 or args.local_max < 0:
        raise InputError("--local-top and --local-max must be 0 or more")
    if args.theta <= 0 or args.noise <= 0:
        raise InputError("--theta and --noise must be positive")
    if args.kappa < 0:
        raise InputError("--kappa must not be negative")
    if not 0 < args.similar_cost <= 1:
        raise InputError("--similar-cost must be in (0, 1]")
    if args.similar_ops is not None and len(set(args.similar_ops)) < 2:
        raise InputError("--similar-ops needs at least two different op names")


def op_embedding(space, similar_ops=None, similar_cost: float = 1.0) -> np.ndarray:
    """(T, T + 1) rows = the node types' vectors: ``e_a``, or ``sqrt(1 - C) g + sqrt(C) e_a`` for a similar op."""
    types = list(space.node_types)
    unknown = [op for op in similar_ops or () if op not in types]
    if unknown:
        raise InputError(f"--similar-ops: {', '.join(unknown)} not an op of the {space.name} space "
                         f"(its ops: {', '.join(types)})")
    embedding = np.concatenate([np.eye(len(types)), np.zeros((len(types), 1))], axis=1)  # last column: g
    for op in similar_ops or ():
        row = types.index(op)
        embedding[row, row], embedding[row, -1] = np.sqrt(similar_cost), np.sqrt(1.0 - similar_cost)
    return embedding


def kernel_features(space, similar_ops=None, similar_cost: float = 1.0) -> np.ndarray:
    """(N, D) features whose ``|x - x'|^2 / 2`` is the kernel distance between cells (edits).

    Without ``similar_ops``: the space's flat encoding. With them: the graph codec's upper-triangle
    adjacency bits and one embedded op per node, where op ``a`` maps to the unit vector ``e_a``
    unless it is one of the similar ops, which map to ``sqrt(1 - C) g + sqrt(C) e_a`` (``g`` shared):
    a change between two similar ops then costs C, any other change 1, as in the one-hot encoding.
    """
    if similar_ops is None:
        return space.onehot()
    if getattr(space, "cells_per_arch", 1) != 1:
        raise InputError(f"--similar-ops needs a space of one cell per architecture; the {space.name} space has "
                         f"{space.cells_per_arch}")
    embedding = op_embedding(space, similar_ops, similar_cost)
    adjacency, ops = space.graphs()
    rows, cols = np.triu_indices(adjacency.shape[1], k=1)
    return np.concatenate([adjacency[:, rows, cols], (ops @ embedding).reshape(len(ops), -1)], axis=1)


def prepare(args, benchmark, space) -> None:
    check_args(args)  # bad flags fail once in the parent, before any worker starts
    if args.similar_ops is not None or args.escape:
        embedding = op_embedding(space, args.similar_ops, args.similar_cost)  # unknown op names
        if args.escape:
            ProductPrior(space, args.theta, embedding)  # a space whose cells differ in wiring too


def rank_scores(y: np.ndarray) -> np.ndarray:
    """Normal scores of the ranks of ``y`` (ties broken by order): a monotone, outlier-free target."""
    ranks = np.argsort(np.argsort(y, kind="stable"), kind="stable")
    return norm.ppf((ranks + 0.5) / len(y))


class ProductPrior:
    """Exact joint samples of the GP prior over every cell of a space whose cells differ only in node ops.

    The kernel ``exp(-theta * distance)`` with a distance that sums over nodes is a product of one
    kernel per node, so over the grid of all op combinations its covariance is the Kronecker product
    of small per-node matrices ``A_j``: a sample is ``(L_1 x ... x L_m) z``, applied one axis at a time;
    the cells are then read off the grid (a subset of a product grid is sampled exactly too).
    """

    def __init__(self, space, theta: float, embedding: np.ndarray):
        if getattr(space, "cells_per_arch", 1) != 1:
            raise InputError(f"--escape needs one cell per architecture; the {space.name} space has "
                             f"{space.cells_per_arch}")
        adjacency, ops = space.graphs()
        if not np.all(adjacency == adjacency[:1]):
            raise InputError(f"--escape needs a space whose cells differ only in node ops (NB201); the {space.name} "
                             f"space's cells differ in their wiring too")
        types = ops.argmax(-1)
        varying = np.flatnonzero(np.any(types != types[:1], axis=0))
        sq = ((embedding[:, None] - embedding[None]) ** 2).sum(-1) / 2  # per-node distance between types
        self.index, self.factors = [], []
        for node in varying:
            alphabet, index = np.unique(types[:, node], return_inverse=True)
            self.index.append(index)
            kernel = np.exp(-theta * sq[np.ix_(alphabet, alphabet)])
            self.factors.append(np.linalg.cholesky(kernel + 1e-10 * np.eye(len(alphabet))))

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """(N,) one draw of the prior at every cell."""
        grid = rng.normal(size=tuple(len(f) for f in self.factors))
        for axis, factor in enumerate(self.factors):
            grid = np.moveaxis(np.tensordot(factor, grid, axes=([1], [axis])), 0, axis)
        return grid[tuple(self.index)]


class IncrementalGP:
    """GP with fixed hyperparameters over a fixed finite set of cells, one observation at a time.

    ``features`` (N, d) are all cells (rows = positions); :meth:`add` appends an observed position
    and extends the Cholesky factor L of K + noise I by one row; the posterior over all N cells is
    then O(n N). Targets are passed at :meth:`posterior` time, so they may be re-transformed freely.
    """

    def __init__(self, features: np.ndarray, theta: float, noise: float, capacity: int = 64, with_std: bool = True):
        self.features = np.asarray(features, dtype=np.float64)
        self.sq_norms = (self.features ** 2).sum(1)
        self.theta, self.noise, self.with_std = float(theta), float(noise), with_std
        self.positions: list[int] = []
        self.k_cells = np.empty((capacity, len(self.features)))  # row i: k(x_i, every cell)
        # Rows of L^-1 K(observed, cells), for the std; half the cost of a step, so only kept when asked for.
        self.v_cells = np.empty_like(self.k_cells) if with_std else None
        self.chol = np.zeros((capacity, capacity))

    def _grow(self) -> None:
        """Double the capacity (amortised O(1) per observation; a run's budget need not be known)."""
        n = len(self.positions)
        for name in ("k_cells", "v_cells") if self.with_std else ("k_cells",):
            old = getattr(self, name)
            setattr(self, name, np.concatenate([old, np.empty_like(old)]))
        chol = np.zeros((2 * n, 2 * n))
        chol[:n, :n] = self.chol
        self.chol = chol

    def _kernel_row(self, position: int) -> np.ndarray:
        sq = self.sq_norms + self.sq_norms[position] - 2.0 * self.features @ self.features[position]
        return np.exp(-0.5 * self.theta * np.maximum(sq, 0.0))

    def add(self, position: int) -> None:
        n = len(self.positions)
        if n == len(self.chol):
            self._grow()
        row = self._kernel_row(position)
        cross = row[self.positions]  # k(x_new, observed)
        l_row = solve_triangular(self.chol[:n, :n], cross, lower=True) if n else np.zeros(0)
        diag = np.sqrt(max(1.0 + self.noise - l_row @ l_row, 1e-12))
        self.chol[n, :n], self.chol[n, n] = l_row, diag
        self.k_cells[n] = row
        if self.with_std:
            self.v_cells[n] = (row - l_row @ self.v_cells[:n]) / diag
        self.positions.append(int(position))

    def _solve(self, values: np.ndarray) -> np.ndarray:
        chol = self.chol[:len(self.positions), :len(self.positions)]
        return solve_triangular(chol.T, solve_triangular(chol, values, lower=True), lower=False)

    def posterior_sample(self, targets: np.ndarray, prior: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(N,) a joint posterior sample from a joint prior sample ``prior`` (Matheron's rule)."""
        noise = np.sqrt(self.noise) * rng.normal(size=len(self.positions))
        return prior + self._solve(targets - prior[self.positions] - noise) @ self.k_cells[:len(self.positions)]

    def posterior(self, targets: np.ndarray, with_std: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """(mean (N,), std (N,) or None) at every cell given the observed targets (in add order)."""
        n = len(self.positions)
        mean = self._solve(targets) @ self.k_cells[:n]
        if not with_std:
            return mean, None
        if not self.with_std:
            raise InputError("this GP was built without the std (with_std=False)")
        var = 1.0 - np.einsum("ij,ij->j", self.v_cells[:n], self.v_cells[:n])
        return mean, np.sqrt(np.maximum(var, 1e-12))


class TableBO:
    """One run over a generic space (``keys()``, ``onehot()``, ``neighbours(key)``) and oracle."""

    def __init__(self, space, oracle, rng: np.random.Generator, args):
        check_args(args)
        self.space, self.oracle, self.rng, self.args = space, oracle, rng, args
        self.keys = np.asarray(space.keys())
        self._sorter = np.argsort(self.keys)
        self.queried = np.zeros(len(self.keys), dtype=bool)
        self._neighbours: dict[int, np.ndarray] = {}  # NB101's neighbours() hashes graphs: ask once per cell
        budget = oracle.max_queries if oracle.max_queries is not None else 64
        features = kernel_features(space, args.similar_ops, args.similar_cost)
        self.prior = (ProductPrior(space, args.theta, op_embedding(space, args.similar_ops, args.similar_cost))
                      if args.escape else None)
        self.since_best, self.best = 0, -np.inf  # queries in a row without a new best answer
        self.gp = IncrementalGP(features, args.theta, args.noise, capacity=max(1, min(budget, len(self.keys))),
                                with_std=args.acquisition != "mean")

    def positions(self, keys) -> np.ndarray:
        return self._sorter[np.searchsorted(self.keys, keys, sorter=self._sorter)]

    def query(self, position: int) -> None:
        """Pay for one cell (BudgetExhausted propagates) and add its answer to the GP."""
        value = self.oracle.query(self.keys[position])
        self.queried[position] = True
        self.gp.add(position)
        self.since_best = 0 if value > self.best else self.since_best + 1
        self.best = max(self.best, value)

    def targets(self) -> np.ndarray:
        _, values = self.oracle.history()
        return rank_scores(values) if self.args.targets == "rank" else (values - values.mean()) / (values.std() or 1.0)

    def scores(self) -> np.ndarray:
        targets = self.targets()
        acquisition = self.args.acquisition
        mean, std = self.gp.posterior(targets, with_std=acquisition != "mean")
        if acquisition == "ei":
            return expected_improvement(mean, std, best=float(targets.max()))
        if acquisition == "ucb":
            return mean + self.args.kappa * std
        return mean

    def neighbour_positions(self, key: int) -> np.ndarray:
        if key not in self._neighbours:
            self._neighbours[key] = self.positions(self.space.neighbours(key))
        return self._neighbours[key]

    def local_candidates(self) -> np.ndarray:
        """Unqueried neighbours of the best ``--local-top`` answers (positions)."""
        if self.args.local_top == 0:
            return np.zeros(0, dtype=np.int64)
        keys, values = self.oracle.history()
        near = [self.neighbour_positions(int(k)) for k in keys[np.argsort(-values, kind="stable")[:self.args.local_top]]]
        if self.args.local_max:
            near = [n for n in near if self.queried[n].sum() < self.args.local_max]
        near = np.unique(np.concatenate(near)) if near else np.zeros(0, dtype=np.int64)
        return near[~self.queried[near]]

    def global_candidates(self) -> np.ndarray:
        unqueried = np.flatnonzero(~self.queried)
        if len(unqueried) > self.args.score_pool:
            unqueried = np.sort(self.rng.choice(unqueried, size=self.args.score_pool, replace=False))
        return unqueried

    def next_batch(self) -> np.ndarray:
        if self.args.escape and self.since_best >= self.args.escape:
            self.since_best = 0
            sample = self.gp.posterior_sample(self.targets(), self.prior.sample(self.rng), self.rng)
            unqueried = np.flatnonzero(~self.queried)
            return unqueried[np.argsort(-sample[unqueried], kind="stable")[:1]]
        score = self.scores()
        local = self.local_candidates()
        pool = local if len(local) else self.global_candidates()
        return pool[np.argsort(-score[pool], kind="stable")[:self.args.batch]]

    def run(self) -> None:
        n_init = min(self.args.init_samples, len(self.keys))
        for position in self.rng.choice(len(self.keys), size=n_init, replace=False):
            self.query(int(position))
        while not self.queried.all() and not self.oracle.exhausted:
            for position in self.next_batch():
                self.query(int(position))


def search(space, oracle, rng, args, context) -> TableBO:
    """The ``table_bo`` entry point of the protocol runner."""
    bo = TableBO(space, oracle, rng, args)
    bo.run()
    return bo
