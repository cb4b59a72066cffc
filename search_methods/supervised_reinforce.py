"""Supervised-RL baseline: arch2vec-RL's REINFORCE on a GIN representation learned during the search.

Instead of frozen pretrained embeddings, the policy's state and the nearest-neighbour space come
from a :class:`~models.supervised_embedding.GraphEncoder` trained jointly with the policy by the
policy-gradient loss (Adam, ``--encoder-lr`` 1e-3, as arch2vec's ``supervised_reinforce.py``); the
representation of every cell is recomputed with the current encoder at the start of each
episode. Everything else (policy, baseline, batch) is :mod:`search_methods.reinforce`.
Differences from the original: its state was the encoding of the *first* cell at every step (a
bug); here it is the last queried cell, as in arch2vec-RL. GIN width 32 (original 128, on a GPU).
"""
from __future__ import annotations

import torch

from models.space_graphs import all_key_graphs
from models.supervised_embedding import EncoderEmbedding, GraphEncoder
from preprocessing import spaces
from preprocessing.errors import InputError
from search_methods import reinforce

DESCRIPTION = "supervised-RL: REINFORCE on a GIN representation trained by the policy gradient during the search"


def add_encoder_arguments(parser) -> None:
    parser.add_argument("--gin-hidden", type=int, default=32, help="GIN width of the supervised encoder (default 32)")
    parser.add_argument("--gin-layers", type=int, default=4, help="GIN layers of the supervised encoder (default 4)")


def check_encoder_args(args) -> None:
    if args.gin_hidden < 1 or args.gin_layers < 1:
        raise InputError("--gin-hidden and --gin-layers must be at least 1")
    if getattr(args, "encoder_lr", 1.0) <= 0:
        raise InputError("--encoder-lr must be positive")


def add_arguments(parser) -> None:
    reinforce.add_arguments(parser)
    add_encoder_arguments(parser)
    parser.add_argument("--encoder-lr", type=float, default=1e-3,
                        help="Adam learning rate of the encoder (default 1e-3)")


def build_encoder(args, space, wiring: torch.Tensor | None = None) -> GraphEncoder:
    """A freshly initialised encoder for the space's graphs (weights from torch's global generator);
    ``wiring``: :func:`~models.supervised_embedding.shared_wiring` of every cell of the space."""
    return GraphEncoder(space.n_nodes, len(space.node_types), hidden=args.gin_hidden, latent=16,
                        n_layers=args.gin_layers, wiring=wiring)


def all_cell_inputs(space) -> torch.Tensor:
    """(K, N, N + T) packed graph of every key 0..max(keys), row = key."""
    graphs = all_key_graphs(space)
    return torch.cat([graphs.adj, graphs.ops], dim=-1)


def prepare(args, benchmark, space) -> None:
    spaces.require(space, "graphs", args.method, single_cell=True)
    reinforce.check_search_args(args)
    check_encoder_args(args)


def search(space, oracle, rng, args, context) -> None:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(rng.integers(2 ** 31)))
        encoder = build_encoder(args, space)
    embedding = EncoderEmbedding(encoder, all_cell_inputs(space))
    reinforce.rl_search(space, oracle, rng, args, embedding,
                        extra_optimizer=torch.optim.Adam(encoder.parameters(), lr=args.encoder_lr))
