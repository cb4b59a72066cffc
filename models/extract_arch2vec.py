"""Extract arch2vec embeddings of every cell of a space from a pretrained checkpoint.

    python -m models.extract_arch2vec --space nb201     # the three per-dataset NB201 files
    python -m models.extract_arch2vec --space nb101     # arch2vec-nb101.pt
    python -m models.extract_arch2vec --space darts     # arch2vec-darts.pt (the pretraining cells)

Files (in ``--out``, default ``pretrained/dim-<latent>``; dicts of tensors and plain types, load
with ``torch.load(path, weights_only=True)``):

* NB201, one per dataset: ``cifar10_valid_converged-arch2vec.pt``, ``cifar100-arch2vec.pt``,
  ``ImageNet16_120-arch2vec.pt`` with ``embeddings`` (15625, D) float32 whose row is the official
  index, ``valid`` / ``test`` (15625,) float64 seed-mean accuracies in percent (the project's search
  signal and its reporting value, see :mod:`preprocessing.nb201_table`), ``train_time_s`` (15625,),
  ``arch_strings`` (list), ``dataset`` (the table's name), ``config`` (the pretraining config).
* NB101: ``arch2vec-nb101.pt`` with ``embeddings`` (423624, D) and ``hashes`` (list of module
  hashes, rows of :func:`preprocessing.nb101_enumerate.load_space` order) and ``config``.
* DARTS: ``arch2vec-darts.pt`` with ``embeddings`` (n, D) of the pretraining cells, ``cells``
  (n, 8, 2) int8 ``[op_index, input_state]``, ``hashes`` (list) and ``config``. A genotype's
  embedding is the concatenation of its normal and reduce cells' embeddings
  (:func:`embed_darts_genotypes`), 2 D wide.

:func:`ensure_nb201_embeddings` is what the searches call: it loads the NB201 embeddings, or on a
fresh clone pretrains (10 epochs, about a minute of CPU) and extracts them first.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from models import checkpoint as ckpt
from models.arch2vec import Arch2Vec
from models.arch2vec_spaces import CellGraphs, get_space
from models.pretrain_arch2vec import checkpoint_path, default_out, load_checkpoint, load_pretrained, pretrain
from preprocessing.errors import InputError, cli_entry

NB201_FILES = {"cifar10": "cifar10_valid_converged", "cifar100": "cifar100", "ImageNet16-120": "ImageNet16_120"}


def nb201_embedding_path(out, dataset: str) -> Path:
    return Path(out) / f"{NB201_FILES[dataset]}-arch2vec.pt"


def embed_graphs(model: Arch2Vec, graphs: CellGraphs, chunk: int = 8192) -> torch.Tensor:
    """(G, D) float32 embeddings of all graphs, in order."""
    parts = []
    for start in range(0, len(graphs), chunk):
        mask = None if graphs.mask is None else graphs.mask[start:start + chunk]
        parts.append(model.embed(graphs.adj[start:start + chunk], graphs.ops[start:start + chunk], mask))
    return torch.cat(parts).float()


def embed_darts_genotypes(model: Arch2Vec, genotypes) -> np.ndarray:
    """(n, 2 D) float32: each genotype's normal-cell embedding followed by its reduce-cell embedding."""
    from models.arch2vec_spaces import DartsGraphs
    from preprocessing.darts_space import validate_genotype

    genotypes = [validate_genotype(g) for g in genotypes]
    space = DartsGraphs()
    normal = embed_graphs(model, space.graphs_of([g.normal for g in genotypes], hashes=[""] * len(genotypes)))
    reduce = embed_graphs(model, space.graphs_of([g.reduce for g in genotypes], hashes=[""] * len(genotypes)))
    return torch.cat([normal, reduce], 1).numpy()


