#!/usr/bin/env bash
# Regularized evolution's population x tournament sweep on NB201 P150 (all three datasets).
#   bash run_scripts/sweep_evolution.sh [SEEDS]        (default 100; README "Baselines" used 300)
# Logs: saved_logs/re_sweep/p<P>_t<T>_<exhausted>/q150/nb201/...; then one summary table per setting.
# Every run is the runner's (search seeded by its seed only), so the figures are the same however many
# settings or workers are used.
set -euo pipefail
cd "$(dirname "$0")/.."
source run_scripts/_python.sh
seeds=${1:-100}
settings=()
for p in 10 20 30 50 75 100; do
  for t in 3 5 10 20 30 50 75; do
    if [ "$t" -le "$p" ]; then settings+=("$p $t nearest"); fi
  done
done
settings+=("10 3 random" "30 10 random" "50 10 random" "50 30 random")
for setting in "${settings[@]}"; do
  read -r p t exhausted <<< "$setting"
  out=saved_logs/re_sweep/p${p}_t${t}_${exhausted}
  python -m search_methods.run --method evolution --population "$p" --tournament "$t" --exhausted "$exhausted" \
    --seeds "$seeds" --out "$out" --quiet
  echo "population $p, tournament $t, exhausted $exhausted:"
  python -m plot_scripts.summarize --root "$out" --protocol q150 | grep "^| evolution"
done
