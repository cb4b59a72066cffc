"""Hardware-aware NAS-Bench-201 search: accuracy under a latency budget, or the accuracy-latency front.

    python -m search_methods.hw_search --device pixel3 --pareto --queries 150 --seeds 10
    python -m search_methods.hw_search --device raspi4 --latency-budget 20 --queries 150 --seeds 10

One query returns a cell's validation accuracy (the oracle, as in the common protocol) and its
measured latency on ``--device`` (``bench.extra['lat_<device>']``, ms). AG-Net's predictor gets two
outputs (accuracy, log latency) trained jointly with the generator, whose rank weights follow the
objective:

* ``--latency-budget MS``: feasible cells rank by accuracy, above all infeasible ones (ranked by
  latency); candidates are ranked by predicted accuracy, predicted-infeasible ones last.
* ``--pareto``: cells rank by non-dominated front (one rank per front); the ``--top-k`` candidates are
  picked greedily by the hypervolume (accuracy x log latency) their *predicted* point adds to the
  queried front.

Random search is the baseline. Reported per run: the hypervolume of the queried cells' front as a
fraction of the table's true front (reference point = the table's worst accuracy and latency), on
validation accuracy (what the search sees) and on test accuracy, every 10 queries, and in the
summary also with log latency (every decade of latency weighs alike); for a budget, the best
feasible cell. Logs (atomic JSON, written by the driver): ``<out>/<dataset>/<device>/<mode>/<method>/seed_<k>.json``
and ``summary.json`` beside them (mode = ``pareto`` or ``budget<MS>ms``). Runs go through
:mod:`search_methods.executor` (``--workers``, or ``--executor ray [--address HOST:PORT]``).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from preprocessing.errors import InputError, cli_entry
from preprocessing.io_utils import atomic_write_json
from search_methods import agnet_search, executor
from search_methods.oracle import BudgetExhausted, Oracle
from search_methods.pareto import hypervolume, hypervolume_gains, nondominated_ranks, pareto_front

METHODS = ("agnet", "random")
ROOT = Path("saved_logs") / "hw"
CURVE_EVERY = 10


def latency_column(bench, device: str) -> np.ndarray:
    name = f"lat_{device}"
    if name not in bench.extra:
        devices = sorted(k[len("lat_"):] for k in bench.extra if k.startswith("lat_"))
        raise InputError(f"no latency table for device {device!r}; available: {', '.join(devices) or 'none'}")
    return np.asarray(bench.extra[name], dtype=float)


class Objective:
    """How queried cells are ranked and candidates scored, for one mode."""

    def __init__(self, budget_ms: float | None, ref_acc: float, ref_lat: float):
        self.budget_ms = budget_ms
        self.ref_acc, self.ref_lat = ref_acc, ref_lat

    @property
    def mode(self) -> str:
        return "pareto" if self.budget_ms is None else f"budget{self.budget_ms:g}ms"

    def rank_weights(self, acc: np.ndarray, lat: np.ndarray, weight_factor: float) -> np.ndarray:
        """The generator's rank weights: by accuracy among feasible cells (budget), or by front,
        every cell of one front weighing alike so that the generator learns the whole front."""
        if self.budget_ms is not None:
            utility = np.where(lat <= self.budget_ms, acc, -lat)  # accuracies are >= 0 > any -latency
            return agnet_search.rank_weights(utility, weight_factor)
        return agnet_search.rank_weights(-nondominated_ranks(acc, lat), weight_factor, shared_ties=True)

    def pick(self, pred_acc: np.ndarray, pred_lat: np.ndarray, acc: np.ndarray, lat: np.ndarray,
             count: int) -> list[int]:
        """Indices of the ``count`` candidates to query, best first."""
        if self.budget_ms is not None:
            score = pred_acc - 1000.0 * (pred_lat > self.budget_ms)
            return list(np.argsort(-score, kind="stable")[:count])
        # gains are measured with log latency: latencies span four decades, and in ms the fast end
        # (a few 0.01-ms cells) would never be worth a query
        pred_lat, lat, ref_lat = np.log(pred_lat), np.log(lat), np.log(self.ref_lat)
        chosen: list[int] = []
        front_acc, front_lat = acc.copy(), lat.copy()
        fallback = -nondominated_ranks(pred_acc, pred_lat) + pred_acc / 1000.0
        for _ in range(min(count, len(pred_acc))):
            gains = hypervolume_gains(pred_acc, pred_lat, front_acc, front_lat, self.ref_acc, ref_lat)
            score = np.where(gains > 0, gains, -np.inf)
            score[chosen] = np.nan
            if np.nanmax(score) == -np.inf:  # no predicted point improves the front: best predicted front
                score = np.where(np.isnan(score), np.nan, fallback)
            best = int(np.nanargmax(score))
            chosen.append(best)
            front_acc, front_lat = np.append(front_acc, pred_acc[best]), np.append(front_lat, pred_lat[best])
        return chosen


def search_agnet(space, oracle, latency, objective, rng, args, context) -> None:
    searcher = agnet_search.AGNetSearcher(space, args, context, rng, n_targets=2)
    agnet_search.query_initial(space, oracle, rng, args.initial)
    while True:
        keys, acc = oracle.history()
        lat = latency[keys]
        observed = np.stack([acc, np.log(lat)], axis=1)
        mean, std = observed.mean(0), np.where(observed.std(0) > 0, observed.std(0), 1.0)
        searcher.train(keys, objective.rank_weights(acc, lat, args.weight_factor), (observed - mean) / std)
        candidates = searcher.candidates(oracle)
        predicted = searcher.predict(candidates) * std + mean
        order = objective.pick(predicted[:, 0], np.exp(predicted[:, 1]), acc, lat, args.top_k)
        chosen = [int(candidates[i]) for i in order]
        chosen += agnet_search.random_unseen(space, oracle, rng, args.top_k - len(chosen))
        for key in chosen:
            oracle.query(key)


def search_random(space, oracle, rng) -> None:
    for key in rng.permutation(space.keys()):
        oracle.query(key)


def run_one(shared, job: tuple[str, int]) -> dict:
    """One (method, seed) run -> its log (a worker's part: the driver writes it)."""
    from preprocessing.nasbench201 import NB201Space
    from preprocessing.nb201_table import load_benchmark

    args, context = shared
    method, seed = job
    bench = load_benchmark(args.table)
    space = NB201Space(allowed=bench.extra.get("measured"))
    latency = latency_column(bench, args.device)
    metrics = bench.metrics(args.dataset)
    objective = Objective(args.latency_budget, float(np.nanmin(metrics.valid_mean)), float(latency.max()))
    oracle = Oracle(bench, args.dataset, rng=np.random.default_rng([seed, 1]), max_queries=args.queries,
                    to_string=space.to_string)
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    try:
        if method == "agnet":
            search_agnet(space, oracle, latency, objective, rng, args, context)
        else:
            search_random(space, oracle, rng)
    except BudgetExhausted:
        pass
    keys, valid = oracle.history()
    test, lat = metrics.test_mean[keys], latency[keys]
    log = {"method": method, "seed": seed, "device": args.device, "dataset": args.dataset, "mode": objective.mode,
           "queries": int(len(keys)), "wall_time_s": time.perf_counter() - start,
           "keys": keys.tolist(), "valid": valid.tolist(), "test": test.tolist(), "latency_ms": lat.tolist()}
    log.update(front_quality(metrics, latency, keys, objective))
    if args.latency_budget is not None:
        feasible = lat <= args.latency_budget
        best = int(np.argmax(np.where(feasible, valid, -np.inf))) if feasible.any() else None
        log["best_feasible"] = None if best is None else {
            "arch": space.to_string(int(keys[best])), "valid": float(valid[best]), "test": float(test[best]),
            "latency_ms": float(lat[best])}
    return log


def true_fronts(metrics, latency) -> dict:
    return {"valid": pareto_front(metrics.valid_mean, latency), "test": pareto_front(metrics.test_mean, latency)}


def hv_fraction(acc_all, lat_all, acc, lat) -> float:
    """Hypervolume of the points' front / the table's, reference = the table's worst accuracy and latency."""
    ref_acc, ref_lat = float(np.nanmin(acc_all)), float(np.max(lat_all))
    return hypervolume(acc, lat, ref_acc, ref_lat) / hypervolume(acc_all, lat_all, ref_acc, ref_lat)


def front_quality(metrics, latency, keys, objective) -> dict:
    """Hypervolume fractions of the queried cells' fronts, overall and every CURVE_EVERY queries."""
    out: dict = {}
    for name, acc_all in (("valid", metrics.valid_mean), ("test", metrics.test_mean)):
        acc, lat = acc_all[keys], latency[keys]
        counts = list(range(CURVE_EVERY, len(keys) + 1, CURVE_EVERY))
        out[f"hv_fraction_{name}"] = hv_fraction(acc_all, latency, acc, lat)
        out[f"hv_curve_{name}"] = [[n, hv_fraction(acc_all, latency, acc[:n], lat[:n])] for n in counts]
    return out


def log_path(args, mode: str, method: str, seed: int) -> Path:
    return Path(args.out) / args.dataset / args.device / mode / method / f"seed_{seed}.json"


def summarise(args, mode: str, logs: list[dict], metrics, latency) -> dict:
    fronts = true_fronts(metrics, latency)
    summary = {"device": args.device, "dataset": args.dataset, "mode": mode, "queries": args.queries,
               "true_front_valid": fronts["valid"].tolist(), "true_front_test": fronts["test"].tolist(),
               "methods": {}}
    if args.latency_budget is not None:
        feasible = latency <= args.latency_budget
        best = int(np.argmax(np.where(feasible, metrics.valid_mean, -np.inf)))
        summary["table_best_feasible"] = {"valid": float(metrics.valid_mean[best]), "test": float(metrics.test_mean[best]),
                                          "latency_ms": float(latency[best]), "feasible_share": float(feasible.mean())}
    for method in args.methods:
        runs = [log for log in logs if log["method"] == method]
        entry = {"runs": len(runs), "wall_time_s_mean": float(np.mean([r["wall_time_s"] for r in runs]))}
        for name in ("valid", "test"):
            values = np.array([r[f"hv_fraction_{name}"] for r in runs])
            entry[f"hv_fraction_{name}"] = [float(values.mean()), float(values.std())]
        # latencies span four decades: the same fraction with log latency weighs every decade alike
        log_values = np.array([hv_fraction(metrics.valid_mean, np.log(latency), np.array(r["valid"]),
                                           np.log(r["latency_ms"])) for r in runs])
        entry["hv_fraction_valid_loglatency"] = [float(log_values.mean()), float(log_values.std())]
        if args.latency_budget is not None:
            found = [r["best_feasible"] for r in runs if r["best_feasible"] is not None]
            entry["best_feasible_test"] = [float(np.mean([f["test"] for f in found])),
                                           float(np.std([f["test"] for f in found]))] if found else None
            entry["best_feasible_valid"] = float(np.mean([f["valid"] for f in found])) if found else None
        summary["methods"][method] = entry
    return summary


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m search_methods.hw_search", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", required=True, help="latency table: a lat_<device> column of the NB201 data, "
                                                        "e.g. pixel3, raspi4, eyeriss, fpga, gold_6226")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--latency-budget", type=float, metavar="MS",
                      help="maximise accuracy among cells at most this many ms on the device")
    mode.add_argument("--pareto", action="store_true", help="search the accuracy-latency Pareto front")
    parser.add_argument("--dataset", default="cifar10", help="accuracy dataset (default cifar10; HW-NAS-Bench's "
                                                             "latencies are measured with CIFAR-10 inputs)")
    parser.add_argument("--queries", type=int, default=150, help="query budget per run (default 150)")
    parser.add_argument("--seeds", type=int, default=10, help="runs per method, seeds 0..N-1 (default 10)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS,
                        help="methods to run (default: agnet random)")
    parser.add_argument("--table", default=None, help="a converted NB201 .npz table with the latency columns "
                                                      "(default: the embedded tables)")
    parser.add_argument("--out", default=str(ROOT), help="root of the logs (default saved_logs/hw)")
    executor.add_arguments(parser)
    parser.add_argument("--overwrite", action="store_true", help="rerun runs whose log exists")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    group = parser.add_argument_group("AG-Net flags")
    agnet_search.add_generator_arguments(group)
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    agnet_search.check_args(args)
    if args.queries <= args.initial:
        raise InputError(f"--queries {args.queries} must exceed --initial {args.initial}")
    if args.latency_budget is not None and args.latency_budget <= 0:
        raise InputError("--latency-budget must be a positive number of ms")
    if args.seeds < 1:
        raise InputError("--seeds must be at least 1")
    executor.ExecutorOptions.from_args(args)  # bad --workers / --address: fail before any work
    return args


