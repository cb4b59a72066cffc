import numpy as np
import pytest
import torch

from models.predictors import MLPPredictor, StackedMLP, make_predictor
from preprocessing.errors import InputError


def toy_regression(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.5 * X[:, 3]
    return X, y


def test_mlp_fits_a_nonlinear_toy_function():
    X, y = toy_regression(200)
    Xt, yt = toy_regression(200, seed=1)
    pred = MLPPredictor(hidden=(64, 64), steps=150, lr=1e-2).fit(X, y, seed=0).predict(Xt)
    r2 = 1 - np.mean((pred - yt) ** 2) / np.var(yt)
    assert r2 > 0.8


def test_labels_are_standardised_so_affine_labels_give_affine_predictions():
    X, y = toy_regression(50)
    Xt, _ = toy_regression(20, seed=1)
    base = MLPPredictor(hidden=(16,), steps=30).fit(X, y, seed=3).predict(Xt)
    scaled = MLPPredictor(hidden=(16,), steps=30).fit(X, 100 * y + 90, seed=3).predict(Xt)
    np.testing.assert_allclose(scaled, 100 * base + 90, rtol=1e-4, atol=1e-3)


def test_same_seed_same_predictor_and_different_seed_differs():
    X, y = toy_regression(60)
    a = MLPPredictor(hidden=(32, 32), steps=20).fit(X, y, seed=7).predict(X)
    b = MLPPredictor(hidden=(32, 32), steps=20).fit(X, y, seed=7).predict(X)
    c = MLPPredictor(hidden=(32, 32), steps=20).fit(X, y, seed=8).predict(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_ensemble_shapes_and_positive_spread():
    X, y = toy_regression(40)
    Xt, _ = toy_regression(1000, seed=2)
    ens = make_predictor("mlp_ensemble", hidden=(32, 32), steps=30, chunk=300).fit(X, y, seed=0)
    assert ens.n_models == 5
    members = ens.predict_members(Xt)
    mean, std = ens.predict_dist(Xt)
    assert members.shape == (5, 1000) and mean.shape == std.shape == (1000,)
    assert np.all(std > 0)
    np.testing.assert_allclose(ens.predict(Xt), mean)
    np.testing.assert_allclose(mean, members.mean(0))


def test_ensemble_members_train_independently():
    # Member k of a batched ensemble equals a lone MLP with member k's initial weights.
    X, y = toy_regression(30)
    gen = torch.Generator().manual_seed(0)
    stacked = StackedMLP(6, (8,), n_members=3, generator=gen)
    lone = StackedMLP(6, (8,), n_members=1, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for w_all, b_all, w, b in zip(stacked.weights, stacked.biases, lone.weights, lone.biases):
            w.copy_(w_all[1:2])
            b.copy_(b_all[1:2])
    target = torch.as_tensor(y, dtype=torch.float32)
    Xt = torch.as_tensor(X)
    for model in (stacked, lone):
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(10):
            opt.zero_grad()
            ((model(Xt) - target) ** 2).mean(dim=1).sum().backward()
            opt.step()
    with torch.no_grad():
        np.testing.assert_allclose(stacked(Xt)[1].numpy(), lone(Xt)[0].numpy(), rtol=1e-4, atol=1e-5)


def test_bad_use_raises_input_error():
    X, y = toy_regression(10)
    with pytest.raises(InputError):
        MLPPredictor(hidden=(8,)).predict(X)
    with pytest.raises(InputError):
        MLPPredictor(hidden=(8,), steps=2).fit(X, y, seed=0).predict_dist(X)
    with pytest.raises(InputError):
        MLPPredictor(hidden=(8,)).fit(X, y[:5], seed=0)
    with pytest.raises(InputError):
        MLPPredictor(hidden=(8,)).fit(X, np.full(10, np.nan), seed=0)
    with pytest.raises(InputError):
        MLPPredictor(hidden=(0,))
    with pytest.raises(InputError):
        make_predictor("gp")


def test_single_label_fits_without_dividing_by_zero():
    X, y = toy_regression(1)
    pred = MLPPredictor(hidden=(8,), steps=5).fit(X, y, seed=0).predict(X)
    assert np.all(np.isfinite(pred))
