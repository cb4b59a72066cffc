"""Masked pretraining of the GMAE encoder on the unlabelled cells of a space, resumably.

    python -m models.pretrain_gmae --space nb201                     # all 15,625 cells, paper sizes
    python -m models.pretrain_gmae --space nb101 --limit 50000       # a seeded subset of the enumerated space
    python -m models.pretrain_gmae --space nb201 --mask-ratio 0.5 --objective sce   # an ablation

Defaults per space are the paper's (the space's ``SETTINGS["gmae"]``: NB101 16 layers d=32 mask
0.75, NB201 12 layers d=64 mask 0.15); AdamW with a cosine learning-rate schedule over all steps.
A seeded 10% of the cells is held out to report the masked-op accuracy (a fixed mask).

One file per setting, ``pretrained/gmae/<space>/<name>.pt`` (name from encoder, decoder,
objective and ratio, e.g. ``gat-linear-ce-m0.15.pt``), written atomically after every epoch and
loadable with ``torch.load(..., weights_only=True)``: ``format``, ``config``, ``epoch``,
``model`` / ``optimizer`` / ``scheduler`` state dicts, ``rng`` (torch generator state, so a resumed run
equals an uninterrupted one), ``history`` and, once finished, ``metrics``. ``--resume`` continues
an interrupted run; :func:`ensure_gmae_encoder` pretrains the default encoder when it is missing
(what the search runner does on a fresh clone).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from models import pretrained
from models.device import add_device_argument, move, resolve_device
from models.gmae import DECODERS, ENCODERS, GMAE, OBJECTIVES, GMAEEncoder, mask_nodes, pretrain_loss
from models.space_graphs import pretraining_graphs
from preprocessing import spaces
from preprocessing.errors import InputError, cli_entry
from models import checkpoint as ckpt

FORMAT = "gmae-checkpoint-v1"
HELD_OUT_FRACTION = 0.1


def checkpoint_path(space: str, encoder: str = "gat", decoder: str = "linear", objective: str = "ce",
                    mask_ratio: float | None = None, out=None) -> Path:
    ratio = spaces.settings(space, "gmae")["mask_ratio"] if mask_ratio is None else mask_ratio
    folder = Path(out) if out is not None else pretrained.root() / "gmae" / space
    return folder / f"{encoder}-{decoder}-{objective}-m{ratio:g}.pt"


def load_checkpoint(path) -> dict:
    """A checkpoint written here (weights_only); InputError when missing, unreadable or foreign."""
    return ckpt.load(path, "GMAE checkpoint", "python -m models.pretrain_gmae", FORMAT,
                     {"config": dict, "epoch": int, "model": dict, "history": list})


def build_model(config: dict) -> GMAE:
    return GMAE(config["n_types"], config["dim"], config["layers"], config["heads"], config["encoder"],
                config["decoder"])


def encoder_state(checkpoint: dict) -> dict:
    """The encoder's weights (state dict) of a pretraining checkpoint."""
    prefix = "encoder."
    return {k[len(prefix):]: v for k, v in checkpoint["model"].items() if k.startswith(prefix)}


def build_encoder(config: dict) -> GMAEEncoder:
    """A randomly initialised encoder of a checkpoint's architecture (the from-scratch baseline)."""
    return GMAEEncoder(config["n_types"], config["dim"], config["layers"], config["heads"], config["encoder"])


def load_encoder(checkpoint: dict) -> GMAEEncoder:
    """The pretrained encoder of a checkpoint, in eval mode."""
    encoder = build_encoder(checkpoint["config"])
    ckpt.load_state(encoder, encoder_state(checkpoint), "the GMAE checkpoint", "GMAE encoder")
    return encoder.eval()


def _batches(n: int, batch_size: int, generator: torch.Generator):
    order = torch.randperm(n, generator=generator)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def _rows(graphs, rows):
    return graphs.adj[rows], graphs.ops[rows], None if graphs.mask is None else graphs.mask[rows]


