import argparse
import json

import numpy as np
import pytest
import torch

from models import pretrain_agnet
from models.agnet import AGNet, CellGenerator
from models.agnet_cells import GeneratorCells
from preprocessing.errors import InputError
from preprocessing.nasbench201 import GRAPH_ADJACENCY, NB201Space
from preprocessing.nb201_table import load_embedded
from search_methods import agnet_search, agnet_xgb, hw_search
from search_methods.oracle import BudgetExhausted, Oracle
from search_methods.pareto import hypervolume, nondominated_ranks, pareto_front, pareto_mask

torch.set_num_threads(1)
SPACE = NB201Space()
CELLS = GeneratorCells(SPACE)
BENCH = load_embedded()


def small_generator(seed=0, **kw):
    torch.manual_seed(seed)
    return CellGenerator(n_types=7, max_nodes=8, noise_dim=8, hidden_dim=16, **kw)


def context_of(generator):
    config = {"n_types": 7, "max_nodes": 8, "noise_dim": 8, "hidden_dim": 16, "n_layers": 2}
    return agnet_search.context_from({"config": config, "state": generator.state_dict()})


def search_args(module, **overrides):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    args = parser.parse_args([])
    args.initial, args.top_k, args.candidates, args.train_steps, args.max_samples = 8, 8, 30, 3, 300
    vars(args).update(overrides)
    return args


def run_search(module, seed, queries, **overrides):
    oracle = Oracle(BENCH, "cifar10", max_queries=queries, to_string=SPACE.to_string)
    try:
        module.search(SPACE, oracle, np.random.default_rng(seed), search_args(module, **overrides),
                      context_of(small_generator()))
    except BudgetExhausted:
        pass
    return oracle


# ---- generator -------------------------------------------------------------------------------
def test_generated_cells_have_consistent_shapes_and_masks():
    generator = small_generator()
    # bias the output type so that cells of many lengths (and padding) occur
    with torch.no_grad():
        generator.type_head[-1].bias[6] += 1.5
    types, adj, n_nodes = generator.sample(torch.randn(300, 8), torch.Generator().manual_seed(1))
    assert types.shape == (300, 8) and adj.shape == (300, 8, 8) and n_nodes.shape == (300,)
    assert len(torch.unique(n_nodes)) > 2
    assert torch.all(types[:, 0] == 0)
    assert torch.all(torch.tril(adj) == 0)  # edges only from earlier to later nodes
    for t, a, n in zip(types, adj, n_nodes):
        assert t[n - 1] == 6 and not torch.any(t[1:n - 1] == 6)  # ends at its first output node
        assert not torch.any(t[1:n] == 0)  # no second input node
        assert torch.all(a[n:] == 0) and torch.all(a[:, n:] == 0)  # padding has no edges
    keys = CELLS.keys(types.numpy(), adj.numpy(), n_nodes.numpy())
    complete = (n_nodes == 8).numpy() & np.all(adj.numpy() == GRAPH_ADJACENCY, axis=(1, 2))
    assert np.array_equal(keys >= 0, complete)  # an 8-node cell with the fixed wiring is valid


def test_codec_round_trips_and_rejects_wrong_wiring():
    keys = np.array([0, 7, 6111, 15624])
    types, adj, n_nodes = CELLS.graphs(keys)
    assert np.array_equal(CELLS.keys(types, adj, n_nodes), keys)
    adj[1, 0, 1] = 0
    n_nodes[2] = 7
    assert list(CELLS.keys(types, adj, n_nodes)) == [0, -1, -1, 15624]


def test_nb101_codec_round_trips_isomorphic_graphs_and_rejects_invalid():
    from preprocessing.nasbench101 import NB101Space

    full = NB101Space()
    cells = GeneratorCells(full)
    keys = np.array([0, 5, 1000, len(full) - 1])
    types, adj, n_nodes = cells.graphs(keys)
    assert cells.max_nodes == 7 and np.all(types[np.arange(4), n_nodes - 1] == cells.n_types - 1)
    assert np.array_equal(cells.keys(types, adj, n_nodes), keys)
    # swapping middle vertices 1 and 2 (not joined by an edge) of a cell gives an isomorphic graph
    many_types, many_adj, many_n = cells.graphs(np.arange(300))
    row = int(np.flatnonzero((many_n == 7) & (many_adj[:, 1, 2] == 0))[0])
    order = np.array([0, 2, 1, 3, 4, 5, 6])
    swapped = many_adj[row][np.ix_(order, order)][None]
    assert not np.array_equal(swapped[0], many_adj[row])
    assert cells.keys(many_types[row:row + 1, order], swapped, many_n[row:row + 1])[0] == row
    restricted = GeneratorCells(NB101Space.restricted_to([full.to_string(k) for k in keys[:2]]))
    assert list(restricted.keys(types, adj, n_nodes)) == [0, 1, -1, -1]  # the sub-space's own rows
    assert list(restricted.all_keys()) == [0, 1]
    disconnected = adj.copy()
    disconnected[:, 0] = 0  # no edge leaves the input
    assert np.all(cells.keys(types, disconnected, n_nodes) == -1)


