"""Time arch2vec pretraining on NB201 (dense batched tensors) against a torch_geometric baseline.

The dense path is :func:`models.pretrain_arch2vec.pretrain`, run for ``--epochs`` (10, the paper's
NB201 setting) on all 15,625 cells; its held-out reconstruction and prior-decoding metrics are
printed. The baseline is the same VAE written the usual torch_geometric way: per-graph ``Data``
objects collated by a ``DataLoader`` every batch, ``GINConv`` layers on a sparse ``edge_index`` of
the symmetrised DAG, ``to_dense_batch`` before the inner-product decoder. It is timed on
``--baseline-steps`` optimisation steps (same batch size, optimiser and clipping) and extrapolated
to the same number of steps as the dense run, whose cost per step is just as constant.

    python -m benchmarks.bench_arch2vec_pretrain [--epochs 10] [--baseline-steps 400]
"""
from __future__ import annotations

import argparse
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn

from models.arch2vec import Arch2Vec, vae_loss
from models.space_graphs import pretraining_graphs
from models.pretrain_arch2vec import GRAD_CLIP, format_metrics, pretrain, split
from preprocessing.errors import InputError, cli_entry


class PyGArch2Vec(Arch2Vec):
    """The same encoder on torch_geometric's sparse GINConv (for timing only); decoder and heads inherited."""

    def __init__(self, n_types: int):
        super().__init__(n_types)
        from torch_geometric.nn import GINConv

        self.convs = nn.ModuleList(GINConv(layer.mlp, train_eps=True) for layer in self.layers)

    def encode_sparse(self, x, edge_index, batch):
        from torch_geometric.utils import to_dense_batch

        h = x
        for conv, layer in zip(self.convs, self.layers):
            h = F.relu(layer.norm(conv(h, edge_index)))
        mean, _ = to_dense_batch(self.to_mean(h), batch)
        logvar, _ = to_dense_batch(self.to_logvar(h), batch)
        return mean, logvar


def _pyg_dataset(graphs):
    from torch_geometric.data import Data

    data = []
    for adj, ops in zip(graphs.adj, graphs.ops):
        symmetric = adj + adj.T
        data.append(Data(x=ops, edge_index=symmetric.nonzero().T.contiguous(), adj=adj[None], ops=ops[None]))
    return data


def baseline_seconds_per_step(steps: int, batch_size: int, seed: int) -> float:
    from torch_geometric.loader import DataLoader

    torch.manual_seed(seed)
    train, _ = split(pretraining_graphs("nb201")[1], seed)
    loader = DataLoader(_pyg_dataset(train), batch_size=batch_size, shuffle=True)
    model = PyGArch2Vec(n_types=train.ops.shape[-1])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)
    done, started = 0, None
    while done < steps:
        for batch in loader:
            if done == 10:  # the first steps warm up allocators and are not timed
                started = time.perf_counter()
            mean, logvar = model.encode_sparse(batch.x, batch.edge_index, batch.batch)
            z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
            ops_logits, adj_logits = model.decode(z)
            loss, _ = vae_loss(ops_logits, adj_logits, mean, logvar, batch.adj, batch.ops)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP, foreach=True)
            optimizer.step()
            done += 1
            if done == steps:
                break
    return (time.perf_counter() - started) / (steps - 10)


@cli_entry
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Dense arch2vec pretraining vs a torch_geometric baseline (NB201).")
    parser.add_argument("--epochs", type=int, default=10, help="dense pretraining epochs (default: %(default)s)")
    parser.add_argument("--baseline-steps", type=int, default=400,
                        help="optimisation steps timed for the baseline, then extrapolated (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of both runs (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.baseline_steps < 20 or args.threads < 1:
        raise InputError("--epochs and --threads must be >= 1 and --baseline-steps >= 20")
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        metrics = pretrain("nb201", epochs=args.epochs, seed=args.seed, out=out, threads=args.threads,
                           progress=False, log=lambda *_: None)
        dense_total = time.perf_counter() - started
    steps = args.epochs * -(-metrics["n_train"] // 32)
    dense_train = metrics["train_time_s"]
    baseline_train = baseline_seconds_per_step(args.baseline_steps, 32, args.seed) * steps
    print(format_metrics(metrics))
    print(f"dense: {dense_train:.1f} s training ({1000 * dense_train / steps:.2f} ms/step), "
          f"{dense_total:.1f} s including data, evaluation and prior decoding")
    print(f"torch_geometric baseline: {baseline_train:.1f} s training for the same {steps} steps "
          f"({1000 * baseline_train / steps:.2f} ms/step, timed on {args.baseline_steps} steps)")
    print(f"speed-up of the dense training loop: {baseline_train / dense_train:.2f}x")


if __name__ == "__main__":
    main()