@torch.no_grad()
def masked_accuracy(model: GMAE, graphs, ratio: float, objective: str, seed: int, chunk: int = 4096) -> dict:
    """Loss and masked-op accuracy on ``graphs`` with a fixed seeded mask (eval mode)."""
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    loss = accuracy = 0.0
    for start in range(0, len(graphs), chunk):
        adj, ops, mask = _rows(graphs, slice(start, start + chunk))
        masked = mask_nodes(ops, ratio, generator, mask)  # drawn on the CPU: the same masks on every device
        adj, ops, mask, masked = move((adj, ops, mask, masked), device)
        batch_loss, batch_accuracy = pretrain_loss(model, adj, ops, mask, masked, objective)
        weight = len(adj) / len(graphs)
        loss += float(batch_loss) * weight
        accuracy += float(batch_accuracy) * weight
    return {"loss": loss, "masked_op_accuracy": accuracy}


def _config(space, args: dict, n_cells: int) -> dict:
    paper = spaces.settings(space.name, "gmae")
    return {"space": space.name, "n_types": len(space.node_types), "n_cells": n_cells,
            "layers": args["layers"] or paper["layers"], "dim": args["dim"] or paper["dim"], "heads": args["heads"],
            "encoder": args["encoder"], "decoder": args["decoder"], "objective": args["objective"],
            "mask_ratio": paper["mask_ratio"] if args["mask_ratio"] is None else args["mask_ratio"],
            "batch_size": args["batch_size"], "lr": args["lr"], "weight_decay": args["weight_decay"],
            "epochs": args["epochs"] or paper["epochs"], "seed": args["seed"], "limit": args["limit"]}


def _check(args: dict) -> None:
    for name in ("epochs", "layers", "dim", "batch_size"):
        if args[name] is not None and args[name] < 1:
            raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {args[name]}")
    if args["heads"] < 2 or args["heads"] % 2:
        raise InputError(f"--heads must be an even number >= 2, got {args['heads']}")
    if args["dim"] is not None and args["dim"] % args["heads"]:
        raise InputError(f"--dim {args['dim']} must be divisible by --heads {args['heads']}")
    if args["mask_ratio"] is not None and not 0 < args["mask_ratio"] <= 1:
        raise InputError(f"--mask-ratio must be in (0, 1], got {args['mask_ratio']}")
    if args["limit"] is not None and args["limit"] < 10:
        raise InputError(f"--limit must be >= 10 (a held-out tenth needs a few cells), got {args['limit']}")
    if not args["lr"] > 0 or args["weight_decay"] < 0:
        raise InputError("--lr must be > 0 and --weight-decay >= 0")
    for name, choices in (("encoder", ENCODERS), ("decoder", DECODERS), ("objective", OBJECTIVES)):
        if args[name] not in choices:
            raise InputError(f"--{name} {args[name]!r} is unknown; choose one of {', '.join(choices)}")


def pretrain(space: str = "nb201", *, epochs: int | None = None, layers: int | None = None, dim: int | None = None,
             heads: int = 4, encoder: str = "gat", decoder: str = "linear", objective: str = "ce",
             mask_ratio: float | None = None, batch_size: int = 256, lr: float = 1e-3, weight_decay: float = 1e-4,
             seed: int = 0, limit: int | None = None, out=None, resume: bool = False, fresh: bool = False,
             threads: int | None = 1, progress: bool = True, log=print, device: str = "cpu") -> Path:
    """Pretrain (or resume, or find finished) and return the checkpoint path; ``device``: cpu | cuda | auto."""
    device = resolve_device(device)
    args = dict(epochs=epochs, layers=layers, dim=dim, heads=heads, encoder=encoder, decoder=decoder,
                objective=objective, mask_ratio=mask_ratio, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                seed=seed, limit=limit)
    _check(args)
    if limit is None:
        args["limit"] = spaces.settings(space, "gmae")["limit"]
    path = checkpoint_path(space, encoder, decoder, objective, mask_ratio, out)
    checkpoint = None if fresh or not path.exists() else load_checkpoint(path)
    if checkpoint is not None and "metrics" not in checkpoint and not resume:
        raise InputError(f"{path} holds an unfinished run (epoch {checkpoint['epoch']}); "
                         "pass --resume to continue it or --fresh to start over")
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        _train(space, args, path, checkpoint, progress, log, device)
    finally:
        torch.set_num_threads(previous_threads)
    return path


