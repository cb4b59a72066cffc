"""Regularized evolution (Real et al., 2019): tournament selection, one-op mutation, age-based removal."""
from __future__ import annotations

from collections import deque

from preprocessing.errors import InputError
from search_methods.oracle import BudgetExhausted

DESCRIPTION = "regularized evolution (aging evolution with tournament selection)"


def add_arguments(parser) -> None:
    parser.add_argument("--population", type=int, default=10,
                        help="population size; the first `population` architectures are random (default 10)")
    parser.add_argument("--tournament", type=int, default=3,
                        help="tournament sample size: the best of this many random members is mutated (default 3)")
    parser.add_argument("--mutation-tries", type=int, default=50,
                        help="redraws of a mutation that hits an already-queried architecture before taking "
                             "a random unseen one instead (default 50)")


def check_args(args) -> None:
    """InputError for flag values the search cannot run with (the runner calls this before any work)."""
    if args.population < 1 or args.tournament < 1:
        raise InputError("--population and --tournament must be at least 1")
    if args.mutation_tries < 0:
        raise InputError("--mutation-tries must be at least 0")


def mutate_unseen(space, oracle, parent, rng, tries: int):
    """A one-op mutation of ``parent`` not queried yet (a random unseen cell if none is found)."""
    for _ in range(tries):
        child = space.mutate(parent, rng)
        if not oracle.seen(child):
            return child
    if oracle.n_queries >= len(space):
        raise BudgetExhausted  # every architecture has been queried
    while True:
        child = space.sample(rng)
        if not oracle.seen(child):
            return child


def search(space, oracle, rng, args, context) -> None:
    population: deque[tuple[int, float]] = deque()
    while len(population) < args.population:
        if oracle.n_queries >= len(space):
            raise BudgetExhausted  # the table has fewer cells than the population: all are queried
        key = space.sample(rng)
        if not oracle.seen(key):
            population.append((key, oracle.query(key)))
    while True:
        members = rng.choice(len(population), size=min(args.tournament, len(population)), replace=False)
        parent = max((population[i] for i in members), key=lambda kv: kv[1])[0]
        child = mutate_unseen(space, oracle, parent, rng, args.mutation_tries)
        population.append((child, oracle.query(child)))
        population.popleft()
