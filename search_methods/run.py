"""The common protocol runner: one search method x datasets x seeds on a search space (NB201 by default).

    python -m search_methods.run --method evolution --queries 150 --seeds 100
    python -m search_methods.run --method random --datasets cifar10 --time-budget 12000 --signal seed

Every run writes one JSON log (see :mod:`search_methods.results`) to
``<out>/<protocol>/<space>/<dataset>/<method>/<digest8>/seed_<k>.json``, where the digest identifies
the run's configuration (every flag, defaults filled in) and table content. A grid is resumable: a seed
whose log exists with the same identity is skipped (``--overwrite`` reruns it); two runners on one
folder split the seeds between them (a per-log lock). Runs go through :mod:`search_methods.executor`:
``--workers`` local processes, or a Ray cluster with ``--executor ray [--address HOST:PORT]``; one
thread per run either way, so both give the same logs; the driver writes every log. Method-specific flags are listed by ``--method NAME --help``. ``--time-per-query
epochs12`` charges 12 epochs of the table's per-epoch time per query instead of the full training time
(arch2vec's NB201 cifar10 protocol).
"""
from __future__ import annotations

import argparse
import functools
import importlib
import math
import re
import sys
import time

import numpy as np
from tqdm import tqdm

from models.device import add_device_argument, resolve_device
from preprocessing import spaces
from preprocessing.errors import InputError, cli_entry
from preprocessing.spaces import SearchSetup
from search_methods import executor, results
from search_methods.oracle import SIGNALS, BudgetExhausted
from search_methods.registry import METHODS

TIME_PER_QUERY = ("table", "epochs12")
# Flags that describe the grid rather than a run; everything else is the run's config.
GRID_FLAGS = ("datasets", "seeds", "workers", "executor", "address", "out", "overwrite", "quiet")


MAX_SEED = 2**31 - 1  # torch, numpy and random all take it
MAX_GRID_SEEDS = 100_000


def parse_seeds(text: str) -> list[int]:
    """'100' -> seeds 0..99; '5-9' -> 5..9; '1,4,7' -> those seeds (each in 0..2^31-1, at most 100,000)."""
    usage = "give a count (100), a range (0-99) or a list (1,4,7) of seeds in 0..2147483647"
    try:
        if "," in text:
            seeds = [int(s) for s in text.split(",")]
        elif "-" in text:
            lo, hi = (int(s) for s in text.split("-", 1))
            if hi < lo:
                raise ValueError
            seeds = range(lo, hi + 1)
        else:
            count = int(text)
            if count < 1:
                raise ValueError
            seeds = range(min(count, MAX_GRID_SEEDS + 1))
    except ValueError:
        raise InputError(f"--seeds {text!r}: {usage}") from None
    if len(seeds) > MAX_GRID_SEEDS:
        raise InputError(f"--seeds {text!r} asks for more than {MAX_GRID_SEEDS:,} runs; split the grid")
    if min(seeds) < 0 or max(seeds) > MAX_SEED:
        raise InputError(f"--seeds {text!r}: {usage}")
    if len(set(seeds)) != len(seeds):
        raise InputError(f"--seeds {text!r} lists a seed twice")
    return list(seeds)


def load_method(name: str):
    if name not in METHODS:
        raise InputError(f"unknown method {name!r}; available: {', '.join(METHODS)}")
    return importlib.import_module(METHODS[name])


