"""The speed paths of the slow grids compute what the plain paths compute."""
import numpy as np
import pytest
import torch

from models.dngo import DNGO, BasisRegressor, tanh_mlp
from models.supervised_embedding import GraphEncoder, TanhBasis


@pytest.mark.parametrize("space_name", ["nb201", "nb101"])  # one shared wiring / padded cells of many wirings
def test_folded_gin_equals_the_eval_forward_with_trained_batch_norms(space_name):
    from preprocessing import spaces

    space = spaces.full_space(space_name)
    torch.manual_seed(0)
    encoder = GraphEncoder(space.n_nodes, len(space.node_types), hidden=16, latent=8, n_layers=3)
    adj, ops = space.graphs(space.sample(np.random.default_rng(0), size=400))
    cells = torch.cat([torch.as_tensor(adj), torch.as_tensor(ops)], dim=-1)
    with torch.no_grad():
        encoder.layers[0].eps.fill_(0.3)
        for _ in range(3):  # move the running statistics away from their initial values
            encoder(cells)
    with pytest.raises(RuntimeError, match="eval"):
        encoder.folded(cells)
    encoder.eval()
    with torch.no_grad():
        assert torch.allclose(encoder.folded(cells), encoder(cells), atol=1e-5)
        basis = TanhBasis(encoder).eval()
        assert torch.allclose(basis(cells), torch.tanh(encoder(cells)), atol=1e-5)


def test_dngo_warm_start_continues_the_previous_network():
    built = []

    def make_network():
        built.append(BasisRegressor(tanh_mlp(3, (8,)), 8))
        return built[-1]

    rng = np.random.default_rng(0)
    x, y = torch.as_tensor(rng.normal(size=(40, 3)), dtype=torch.float32), rng.normal(size=40)
    cold = DNGO(make_network, epochs=5)
    cold.fit(x[:20], y[:20], seed=0).fit(x, y, seed=1)
    assert len(built) == 2  # from scratch: a fresh network per fit
    warm = DNGO(make_network, epochs=5, warm_epochs=2)
    warm.fit(x[:20], y[:20], seed=0)
    before = {k: v.clone() for k, v in warm.network.state_dict().items()}
    warm.fit(x, y, seed=1)
    assert len(built) == 3 and warm.network is built[2]
    assert any(not torch.equal(before[k], v) for k, v in warm.network.state_dict().items())
    mean, std = warm.predict(x)
    assert mean.shape == (40,) and np.all(std > 0)


