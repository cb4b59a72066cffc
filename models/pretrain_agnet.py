"""Pretrain AG-Net's generator by reconstructing the real cells of a space, then measure its samples.

    python -m models.pretrain_agnet                      # NB201, all 15,625 cells
    python -m models.pretrain_agnet --train-fraction 0.9 --out pretrained/agnet_split90

Files (under ``<out>/<space>/``): ``checkpoint.pt`` (after every epoch: model, optimizer, epoch,
losses; a rerun with the same config resumes from it), ``generator.pt`` (the finished generator:
``config``, ``state``, ``train_keys``) and ``quality.json`` (validity, uniqueness and novelty of
``--samples`` generated cells). All load with ``torch.load(..., weights_only=True)``.

Quality, over ``n`` samples from ``z ~ N(0, I)``: validity = valid / n; uniqueness = distinct valid
/ valid; novelty = distinct valid cells not in the training set / distinct valid (0 by construction
when the generator was trained on every cell of the space, hence ``--train-fraction``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from models.agnet import CellGenerator
from models import pretrained
from models.agnet_cells import GeneratorCells
from models.device import add_device_argument, move, resolve_device
from models.space_graphs import seeded_keys
from preprocessing import spaces
from preprocessing.errors import InputError, cli_entry
from models import checkpoint as ckpt
from preprocessing.io_utils import atomic_write_json



def default_root() -> Path:
    return pretrained.root() / "agnet"

DEFAULTS = {"epochs": 20, "batch_size": 256, "lr": 1e-3, "seed": 0, "train_fraction": 1.0,
            "noise_dim": 32, "hidden_dim": 32, "n_layers": 2}
MODEL_KEYS = ("n_types", "max_nodes", "noise_dim", "hidden_dim", "n_layers")


def space_cells(space_name: str) -> GeneratorCells:
    """AG-Net's view of every cell of a space (pretraining may use them all)."""
    return GeneratorCells(spaces.full_space(space_name))


def build_generator(config: dict) -> CellGenerator:
    return CellGenerator(**{k: config[k] for k in MODEL_KEYS})


def generator_path(root: Path | str | None = None, space_name: str = "nb201") -> Path:
    return Path(root if root is not None else default_root()) / space_name / "generator.pt"


def load_generator_file(path: Path | str) -> dict:
    """The finished-generator file as plain data; InputError when it is not one."""
    saved = ckpt.load(path, "AG-Net generator file", "python -m models.pretrain_agnet",
                      keys={"config": dict, "state": dict, "losses": list, "train_keys": torch.Tensor})
    missing = sorted(set(MODEL_KEYS) - set(saved["config"]))
    if missing:
        raise InputError(f"{path}: the AG-Net generator config lacks {missing[0]!r}; delete it and rerun "
                         f"python -m models.pretrain_agnet")
    try:
        generator = build_generator(saved["config"])
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InputError(f"{path}: the AG-Net generator config is unusable ({exc}); delete it and rerun "
                         f"python -m models.pretrain_agnet") from None
    ckpt.load_state(generator, saved["state"], path, "AG-Net generator")  # every tensor's name and shape
    return saved


def training_keys(cells, fraction: float, seed: int, limit: int | None = None) -> np.ndarray:
    keys = seeded_keys(cells.space, limit, seed)
    if fraction >= 1.0:
        return keys
    chosen = np.random.default_rng([seed, 7]).permutation(len(keys))[: max(1, int(round(fraction * len(keys))))]
    return np.sort(keys[chosen])


def sample_keys(generator: CellGenerator, cells, n: int, seed: int, batch: int = 2000) -> np.ndarray:
    """Keys of ``n`` generated cells (-1 = invalid)."""
    torch_rng = torch.Generator().manual_seed(seed)
    out = []
    generator.eval()
    for start in range(0, n, batch):
        size = min(batch, n - start)
        z = torch.randn(size, generator.noise_dim, generator=torch_rng)
        types, adj, n_nodes = generator.sample(z, torch_rng)
        out.append(cells.keys(types.numpy(), adj.numpy(), n_nodes.numpy()))
    return np.concatenate(out)


