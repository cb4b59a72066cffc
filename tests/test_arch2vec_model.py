"""arch2vec model, pretraining (checkpoints, resume, determinism), extraction and decoding validity."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.arch2vec import Arch2Vec, reconstruction_accuracy, vae_loss
from models.extract_arch2vec import embed_keys, extract, space_embeddings
from models.space_graphs import decoding_stats, pretraining_graphs
from models.pretrain_arch2vec import checkpoint_path, load_checkpoint, load_pretrained, main, pretrain
from preprocessing import darts_space, nasbench101 as nb101
from preprocessing.errors import InputError
from preprocessing.nasbench201 import GRAPH_ADJACENCY, NB201Space

QUICK = dict(prior_samples=200, progress=False, log=lambda *_: None)


def _nb201_batch(keys):
    adj, ops = NB201Space().graphs(keys)
    return torch.from_numpy(adj), torch.from_numpy(ops)


def test_forward_shapes_and_embedding():
    torch.manual_seed(0)
    model = Arch2Vec(n_types=7, latent_dim=16)
    adj, ops = _nb201_batch([0, 1, 2, 3])
    ops_logits, adj_logits, mean, logvar = model(adj, ops)
    assert ops_logits.shape == (4, 8, 7) and adj_logits.shape == (4, 8, 8)
    assert mean.shape == logvar.shape == (4, 8, 16)
    model.eval()
    embedding = model.embed(adj, ops)
    assert embedding.shape == (4, 16)
    assert torch.allclose(embedding, model.encode(adj, ops)[0].mean(1))
    loss, parts = vae_loss(ops_logits, adj_logits, mean, logvar, adj, ops)
    assert loss.ndim == 0 and torch.isfinite(loss) and set(parts) == {"ops", "adj", "kl"}


def test_padding_is_ignored():
    """Real nodes of a padded cell do not depend on what the padding rows contain (train-mode BN too)."""
    cells = [nb101.Cell([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", "maxpool3x3", "output"]),
             nb101.random_cell(np.random.default_rng(0))]
    adj, ops = (torch.from_numpy(a) for a in nb101.arch2vec_encoding(*nb101.padded_arrays(cells)))
    mask = ops.sum(-1) > 0
    noisy_ops = ops.clone()
    noisy_ops[~mask] = torch.rand(int((~mask).sum()), 5)
    torch.manual_seed(0)
    model = Arch2Vec(n_types=5, dropout=0.0)
    mean_clean, _ = model.encode(adj, ops, mask)
    mean_noisy, _ = model.encode(adj, noisy_ops, mask)
    assert torch.allclose(mean_clean[mask], mean_noisy[mask])
    model.eval()
    embedding = model.embed(adj, ops, mask)
    assert torch.allclose(embedding[0], model.encode(adj, ops, mask)[0][0, :3].mean(0), atol=1e-6)


def test_loss_decreases_and_run_is_deterministic(tmp_path):
    first = pretrain("nb201", epochs=2, limit=400, out=tmp_path / "a", **QUICK)
    second = pretrain("nb201", epochs=2, limit=400, out=tmp_path / "b", **QUICK)
    history = load_checkpoint(checkpoint_path(tmp_path / "a", "nb201"))["history"]
    assert history[1]["loss"] < history[0]["loss"]
    state_a = load_checkpoint(checkpoint_path(tmp_path / "a", "nb201"))["model"]
    state_b = load_checkpoint(checkpoint_path(tmp_path / "b", "nb201"))["model"]
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert {k: v for k, v in first.items() if k not in ("checkpoint", "train_time_s")} == \
        {k: v for k, v in second.items() if k not in ("checkpoint", "train_time_s")}
    for key in ("heldout_ops_node", "heldout_adj_graph", "prior_fitted_valid", "prior_standard_unique"):
        assert 0.0 <= first[key] <= 1.0


def test_checkpoint_resume_round_trip(tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    pretrain("nb201", epochs=2, limit=300, out=straight, **QUICK)
    pretrain("nb201", epochs=1, limit=300, out=split, **QUICK)
    with pytest.raises(InputError, match="different settings"):
        pretrain("nb201", epochs=2, limit=200, out=split, resume=True, **QUICK)
    resumed = pretrain("nb201", epochs=2, limit=300, out=split, resume=True, **QUICK)
    path = checkpoint_path(split, "nb201")
    checkpoint = torch.load(path, weights_only=True)  # plain tensors / python types only
    reference = torch.load(checkpoint_path(straight, "nb201"), weights_only=True)
    assert checkpoint["epoch"] == 2 and checkpoint["config"] == reference["config"]
    assert all(torch.equal(checkpoint["model"][k], reference["model"][k]) for k in reference["model"])
    # rerunning a finished run only reports
    before = path.stat().st_mtime_ns
    again = pretrain("nb201", epochs=2, limit=300, out=split, **QUICK)
    assert again == resumed and path.stat().st_mtime_ns == before
    assert pretrain("nb201", epochs=2, limit=300, out=split, reevaluate=True, **QUICK) == resumed


def test_unfinished_run_needs_resume_and_cli_errors(tmp_path, capsys):
    pretrain("nb201", epochs=1, limit=100, out=tmp_path, **QUICK)
    with pytest.raises(InputError, match="--resume"):
        pretrain("nb201", epochs=3, limit=100, out=tmp_path, **QUICK)
    with pytest.raises(SystemExit) as exit_info:
        main(["--space", "nb201", "--resume", "--fresh", "--out", str(tmp_path)])
    assert exit_info.value.code == 2 and "contradict" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--space", "nb201", "--batch-size", "0", "--out", str(tmp_path)])
    assert "--batch-size" in capsys.readouterr().err
    path = checkpoint_path(tmp_path, "nb201")
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a readable"):
        load_checkpoint(path)


def test_extraction_and_space_embeddings(tmp_path):
    pretrain("nb201", epochs=1, limit=200, out=tmp_path, **QUICK)
    path = extract("nb201", out=tmp_path, log=lambda *_: None)
    from preprocessing.nb201_table import load_embedded

    bench = load_embedded()
    data = torch.load(path, weights_only=True)
    assert data["embeddings"].shape == (15625, 16) and data["embeddings"].dtype == torch.float32
    assert np.allclose(data["valid/cifar100"].numpy(), bench.metrics("cifar100").valid_mean)
    assert np.allclose(data["test/cifar100"].numpy(), bench.metrics("cifar100").test_mean)
    assert data["arch_strings"][6111] == bench.arch_strings[6111]
    model = load_pretrained(load_checkpoint(checkpoint_path(tmp_path, "nb201")))
    rows = [0, 6111, 15624]
    assert np.allclose(data["embeddings"][rows].numpy(), embed_keys(model, NB201Space(), rows), atol=1e-5)
    embeddings = space_embeddings(NB201Space(), 16, verbose=False, out=tmp_path)
    assert isinstance(embeddings, np.ndarray) and np.array_equal(embeddings, data["embeddings"].numpy())
    restricted = NB201Space(allowed=np.isin(np.arange(15625), rows))  # rows = keys, up to the largest key
    assert np.array_equal(space_embeddings(restricted, 16, verbose=False, out=tmp_path), embeddings)


def test_nb201_decoding_rule():
    space = NB201Space()
    adj, ops = space.graphs([6111, 6111, 42])
    types, edges = ops.argmax(-1), adj.astype(bool)
    assert space.decode(types, edges).tolist() == [6111, 6111, 42]
    stats = decoding_stats(space, types, edges)
    assert stats["valid"] == 1.0 and stats["unique"] == pytest.approx(2 / 3)
    bad_edges = edges.copy()
    bad_edges[0, 0, 7] = True  # an edge the NB201 wiring does not have
    bad_types = types.copy()
    bad_types[1, 0] = 3  # first node not the input
    bad_types[2, 3] = 6  # an op node decoded as output
    assert space.decode(types, bad_edges).tolist() == [-1, 6111, 42]
    assert space.decode(bad_types, edges).tolist() == [6111, -1, -1]
    assert GRAPH_ADJACENCY.sum() == edges[0].sum()


def test_nb101_decoding_rule():
    space = nb101.NB101Space()
    cells = [nb101.Cell([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", "maxpool3x3", "output"]),
             nb101.random_cell(np.random.default_rng(3))]
    adj, ops = nb101.arch2vec_encoding(*nb101.padded_arrays(cells))
    types = ops.argmax(-1)
    types[0, 3:] = 2  # a decoder predicts a type for the padding slots too: they follow the output
    keys = space.decode(types, adj)
    assert [space.to_string(k) for k in keys] == [c.module_hash() for c in cells]
    disconnected = adj.copy()
    disconnected[0] = 0
    assert space.decode(types, disconnected)[0] == -1
    no_output = types.copy()
    no_output[1, :] = 2
    assert space.decode(no_output, adj)[1] == -1


def test_darts_decoding_rule():
    space = darts_space.DartsCellSpace(20, seed=0)
    keys = space.keys()[:3]
    adj, ops = space.graphs(keys)
    types = ops.argmax(-1)
    assert space.decode(types, adj).tolist() == keys.tolist()
    broken = adj.copy()
    broken[0, :, 2] = 0  # op node 2 reads nothing
    assert space.decode(types, broken).tolist() == [-1] + keys[1:].tolist()
    bad_types = types.copy()
    bad_types[1, 4] = darts_space.NODE_TYPES.index("none")  # the reserved, never-produced type
    assert space.decode(bad_types, adj)[1] == -1
    outside = darts_space.sample_cells(1, np.random.default_rng(99))[0]  # a legal cell that is not in the pool
    a, o = darts_space.onehot_graphs(darts_space.cells_to_array([outside]))
    assert space.decode(o.argmax(-1), a).tolist() == [darts_space.cell_code(outside)]
    assert decoding_stats(space, np.concatenate([types, o.argmax(-1)]), np.concatenate([broken, a])) == \
        {"valid": 0.75, "unique": 1.0}


def test_darts_genotype_embedding_concatenates_cells():
    cells, _ = darts_space.sample_unique_cells(2, np.random.default_rng(1))
    genotypes = [darts_space.Genotype(cells[0], darts_space.CONCAT, cells[0], darts_space.CONCAT),
                 darts_space.Genotype(cells[0], darts_space.CONCAT, cells[1], darts_space.CONCAT)]
    space = darts_space.DartsGenotypeSpace(genotypes)
    torch.manual_seed(0)
    model = Arch2Vec(n_types=len(space.node_types))
    embeddings = embed_keys(model, space, [0, 1])
    assert embeddings.shape == (2, 32)
    assert np.allclose(embeddings[0, :16], embeddings[0, 16:])  # same cell twice
    assert np.allclose(embeddings[1, :16], embeddings[0, :16]) and not np.allclose(embeddings[1, 16:], embeddings[0, 16:])
    cell_space = darts_space.DartsCellSpace(1)
    normal = embed_keys(model, cell_space, [darts_space.cell_code(cells[1])])
    assert np.allclose(embeddings[1, 16:], normal[0], atol=1e-6)  # the reduce half is that cell's own embedding


def test_reconstruction_accuracy_counts():
    """Per-element vs per-graph accuracy on a decoder that returns the truth with one wrong node / edge."""
    adj, ops = _nb201_batch([5, 6, 7])

    class Echo(Arch2Vec):
        def forward(self, a, o, mask=None):
            ops_logits, adj_logits = 10 * o.clone(), 10 * (2 * a - 1)
            ops_logits[0, 3] = ops_logits[0, 3].roll(1)  # graph 0: one wrong node
            adj_logits[1, 0, 7] = 10.0  # graph 1: one extra edge
            return ops_logits, adj_logits, None, None

    metrics = reconstruction_accuracy(Echo(n_types=7), adj, ops)
    assert metrics["ops_node"] == pytest.approx(1 - 1 / 24) and metrics["ops_graph"] == pytest.approx(2 / 3)
    assert metrics["adj_pair"] == pytest.approx(1 - 1 / 84) and metrics["adj_graph"] == pytest.approx(2 / 3)


def test_nasbench201_json_entries(tmp_path):
    from preprocessing.nasbench201_json import dataset_entries, main as json_main
    from preprocessing.nb201_table import load_embedded

    bench = load_embedded()
    entries = dataset_entries(bench, "ImageNet16-120")
    assert len(entries) == 15625 and set(entries["0"]) == {
        "arch_str", "module_adjacency", "module_operations", "valid_accuracy", "test_accuracy", "training_time"}
    entry = entries["6111"]
    metrics = bench.metrics("ImageNet16-120")
    assert entry["arch_str"] == bench.arch_strings[6111]
    assert entry["valid_accuracy"] == pytest.approx(metrics.valid_mean[6111])
    assert entry["test_accuracy"] == pytest.approx(metrics.test_mean[6111])
    assert entry["training_time"] == pytest.approx(metrics.train_time_s[6111])
    assert np.array_equal(entry["module_adjacency"], GRAPH_ADJACENCY)
    operations = np.array(entry["module_operations"])
    assert operations.shape == (8, 7) and (operations.sum(1) == 1).all()
    adjacency = np.array(entry["module_adjacency"])[None]
    assert NB201Space().decode(operations.argmax(-1)[None], adjacency).tolist() == [6111]
    with pytest.raises(SystemExit):
        json_main(["--out-dir", str(tmp_path), "--table", str(tmp_path / "missing.npz")])
    assert not list(tmp_path.iterdir())


def test_prior_sampling_and_fitted_gaussians():
    from models.pretrain_arch2vec import decode_prior_samples, fitted_priors

    torch.manual_seed(0)
    model = Arch2Vec(n_types=7)
    _, graphs = pretraining_graphs("nb201", limit=64, seed=0)
    gaussians = fitted_priors(model, graphs)
    for fitted in gaussians.values():
        assert fitted["mean"].shape == (128,) and fitted["scale"].shape == (128, 128)
    assert torch.allclose(gaussians["slot"]["mean"], gaussians["joint"]["mean"], atol=1e-5)
    # the diagonal of the joint covariance is the per-slot variance
    joint_var = (gaussians["joint"]["scale"] @ gaussians["joint"]["scale"].T).diagonal()
    assert torch.allclose(joint_var, gaussians["slot"]["scale"].diagonal().pow(2), rtol=1e-3, atol=1e-5)
    point = {"mean": gaussians["joint"]["mean"], "scale": torch.zeros(128, 128)}
    types, edges = decode_prior_samples(model, 5, 8, seed=0, gaussian=point)
    assert types.shape == (5, 8) and edges.shape == (5, 8, 8) and (types == types[0]).all()
    standard = decode_prior_samples(model, 5, 8, seed=1)
    assert np.array_equal(standard[0], decode_prior_samples(model, 5, 8, seed=1)[0])
