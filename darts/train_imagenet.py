"""Train a DARTS network on an ImageFolder tree (ImageNet) with the DARTS ImageNet recipe; resumable.

    python -m darts.train_imagenet --arch arch2vec_rl --data /data/imagenet --save runs/a2v_rl_imagenet

``--data`` holds ``train/<class>/<image>`` and ``val/<class>/<image>``. Defaults are the DARTS
paper's mobile setting: 250 epochs, batch 128, SGD lr 0.1 (momentum 0.9, weight decay 3e-5)
decayed by 0.97 every epoch, label smoothing 0.1, auxiliary weight 0.4, no drop-path, gradient
clipping at 5, 48 initial channels, 14 cells. Training transform: random resized crop 224, flip,
brightness/contrast/saturation jitter 0.4; validation: resize 256, centre crop 224.

Checkpoint, log and config files and resuming work exactly as in :mod:`darts.train` (shared loop).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from darts.data import ImageFolder, ImageNetEvalTransform, ImageNetTrainTransform
from darts.model import NetworkImageNet, count_parameters
from darts.train import REPO_ROOT, add_training_arguments, check_training_arguments, fit, run_config, seed_everything
from darts.genotypes import resolve_genotype
from preprocessing.errors import InputError, cli_entry

IMAGENET_RECIPE = dict(epochs=250, batch_size=128, lr=0.1, momentum=0.9, weight_decay=3e-5, init_channels=48,
                       layers=14, auxiliary_weight=0.4, drop_path_prob=0.0, grad_clip=5.0)


class EpochLoader:
    """A DataLoader whose shuffle order and augmentation depend only on (seed, epoch)."""

    def __init__(self, dataset: ImageFolder, batch_size: int, shuffle: bool, workers: int, seed: int):
        self.seed, self.epoch = seed, 0
        self.generator = torch.Generator()
        self.loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers,
                                                  generator=self.generator, worker_init_fn=self._init_worker,
                                                  drop_last=False)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.generator.manual_seed(self.seed * 1_000_003 + epoch)

    def _init_worker(self, worker_id: int) -> None:
        transform = torch.utils.data.get_worker_info().dataset.transform
        if isinstance(transform, ImageNetTrainTransform):
            transform.reseed((self.seed * 1_000_003 + self.epoch) * 1009 + worker_id)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        transform = self.loader.dataset.transform
        if self.loader.num_workers == 0 and isinstance(transform, ImageNetTrainTransform):
            transform.reseed(self.seed * 1_000_003 + self.epoch)  # no workers: the in-process copy is used
        return iter(self.loader)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    add_training_arguments(p, IMAGENET_RECIPE)
    p.add_argument("--label-smooth", type=float, default=0.1, help="label smoothing (default %(default)s)")
    p.add_argument("--gamma", type=float, default=0.97, help="learning-rate decay per epoch (default %(default)s)")
    p.add_argument("--image-size", type=int, default=224, help="training/eval crop size (default %(default)s)")
    p.add_argument("--workers", type=int, default=4, help="data-loading worker processes (default %(default)s)")
    return p


@cli_entry
def main(argv=None) -> list[dict]:
    args = _parser().parse_args(argv)
    check_training_arguments(args)
    if args.data is None:
        raise InputError("--data is required: a folder with train/<class>/<image> and val/<class>/<image>")
    genotype = resolve_genotype(None if args.genotype else (args.arch or "DARTS_V2"), args.genotype)
    seed_everything(args.seed)
    root = Path(args.data)
    train_set = ImageFolder(root / "train", ImageNetTrainTransform(args.image_size, seed=args.seed))
    valid_set = ImageFolder(root / "val", ImageNetEvalTransform(round(args.image_size * 256 / 224), args.image_size))
    if valid_set.classes != train_set.classes:
        raise InputError(f"{root}/train and {root}/val have different class folders")
    train_loader = EpochLoader(train_set, args.batch_size, True, args.workers, args.seed)
    valid_loader = EpochLoader(valid_set, args.batch_size, False, args.workers, args.seed)

    model = NetworkImageNet(genotype, args.init_channels, len(train_set.classes), args.layers,
                            not args.no_auxiliary).to(args.device)
    optimizer = torch.optim.SGD(model.parameters(), args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1, gamma=args.gamma)
    config = run_config(args, genotype, dict(dataset=str(root), label_smooth=args.label_smooth, gamma=args.gamma,
                                             image_size=args.image_size, params=count_parameters(model)))
    name = args.arch or ("custom" if args.genotype else "DARTS_V2")
    save_dir = args.save or REPO_ROOT / "saved_logs" / "darts" / f"{name}_imagenet_seed{args.seed}"
    if not args.no_progress:
        print(f"{name}: {count_parameters(model) / 1e6:.3f}M parameters (auxiliary head excluded); saving to {save_dir}")
    return fit(model, train_loader, valid_loader, optimizer, scheduler, nn.CrossEntropyLoss(label_smoothing=args.label_smooth),
               epochs=args.epochs, save_dir=save_dir, config=config, auxiliary_weight=args.auxiliary_weight,
               drop_path_prob=args.drop_path_prob, grad_clip=args.grad_clip, device=args.device,
               stop_after=args.stop_after, progress=not args.no_progress)


if __name__ == "__main__":
    main()
