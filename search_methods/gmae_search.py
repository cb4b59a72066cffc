"""GMAE-NAS search: a pretrained GMAE encoder, fine-tuned with the BPR ranking loss on the cells queried so far.

Two loops (method ids ``gmae`` and ``gmae_evo``), both as in the paper: ``--initial`` (20) random cells,
then per iteration the predictor is fine-tuned on every answer so far, ``--candidates`` (100)
unseen cells are made by mutation, and the ``--per-iteration`` (10) best by the acquisition are queried,
until the budget (150 queries under P150) is spent.

* ``gmae`` (BO-style): parents are the best cells queried so far; the acquisition is Thompson
  sampling from a Bayesian linear regression (:mod:`models.bayesian_linear_regression`) on the
  fine-tuned predictor's last hidden layer -- one posterior draw per pick.
* ``gmae_evo`` (aging evolution): parents win a tournament in an aging population of the latest
  ``--initial`` answers; the acquisition is the fine-tuned predictor's score.

Per-run cost: the lower blocks of the pretrained encoder stay frozen, so their node states for all
15,625 cells are computed once per worker process; fine-tuning (warm-started across iterations)
trains only the top ``--finetune-layers`` blocks and the head. ``--finetune-mode scratch`` trains the
whole encoder from a random initialisation instead (the from-scratch ablation, much slower), and
``frozen`` trains the head only.
"""
from __future__ import annotations

from collections import deque

import numpy as np
import torch

from models.bayesian_linear_regression import BayesianLinearRegression
from models.device import move
from models.gmae import FINETUNE_MODES, GMAEEncoder, GMAEPredictor, fine_tune, predict
from models.pretrain_gmae import build_encoder, encoder_state, ensure_gmae_encoder, load_checkpoint
from models.space_graphs import all_key_graphs
from preprocessing import spaces
from preprocessing.errors import InputError
from search_methods.evolution import mutate_unseen

DESCRIPTION = "GMAE-NAS: masked-graph-autoencoder-pretrained predictor, BPR fine-tuning, Thompson-style BO"
_STATES: dict = {}  # per worker process: cached frozen node states of every cell


def add_arguments(parser) -> None:
    parser.add_argument("--initial", type=int, default=20, help="random cells queried first (default 20)")
    parser.add_argument("--per-iteration", type=int, default=10, help="cells queried per iteration (default 10)")
    parser.add_argument("--candidates", type=int, default=100, help="mutated candidates scored per iteration (default 100)")
    parser.add_argument("--finetune-mode", choices=FINETUNE_MODES, default="end2end",
                        help="end2end: pretrained encoder, top --finetune-layers blocks + head trained (default); "
                             "frozen: head only; scratch: whole encoder from a random initialisation")
    parser.add_argument("--finetune-layers", type=int, default=2,
                        help="encoder blocks trained in end2end mode; the lower ones stay frozen (default 2)")
    parser.add_argument("--init-steps", type=int, default=50, help="fine-tuning steps after the initial cells (default 50)")
    parser.add_argument("--steps", type=int, default=10, help="fine-tuning steps per later iteration (default 10)")
    parser.add_argument("--finetune-lr", type=float, default=1e-3, help="AdamW learning rate of fine-tuning (default 1e-3)")
    parser.add_argument("--tournament", type=int, default=5,
                        help="gmae_evo: tournament size among the aging population (default 5)")
    parser.add_argument("--gmae-checkpoint", default=None,
                        help="pretraining checkpoint (default: the space's paper-setting encoder, "
                             "pretrained/gmae/<space>/gat-linear-ce-m<ratio>.pt, pretrained first when missing)")


