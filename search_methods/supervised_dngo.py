"""Supervised-BO baseline: arch2vec-BO's DNGO search whose feature network is a GIN on the cell graph.

As arch2vec's ``supervised_dngo.py``: before every acquisition the surrogate's basis functions,
``tanh`` of a :class:`~models.supervised_embedding.GraphEncoder` (16-d), are trained by MSE on the
accuracies queried so far; Bayesian linear regression on them gives the predictive distribution;
EI picks the next cells. Everything else (initial design, EI, top-k, the fixes) is
:mod:`search_methods.dngo`. GIN width 32 (original 128, on a GPU). Training: the first fit trains a
fresh GIN for 50 epochs (``--dngo-epochs``; arch2vec-BO uses 100); each later fit continues the
previous GIN for 10 epochs (``--warm-epochs``; the original retrained from scratch every time, which
``--warm-epochs 0`` restores): 2.3x less CPU per run (7.8 -> 3.4 CPU-s) for the same P150 quality
(README), so the 300-run grid fits in 10 minutes on 2 cores.
"""
from __future__ import annotations

from models.supervised_embedding import TanhBasis
from search_methods import dngo
from search_methods.supervised_reinforce import add_encoder_arguments, all_cell_ops, build_encoder

DESCRIPTION = "supervised-BO: DNGO + EI with a GIN feature network trained on the queried accuracies"


def add_arguments(parser) -> None:
    dngo.add_arguments(parser)
    add_encoder_arguments(parser)
    # a GIN step costs ~10x an MLP step: half the epochs, and warm-started refits, keep a P150 run ~3 CPU-s
    parser.set_defaults(dngo_epochs=50, warm_epochs=10)


def prepare(args, benchmark, space) -> None:
    dngo.check_search_args(args)


def search(space, oracle, rng, args, context) -> None:
    inputs = all_cell_ops(space)
    surrogate = dngo.make_surrogate(args, lambda: (TanhBasis(build_encoder(args)), 16))
    dngo.bo_search(space, oracle, rng, args, inputs, surrogate)
