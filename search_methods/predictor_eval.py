"""Predictor evaluation harness: rank correlation between predicted and true accuracy vs the number of labels.

    python -m search_methods.predictor_eval --space nb201                   # cifar10, 50..1000 labels, 10 runs
    python -m search_methods.predictor_eval --space nb101 --labels 50 100 200 400
    python -m search_methods.predictor_eval --space nb201 --predictors gmae mlp --runs 3

For every predictor, number of training labels n and run r: a seeded split of the labelled cells
into a held-out test set (fixed per run, ``--test-size`` cells) and a training pool whose first n
cells train the predictor (so training sets nest across n); the score is Kendall tau and Spearman
rho between the predictions and the true accuracies of the test cells. Every predictor sees the
same splits.

Labelled cells: every cell of the space's table (``--table``, default the embedded one) with a
validation accuracy on ``--dataset``: NB201 all 15,625 cells (seed-mean), NB101 the 30,001 real cells
(one 108-epoch run each). Default label counts and test size are the space's
``SETTINGS["predictor_eval"]`` (NB101: the GMAE-NAS paper's 423 / 846 / 2,115 / 4,230 labels, tested on
every cell outside the largest training set).

Predictors (``--predictors``):

* ``gmae``: the pretrained GMAE encoder (:mod:`models.pretrain_gmae`) fine-tuned end to end with the
  BPR ranking loss; ``gmae_frozen``: the same with the encoder frozen (head only); ``gmae_scratch``:
  the same network trained from a random initialisation (the pretraining ablation);
* ``mlp``: :class:`models.predictors.MLPPredictor` on the flat one-hot encoding;
* ``arch2vec_mlp``: the same MLP on the embeddings of the space's pretrained arch2vec model.

Fits run through :mod:`search_methods.executor` (``--workers`` processes, or ``--executor ray
[--address HOST:PORT]``; ``--threads`` each). Results are appended to ``--out`` by the driver (JSON,
written atomically after every fit, so an interrupted run resumes where it stopped) and summarised
as a markdown table (mean ± std over runs) next to it.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from tqdm import tqdm

from models import checkpoint as ckpt
from preprocessing.errors import InputError, cli_entry
from preprocessing.io_utils import atomic_write, atomic_write_json
from search_methods import executor

ROOT = Path(__file__).resolve().parent.parent
PREDICTORS = ("gmae", "gmae_frozen", "gmae_scratch", "mlp", "arch2vec_mlp")


def rank_correlations(predicted: np.ndarray, true: np.ndarray) -> tuple[float, float]:
    """(Kendall tau-b, Spearman rho) of two (n,) arrays; NaN-free inputs required."""
    predicted, true = np.asarray(predicted, dtype=float), np.asarray(true, dtype=float)
    if predicted.shape != true.shape or predicted.ndim != 1 or len(true) < 2:
        raise InputError(f"rank correlation needs two equal-length 1-D arrays of >= 2 values, got "
                         f"{predicted.shape} and {true.shape}")
    if np.ptp(predicted) == 0:  # a constant prediction ranks nothing
        return 0.0, 0.0
    return float(stats.kendalltau(predicted, true).statistic), float(stats.spearmanr(predicted, true).statistic)


@dataclass
class LabelledCells:
    """Cells with accuracies: dense graphs for GMAE, a flat encoding for the MLP, keys for embeddings."""

    adj: torch.Tensor  # (n, N, N)
    ops: torch.Tensor  # (n, N, T)
    mask: torch.Tensor | None  # (n, N) bool or None
    flat: np.ndarray  # (n, d)
    keys: list
    accuracy: np.ndarray  # (n,) percent

    def __len__(self) -> int:
        return len(self.accuracy)


def labelled_cells(space_name: str, dataset: str, table=None) -> tuple[LabelledCells, object]:
    """(every cell of the space's table with a validation accuracy on ``dataset``, the space)."""
    from models.space_graphs import graphs_of
    from preprocessing import spaces

    setup = spaces.load_search(space_name, table)
    if setup.benchmark is None:
        raise InputError(f"the {space_name} space has no table of labelled cells to evaluate predictors on")
    if dataset not in setup.datasets:
        raise InputError(f"dataset {dataset!r} is not in the {space_name} table; available: {', '.join(setup.datasets)}")
    spaces.require(setup.space, "graphs", "the predictor evaluation", single_cell=True)
    valid = setup.benchmark.metrics(dataset).valid_mean
    keys = setup.space.keys()[np.isfinite(valid[setup.space.keys()])]
    graphs = graphs_of(setup.space, keys)
    return LabelledCells(graphs.adj, graphs.ops, graphs.mask, setup.space.onehot(keys), keys.tolist(),
                         valid[keys].astype(float)), setup.space


def arch2vec_features(space, cells: LabelledCells) -> np.ndarray:
    """arch2vec embeddings of the labelled cells (the space's pretrained model; the shipped one when present)."""
    from models.extract_arch2vec import embed_keys, pretrained_model

    model, _ = pretrained_model(space.name, dim=16)
    return embed_keys(model, space, np.asarray(cells.keys))


@dataclass
class Settings:
    """Fine-tuning and MLP hyperparameters shared by all runs of one harness call."""

    steps: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    encoder_lr: float = 1e-3
    mlp_hidden: tuple = (256, 256, 256)
    mlp_steps: int = 300
    checkpoint: str | None = None


def gmae_predictions(mode: str, cells: LabelledCells, train, test, seed: int, settings: Settings,
                     checkpoint: dict) -> np.ndarray:
    """Fine-tune a GMAE predictor on ``train`` rows (BPR) and score ``test`` rows."""
    from models.gmae import GMAEPredictor, fine_tune, predict
    from models.pretrain_gmae import build_encoder, load_encoder

    torch.manual_seed(seed)
    encoder = build_encoder(checkpoint["config"]) if mode == "scratch" else load_encoder(checkpoint)
    predictor = GMAEPredictor(encoder, checkpoint["config"]["dim"])
    train, test = torch.as_tensor(train), torch.as_tensor(test)
    mask = (lambda rows: None) if cells.mask is None else (lambda rows: cells.mask[rows])
    fine_tune(predictor, cells.adj[train], cells.ops[train], mask(train),
              torch.as_tensor(cells.accuracy[train.numpy()], dtype=torch.float32), steps=settings.steps,
              generator=torch.Generator().manual_seed(seed), mode=mode, lr=settings.lr,
              encoder_lr=settings.lr if mode == "scratch" else settings.encoder_lr, batch_size=settings.batch_size)
    return predict(predictor, cells.adj[test], cells.ops[test], mask(test)).numpy()


def mlp_predictions(features: np.ndarray, accuracy: np.ndarray, train, test, seed: int, settings: Settings):
    from models.predictors import MLPPredictor

    model = MLPPredictor(hidden=settings.mlp_hidden, steps=settings.mlp_steps)
    return model.fit(features[train], accuracy[train], seed=seed).predict(features[test])


def split(n_cells: int, test_size: int, run: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(test rows, training pool in order) of one run; the first n of the pool train with n labels."""
    order = np.random.default_rng([seed, run]).permutation(n_cells)
    return order[:test_size], order[test_size:]


def summary_table(results: dict, predictors, labels) -> str:
    """Markdown: rows = predictors, columns = label counts, cells 'tau mean ± std (rho mean)'."""
    lines = ["| predictor | " + " | ".join(f"n={n}" for n in labels) + " |",
             "|---|" + "---|" * len(labels)]
    for name in predictors:
        cells = []
        for n in labels:
            entries = [r for r in results["runs"] if r["predictor"] == name and r["n_labels"] == n]
            if not entries:
                cells.append("–")
            else:
                tau = np.array([r["kendall_tau"] for r in entries])
                rho = np.array([r["spearman_rho"] for r in entries])
                cells.append(f"{tau.mean():.3f} ± {tau.std():.3f} ({rho.mean():.3f}, {len(entries)} runs)")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _fit(shared, job: tuple[str, int, int]) -> dict:
    """One fit (a worker's part): predictor ``name`` on the first ``n`` cells of run ``run``'s pool."""
    cells, features, checkpoint, settings, test_size, seed = shared
    name, n, run = job
    test, pool = split(len(cells), test_size, run, seed)
    train = pool[:n]
    started = time.process_time()
    fit_seed = seed * 1000 + run
    if name.startswith("gmae"):
        mode = {"gmae": "end2end", "gmae_frozen": "frozen", "gmae_scratch": "scratch"}[name]
        predicted = gmae_predictions(mode, cells, train, test, fit_seed, settings, checkpoint)
    else:
        predicted = mlp_predictions(features[name], cells.accuracy, train, test, fit_seed, settings)
    tau, rho = rank_correlations(predicted, cells.accuracy[test])
    return {"predictor": name, "n_labels": n, "run": run, "kendall_tau": tau, "spearman_rho": rho,
            "cpu_s": time.process_time() - started}


def evaluate(space: str, dataset: str, predictors, labels, runs: int, test_size: int | None, seed: int, out: Path,
             settings: Settings, progress: bool = True, log=print, table=None,
             options: executor.ExecutorOptions = executor.ExecutorOptions(workers=1)) -> dict:
    """Every missing fit, through the executor (``options``); the driver appends each result and rewrites
    ``out`` atomically after every fit."""
    cells, space_object = labelled_cells(space, dataset, table)
    test_size = len(cells) - max(labels) if test_size is None else test_size
    if test_size < 2 or test_size + max(labels) > len(cells):
        raise InputError(f"{space} has {len(cells)} labelled cells: --test-size {test_size} + {max(labels)} labels "
                         f"do not fit; lower one of them")
    config = {"space": space, "dataset": dataset, "table": table, "test_size": test_size,
              "seed": seed, "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(settings).items()}}
    results = {"config": config, "runs": []}
    if out.exists():
        import json

        previous = json.loads(out.read_text())
        if previous.get("config") != config:
            raise InputError(f"{out} holds results of other settings; pass another --out or delete it")
        results["runs"] = previous["runs"]
    done = {(r["predictor"], r["n_labels"], r["run"]) for r in results["runs"]}
    features = {"mlp": cells.flat}
    if "arch2vec_mlp" in predictors:
        features["arch2vec_mlp"] = arch2vec_features(space_object, cells)
    checkpoint = None
    if any(p.startswith("gmae") for p in predictors):
        from models.pretrain_gmae import ensure_gmae_encoder, load_checkpoint

        checkpoint = load_checkpoint(settings.checkpoint or ensure_gmae_encoder(space))
    # Run-major order: an interrupted harness still has every (predictor, n) cell with the same runs.
    jobs = [(p, n, r) for r in range(runs) for n in labels for p in predictors
            if (p, n, r) not in done]
    log(f"{space}: {len(cells)} labelled cells, test {test_size}, {len(jobs)} fits to do -> {out}")
    bar = tqdm(total=len(jobs), desc="predictor eval", unit="fit", disable=not progress)
    try:
        with executor.Executor(options, shared=(cells, features, checkpoint, settings, test_size, seed)) as fits:
            for _, entry in fits.map(_fit, jobs, bar=bar, label=lambda job: f"{job[0]} n={job[1]} run {job[2]}"):
                results["runs"].append(entry)
                atomic_write_json(out, results, indent=1)
    finally:
        bar.close()
    atomic_write_json(out, results, indent=1)
    table = summary_table(results, predictors, labels)
    atomic_write(out.with_suffix(".md"), lambda tmp: Path(tmp).write_text(
        f"Kendall tau ± std (Spearman rho, runs) on {test_size} held-out {space} cells ({dataset} "
        f"validation accuracy); {runs} runs requested per cell\n\n" + table))
    log(table)
    return results


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m search_methods.predictor_eval",
                                     description="Kendall tau / Spearman rho of accuracy predictors vs number of labels.")
    parser.add_argument("--space", default="nb201", help="search space whose table labels the cells (default nb201)")
    parser.add_argument("--table", default=None, help="the space's table (default: its embedded one)")
    parser.add_argument("--dataset", default="cifar10",
                        help="dataset of the table whose validation accuracy is the label (default cifar10)")
    parser.add_argument("--predictors", nargs="+", default=["gmae", "gmae_scratch", "mlp", "arch2vec_mlp"],
                        choices=PREDICTORS, help="predictors to compare (default: gmae gmae_scratch mlp arch2vec_mlp)")
    parser.add_argument("--labels", nargs="+", type=int, default=None,
                        help="training label counts (default: the space's; NB201 50 100 200 400 1000, NB101 423 846 "
                             "2115 4230)")
    parser.add_argument("--runs", type=int, default=10, help="runs (splits) per label count (default 10)")
    parser.add_argument("--test-size", type=int, default=None,
                        help="held-out cells per run (default: the space's; NB201 2000, NB101 every cell outside the "
                             "largest training set)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the splits and fits (default 0)")
    parser.add_argument("--steps", type=int, default=100, help="GMAE fine-tuning steps (default 100)")
    parser.add_argument("--batch-size", type=int, default=64, help="GMAE fine-tuning batch (default 64)")
    parser.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate of the head (default 1e-3)")
    parser.add_argument("--encoder-lr", type=float, default=1e-3,
                        help="learning rate of the pretrained encoder when fine-tuning end to end (default 1e-3)")
    parser.add_argument("--mlp-hidden", type=int, nargs="+", default=[256, 256, 256],
                        help="hidden widths of the MLP baselines (default 256 256 256)")
    parser.add_argument("--mlp-steps", type=int, default=300, help="full-batch Adam steps of the MLPs (default 300)")
    parser.add_argument("--checkpoint", default=None,
                        help="GMAE pretraining checkpoint (default: the space's default one, pretrained when missing)")
    parser.add_argument("--out", default=None,
                        help="results JSON (default saved_logs/predictor_eval/<space>-<dataset>.json; a .md table beside)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per fit (default 1)")
    executor.add_arguments(parser, workers_default=1)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


@cli_entry
def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    from preprocessing import spaces

    defaults = spaces.settings(args.space, "predictor_eval")
    labels = tuple(args.labels or defaults["labels"])
    if min(labels) < 2 or args.runs < 1 or args.steps < 1 or args.batch_size < 2 or args.threads < 1:
        raise InputError("--labels must be >= 2, --runs/--steps/--threads >= 1 and --batch-size >= 2")
    test_size = args.test_size if args.test_size is not None else defaults["test_size"]
    if test_size is not None and test_size < 2:
        raise InputError("--test-size must be >= 2")
    dataset = args.dataset
    out = Path(args.out) if args.out else ROOT / "saved_logs" / "predictor_eval" / f"{args.space}-{dataset}.json"
    torch.set_num_threads(args.threads)
    settings = Settings(steps=args.steps, batch_size=args.batch_size, lr=args.lr, encoder_lr=args.encoder_lr,
                        mlp_hidden=tuple(args.mlp_hidden), mlp_steps=args.mlp_steps, checkpoint=args.checkpoint)
    options = executor.ExecutorOptions.from_args(args, threads=args.threads)
    evaluate(args.space, dataset, args.predictors, labels, args.runs, test_size, args.seed, out, settings,
             progress=not args.quiet, table=args.table, options=options)


if __name__ == "__main__":
    main()