def prepare(args, benchmark, space) -> dict:
    """The pretrained encoder as numpy arrays (picklable); pretrains it first on a fresh clone."""
    for name in ("initial", "per_iteration", "candidates", "init_steps", "steps"):
        if getattr(args, name) < 1:
            raise InputError(f"--{name.replace('_', '-')} must be >= 1")
    spaces.require(space, "graphs", args.method, single_cell=True)
    if args.tournament < 1 or args.finetune_lr <= 0:
        raise InputError("--tournament must be >= 1 and --finetune-lr positive")
    path = args.gmae_checkpoint or ensure_gmae_encoder(space.name)
    checkpoint = load_checkpoint(path)
    config = checkpoint["config"]
    if config["space"] != space.name:
        raise InputError(f"{path} was pretrained on {config['space']}; the search runs on {space.name}")
    if not 0 <= args.finetune_layers <= config["layers"]:
        raise InputError(f"--finetune-layers must be in 0..{config['layers']}")
    return {"config": {k: config[k] for k in ("n_types", "dim", "layers", "heads", "encoder")},
            "encoder": {k: v.numpy() for k, v in encoder_state(checkpoint).items()}, "path": str(path)}


def _encoder(context: dict, pretrained: bool) -> GMAEEncoder:
    encoder = build_encoder(context["config"])
    if pretrained:
        encoder.load_state_dict({k: torch.from_numpy(v) for k, v in context["encoder"].items()})
    return encoder


