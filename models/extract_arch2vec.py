"""arch2vec embeddings of a space's cells from its pretrained model.

    python -m models.extract_arch2vec --space nb201             # pretrained/dim-16/arch2vec-nb201.pt
    python -m models.extract_arch2vec --space nb101 --table T   # with T's accuracies attached

:func:`space_embeddings` is what the searches call: the embedding of every key ``0..max(keys)``
(row = key) of a search space, from the model pretrained on that space (the shipped one, or on a
fresh model folder pretrained first, saying so). An architecture made of several cells (DARTS:
normal and reduce) is embedded cell by cell and the cells' embeddings are concatenated.

The file written by the CLI (``--out``, default ``pretrained/dim-<latent>``; a dict of tensors and
plain types, load with ``torch.load(path, weights_only=True)``): ``embeddings`` (K, D) float32,
``arch_strings`` (list, row = key), ``config`` (the pretraining config) and, per dataset of the
space's table, ``valid/<dataset>``, ``test/<dataset>``, ``train_time_s/<dataset>`` (K,) float64.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from models import checkpoint as ckpt
from models.arch2vec import Arch2Vec
from models.pretrain_arch2vec import checkpoint_path, default_out, load_checkpoint, load_pretrained, pretrain
from preprocessing import spaces
from preprocessing.errors import InputError, cli_entry


def embed_graphs(model: Arch2Vec, adj: torch.Tensor, ops: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
    """(G, D) float32 embeddings of dense graphs (G, N, N) / (G, N, T), in order; all-zero op rows = padding."""
    parts = []
    for start in range(0, len(adj), chunk):
        a, o = adj[start:start + chunk], ops[start:start + chunk]
        mask = o.sum(-1) > 0
        parts.append(model.embed(a, o, None if bool(mask.all()) else mask))
    return torch.cat(parts).float() if parts else torch.zeros(0, model.to_mean.out_features)


def embed_keys(model: Arch2Vec, space, keys) -> np.ndarray:
    """(len(keys), C D) float32: the embedding of each architecture (its C cells' embeddings side by side)."""
    adj, ops = (torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for a in space.graphs(keys))
    if adj.ndim == 4:  # (B, C, N, N): architectures of C cells
        b, c = adj.shape[:2]
        return embed_graphs(model, adj.flatten(0, 1), ops.flatten(0, 1)).reshape(b, -1).numpy()
    return embed_graphs(model, adj, ops).numpy()


def pretrained_model(space_name: str, dim: int = 16, out=None, verbose: bool = True) -> tuple[Arch2Vec, dict]:
    """The finished arch2vec model of a space (pretrained first when the folder has none, saying so)."""
    out = Path(out) if out is not None else default_out(dim)
    path = checkpoint_path(out, space_name)
    checkpoint = load_checkpoint(path) if path.exists() else None
    if checkpoint is None or "metrics" not in checkpoint:
        log = print if verbose else (lambda *_: None)
        log(f"no finished arch2vec model at {path}: pretraining it on the {space_name} cells now "
            f"(python -m models.pretrain_arch2vec --space {space_name})")
        pretrain(space_name, latent_dim=dim, out=out, resume=checkpoint is not None, progress=verbose, log=log)
        checkpoint = load_checkpoint(path)
    if checkpoint["config"]["latent_dim"] != dim:
        raise InputError(f"{path} has latent size {checkpoint['config']['latent_dim']}, not {dim}; use its --out")
    return load_pretrained(checkpoint), checkpoint["config"]


def space_embeddings(space, dim: int = 16, verbose: bool = True, out=None) -> np.ndarray:
    """(max(keys) + 1, C dim) float32 arch2vec embeddings of a search space, row = key."""
    spaces.require(space, "graphs", "arch2vec")
    model, _ = pretrained_model(space.name, dim, out, verbose)
    return embed_keys(model, space, np.arange(int(np.max(space.keys())) + 1))


def extract(space_name: str = "nb201", out=None, latent_dim: int = 16, table=None, log=print) -> Path:
    """Write the embedding file of a space's search setup (with its table's accuracies); returns its path."""
    out = Path(out) if out is not None else default_out(latent_dim)
    setup = spaces.load_search(space_name, table)
    model, config = pretrained_model(space_name, latent_dim, out, verbose=True)
    rows = np.arange(int(np.max(setup.space.keys())) + 1)
    data = {"embeddings": torch.from_numpy(embed_keys(model, setup.space, rows)),
            "arch_strings": [setup.space.to_string(k) for k in rows.tolist()], "config": config}
    for dataset in setup.datasets if setup.benchmark is not None else ():
        metrics = setup.benchmark.metrics(dataset)
        for name, column in (("valid", metrics.valid_mean), ("test", metrics.test_mean),
                             ("train_time_s", metrics.train_time_s)):
            data[f"{name}/{dataset}"] = torch.from_numpy(np.asarray(column, dtype=np.float64)[rows])
    path = out / f"arch2vec-{space_name}.pt"
    ckpt.save(path, data)
    log(f"wrote {path}")
    return path


@cli_entry
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Extract arch2vec embeddings of a space's cells from its "
                                                 "pretrained model.")
    parser.add_argument("--space", default="nb201",
                        help="space whose model model-<space>.pt to use: " + ", ".join(spaces.SPACES)
                             + " (default: %(default)s)")
    parser.add_argument("--latent-dim", type=int, default=16, help="latent size, picks the default --out (default: 16)")
    parser.add_argument("--out", default=None, help="folder with the model and for the embeddings "
                                                    "(default: pretrained/dim-<latent-dim>)")
    parser.add_argument("--table", default=None,
                        help="the space's table whose cells are embedded and whose accuracies are attached "
                             "(default: the space's embedded table)")
    args = parser.parse_args(argv)
    extract(args.space, args.out, args.latent_dim, args.table)


if __name__ == "__main__":
    main()
