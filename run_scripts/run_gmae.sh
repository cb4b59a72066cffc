#!/usr/bin/env bash
# GMAE-NAS end to end: pretraining (skipped when done), the predictor harness (Kendall tau vs labels,
# NB201 and NB101), its plot, and the P150 grid of both search loops on the three NB201 datasets.
#   bash run_scripts/run_gmae.sh [--seeds 100] [--runs 10]
# Outputs: saved_logs/predictor_eval/{nb201-cifar10,nb101-cifar10}.{json,md}, figures/predictor_eval.png,
# saved_logs/q150/nb201/<dataset>/{gmae,gmae_evo}/seed_<k>.json, figures/summary_q150.md.
# Everything is resumable: rerunning skips finished pretraining epochs, harness fits and search seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
source run_scripts/_python.sh
seeds=100
runs=10
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) seeds=$2; shift 2;;
    --runs) runs=$2; shift 2;;
    *) echo "usage: bash run_scripts/run_gmae.sh [--seeds N] [--runs N]" >&2; exit 2;;
  esac
done
bash run_scripts/pretrain_gmae.sh all
python -m search_methods.predictor_eval --space nb201 --runs "$runs"
python -m search_methods.predictor_eval --space nb101 --runs "$runs"
python -m plot_scripts.plot_predictor_eval saved_logs/predictor_eval/nb201-cifar10.json \
  saved_logs/predictor_eval/nb101-cifar10.json --out figures/predictor_eval.png
for method in gmae gmae_evo; do
  start=$(date +%s)
  bash run_scripts/run_nb201.sh "$method" --queries 150 --seeds "$seeds"
  echo "$method P150 grid: $(( $(date +%s) - start )) s wall"
done
python -m plot_scripts.summarize --protocol q150 --markdown figures/summary_q150.md
