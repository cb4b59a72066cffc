#!/usr/bin/env bash
# arch2vec pretraining on the DARTS cell space (preprocessing/darts_space.py: a seeded pool of 100,000
# sampled non-isomorphic cells, 11-node graphs; the paper used 600,000), 10 epochs by default; then the
# embeddings of the default search pool (2,000 sampled genotypes: normal-cell next to reduce-cell embedding).
#   bash run_scripts/pretrain_darts.sh [--limit N] [--epochs 10] [--resume] [flags of models.pretrain_arch2vec]
# Output: pretrained/dim-16/model-darts.pt (+ -metrics.json) and arch2vec-darts.pt
set -euo pipefail
cd "$(dirname "$0")/.."
source run_scripts/_python.sh
python -m models.pretrain_arch2vec --space darts "$@"
python -m models.extract_arch2vec --space darts