def _train(space_name: str, args: dict, path: Path, checkpoint: dict | None, progress: bool, log, device) -> None:
    space, graphs = pretraining_graphs(space_name, args["limit"], args["seed"])
    config = _config(space, args, len(graphs))
    if checkpoint is not None:
        if checkpoint["config"] != config:
            changed = sorted(k for k in config if checkpoint["config"].get(k) != config[k])
            raise InputError(f"{path} was trained with different settings ({', '.join(changed)}); "
                             "use the same flags, another --out, or --fresh")
        if "metrics" in checkpoint:
            log(f"{path}: finished ({checkpoint['epoch']} epochs), held-out masked-op accuracy "
                f"{checkpoint['metrics']['masked_op_accuracy']:.3f}; nothing to do")
            return
    torch.manual_seed(config["seed"])
    model = build_model(config).to(device)
    order = torch.randperm(len(graphs), generator=torch.Generator().manual_seed(config["seed"]))
    n_held = max(1, round(HELD_OUT_FRACTION * len(graphs)))
    held_out, train = graphs.subset(order[:n_held]), graphs.subset(order[n_held:])
    steps_per_epoch = -(-len(train) // config["batch_size"])
    optimiser = torch.optim.AdamW(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config["epochs"] * steps_per_epoch)
    generator = torch.Generator().manual_seed(config["seed"] + 1)
    history, start_epoch = [], 0
    if checkpoint is not None:
        ckpt.load_state(model, checkpoint["model"], path, "GMAE")
        optimiser.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        generator.set_state(checkpoint["rng"])
        history, start_epoch = list(checkpoint["history"]), checkpoint["epoch"]
        log(f"resuming {path} after epoch {start_epoch} of {config['epochs']}")
    log(f"GMAE pretraining on {space.name}: {len(train)} training / {len(held_out)} held-out cells, "
        f"{config['epochs']} epochs, {config['layers']} layers d={config['dim']}, mask {config['mask_ratio']}, "
        f"{config['encoder']}/{config['decoder']}/{config['objective']}, on {device}, {torch.get_num_threads()} thread(s) -> {path}")
    for epoch in range(start_epoch, config["epochs"]):
        started = time.perf_counter()
        model.train()
        total = 0.0
        bar = tqdm(total=len(train), desc=f"epoch {epoch + 1}/{config['epochs']}", unit="cell", disable=not progress,
                   leave=False)
        for rows in _batches(len(train), config["batch_size"], generator):
            adj, ops, mask = _rows(train, rows)
            masked = mask_nodes(ops, config["mask_ratio"], generator, mask)  # CPU stream on every device
            adj, ops, mask, masked = move((adj, ops, mask, masked), device)
            loss, _ = pretrain_loss(model, adj, ops, mask, masked, config["objective"])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            ckpt.check_finite(loss.item(), f"in epoch {epoch + 1}", path)
            total += loss.item() * len(rows)
            bar.update(len(rows))
        bar.close()
        held = masked_accuracy(model, held_out, config["mask_ratio"], config["objective"], config["seed"])
        history.append({"epoch": epoch + 1, "train_loss": total / len(train), "heldout_loss": held["loss"],
                        "heldout_masked_op_accuracy": held["masked_op_accuracy"],
                        "seconds": time.perf_counter() - started})
        state = {"format": FORMAT, "config": config, "epoch": epoch + 1, "model": model.state_dict(),
                 "optimizer": optimiser.state_dict(), "scheduler": scheduler.state_dict(),
                 "rng": generator.get_state(), "history": history}
        if epoch + 1 == config["epochs"]:
            state["metrics"] = {**held, "train_time_s": sum(h["seconds"] for h in history)}
        ckpt.save(path, state)
        log(f"epoch {epoch + 1}: train loss {history[-1]['train_loss']:.4f}, held-out loss {held['loss']:.4f}, "
            f"masked-op accuracy {held['masked_op_accuracy']:.3f} ({history[-1]['seconds']:.1f} s)")
    log(f"pretraining time {sum(h['seconds'] for h in history):.1f} s in {len(history)} epochs; wrote {path}")


def ensure_gmae_encoder(space: str = "nb201", log=None, **settings) -> Path:
    """Path of a finished pretraining checkpoint for ``settings``; pretrains it first when missing or unfinished."""
    log = log or (lambda message: print(message, file=sys.stderr))
    path = checkpoint_path(space, settings.get("encoder", "gat"), settings.get("decoder", "linear"),
                           settings.get("objective", "ce"), settings.get("mask_ratio"), settings.get("out"))
    if path.exists() and "metrics" in load_checkpoint(path):
        return path
    log(f"{path} is missing or unfinished: pretraining the GMAE encoder on {space} now "
        f"(a few minutes on 2 CPU cores for NB201)")
    return pretrain(space, resume=path.exists(), log=log, **settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m models.pretrain_gmae",
                                     description="Masked-op pretraining of the GMAE graph encoder (resumable).")
    parser.add_argument("--space", default="nb201",
                        help="cell space: " + ", ".join(spaces.spaces_with('gmae')) + " (default nb201)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default per space: " + ", ".join(
        f"{name} {spaces.settings(name, 'gmae')['epochs']}" for name in spaces.spaces_with('gmae')) + ")")
    parser.add_argument("--layers", type=int, default=None, help="encoder blocks (default: the paper's per space)")
    parser.add_argument("--dim", type=int, default=None, help="hidden width (default: the paper's per space)")
    parser.add_argument("--heads", type=int, default=4, help="attention heads, even (default 4)")
    parser.add_argument("--encoder", default="gat", choices=ENCODERS, help="encoder blocks: gat (paper) or gin")
    parser.add_argument("--decoder", default="linear", choices=DECODERS,
                        help="op decoder: linear or gat (re-mask + one GAT block)")
    parser.add_argument("--objective", default="ce", choices=OBJECTIVES,
                        help="ce: masked-op cross-entropy; sce: scaled cosine error; ce_adj: ce + adjacency BCE")
    parser.add_argument("--mask-ratio", type=float, default=None,
                        help="fraction of op nodes masked per cell (default: the paper's per space)")
    parser.add_argument("--batch-size", type=int, default=256, help="cells per step (default 256)")
    parser.add_argument("--lr", type=float, default=1e-3, help="AdamW peak learning rate, cosine decay (default 1e-3)")
    parser.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW weight decay (default 1e-4)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initialisation, split, order and masks")
    parser.add_argument("--limit", type=int, default=None,
                        help="pretrain on a seeded subset of this many cells (default per space: " + ", ".join(
                            f"{name} {spaces.settings(name, 'gmae')['limit'] or 'all'}" for name in spaces.spaces_with('gmae')) + ")")
    parser.add_argument("--out", default=None, help="checkpoint folder (default pretrained/gmae/<space>)")
    parser.add_argument("--resume", action="store_true", help="continue an unfinished checkpoint")
    parser.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint and start over")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device_argument(parser)
    return parser


@cli_entry
def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    if args.threads < 1:
        raise InputError(f"--threads must be >= 1, got {args.threads}")
    pretrain(args.space, epochs=args.epochs, layers=args.layers, dim=args.dim, heads=args.heads,
             encoder=args.encoder, decoder=args.decoder, objective=args.objective, mask_ratio=args.mask_ratio,
             batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay, seed=args.seed,
             limit=args.limit, out=args.out, resume=args.resume, fresh=args.fresh, threads=args.threads,
             progress=not args.quiet, device=args.device)


if __name__ == "__main__":
    main()
