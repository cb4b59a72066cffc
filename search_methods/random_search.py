"""Random search: query uniformly random unseen architectures."""
from __future__ import annotations

DESCRIPTION = "random search: uniform sampling without replacement"


def search(space, oracle, rng, args, context) -> None:
    # one query_many call: an evaluator that trains for real (DARTS proxy) runs the upcoming queries in parallel
    oracle.query_many(rng.permutation(space.keys()))
