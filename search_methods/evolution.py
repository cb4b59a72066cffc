"""Regularized evolution (Real et al., 2019): tournament selection, one-op mutation, age-based removal.

Settings (population / tournament / what happens when a parent's mutations are all queried already):

- default (10 / 10 / nearest): the strongest of a sweep on NB201 P150 (populations 10-100,
  tournaments 3-75, 300 seeds on all three datasets, ``run_scripts/sweep_evolution.sh``; README
  "Baselines"). With the tournament as large as the population the parent is the best of the 10
  youngest cells: ageing alone keeps the search from settling;
- ``--population 10 --tournament 3 --exhausted random``: this project's setting before the sweep;
- ``--population 30 --tournament 10``: NASLib's NB201 default (NASLib re-queries seen cells, this
  runner never spends a query twice);
- ``--population 50 --tournament 10``: the setting the NAS-Bench-101 paper (Ying et al., 2019) gives for
  Real et al.'s RE, as recalled here (the paper is not among this project's references).

Variants a NAS researcher would try, each by flag and off by default: several edits per child
(``--edits``, ``--edit-law``), mutating the best cell so far (``--parent best``), a tournament drawn with
replacement as in Real et al.'s Algorithm 1, as recalled (``--tournament-draw replace``), removing the
worst instead of the oldest (``--removal worst``, non-regularized evolution) and the size of the random
start (``--initial``).
None beat the default on NB201 P150 or NB101 (300 tuning seeds, ``benchmarks.sweep_evolution_variants``;
README "Baselines").

Every query is a distinct cell: the initial population is drawn without replacement and a child
that was already queried is redrawn, so the budget is never spent twice on a cell.
"""
from __future__ import annotations

from collections import deque

from preprocessing.errors import InputError
from search_methods.oracle import BudgetExhausted

DESCRIPTION = "regularized evolution (aging evolution with tournament selection)"
EXHAUSTED = ("nearest", "random")
EDIT_LAWS = ("fixed", "geometric", "poisson")
PARENTS = ("tournament", "best")
DRAWS = ("distinct", "replace")
REMOVALS = ("oldest", "worst")


def add_arguments(parser) -> None:
    parser.add_argument("--population", type=int, default=10,
                        help="population size; the first `population` architectures are random and distinct "
                             "(default 10, tuned on NB201 P150 and this project's old default; 30 = NASLib's NB201 "
                             "default, 50 = NAS-Bench-101 paper)")
    parser.add_argument("--tournament", type=int, default=10,
                        help="tournament sample size: the best of this many random members is mutated (default "
                             "10, tuned; 3 = this project's old default; 10 with population 30 = NASLib's NB201 "
                             "default, with population 50 = NAS-Bench-101 paper's)")
    parser.add_argument("--mutation-tries", type=int, default=50,
                        help="redraws of a mutation that hits an already-queried architecture (default 50)")
    parser.add_argument("--exhausted", choices=EXHAUSTED, default="nearest",
                        help="child when every redraw hit a queried cell: 'nearest' = an unqueried cell nearest "
                             "the parent (neighbours of neighbours, ...; default), 'random' = a random unqueried "
                             "cell (this project's old behaviour)")
    parser.add_argument("--edits", type=float, default=1.0,
                        help="one-op mutations applied in turn to make a child: exactly this many with "
                             "--edit-law fixed (a whole number), on average this many otherwise (default 1 = "
                             "Real et al.'s and NASLib's single mutation)")
    parser.add_argument("--edit-law", choices=EDIT_LAWS, default="fixed",
                        help="how many edits each child gets: 'fixed' = --edits (default); 'geometric' = 1, 2, ... "
                             "each extra edit with probability 1 - 1/EDITS; 'poisson' = 1 + Poisson(EDITS - 1); "
                             "both average --edits")
    parser.add_argument("--parent", choices=PARENTS, default="tournament",
                        help="'tournament' = the tournament winner is mutated (default, regularized evolution); "
                             "'best' = the best cell queried so far is mutated every time (elitist: ageing then "
                             "only decides who is in the population, not who is mutated)")
    parser.add_argument("--tournament-draw", choices=DRAWS, default="distinct",
                        help="tournament members drawn 'distinct' (without replacement; default) or 'replace' "
                             "(with replacement, as in Real et al.'s Algorithm 1, as recalled: a tournament as "
                             "large as the population then misses some members; it may also be larger than it)")
    parser.add_argument("--removal", choices=REMOVALS, default="oldest",
                        help="member removed when a child joins a full population: 'oldest' (ageing, regularized "
                             "evolution; default) or 'worst' (non-regularized evolution, Real et al.'s control)")
    parser.add_argument("--initial", type=int, default=None,
                        help="random cells queried before evolving (default: the population size); fewer: the "
                             "population fills up with children before any removal; more: the population starts "
                             "as the best `population` of them, in query order")