def build_parser(method_module=None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m search_methods.run",
        description="Run one search method on a search space for several datasets and seeds (the common protocol). "
                    "Method ids: " + ", ".join(METHODS) + ". Add --method NAME --help for the method's own flags.",
    )
    parser.add_argument("--method", required=True, help="method id, one of: " + ", ".join(METHODS))
    parser.add_argument("--space", default="nb201", metavar="SPACE",
                        help="search space: " + "; ".join(f"{name} = {spaces.module_of(name).DESCRIPTION}"
                                                          for name in spaces.SPACES)
                             + " (default nb201); or the module path of your own space (see README)")
    parser.add_argument("--datasets", nargs="+", default=None, metavar="NAME",
                        help="datasets to search (default: every dataset of the table: cifar10 cifar100 "
                             "ImageNet16-120 for NB201; 'custom' for a CSV --table)")
    parser.add_argument("--seeds", default="100", help="a count (100 = seeds 0..99), a range (0-99) or a list (1,4,7)")
    parser.add_argument("--queries", type=int, default=None,
                        help="query budget: number of distinct architectures a run may evaluate (default 150 "
                             "unless --time-budget is given)")
    parser.add_argument("--time-budget", type=float, default=None,
                        help="simulated wall-clock budget in seconds (sum of the table's training times)")
    parser.add_argument("--signal", choices=SIGNALS, default="mean",
                        help="search signal: 'mean' = seed-mean validation accuracy (P150); 'seed' = one random "
                             "training seed per architecture (arch2vec / WeakNAS protocols)")
    parser.add_argument("--time-per-query", choices=TIME_PER_QUERY, default="table",
                        help="simulated cost of one query: 'table' = the table's full training time (default; "
                             "NB201: 200 epochs); 'epochs12' = 12 x the table's per-epoch time (arch2vec's NB201 "
                             "cifar10 protocol; needs a time_per_epoch_s column, NB201 has it for cifar10 only)")
    parser.add_argument("--table", default=None,
                        help="search a different table: a converted .npz (official NB201/NATS files, see "
                             "preprocessing.nb201_official) or your own CSV of NB201 cells (arch,valid_acc,test_acc"
                             "[,train_time_s]); default: the embedded NAS-Bench-201 tables")
    parser.add_argument("--protocol", default=None,
                        help="protocol name = first folder of the log path (letters, digits, . _ -; default "
                             "q<queries>, t<seconds>, with _seed appended for --signal seed)")
    parser.add_argument("--out", default=str(results.ROOT), help="root folder of the result logs (default saved_logs)")
    executor.add_arguments(parser)
    parser.add_argument("--overwrite", action="store_true", help="rerun seeds whose log already exists")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    add_device_argument(parser, default="cpu",
                        what="model fitting inside a search (weaknas MLPs, the DNGO networks of arch2vec_bo / "
                             "supervised_bo, GMAE fine-tuning; other methods always use the CPU)",
                        note="the device is part of the run's config: CUDA results match the CPU's only within "
                             "float tolerance, so the deterministic CPU is the default")
    if method_module is not None and hasattr(method_module, "add_arguments"):
        group = parser.add_argument_group(f"{parser.prog} --method flags")
        method_module.add_arguments(group)
    return parser


def parse_args(argv=None) -> tuple[argparse.Namespace, object]:
    argv = list(sys.argv[1:] if argv is None else argv)
    probe = argparse.ArgumentParser(add_help=False)
    probe.add_argument("--method")
    known, _ = probe.parse_known_args(argv)
    module = load_method(known.method) if known.method else None
    parser = build_parser(module)
    args = parser.parse_args(argv)
    check_finite(parser, args)
    spaces.module_of(args.space)  # unknown space -> one error line before any work
    if args.queries is None and args.time_budget is None:
        args.queries = 150
    if args.queries is not None and args.queries < 1:
        raise InputError("--queries must be at least 1")
    if args.time_budget is not None and args.time_budget <= 0:
        raise InputError("--time-budget must be positive")
    args.device = str(resolve_device(args.device))  # 'auto' -> what it ran on; cuda without CUDA -> one error line
    if args.workers < 1:
        raise InputError("--workers must be at least 1")
    parse_seeds(args.seeds)
    if args.protocol is None:
        parts = ([f"q{args.queries}"] if args.queries is not None else []) + (
            [f"t{args.time_budget:g}"] if args.time_budget is not None else [])
        args.protocol = "_".join(parts) + ("_seed" if args.signal == "seed" else "")
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", args.protocol):
        raise InputError(f"--protocol {args.protocol!r} names a folder: use letters, digits, '.', '_' and '-'")
    for check in ("check_args", "check_search_args"):  # the method's own ranges, before any work
        if hasattr(module, check):
            getattr(module, check)(args)
    return args, module


