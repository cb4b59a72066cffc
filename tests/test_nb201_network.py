import numpy as np
import torch

from models.nb201_network import NB201Network, count_parameters
from preprocessing.nb201_table import load_embedded


def test_parameter_counts_match_the_benchmark_table():
    bench = load_embedded()
    params = bench.metrics("cifar10").extra["params_mb"]
    params100 = bench.metrics("cifar100").extra["params_mb"]
    for index in (0, int(np.argmax(params)), 6111, 9930, 15624):
        arch = bench.arch_strings[index]
        assert abs(count_parameters(NB201Network(arch, 10)) / 1e6 - params[index]) < 1e-6
        assert abs(count_parameters(NB201Network(arch, 100)) / 1e6 - params100[index]) < 1e-6


def test_small_network_forward_and_backward_on_grayscale_images():
    torch.manual_seed(0)
    arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"
    net = NB201Network(arch, num_classes=5, channels=4, cells_per_stage=1, in_channels=1)
    x = torch.randn(3, 1, 28, 28)
    logits = net(x)
    assert logits.shape == (3, 5)
    logits.sum().backward()
    assert net.stem[0].weight.grad is not None and torch.isfinite(net.stem[0].weight.grad).all()


def test_zero_cell_blocks_the_signal_through_cells():
    arch = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    net = NB201Network(arch, num_classes=3, channels=4, cells_per_stage=1).eval()
    a, b = net(torch.randn(2, 3, 16, 16)), net(torch.randn(2, 3, 16, 16))
    assert torch.allclose(a, b)  # output ignores the input: every path goes through a zero op
