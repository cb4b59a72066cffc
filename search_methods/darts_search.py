"""Search in the DARTS space against a real evaluator: a proxy network trained on real images.

    python -m search_methods.darts_search --method arch2vec_bo --queries 16 --pool 2000

The candidates are ``--pool`` unique genotypes sampled uniformly (normal and reduce cell drawn
independently, deduplicated by the isomorphism hash). ``arch2vec_bo`` embeds them with the
arch2vec model pretrained on DARTS cells (normal and reduce embeddings concatenated, 32-d) and runs
the same DNGO + expected-improvement loop as on NAS-Bench-201; ``random`` queries them in random
order. A query trains :mod:`darts.proxy_evaluator`'s small network for a few epochs on the proxy
dataset (Fashion-MNIST by default) and answers its validation accuracy; the cost is the real
training time. Batches are trained in parallel through :mod:`search_methods.executor` (``--workers``
processes, or a Ray cluster with ``--executor ray --address HOST:PORT``; ``--gpus-per-task 1`` trains
each genotype on a GPU worker) and cached by genotype, so an interrupted search resumes for free.
The log uses the common result format
(``saved_logs/<protocol>/darts/<dataset>/<method>/seed_<k>.json``, ``arch`` = genotype string;
``best_test`` is null: the proxy has no test split, the winner's test accuracy comes from
``darts/train.py``).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from models.dngo import tanh_mlp
from preprocessing.darts_space import genotype_to_string, sample_unique_genotypes
from preprocessing.errors import InputError, cli_entry
from search_methods import executor, results
from search_methods.dngo import add_arguments as add_bo_arguments
from search_methods.dngo import bo_search, check_search_args, make_surrogate, parse_hidden, standardize
from search_methods.oracle import BudgetedOracle, BudgetExhausted

METHODS = ("arch2vec_bo", "random")
# Where the proxy trainings run, not what is searched: left out of the log's config.
GRID_FLAGS = ("out", "workers", "executor", "address", "gpus_per_task")


class DartsPool:
    """The search space a method sees: keys 0..N-1 index a fixed pool of sampled genotypes."""

    name = "darts"

    def __init__(self, genotypes):
        self.genotypes = list(genotypes)
        self._keys = np.arange(len(self.genotypes))

    def __len__(self) -> int:
        return len(self.genotypes)

    def keys(self) -> np.ndarray:
        return self._keys

    def to_string(self, key: int) -> str:
        return genotype_to_string(self.genotypes[int(key)])

    def sample(self, rng: np.random.Generator, size: int | None = None, replace: bool = True):
        if size is None:
            return int(rng.integers(len(self.genotypes)))
        return rng.choice(self._keys, size=size, replace=replace)


class ProxyOracle(BudgetedOracle):
    """Answers with the proxy evaluator's validation accuracy; cost = its real training seconds."""

    def __init__(self, evaluator, pool: DartsPool, max_queries: int | None = None, max_time_s: float | None = None):
        super().__init__(max_queries, max_time_s, pool.to_string)
        self.evaluator = evaluator
        self.pool = pool
        self.dataset = evaluator.config.dataset
        self._results: dict[int, tuple[float, float]] = {}

    def _evaluate(self, keys) -> None:
        new = [int(k) for k in keys if int(k) not in self._results]
        for key, result in zip(new, self.evaluator.evaluate([self.pool.genotypes[k] for k in new])):
            self._results[key] = result

    def _signal(self, key: int) -> float:
        self._evaluate([key])
        return float(self._results[key][0])

    def _time(self, key: int) -> float:
        return float(self._results[key][1])

    def query_many(self, keys) -> np.ndarray:
        keys = [int(k) for k in keys]
        new = [k for k in dict.fromkeys(keys) if not self.seen(k)]
        if self.remaining_queries is not None:
            new = new[:max(self.remaining_queries, 0)]
        self._evaluate(new)  # one parallel batch; the queries below then only read the results
        return super().query_many(keys)


