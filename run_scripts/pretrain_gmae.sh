#!/usr/bin/env bash
# Masked pretraining of the GMAE encoder (resumable: rerun the same command to continue).
#   bash run_scripts/pretrain_gmae.sh [nb201|nb101|all] [--nb101-limit N] [extra flags of models.pretrain_gmae]
# NB201: all 15,625 cells, paper sizes (12 blocks, d=64, mask 0.15), 20 epochs.
# NB101: a seeded subset (default 20,000 cells; --nb101-limit 0 = all 423,624) of the enumerated space
#        (built first with preprocessing.nb101_enumerate when missing), 16 blocks, d=32, mask 0.75, 3 epochs.
# Checkpoints: pretrained/gmae/<space>/gat-linear-ce-m<ratio>.pt
set -euo pipefail
cd "$(dirname "$0")/.."
source run_scripts/_python.sh
which=${1:-all}
if [ $# -gt 0 ]; then shift; fi
limit=20000
if [ "${1:-}" = "--nb101-limit" ]; then limit=$2; shift 2; fi
case "$which" in nb201|nb101|all) ;; *) echo "usage: bash run_scripts/pretrain_gmae.sh [nb201|nb101|all] [--nb101-limit N] [flags]" >&2; exit 2;; esac
if [ "$which" != nb101 ]; then
  python -m models.pretrain_gmae --space nb201 --resume "$@"
fi
if [ "$which" != nb201 ]; then
  if [ ! -f data/nasbench101/nb101_space.npz ]; then python -m preprocessing.nb101_enumerate; fi
  limit_flag=()
  if [ "$limit" != 0 ]; then limit_flag=(--limit "$limit"); fi
  python -m models.pretrain_gmae --space nb101 --epochs 3 "${limit_flag[@]}" --resume "$@"
fi
