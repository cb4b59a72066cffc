"""Queries to the optimum: how many queries a method needs until it queries the dataset's best-by-valid cell.

    python -m search_methods.queries_to_optimum --method weaknas --seeds 100 --queries 1000
    python -m search_methods.queries_to_optimum --method random --queries 15625   # no cap: exact

The figure the WeakNAS paper leads with. Each run is the method's ordinary search (same seeds as
:mod:`search_methods.run`) through an oracle that ends the run as soon as the target -- the cell
of highest seed-mean validation accuracy on that dataset -- has been queried. A run that spends
``--queries`` without finding it is censored (``queries_to_optimum`` null). Logs use the common
format plus ``target_arch`` and ``queries_to_optimum``, under
``<out>/q2o<queries>[_seed]/nb201/<dataset>/<method>/seed_<k>.json`` (resumable like the runner).
Every flag of :mod:`search_methods.run` and of the method applies, the executor's too (``--workers``,
``--executor ray``, ``--address``).
"""
from __future__ import annotations

import random
import sys
import time

import numpy as np
from preprocessing.errors import InputError, cli_entry
from search_methods import executor, results
from search_methods.oracle import BudgetExhausted, Oracle
from search_methods.run import (dispatch, load_method, load_search_setup, parse_args, parse_seeds, pending_jobs,
                                run_config)

DEFAULT_QUERIES = 1000


class TargetOracle(Oracle):
    """An :class:`Oracle` that ends the run (``BudgetExhausted``) right after ``target`` is queried."""

    def __init__(self, target: int, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.target = int(target)
        self.found_at: int | None = None

    def query(self, key) -> float:
        value = super().query(key)
        if int(key) == self.target and self.found_at is None:
            self.found_at = self.n_queries
            raise BudgetExhausted
        return value


class _PositionOracle:
    """The least oracle a query-order-only method (random search) needs: counts until the target."""

    def __init__(self, target: int):
        self.target, self.n_queries = int(target), 0

    def query(self, key) -> float:
        self.n_queries += 1
        if int(key) == self.target:
            raise BudgetExhausted
        return 0.0


def simulate_random(space, target: int, seed: int) -> int:
    """Queries random search (seeded as the runner seeds it) needs to reach ``target``, uncapped.

    Random search ignores the answers, so counting its query order is the run itself, at a cost
    of microseconds instead of a full-space oracle run.
    """
    from search_methods import random_search

    oracle = _PositionOracle(target)
    try:
        random_search.search(space, oracle, np.random.default_rng(seed), None, None)
    except BudgetExhausted:
        return oracle.n_queries
    raise InputError(f"target {target} is not in the space")


def optimum(bench, space, dataset: str) -> int:
    """Key of the best seed-mean validation accuracy among the space's cells."""
    valid = bench.metrics(dataset).valid_mean[space.keys()]
    return int(space.keys()[np.nanargmax(valid)])


_STATE: dict = {}


def _init(table) -> None:
    """Per worker process: the benchmark and the space, loaded once."""
    bench, space = load_search_setup("nb201", table)
    _STATE.update(bench=bench, space=space)


def run_to_optimum(args, module, context, dataset: str, seed: int) -> dict:
    """One search run until the optimum is queried (or the budget is spent); returns its log."""
    bench, space = _STATE["bench"], _STATE["space"]
    target = optimum(bench, space, dataset)
    random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
    oracle = TargetOracle(target, bench, dataset, signal=args.signal, rng=np.random.default_rng([seed, 1]),
                          max_queries=args.queries, to_string=space.to_string)
    start = time.perf_counter()
    try:
        module.search(space, oracle, np.random.default_rng(seed), args, context)
    except BudgetExhausted:
        pass
    log = results.build_log(
        method=args.method, space="nb201", dataset=dataset, seed=seed, protocol=args.protocol, signal=args.signal,
        budget={"queries": args.queries, "sim_time_s": None}, config=run_config(args),
        oracle=oracle, wall_time_s=time.perf_counter() - start)
    log.update(target_arch=space.to_string(target), queries_to_optimum=oracle.found_at)
    return log


def _task(shared, job: tuple[str, int]) -> dict:
    """A worker's part: one run to the optimum; returns its log for the driver to write."""
    args, context = shared
    dataset, seed = job
    return run_to_optimum(args, load_method(args.method), context, dataset, seed)


def parse(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--queries" not in argv and not any(a.startswith("--queries=") for a in argv):
        argv += ["--queries", str(DEFAULT_QUERIES)]
    if "--time-budget" in argv:
        raise InputError("queries to the optimum counts queries; drop --time-budget")
    args, module = parse_args(argv)
    if "--protocol" not in argv:
        args.protocol = f"q2o{args.queries}" + ("_seed" if args.signal == "seed" else "")
    return args, module


@cli_entry
def main(argv=None) -> None:
    args, module = parse(argv)
    bench, space = load_search_setup("nb201", args.table)
    if args.datasets is None:
        args.datasets = list(bench.datasets)
    for dataset in args.datasets:
        bench.metrics(dataset)
    seeds = parse_seeds(args.seeds)
    options = executor.ExecutorOptions.from_args(args)
    jobs = pending_jobs(args, args.datasets, seeds)
    if jobs:
        context = module.prepare(args, bench, space) if hasattr(module, "prepare") else None
        dispatch(args, options, jobs, _task, (_init, (args.table,)), (args, context), "nb201")
    if not args.quiet:
        for dataset in args.datasets:
            logs = [results.read_log(results.log_path(args.out, args.protocol, "nb201", dataset, args.method, s))
                    for s in seeds]
            found = np.array([g["queries_to_optimum"] for g in logs if g["queries_to_optimum"] is not None])
            text = f"{found.mean():.1f} ± {found.std():.1f}" if len(found) else "-"
            print(f"{args.method:>12} {args.protocol} {dataset:>15}: queries to optimum {text} "
                  f"(found in {len(found)}/{len(logs)} runs)")


if __name__ == "__main__":
    main()