def test_node_states_only_depend_on_earlier_nodes():
    """The premise of the one-pass reconstruction: changing node v leaves nodes < v unchanged."""
    generator = small_generator()
    types, adj, n_nodes = (torch.from_numpy(a) for a in CELLS.graphs([100, 100]))
    types[1, 5] = 1 if types[1, 5] != 1 else 2
    h, _ = generator.encode(types, adj, n_nodes)
    assert torch.allclose(h[0, :5], h[1, :5])
    assert not torch.allclose(h[0, 5], h[1, 5])


def test_teacher_forced_likelihood_matches_sampling_distribution():
    """Cells sampled from a generator trained on one cell reproduce that cell."""
    generator = small_generator()
    types, adj, n_nodes = (torch.from_numpy(a) for a in CELLS.graphs(np.full(32, 4321)))
    optimizer = torch.optim.Adam(generator.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = generator.reconstruction(types, adj, n_nodes, torch.randn(32, 8))[0].mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    sampled = CELLS.keys(*(t.numpy() for t in generator.sample(torch.randn(200, 8), torch.Generator())))
    assert np.mean(sampled == 4321) > 0.5 and np.all(sampled[sampled >= 0] == 4321)


def test_joint_loss_trains_the_predictor_and_the_gnn():
    torch.manual_seed(0)
    model = AGNet(7, 8, noise_dim=8, hidden_dim=16)
    keys = SPACE.sample(np.random.default_rng(0), 64, replace=False)
    types, adj, n_nodes = (torch.from_numpy(a) for a in CELLS.graphs(keys))
    targets = torch.from_numpy(agnet_search.standardise(BENCH.metrics("cifar10").valid_mean[keys])).float()
    gnn_before = model.generator.messages[0].weight.detach().clone()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(80):
        recon, mse = model.losses(types, adj, n_nodes, torch.randn(64, 8), targets)
        loss = (0.1 * recon + 0.9 * mse).mean()
        first = first if first is not None else mse.mean().item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert model.losses(types, adj, n_nodes, torch.randn(64, 8), targets)[1].mean().item() < 0.5 * first
    assert not torch.allclose(gnn_before, model.generator.messages[0].weight)
    assert model.predict(types, adj, n_nodes).shape == (64, 1)


# ---- pretraining ---------------------------------------------------------------------------
def test_pretraining_writes_loadable_files_resumes_and_reports_quality(tmp_path, capsys):
    kwargs = dict(samples=500, quiet=True, epochs=4, batch_size=64, lr=0.02, train_fraction=0.03, hidden_dim=8,
                  noise_dim=4)
    quality = pretrain_agnet.pretrain("nb201", tmp_path, **kwargs)
    checkpoint = torch.load(tmp_path / "nb201" / "checkpoint.pt", weights_only=True)
    assert checkpoint["epoch"] == 4
    resumed = pretrain_agnet.pretrain("nb201", tmp_path, **{**kwargs, "epochs": 8})
    checkpoint = torch.load(tmp_path / "nb201" / "checkpoint.pt", weights_only=True)
    assert checkpoint["epoch"] == 8 and len(checkpoint["losses"]) == 8
    assert resumed["first_loss"] == pytest.approx(quality["first_loss"])  # epochs 1-4 were not redone
    assert resumed["final_loss"] < quality["final_loss"]
    saved = torch.load(tmp_path / "nb201" / "generator.pt", weights_only=True)
    generator = pretrain_agnet.build_generator(saved["config"])
    generator.load_state_dict(saved["state"])
    assert len(saved["train_keys"]) == round(0.03 * 15625)
    for key in ("validity", "uniqueness", "novelty"):
        assert 0.0 <= resumed[key] <= 1.0
    assert resumed["validity"] > 0.5
    assert resumed["novelty"] > 0.5  # 97% of the space was never seen in training
    with pytest.raises(InputError):
        pretrain_agnet.pretrain("nb201", tmp_path, train_fraction=1.5)


def test_sample_quality_counts():
    quality = pretrain_agnet.sample_quality(np.array([3, 3, 5, -1, 9, 9, -1, 2]), np.array([2, 3]))
    assert quality["validity"] == pytest.approx(6 / 8)
    assert quality["uniqueness"] == pytest.approx(4 / 6)
    assert quality["novelty"] == pytest.approx(2 / 4)


def test_ensure_generator_pretrains_once_when_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(pretrain_agnet, "DEFAULTS", {**pretrain_agnet.DEFAULTS, "epochs": 1,
                                                     "train_fraction": 0.01, "hidden_dim": 8})
    saved = pretrain_agnet.ensure_agnet_generator("nb201", tmp_path, quiet=True)
    assert "pretraining it now" in capsys.readouterr().err
    assert saved["config"]["hidden_dim"] == 8
    pretrain_agnet.ensure_agnet_generator("nb201", tmp_path, quiet=True)
    assert "pretraining" not in capsys.readouterr().err


# ---- search --------------------------------------------------------------------------------
def test_rank_weights_formula():
    weights = agnet_search.rank_weights(np.array([3.0, 1.0, 2.0, 5.0]), 0.5)
    # N = 4, k N = 2; ranks (best = 0): 5 -> 0, 3 -> 1, 2 -> 2, 1 -> 3
    assert np.allclose(weights, [1 / 3, 1 / 5, 1 / 4, 1 / 2])
    shared = agnet_search.rank_weights(np.array([0.0, -1.0, 0.0, -2.0, -1.0]), 0.2, shared_ties=True)
    # N = 5, k N = 1; competition ranks: 0, 2, 0, 4, 2
    assert np.allclose(shared, [1, 1 / 3, 1, 1 / 5, 1 / 3])


@pytest.mark.parametrize("flag", [{"top_k": 0}, {"weight_factor": 0.0}, {"recon_weight": 1.5}])
def test_bad_search_flags_are_input_errors(flag):
    with pytest.raises(InputError):
        agnet_search.check_args(search_args(agnet_search, **flag))


@pytest.mark.parametrize("queries", [40, 37])
def test_search_spends_exactly_the_budget_on_distinct_cells(queries):
    oracle = run_search(agnet_search, 0, queries)
    keys, _ = oracle.history()
    assert oracle.n_queries == queries and len(set(keys.tolist())) == queries and oracle.exhausted


def test_search_is_deterministic_per_seed():
    first, second, other = (run_search(agnet_search, s, 30).history()[0] for s in (3, 3, 4))
    assert np.array_equal(first, second)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("objective", ["reg", "rank"])
def test_xgb_variant_spends_the_budget(objective):
    oracle = run_search(agnet_xgb, 1, 30, xgb_objective=objective, xgb_trees=20)
    assert oracle.n_queries == 30 and len(set(oracle.history()[0].tolist())) == 30


# ---- Pareto fronts and hypervolume ---------------------------------------------------------
def test_pareto_front_extraction():
    acc = np.array([90, 80, 85, 70, 90, 95, 60])
    lat = np.array([5, 2, 4, 1, 6, 9, 3])
    # (90,6) is dominated by (90,5); (60,3) by (80,2); (85,4) is kept (faster than 90@5)
    assert list(pareto_mask(acc, lat)) == [True, True, True, True, False, True, False]
    assert pareto_front(acc, lat).tolist() == [[70, 1], [80, 2], [85, 4], [90, 5], [95, 9]]
    assert list(nondominated_ranks(acc, lat)) == [0, 0, 0, 0, 1, 0, 1]


def test_hypervolume_hand_computed():
    # maximise acc, minimise lat; ref (0, 10). Points (3, 2), (5, 6), (4, 7) [dominated], (1, 12) [outside].
    # Area: acc 5 over lat [6, 10) = 20, plus acc 3 over lat [2, 6) = 12  ->  32
    acc, lat = np.array([3.0, 5.0, 4.0, 1.0]), np.array([2.0, 6.0, 7.0, 12.0])
    assert hypervolume(acc, lat, 0.0, 10.0) == pytest.approx(32.0)
    assert hypervolume(acc[:1], lat[:1], 0.0, 10.0) == pytest.approx(24.0)
    assert hypervolume(np.array([]), np.array([]), 0.0, 10.0) == 0.0


def test_hw_search_pareto_and_budget_runs(tmp_path, monkeypatch):
    generator = small_generator()
    monkeypatch.setattr(agnet_search, "prepare", lambda args, bench, space: context_of(generator))
    common = ["--device", "pixel3", "--queries", "24", "--seeds", "1", "--workers", "1", "--out", str(tmp_path),
              "--quiet", "--initial", "8", "--top-k", "8", "--candidates", "20", "--train-steps", "2"]
    summary = hw_search.run(hw_search.parse_args(common + ["--pareto"]))
    for entry in summary["methods"].values():
        assert 0 < entry["hv_fraction_valid"][0] <= 1
    true_front = np.array(summary["true_front_valid"])
    assert np.all(np.diff(true_front[:, 0]) > 0) and np.all(np.diff(true_front[:, 1]) >= 0)
    budget = hw_search.run(hw_search.parse_args(common + ["--latency-budget", "5"]))
    assert budget["table_best_feasible"]["latency_ms"] <= 5
    for method in ("agnet", "random"):
        log = json.loads((tmp_path / "cifar10" / "pixel3" / "budget5ms" / method / "seed_0.json").read_text())
        assert log["queries"] == 24 and len(set(log["keys"])) == 24
        assert log["best_feasible"]["latency_ms"] <= 5
    with pytest.raises(InputError):
        hw_search.run(hw_search.parse_args(["--device", "toaster", "--pareto", "--out", str(tmp_path), "--quiet"]))
