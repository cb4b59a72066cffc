#!/usr/bin/env bash
# WeakNAS experiments on NAS-Bench-201 (all three datasets, 100 seeds each), then its figures.
#   bash run_scripts/run_weaknas.sh [STAGE ...]      stages: p150 q2o seed1000 figures (default: all, in order)
# Environment:
#   PREDICTOR  extra predictor flags for weaknas / weaknas_ei (default: 4 x 128 MLP, 50 full-batch Adam steps at
#              lr 0.01, as in the reported grids; the paper's: PREDICTOR="--hidden 1000 1000 1000 1000 --train-steps 100 --lr 1e-3")
#   SEEDS      seeds per dataset (default 100); WORKERS parallel processes (default 2)
# Every stage is resumable: finished seeds are skipped. Logs under saved_logs/, figures under figures/weaknas/.
#   p150      P150 (150 queries, seed-mean validation) for weaknas, weaknas_ei and the evolution baseline
#   q2o       queries until the best-by-valid cell is queried (cap 1000); random search is simulated exactly
#             (uncapped) by the figures stage
#   seed1000  the WeakNAS paper's own protocol: 1000 queries, one random training seed per architecture
#   figures   queries-to-optimum table + box plot, search-dynamics t-SNE (PNG + GIF)
set -euo pipefail
cd "$(dirname "$0")/.."
source run_scripts/_python.sh
PREDICTOR=${PREDICTOR:-}
SEEDS=${SEEDS:-100}
WORKERS=${WORKERS:-2}
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(p150 q2o seed1000 figures)
common=(--seeds "$SEEDS" --workers "$WORKERS")

for stage in "${stages[@]}"; do
  case $stage in
    p150)
      for m in weaknas weaknas_ei; do
        # shellcheck disable=SC2086
        python -m search_methods.run --method "$m" "${common[@]}" $PREDICTOR
      done
      python -m search_methods.run --method evolution "${common[@]}" ;;
    q2o)
      for m in weaknas weaknas_ei; do
        # shellcheck disable=SC2086
        python -m search_methods.queries_to_optimum --method "$m" "${common[@]}" $PREDICTOR
      done
      python -m search_methods.queries_to_optimum --method evolution "${common[@]}" ;;
    seed1000)
      for m in weaknas weaknas_ei; do
        # shellcheck disable=SC2086
        python -m search_methods.run --method "$m" --queries 1000 --signal seed "${common[@]}" $PREDICTOR
      done ;;
    figures)
      python -m plot_scripts.queries_to_optimum --out figures/weaknas
      python -m plot_scripts.search_dynamics --out figures/weaknas ;;
    *)
      echo "unknown stage '$stage'; stages: p150 q2o seed1000 figures" >&2
      exit 2 ;;
  esac
done
