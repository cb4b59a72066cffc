"""The DARTS evaluation networks built from a genotype, and their size/cost counters.

* :class:`NetworkCIFAR` -- stem conv (3x channels), ``layers`` cells with reduction cells at
  ``layers // 3`` and ``2 * layers // 3`` (channels doubled there), auxiliary head after the second
  reduction, global pooling + linear classifier. Paper setting: ``channels=36, layers=20``.
* :class:`NetworkImageNet` -- the same with DARTS' three stride-2 stem convs (224 -> 28) and a
  7x7-pooled classifier. Paper (mobile) setting: ``channels=48, layers=14``.

``forward`` returns ``(logits, aux_logits)``; ``aux_logits`` is None unless the net was built with
``auxiliary=True`` and is in training mode. Drop-path: set ``net.drop_path_prob`` (the training
loop ramps it up linearly); it only acts in training mode.

:func:`count_parameters` counts as DARTS does (auxiliary head excluded);
:func:`count_multiply_adds` counts conv + linear multiply-adds of one eval-mode forward pass
(ImageNet mobile setting: DARTS_V2 530M -- DARTS reports 574M with an unstated counter;
arch2vec_rl / arch2vec_bo 525M / 571M, or 533M / 580M with ``count_batchnorm=True``, exactly
arch2vec's reported figures).
"""
from __future__ import annotations

import torch
from torch import nn

from darts.operations import FactorizedReduce, ReLUConvBN, make_op
from preprocessing.darts_space import validate_genotype


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples with probability ``drop_prob``, rescaling the kept ones."""
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x * mask / keep


class Cell(nn.Module):
    """One normal or reduction cell: ``(s0, s1) -> concat of the 4 intermediate nodes``.

    ``s0``: (B, c_prev_prev, H0, W0), ``s1``: (B, c_prev, H, W) -> (B, 4 * channels, H', W') with
    H' = H / 2 for a reduction cell. ``reduction_prev``: s0 is twice s1's size, so it is
    factor-reduced first.
    """

    def __init__(self, cell, c_prev_prev: int, c_prev: int, channels: int, reduction: bool, reduction_prev: bool):
        super().__init__()
        self.preprocess0 = (FactorizedReduce(c_prev_prev, channels) if reduction_prev
                            else ReLUConvBN(c_prev_prev, channels, 1, 1, 0))
        self.preprocess1 = ReLUConvBN(c_prev, channels, 1, 1, 0)
        self.inputs = [src for _, src in cell]
        # ops reading the cell inputs stride in a reduction cell; the rest run at the reduced size
        self.ops = nn.ModuleList(make_op(op, channels, 2 if reduction and src < 2 else 1) for op, src in cell)
        self.multiplier = len(cell) // 2

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(len(self.ops) // 2):
            total = 0
            for e in (2 * node, 2 * node + 1):
                h = self.ops[e](states[self.inputs[e]])
                if self.training and drop_prob > 0 and not isinstance(self.ops[e], nn.Identity):
                    h = drop_path(h, drop_prob)
                total = total + h
            states.append(total)
        return torch.cat(states[2:], dim=1)


class AuxiliaryHead(nn.Module):
    """Auxiliary classifier: (B, C, H, W) -> (B, num_classes).

    DARTS pools with a 5x5 window (stride 3 at 8x8 on CIFAR, stride 2 at 14x14 on ImageNet) to
    2x2; other map sizes (small proxy inputs) are pooled adaptively to 2x2 instead.
    """

    def __init__(self, channels: int, num_classes: int, pool_stride: int, expected_size: int):
        super().__init__()
        self.expected_size = expected_size
        self.pool = nn.AvgPool2d(5, stride=pool_stride, padding=0, count_include_pad=False)
        self.features = nn.Sequential(
            nn.Conv2d(channels, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(x)
        x = self.pool(x) if x.shape[-1] == self.expected_size else nn.functional.adaptive_avg_pool2d(x, 2)
        return self.classifier(self.features(x).flatten(1))


class CIFARStem(nn.Module):
    """3x3 conv + BN: (B, in_channels, H, W) -> the two cell inputs, both (B, stem_channels, H, W)."""

    def __init__(self, in_channels: int, stem_channels: int):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(in_channels, stem_channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(stem_channels))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.conv(x)
        return s, s


class ImageNetStem(nn.Module):
    """Three stride-2 3x3 convs: (B, in_channels, H, W) -> (B, C, H/4, W/4), (B, C, H/8, W/8)."""

    def __init__(self, in_channels: int, channels: int):
        super().__init__()
        self.stem0 = nn.Sequential(
            nn.Conv2d(in_channels, channels // 2, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(channels // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // 2, channels, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(channels),
        )
        self.stem1 = nn.Sequential(nn.ReLU(inplace=True),
                                   nn.Conv2d(channels, channels, 3, stride=2, padding=1, bias=False),
                                   nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s0 = self.stem0(x)
        return s0, self.stem1(s0)


class _Network(nn.Module):
    """Stem, cell stack and heads; the two public classes only choose the stem and head sizes."""

    def __init__(self, genotype, channels: int, num_classes: int, layers: int, auxiliary: bool,
                 stem: nn.Module, stem_channels: int, stem_reduces: bool, aux_pool_stride: int,
                 aux_expected_size: int):
        super().__init__()
        genotype = validate_genotype(genotype, allow_none=True)
        if layers < 1 or channels < 2 or channels % 2:
            raise ValueError(f"need layers >= 1 and an even channels >= 2, got layers={layers}, channels={channels}")
        self.drop_path_prob = 0.0
        self.stem = stem
        self.auxiliary_layer = 2 * layers // 3
        c_prev_prev, c_prev, c_curr = stem_channels, stem_channels, channels
        reduction_prev = stem_reduces
        self.cells = nn.ModuleList()
        self.auxiliary_head = None
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_curr *= 2
            cell = Cell(genotype.reduce if reduction else genotype.normal, c_prev_prev, c_prev, c_curr,
                        reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, cell.multiplier * c_curr
            if i == self.auxiliary_layer and auxiliary:
                self.auxiliary_head = AuxiliaryHead(c_prev, num_classes, aux_pool_stride, aux_expected_size)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: (B, in_channels, H, W) -> logits (B, num_classes), aux logits (B, num_classes) or None."""
        s0, s1 = self.stem(x)
        aux_logits = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self.auxiliary_layer and self.auxiliary_head is not None and self.training:
                aux_logits = self.auxiliary_head(s1)
        return self.classifier(s1.mean(dim=(2, 3))), aux_logits


