"""Regularized evolution's settings swept in one process: each run is the runner's (``run.run_one``: same
search, seed, oracle), its log is summarised and dropped instead of written.

    python -m benchmarks.sweep_evolution_variants [--space nb201] [--seeds 1000-1299] [--queries 150]
        [--settings FILE]                    (one setting a line: evolution flags; '#' starts a comment)

Prints per setting and dataset: the mean test accuracy of the best-by-valid cell (validation where the table
has no test), the mean validation, and how many runs queried the table's best-by-valid cell. The default
settings are README "Baselines"' variant sweep. A grid of 300 seeds x 3 NB201 datasets takes about 15 CPU-s
per setting (variants that often exhaust a neighbourhood, ``--parent best`` / ``--removal worst``, several times that).
"""
from __future__ import annotations

import argparse
import shlex
import time

import numpy as np

from preprocessing.errors import InputError, cli_entry
from search_methods import run

SETTINGS = """
--population 10 --tournament 10
--population 20 --tournament 20
--population 10 --tournament 10 --edits 2
--population 10 --tournament 10 --edits 3
--population 10 --tournament 10 --edits 1.25 --edit-law geometric
--population 10 --tournament 10 --edits 1.5 --edit-law geometric
--population 10 --tournament 10 --edits 2 --edit-law geometric
--population 10 --tournament 10 --edits 1.25 --edit-law poisson
--population 10 --tournament 10 --edits 1.5 --edit-law poisson
--population 10 --tournament 10 --edits 2 --edit-law poisson
--population 20 --tournament 20 --edits 1.25 --edit-law geometric
--population 20 --tournament 20 --edits 1.25 --edit-law poisson
--population 10 --tournament 10 --parent best
--population 10 --tournament 10 --parent best --initial 5
--population 10 --tournament 10 --parent best --initial 20
--population 10 --tournament 10 --tournament-draw replace
--population 10 --tournament 15 --tournament-draw replace
--population 10 --tournament 20 --tournament-draw replace
--population 10 --tournament 30 --tournament-draw replace
--population 8 --tournament 16 --tournament-draw replace
--population 15 --tournament 30 --tournament-draw replace
--population 20 --tournament 40 --tournament-draw replace
--population 30 --tournament 60 --tournament-draw replace
--population 10 --tournament 20 --tournament-draw replace --edits 1.25 --edit-law geometric
--population 10 --tournament 20 --tournament-draw replace --initial 20
--population 10 --tournament 10 --removal worst
--population 20 --tournament 10 --removal worst
--population 50 --tournament 10 --removal worst
--population 30 --tournament 5 --removal worst
--population 20 --tournament 5 --removal worst
--population 20 --tournament 3 --removal worst
--population 10 --tournament 10 --initial 5
--population 10 --tournament 10 --initial 20
--population 10 --tournament 10 --initial 30
--population 10 --tournament 10 --initial 50
--population 20 --tournament 20 --initial 30
--population 5 --tournament 5
--population 5 --tournament 5 --initial 10
"""


def read_settings(path: str | None) -> list[list[str]]:
    text = SETTINGS
    if path is not None:
        try:
            with open(path) as handle:
                text = handle.read()
        except OSError as exc:
            raise InputError(f"--settings {path}: cannot read it ({exc.strerror})") from None
    return [shlex.split(line.split("#", 1)[0]) for line in text.splitlines() if line.split("#", 1)[0].strip()]


def sweep_setting(flags: list[str], space: str, seeds: str, queries: int) -> dict[str, tuple[float, float, int]]:
    """dataset -> (mean test (valid where none), mean valid, runs that queried the best-by-valid cell)."""
    args, module = run.parse_args(["--method", "evolution", "--space", space, "--seeds", seeds,
                                   "--queries", str(queries), *flags])
    setup = run.load_search_setup(space, None)
    out = {}
    for dataset in setup.datasets:
        metrics = setup.benchmark.metrics(dataset)
        keys = np.asarray(setup.space.keys())
        optimum = setup.space.to_string(int(keys[np.nanargmax(np.asarray(metrics.valid_mean, dtype=float)[keys])]))
        finals, found = [], 0
        for seed in run.parse_seeds(seeds):
            log = run.run_one(args, module, None, dataset, seed)
            final = log["final"]
            finals.append((final["best_valid"] if final["best_test"] is None else final["best_test"],
                           final["best_valid"]))
            found += any(step["arch"] == optimum for step in log["trajectory"])
        means = np.mean(finals, axis=0)
        out[dataset] = (float(means[0]), float(means[1]), found)
    return out


@cli_entry
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sweep_evolution_variants", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--space", default="nb201", choices=("nb201", "nb101"), help="search space (default nb201)")
    parser.add_argument("--seeds", default="1000-1299", help="seeds, as the runner's --seeds (default 1000-1299, the "
                                                             "tuning range; README tables use 0-99)")
    parser.add_argument("--queries", type=int, default=150, help="query budget (default 150)")
    parser.add_argument("--settings", default=None, help="file of settings, one a line (default: README's sweep)")
    args = parser.parse_args(argv)
    settings = read_settings(args.settings)
    for flags in settings:  # every setting checked before the first run
        run.parse_args(["--method", "evolution", "--space", args.space, "--seeds", args.seeds, "--queries",
                        str(args.queries), *flags])
    for flags in settings:
        start = time.process_time()
        result = sweep_setting(flags, args.space, args.seeds, args.queries)
        cells = " | ".join(f"{d} {t:.3f} (valid {v:.2f}; found {n})" for d, (t, v, n) in result.items())
        print(f"{' '.join(flags) or '(defaults)'}: {cells}  [{time.process_time() - start:.0f} CPU-s]", flush=True)


if __name__ == "__main__":
    main()
