"""How predictable is each NB201 optimum from the rest of the table? A ceiling for queries-to-optimum.

    python -m benchmarks.optimum_predictability [--thetas 0.3 1 2] [--noises 0.001 0.03 0.3] [--folds 5]

A model-guided search finds the best-by-valid cell once its model ranks it above the unqueried cells it has
not ruled out. Here the model knows as much as a model can: it is fitted to *every other* cell of the table.

* ``table_bo``'s GP (kernel ``exp(-theta x differing edges)``, rank-normal targets) fitted to all 15,624 other
  cells: the exact leave-one-out posterior mean of every cell. NB201's grid of 5 ops on 6 edges makes the kernel
  matrix a Kronecker product of six 5x5 matrices, so ``(K + noise I)^-1`` and its diagonal come from their
  eigendecompositions (the leave-one-out mean of cell i is ``y_i - alpha_i / [(K + noise I)^-1]_ii``).
* gradient-boosted trees (xgboost) on the one-hot encoding, k-fold: each cell predicted by a model trained on
  the other folds (80% of the table with 5 folds).
* the other datasets' whole tables (MetaD2A's transfer, with NB201's own answers as the source tasks): cells
  ranked by another dataset's validation accuracy, and by the sum of their ranks on all the other datasets.

Printed per dataset and model: the optimum's rank among all cells by the prediction (1 = the model's top
cell), and the ranks of the table's 2nd-5th cells. A rank r means that even this model puts r - 1 cells ahead
of the optimum, so a search led by a model fitted to far fewer answers needs about as many queries among the
top candidates; README "Queries to the optimum" reads it against the moonshot's 60.
"""
from __future__ import annotations

import argparse

import numpy as np

from scipy.stats import rankdata

from preprocessing.errors import InputError, cli_entry
from search_methods import run
from search_methods.table_bo import rank_scores


def _kron_apply(factors: list[np.ndarray], grid: np.ndarray) -> np.ndarray:
    """(F_1 x ... x F_m) applied to a tensor of shape (d_1, ..., d_m), one axis at a time."""
    for axis, factor in enumerate(factors):
        grid = np.moveaxis(np.tensordot(factor, grid, axes=([1], [axis])), 0, axis)
    return grid


def loo_gp_means(targets: np.ndarray, theta: float, noise: float) -> np.ndarray:
    """Exact leave-one-out GP posterior means over a full product grid.

    ``targets`` has shape (d_1, ..., d_m): one value per combination of m discrete coordinates (NB201:
    (5,) * 6, edge ops). Kernel ``exp(-theta x differing coordinates)`` (the product over coordinates of
    ``exp(-theta [a != b])``), prior mean 0, noise variance ``noise``. Returns the same shape: the mean of each
    cell under the GP fitted to all the other cells.
    """
    eigvecs, eigvals = [], []
    for size in targets.shape:
        factor = np.full((size, size), np.exp(-theta))
        np.fill_diagonal(factor, 1.0)
        w, q = np.linalg.eigh(factor)
        eigvals.append(w)
        eigvecs.append(q)
    spectrum = np.ones(targets.shape)
    for axis, w in enumerate(eigvals):
        spectrum = spectrum * w.reshape([-1 if a == axis else 1 for a in range(targets.ndim)])
    inverse_spectrum = 1.0 / (spectrum + noise)
    alpha = _kron_apply(eigvecs, inverse_spectrum * _kron_apply([q.T for q in eigvecs], targets))
    inverse_diagonal = _kron_apply([q * q for q in eigvecs], inverse_spectrum)  # diag of (K + noise I)^-1
    return targets - alpha / inverse_diagonal


def rank_of(prediction: np.ndarray, cell: int) -> int:
    """1 + the number of cells predicted strictly higher than ``cell``."""
    return int((prediction > prediction[cell]).sum()) + 1


def xgboost_cv(features: np.ndarray, values: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    """Out-of-fold predictions of gradient-boosted trees (600 trees, depth 6, one thread: deterministic)."""
    import xgboost

    fold = np.random.default_rng(seed).integers(folds, size=len(values))
    prediction = np.empty(len(values))
    for k in range(folds):
        train = fold != k
        model = xgboost.XGBRegressor(n_estimators=600, max_depth=6, learning_rate=0.05, subsample=0.8,
                                     random_state=seed, n_jobs=1)
        model.fit(features[train], values[train])
        prediction[~train] = model.predict(features[~train])
    return prediction


@cli_entry
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.optimum_predictability",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--thetas", type=float, nargs="+", default=[0.3, 1.0, 2.0],
                        help="GP kernel scales to try (default 0.3 = table_bo's, 1, 2)")
    parser.add_argument("--noises", type=float, nargs="+", default=[1e-3, 0.03, 0.3],
                        help="GP noise variances to try, in units of the targets (default 0.001 = table_bo's, "
                             "0.03, 0.3)")
    parser.add_argument("--folds", type=int, default=5, help="xgboost folds (default 5); 0 = skip xgboost")
    args = parser.parse_args(argv)
    if min(args.thetas) <= 0 or min(args.noises) <= 0:
        raise InputError("--thetas and --noises must be positive")
    if args.folds == 1 or args.folds < 0:
        raise InputError(f"--folds {args.folds}: give 0 (skip) or at least 2")
    setup = run.load_search_setup("nb201", None)
    space = setup.space
    if len(space) != len(space.op_codes):
        raise InputError("this needs the full NB201 table (every cell measured)")
    n_ops, n_edges = int(space.op_codes.max()) + 1, space.op_codes.shape[1]
    # grid position of each cell: its op codes as coordinates, in C order
    grid_index = np.ravel_multi_index(tuple(space.op_codes.T.astype(np.int64)), (n_ops,) * n_edges)
    for dataset in setup.datasets:
        valid = np.asarray(setup.benchmark.metrics(dataset).valid_mean, dtype=float)
        order = np.argsort(-valid, kind="stable")
        optimum, runners_up = int(order[0]), order[1:5]
        grid = np.empty(len(valid))
        grid[grid_index] = rank_scores(valid)
        for theta in args.thetas:
            for noise in args.noises:
                loo = loo_gp_means(grid.reshape((n_ops,) * n_edges), theta, noise).reshape(-1)[grid_index]
                print(f"{dataset}: GP theta {theta:g} noise {noise:g}, leave-one-out: optimum rank "
                      f"{rank_of(loo, optimum)}; 2nd-5th cells {[rank_of(loo, c) for c in runners_up]}", flush=True)
        others = [d for d in setup.datasets if d != dataset]
        source = {d: np.asarray(setup.benchmark.metrics(d).valid_mean, dtype=float) for d in others}
        summed = sum(rankdata(v) for v in source.values())
        transfer = "; ".join(f"by {d}'s table {rank_of(v, optimum)}" for d, v in source.items())
        print(f"{dataset}: other datasets: optimum rank {transfer}; by the sum of their ranks "
              f"{rank_of(summed, optimum)}", flush=True)
        if args.folds:
            oof = xgboost_cv(space.onehot(), valid, args.folds)
            print(f"{dataset}: xgboost {args.folds}-fold: optimum rank {rank_of(oof, optimum)}; 2nd-5th cells "
                  f"{[rank_of(oof, c) for c in runners_up]}", flush=True)


if __name__ == "__main__":
    main()
