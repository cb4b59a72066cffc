"""Supervised-BO baseline: arch2vec-BO's DNGO search whose feature network is a GIN on the cell graph.

As arch2vec's ``supervised_dngo.py``: before every acquisition the surrogate's basis functions,
``tanh`` of a :class:`~models.supervised_embedding.GraphEncoder` (16-d), are trained by MSE on the
accuracies queried so far; Bayesian linear regression on them gives the predictive distribution;
EI picks the next cells. Everything else (initial design, EI, top-k, the fixes) is
:mod:`search_methods.dngo`. GIN width 32 (original 128, on a GPU) and 50 training epochs per fit
(``--dngo-epochs``; arch2vec-BO uses 100). Scoring the space uses the node-major path for cells
that share one wiring and the batch norms folded into the linear maps
(:meth:`~models.supervised_embedding.GraphEncoder.folded`). The full schedule (a fresh GIN, 50
epochs, before each of the 27 acquisitions) is kept because every cheaper one measured was worse:
cifar10, seeds 1000-1039, test of the best-by-valid cell at 150 queries: from scratch 94.30 [94.25,
94.35]; ``--warm-epochs 10`` (continue the previous GIN for 10 epochs) 94.23 [94.15, 94.29];
``--dngo-epochs 20`` 94.20 [94.12, 94.27]; ``--dngo-epochs 20 --dngo-lr 0.025`` 94.05 [93.97, 94.13].
"""
from __future__ import annotations

from models.supervised_embedding import TanhBasis, shared_wiring
from search_methods import dngo
from preprocessing import spaces
from search_methods.supervised_reinforce import add_encoder_arguments, all_cell_inputs, build_encoder, check_encoder_args

DESCRIPTION = "supervised-BO: DNGO + EI with a GIN feature network trained on the queried accuracies"


def add_arguments(parser) -> None:
    dngo.add_arguments(parser)
    add_encoder_arguments(parser)
    # a GIN step costs ~10x an MLP step: half the epochs keeps a P150 run a few CPU seconds
    parser.set_defaults(dngo_epochs=50)


def prepare(args, benchmark, space) -> None:
    spaces.require(space, "graphs", args.method, single_cell=True)
    dngo.check_search_args(args)
    check_encoder_args(args)


def search(space, oracle, rng, args, context) -> None:
    inputs = all_cell_inputs(space)
    wiring = shared_wiring(inputs[..., :space.n_nodes], inputs[..., space.n_nodes:])  # checked once, not per batch
    surrogate = dngo.make_surrogate(args, lambda: (TanhBasis(build_encoder(args, space, wiring)), 16))
    dngo.bo_search(space, oracle, rng, args, inputs, surrogate)
