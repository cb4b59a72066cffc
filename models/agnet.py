"""AG-Net (Lukasik et al., 2022): a graph generator from noise, and a predictor trained jointly with it.

The generator builds a cell node by node. Before node ``v`` it embeds the partial graph (nodes
``< v``) with a small GNN and a gated-sum readout; from that embedding, the noise ``z`` and the
position it picks node ``v``'s type, then the edges from every earlier node into ``v``.

Message passing only runs along edges ``u -> v`` with ``u < v`` (cells are DAGs in topological
order), so a node's state depends on earlier nodes only. Hence the states of nodes ``< v`` in the
*partial* graph equal their states in the *complete* graph, and the reconstruction loss of a
real cell (teacher forcing: every step sees the real prefix) is one parallel GNN pass plus an
exclusive cumulative sum of the readout -- exactly the sequential generator's computation, with
no loop over nodes. Sampling is sequential (``max_nodes`` steps), batched over cells.

Cells are dense tensors: ``types (B, N)`` node-type codes, ``adj (B, N, N)`` with
``adj[b, u, v] = 1`` for an edge ``u -> v`` (strictly upper triangular) and ``n_nodes (B,)``;
nodes ``>= n_nodes`` are padding. Node 0 is always the input type; a cell ends at its first
output-type node (forced at position ``N - 1``).

The predictor reads a cell's *generator features* -- the GNN readout of the complete cell
concatenated with its flat type one-hot and upper-triangular adjacency -- so its regression loss
trains the generator's GNN too (the paper's joint loss ``0.1 * reconstruction + 0.9 * MSE``).
The paper's predictor reads the generator's soft output for a noise sample drawn independently of
the real cell whose accuracy it regresses; with teacher forcing the generator's own embedding of
that real cell is what carries information about it, so that is what the predictor reads here.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def node_mask(n_nodes: torch.Tensor, max_nodes: int) -> torch.Tensor:
    """(B,) node counts -> (B, N) bool, True for real (non-padding) nodes."""
    return torch.arange(max_nodes, device=n_nodes.device)[None, :] < n_nodes[:, None]


class CellGenerator(nn.Module):
    """Noise -> cell, node by node over the partial graph (see the module docstring).

    Args:
        n_types: number of node types (input and output included).
        max_nodes: N, nodes per cell including input and output.
        noise_dim: size of z.
        hidden_dim: node-state and readout size.
        n_layers: message-passing layers.
        input_type / output_type: the type codes of the first and the terminating node.
    """

    def __init__(self, n_types: int, max_nodes: int, noise_dim: int = 32, hidden_dim: int = 32,
                 n_layers: int = 2, input_type: int = 0, output_type: int | None = None):
        super().__init__()
        self.n_types = n_types
        self.max_nodes = max_nodes
        self.noise_dim = noise_dim
        self.hidden_dim = hidden_dim
        self.input_type = input_type
        self.output_type = n_types - 1 if output_type is None else output_type
        self.type_embed = nn.Embedding(n_types, hidden_dim)
        self.pos_embed = nn.Embedding(max_nodes, hidden_dim)
        self.messages = nn.ModuleList(nn.Linear(hidden_dim, hidden_dim) for _ in range(n_layers))
        self.updates = nn.ModuleList(nn.GRUCell(hidden_dim, hidden_dim) for _ in range(n_layers))
        self.readout_value = nn.Linear(hidden_dim, hidden_dim)
        self.readout_gate = nn.Linear(hidden_dim, 1)
        context = hidden_dim + noise_dim + hidden_dim  # partial-graph readout, z, position
        self.type_head = nn.Sequential(nn.Linear(context, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, n_types))
        self.edge_from = nn.Linear(hidden_dim, hidden_dim)
        self.edge_to = nn.Linear(context, hidden_dim)
        self.edge_out = nn.Linear(hidden_dim, 1)

    # ---- shared pieces -------------------------------------------------------------------
    def _initial_state(self, types: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return self.type_embed(types) + self.pos_embed(positions)

    def _update(self, layer: int, message: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        shape = state.shape
        return self.updates[layer](message.reshape(-1, shape[-1]), state.reshape(-1, shape[-1])).view(shape)

    def _readout(self, h: torch.Tensor) -> torch.Tensor:
        """(..., d) final node states -> (..., d) gated contributions to the graph embedding."""
        return self.readout_value(h) * torch.sigmoid(self.readout_gate(h))

    def _context(self, partial: torch.Tensor, z: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """(B, V, d) partial-graph embeddings, (B, noise) z, (V,) positions -> (B, V, context)."""
        batch, steps = partial.shape[:2]
        return torch.cat([partial, z[:, None].expand(batch, steps, -1),
                          self.pos_embed(positions)[None].expand(batch, -1, -1)], dim=-1)

    def _type_logits(self, context: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Type logits with the cell grammar: no input after node 0, output forced at the last node."""
        logits = self.type_head(context)
        banned = torch.zeros(len(positions), self.n_types, dtype=torch.bool, device=logits.device)
        banned[:, self.input_type] = True
        last = positions == self.max_nodes - 1
        banned[last] = True
        banned[last, self.output_type] = False
        return logits.masked_fill(banned, float("-inf"))

    def _edge_logits(self, h_from: torch.Tensor, to_context: torch.Tensor, to_types: torch.Tensor,
                     to_positions: torch.Tensor) -> torch.Tensor:
        """h_from (B, U, d), to_context (B, V, c), to_types (B, V) -> (B, U, V) logits of edges u -> v."""
        to = self.edge_to(to_context) + self.type_embed(to_types) + self.pos_embed(to_positions)
        return self.edge_out(F.relu(self.edge_from(h_from)[:, :, None] + to[:, None])).squeeze(-1)

    # ---- teacher forcing: reconstruction of real cells ----------------------------------
    def encode(self, types: torch.Tensor, adj: torch.Tensor, n_nodes: torch.Tensor):
        """Final node states (B, N, d) and readout contributions (B, N, d), padding zeroed."""
        positions = torch.arange(self.max_nodes, device=types.device)
        mask = node_mask(n_nodes, self.max_nodes)[..., None].float()
        h = self._initial_state(types, positions)
        incoming = adj.transpose(1, 2)  # incoming[b, v, u] = edge u -> v
        for layer, message in enumerate(self.messages):
            h = self._update(layer, incoming @ message(h), h)
        return h, self._readout(h) * mask

    def reconstruction(self, types: torch.Tensor, adj: torch.Tensor, n_nodes: torch.Tensor,
                       z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-cell reconstruction loss (B,) = mean type cross-entropy + mean edge BCE, and the
        graph embedding (B, d) of each complete cell."""
        h, contrib = self.encode(types, adj, n_nodes)
        partial = torch.cumsum(contrib, dim=1) - contrib  # embedding of nodes < v, for every v
        steps = torch.arange(1, self.max_nodes, device=types.device)
        context = self._context(partial[:, 1:], z, steps)
        present = node_mask(n_nodes, self.max_nodes)[:, 1:].float()  # (B, N-1) generated nodes
        targets = torch.where(present.bool(), types[:, 1:], self.output_type)  # padding: any allowed type
        type_nll = F.cross_entropy(self._type_logits(context, steps).transpose(1, 2), targets, reduction="none")
        type_loss = (type_nll * present).sum(1) / present.sum(1)
        edge_logits = self._edge_logits(h, context, types[:, 1:], steps)  # (B, N, N-1): u -> v = step + 1
        earlier = torch.ones(self.max_nodes, self.max_nodes, device=types.device).triu(1)[:, 1:]
        edge_mask = earlier[None] * present[:, None, :]
        edge_bce = F.binary_cross_entropy_with_logits(edge_logits, adj[:, :, 1:], reduction="none")
        edge_loss = (edge_bce * edge_mask).sum((1, 2)) / edge_mask.sum((1, 2))
        return type_loss + edge_loss, contrib.sum(1)

    # ---- generation -----------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, z: torch.Tensor, generator: torch.Generator | None = None):
        """z (B, noise_dim) -> types (B, N) long, adj (B, N, N) float, n_nodes (B,) long."""
        batch, n, device = z.shape[0], self.max_nodes, z.device
        types = torch.full((batch, n), self.input_type, dtype=torch.long, device=device)
        adj = torch.zeros(batch, n, n, device=device)
        n_nodes = torch.full((batch,), n, dtype=torch.long, device=device)
        alive = torch.ones(batch, dtype=torch.bool, device=device)
        # states[l][:, v]: node v's state after l message-passing layers
        states = [torch.zeros(batch, n, self.hidden_dim, device=device) for _ in range(len(self.messages) + 1)]
        partial = torch.zeros(batch, self.hidden_dim, device=device)
        for v in range(n):
            position = torch.tensor([v], device=device)
            if v > 0:
                context = self._context(partial[:, None], z, position)
                probs = torch.softmax(self._type_logits(context, position)[:, 0], dim=-1)
                new_type = torch.multinomial(probs, 1, generator=generator)[:, 0]
                types[:, v] = torch.where(alive, new_type, self.input_type)
                edge_p = torch.sigmoid(self._edge_logits(states[-1][:, :v], context, types[:, v:v + 1], position))
                edges = torch.bernoulli(edge_p[..., 0], generator=generator) * alive[:, None].float()
                adj[:, :v, v] = edges
            states[0][:, v] = self._initial_state(types[:, v], position)
            for layer, message in enumerate(self.messages):
                incoming = (adj[:, :v, v, None] * message(states[layer][:, :v])).sum(1)
                states[layer + 1][:, v] = self._update(layer, incoming, states[layer][:, v])
            partial = partial + self._readout(states[-1][:, v]) * alive[:, None].float()
            ended = alive & (types[:, v] == self.output_type)
            n_nodes[ended] = v + 1
            alive = alive & ~ended
        return types, adj, n_nodes


class CellPredictor(nn.Module):
    """MLP regressor: (B, in_dim) cell features -> (B, out_dim) predicted (standardised) metrics."""

    def __init__(self, in_dim: int, hidden_dim: int = 64, out_dim: int = 1, n_layers: int = 2):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(n_layers):
            layers += [nn.Linear(in_dim if i == 0 else hidden_dim, hidden_dim), nn.ReLU()]
        layers.append(nn.Linear(hidden_dim, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


def cell_encoding(types: torch.Tensor, adj: torch.Tensor, n_nodes: torch.Tensor, n_types: int) -> torch.Tensor:
    """Flat (B, N*T + N(N-1)/2) encoding: masked type one-hot and upper-triangular adjacency."""
    n = types.shape[1]
    onehot = F.one_hot(types, n_types).float() * node_mask(n_nodes, n)[..., None].float()
    rows, cols = torch.triu_indices(n, n, 1)
    return torch.cat([onehot.flatten(1), adj[:, rows, cols]], dim=1)


class AGNet(nn.Module):
    """Generator plus predictor on the generator's features of a cell; the joint loss trains both."""

    def __init__(self, n_types: int, max_nodes: int, noise_dim: int = 32, hidden_dim: int = 32,
                 n_layers: int = 2, predictor_hidden: int = 64, n_targets: int = 1):
        super().__init__()
        self.generator = CellGenerator(n_types, max_nodes, noise_dim, hidden_dim, n_layers)
        feature_dim = hidden_dim + max_nodes * n_types + max_nodes * (max_nodes - 1) // 2
        self.predictor = CellPredictor(feature_dim, predictor_hidden, n_targets)

    def features(self, types, adj, n_nodes, embedding: torch.Tensor) -> torch.Tensor:
        return torch.cat([embedding, cell_encoding(types, adj, n_nodes, self.generator.n_types)], dim=1)

    def losses(self, types, adj, n_nodes, z, targets: torch.Tensor | None = None):
        """Per-cell reconstruction loss (B,) and, with targets (B, n_targets), per-cell MSE (B,)."""
        recon, embedding = self.generator.reconstruction(types, adj, n_nodes, z)
        if targets is None:
            return recon, None
        prediction = self.predictor(self.features(types, adj, n_nodes, embedding))
        return recon, ((prediction - targets) ** 2).mean(1)

    def predict(self, types, adj, n_nodes) -> torch.Tensor:
        """(B, n_targets) predicted metrics of complete cells."""
        _, contrib = self.generator.encode(types, adj, n_nodes)
        return self.predictor(self.features(types, adj, n_nodes, contrib.sum(1)))
