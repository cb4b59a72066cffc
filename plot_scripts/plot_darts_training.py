"""Plot DARTS training curves (accuracy, loss, learning rate per epoch) from ``log.jsonl`` files.

    python -m plot_scripts.plot_darts_training saved_logs/darts/DARTS_V2_cifar10_seed0 --out figures/dartsv2.png

Each argument is a ``log.jsonl`` written by :mod:`darts.train` / :mod:`darts.train_imagenet` or the
run folder holding it; several runs are drawn on the same axes, labelled by folder name.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)

from preprocessing.errors import InputError, cli_entry  # noqa: E402
from preprocessing.io_utils import atomic_write  # noqa: E402

REQUIRED = ("epoch", "train_acc", "valid_acc", "train_loss", "valid_loss", "lr")


def read_training_log(path) -> list[dict]:
    """Records of one ``log.jsonl`` (or the run folder holding it); InputError when malformed."""
    path = Path(path)
    if path.is_dir():
        path = path / "log.jsonl"
    if not path.is_file():
        raise InputError(f"training log {path} not found")
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise InputError(f"{path}:{number} is not JSON") from None
        missing = [k for k in REQUIRED if k not in record]
        if missing:
            raise InputError(f"{path}:{number} lacks {', '.join(missing)}: not a darts.train log")
        records.append(record)
    if not records:
        raise InputError(f"{path} has no epochs yet")
    return records


def plot_training(runs: dict[str, list[dict]], out) -> None:
    """Three panels (accuracy, loss, lr vs epoch) for every run; saved atomically as PNG."""
    fig, (acc_ax, loss_ax, lr_ax) = plt.subplots(1, 3, figsize=(15, 4.2))
    fig.suptitle("DARTS network training: " + ", ".join(runs))
    for label, records in runs.items():
        epochs = [r["epoch"] for r in records]
        for ax, key, style in ((acc_ax, "train_acc", "--"), (acc_ax, "valid_acc", "-"),
                               (loss_ax, "train_loss", "--"), (loss_ax, "valid_loss", "-")):
            # darts.train evaluates on the dataset's test split after every epoch (logged as "valid")
            split = "train" if key.startswith("train") else "test split"
            ax.plot(epochs, [r[key] for r in records], style, label=f"{label} {split}")
        lr_ax.plot(epochs, [r["lr"] for r in records], label=label)
    for ax, ylabel in ((acc_ax, "accuracy (%)"), (loss_ax, "cross-entropy loss"), (lr_ax, "learning rate")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_write(out, lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    plt.close(fig)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("logs", nargs="+", type=Path, help="log.jsonl files or run folders")
    p.add_argument("--out", type=Path, default=Path("figures") / "darts_training.png",
                   help="output PNG (default %(default)s)")
    return p


@cli_entry
def main(argv=None) -> None:
    args = _parser().parse_args(argv)
    runs = {}
    for path in args.logs:
        label = (path if path.is_dir() else path.parent).name or str(path)
        runs[label if label not in runs else str(path)] = read_training_log(path)
    plot_training(runs, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