def check_args(args) -> None:
    """InputError for flag values the search cannot run with (the runner calls this before any work)."""
    if args.population < 1 or args.tournament < 1:
        raise InputError("--population and --tournament must be at least 1")
    if args.mutation_tries < 0:
        raise InputError("--mutation-tries must be at least 0")
    if args.edits < 1 or (args.edit_law == "fixed" and args.edits != int(args.edits)):
        raise InputError(f"--edits {args.edits:g}: give at least 1 (a whole number with --edit-law fixed)")
    if args.initial is not None and args.initial < 1:
        raise InputError("--initial must be at least 1 (or leave it out: the population size)")


def edit_count(rng, edits: float, law: str) -> int:
    """Edits for one child under ``--edit-law`` (no random draw for 'fixed', so those runs are as before)."""
    if law == "fixed":
        return int(edits)
    if law == "geometric":
        return int(rng.geometric(1.0 / edits))
    return 1 + int(rng.poisson(edits - 1.0))


def random_unseen(space, oracle, rng):
    """A uniformly random unqueried cell (BudgetExhausted once every cell has been queried)."""
    if oracle.n_queries >= len(space):
        raise BudgetExhausted  # every architecture has been queried
    while True:
        child = space.sample(rng)
        if not oracle.seen(child):
            return child


def nearest_unseen(space, oracle, parent, rng):
    """An unqueried cell at the smallest neighbour distance from ``parent``: rings are walked outwards,
    each ring's cells in random order, and the first one with an unqueried neighbour gives a random
    one of those. A random unqueried cell if the parent's connected part of the space is exhausted."""
    visited = {int(parent)}
    ring = [int(parent)]
    while ring:
        outer = []
        for cell in (ring[i] for i in rng.permutation(len(ring))):
            fresh = [int(n) for n in space.neighbours(cell) if int(n) not in visited]
            unseen = [n for n in fresh if not oracle.seen(n)]
            if unseen:
                return unseen[int(rng.integers(len(unseen)))]
            visited.update(fresh)
            outer.extend(fresh)
        ring = outer
    return random_unseen(space, oracle, rng)


def mutate_unseen(space, oracle, parent, rng, tries: int, exhausted: str = "random", edits: float = 1,
                  edit_law: str = "fixed"):
    """A mutation of ``parent`` (:func:`edit_count` one-op mutations in turn) not queried yet (else per
    ``exhausted``, see ``--exhausted``)."""
    for _ in range(tries):
        child = parent
        for _ in range(edit_count(rng, edits, edit_law)):
            child = space.mutate(child, rng)
        if not oracle.seen(child):
            return child
    if exhausted == "nearest":
        return nearest_unseen(space, oracle, parent, rng)
    return random_unseen(space, oracle, rng)


def initial_population(space, oracle, rng, args) -> deque:
    """The first ``--initial`` cells (random, distinct), queried; the ``population`` best of them kept."""
    size = args.population if args.initial is None else args.initial
    # Drawn without replacement, so a table smaller than the population still ends (with every cell queried).
    members = [(int(key), oracle.query(key)) for key in space.sample(rng, size=min(size, len(space)), replace=False)]
    if len(members) > args.population:
        kept = sorted(sorted(range(len(members)), key=lambda i: -members[i][1])[:args.population])
        members = [members[i] for i in kept]
    return deque(members)


def search(space, oracle, rng, args, context) -> None:
    population = initial_population(space, oracle, rng, args)
    best = max(population, key=lambda kv: kv[1])
    while True:
        if args.parent == "best":
            parent = best[0]
        else:
            replace = args.tournament_draw == "replace"  # then a tournament may exceed the population
            members = rng.choice(len(population), size=args.tournament if replace else
                                 min(args.tournament, len(population)), replace=replace)
            parent = max((population[i] for i in members), key=lambda kv: kv[1])[0]
        child = mutate_unseen(space, oracle, parent, rng, args.mutation_tries, args.exhausted, args.edits,
                              args.edit_law)
        member = (child, oracle.query(child))
        best = max(best, member, key=lambda kv: kv[1])
        population.append(member)
        if len(population) > args.population:
            if args.removal == "oldest":
                population.popleft()
            else:  # the worst; the oldest of equally bad ones
                del population[min(range(len(population)), key=lambda i: population[i][1])]
