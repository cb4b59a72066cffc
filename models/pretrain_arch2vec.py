"""Pretrain arch2vec on every cell of a space (no labels), resumably, then report the paper's Table 1.

    python -m models.pretrain_arch2vec --space nb201            # 10 epochs, all 15,625 cells
    python -m models.pretrain_arch2vec --space nb101 --limit 50000
    python -m models.pretrain_arch2vec --space nb201 --resume   # continue an interrupted run

Defaults are the paper's: latent 16, Adam lr 1e-3 (betas 0.9, 0.999), batch 32, gradient-norm clip 5,
a seeded 90/10 train / held-out split; epochs and the number of cells per space are the space's
``SETTINGS["arch2vec"]`` (NB201: 10 epochs on all 15,625 cells; NB101: 8 epochs on 100,000 of the 423,624).

Files in ``--out`` (default ``pretrained/dim-<latent>``), written atomically:

* ``model-<space>.pt`` after every epoch, loadable with ``torch.load(..., weights_only=True)``:
  ``format``, ``config`` (plain hyperparameters), ``epoch`` (completed), ``epochs`` (target),
  ``model`` / ``optimizer`` state dicts, ``rng`` (torch RNG state, so a resumed run continues
  exactly as an uninterrupted one), ``history`` (per-epoch losses, held-out accuracy, seconds),
  ``fitted_priors`` and ``metrics`` once finished;
* ``model-<space>-metrics.json``: the final metrics (also printed).

Metrics (Table 1 of the paper): held-out reconstruction accuracy of ops and adjacency, both
per element (``*_node`` / ``*_pair``) and per graph exact match (``*_graph``); validity and
uniqueness of ``--prior-samples`` cells decoded from (a) the prior N(0, I), drawn independently per
node, (b) the original code's "prior": a per-node-slot diagonal Gaussian fitted to the training
cells' posterior means, and (c) one full-covariance Gaussian over the whole cell's N x D latent
fitted to the same means. Validity rules: each space's graph codec (``decode``, :mod:`preprocessing.spaces`).

Why (a) decodes (almost) no valid cell: node latents drawn independently from N(0, I) give edge
logits ``z_i . z_j`` symmetric around 0, so each of the 28 (NB201) decoded pairs is an edge with
probability 1/2 whatever the decoder, and every node's op distribution is the same, so "input
first, output last" cannot hold often either. A per-node VGAE prior carries no node positions;
the fitted Gaussians (b), (c) do.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from models import pretrained
from models.arch2vec import Arch2Vec, decoded_cells, reconstruction_accuracy, vae_loss
from models.device import add_device_argument, move, resolve_device
from models.space_graphs import CellGraphs, decoding_stats, pretraining_graphs
from preprocessing import spaces
from preprocessing.errors import InputError, cli_entry
from models import checkpoint as ckpt
from preprocessing.io_utils import atomic_write_json

FORMAT = "arch2vec-checkpoint-v1"
HELD_OUT_FRACTION = 0.1
GRAD_CLIP = 5.0


def default_out(latent_dim: int) -> Path:
    return pretrained.root() / f"dim-{latent_dim}"


def checkpoint_path(out, space: str) -> Path:
    return Path(out) / f"model-{space}.pt"


def metrics_path(out, space: str) -> Path:
    return Path(out) / f"model-{space}-metrics.json"


def build_model(config: dict) -> Arch2Vec:
    return Arch2Vec(config["n_types"], config["hidden_dim"], config["latent_dim"], config["n_layers"],
                    config["dropout"])


def load_checkpoint(path) -> dict:
    """A checkpoint written by this module (weights_only); InputError when missing or unreadable."""
    return ckpt.load(path, "arch2vec checkpoint", "python -m models.pretrain_arch2vec", FORMAT,
                     {"config": dict, "epoch": int, "epochs": int, "model": dict, "history": list})


def load_pretrained(checkpoint: dict) -> Arch2Vec:
    """The model of a checkpoint, in eval mode."""
    model = build_model(checkpoint["config"])
    ckpt.load_state(model, checkpoint["model"], "the arch2vec checkpoint", "arch2vec")
    return model.eval()


def split(graphs: CellGraphs, seed: int) -> tuple[CellGraphs, CellGraphs]:
    """Seeded 90 / 10 split into training and held-out cells."""
    order = torch.randperm(len(graphs), generator=torch.Generator().manual_seed(seed))
    n_held_out = max(1, int(round(HELD_OUT_FRACTION * len(graphs))))
    return graphs.subset(order[n_held_out:]), graphs.subset(order[:n_held_out])


def train_epoch(model: Arch2Vec, optimizer, train: CellGraphs, batch_size: int, order: torch.Tensor,
                bar: tqdm) -> dict[str, float]:
    """One pass over ``train`` in the given order (batches moved to the model's device); returns mean loss terms."""
    model.train()
    device = next(model.parameters()).device
    totals = torch.zeros(4, device=device)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        adj, ops = train.adj[rows], train.ops[rows]
        mask = None if train.mask is None else train.mask[rows]
        adj, ops, mask = move((adj, ops, mask), device)
        ops_logits, adj_logits, mean, logvar = model(adj, ops, mask)
        loss, parts = vae_loss(ops_logits, adj_logits, mean, logvar, adj, ops, mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP, foreach=True)
        optimizer.step()
        totals += torch.stack([loss.detach(), parts["ops"], parts["adj"], parts["kl"]]) * len(rows)
        bar.update(len(rows))
    means = (totals / len(order)).tolist()
    return dict(zip(("loss", "loss_ops", "loss_adj", "kl"), means))


@torch.no_grad()
def fitted_priors(model: Arch2Vec, graphs: CellGraphs, chunk: int = 8192) -> dict[str, dict[str, torch.Tensor]]:
    """Gaussians fitted to the posterior means of ``graphs``, as ``{name: {'mean': (N D,), 'scale': (N D, N D)}}``.

    ``slot``: independent per node slot and latent dim (the original code's sampler; real nodes
    only). ``joint``: one full-covariance Gaussian over the whole cell's N x D latent, which keeps
    the correlations between slots that decide the edges; ``scale`` is its Cholesky factor.
    """
    model.eval()
    means, weights = [], []
    for start in range(0, len(graphs), chunk):
        mask = None if graphs.mask is None else graphs.mask[start:start + chunk]
        mean, _ = model.encode(graphs.adj[start:start + chunk], graphs.ops[start:start + chunk], mask)
        means.append(mean)
        weights.append(torch.ones(mean.shape[:2]) if mask is None else mask.float())
    means, weights = torch.cat(means), torch.cat(weights)[..., None]
    counts = weights.sum(0).clamp(min=1)
    slot_mean = (means * weights).sum(0) / counts
    slot_std = ((means - slot_mean).pow(2) * weights).sum(0).div(counts).sqrt()
    flat = means.flatten(1).double()
    covariance = torch.cov(flat.T) + 1e-6 * torch.eye(flat.shape[1], dtype=flat.dtype)
    return {"slot": {"mean": slot_mean.flatten(), "scale": torch.diag(slot_std.flatten())},
            "joint": {"mean": flat.mean(0).float(), "scale": torch.linalg.cholesky(covariance).float()}}


@torch.no_grad()
def decode_prior_samples(model: Arch2Vec, n_samples: int, n_nodes: int, seed: int, gaussian=None):
    """Hard-decode ``n_samples`` cell latents z ~ N(mean, scale scale^T) over (N D,), default N(0, I).

    Returns node types (S, N) int64 and upper-triangle adjacency (S, N, N) bool, numpy.
    """
    model.eval()
    latent_dim = model.to_mean.out_features
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(n_samples, n_nodes * latent_dim, generator=generator)
    if gaussian is not None:
        z = gaussian["mean"] + z @ gaussian["scale"].T
    types, edges = decoded_cells(*model.decode(z.view(n_samples, n_nodes, latent_dim)))
    return types.numpy(), edges.numpy()


PRIORS = {"prior_standard": None, "prior_fitted": "slot", "prior_joint": "joint"}
PRIOR_LABELS = {"prior_standard": "the prior N(0, I)",
                "prior_fitted": "per-slot Gaussians fitted to the posterior means (the original code's sampler)",
                "prior_joint": "a joint full-covariance Gaussian fitted to the posterior means"}


def final_metrics(model, space, train: CellGraphs, held_out: CellGraphs, n_samples: int, seed: int):
    """Table-1 metrics and the fitted Gaussians."""
    metrics = {f"heldout_{k}": v for k, v in
               reconstruction_accuracy(model, held_out.adj, held_out.ops, held_out.mask).items()}
    gaussians = fitted_priors(model, train)
    for name, fitted in PRIORS.items():
        types, edges = decode_prior_samples(model, n_samples, space.n_nodes, seed,
                                            None if fitted is None else gaussians[fitted])
        for key, value in decoding_stats(space, types, edges).items():
            metrics[f"{name}_{key}"] = value
    metrics["prior_samples"] = n_samples
    return metrics, gaussians


def format_metrics(metrics: dict) -> str:
    pct = lambda k: f"{100 * metrics[k]:.2f}%"  # noqa: E731
    return (
        f"held-out reconstruction ({metrics['n_held_out']} cells): "
        f"ops {pct('heldout_ops_node')} per node / {pct('heldout_ops_graph')} per graph, "
        f"adjacency {pct('heldout_adj_pair')} per pair / {pct('heldout_adj_graph')} per graph\n"
        + "".join(
            f"decoding {metrics['prior_samples']} samples from {label}: valid {pct(name + '_valid')}, "
            f"unique {pct(name + '_unique')}\n"
            for name, label in PRIOR_LABELS.items() if name + "_valid" in metrics)
        + f"training time {metrics['train_time_s']:.1f} s for {metrics['epochs']} epochs"
    )


def _run_config(space, n_cells: int, args) -> dict:
    return {"space": space.name, "n_types": len(space.node_types), "n_nodes": space.n_nodes, "hidden_dim": 128,
            "latent_dim": args["latent_dim"], "n_layers": 4, "dropout": 0.3, "batch_size": args["batch_size"],
            "lr": args["lr"], "grad_clip": GRAD_CLIP, "seed": args["seed"], "limit": args["limit"],
            "n_cells": n_cells}


def _check_args(epochs, batch_size, lr, latent_dim, limit, prior_samples):
    for name, value in (("--epochs", epochs), ("--batch-size", batch_size), ("--latent-dim", latent_dim),
                        ("--prior-samples", prior_samples)):
        if value is not None and value < 1:
            raise InputError(f"{name} must be >= 1, got {value}")
    if limit is not None and limit < 10:
        raise InputError(f"--limit must be >= 10 (a 90/10 split needs a few cells), got {limit}")
    if not lr > 0:
        raise InputError(f"--lr must be > 0, got {lr}")


def pretrain(space: str = "nb201", epochs: int | None = None, batch_size: int = 32, lr: float = 1e-3,
             latent_dim: int = 16, seed: int = 0, limit: int | None = None, out=None, resume: bool = False,
             fresh: bool = False, prior_samples: int = 10_000, threads: int | None = 1,
             progress: bool = True, log=print, reevaluate: bool = False, device: str = "cpu") -> dict:
    """Pretrain (or resume, or just report a finished run) and return the final metrics dict.

    reevaluate: recompute the final metrics of a finished run instead of only reporting them.
    device: where training runs (cpu | cuda | auto, see models.device); the final metrics are computed
    on the CPU either way.
    """
    device = resolve_device(device)
    _check_args(epochs, batch_size, lr, latent_dim, limit, prior_samples)
    settings = spaces.settings(space, "arch2vec")
    epochs = epochs or settings["epochs"]
    limit = settings["limit"] if limit is None else limit
    out = Path(out) if out is not None else default_out(latent_dim)
    path = checkpoint_path(out, space)
    checkpoint = None
    if path.exists() and not fresh:
        checkpoint = load_checkpoint(path)
    if checkpoint is not None and not resume:
        finished = "metrics" in checkpoint and checkpoint["epoch"] >= epochs
        if not finished:
            raise InputError(f"{path} holds a run at epoch {checkpoint['epoch']} of {checkpoint['epochs']}; "
                             "pass --resume to continue it or --fresh to start over")

    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _train(space, epochs, dict(batch_size=batch_size, lr=lr, latent_dim=latent_dim, seed=seed,
                                                  limit=limit), out, path, checkpoint, prior_samples, progress, log,
                      reevaluate, device)
    finally:
        torch.set_num_threads(previous_threads)


def _train(space_name, epochs, args, out, path, checkpoint, prior_samples, progress, log, reevaluate, device) -> dict:
    space, graphs = pretraining_graphs(space_name, args["limit"], args["seed"])
    if args["limit"] is not None and args["limit"] > len(space):  # e.g. DARTS: a pool of sampled cells
        raise InputError(f"--limit {args['limit']} exceeds the {len(space):,} cells of the {space_name} space; "
                         f"pass at most {len(space)}")
    config = _run_config(space, len(graphs), args)
    if checkpoint is not None and checkpoint["config"] != config:
        changed = sorted(k for k in config if checkpoint["config"].get(k) != config[k])
        raise InputError(f"{path} was trained with different settings ({', '.join(changed)}); "
                         "use the same flags, another --out, or --fresh")
    if checkpoint is not None and "metrics" in checkpoint and checkpoint["epoch"] >= epochs and not reevaluate:
        log(f"{path}: finished run ({checkpoint['epoch']} epochs), nothing to do")
        log(format_metrics(checkpoint["metrics"]))
        return checkpoint["metrics"]

    torch.manual_seed(config["seed"])
    model = build_model(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"], betas=(0.9, 0.999), foreach=True)
    train, held_out = split(graphs, config["seed"])
    history, start_epoch = [], 0
    if checkpoint is not None:
        ckpt.load_state(model, checkpoint["model"], path, "arch2vec")
        optimizer.load_state_dict(checkpoint["optimizer"])
        torch.set_rng_state(checkpoint["rng"]["torch"])
        history, start_epoch = list(checkpoint["history"]), checkpoint["epoch"]
        log(f"re-evaluating {path}" if start_epoch >= epochs else f"resuming {path} after epoch {start_epoch} of {epochs}")
    log(f"arch2vec pretraining on {space.name}: {len(train)} training / {len(held_out)} held-out cells, "
        f"{epochs} epochs, batch {config['batch_size']}, on {device}, {torch.get_num_threads()} thread(s)")

    for epoch in range(start_epoch, epochs):
        started = time.perf_counter()
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(config["seed"] * 100_003 + epoch))
        with tqdm(total=len(train), desc=f"epoch {epoch + 1}/{epochs}", unit="cell", disable=not progress,
                  leave=False) as bar:
            losses = train_epoch(model, optimizer, train, config["batch_size"], order, bar)
        ckpt.check_finite(losses["loss"], f"in epoch {epoch + 1}", path)
        seconds = time.perf_counter() - started
        accuracy = reconstruction_accuracy(model, *move((held_out.adj, held_out.ops, held_out.mask), device))
        history.append({"epoch": epoch + 1, "seconds": seconds, **losses,
                        **{f"heldout_{k}": v for k, v in accuracy.items()}})
        log(f"epoch {epoch + 1}/{epochs}: loss {losses['loss']:.4f} (ops {losses['loss_ops']:.4f}, adj "
            f"{losses['loss_adj']:.4f}, kl {losses['kl']:.2e}), held-out ops {100 * accuracy['ops_graph']:.2f}% / "
            f"adj {100 * accuracy['adj_graph']:.2f}% per graph, {seconds:.1f} s")
        checkpoint = {"format": FORMAT, "config": config, "epoch": epoch + 1, "epochs": epochs,
                      "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                      "rng": {"torch": torch.get_rng_state()}, "history": history}
        ckpt.save(path, checkpoint)

    model.cpu()  # the metrics and the fitted priors: on the CPU, whatever trained the model
    metrics, prior = final_metrics(model, space, train, held_out, prior_samples, config["seed"])
    metrics.update({"space": space.name, "epochs": epochs, "n_train": len(train), "n_held_out": len(held_out),
                    "train_time_s": sum(h["seconds"] for h in history), "checkpoint": str(path),
                    "device": str(device)})
    checkpoint.update({"metrics": metrics, "fitted_priors": prior, "rng": {"torch": torch.get_rng_state()}})
    ckpt.save(path, checkpoint)
    atomic_write_json(metrics_path(out, space.name), {**metrics, "history": history}, indent=2)
    log(format_metrics(metrics))
    return metrics


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--space", default="nb201",
                        help="cell space to pretrain on: " + ", ".join(spaces.spaces_with('arch2vec')) + " (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs (default: the space's, as in the paper: " + ", ".join(
                            f"{name} {spaces.settings(name, 'arch2vec')['epochs']}" for name in spaces.spaces_with('arch2vec')) + ")")
    parser.add_argument("--batch-size", type=int, default=32, help="cells per batch (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default: %(default)s)")
    parser.add_argument("--latent-dim", type=int, default=16, help="per-node latent size (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, init, shuffling (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None,
                        help="pretrain on a seeded subset of this many cells (default: the space's: " + ", ".join(
                            f"{name} {spaces.settings(name, 'arch2vec')['limit'] or 'all'}" for name in spaces.spaces_with('arch2vec'))
                             + ")")
    parser.add_argument("--out", default=None, help="output folder (default: pretrained/dim-<latent-dim>)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch")
    parser.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint in --out and start over")
    parser.add_argument("--reevaluate", action="store_true",
                        help="recompute the final metrics of a finished run in --out (no training)")
    parser.add_argument("--prior-samples", type=int, default=10_000,
                        help="latent samples decoded for validity / uniqueness (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads; small batched matmuls run fastest on 1 (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="hide the tqdm progress bars")
    add_device_argument(parser)


@cli_entry
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Pretrain the arch2vec graph VAE on all cells of a space.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.resume and args.fresh:
        raise InputError("--resume and --fresh contradict each other; pass one of them")
    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads must be >= 1, got {args.threads}")
    pretrain(args.space, args.epochs, args.batch_size, args.lr, args.latent_dim, args.seed, args.limit, args.out,
             args.resume, args.fresh, args.prior_samples, args.threads, not args.no_progress,
             reevaluate=args.reevaluate, device=args.device)


if __name__ == "__main__":
    main()
