"""MetaD2A (Lee et al., ICLR 2021) in the common runner: cells generated for the target dataset by the
meta-trained generator, queried in the order of the meta-predictor's ranking.

Nothing is learned during a run (MetaD2A transfers from its meta-database; the queried accuracies
are not fed back): each round generates ``--candidates`` cells from the generator's posterior
for the dataset (paper: 500), ranks the distinct ones with the meta-predictor, and queries those
not queried yet best first. The paper reports the best of its top 30, i.e. the first 30 queries
of a run. A round that brings no new cell ends generation; the remaining cells of the space
are then queried in the meta-predictor's order, so every run spends its whole budget.
All draws come from one torch generator seeded by the run's seed.

Dataset code: the NB201 datasets' images cannot be read here, so the code of every dataset is the
mean over the meta-training tasks (:func:`search_methods.metad2a.dataset_code` without images): the
same generator and ranking for cifar10, cifar100 and ImageNet16-120 (the oracle differs). Meta-test
on images, with real training of the chosen cells: ``python -m search_methods.metad2a``.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from models.train_metad2a import ensure_metad2a_checkpoint, load_metad2a
from preprocessing import spaces
from preprocessing.errors import InputError
from preprocessing.nasbench201 import official_op_codes
from search_methods.metad2a import dataset_code, generate_ranked

DESCRIPTION = "MetaD2A: cells generated for the dataset by a meta-trained generator, queried in the meta-predictor's order"


def add_arguments(parser) -> None:
    parser.add_argument("--candidates", type=int, default=500,
                        help="cells generated per round (default 500, the paper's)")
    parser.add_argument("--temperature", type=float, default=1.0,
                        help="sampling temperature of the generator (default 1.0)")


def prepare(args, benchmark, space) -> dict:
    """The meta-trained checkpoint's path (meta-trained first when missing)."""
    spaces.settings(space.name, "metad2a")  # one error line on a space the models were not meta-trained on
    if args.candidates < 1 or args.temperature < 0:
        raise InputError("--candidates must be at least 1 and --temperature non-negative")
    return {"checkpoint": str(ensure_metad2a_checkpoint())}


@lru_cache(maxsize=2)
def _models(path: str) -> tuple:
    return load_metad2a(path)


def search(space, oracle, rng, args, context) -> None:
    models = _models(context["checkpoint"])
    draw = torch.Generator().manual_seed(int(rng.integers(2 ** 31)))
    codes = dataset_code(models, None, draw)
    allowed = np.zeros(len(official_op_codes()), dtype=bool)
    allowed[space.keys()] = True
    while True:
        ranked, _, _ = generate_ranked(models, codes, args.candidates, draw, args.temperature)
        new = [key for key in ranked if allowed[key] and not oracle.seen(key)]
        if not new:
            break
        oracle.query_many(new)
    rest = np.array([key for key in space.keys() if not oracle.seen(key)], dtype=np.int64)
    oracle.query_many(rest[np.argsort(-predicted_scores(models, codes, rest), kind="stable")])


@torch.no_grad()
def predicted_scores(models: tuple, codes: tuple[torch.Tensor, ...], keys: np.ndarray) -> np.ndarray:
    """The meta-predictor's (standardised) score of each cell in ``keys`` for the dataset's ``codes``."""
    ops = torch.from_numpy(official_op_codes()[keys].astype(np.int64))
    return models[3].predict_from_code(codes[2], ops).numpy()
