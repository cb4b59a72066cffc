"""MetaD2A models: dataset encoder (set pooling), NB201 cell generator (D-VAE style), meta-predictor.

* :class:`ImageFeatureCNN` -- a small CNN, (B, 1, S, S) grayscale -> (B, F) features; trained here as
  a classifier on the meta-training classes, its penultimate layer describes images of any dataset.
* :class:`DatasetEncoder` -- per-class sets of image features (C, M, F) -> intra-class set pooling ->
  (C, H) class codes -> inter-class set pooling -> (H,) dataset code. Both poolings are Set
  Transformer blocks (self-attention, then attention from one learned seed), so the code does not
  depend on the order of images within a class nor on the order of classes.
* :class:`CellGenerator` -- the cross-modal VAE: q(z | dataset) from a :class:`DatasetEncoder`, and a
  D-VAE-style sequential decoder p(cell | z): a GRU walks the NB201 op-node DAG (8 nodes, the
  wiring is the same for every NB201 cell) in topological order; each op node's type is predicted
  from the state of the graph built so far, then the node's state is the GRU update of its type
  with the gated sum of its predecessors' states. Only the 5 ops can be chosen for the 6 op nodes,
  so every decoded cell is a valid NB201 cell.
* :class:`MetaPredictor` -- dataset code + D-VAE graph encoding (the same DAG GRU, reading the
  cell's real node types) -> predicted accuracy.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from preprocessing.nasbench201 import EDGES, GRAPH_ADJACENCY, N_NODES, NODE_TYPES, OPS

N_OP_NODES = len(EDGES)
PREDECESSORS = tuple(tuple(int(u) for u in np.flatnonzero(GRAPH_ADJACENCY[:, v])) for v in range(N_NODES))


class ImageFeatureCNN(nn.Module):
    """(B, 1, S, S) normalised grayscale -> features (B, feature_dim); ``classify`` adds a linear head."""

    def __init__(self, num_classes: int, feature_dim: int = 32, width: int = 16):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(8 * width, feature_dim), nn.ReLU())
        self.head = nn.Linear(feature_dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class AttentionBlock(nn.Module):
    """Set Transformer MAB: queries (B, Nq, D) attend to keys (B, Nk, D) -> (B, Nq, D)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.feedforward = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))

    def forward(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        h = self.norm1(queries + self.attention(queries, keys, keys, need_weights=False)[0])
        return self.norm2(h + self.feedforward(h))


class SetPool(nn.Module):
    """Permutation-invariant pooling of a set: (B, N, in_dim) -> (B, dim); SAB then PMA with one seed."""

    def __init__(self, in_dim: int, dim: int, heads: int = 4):
        super().__init__()
        self.embed = nn.Linear(in_dim, dim)
        self.self_attention = AttentionBlock(dim, heads)
        self.seed = nn.Parameter(torch.randn(1, 1, dim) * dim ** -0.5)
        self.pool = AttentionBlock(dim, heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)
        h = self.self_attention(h, h)
        return self.pool(self.seed.expand(x.shape[0], -1, -1), h).squeeze(1)


class DatasetEncoder(nn.Module):
    """Per-class image features (C, M, feature_dim) -> dataset code (out_dim,)."""

    def __init__(self, feature_dim: int, hidden: int, out_dim: int):
        super().__init__()
        self.intra_class = SetPool(feature_dim, hidden)
        self.inter_class = SetPool(hidden, hidden)
        self.out = nn.Linear(hidden, out_dim)

    def forward(self, class_features: torch.Tensor) -> torch.Tensor:
        class_codes = self.intra_class(class_features)  # (C, hidden)
        return self.out(self.inter_class(class_codes.unsqueeze(0)).squeeze(0))


class DagGRU(nn.Module):
    """D-VAE message passing over the NB201 op-node DAG: node state = GRU(type, gated sum of predecessors)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.cell = nn.GRUCell(len(NODE_TYPES), hidden)
        self.gate = nn.Sequential(nn.Linear(hidden, hidden), nn.Sigmoid())
        self.message = nn.Linear(hidden, hidden, bias=False)

    def node_state(self, node: int, node_type: torch.Tensor, states: list[torch.Tensor],
                   start: torch.Tensor) -> torch.Tensor:
        """State of ``node`` (B, hidden) from its type one-hot (B, 7); ``start`` feeds the input node."""
        if PREDECESSORS[node]:
            incoming = sum(self.gate(states[u]) * self.message(states[u]) for u in PREDECESSORS[node])
        else:
            incoming = start
        return self.cell(node_type, incoming)

    def forward(self, node_types: torch.Tensor) -> torch.Tensor:
        """node_types (B, 8, 7) one-hot -> state of the output node (B, hidden)."""
        start = node_types.new_zeros(node_types.shape[0], self.hidden)
        states: list[torch.Tensor] = []
        for v in range(N_NODES):
            states.append(self.node_state(v, node_types[:, v], states, start))
        return states[-1]


def type_onehot(node: int, op_index: torch.Tensor | None, batch: int) -> torch.Tensor:
    """(B, 7) node-type one-hot: input for node 0, output for the last node, else op ``op_index`` (B,)."""
    out = torch.zeros(batch, len(NODE_TYPES))
    if node == 0:
        out[:, 0] = 1.0
    elif node == N_NODES - 1:
        out[:, -1] = 1.0
    else:
        out[torch.arange(batch), op_index + 1] = 1.0
    return out


class CellDecoder(nn.Module):
    """z (B, nz) -> op logits (B, 6, 5) under teacher forcing, or sampled ops (B, 6)."""

    def __init__(self, nz: int, hidden: int):
        super().__init__()
        self.start = nn.Sequential(nn.Linear(nz, hidden), nn.Tanh())
        self.dag = DagGRU(hidden)
        self.type_head = nn.Sequential(nn.Linear(hidden + nz, hidden), nn.ReLU(), nn.Linear(hidden, len(OPS)))

    def _walk(self, z: torch.Tensor, choose) -> torch.Tensor:
        batch = z.shape[0]
        start = self.start(z)
        states = [self.dag.node_state(0, type_onehot(0, None, batch), [], start)]
        logits = []
        for v in range(1, N_NODES - 1):
            # the graph state so far is the newest node's state (D-VAE); z is fed again to keep it in reach
            step_logits = self.type_head(torch.cat([states[-1], z], dim=1))
            logits.append(step_logits)
            states.append(self.dag.node_state(v, type_onehot(v, choose(v, step_logits), batch), states, start))
        return torch.stack(logits, dim=1)

    def forward(self, z: torch.Tensor, ops: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, 6, 5) for target op indices ``ops`` (B, 6)."""
        return self._walk(z, lambda v, _: ops[:, v - 1])

    @torch.no_grad()
    def sample(self, z: torch.Tensor, generator: torch.Generator, temperature: float = 1.0) -> torch.Tensor:
        """Op indices (B, 6), each node's op drawn from its softmax (temperature 0: argmax)."""
        chosen: list[torch.Tensor] = []

        def choose(v: int, step_logits: torch.Tensor) -> torch.Tensor:
            if temperature <= 0:
                op = step_logits.argmax(dim=1)
            else:
                op = torch.multinomial(torch.softmax(step_logits / temperature, dim=1), 1, generator=generator)[:, 0]
            chosen.append(op)
            return op

        self._walk(z, choose)
        return torch.stack(chosen, dim=1)


class CellGenerator(nn.Module):
    """Cross-modal VAE: dataset (C, M, F) -> q(z|D) = N(mu, sigma) -> NB201 cell ops."""

    def __init__(self, feature_dim: int, hidden: int = 56, nz: int = 56):
        super().__init__()
        self.nz = nz
        self.encoder = DatasetEncoder(feature_dim, hidden, 2 * nz)
        self.decoder = CellDecoder(nz, hidden)

    def posterior(self, class_features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(C, M, F) -> mu (nz,), logvar (nz,)."""
        mu, logvar = self.encoder(class_features).chunk(2)
        return mu, logvar.clamp(-8.0, 4.0)

    def loss(self, class_features: torch.Tensor, ops: torch.Tensor, kl_weight: float,
             generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """ELBO terms for one dataset and its good cells ``ops`` (B, 6): (reconstruction CE, KL)."""
        mu, logvar = self.posterior(class_features)
        noise = torch.randn(ops.shape[0], self.nz, generator=generator)
        z = mu + noise * torch.exp(0.5 * logvar)
        logits = self.decoder(z, ops)
        reconstruction = nn.functional.cross_entropy(logits.reshape(-1, len(OPS)), ops.reshape(-1))
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return reconstruction, kl_weight * kl

    @torch.no_grad()
    def generate(self, mu: torch.Tensor, logvar: torch.Tensor, n: int, generator: torch.Generator,
                 temperature: float = 1.0) -> torch.Tensor:
        """``n`` cells (n, 6) op indices decoded from z ~ N(mu, sigma)."""
        z = mu + torch.randn(n, self.nz, generator=generator) * torch.exp(0.5 * logvar)
        return self.decoder.sample(z, generator, temperature)


def ops_to_node_types(ops: torch.Tensor) -> torch.Tensor:
    """Op indices (B, 6) -> node-type one-hot (B, 8, 7) of the NB201 op-node DAG."""
    types = torch.cat([torch.zeros_like(ops[:, :1]), ops + 1, torch.full_like(ops[:, :1], len(NODE_TYPES) - 1)], 1)
    return nn.functional.one_hot(types, len(NODE_TYPES)).float()


class MetaPredictor(nn.Module):
    """(dataset (C, M, F), cells (B, 6) op indices) -> predicted accuracy (B,) in the unit of the targets."""

    def __init__(self, feature_dim: int, hidden: int = 64, dataset_dim: int = 32):
        super().__init__()
        self.dataset_encoder = DatasetEncoder(feature_dim, hidden, dataset_dim)
        self.graph_encoder = DagGRU(hidden)
        self.head = nn.Sequential(nn.Linear(dataset_dim + hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, class_features: torch.Tensor, ops: torch.Tensor) -> torch.Tensor:
        return self.predict_from_code(self.dataset_encoder(class_features), ops)

    def predict_from_code(self, dataset_code: torch.Tensor, ops: torch.Tensor) -> torch.Tensor:
        """Scores (B,) from a dataset code (dataset_dim,) -- e.g. the mean code of the meta-training tasks."""
        graphs = self.graph_encoder(ops_to_node_types(ops))
        return self.head(torch.cat([dataset_code.expand(ops.shape[0], -1), graphs], dim=1)).squeeze(1)


# ----------------------------------------------------------------------------- dataset -> feature sets

def feature_input(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 images (N, C, H, W) -> the feature CNN's input (N, 1, size, size): grayscale, resized, in [-1, 1]."""
    x = images.float() / 255.0
    if x.shape[1] == 3:  # ITU-R 601 luminance, so RGB datasets look like the grayscale ones the CNN learned on
        x = (x * torch.tensor([0.299, 0.587, 0.114])[None, :, None, None]).sum(1, keepdim=True)
    if x.shape[-1] != size or x.shape[-2] != size:
        mode = "area" if size < x.shape[-1] else "bilinear"
        x = nn.functional.interpolate(x, size=(size, size), mode=mode,
                                      **({} if mode == "area" else {"align_corners": False}))
    return (x - 0.5) / 0.5


@torch.no_grad()
def class_feature_sets(cnn: ImageFeatureCNN, images: torch.Tensor, labels: torch.Tensor, num_classes: int,
                       size: int, batch: int = 512) -> list[torch.Tensor]:
    """Features of every image, split by class: a list of (n_c, F), one per class 0..num_classes-1."""
    cnn.eval()
    features = torch.cat([cnn(feature_input(images[i:i + batch], size)) for i in range(0, len(images), batch)])
    return [features[labels == c] for c in range(num_classes) if bool((labels == c).any())]


def sample_class_features(sets: list[torch.Tensor], per_class: int, generator: torch.Generator) -> torch.Tensor:
    """(C, per_class, F): a seeded draw of ``per_class`` feature vectors from each class (with replacement
    only where a class has fewer)."""
    out = []
    for s in sets:
        if len(s) >= per_class:
            index = torch.randperm(len(s), generator=generator)[:per_class]
        else:
            index = torch.randint(0, len(s), (per_class,), generator=generator)
        out.append(s[index])
    return torch.stack(out)
