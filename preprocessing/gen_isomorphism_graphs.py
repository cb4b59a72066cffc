"""Sample N pairwise non-isomorphic DARTS cells and write their arch2vec graphs to one npz file.

The arch2vec paper pre-trains on 600,000 cells sampled uniformly from the DARTS space (one cell
per architecture; the seed used the sampled cell as both normal and reduce cell). This CLI draws
cells with :func:`preprocessing.darts_space.sample_unique_cells` (seeded), drops isomorphic
repeats by :func:`~preprocessing.darts_space.cell_hash`, and writes, atomically::

    cells   (N, 8, 2)   int8   [op_index into darts_space.OPS, input_state] per edge
    adj     (N, 11, 11) int8   arch2vec adjacency (adj[src, dst] = 1)
    ops     (N, 11)     int8   node-type labels into darts_space.NODE_TYPES (one-hot: labels_to_onehot)
    hashes  (N,)        <U16   exact canonical cell codes (cell_hash)
    node_types, op_names       the vocabularies, so the file is self-describing
    seed    ()          int64

Load with ``np.load(path)`` (no pickles). Unlike the seed, no ImageNet mult-add filter is applied.

    python -m preprocessing.gen_isomorphism_graphs --num 600000 --seed 0
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from preprocessing import darts_space
from preprocessing.errors import InputError, cli_entry
from preprocessing.io_utils import atomic_write

DEFAULT_OUT_DIR = Path(__file__).resolve().parent.parent / "data" / "cache"


def build_graph_file(num: int, seed: int, progress: bool = True) -> dict[str, np.ndarray]:
    """The arrays written by this CLI, for ``num`` unique cells drawn with ``seed``."""
    cells, hashes = darts_space.sample_unique_cells(num, np.random.default_rng(seed), progress=progress)
    array = darts_space.cells_to_array(cells)
    adj, ops = darts_space.array_to_graphs(array)
    return {
        "cells": array, "adj": adj, "ops": ops, "hashes": np.array(hashes, dtype="<U16"),
        "node_types": np.array(darts_space.NODE_TYPES), "op_names": np.array(darts_space.OPS),
        "seed": np.array(seed, dtype=np.int64),
    }


def load_graph_file(path) -> dict[str, np.ndarray]:
    """Read a file written by this CLI; InputError when it is missing or not one of ours."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"DARTS graph file {path} not found; create it with python -m preprocessing.gen_isomorphism_graphs")
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is not a readable npz file ({exc})") from None
    missing = {"cells", "adj", "ops", "hashes"} - data.keys()
    if missing:
        raise InputError(f"{path} lacks arrays {sorted(missing)}; regenerate it with preprocessing.gen_isomorphism_graphs")
    return data


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num", type=int, default=100_000,
                   help="number of unique (non-isomorphic) cells to sample (paper: 600000; default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the numpy Generator (default %(default)s)")
    p.add_argument("--out", type=Path, default=None,
                   help="output .npz path (default data/cache/darts_graphs_<num>_seed<seed>.npz)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


@cli_entry
def main(argv=None) -> None:
    args = _parser().parse_args(argv)
    if args.num <= 0:
        raise InputError(f"--num must be positive, got {args.num}")
    out = args.out or DEFAULT_OUT_DIR / f"darts_graphs_{args.num}_seed{args.seed}.npz"
    if out.suffix != ".npz":
        raise InputError(f"--out must end in .npz, got {out}")
    start = time.perf_counter()
    arrays = build_graph_file(args.num, args.seed, progress=not args.no_progress)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)

    atomic_write(out, write)
    print(f"wrote {args.num} unique DARTS cells to {out} in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