def sample_quality(keys: np.ndarray, train_keys: np.ndarray) -> dict:
    valid = keys[keys >= 0]
    distinct = np.unique(valid)
    return {
        "samples": int(len(keys)),
        "validity": float(len(valid) / len(keys)),
        "uniqueness": float(len(distinct) / max(1, len(valid))),
        "novelty": float(np.mean(~np.isin(distinct, train_keys))) if len(distinct) else 0.0,
        "distinct_valid": int(len(distinct)),
    }


def pretrain(space_name: str = "nb201", out: Path | str | None = None, samples: int = 10_000, quiet: bool = False,
             device: str = "cpu", **overrides) -> dict:
    """Train (or resume) the generator on ``device`` (cpu | cuda | auto; the noise and the order are drawn on the
    CPU, the quality samples are drawn on the CPU); write generator.pt and quality.json; return the quality."""
    device = resolve_device(device)
    given = {k: v for k, v in overrides.items() if v is not None}
    config = {**DEFAULTS, **spaces.settings(space_name, "agnet"), **given, "space": space_name}
    if config["epochs"] < 1 or config["batch_size"] < 1 or config["lr"] <= 0:
        raise InputError("--epochs and --batch-size must be at least 1 and --lr positive")
    if not 0 < config["train_fraction"] <= 1:
        raise InputError(f"--train-fraction {config['train_fraction']} must be in (0, 1]")
    if samples < 1:
        raise InputError("--samples must be at least 1")
    cells = space_cells(space_name)
    config.update(n_types=cells.n_types, max_nodes=cells.max_nodes)
    folder = Path(out if out is not None else default_root()) / space_name
    checkpoint_file = folder / "checkpoint.pt"

    torch.manual_seed(config["seed"])
    generator = build_generator(config).to(device)
    optimizer = torch.optim.Adam(generator.parameters(), lr=config["lr"])
    start_epoch, losses = 0, []
    if checkpoint_file.exists():
        saved = ckpt.load(checkpoint_file, "AG-Net checkpoint", "python -m models.pretrain_agnet",
                          keys={"config": dict, "epoch": int, "losses": list, "model": dict, "optimizer": dict})
        if saved.get("config") == config:
            ckpt.load_state(generator, saved["model"], checkpoint_file, "AG-Net generator")
            optimizer.load_state_dict(saved["optimizer"])
            start_epoch, losses = saved["epoch"], list(saved["losses"])
            if not quiet and start_epoch < config["epochs"]:
                print(f"resuming AG-Net pretraining at epoch {start_epoch + 1} from {checkpoint_file}")
        elif not quiet:
            print(f"{checkpoint_file} has another config; starting afresh")

    keys = training_keys(cells, config["train_fraction"], config["seed"], config["limit"])
    types, adj, n_nodes = (torch.from_numpy(a) for a in cells.graphs(keys))
    started = time.perf_counter()
    for epoch in tqdm(range(start_epoch, config["epochs"]), desc="AG-Net pretraining", unit="epoch",
                      disable=quiet, initial=start_epoch, total=config["epochs"]):
        generator.train()
        order = torch.from_numpy(np.random.default_rng([config["seed"], epoch]).permutation(len(keys)))
        noise_rng = torch.Generator().manual_seed(config["seed"] * 100_003 + epoch)
        total = 0.0
        for batch in order.split(config["batch_size"]):
            z = torch.randn(len(batch), config["noise_dim"], generator=noise_rng)
            loss = generator.reconstruction(*move((types[batch], adj[batch], n_nodes[batch], z), device))[0].mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            ckpt.check_finite(loss.item(), f"in epoch {epoch + 1}", checkpoint_file)
            total += loss.item() * len(batch)
        losses.append(total / len(keys))
        ckpt.save(checkpoint_file, {"config": config, "epoch": epoch + 1, "losses": losses,
                                            "model": generator.state_dict(), "optimizer": optimizer.state_dict()})
    generator.cpu()
    quality = sample_quality(sample_keys(generator, cells, samples, config["seed"] + 1), keys)
    quality.update(epochs=config["epochs"], final_loss=losses[-1], first_loss=losses[0],
                   train_cells=int(len(keys)), train_time_s=time.perf_counter() - started)
    ckpt.save(folder / "generator.pt", {"config": config, "state": generator.state_dict(),
                                                "losses": losses, "train_keys": torch.from_numpy(keys)})
    atomic_write_json(folder / "quality.json", quality, indent=1)
    if not quiet:
        print(f"AG-Net generator ({space_name}, {len(keys)} training cells): loss {losses[0]:.3f} -> {losses[-1]:.3f}; "
              f"{samples} samples: validity {quality['validity']:.4f}, uniqueness {quality['uniqueness']:.4f}, "
              f"novelty {quality['novelty']:.4f}  -> {folder}")
    return quality


