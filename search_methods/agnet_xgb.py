"""AG-Net with an XGBoost predictor (the paper's XGB / XGB-ranking variants).

The loop is AG-Net's (see :mod:`search_methods.agnet_search`): the generator is retrained on the
rank-weighted queried cells, with the reconstruction loss only, and an XGBoost model fitted on the
queried cells' flat one-hot encodings (types + adjacency) ranks the generated candidates.
``--xgb-objective reg`` regresses the standardised accuracy (``reg:squarederror``); ``rank``
learns their order (``rank:pairwise``, all queried cells one group).
"""
from __future__ import annotations

import numpy as np

from search_methods import agnet_search
from search_methods.agnet_search import AGNetSearcher, query_initial, rank_weights, standardise
from search_methods.oracle import BudgetExhausted

DESCRIPTION = "AG-Net generator + XGBoost predictor (regression or pairwise ranking)"
prepare = agnet_search.prepare


def add_arguments(parser) -> None:
    agnet_search.add_generator_arguments(parser)
    parser.add_argument("--xgb-objective", choices=("reg", "rank"), default="reg",
                        help="XGBoost objective: 'reg' = squared-error regression, 'rank' = pairwise ranking "
                             "(default reg)")
    parser.add_argument("--xgb-trees", type=int, default=200, help="boosting rounds (default 200)")
    parser.add_argument("--xgb-depth", type=int, default=6, help="maximum tree depth (default 6)")


def fit_predict(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, args, seed: int) -> np.ndarray:
    """Scores of test_x (higher = better) from an XGBoost model fitted on (train_x, train_y)."""
    import xgboost

    common = dict(n_estimators=args.xgb_trees, max_depth=args.xgb_depth, learning_rate=0.1, subsample=0.9,
                  n_jobs=1, random_state=seed, tree_method="exact")
    if args.xgb_objective == "rank":
        model = xgboost.XGBRanker(objective="rank:pairwise", **common)
        model.fit(train_x, train_y, qid=np.zeros(len(train_y), dtype=int))
    else:
        model = xgboost.XGBRegressor(objective="reg:squarederror", **common)
        model.fit(train_x, train_y)
    return model.predict(test_x)


def search(space, oracle, rng, args, context) -> None:
    searcher = AGNetSearcher(space, args, context, rng)
    query_initial(space, oracle, rng, args.initial)
    while True:
        if oracle.n_queries >= len(space):
            raise BudgetExhausted  # a table smaller than the budget: every cell is queried
        keys, values = oracle.history()
        searcher.train(keys, rank_weights(values, args.weight_factor))
        candidates = searcher.candidates(oracle)
        if len(candidates) == 0:
            searcher.query_best(space, oracle, candidates, np.zeros(0))
            continue
        targets = standardise(values)[:, 0]
        if args.xgb_objective == "rank":  # pairwise ranking wants integer relevance labels
            targets = np.argsort(np.argsort(values, kind="stable"), kind="stable")
        scores = fit_predict(searcher.encoding(keys), targets, searcher.encoding(candidates), args,
                             int(rng.integers(2**31)))
        searcher.query_best(space, oracle, candidates, scores)
