"""Local search (White et al., 2020, "Local search is state of the art for NAS benchmarks").

Query a few random cells and start from the best; query the neighbours of the current cell (one
edit away, ``space.neighbours``) in random order and move to the first that beats it (default;
``--move best``: the paper's rule, query the whole neighbourhood and move to its best if that beats
the current cell); at a local optimum restart from new random cells. First improvement was the
stronger rule on NB201 P150 (README "Baselines"). A neighbour queried before
(e.g. by an earlier climb) is compared at its known value without spending a query.
"""
from __future__ import annotations

from preprocessing.errors import InputError
from search_methods.evolution import random_unseen

DESCRIPTION = "local search: climb to a better neighbour, restart from random cells at a local optimum"
MOVES = ("first", "best")


def add_arguments(parser) -> None:
    parser.add_argument("--initial", type=int, default=5,
                        help="random cells queried at each (re)start; the climb starts from their best (default 5)")
    parser.add_argument("--move", choices=MOVES, default="first",
                        help="'first' = move to the first neighbour that beats the current cell (default, stronger "
                             "on NB201); 'best' = query the whole neighbourhood, move to its best (the paper's)")


def prepare(args, benchmark, space) -> None:
    """Flag check, before any run starts."""
    if args.initial < 1:
        raise InputError("--initial must be at least 1")


def search(space, oracle, rng, args, context) -> None:
    known: dict[int, float] = {}

    def value(key) -> float:
        key = int(key)
        if key not in known:
            known[key] = oracle.query(key)
        return known[key]

    while True:
        starts = []
        for _ in range(args.initial):  # random_unseen ends the run once every cell is queried
            starts.append(random_unseen(space, oracle, rng))
            value(starts[-1])
        current = max(starts, key=known.__getitem__)
        while True:
            best, best_value = current, known[current]
            for key in rng.permutation(space.neighbours(current)):
                if value(key) > best_value:
                    best, best_value = int(key), known[int(key)]
                    if args.move == "first":
                        break
            if best == current:
                break  # local optimum: restart
            current = best