def test_stacked_mlp_scoring_path_matches_forward():
    from models.predictors import StackedMLP

    model = StackedMLP(30, (16, 16, 16), n_members=3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for bias in model.biases:  # non-zero biases, as after training
            bias.normal_()
    x = (torch.rand(257, 30, generator=torch.Generator().manual_seed(1)) < 0.2).float()
    reference = torch.matmul(x, model.weights[0]) + model.biases[0]  # the broadcast first layer
    for weight, bias in zip(model.weights[1:], model.biases[1:]):
        reference = torch.baddbmm(bias, torch.relu(reference), weight)
    assert torch.equal(model(x), reference.squeeze(-1))
    # bit-identical where MKL adds the bias after the product; on AMD Zen 5 baddbmm fuses it: rounding only
    assert torch.allclose(model.score(x), reference.squeeze(-1), rtol=1e-6, atol=2e-6)
    assert not torch.allclose(model.score(x), reference.squeeze(-1) + 1e-4, rtol=1e-6, atol=2e-6)


def test_shared_wiring_path_trains_and_scores_like_the_general_path(monkeypatch):
    """NB201 cells share one wiring: the node-major path must give the general path's outputs,
    gradients and folded scores (up to float rounding)."""
    import models.supervised_embedding as embedding
    from preprocessing import spaces

    space = spaces.full_space("nb201")
    adj, ops = space.graphs(space.sample(np.random.default_rng(0), size=300))
    # float64: the two paths sum in different orders; in float32 their rounding noise depends on the thread count
    cells = torch.cat([torch.as_tensor(adj), torch.as_tensor(ops)], dim=-1).double()
    assert embedding.shared_wiring(cells[..., :space.n_nodes], cells[..., space.n_nodes:]) is not None
    torch.manual_seed(0)
    fast = GraphEncoder(space.n_nodes, len(space.node_types), hidden=16, latent=8, n_layers=3).double()
    general = GraphEncoder(space.n_nodes, len(space.node_types), hidden=16, latent=8, n_layers=3).double()
    with torch.no_grad():
        fast.layers[1].eps.fill_(0.4)
    general.load_state_dict(fast.state_dict())
    out_fast = fast(cells)
    monkeypatch.setattr(embedding, "shared_wiring", lambda adj, ops: None)
    out_general = general(cells)
    assert torch.allclose(out_fast, out_general, atol=1e-10)
    (out_fast ** 2).sum().backward()
    (out_general ** 2).sum().backward()
    for (name, a), b in zip(fast.named_parameters(), general.parameters()):
        assert torch.allclose(a.grad, b.grad, rtol=1e-8, atol=1e-10), name
    fast.eval(), general.eval()
    with torch.no_grad():
        general_scores = general.folded(cells)
        monkeypatch.undo()
        assert torch.allclose(fast.folded(cells), general_scores, atol=1e-10)


def test_lean_adam_steps_bit_identical_to_torch_fused_adam():
    from models.optim import LeanAdam

    def network():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))

    x, y = torch.randn(32, 6, generator=torch.Generator().manual_seed(1)), torch.randn(32, 1)
    for weight_decay in (0.0, 1e-3):
        reference, lean = network(), network()
        torch_adam = torch.optim.Adam(reference.parameters(), lr=0.01, weight_decay=weight_decay, fused=True)
        lean_adam = LeanAdam(lean.parameters(), lr=0.01, weight_decay=weight_decay)
        for _ in range(25):
            for model, optimiser in ((reference, torch_adam), (lean, lean_adam)):
                optimiser.zero_grad()
                ((model(x) - y) ** 2).mean().backward()
                optimiser.step()
        changed = [not torch.equal(a, b) for a, b in zip(reference.parameters(), network().parameters())]
        assert all(changed)  # the steps moved every weight...
        assert all(torch.equal(a, b) for a, b in zip(reference.parameters(), lean.parameters()))  # ...identically


def test_lean_adam_refuses_a_parameter_without_gradient():
    from models.optim import LeanAdam

    used, unused = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    optimiser = LeanAdam([used, unused], lr=0.1)
    (used ** 2).sum().backward()
    with pytest.raises(RuntimeError, match="no gradient"):
        optimiser.step()


def test_given_wiring_and_cached_folded_weights_match_the_checked_path():
    """An encoder told the space's wiring gives the outputs of one that checks each batch, and its
    cached folded weights follow every weight update (a stale cache would score with old weights)."""
    from models.supervised_embedding import shared_wiring
    from preprocessing import spaces

    space = spaces.full_space("nb201")
    adj, ops = space.graphs(space.sample(np.random.default_rng(0), size=64))
    cells = torch.cat([torch.as_tensor(adj), torch.as_tensor(ops)], dim=-1).float()
    wiring = shared_wiring(cells[..., :space.n_nodes], cells[..., space.n_nodes:])
    torch.manual_seed(0)
    told = GraphEncoder(space.n_nodes, len(space.node_types), hidden=16, latent=8, n_layers=3, wiring=wiring)
    checking = GraphEncoder(space.n_nodes, len(space.node_types), hidden=16, latent=8, n_layers=3)
    checking.load_state_dict(told.state_dict())
    assert "wiring" not in told.state_dict()  # a property of the space, not a weight
    assert torch.equal(told(cells), checking(cells))
    told.eval()
    before = told.folded(cells)
    assert torch.equal(told.folded(cells), before)
    with torch.no_grad():
        told.layers[0].mlp[0].weight.add_(0.5)  # in place, as Adam updates
    after = told.folded(cells)
    fresh = GraphEncoder(space.n_nodes, len(space.node_types), hidden=16, latent=8, n_layers=3)
    fresh.load_state_dict(told.state_dict())
    assert not torch.allclose(after, before)
    assert torch.equal(after, fresh.eval().folded(cells))
