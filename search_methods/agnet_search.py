"""AG-Net search (Lukasik et al., 2022): learn where to look by retraining the generator on good cells.

Start from ``--initial`` random queried cells. Each iteration:

1. retrain the pretrained generator (and the predictor, jointly: ``--recon-weight`` x reconstruction
   + (1 - it) x MSE) for ``--train-steps`` steps (or ``--train-passes`` passes over the N queried
   cells) on the queried cells, drawn with rank weights ``1 / (k N + rank)`` (rank 0 = best,
   ``k = --weight-factor``, N = cells queried so far), so the generator's distribution moves towards
   the best cells (``--loss-weighting both``: each cell's loss is also scaled by its weight);
2. generate cells until ``--candidates`` valid, distinct, not yet queried ones are found (at most
   ``--max-samples`` draws; random unseen cells fill any shortfall);
3. query the predictor's top ``--top-k`` of them.

The run ends when the oracle's budget is spent. Paper settings: 16 initial, top 16, ~100
candidates, ``k = 0.01``, joint loss 0.1 / 0.9. The defaults differ from the original code
(jovitalukasik/AG-Net, ``Search_Tabular.py`` on NB201) in four places, each a flag: it trains 30
passes over the queried cells per iteration (``--train-passes 30``; here 25 mini-batches keep a
150-query run at a few CPU seconds), scales each cell's loss by its rank weight on top of the
weighted sampling (``--loss-weighting both``), regresses accuracy / 100 (``--targets fraction``; here
standardised over the queried cells) and uses Adam with beta1 = 0.5 (``--beta1 0.5``). Its NB201
budget is 320 queries (``--queries 320``: it stops once more than 310 cells are queried). Its
latent noise is uniform on [-3, 3]; the generator here is pretrained on standard normal noise, so
that stays normal.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from models.agnet import AGNet, cell_encoding
from models.agnet_cells import GeneratorCells
from models.pretrain_agnet import ensure_agnet_generator
from preprocessing.errors import InputError, require_at_least_one
from search_methods.oracle import BudgetExhausted

LOSS_WEIGHTINGS = ("sampling", "both")
TARGETS = ("standardised", "fraction")
DESCRIPTION = "AG-Net: generator retrained on rank-weighted queried cells, candidates ranked by a joint predictor"


def add_arguments(parser) -> None:
    add_generator_arguments(parser)
    parser.add_argument("--targets", choices=TARGETS, default="standardised",
                        help="what the predictor regresses: 'standardised' = accuracies standardised over the "
                             "queried cells (default); 'fraction' = accuracy / 100 (the original code)")


def add_generator_arguments(parser) -> None:
    """The flags of the generator loop, shared with agnet_xgb and the hardware-aware search."""
    parser.add_argument("--initial", type=int, default=16, help="random cells queried first (default 16)")
    parser.add_argument("--top-k", type=int, default=16, help="cells queried per iteration (default 16)")
    parser.add_argument("--candidates", type=int, default=100,
                        help="valid unseen generated cells ranked per iteration (default 100)")
    parser.add_argument("--max-samples", type=int, default=2000,
                        help="most cells generated per iteration while looking for candidates (default 2000)")
    parser.add_argument("--train-steps", type=int, default=25,
                        help="generator/predictor mini-batch steps per iteration (default 25)")
    parser.add_argument("--batch-size", type=int, default=16, help="cells per training step (default 16)")
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate while searching (default 1e-3)")
    parser.add_argument("--weight-factor", type=float, default=0.01,
                        help="k of the rank weights 1/(k N + rank) (default 0.01, the paper's)")
    parser.add_argument("--recon-weight", type=float, default=0.1,
                        help="share of the reconstruction loss in the joint loss; the MSE gets the rest "
                             "(default 0.1, the paper's)")
    parser.add_argument("--train-passes", type=float, default=0,
                        help="if > 0: train ceil(P x N / --batch-size) steps per iteration, N = cells queried so "
                             "far, instead of --train-steps (the original code: 30); default 0 = --train-steps")
    parser.add_argument("--loss-weighting", choices=LOSS_WEIGHTINGS, default="sampling",
                        help="'sampling' = the rank weights only draw the batches (default); 'both' = each "
                             "cell's loss is also multiplied by its rank weight (the original code)")
    parser.add_argument("--beta1", type=float, default=0.9,
                        help="Adam's first-moment decay while searching, in [0, 1) (default 0.9; the original "
                             "code: 0.5)")


def check_args(args) -> None:
    """InputError for flag values a search cannot run with."""
    require_at_least_one(args, ("initial", "top_k", "candidates", "max_samples", "train_steps", "batch_size"))
    if args.lr <= 0 or args.weight_factor <= 0:
        raise InputError("--lr and --weight-factor must be positive")
    if not 0 <= args.recon_weight <= 1:
        raise InputError(f"--recon-weight {args.recon_weight} must be in [0, 1]")
    if not 0 <= args.train_passes <= 1000:
        raise InputError(f"--train-passes {args.train_passes} must be in [0, 1000] (0 = use --train-steps)")
    if not 0 <= args.beta1 < 1:
        raise InputError(f"--beta1 {args.beta1} must be in [0, 1)")


def rank_weights(values: np.ndarray, weight_factor: float, shared_ties: bool = False) -> np.ndarray:
    """1 / (k N + rank) with rank 0 for the highest value. Ties: earlier first, or with
    ``shared_ties`` all tied values get the best rank among them (e.g. one Pareto front)."""
    values = np.asarray(values, dtype=float)
    ranks = np.empty(len(values))
    ranks[np.argsort(-values, kind="stable")] = np.arange(len(values))
    if shared_ties:
        ranks = np.searchsorted(np.sort(-values), -values, side="left").astype(float)
    return 1.0 / (weight_factor * len(values) + ranks)


def standardise(values: np.ndarray) -> np.ndarray:
    """(n, t) -> zero mean, unit variance per column (a constant column becomes 0)."""
    values = np.asarray(values, dtype=float).reshape(len(values), -1)
    std = values.std(0)
    return (values - values.mean(0)) / np.where(std > 0, std, 1.0)


def search_targets(values: np.ndarray, kind: str) -> np.ndarray:
    """What the joint predictor regresses: standardised accuracies, or accuracy / 100 (``--targets``)."""
    if kind == "fraction":
        return np.asarray(values, dtype=float).reshape(len(values), -1) / 100.0
    return standardise(values)


def random_unseen(space, oracle, rng: np.random.Generator, count: int) -> list[int]:
    """Up to ``count`` distinct random cells the oracle has not answered yet."""
    out: list[int] = []
    for key in rng.permutation(space.keys()):
        if len(out) == count:
            break
        if not oracle.seen(key):
            out.append(int(key))
    return out


def context_from(saved: dict) -> dict:
    """A generator file's content ({"config", "state"}) as picklable numpy arrays."""
    return {"config": dict(saved["config"]), "state": {k: v.detach().numpy() for k, v in saved["state"].items()}}