class NetworkCIFAR(_Network):
    """DARTS CIFAR network: (B, in_channels, 32, 32) -> (B, num_classes); any H, W >= 4 works."""

    def __init__(self, genotype, channels: int = 36, num_classes: int = 10, layers: int = 20,
                 auxiliary: bool = True, in_channels: int = 3, stem_multiplier: int = 3):
        stem_channels = stem_multiplier * channels
        super().__init__(genotype, channels, num_classes, layers, auxiliary, CIFARStem(in_channels, stem_channels),
                         stem_channels, stem_reduces=False, aux_pool_stride=3, aux_expected_size=8)


class NetworkImageNet(_Network):
    """DARTS ImageNet network: (B, 3, 224, 224) -> (B, num_classes); the stem reduces by 8."""

    def __init__(self, genotype, channels: int = 48, num_classes: int = 1000, layers: int = 14,
                 auxiliary: bool = True, in_channels: int = 3):
        super().__init__(genotype, channels, num_classes, layers, auxiliary, ImageNetStem(in_channels, channels),
                         channels, stem_reduces=True, aux_pool_stride=2, aux_expected_size=14)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters, auxiliary head excluded (DARTS' convention for reported sizes)."""
    return sum(p.numel() for name, p in model.named_parameters() if not name.startswith("auxiliary_head"))


def count_multiply_adds(model: nn.Module, input_shape: tuple[int, int, int], count_batchnorm: bool = False) -> int:
    """Multiply-adds of conv and linear layers for one eval-mode forward of a (C, H, W) input.

    ``count_batchnorm`` adds 2 per BatchNorm output element, the convention of the ``thop``
    profiler that arch2vec's ImageNet figures (533M RL, 580M BO) were measured with.
    """
    total = 0

    def conv_hook(module: nn.Conv2d, _inputs, output):
        nonlocal total
        per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        total += output[0].numel() * per_output

    def linear_hook(module: nn.Linear, _inputs, output):
        nonlocal total
        total += output[0].numel() * module.in_features

    def batchnorm_hook(_module, _inputs, output):
        nonlocal total
        total += 2 * output[0].numel()

    hooks = [(nn.Conv2d, conv_hook), (nn.Linear, linear_hook)]
    if count_batchnorm:
        hooks.append((nn.modules.batchnorm._BatchNorm, batchnorm_hook))
    handles = [module.register_forward_hook(hook) for module in model.modules()
               for kind, hook in hooks if isinstance(module, kind)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total
