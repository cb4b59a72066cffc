#!/usr/bin/env bash
# AG-Net and WeakNAS under their papers' own NB201 protocols, each against `evolution` (its default) at the same
# budget and signal, then the summary with bootstrap intervals (README "Where two methods trail their papers").
#   bash run_scripts/run_paper_protocols.sh [agnet|weaknas ...]          (default: both)
# Environment:
#   SEEDS            seeds per dataset: a count or a range (default 0-19)
#   WORKERS          parallel processes (default 1)
#   AGNET_DATASETS   default cifar10 (the paper's headline); WEAKNAS_DATASETS default ImageNet16-120
#   WEAKNAS_QUERIES  default 1000 (the original's max_sample); a WeakNAS run's choices do not depend on its budget
#                    (constant top-100 pool), so a shorter run is the prefix of the 1000-query one
#   OUT              log root (default saved_logs/paper_protocols)
# The protocols (read from jovitalukasik/AG-Net Search_Tabular.py and VITA-Group/WeakNAS WeakNAS.py):
#   agnet    320 queries (it stops once more than 310 cells are queried), 16 initial, top 16 of 100 candidates,
#            30 passes over the queried cells per retraining, loss scaled by the rank weights as well as sampled
#            by them, accuracy / 100 as the regression target, Adam beta1 0.5, seed-mean validation signal
#   weaknas  one random training seed's validation per cell (--signal seed), 10 initial, 10 per iteration,
#            top-100 pool, a 4 x 1000 MLP fitted for 100 Adam epochs (lr 1e-3, batches of 200, L2 1e-4)
# Resumable: finished seeds are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
source run_scripts/_python.sh
SEEDS=${SEEDS:-0-19}
WORKERS=${WORKERS:-1}
AGNET_DATASETS=${AGNET_DATASETS:-cifar10}
WEAKNAS_DATASETS=${WEAKNAS_DATASETS:-ImageNet16-120}
WEAKNAS_QUERIES=${WEAKNAS_QUERIES:-1000}
OUT=${OUT:-saved_logs/paper_protocols}
AGNET_PAPER=(--train-passes 30 --loss-weighting both --targets fraction --beta1 0.5)
WEAKNAS_PAPER=(--hidden 1000 1000 1000 1000 --train-steps 100 --lr 1e-3 --weight-decay 1e-4 --fit-batch 200)
methods=("$@")
[ ${#methods[@]} -eq 0 ] && methods=(agnet weaknas)
common=(--seeds "$SEEDS" --workers "$WORKERS" --out "$OUT")

for method in "${methods[@]}"; do
  case $method in
    agnet)
      # shellcheck disable=SC2086
      python -m search_methods.run --method agnet --queries 320 --datasets $AGNET_DATASETS "${AGNET_PAPER[@]}" "${common[@]}"
      # shellcheck disable=SC2086
      python -m search_methods.run --method evolution --queries 320 --datasets $AGNET_DATASETS "${common[@]}"
      python -m plot_scripts.summarize --root "$OUT" --protocol q320 --budgets 50 100 150 320 --reference evolution ;;
    weaknas)
      # shellcheck disable=SC2086
      python -m search_methods.run --method weaknas --queries "$WEAKNAS_QUERIES" --signal seed \
        --datasets $WEAKNAS_DATASETS "${WEAKNAS_PAPER[@]}" "${common[@]}"
      # shellcheck disable=SC2086
      python -m search_methods.run --method evolution --queries "$WEAKNAS_QUERIES" --signal seed \
        --datasets $WEAKNAS_DATASETS "${common[@]}"
      python -m plot_scripts.summarize --root "$OUT" --protocol "q${WEAKNAS_QUERIES}_seed" --reference evolution ;;
    *)
      echo "error: unknown method '$method'; give agnet and/or weaknas" >&2
      exit 2 ;;
  esac
done
