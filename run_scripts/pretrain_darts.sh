#!/usr/bin/env bash
# arch2vec pretraining on sampled non-isomorphic DARTS cells (11-node graphs; --limit N cells, default
# 100,000; the paper used 600,000), then embeddings of those cells.
#   bash run_scripts/pretrain_darts.sh [--limit N] [--epochs 10] [--resume] [flags of models.pretrain_arch2vec]
# Output: pretrained/dim-16/model-darts.pt (+ -metrics.json) and arch2vec-darts.pt
set -euo pipefail
cd "$(dirname "$0")/.."
source run_scripts/_python.sh
python -m models.pretrain_arch2vec --space darts "$@"
python -m models.extract_arch2vec --space darts
