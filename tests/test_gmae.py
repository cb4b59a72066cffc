"""GMAE: encoder shapes, masking, pretraining, BPR, checkpoints, the predictor harness and the search's budget."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.gmae import (GMAE, GMAEEncoder, GMAEPredictor, bpr_loss, fine_tune, mask_nodes, maskable_nodes,
                         pretrain_loss)
from models.pretrain_gmae import checkpoint_path, load_checkpoint, load_encoder, pretrain
from preprocessing.errors import InputError
from preprocessing.nasbench201 import NB201Space
from search_methods.predictor_eval import rank_correlations, split

SMALL = dict(epochs=2, layers=2, dim=16, limit=300, batch_size=64, progress=False, log=lambda *_: None)


def nb201_batch(n=32, seed=0):
    keys = np.random.default_rng(seed).choice(15625, n, replace=False)
    adj, ops = NB201Space().graphs(keys)
    return torch.from_numpy(adj), torch.from_numpy(ops)


def padded_batch():
    """Two NB101-like cells of 4 and 7 real nodes, padded to 7 (types: 0 input, 1-3 ops, 4 output)."""
    adj = torch.zeros(2, 7, 7)
    ops = torch.zeros(2, 7, 5)
    for b, n in enumerate((4, 7)):
        for v in range(n - 1):
            adj[b, v, v + 1] = 1
        types = [0] + [1 + v % 3 for v in range(n - 2)] + [4]
        ops[b, torch.arange(n), torch.tensor(types)] = 1
    mask = ops.sum(-1) > 0
    return adj, ops, mask


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: one thread avoids the thread pool's overhead (and busy-waiting on a loaded machine)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    return pretrain("nb201", out=tmp_path_factory.mktemp("gmae"), **SMALL)


@pytest.mark.parametrize("kind", ["gat", "gin"])
def test_encoder_shapes_and_padding(kind):
    adj, ops, mask = padded_batch()
    encoder = GMAEEncoder(5, dim=8, layers=3, heads=2, kind=kind)
    h = encoder(adj, ops, mask)
    assert h.shape == (2, 7, 8)
    assert torch.all(h[0, 4:] == 0)  # padding stays zero
    assert encoder.readout(h, mask).shape == (2, 8)
    logits, states = GMAE(5, dim=8, layers=2, heads=2, encoder=kind, decoder="gat")(adj, ops, mask)
    assert logits.shape == (2, 7, 5) and states.shape == (2, 7, 8)


def test_padding_does_not_change_a_cell_embedding():
    adj, ops, mask = padded_batch()
    encoder = GMAEEncoder(5, dim=8, layers=3, heads=2).eval()
    alone = encoder.readout(encoder(adj[:1, :4, :4], ops[:1, :4], None))
    padded = encoder.readout(encoder(adj, ops, mask), mask)[:1]
    assert torch.allclose(alone, padded, atol=1e-5)


def test_masking_ratio_is_honoured():
    generator = torch.Generator().manual_seed(0)
    _, ops = nb201_batch(200)
    for ratio, expected in ((0.5, 3), (1 / 3, 2), (0.01, 1), (1.0, 6)):
        masked = mask_nodes(ops, ratio, generator)
        assert torch.all(masked.sum(1) == expected)
        assert not masked[:, 0].any() and not masked[:, -1].any()  # never the input / output node
    adj, ops, mask = padded_batch()
    masked = mask_nodes(ops, 0.75, generator, mask)
    assert masked.sum(1).tolist() == [2, 4]  # round(0.75 * 2), round(0.75 * 5)
    assert not (masked & ~maskable_nodes(ops, mask)).any()


def test_masks_cover_every_op_node_uniformly():
    _, ops = nb201_batch(1)
    generator = torch.Generator().manual_seed(1)
    counts = sum(mask_nodes(ops.expand(600, -1, -1), 0.15, generator).sum(0) for _ in range(5))
    assert torch.all(counts[1:-1] > 350) and torch.all(counts[1:-1] < 650)  # 500 expected per op node


def test_pretraining_loss_decreases_on_learnable_data():
    # Cells whose 6 ops are all the same type: a masked op is predictable from its neighbours.
    space = NB201Space()
    types = np.array([[0] + [t] * 6 + [6] for t in range(1, 6)])
    keys = space.decode(types, space.graphs(np.zeros(5, dtype=int))[0]).tolist()
    adj, ops = (torch.from_numpy(a) for a in space.graphs(np.repeat(keys, 8)))
    torch.manual_seed(0)
    model = GMAE(7, dim=16, layers=2, heads=2)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(40):
        loss, accuracy = pretrain_loss(model, adj, ops, None, mask_nodes(ops, 0.3, generator), "ce")
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    assert accuracy.item() > 0.9


@pytest.mark.parametrize("objective", ["sce", "ce_adj"])
def test_other_objectives_give_finite_gradients(objective):
    adj, ops, mask = padded_batch()
    model = GMAE(5, dim=8, layers=2, heads=2)
    masked = mask_nodes(ops, 0.5, torch.Generator().manual_seed(0), mask)
    loss, _ = pretrain_loss(model, adj, ops, mask, masked, objective)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_bpr_loss_sign_and_gradient():
    targets = torch.tensor([3.0, 1.0, 2.0])
    aligned = torch.tensor([3.0, 1.0, 2.0], requires_grad=True)
    assert bpr_loss(aligned, targets) < np.log(2) < bpr_loss(-aligned.detach(), targets)
    bpr_loss(aligned, targets).backward()
    assert aligned.grad[0] < 0 < aligned.grad[1]  # raising the best score / lowering the worst lowers the loss
    assert bpr_loss(torch.zeros(3), torch.ones(3)) == 0  # no ordered pair


def test_fine_tuning_learns_a_ranking():
    adj, ops = nb201_batch(64)
    targets = ops[:, 1:-1, 4].sum(1)  # number of 3x3 convolutions
    torch.manual_seed(0)
    predictor = GMAEPredictor(GMAEEncoder(7, dim=16, layers=2, heads=2), 16)
    fine_tune(predictor, adj, ops, None, targets, steps=60, generator=torch.Generator().manual_seed(0), lr=1e-2)
    tau, _ = rank_correlations(predictor(adj, ops).detach().numpy(), targets.numpy())
    assert tau > 0.7


def test_frozen_mode_keeps_the_encoder(tiny_checkpoint):
    adj, ops = nb201_batch(32)
    encoder = load_encoder(load_checkpoint(tiny_checkpoint))
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    predictor = GMAEPredictor(encoder, 16)
    fine_tune(predictor, adj, ops, None, torch.rand(32), steps=5, generator=torch.Generator().manual_seed(0),
              mode="frozen")
    assert all(torch.equal(before[k], v) for k, v in encoder.state_dict().items())


def test_checkpoint_resume_equals_uninterrupted_run(tmp_path, tiny_checkpoint):
    class Stop(Exception):
        pass

    def stop_after_first_epoch(message):
        if message.startswith("epoch 1:"):
            raise Stop

    with pytest.raises(Stop):
        pretrain("nb201", out=tmp_path, **{**SMALL, "log": stop_after_first_epoch})
    path = checkpoint_path("nb201", out=tmp_path)
    assert load_checkpoint(path)["epoch"] == 1
    with pytest.raises(InputError, match="--resume"):
        pretrain("nb201", out=tmp_path, **SMALL)
    pretrain("nb201", out=tmp_path, resume=True, **SMALL)
    resumed, full = load_checkpoint(path), load_checkpoint(tiny_checkpoint)
    assert resumed["epoch"] == 2 and "metrics" in resumed
    assert all(torch.equal(resumed["model"][k], full["model"][k]) for k in full["model"])
    torch.load(path, weights_only=True)


def test_bad_checkpoint_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a readable GMAE checkpoint"):
        load_checkpoint(bad)


def test_rank_correlations_on_a_toy_predictor_with_known_ranking():
    true = np.array([1.0, 2.0, 3.0, 4.0])
    assert rank_correlations(np.exp(true), true) == pytest.approx((1.0, 1.0))
    assert rank_correlations(-true, true) == pytest.approx((-1.0, -1.0))
    # one adjacent swap among 4 items: 5 concordant, 1 discordant pair -> tau 4/6; rho 1 - 6*2/(4*15)
    assert rank_correlations(np.array([2.0, 1.0, 3.0, 4.0]), true) == pytest.approx((4 / 6, 0.8))
    assert rank_correlations(np.zeros(4), true) == (0.0, 0.0)
    with pytest.raises(InputError):
        rank_correlations(np.zeros(3), true)


def test_splits_are_disjoint_seeded_and_nested():
    test, pool = split(100, 30, run=2, seed=0)
    assert len(set(test) | set(pool)) == 100 and not set(test) & set(pool)
    assert np.array_equal(split(100, 30, run=2, seed=0)[1], pool)
    assert not np.array_equal(split(100, 30, run=3, seed=0)[0], test)


@pytest.mark.parametrize("method", ["gmae", "gmae_evo"])
def test_search_spends_exactly_its_budget(method, tiny_checkpoint):
    from preprocessing.nb201_table import load_benchmark
    from search_methods.run import parse_args, run_one

    args, module = parse_args(["--method", method, "--queries", "37", "--datasets", "cifar10", "--initial", "8",
                               "--per-iteration", "4", "--candidates", "12", "--init-steps", "3", "--steps", "2",
                               "--gmae-checkpoint", str(tiny_checkpoint)])
    context = module.prepare(args, load_benchmark(None), NB201Space())
    log = run_one(args, module, context, "cifar10", seed=0)
    assert log["n_queries"] == 37
    archs = [step["arch"] for step in log["trajectory"]]
    assert len(set(archs)) == 37
    again = run_one(args, module, context, "cifar10", seed=0)
    assert [step["arch"] for step in again["trajectory"]] == archs  # seeded
