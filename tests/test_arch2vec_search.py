"""arch2vec-RL / -BO and the supervised baselines: budgets, no re-queries, determinism, the BLR
posterior against closed forms, EI properties, and the runner's --time-per-query hook.

The searches run on a stand-in embedding (a fixed random projection of the one-hot encoding), so
these tests need no pretrained model.
"""
import argparse

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal, norm

from models.bayesian_linear_regression import BayesianLinearRegression
from models.dngo import DNGO, BasisRegressor, tanh_mlp
from preprocessing.errors import InputError
from preprocessing.nasbench201 import N_ARCHS, NB201Space
from preprocessing.nb201_table import load_embedded
from search_methods import dngo, reinforce, supervised_dngo, supervised_reinforce
from search_methods.oracle import BudgetExhausted, Oracle
from search_methods.run import simulated_time_per_query

METHODS = {"arch2vec_bo": dngo, "arch2vec_rl": reinforce, "supervised_bo": supervised_dngo,
           "supervised_rl": supervised_reinforce}


@pytest.fixture(scope="module")
def bench():
    return load_embedded()


@pytest.fixture(scope="module")
def context():
    projection = np.random.default_rng(0).normal(size=(30, 16)).astype(np.float32)
    return {"embeddings": NB201Space().onehot() @ projection}


def method_args(module, **overrides):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    args = parser.parse_args([])
    if hasattr(args, "dngo_epochs"):
        args.dngo_epochs = 10  # a short surrogate fit keeps the test fast; the loop logic is the same
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


def run_search(name, bench, context, space=None, seed=0, **oracle_kwargs):
    space = space or NB201Space()
    module = METHODS[name]
    oracle = Oracle(bench, "cifar10", to_string=space.to_string, **oracle_kwargs)
    try:
        module.search(space, oracle, np.random.default_rng(seed), method_args(module), context)
    except BudgetExhausted:
        pass
    return oracle


# ---- search loops ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(METHODS))
def test_search_spends_query_budget_without_requeries(name, bench, context):
    oracle = run_search(name, bench, context, max_queries=30)
    keys, _ = oracle.history()
    assert oracle.n_queries == 30
    assert oracle.n_requeries == 0
    assert len(set(keys.tolist())) == 30


@pytest.mark.parametrize("name", list(METHODS))
def test_search_is_deterministic_under_a_seed(name, bench, context):
    first = run_search(name, bench, context, seed=3, max_queries=24).history()[0]
    second = run_search(name, bench, context, seed=3, max_queries=24).history()[0]
    other = run_search(name, bench, context, seed=4, max_queries=24).history()[0]
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("name", ["arch2vec_bo", "arch2vec_rl"])
def test_time_budget_is_never_exceeded_before_the_last_query(name, bench, context):
    oracle = run_search(name, bench, context, max_time_s=20_000.0)
    times = [step["sim_time_s"] for step in oracle.trajectory]
    assert times[-1] >= 20_000.0 and times[-2] < 20_000.0  # only the query that spent the budget crosses it
    assert oracle.n_requeries == 0


@pytest.mark.parametrize("name", ["arch2vec_bo", "arch2vec_rl"])
def test_search_returns_after_querying_a_small_space_exhaustively(name, bench, context):
    allowed = np.zeros(N_ARCHS, dtype=bool)
    allowed[np.random.default_rng(1).choice(N_ARCHS, 20, replace=False)] = True
    space = NB201Space(allowed=allowed)
    oracle = run_search(name, bench, context, space=space, max_queries=100)
    assert oracle.n_queries == 20
    assert set(oracle.history()[0].tolist()) == set(np.flatnonzero(allowed).tolist())


def test_bo_beats_random_on_average_with_a_smooth_representation(bench):
    """Sanity: with the one-hot itself as the embedding, BO finds better cells than random search."""
    context = {"embeddings": dngo.standardize(NB201Space().onehot())}
    bo = [run_search("arch2vec_bo", bench, context, seed=s, max_queries=40).trajectory[-1]["best_valid"]
          for s in range(3)]
    rng = np.random.default_rng(0)
    valid = bench.metrics("cifar10").valid_mean
    random_best = [valid[rng.choice(N_ARCHS, 40, replace=False)].max() for _ in range(200)]
    assert np.mean(bo) > np.mean(random_best)


def test_nearest_unseen_skips_seen_cells():
    table = np.array([[0.0], [1.0], [2.0], [3.0]], dtype=np.float32)
    keys = np.arange(4)
    seen = np.array([False, True, False, False])
    assert reinforce.nearest_unseen(table, keys, seen, np.array([1.1])) == 2
    assert reinforce.nearest_unseen(table, keys, np.zeros(4, bool), np.array([1.1])) == 1


def test_ema_baseline_starts_at_first_episode_then_averages():
    baseline = reinforce.RewardBaseline("ema", momentum=0.5, value=0.0)
    assert baseline(np.array([0.8, 0.6])) == pytest.approx(0.7)
    assert baseline(np.array([1.0])) == pytest.approx(0.7)  # baseline used for this episode
    assert baseline.value == pytest.approx(0.85)
    constant = reinforce.RewardBaseline("constant", momentum=0.5, value=0.4)
    assert constant(np.array([0.9])) == 0.4 and constant(np.array([0.1])) == 0.4