def run(args) -> dict:
    from preprocessing.nasbench201 import NB201Space
    from preprocessing.nb201_table import load_benchmark
    from search_methods.results import read_json_dict

    bench = load_benchmark(args.table)
    metrics = bench.metrics(args.dataset)
    latency = latency_column(bench, args.device)
    mode = Objective(args.latency_budget, 0.0, 0.0).mode
    todo = [(m, s) for m in args.methods for s in range(args.seeds)
            if args.overwrite or not log_path(args, mode, m, s).exists()]
    if todo:
        context = None
        if "agnet" in (m for m, _ in todo):
            context = agnet_search.prepare(args, bench, NB201Space(allowed=bench.extra.get("measured")))
        bar = tqdm(total=len(todo), desc=f"hw {args.device} {mode}", unit="run", disable=args.quiet)
        try:
            with executor.Executor(executor.ExecutorOptions.from_args(args), shared=(args, context)) as grid:
                for (method, seed), log in grid.map(run_one, todo, bar=bar, label=lambda job: f"{job[0]} seed {job[1]}"):
                    atomic_write_json(log_path(args, mode, method, seed), log)
        finally:
            bar.close()
    logs = [read_json_dict(log_path(args, mode, m, s)) for m in args.methods for s in range(args.seeds)]
    summary = summarise(args, mode, logs, metrics, latency)
    atomic_write_json(Path(args.out) / args.dataset / args.device / mode / "summary.json", summary, indent=1)
    if not args.quiet:
        for method, entry in summary["methods"].items():
            line = (f"{method:>7} {args.device} {mode}: HV fraction valid {entry['hv_fraction_valid'][0]:.4f} ± "
                    f"{entry['hv_fraction_valid'][1]:.4f}, test {entry['hv_fraction_test'][0]:.4f} ± "
                    f"{entry['hv_fraction_test'][1]:.4f}, valid with log latency "
                    f"{entry['hv_fraction_valid_loglatency'][0]:.4f} ± {entry['hv_fraction_valid_loglatency'][1]:.4f} "
                    f"({entry['runs']} runs, {entry['wall_time_s_mean']:.1f} s/run)")
            if entry.get("best_feasible_test"):
                line += f"; best feasible test {entry['best_feasible_test'][0]:.2f} ± {entry['best_feasible_test'][1]:.2f}"
            print(line)
    return summary


@cli_entry
def main(argv=None) -> None:
    run(parse_args(argv))


if __name__ == "__main__":
    main()