def darts_embeddings(genotypes, out, n_pretrain_cells: int, epochs: int, log=print) -> np.ndarray:
    """(N, 32) arch2vec embeddings of the genotypes; pretrains on DARTS cells into ``out`` first if needed."""
    from models.extract_arch2vec import embed_darts_genotypes
    from models.pretrain_arch2vec import checkpoint_path, load_checkpoint, load_pretrained, pretrain

    path = checkpoint_path(out, "darts")
    finished = path.exists() and "metrics" in load_checkpoint(path)
    if not finished:
        log(f"no finished arch2vec DARTS model at {path}: pretraining on {n_pretrain_cells} sampled cells "
            f"for {epochs} epochs first")
        pretrain("darts", epochs=epochs, limit=n_pretrain_cells, out=out, resume=path.exists(), log=log)
    model = load_pretrained(load_checkpoint(path)).eval()
    with torch.no_grad():
        return embed_darts_genotypes(model, genotypes)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m search_methods.darts_search", description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", choices=METHODS, default="arch2vec_bo", help="search method (default arch2vec_bo)")
    parser.add_argument("--queries", type=int, default=16, help="query budget: genotypes trained (default 16)")
    parser.add_argument("--pool", type=int, default=2000, help="candidate genotypes sampled (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the pool, the search and the proxy training")
    parser.add_argument("--pretrained", default="pretrained/dim-16",
                        help="folder of the arch2vec DARTS model model-darts.pt (default pretrained/dim-16)")
    parser.add_argument("--pretrain-cells", type=int, default=20000,
                        help="sampled DARTS cells to pretrain arch2vec on when no model exists (default 20000; "
                             "the paper used 600,000)")
    parser.add_argument("--pretrain-epochs", type=int, default=5, help="pretraining epochs when needed (default 5)")
    parser.add_argument("--proxy-dataset", default="fashion_mnist", help="proxy training data: fashion_mnist or digits")
    parser.add_argument("--proxy-epochs", type=int, default=2, help="proxy training epochs (default 2)")
    parser.add_argument("--proxy-train-size", type=int, default=2000, help="training images per proxy run (default 2000)")
    parser.add_argument("--proxy-valid-size", type=int, default=1000, help="validation images per proxy run (default 1000)")
    parser.add_argument("--proxy-channels", type=int, default=8, help="proxy network channels (default 8)")
    parser.add_argument("--proxy-layers", type=int, default=3, help="proxy network cells (default 3)")
    parser.add_argument("--proxy-image-size", type=int, default=14,
                        help="images are area-downsampled to this side for the proxy (default 14; 0 = native)")
    executor.add_arguments(parser, gpus=True)
    parser.add_argument("--cache", default="data/cache/darts_proxy_cache.json",
                        help="JSON cache of proxy results, keyed by genotype (default data/cache/darts_proxy_cache.json)")
    parser.add_argument("--protocol", default="darts_proxy", help="protocol folder of the log (default darts_proxy)")
    parser.add_argument("--out", default=str(results.ROOT), help="root folder of the logs (default saved_logs)")
    group = parser.add_argument_group("arch2vec_bo flags")
    add_bo_arguments(group)
    group.set_defaults(init_size=4, topk=2)
    return parser


def run(args) -> dict:
    from darts.proxy_evaluator import ProxyConfig, ProxyEvaluator

    if args.queries < 1 or args.pool < args.queries:
        raise InputError("--queries must be at least 1 and --pool at least --queries")
    check_search_args(args)
    options = executor.ExecutorOptions.from_args(args)
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    pool = DartsPool(sample_unique_genotypes(args.pool, np.random.default_rng([args.seed, 7])))
    config = ProxyConfig(dataset=args.proxy_dataset, epochs=args.proxy_epochs, train_size=args.proxy_train_size,
                         valid_size=args.proxy_valid_size, channels=args.proxy_channels, layers=args.proxy_layers,
                         image_size=args.proxy_image_size or None,
                         seed=args.seed)
    start = time.perf_counter()
    with ProxyEvaluator(config, cache_path=args.cache, options=options) as evaluator:
        oracle = ProxyOracle(evaluator, pool, max_queries=args.queries)
        try:
            if args.method == "random":
                oracle.query_many(rng.permutation(pool.keys()))
            else:
                inputs = torch.as_tensor(standardize(darts_embeddings(pool.genotypes, Path(args.pretrained),
                                                                      args.pretrain_cells, args.pretrain_epochs)))
                hidden = parse_hidden(args.dngo_hidden)
                surrogate = make_surrogate(args, lambda: (tanh_mlp(inputs.shape[1], hidden), hidden[-1]))
                bo_search(pool, oracle, rng, args, inputs, surrogate)
        except BudgetExhausted:
            pass
    log = results.build_log(method=args.method, space="darts", dataset=config.dataset, seed=args.seed,
                            protocol=args.protocol, signal="proxy", budget={"queries": args.queries, "sim_time_s": None},
                            config={k: v for k, v in sorted(vars(args).items()) if k not in GRID_FLAGS}, oracle=oracle,
                            wall_time_s=time.perf_counter() - start)
    path = results.save_log(args.out, log)
    print(f"{args.method}: best proxy valid {log['final']['best_valid']:.2f}% after {oracle.n_queries} queries "
          f"({log['wall_time_s']:.0f} s); log {path}")
    print(f"best genotype: {log['final']['best_arch']}")
    return log


@cli_entry
def main(argv=None) -> None:
    run(build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
