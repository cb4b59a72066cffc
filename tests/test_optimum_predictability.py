"""benchmarks.optimum_predictability: the Kronecker leave-one-out GP is the dense one, and the CLI reports ranks."""
import itertools

import numpy as np
import pytest

from benchmarks import optimum_predictability as op


def dense_loo(targets: np.ndarray, theta: float, noise: float) -> np.ndarray:
    """Leave-one-out by refitting the GP without each cell in turn (dense solves)."""
    cells = np.array(list(itertools.product(*(range(d) for d in targets.shape))))
    kernel = np.exp(-theta * (cells[:, None, :] != cells[None, :, :]).sum(-1))
    y = targets.reshape(-1)
    out = np.empty(len(y))
    for i in range(len(y)):
        rest = np.arange(len(y)) != i
        weights = np.linalg.solve(kernel[np.ix_(rest, rest)] + noise * np.eye(rest.sum()), y[rest])
        out[i] = kernel[i, rest] @ weights
    return out.reshape(targets.shape)


@pytest.mark.parametrize("shape,theta,noise", [((3, 3, 3), 0.3, 1e-3), ((4, 2, 3), 1.0, 0.3), ((5, 5), 2.0, 0.03)])
def test_kronecker_leave_one_out_equals_refitting_without_each_cell(shape, theta, noise):
    targets = np.random.default_rng(0).normal(size=shape)
    np.testing.assert_allclose(op.loo_gp_means(targets, theta, noise), dense_loo(targets, theta, noise), atol=1e-9)


def test_rank_counts_cells_predicted_strictly_higher():
    prediction = np.array([0.5, 2.0, 0.5, 3.0])
    assert [op.rank_of(prediction, c) for c in range(4)] == [3, 2, 3, 1]


def test_main_prints_a_rank_per_dataset_and_setting(capsys):
    op.main(["--thetas", "0.3", "--noises", "0.3", "--folds", "0"])
    lines = capsys.readouterr().out.strip().splitlines()
    gp = [line for line in lines if "GP theta 0.3 noise 0.3" in line]
    transfer = [line for line in lines if "other datasets" in line]
    assert [line.split(":")[0] for line in gp] == [line.split(":")[0] for line in transfer] == \
        ["cifar10", "cifar100", "ImageNet16-120"]
    ranks = [int(line.split("optimum rank ")[1].split(";")[0]) for line in gp]
    assert all(1 <= r <= 15625 for r in ranks) and ranks[2] > ranks[0]  # ImageNet16-120's optimum: the least predictable
    assert "by cifar100's table" in transfer[0] and "cifar10's table" not in transfer[0]  # never its own table


@pytest.mark.parametrize("flags", [["--folds", "1"], ["--thetas", "0"], ["--noises", "-1"]])
def test_bad_flags_are_one_error_line(capsys, flags):
    with pytest.raises(SystemExit) as exit_info:
        op.main(flags)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")
