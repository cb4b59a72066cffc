#!/usr/bin/env bash
# arch2vec pretraining on all 15,625 NB201 cells (paper defaults: 10 epochs, batch 32, latent 16), then
# the three per-dataset embedding files for the searches.
#   bash run_scripts/pretrain_nb201.sh [any flag of models.pretrain_arch2vec, e.g. --epochs 10 --resume]
# Output: pretrained/dim-16/model-nb201.pt (+ -metrics.json) and <dataset>-arch2vec.pt
set -euo pipefail
cd "$(dirname "$0")/.."
source run_scripts/_python.sh
python -m models.pretrain_arch2vec --space nb201 "$@"
python -m models.extract_arch2vec --space nb201
