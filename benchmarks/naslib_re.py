"""NASLib's regularized evolution as NASLib runs it, against this project's tuned ``evolution``, same seeds.

    python -m benchmarks.naslib_re [--seeds 0-99] [--evaluations 150]

NASLib's RE (``naslib/optimizers/discrete/re``, NB201 defaults, as read there): the first 30 evaluations are
uniformly random cells (repeats possible), then each evaluation mutates the best of 10 population members
drawn *with replacement* (one uniformly chosen edge gets another op) and the population keeps the 30 youngest;
a cell evaluated twice costs two of the 150 evaluations, so a run sees about 120 distinct cells. The final
cell is the best by validation. This project's runner never spends a query twice, so this semantics is not
a runner method: the loop below drives the same oracle and counts its evaluations itself. NB201 only: on the
embedded NB-101 sample a mutation is one of a cell's few measured neighbours, so this loop would mostly repeat
cells (42 distinct of 150), which says nothing about NASLib's NB-101 RE.

Per dataset it prints both methods' mean test accuracy of the final cell with std and the 95% bootstrap
interval (``plot_scripts.stats``), the difference of the means with its interval, how many runs queried the
table's best-by-valid cell, the mean number of distinct cells NASLib's runs saw, and the share of random
subsets of 5 distinct NASLib runs whose mean reaches the anchor (the 5-seed figures in ``shared/ANCHORS.md``).
"""
from __future__ import annotations

import argparse
from collections import deque

import numpy as np

from plot_scripts.stats import describe, format_cell
from preprocessing.errors import InputError, cli_entry
from search_methods import run

ANCHORS = {"cifar10": 94.37, "cifar100": 73.35}  # NASLib's RE, 5 seeds, measured on this table (ANCHORS.md)
SUBSETS = 10_000


def naslib_re(space, oracle, rng: np.random.Generator, evaluations: int, population: int = 30,
              sample_size: int = 10) -> int:
    """One NASLib RE run; returns the key of its best-by-valid cell. Repeats are free for the oracle
    (it answers from memory) but count here as one of ``evaluations``."""
    members: deque = deque(maxlen=population)
    for step in range(evaluations):
        if step < population:
            key = space.sample(rng)
        else:
            parent = max((members[int(rng.integers(len(members)))] for _ in range(sample_size)), key=lambda kv: kv[1])
            key = space.mutate(parent[0], rng)
        members.append((int(key), oracle.query(key)))
    keys, values = oracle.history()
    return int(keys[int(np.argmax(values))])


def subset_share(values: np.ndarray, anchor: float, rng: np.random.Generator, size: int = 5) -> float:
    """Share of random ``size``-run subsets (distinct runs) whose mean, to two decimals, is >= anchor."""
    subsets = np.argsort(rng.random((SUBSETS, len(values))), axis=1)[:, :size]
    means = values[subsets].mean(axis=1)
    return float(np.mean(np.round(means, 2) >= anchor))


def difference_ci(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """95% percentile-bootstrap interval of mean(a) - mean(b), each resampled on its own (different runs)."""
    diffs = (a[rng.integers(len(a), size=(SUBSETS, len(a)))].mean(axis=1)
             - b[rng.integers(len(b), size=(SUBSETS, len(b)))].mean(axis=1))
    low, high = np.quantile(diffs, [0.025, 0.975])
    return float(low), float(high)


def compare_dataset(setup, dataset: str, seeds_text: str, evaluations: int) -> dict:
    """Final accuracies of NASLib's RE and of the tuned default ``evolution`` on the same seeds."""
    metrics = setup.benchmark.metrics(dataset)
    test = np.asarray(metrics.test_mean, dtype=float)
    optimum = int(np.nanargmax(np.asarray(metrics.valid_mean, dtype=float)))
    seeds = run.parse_seeds(seeds_text)
    naslib, distinct, naslib_found = [], [], 0
    for seed in seeds:
        oracle = setup.make_oracle(dataset, "mean", np.random.default_rng([seed, 1]), evaluations, None, None)
        best = naslib_re(setup.space, oracle, np.random.default_rng(seed), evaluations)
        naslib.append(test[best])
        distinct.append(oracle.n_queries)
        naslib_found += oracle.seen(optimum)
    args, module = run.parse_args(["--method", "evolution", "--space", setup.space.name, "--seeds", seeds_text,
                                   "--queries", str(evaluations)])
    tuned, tuned_found = [], 0
    optimum_string = setup.space.to_string(optimum)
    for seed in seeds:
        log = run.run_one(args, module, None, dataset, seed)
        tuned.append(log["final"]["best_test"])
        tuned_found += any(step["arch"] == optimum_string for step in log["trajectory"])
    return {"naslib": np.asarray(naslib), "distinct": float(np.mean(distinct)), "naslib_found": naslib_found,
            "tuned": np.asarray(tuned), "tuned_found": tuned_found}


@cli_entry
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.naslib_re", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0-99", help="seeds, as the runner's --seeds (default 0-99, README's)")
    parser.add_argument("--evaluations", type=int, default=150,
                        help="evaluations per run, repeats included (default 150, NASLib's NB201 setting); the "
                             "tuned evolution gets as many distinct queries")
    args = parser.parse_args(argv)
    if args.evaluations < 31:
        raise InputError(f"--evaluations {args.evaluations}: give more than NASLib's population of 30")
    n_seeds = len(run.parse_seeds(args.seeds))
    setup = run.load_search_setup("nb201", None)
    for dataset in setup.datasets:
        out = compare_dataset(setup, dataset, args.seeds, args.evaluations)
        naslib, tuned = describe(out["naslib"]), describe(out["tuned"])
        line = (f"{dataset}: NASLib RE {format_cell(naslib)} (optimum {out['naslib_found']}/{n_seeds}, "
                f"{out['distinct']:.1f} distinct cells) | evolution {format_cell(tuned)} (optimum "
                f"{out['tuned_found']}/{n_seeds}) | difference {tuned['mean'] - naslib['mean']:+.3f} "
                "[{:+.3f}, {:+.3f}]".format(*difference_ci(out["tuned"], out["naslib"], np.random.default_rng(0))))
        if dataset in ANCHORS:
            share = subset_share(out["naslib"], ANCHORS[dataset], np.random.default_rng(0))
            line += f" | 5-run subsets of NASLib RE at >= {ANCHORS[dataset]}: {100 * share:.0f}%"
        print(line, flush=True)


if __name__ == "__main__":
    main()