def extract(space: str = "nb201", out=None, latent_dim: int = 16, table=None, log=print) -> list[Path]:
    """Write the embedding file(s) of ``space`` from ``out``'s checkpoint; returns the paths written."""
    out = Path(out) if out is not None else default_out(latent_dim)
    checkpoint = load_checkpoint(checkpoint_path(out, space))
    if "metrics" not in checkpoint:
        raise InputError(f"{checkpoint_path(out, space)} is an unfinished run (epoch {checkpoint['epoch']}); "
                         "finish it with `python -m models.pretrain_arch2vec --resume` first")
    model, config = load_pretrained(checkpoint), checkpoint["config"]
    adapter = get_space(space)
    written = []
    if space == "nb201":
        from preprocessing.nb201_table import load_benchmark

        graphs = adapter.cells()
        embeddings = embed_graphs(model, graphs)
        bench = load_benchmark(table)
        for dataset in NB201_FILES:
            metrics = bench.metrics(dataset)
            path = nb201_embedding_path(out, dataset)
            ckpt.save(path, {
                "embeddings": embeddings, "valid": torch.from_numpy(np.asarray(metrics.valid_mean, dtype=np.float64)),
                "test": torch.from_numpy(np.asarray(metrics.test_mean, dtype=np.float64)),
                "train_time_s": torch.from_numpy(np.asarray(metrics.train_time_s, dtype=np.float64)),
                "arch_strings": bench.arch_strings.tolist(), "dataset": dataset, "config": config})
            written.append(path)
    elif space == "nb101":
        graphs = adapter.cells()
        path = Path(out) / "arch2vec-nb101.pt"
        ckpt.save(path, {"embeddings": embed_graphs(model, graphs), "hashes": graphs.keys, "config": config})
        written.append(path)
    else:
        from preprocessing.darts_space import cells_to_array, sample_unique_cells

        cells, hashes = sample_unique_cells(config["n_cells"], np.random.default_rng(config["seed"]), progress=True)
        graphs = adapter.graphs_of(cells, hashes)
        path = Path(out) / "arch2vec-darts.pt"
        ckpt.save(path, {"embeddings": embed_graphs(model, graphs),
                         "cells": torch.from_numpy(cells_to_array(cells)), "hashes": hashes,
                                 "config": config})
        written.append(path)
    for path in written:
        log(f"wrote {path}")
    return written


def _load_nb201_embeddings(path: Path, dim: int) -> np.ndarray | None:
    """The embeddings of an NB201 file, or None when it is missing, unreadable or the wrong shape."""
    if not path.exists():
        return None
    try:
        embeddings = ckpt.load(path, "arch2vec embedding file", "python -m models.extract_arch2vec",
                               keys={"embeddings": torch.Tensor})["embeddings"].numpy()
    except InputError:  # a corrupt, truncated or foreign file is a cache miss: rebuilt below
        return None
    from preprocessing.nasbench201 import N_ARCHS

    return embeddings if embeddings.shape == (N_ARCHS, dim) else None


def ensure_nb201_embeddings(dim: int = 16, verbose: bool = True, out=None) -> np.ndarray:
    """(15625, dim) float32 NB201 arch2vec embeddings, row = official index.

    Loads ``pretrained/dim-<dim>/cifar10_valid_converged-arch2vec.pt``; when it is missing (a fresh
    clone), pretrains 10 epochs on all NB201 cells and extracts first (saying so when verbose).
    """
    out = Path(out) if out is not None else default_out(dim)
    path = nb201_embedding_path(out, "cifar10")
    embeddings = _load_nb201_embeddings(path, dim)
    if embeddings is not None:
        return embeddings
    log = print if verbose else (lambda *_: None)
    log(f"arch2vec NB201 embeddings not found at {path}: pretraining (10 epochs) and extracting them now")
    ckpt = checkpoint_path(out, "nb201")
    finished = ckpt.exists() and "metrics" in load_checkpoint(ckpt)
    if not finished:
        pretrain("nb201", latent_dim=dim, out=out, resume=ckpt.exists(), progress=verbose, log=log)
    extract("nb201", out=out, latent_dim=dim, log=log)
    embeddings = _load_nb201_embeddings(path, dim)
    if embeddings is None:
        raise InputError(f"{path} could not be read back after extraction; delete {out} and retry")
    return embeddings


@cli_entry
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Extract arch2vec embeddings from a pretrained checkpoint.")
    parser.add_argument("--space", choices=("nb201", "nb101", "darts"), default="nb201",
                        help="space whose checkpoint model-<space>.pt to use (default: %(default)s)")
    parser.add_argument("--latent-dim", type=int, default=16, help="latent size, picks the default --out (default: 16)")
    parser.add_argument("--out", default=None, help="folder with the checkpoint and for the embeddings "
                                                    "(default: pretrained/dim-<latent-dim>)")
    parser.add_argument("--table", default=None,
                        help="NB201 only: accuracy table to attach (.npz or custom CSV; default: the embedded one)")
    args = parser.parse_args(argv)
    extract(args.space, args.out, args.latent_dim, args.table)


if __name__ == "__main__":
    main()
