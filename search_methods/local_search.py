"""Local search (White et al., 2020, "Local search is state of the art for NAS benchmarks").

Query a few random cells and start from the best; query every neighbour of the current cell (one
edit away, ``space.neighbours``) in random order and move to the best of them if it beats the
current cell; at a local optimum restart from new random cells. A neighbour queried before
(e.g. by an earlier climb) is compared at its known value without spending a query.
"""
from __future__ import annotations

from search_methods.evolution import random_unseen

DESCRIPTION = "local search: climb to the best neighbour, restart from random cells at a local optimum"


def add_arguments(parser) -> None:
    parser.add_argument("--initial", type=int, default=10,
                        help="random cells queried at each (re)start; the climb starts from their best (default 10)")
    parser.add_argument("--first-improvement", action="store_true",
                        help="move as soon as a neighbour beats the current cell instead of after the whole "
                             "neighbourhood (the paper's default is the whole neighbourhood)")


def search(space, oracle, rng, args, context) -> None:
    known: dict[int, float] = {}

    def value(key) -> float:
        key = int(key)
        if key not in known:
            known[key] = oracle.query(key)
        return known[key]

    while True:
        starts = []
        for _ in range(max(1, args.initial)):  # random_unseen ends the run once every cell is queried
            starts.append(random_unseen(space, oracle, rng))
            value(starts[-1])
        current = max(starts, key=known.__getitem__)
        while True:
            best, best_value = current, known[current]
            for key in rng.permutation(space.neighbours(current)):
                if value(key) > best_value:
                    best, best_value = int(key), known[int(key)]
                    if args.first_improvement:
                        break
            if best == current:
                break  # local optimum: restart
            current = best