def _inputs(space, context: dict, start: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """adj (K, N, N), the predictor input and the real-node mask (or None) of every key (row = key), cached
    per process."""
    key = (context["path"], start, space.name, len(space))
    if key not in _STATES:
        graphs = all_key_graphs(space)
        adj, ops, mask = graphs.adj, graphs.ops, graphs.mask
        if start > 0:
            encoder = _encoder(context, pretrained=True).eval()
            chunk = lambda t, i: None if t is None else t[i:i + 4096]  # noqa: E731
            with torch.no_grad():
                ops = torch.cat([encoder.propagate(encoder.initial(ops[i:i + 4096], chunk(mask, i)), adj[i:i + 4096],
                                                   chunk(mask, i), 0, start) for i in range(0, len(adj), 4096)])
        _STATES.clear()
        _STATES[key] = (adj, ops, mask)
    return _STATES[key]


class FineTunedGMAE:
    """The search's predictor: warm-started BPR fine-tuning on the oracle's answers so far."""

    def __init__(self, space, context: dict, args, seed: int):
        mode = args.finetune_mode
        start = context["config"]["layers"] - args.finetune_layers if mode == "end2end" else 0
        torch.manual_seed(seed)
        encoder = _encoder(context, pretrained=mode != "scratch")
        self.device = torch.device(getattr(args, "device", "cpu"))  # initialised on the CPU, then moved
        self.predictor = GMAEPredictor(encoder, context["config"]["dim"], start).to(self.device)
        self.adj, self.inputs, self.mask = _inputs(space, context, start)
        self.mode, self.lr = mode, args.finetune_lr
        self.generator = torch.Generator().manual_seed(seed)
        self.optimiser = None

    def fit(self, keys: np.ndarray, values: np.ndarray, steps: int) -> None:
        keys = torch.as_tensor(keys)
        targets = torch.as_tensor(values, dtype=torch.float32)
        self.optimiser = fine_tune(self.predictor, *self._on_device(keys), targets.to(self.device), steps=steps,
                                   generator=self.generator, mode=self.mode, lr=self.lr, optimiser=self.optimiser)

    def scores(self, keys) -> np.ndarray:
        keys = torch.as_tensor(np.asarray(keys))
        return predict(self.predictor, *self._on_device(keys)).cpu().numpy()

    @torch.no_grad()
    def features(self, keys) -> np.ndarray:
        keys = torch.as_tensor(np.asarray(keys))
        self.predictor.eval()
        return self.predictor.features(*self._on_device(keys)).double().cpu().numpy()

    def _mask(self, keys: torch.Tensor) -> torch.Tensor | None:
        return None if self.mask is None else self.mask[keys]

    def _on_device(self, keys: torch.Tensor) -> tuple:
        """(adj, inputs, mask) of ``keys`` on the predictor's device."""
        return move((self.adj[keys], self.inputs[keys], self._mask(keys)), self.device)


def mutated_candidates(space, oracle, rng, pick_parent, n: int) -> np.ndarray:
    """Up to ``n`` distinct unseen cells, each a mutation of ``pick_parent()`` (random unseen cells as fallback)."""
    found: dict[int, None] = {}
    for _ in range(20 * n):
        if len(found) == n:
            break
        found.setdefault(mutate_unseen(space, oracle, pick_parent(), rng, tries=10))
    return np.fromiter(found, dtype=np.int64)


def thompson_picks(features_seen, values, features_candidates, k: int, rng) -> np.ndarray:
    """Indices of ``k`` candidates, each the argmax of one posterior draw of a Bayesian linear regression."""
    with_bias = lambda phi: np.hstack([phi, np.ones((len(phi), 1))])  # noqa: E731
    scale = values.std() or 1.0
    blr = BayesianLinearRegression().fit(with_bias(features_seen), (values - values.mean()) / scale)
    draws = rng.multivariate_normal(blr.mean_w, blr.cov_w, size=k, method="cholesky")
    sampled = with_bias(features_candidates) @ draws.T  # (candidates, k)
    picks: list[int] = []
    for column in sampled.T:
        column = column.copy()
        column[picks] = -np.inf
        picks.append(int(np.argmax(column)))
    return np.array(picks[:len(features_candidates)])


def _query_initial(space, oracle, rng, n: int) -> None:
    while oracle.n_queries < min(n, len(space)):  # a table smaller than the initial sample: all of it
        key = space.sample(rng)
        if not oracle.seen(key):
            oracle.query(key)


def search(space, oracle, rng, args, context) -> None:
    """Method ``gmae``: the BO-style loop; ``gmae_evo``: :func:`search_evolution`.

    Runs on one torch thread (restored afterwards): float sums depend on the thread count, and a
    last-digit difference can flip a pick, so one thread keeps a seed's run identical everywhere.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        loop = search_evolution if args.method == "gmae_evo" else search_bo
        loop(space, oracle, rng, args, context)
    finally:
        torch.set_num_threads(previous)


def search_bo(space, oracle, rng, args, context) -> None:
    """Method ``gmae``: the BO-style loop."""
    _query_initial(space, oracle, rng, args.initial)
    model = FineTunedGMAE(space, context, args, seed=int(rng.integers(2**31)))
    steps = args.init_steps
    while True:
        keys, values = oracle.history()
        model.fit(keys, values, steps)
        steps = args.steps
        parents = keys[np.argsort(-values)[:args.per_iteration]]
        candidates = mutated_candidates(space, oracle, rng, lambda: int(rng.choice(parents)), args.candidates)
        picks = thompson_picks(model.features(keys), values, model.features(candidates),
                               min(args.per_iteration, len(candidates)), rng)
        for key in candidates[picks]:
            oracle.query(key)


def search_evolution(space, oracle, rng, args, context) -> None:
    """Aging-evolution loop (method ``gmae_evo``)."""
    _query_initial(space, oracle, rng, args.initial)
    keys, values = oracle.history()
    population = deque(zip(keys.tolist(), values.tolist()), maxlen=args.initial)
    model = FineTunedGMAE(space, context, args, seed=int(rng.integers(2**31)))
    steps = args.init_steps

    def tournament() -> int:
        members = rng.choice(len(population), size=min(args.tournament, len(population)), replace=False)
        return max((population[i] for i in members), key=lambda kv: kv[1])[0]

    while True:
        keys, values = oracle.history()
        model.fit(keys, values, steps)
        steps = args.steps
        candidates = mutated_candidates(space, oracle, rng, tournament, args.candidates)
        best = candidates[np.argsort(-model.scores(candidates), kind="stable")[:args.per_iteration]]
        for key in best:
            population.append((int(key), oracle.query(key)))
