"""Train a DARTS network from a genotype with the paper's CIFAR recipe; resumable.

    python -m darts.train --arch DARTS_V2 --dataset cifar10 --data /path/cifar-10-python.tar.gz --save runs/dartsv2
    python -m darts.train --genotype "Genotype(normal=[...], ...)" --dataset digits --epochs 5 --layers 5 --init-channels 8

Defaults are the DARTS paper's: 600 epochs, batch 96, SGD (momentum 0.9, weight decay 3e-4) with a
cosine learning rate from 0.025 to 0, auxiliary head weight 0.4, cutout 16, drop-path 0.2 (ramped
linearly over training), gradient clipping at 5, 36 initial channels, 20 cells. As in DARTS, the
"valid" numbers are measured on the dataset's test split after every epoch.

Outputs in ``--save`` (default ``saved_logs/darts/<arch>_<dataset>_seed<seed>``), all written atomically:

* ``config.json`` -- the run's settings (a rerun with different settings is refused);
* ``checkpoint.pt`` -- model/optimizer/scheduler state, RNG state, epoch and log after every epoch;
  plain tensors and python values only (``torch.load(..., weights_only=True)`` works). Rerunning the
  same command resumes from it; ``--stop-after N`` ends a run early so it can be resumed later;
* ``log.jsonl`` -- one JSON object per epoch: epoch, train_loss, train_acc, valid_loss, valid_acc
  (percent), lr, drop_path_prob, epoch_seconds, elapsed_seconds. Plot with
  ``python -m plot_scripts.plot_darts_training``.

The loop (:func:`fit`) and the flags (:func:`add_training_arguments`) are shared with
:mod:`darts.train_imagenet`.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from darts.data import Augment, BatchLoader, load_dataset
from darts.genotypes import GENOTYPES, resolve_genotype
from darts.model import NetworkCIFAR, count_parameters
from models import checkpoint as ckpt
from models.device import add_device_argument, resolve_device
from preprocessing.darts_space import genotype_to_string
from preprocessing.errors import InputError, cli_entry
from preprocessing.io_utils import atomic_write, atomic_write_json

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT = "checkpoint.pt"
LOG = "log.jsonl"
CONFIG = "config.json"

# Training augmentation per dataset; cutout uses --cutout-length where the recipe enables it.
AUGMENT = {"cifar10": Augment(4, True, 16), "cifar100": Augment(4, True, 16),
           "fashion_mnist": Augment(2, True, 0), "digits": Augment(1, False, 0)}

CIFAR_RECIPE = dict(epochs=600, batch_size=96, lr=0.025, momentum=0.9, weight_decay=3e-4, init_channels=36,
                    layers=20, auxiliary_weight=0.4, drop_path_prob=0.2, grad_clip=5.0)


def run_epoch(model: nn.Module, loader, criterion, optimizer=None, auxiliary_weight: float = 0.0,
              grad_clip: float = 0.0, device: str = "cpu", desc: str = "") -> tuple[float, float]:
    """One pass over ``loader``; trains when an optimizer is given. Returns (mean loss, accuracy %)."""
    training = optimizer is not None
    model.train(training)
    total_loss, correct, seen = 0.0, 0, 0
    with torch.set_grad_enabled(training):
        for x, y in tqdm(loader, desc=desc, leave=False, unit="batch", disable=not desc):
            x, y = x.to(device), y.to(device)
            logits, aux_logits = model(x)
            loss = criterion(logits, y)
            if training:
                objective = loss + auxiliary_weight * criterion(aux_logits, y) if aux_logits is not None else loss
                optimizer.zero_grad(set_to_none=True)
                objective.backward()
                if grad_clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                optimizer.step()
            total_loss += loss.item() * y.shape[0]
            correct += (logits.argmax(dim=1) == y).sum().item()
            seen += y.shape[0]
    return total_loss / max(seen, 1), 100.0 * correct / max(seen, 1)


def _write_log(path: Path, records: list[dict]) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)

    atomic_write(path, write)


def load_checkpoint(path) -> dict:
    """A checkpoint written by :func:`fit`, verified (:mod:`models.checkpoint`); InputError otherwise."""
    return ckpt.load(path, "DARTS training checkpoint", "python -m darts.train ... (it starts over)",
                     keys={"model": dict, "optimizer": dict, "scheduler": dict, "rng": torch.Tensor, "epoch": int,
                           "log": list, "config": dict})


def fit(model: nn.Module, train_loader, valid_loader, optimizer, scheduler, criterion, *, epochs: int,
        save_dir, config: dict, auxiliary_weight: float, drop_path_prob: float, grad_clip: float,
        device: str = "cpu", stop_after: int | None = None, progress: bool = True) -> list[dict]:
    """Train for ``epochs`` (resuming from ``save_dir`` when a checkpoint is there); returns the log.

    Loaders need ``set_epoch(epoch)``; ``config`` (plain JSON values) must equal the one the
    checkpoint was written with.
    """
    save_dir = Path(save_dir)
    checkpoint_path = save_dir / CHECKPOINT
    records: list[dict] = []
    start_epoch = 0
    if checkpoint_path.exists():
        state = load_checkpoint(checkpoint_path)
        if state.get("config") != config:
            raise InputError(f"{save_dir} holds a run with different settings; pass another --save folder "
                             f"or delete {checkpoint_path}")
        ckpt.load_state(model, state["model"], checkpoint_path, "DARTS network")
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        start_epoch, records = int(state["epoch"]), list(state["log"])
        print(f"resuming {save_dir} at epoch {start_epoch}/{epochs}")
    else:
        atomic_write_json(save_dir / CONFIG, config, indent=2)
    elapsed = records[-1]["elapsed_seconds"] if records else 0.0
    last = epochs if stop_after is None else min(epochs, start_epoch + stop_after)
    for epoch in tqdm(range(start_epoch, last), desc="epochs", unit="epoch", disable=not progress,
                      initial=start_epoch, total=epochs):
        start = time.perf_counter()
        for loader in (train_loader, valid_loader):
            loader.set_epoch(epoch)
        model.drop_path_prob = drop_path_prob * epoch / epochs
        lr = optimizer.param_groups[0]["lr"]
        train_loss, train_acc = run_epoch(model, train_loader, criterion, optimizer, auxiliary_weight, grad_clip,
                                          device, desc="train" if progress else "")
        valid_loss, valid_acc = run_epoch(model, valid_loader, criterion, device=device,
                                          desc="valid" if progress else "")
        scheduler.step()
        seconds = time.perf_counter() - start
        elapsed += seconds
        ckpt.check_finite(train_loss, f"in epoch {epoch + 1}", checkpoint_path)  # before the log and checkpoint
        records.append(dict(epoch=epoch + 1, train_loss=train_loss, train_acc=train_acc, valid_loss=valid_loss,
                            valid_acc=valid_acc, lr=lr, drop_path_prob=model.drop_path_prob,
                            epoch_seconds=seconds, elapsed_seconds=elapsed))
        _write_log(save_dir / LOG, records)
        ckpt.save(checkpoint_path, dict(
            model=model.state_dict(), optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
            rng=torch.get_rng_state(), epoch=epoch + 1, log=records, config=config))
        if progress:
            tqdm.write(f"epoch {epoch + 1}/{epochs} lr {lr:.4g} train {train_acc:.2f}% valid {valid_acc:.2f}% "
                       f"({seconds:.1f} s)")
    return records


def add_training_arguments(parser: argparse.ArgumentParser, recipe: dict) -> None:
    """The flags shared by the CIFAR and ImageNet trainers, with ``recipe`` as defaults."""
    arch = parser.add_mutually_exclusive_group()
    arch.add_argument("--arch", default=None, help=f"published genotype name: {', '.join(GENOTYPES)} (default DARTS_V2)")
    arch.add_argument("--genotype", default=None, help="genotype string \"Genotype(normal=[...], normal_concat=..., ...)\"")
    parser.add_argument("--data", default=None, help="dataset location (archive, folder)")
    parser.add_argument("--save", type=Path, default=None, help="output folder (checkpoint, log, config)")
    parser.add_argument("--epochs", type=int, default=recipe["epochs"], help="training epochs (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=recipe["batch_size"], help="batch size (default %(default)s)")
    parser.add_argument("--lr", type=float, default=recipe["lr"], help="initial SGD learning rate (default %(default)s)")
    parser.add_argument("--momentum", type=float, default=recipe["momentum"], help="SGD momentum (default %(default)s)")
    parser.add_argument("--weight-decay", type=float, default=recipe["weight_decay"],
                        help="weight decay (default %(default)s)")
    parser.add_argument("--init-channels", type=int, default=recipe["init_channels"],
                        help="channels of the first cells (default %(default)s)")
    parser.add_argument("--layers", type=int, default=recipe["layers"], help="number of cells (default %(default)s)")
    parser.add_argument("--no-auxiliary", action="store_true", help="train without the auxiliary head")
    parser.add_argument("--auxiliary-weight", type=float, default=recipe["auxiliary_weight"],
                        help="weight of the auxiliary loss (default %(default)s)")
    parser.add_argument("--drop-path-prob", type=float, default=recipe["drop_path_prob"],
                        help="final drop-path probability, ramped linearly from 0 (default %(default)s)")
    parser.add_argument("--grad-clip", type=float, default=recipe["grad_clip"],
                        help="gradient norm clip, 0 = off (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    add_device_argument(parser)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads, 0 = torch's default")
    parser.add_argument("--stop-after", type=int, default=None,
                        help="train at most this many epochs in this invocation (rerun to resume)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars and per-epoch lines")


def check_training_arguments(args) -> None:
    """InputError for nonsensical shared flag values; applies ``--threads``; resolves ``--device``."""
    args.device = str(resolve_device(args.device))
    for name in ("epochs", "batch_size", "init_channels", "layers"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    if args.init_channels % 2:
        raise InputError(f"--init-channels must be even (reduction cells split channels), got {args.init_channels}")
    if not 0.0 <= args.drop_path_prob < 1.0:
        raise InputError(f"--drop-path-prob must be in [0, 1), got {args.drop_path_prob}")
    if args.stop_after is not None and args.stop_after < 1:
        raise InputError(f"--stop-after must be positive, got {args.stop_after}")
    if args.threads > 0:
        torch.set_num_threads(args.threads)


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)


def run_config(args, genotype, extra: dict) -> dict:
    """The settings a checkpoint must match to be resumed (plain JSON values)."""
    shared = ("epochs", "batch_size", "lr", "momentum", "weight_decay", "init_channels", "layers",
              "auxiliary_weight", "drop_path_prob", "grad_clip", "seed")
    return dict({k: getattr(args, k) for k in shared}, genotype=genotype_to_string(genotype),
                auxiliary=not args.no_auxiliary, **extra)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    add_training_arguments(p, CIFAR_RECIPE)
    p.add_argument("--dataset", default="cifar10", choices=sorted(AUGMENT), help="dataset (default %(default)s)")
    p.add_argument("--cutout-length", type=int, default=None,
                   help="cutout square side, 0 = off (default 16 on CIFAR, off elsewhere)")
    p.add_argument("--train-limit", type=int, default=None, help="train on a seeded subset of this many images")
    p.add_argument("--valid-limit", type=int, default=None, help="validate on the first this many test images")
    return p


@cli_entry
def main(argv=None) -> list[dict]:
    args = _parser().parse_args(argv)
    check_training_arguments(args)
    for flag, value in (("--train-limit", args.train_limit), ("--valid-limit", args.valid_limit)):
        if value is not None and value < 1:
            raise InputError(f"{flag} must be positive, got {value}")
    if args.cutout_length is not None and args.cutout_length < 0:
        raise InputError(f"--cutout-length must be 0 (off) or positive, got {args.cutout_length}")
    genotype = resolve_genotype(None if args.genotype else (args.arch or "DARTS_V2"), args.genotype)
    seed_everything(args.seed)
    train_data = load_dataset(args.dataset, args.data, train=True)
    valid_data = load_dataset(args.dataset, args.data, train=False)
    mean, std = train_data.channel_stats()
    if args.train_limit is not None:
        train_data = train_data.subset(np.random.default_rng(args.seed).permutation(len(train_data))[:args.train_limit])
    if args.valid_limit is not None:
        valid_data = valid_data.subset(np.arange(min(args.valid_limit, len(valid_data))))
    augment = AUGMENT[args.dataset]
    if args.cutout_length is not None:
        augment = Augment(augment.crop_padding, augment.flip, args.cutout_length)
    train_loader = BatchLoader(train_data, args.batch_size, mean, std, augment, shuffle=True, seed=args.seed)
    valid_loader = BatchLoader(valid_data, args.batch_size, mean, std)

    model = NetworkCIFAR(genotype, args.init_channels, train_data.num_classes, args.layers, not args.no_auxiliary,
                         in_channels=train_data.images.shape[1]).to(args.device)
    optimizer = torch.optim.SGD(model.parameters(), args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.epochs)
    config = run_config(args, genotype, dict(dataset=args.dataset, cutout_length=augment.cutout_length,
                                             train_limit=args.train_limit, valid_limit=args.valid_limit,
                                             params=count_parameters(model)))
    name = args.arch or ("custom" if args.genotype else "DARTS_V2")
    save_dir = args.save or REPO_ROOT / "saved_logs" / "darts" / f"{name}_{args.dataset}_seed{args.seed}"
    if not args.no_progress:
        print(f"{name}: {count_parameters(model) / 1e6:.3f}M parameters (auxiliary head excluded); saving to {save_dir}")
    return fit(model, train_loader, valid_loader, optimizer, scheduler, nn.CrossEntropyLoss(), epochs=args.epochs,
               save_dir=save_dir, config=config, auxiliary_weight=args.auxiliary_weight,
               drop_path_prob=args.drop_path_prob, grad_clip=args.grad_clip, device=args.device,
               stop_after=args.stop_after, progress=not args.no_progress)


if __name__ == "__main__":
    main()