def check_finite(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """InputError for a NaN or infinite value of any float flag (no flag means anything by them)."""
    for action in parser._actions:
        value = getattr(args, action.dest, None)
        values = value if isinstance(value, list) else [value]
        if action.type is float and any(isinstance(v, float) and not math.isfinite(v) for v in values):
            raise InputError(f"{'/'.join(action.option_strings)} {value}: give a finite number")


def simulated_time_per_query(setup: SearchSetup, dataset: str, mode: str):
    """The oracle's ``time_per_query`` for ``--time-per-query``: None = the table's training time."""
    if mode == "table":
        return None
    if setup.benchmark is None:
        raise InputError(f"--time-per-query {mode} needs a tabular space; the {setup.space.name} space trains each "
                         f"query for real: use --time-per-query table")
    per_epoch = setup.benchmark.metrics(dataset).extra.get("time_per_epoch_s")
    if per_epoch is None:
        raise InputError(f"--time-per-query {mode} needs per-epoch times, which the {dataset} table lacks; "
                         f"use --time-per-query table")
    epochs = int(mode.removeprefix("epochs"))
    return lambda key: epochs * float(per_epoch[key])


def check_time_budget(args, setup: SearchSetup, dataset: str) -> None:
    """A time budget needs a finite simulated cost for every cell the search may query."""
    if args.time_budget is None or setup.benchmark is None:  # a non-tabular space measures real cost
        return
    keys = np.asarray(setup.space.keys())
    cost = simulated_time_per_query(setup, dataset, args.time_per_query)
    times = (np.array([cost(k) for k in keys], dtype=float) if cost is not None
             else np.asarray(setup.benchmark.metrics(dataset).train_time_s, dtype=float)[keys])
    missing = int((~np.isfinite(times)).sum())
    if missing:
        raise InputError(f"--time-budget needs training times, and the {dataset} table lacks them for {missing} "
                         f"of its {len(keys)} cells; add a train_time_s column or use --queries")


def run_config(args) -> dict:
    return {k: v for k, v in sorted(vars(args).items()) if k not in GRID_FLAGS}


@functools.lru_cache(maxsize=None)
def method_defaults(method: str) -> dict:
    """The run config of ``--method METHOD`` with every other flag at its default."""
    return run_config(build_parser(load_method(method)).parse_args(["--method", method]))


def run_identity(args, table: dict) -> dict:
    """The identity of this grid's runs (see :func:`search_methods.results.run_identity`)."""
    return results.run_identity(method=args.method, space=args.space, protocol=args.protocol, signal=args.signal,
                                budget={"queries": args.queries, "sim_time_s": args.time_budget},
                                config=run_config(args), table=table)


_WORKER: dict = {}


def load_search_setup(space_name: str, table) -> SearchSetup:
    """The space a run searches and what answers its queries (:mod:`preprocessing.spaces`)."""
    return spaces.load_search(space_name, table)


def _setup(space_name: str, table) -> None:
    """Per-process state: the search setup (loaded once per worker)."""
    table_id = results.table_identity(space_name, table)  # before loading: the log names what was read
    _WORKER.update(setup=(space_name, table), search=load_search_setup(space_name, table), table_id=table_id)


def run_one(args, module, context, dataset: str, seed: int) -> dict:
    """One search run; returns its log (not yet written)."""
    import random

    if _WORKER.get("setup") != (args.space, args.table):
        _setup(args.space, args.table)
    random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
    setup = _WORKER["search"]
    space = setup.space
    oracle = setup.make_oracle(dataset, args.signal, np.random.default_rng([seed, 1]), args.queries,
                               args.time_budget, simulated_time_per_query(setup, dataset, args.time_per_query))
    start = time.perf_counter()
    try:
        module.search(space, oracle, np.random.default_rng(seed), args, context)
    except BudgetExhausted:
        pass
    if not oracle.exhausted and oracle.n_queries < len(space):
        raise RuntimeError(f"method {args.method} returned before spending its budget ({oracle.n_queries} queries)")
    return results.build_log(
        method=args.method, space=args.space, dataset=dataset, seed=seed, protocol=args.protocol, signal=args.signal,
        budget={"queries": args.queries, "sim_time_s": args.time_budget}, config=run_config(args), oracle=oracle,
        wall_time_s=time.perf_counter() - start, table=_WORKER["table_id"], defaults=method_defaults(args.method))


def _run_task(shared, job: tuple[str, int]) -> dict:
    """A worker's part of a grid: one (dataset, seed) run; returns its log for the driver to write."""
    args, context = shared
    dataset, seed = job
    return run_one(args, load_method(args.method), context, dataset, seed)


def dispatch(args, options, jobs: list, task, setup: tuple, shared) -> None:
    """Run ``task(shared, (dataset, seed))`` for every job on the executor; the driver writes each log it
    gets back (atomically, at its identity path), so a worker never writes and a run that dies leaves no file."""
    bar = tqdm(total=len(jobs), desc=f"{args.method} {args.protocol}", disable=args.quiet, unit="run")
    try:
        with executor.Executor(options, setup=setup, shared=shared) as grid:
            for _, log in grid.map(task, jobs, bar=bar, label=lambda job: f"{job[0]} seed {job[1]}"):
                results.save_log(args.out, log)
    finally:
        bar.close()


def pending_jobs(args, datasets, seeds, identity: dict, claims: results.Claims,
                 overwrite: bool = False, before_claiming=lambda: None) -> tuple[list, list]:
    """(jobs to run here, logs another runner is working on): a (dataset, seed) whose log exists with
    this ``identity`` is done (unless ``overwrite``); any other is claimed, or left to the runner that
    holds its claim. ``before_claiming()`` runs once, before the first claim, only if a run is missing.
    A claimed run's stale temp files (from a killed write) are removed."""
    missing = [(dataset, seed) for dataset in datasets for seed in seeds
               if overwrite or results.find_log(args.out, identity, dataset, seed) is None]
    if missing:
        before_claiming()
    jobs, busy = [], []
    for dataset, seed in missing:
        path = results.log_path(args.out, identity, dataset, seed)
        if not claims.try_claim(path):
            busy.append(path)
            continue
        # claimed: another runner may have finished it between the look and the claim
        if not overwrite and results.find_log(args.out, identity, dataset, seed) is not None:
            continue
        results.clean_stale_temps(path)
        jobs.append((dataset, seed))
    return jobs, busy


def run_claimed(args, datasets, seeds, identity: dict, run_jobs, before_claiming=lambda: None) -> None:
    """Call ``run_jobs(jobs)`` on this grid's pending runs until every log exists; runs another runner
    on the same folder holds are waited for (and run here if it stopped without writing them).
    ``before_claiming()`` runs before the first claim if any run is missing (see :func:`pending_jobs`)."""
    overwrite = args.overwrite
    with results.Claims() as claims:
        while True:
            jobs, busy = pending_jobs(args, datasets, seeds, identity, claims, overwrite, before_claiming)
            if jobs:
                run_jobs(jobs)
                overwrite = False  # the overwrite is done; what follows only fills in
            if not busy:
                return
            if not args.quiet:
                print(f"waiting for another runner on {args.out}: it holds {len(busy)} of these runs",
                      file=sys.stderr)
            for path in busy:
                claims.wait(path)


def run_prepared(args, module, setup, seeds, identity: dict, task, initializer) -> None:
    """Run the grid's pending (dataset, seed) jobs through ``task`` (:func:`dispatch`), the method's
    ``prepare`` called once, before the first claim and only if a run is missing: a method that cannot
    run here refuses before any claim or file is made, and a finished grid loads no model."""
    options = executor.ExecutorOptions.from_args(args)
    prepared = {}

    def prepare() -> None:
        if "context" not in prepared:
            prepared["context"] = module.prepare(args, setup.benchmark, setup.space) if hasattr(module, "prepare") \
                else None

    def run_jobs(jobs):
        prepare()
        dispatch(args, options, jobs, task, initializer, (args, prepared["context"]))

    run_claimed(args, args.datasets, seeds, identity, run_jobs, before_claiming=prepare)


def run_grid(args, module) -> list[dict]:
    table = results.table_identity(args.space, args.table)
    setup = load_search_setup(args.space, args.table)
    if args.datasets is None:
        args.datasets = list(setup.datasets)
    for dataset in args.datasets:
        if dataset not in setup.datasets:  # before any work
            raise InputError(f"dataset {dataset!r} is not in this {args.space} table; available: "
                             f"{', '.join(setup.datasets)}")
        simulated_time_per_query(setup, dataset, args.time_per_query)
        check_time_budget(args, setup, dataset)
    seeds = parse_seeds(args.seeds)
    identity = run_identity(args, table)
    run_prepared(args, module, setup, seeds, identity, _run_task, (_setup, (args.space, args.table)))
    logs = [results.find_log(args.out, identity, d, s) for d in args.datasets for s in seeds]
    if any(log is None for log in logs):  # a worker wrote under another identity: a bug, not bad input
        raise RuntimeError(f"runs of {args.method} ended without their logs under {args.out}")
    if not args.quiet:
        for dataset in args.datasets:
            finals = np.array([log["final"]["best_test"] for log in logs if log["dataset"] == dataset], dtype=float)
            valids = np.array([log["final"]["best_valid"] for log in logs if log["dataset"] == dataset], dtype=float)
            test = (f"test {finals.mean():.2f} ± {finals.std():.2f}" if np.isfinite(finals).all()
                    else "test: none in this table")
            print(f"{args.method:>12} {args.protocol} {dataset:>15}: valid {valids.mean():.2f} ± {valids.std():.2f}"
                  f"  {test}  ({len(finals)} seeds)")
    return logs


@cli_entry
def main(argv=None) -> None:
    args, module = parse_args(argv)
    run_grid(args, module)


if __name__ == "__main__":
    main()
