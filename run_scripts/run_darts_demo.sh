#!/usr/bin/env bash
# DARTS space end to end, on the 2-core CPU in under 20 minutes:
#   1. arch2vec-BO over 2,000 sampled DARTS genotypes (arch2vec pretrained on sampled DARTS cells first if
#      pretrained/dim-16/model-darts.pt is missing), each query = a small proxy network trained on Fashion-MNIST;
#   2. random search with the same budget, for comparison;
#   3. the winner trained briefly on Fashion-MNIST (test accuracy on the official 10k test images);
#   4. the winner's normal and reduce cells drawn with graphviz; a summary JSON.
#   bash run_scripts/run_darts_demo.sh [QUERIES]     (default 24)
set -euo pipefail
cd "$(dirname "$0")/.."
source run_scripts/_python.sh
queries=${1:-24}
out=saved_logs/darts_proxy/darts/fashion_mnist
# this demo's log of a method: seed 0 with this query budget (other settings live in other identity folders)
log_of() { echo "next(g for g in read_logs('saved_logs', 'darts_proxy', 'darts', 'fashion_mnist', '$1', seed=0) if g['budget']['queries'] == $queries)"; }
python -m search_methods.darts_search --method arch2vec_bo --queries "$queries"
python -m search_methods.darts_search --method random --queries "$queries"
genotype=$(python -c "from search_methods.results import read_logs; print($(log_of arch2vec_bo)['final']['best_arch'])")
python -m darts.train --genotype "$genotype" --dataset fashion_mnist --epochs 5 --init-channels 12 --layers 5 \
  --batch-size 96 --train-limit 8000 --threads 2 --save saved_logs/darts_demo/winner --no-progress
python -m darts.visualize --genotype "$genotype" --name arch2vec_bo_winner --out figures/darts
python -m plot_scripts.plot_darts_training saved_logs/darts_demo/winner --out figures/darts/winner_training.png
python - <<PY
import json
from plot_scripts.plot_darts_training import read_training_log
from preprocessing.io_utils import atomic_write_json
from search_methods.results import read_logs
bo = $(log_of arch2vec_bo)
rnd = $(log_of random)
epochs = read_training_log("saved_logs/darts_demo/winner")
summary = {
    "queries": bo["n_queries"],
    "arch2vec_bo_best_proxy_valid": bo["final"]["best_valid"],
    "random_best_proxy_valid": rnd["final"]["best_valid"],
    "winner": bo["final"]["best_arch"],
    "winner_fashion_mnist_test_acc": epochs[-1]["valid_acc"],
    "winner_epochs": len(epochs),
    "winner_train_seconds": epochs[-1]["elapsed_seconds"],
    "search_wall_time_s": bo["wall_time_s"] + rnd["wall_time_s"],
}
atomic_write_json("saved_logs/darts_demo/summary.json", summary, indent=2)
print(json.dumps(summary, indent=2))
PY
echo "demo: log in $out, winner training in saved_logs/darts_demo/winner, drawings in figures/darts"
