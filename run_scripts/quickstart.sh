#!/usr/bin/env bash
# The main job on the embedded default, from a fresh clone, on a 2-core CPU: installs, then runs every
# registered search method (search_methods/registry.py) on NAS-Bench-201 (cifar10, cifar100, ImageNet16-120;
# 150 queries; 3 seeds each -- use run_nb201.sh for the full 100), then prints the summary table and writes
# the plots to figures/. The pretrained models come with the clone (pretrained/); a method whose model is
# missing pretrains it first and says so. A rerun skips finished runs.
# Two methods run at a time, each in one process with one thread (--workers 1): both cores stay busy and no
# method pays for starting a worker pool.
#   bash run_scripts/quickstart.sh [--seeds N]
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=3
if [ "${1:-}" = "--seeds" ]; then seeds=$2; fi
start=$(date +%s)
bash run_scripts/setup.sh
source .venv/bin/activate
methods=$(python -c 'from search_methods.registry import METHODS; print(" ".join(METHODS))')
export seeds
run_method() {
  local began=$SECONDS
  python -m search_methods.run --method "$1" --queries 150 --seeds "$seeds" --workers 1 --quiet
  echo "== $1: $((SECONDS - began)) s"
}
export -f run_method
printf '%s\n' $methods | xargs -P 2 -I{} bash -c 'run_method {}'
python -m plot_scripts.summarize --protocol q150 --markdown figures/summary_q150.md
python -m plot_scripts.plot_search_curves --protocol q150 --out figures
echo "quickstart: $(( $(date +%s) - start )) s; summary in figures/summary_q150.md, plots in figures/"