def ensure_agnet_generator(space_name: str = "nb201", root: Path | str | None = None, quiet: bool = False) -> dict:
    """The pretrained generator file's content; pretrains it first (with the defaults) when missing."""
    path = generator_path(root, space_name)
    if not path.exists():
        print(f"AG-Net: no pretrained generator at {path}; pretraining it now with the defaults "
              f"(python -m models.pretrain_agnet --space {space_name})",
              file=sys.stderr)
        pretrain(space_name, root, quiet=quiet)
    return load_generator_file(path)


@cli_entry
def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m models.pretrain_agnet", description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", default="nb201",
                        help="search space whose cells are reconstructed: " + ", ".join(spaces.spaces_with('agnet'))
                             + " (default nb201)")
    parser.add_argument("--epochs", type=int, default=None, help="passes over the training cells (default per space: "
                        + ", ".join(f"{n} {spaces.settings(n, 'agnet')['epochs']}" for n in spaces.spaces_with('agnet')) + ")")
    parser.add_argument("--limit", type=int, default=None,
                        help="train on a seeded subset of this many cells (default per space: " + ", ".join(
                            f"{n} {spaces.settings(n, 'agnet')['limit'] or 'all'}" for n in spaces.spaces_with('agnet')) + ")")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"], help="cells per step")
    parser.add_argument("--lr", type=float, default=DEFAULTS["lr"], help="Adam learning rate")
    parser.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="seed of init, order, noise and sampling")
    parser.add_argument("--train-fraction", type=float, default=DEFAULTS["train_fraction"],
                        help="share of the space's cells to train on (default 1.0 = all; < 1 makes novelty "
                             "measurable)")
    parser.add_argument("--noise-dim", type=int, default=DEFAULTS["noise_dim"], help="size of the noise z")
    parser.add_argument("--hidden-dim", type=int, default=DEFAULTS["hidden_dim"], help="GNN node-state size")
    parser.add_argument("--n-layers", type=int, default=DEFAULTS["n_layers"], help="message-passing layers")
    parser.add_argument("--samples", type=int, default=10_000, help="generated cells for the quality report")
    parser.add_argument("--out", default=None, help="output root; files go to <out>/<space>/ (default "
                                                        "pretrained/agnet)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    add_device_argument(parser)
    args = parser.parse_args(argv)
    for name in ("noise_dim", "hidden_dim", "n_layers", "threads"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1")
    torch.set_num_threads(args.threads)
    pretrain(args.space, args.out, samples=args.samples, quiet=args.quiet, device=args.device, epochs=args.epochs,
             batch_size=args.batch_size, lr=args.lr, seed=args.seed, train_fraction=args.train_fraction,
             noise_dim=args.noise_dim, hidden_dim=args.hidden_dim, n_layers=args.n_layers, limit=args.limit)


if __name__ == "__main__":
    main()