def prepare(args, benchmark, space) -> dict:
    """The pretrained generator (pretrained first on a fresh clone) for the grid's workers."""
    check_args(args)
    GeneratorCells(space)  # a space without the graph codec: one error line before any work
    return context_from(ensure_agnet_generator(space.name))


class AGNetSearcher:
    """The generator + predictor of one search run, and the three steps of an iteration."""

    def __init__(self, space, args, context: dict, rng: np.random.Generator, n_targets: int = 1):
        self.cells = GeneratorCells(space)
        keys = space.keys()
        self.in_space = np.zeros(int(keys.max()) + 1, dtype=bool)  # generated cells outside the table are not
        self.in_space[keys] = True  # candidates (a custom table measures only some)
        self.args = args
        self.rng = rng
        seed = int(rng.integers(2**31))
        torch.manual_seed(seed)
        self.torch_rng = torch.Generator().manual_seed(seed)
        config = context["config"]
        self.model = AGNet(config["n_types"], config["max_nodes"], config["noise_dim"], config["hidden_dim"],
                           config["n_layers"], n_targets=n_targets)
        self.model.generator.load_state_dict({k: torch.from_numpy(v) for k, v in context["state"].items()})
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=args.lr, betas=(args.beta1, 0.999),
                                          foreach=True)

    def graphs(self, keys) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return tuple(torch.from_numpy(a) for a in self.cells.graphs(keys))

    def encoding(self, keys) -> np.ndarray:
        """Flat one-hot cell encoding (for predictors outside the model)."""
        types, adj, n_nodes = self.graphs(keys)
        return cell_encoding(types, adj, n_nodes, self.cells.n_types).numpy()

    def n_steps(self, n_cells: int) -> int:
        """Mini-batch steps of one retraining: ``--train-steps``, or ``--train-passes`` passes over the cells."""
        if self.args.train_passes > 0:
            return math.ceil(self.args.train_passes * n_cells / self.args.batch_size)
        return self.args.train_steps

    def train(self, keys: np.ndarray, weights: np.ndarray, targets: np.ndarray | None = None) -> None:
        """:meth:`n_steps` steps on batches drawn with probability ∝ weights; targets (n, t) or None
        (then only the reconstruction loss is trained)."""
        types, adj, n_nodes = self.graphs(keys)
        target_tensor = None if targets is None else torch.as_tensor(targets, dtype=torch.float32)
        weights = np.asarray(weights, dtype=float)
        probs = weights / weights.sum()
        # --loss-weighting both: the original scales each cell's loss by its (unnormalised) rank weight too.
        loss_scale = torch.as_tensor(weights if self.args.loss_weighting == "both" else np.ones(len(keys)),
                                     dtype=torch.float32)
        self.model.train()
        for _ in range(self.n_steps(len(keys))):
            batch = torch.from_numpy(self.rng.choice(len(keys), size=self.args.batch_size, p=probs))
            z = torch.randn(len(batch), self.model.generator.noise_dim, generator=self.torch_rng)
            recon, mse = self.model.losses(types[batch], adj[batch], n_nodes[batch], z,
                                           None if target_tensor is None else target_tensor[batch])
            loss = recon if mse is None else self.args.recon_weight * recon + (1 - self.args.recon_weight) * mse
            self.optimizer.zero_grad()
            (loss * loss_scale[batch]).mean().backward()
            self.optimizer.step()

    def candidates(self, oracle) -> np.ndarray:
        """Up to ``--candidates`` valid, distinct, unqueried generated cells, in generation order."""
        found: dict[int, None] = {}
        drawn = 0
        batch = max(self.args.candidates, 64)
        self.model.eval()
        while len(found) < self.args.candidates and drawn < self.args.max_samples:
            size = min(batch, self.args.max_samples - drawn)
            z = torch.randn(size, self.model.generator.noise_dim, generator=self.torch_rng)
            types, adj, n_nodes = self.model.generator.sample(z, self.torch_rng)
            drawn += size
            for key in self.cells.keys(types.numpy(), adj.numpy(), n_nodes.numpy()):
                if 0 <= key < len(self.in_space) and self.in_space[key] and not oracle.seen(key):
                    found.setdefault(int(key))
        return np.fromiter(found, dtype=np.int64, count=len(found))[: self.args.candidates]

    @torch.no_grad()
    def predict(self, keys) -> np.ndarray:
        """(n, n_targets) predictions, in standardised units."""
        self.model.eval()
        return self.model.predict(*self.graphs(keys)).numpy()

    def query_best(self, space, oracle, candidates: np.ndarray, scores: np.ndarray) -> None:
        """Query the ``--top-k`` highest-scoring candidates; random unseen cells fill a shortfall."""
        chosen = [int(k) for k in candidates[np.argsort(-scores, kind="stable")][: self.args.top_k]]
        chosen += random_unseen(space, oracle, self.rng, self.args.top_k - len(chosen))
        for key in chosen:
            oracle.query(key)


def query_initial(space, oracle, rng, count: int) -> None:
    for key in random_unseen(space, oracle, rng, count):
        oracle.query(key)


def search(space, oracle, rng, args, context) -> None:
    searcher = AGNetSearcher(space, args, context, rng)
    query_initial(space, oracle, rng, args.initial)
    while True:
        if oracle.n_queries >= len(space):
            raise BudgetExhausted  # a table smaller than the budget: every cell is queried
        keys, values = oracle.history()
        searcher.train(keys, rank_weights(values, args.weight_factor), search_targets(values, args.targets))
        candidates = searcher.candidates(oracle)
        searcher.query_best(space, oracle, candidates, searcher.predict(candidates)[:, 0])
