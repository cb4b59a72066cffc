"""Queries to the optimum: how many queries a method needs until it queries the dataset's best-by-valid cell.

    python -m search_methods.queries_to_optimum --method weaknas --seeds 100 --queries 1000
    python -m search_methods.queries_to_optimum --method random --queries 15625   # no cap: exact

The figure the WeakNAS paper leads with. Each run is the method's ordinary search (same seeds as
:mod:`search_methods.run`) through an oracle that ends the run as soon as the target -- the cell
of highest seed-mean validation accuracy on that dataset -- has been queried. A run that spends
``--queries`` without finding it is censored (``queries_to_optimum`` null). Logs use the common
format plus ``target_arch`` and ``queries_to_optimum``, under
``<out>/q2o<queries>[_seed]/<space>/<dataset>/<method>/seed_<k>.json`` (resumable like the runner).
Any tabular space (``--space``, default nb201) works: the target is the best cell of its table.
Every flag of :mod:`search_methods.run` and of the method applies, the executor's too (``--workers``,
``--executor ray``, ``--address``).
"""
from __future__ import annotations

import random
import sys
import time

import numpy as np

from preprocessing.errors import InputError, cli_entry
from search_methods import results
from search_methods.oracle import BudgetedOracle, BudgetExhausted
from search_methods.run import (load_method, load_search_setup, method_defaults, parse_args, parse_seeds, run_config,
                                run_identity, run_prepared)

DEFAULT_QUERIES = 1000


class TargetOracle:
    """Any oracle, ending the run (``BudgetExhausted``) right after ``target`` is queried."""

    def __init__(self, oracle, target: int):
        self._oracle = oracle
        self.target = int(target)
        self.found_at: int | None = None

    def __getattr__(self, name):
        return getattr(self._oracle, name)

    def query(self, key) -> float:
        value = self._oracle.query(key)
        if int(key) == self.target and self.found_at is None:
            self.found_at = self._oracle.n_queries
            raise BudgetExhausted
        return value

    query_many = BudgetedOracle.query_many  # in order, through this class's query


class _PositionOracle:
    """The least oracle a query-order-only method (random search) needs: counts until the target."""

    def __init__(self, target: int):
        self.target, self.n_queries = int(target), 0

    def query(self, key) -> float:
        self.n_queries += 1
        if int(key) == self.target:
            raise BudgetExhausted
        return 0.0

    query_many = BudgetedOracle.query_many  # in order, through this class's query


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


def optimum(setup, dataset: str) -> int:
    """Key of the best seed-mean validation accuracy among the space's cells."""
    if setup.benchmark is None:
        raise InputError(f"queries to the optimum needs a tabular space; the {setup.space.name} space has no table "
                         f"that knows its best cell")
    keys = setup.space.keys()
    return int(keys[np.nanargmax(setup.benchmark.metrics(dataset).valid_mean[keys])])


_STATE: dict = {}


def _init(space_name: str, table) -> None:
    """Per worker process: the search setup, loaded once."""
    _STATE.update(setup=load_search_setup(space_name, table), table_id=results.table_identity(space_name, table))


def run_to_optimum(args, module, context, dataset: str, seed: int) -> dict:
    """One search run until the optimum is queried (or the budget is spent); returns its log."""
    setup = _STATE["setup"]
    space = setup.space
    target = optimum(setup, dataset)
    random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
    oracle = TargetOracle(setup.make_oracle(dataset, args.signal, np.random.default_rng([seed, 1]), args.queries,
                                            None), target)
    start = time.perf_counter()
    try:
        module.search(space, oracle, np.random.default_rng(seed), args, context)
    except BudgetExhausted:
        pass
    log = results.build_log(
        method=args.method, space=args.space, dataset=dataset, seed=seed, protocol=args.protocol, signal=args.signal,
        budget={"queries": args.queries, "sim_time_s": None}, config=run_config(args),
        oracle=oracle, wall_time_s=time.perf_counter() - start, table=_STATE["table_id"],
        defaults=method_defaults(args.method))
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
    setup = load_search_setup(args.space, args.table)
    if args.datasets is None:
        args.datasets = list(setup.datasets)
    for dataset in args.datasets:
        optimum(setup, dataset)  # unknown dataset or a space without a table: one error line before any work
    seeds = parse_seeds(args.seeds)
    identity = run_identity(args, results.table_identity(args.space, args.table))
    run_prepared(args, module, setup, seeds, identity, _task, (_init, (args.space, args.table)))
    if not args.quiet:
        for dataset in args.datasets:
            logs = [results.find_log(args.out, identity, dataset, s) for s in seeds]
            found = np.array([g["queries_to_optimum"] for g in logs if g["queries_to_optimum"] is not None])
            text = f"{found.mean():.1f} ± {found.std():.1f}" if len(found) else "-"
            print(f"{args.method:>12} {args.protocol} {dataset:>15}: queries to optimum {text} "
                  f"(found in {len(found)}/{len(logs)} runs)")


if __name__ == "__main__":
    main()
