#!/usr/bin/env bash
# The main job on the embedded default, from a fresh clone, on a 2-core CPU (10.5 minutes measured, install
# and the one-off pretraining of the arch2vec, GMAE and AG-Net models included; a rerun reuses them and
# skips finished runs): installs, then runs every search method in the project on NAS-Bench-201
# (cifar10, cifar100, ImageNet16-120; 150 queries; 5 seeds -- use run_nb201.sh for the full 100),
# then prints the summary table and writes the plots to figures/.
#   bash run_scripts/quickstart.sh [--seeds N]
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=5
if [ "${1:-}" = "--seeds" ]; then seeds=$2; fi
bash run_scripts/setup.sh
source .venv/bin/activate
methods=$(python -c 'from search_methods.registry import METHODS; print(" ".join(METHODS))')
for method in $methods; do
  echo "== $method"
  bash run_scripts/run_nb201.sh "$method" --queries 150 --seeds "$seeds"
done
python -m plot_scripts.summarize --protocol q150 --markdown figures/summary_q150.md
python -m plot_scripts.plot_search_curves --protocol q150 --out figures
echo "quickstart: summary in figures/summary_q150.md, plots in figures/"