def test_bad_flags_raise_input_error():
    with pytest.raises(InputError):
        dngo.check_search_args(method_args(dngo, topk=0))
    with pytest.raises(InputError):
        dngo.parse_hidden("50,x")
    with pytest.raises(InputError):
        reinforce.check_search_args(method_args(reinforce, baseline_momentum=1.0))


# ---- Bayesian linear regression / DNGO ---------------------------------------------------------
def test_blr_posterior_and_predictive_std_match_closed_form():
    rng = np.random.default_rng(0)
    phi, y, phi_new = rng.normal(size=(12, 3)), rng.normal(size=12), rng.normal(size=(5, 3))
    alpha, beta = 2.0, 7.0
    blr = BayesianLinearRegression(alpha, beta, optimize=False).fit(phi, y)
    precision = alpha * np.eye(3) + beta * phi.T @ phi
    cov = np.linalg.inv(precision)
    mean_w = beta * cov @ phi.T @ y
    np.testing.assert_allclose(blr.cov_w, cov, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(blr.mean_w, mean_w, rtol=1e-10)
    mean, std = blr.predict(phi_new)
    np.testing.assert_allclose(mean, phi_new @ mean_w, rtol=1e-10)
    np.testing.assert_allclose(std, np.sqrt(1 / beta + np.einsum("md,de,me->m", phi_new, cov, phi_new)), rtol=1e-10)
    assert np.all(std > np.sqrt(1 / beta))  # the noise term is part of the predictive std


def test_blr_evidence_matches_gaussian_marginal_and_is_maximised():
    rng = np.random.default_rng(1)
    phi = rng.normal(size=(15, 4))
    y = phi @ rng.normal(size=4) + 0.3 * rng.normal(size=15)
    blr = BayesianLinearRegression(optimize=False).fit(phi, y)
    for log_alpha, log_beta in [(0.0, 0.0), (-1.0, 2.0), (1.5, -0.5)]:
        marginal_cov = phi @ phi.T / np.exp(log_alpha) + np.eye(15) / np.exp(log_beta)
        expected = multivariate_normal(np.zeros(15), marginal_cov).logpdf(y)
        assert blr.log_evidence(log_alpha, log_beta) == pytest.approx(expected, rel=1e-9)
    tuned = BayesianLinearRegression().fit(phi, y)
    best = tuned.log_evidence(np.log(tuned.alpha), np.log(tuned.beta))
    assert best >= blr.log_evidence(0.0, np.log(1000.0))
    assert 1 / np.sqrt(tuned.beta) == pytest.approx(0.3, rel=0.5)  # recovers the noise level roughly


def test_dngo_predictive_std_is_the_blr_std_on_its_basis_in_target_units():
    rng = np.random.default_rng(2)
    x = torch.as_tensor(rng.normal(size=(30, 4)), dtype=torch.float32)
    y = 90 + 2 * x[:, 0].numpy() + 0.1 * rng.normal(size=30)
    model = DNGO(lambda: BasisRegressor(tanh_mlp(4, (8,)), 8), epochs=20).fit(x, y, seed=0)
    mean, std = model.predict(x[:5])
    phi = model.basis(x[:5])
    cov = np.linalg.inv(model.blr.alpha * np.eye(9) + model.blr.beta * model.basis(x).T @ model.basis(x))
    manual_std = np.sqrt(1 / model.blr.beta + np.einsum("md,de,me->m", phi, cov, phi)) * y.std()
    np.testing.assert_allclose(std, manual_std, rtol=1e-6)
    assert np.corrcoef(mean, y[:5])[0, 1] > 0.9


# ---- expected improvement ----------------------------------------------------------------------
def test_expected_improvement_properties():
    ei = dngo.expected_improvement
    mean = np.linspace(-2, 2, 9)
    values = ei(mean, np.ones(9), best=0.0)
    assert np.all(values >= 0) and np.all(np.diff(values) > 0)  # increasing in the mean
    assert np.all(np.diff(ei(np.zeros(5), np.linspace(0.1, 2, 5), best=0.0)) > 0)  # increasing in the std
    np.testing.assert_allclose(ei(np.array([1.0, -1.0]), np.zeros(2), best=0.0), [1.0, 0.0])
    assert ei(np.array([0.0]), np.array([1.0]), best=0.0)[0] == pytest.approx(norm.pdf(0))
    samples = np.random.default_rng(0).normal(0.3, 0.7, size=400_000)
    assert ei(np.array([0.3]), np.array([0.7]), best=0.5)[0] == pytest.approx(
        np.maximum(samples - 0.5, 0).mean(), rel=1e-2)


# ---- runner hook -------------------------------------------------------------------------------
def test_time_per_query_epochs12_uses_per_epoch_time(bench):
    from preprocessing.spaces import tabular_setup

    setup = tabular_setup(NB201Space(), bench, "embedded:nasbench201")
    assert simulated_time_per_query(setup, "cifar10", "table") is None
    cost = simulated_time_per_query(setup, "cifar10", "epochs12")
    per_epoch = bench.metrics("cifar10").extra["time_per_epoch_s"]
    assert cost(6111) == pytest.approx(12 * per_epoch[6111])
    with pytest.raises(InputError):
        simulated_time_per_query(setup, "cifar100", "epochs12")
