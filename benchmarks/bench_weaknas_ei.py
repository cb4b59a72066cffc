"""Time of one full 1000-query WeakNAS-EI run on NB201 against the original's way of doing it.

    python -m benchmarks.bench_weaknas_ei [--queries 1000] [--threads 2] [predictor flags of weaknas]

Ours: the real search (``weaknas_ei``: 10 initial + 10 per iteration, an ensemble of 5 MLPs
trained as one batched model, EI over the whole space in one vectorised pass), timed end to end.

Baseline, measured in the same process and extrapolated (the original takes hours per run):
per iteration, 5 separate scikit-learn ``MLPRegressor`` (4 x 1000, Adam, batch 200, up to 100
epochs: the original's predictor), each predicting the whole space, then EI computed cell by cell
with scalar scipy calls (the original's list comprehension). Epoch time is measured at two
training-set sizes (2 epochs each) and taken as linear in the size; the EI loop is timed on a
sample of cells. The sum runs over the same sequence of training-set sizes as our run. The
original may stop a fit early on a loss plateau, so the baseline is an upper estimate; for
reference, the original code itself measured on this machine: about 2 to 2.4 hours per run.
"""
from __future__ import annotations

import argparse
import math
import time
import warnings

import numpy as np

from preprocessing.errors import cli_entry
from search_methods import weaknas
from search_methods.oracle import Oracle


def time_ours(bench, space, dataset: str, args) -> tuple[float, float, Oracle]:
    """(wall s, CPU s, oracle) of one run, after a short warm-up run (lazy imports, allocator)."""
    warm = Oracle(bench, dataset, max_queries=args.init_samples + args.batch, to_string=space.to_string)
    weaknas.search(space, warm, np.random.default_rng(1), args, None)
    oracle = Oracle(bench, dataset, max_queries=args.queries, to_string=space.to_string)
    wall, cpu = time.perf_counter(), time.process_time()
    weaknas.search(space, oracle, np.random.default_rng(0), args, None)
    return time.perf_counter() - wall, time.process_time() - cpu, oracle


def sklearn_epoch_seconds(X: np.ndarray, y: np.ndarray, n: int) -> float:
    """Seconds per training epoch of the original's 4 x 1000 MLPRegressor on n labelled cells."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    model = MLPRegressor(hidden_layer_sizes=(1000,) * 4, max_iter=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X[:n], y[:n])
    return (time.perf_counter() - start) / 2


def scalar_ei_seconds_per_cell(n_cells: int, rng: np.random.Generator) -> float:
    """The original's EI: one scalar scipy cdf/pdf call pair per cell, in a Python loop."""
    from scipy.stats import norm

    mean, std = rng.normal(size=n_cells), rng.uniform(0.1, 1.0, size=n_cells)
    start = time.perf_counter()
    gamma = [(0.0 - mean[i]) / std[i] for i in range(n_cells)]
    _ = [-std[i] * (gamma[i] * norm.cdf(gamma[i]) + norm.pdf(gamma[i])) for i in range(n_cells)]
    return (time.perf_counter() - start) / n_cells


def time_baseline(X_train: np.ndarray, y_train: np.ndarray, X_space: np.ndarray, sizes: list[int], members: int,
                  ei_sample: int) -> dict:
    """Extrapolated seconds of the original's fits, whole-space predictions and EI loop over ``sizes``."""
    from sklearn.neural_network import MLPRegressor

    small, large = min(100, len(y_train) // 2), len(y_train)
    per_epoch = {n: sklearn_epoch_seconds(X_train, y_train, n) for n in (small, large)}
    slope = (per_epoch[large] - per_epoch[small]) / (large - small)
    fit = sum(100 * max(per_epoch[small] + slope * (n - small), 0.0) for n in sizes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = MLPRegressor(hidden_layer_sizes=(1000,) * 4, max_iter=1).fit(X_train[:small], y_train[:small])
    start = time.perf_counter()
    model.predict(X_space)
    predict = time.perf_counter() - start
    ei = scalar_ei_seconds_per_cell(ei_sample, np.random.default_rng(0)) * len(X_space)
    return {"fit_s": members * fit, "predict_s": members * predict * len(sizes), "ei_s": ei * len(sizes)}


@cli_entry
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Time one full WeakNAS-EI run on NB201 vs the original's "
                                                 "per-member sklearn fits and per-cell EI loop (extrapolated).")
    parser.add_argument("--queries", type=int, default=1000, help="query budget of the run (default 1000)")
    parser.add_argument("--dataset", default="cifar10", help="NB201 dataset (default cifar10)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2: the whole 2-core CPU)")
    parser.add_argument("--ei-sample", type=int, default=1000,
                        help="cells the scalar EI loop is timed on, scaled to the space (default 1000)")
    parser.add_argument("--skip-baseline", action="store_true", help="time only our run")
    weaknas.add_arguments(parser)
    args = parser.parse_args(argv)
    args.method = "weaknas_ei"
    import torch

    from preprocessing.nasbench201 import NB201Space
    from preprocessing.nb201_table import load_embedded

    torch.set_num_threads(args.threads)
    bench, space = load_embedded(), NB201Space()
    ours, ours_cpu, oracle = time_ours(bench, space, args.dataset, args)
    print(f"ours: one {oracle.n_queries}-query weaknas_ei run ({args.ensemble} x MLP {args.hidden}, "
          f"{args.train_steps} full-batch steps, {args.threads} threads): {ours:.1f} s wall, {ours_cpu:.1f} s CPU "
          f"(final best test {oracle.trajectory[-1]['best_test']:.2f})")
    if args.skip_baseline:
        return
    n_fits = math.ceil((oracle.n_queries - args.init_samples) / args.batch)
    sizes = [args.init_samples + args.batch * i for i in range(n_fits)]
    keys, values = oracle.history()
    base = time_baseline(space.onehot(keys), values, space.onehot(), sizes, args.ensemble, args.ei_sample)
    total = sum(base.values())
    print(f"baseline (original: sklearn 4x1000 MLPs fitted one by one, per-cell EI loop), extrapolated: "
          f"{total:.0f} s = {total / 3600:.2f} h (fits {base['fit_s']:.0f} s, whole-space predictions "
          f"{base['predict_s']:.0f} s, EI loop {base['ei_s']:.0f} s)")
    print(f"speed-up: {total / ours:.0f}x")


if __name__ == "__main__":
    main()
