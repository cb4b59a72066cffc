"""Random search: query uniformly random unseen architectures."""
from __future__ import annotations

DESCRIPTION = "random search: uniform sampling without replacement"


def search(space, oracle, rng, args, context) -> None:
    for key in rng.permutation(space.keys()):
        oracle.query(key)
