"""The NAS-Bench-201 network built from a cell, for training cells on real images.

Macro skeleton of NAS-Bench-201: a 3x3 conv stem with ``channels`` filters, three stages of
``cells_per_stage`` cells separated by residual reduction blocks (stride 2, channels doubled),
then BN-ReLU, global average pooling and a linear classifier. The benchmark used
``channels=16, cells_per_stage=5``; small values give a cheap proxy network.

A cell has 4 nodes; node ``j`` sums ``op(node i)`` over the edges ``j <- i`` of the arch string.
Ops: ``none`` (zero), ``skip_connect`` (identity), ``nor_conv_1x1`` / ``nor_conv_3x3``
(ReLU-Conv-BN), ``avg_pool_3x3`` (stride 1).
"""
from __future__ import annotations

import torch
from torch import nn

from preprocessing.nasbench201 import EDGES, parse_arch_string


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1):
        super().__init__(nn.ReLU(inplace=False), nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out))


class Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def make_op(name: str, channels: int) -> nn.Module:
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3)
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)  # avg_pool_3x3 (parse validated it)


class NB201Cell(nn.Module):
    """One searched cell: (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, ops: tuple[str, ...], channels: int):
        super().__init__()
        self.edges = nn.ModuleList(make_op(op, channels) for op in ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for to_node in (1, 2, 3):
            nodes.append(sum(self.edges[e](nodes[src]) for e, (dst, src) in enumerate(EDGES) if dst == to_node))
        return nodes[3]


class ResidualReduction(nn.Module):
    """ResNet basic block with stride 2: (B, C, H, W) -> (B, 2C, H/2, W/2)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.body = nn.Sequential(ReLUConvBN(c_in, c_out, 3, stride=2), ReLUConvBN(c_out, c_out, 3))
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class NB201Network(nn.Module):
    """Images (B, in_channels, H, W) -> logits (B, num_classes) for one NB201 arch string."""

    def __init__(self, arch: str, num_classes: int, channels: int = 16, cells_per_stage: int = 5,
                 in_channels: int = 3):
        super().__init__()
        ops = parse_arch_string(arch)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
        layers: list[nn.Module] = []
        c = channels
        for stage in range(3):
            if stage > 0:
                layers.append(ResidualReduction(c, 2 * c))
                c *= 2
            layers.extend(NB201Cell(ops, c) for _ in range(cells_per_stage))
        self.cells = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(c, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.cells(self.stem(x)))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
