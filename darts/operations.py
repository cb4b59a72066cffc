"""The DARTS candidate operations (the 7 ops + ``none``) and the layers cells are made of.

Every op maps ``(B, C, H, W) -> (B, C, H / stride, W / stride)``; :func:`make_op` builds one by
name. Convolutions are preceded by ReLU and followed by BatchNorm (ReLU-conv-BN order, as in DARTS).
"""
from __future__ import annotations

import torch
from torch import nn

from preprocessing.darts_space import OPS as SPACE_OPS


class Zero(nn.Module):
    """The ``none`` op: zeros of the output shape (strided when reducing)."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, ::self.stride, ::self.stride].mul(0.0)


class ReLUConvBN(nn.Sequential):
    """ReLU -> conv (k x k) -> BN; the 1x1 version preprocesses cell inputs."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """ReLU -> dilated depthwise k x k -> pointwise 1x1 -> BN."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int,
                 affine: bool = True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=padding, dilation=dilation, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """Two stacked depthwise-separable convolutions (DARTS' ``sep_conv``); only the first strides."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int, affine: bool = True):
        super().__init__(
            DilConv(c_in, c_in, kernel, stride, padding, dilation=1, affine=affine),
            DilConv(c_in, c_out, kernel, 1, padding, dilation=1, affine=affine),
        )


class FactorizedReduce(nn.Module):
    """Halve H and W with two offset stride-2 1x1 convs, each giving half the channels."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True):
        super().__init__()
        if c_out % 2:
            raise ValueError(f"FactorizedReduce needs an even number of output channels, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_even = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_odd = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        # the odd branch samples the pixels the even one skips (pads odd sizes back to even)
        odd = nn.functional.pad(x[:, :, 1:, 1:], (0, x.shape[3] % 2, 0, x.shape[2] % 2))
        return self.bn(torch.cat([self.conv_even(x), self.conv_odd(odd)], dim=1))


def make_op(name: str, channels: int, stride: int, affine: bool = True) -> nn.Module:
    """The op ``name`` (one of :data:`OP_NAMES`) on ``channels`` channels with the given stride."""
    c = channels
    if name == "none":
        return Zero(stride)
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride=stride, padding=1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine=affine)
    if name in ("sep_conv_3x3", "sep_conv_5x5"):
        kernel = int(name[-1])
        return SepConv(c, c, kernel, stride, kernel // 2, affine=affine)
    if name in ("dil_conv_3x3", "dil_conv_5x5"):
        kernel = int(name[-1])
        return DilConv(c, c, kernel, stride, 2 * (kernel // 2), dilation=2, affine=affine)
    raise ValueError(f"unknown DARTS op {name!r}; known: {', '.join(OP_NAMES)}")


OP_NAMES = ("none",) + SPACE_OPS
