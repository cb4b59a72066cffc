#!/usr/bin/env bash
# arch2vec pretraining on the enumerated NB101 space (423,624 cells; paper: 8 epochs), then embeddings of
# every cell. --limit N pretrains on a seeded subset (e.g. --limit 2000 for a CI-sized run); the
# embeddings are always extracted for the whole space.
#   bash run_scripts/pretrain_nb101.sh [--limit N] [--epochs 8] [--resume] [flags of models.pretrain_arch2vec]
# Needs data/nasbench101/nb101_space.npz (python -m preprocessing.nb101_enumerate builds it).
# Output: pretrained/dim-16/model-nb101.pt (+ -metrics.json) and arch2vec-nb101.pt
set -euo pipefail
cd "$(dirname "$0")/.."
source run_scripts/_python.sh
python -m models.pretrain_arch2vec --space nb101 "$@"
python -m models.extract_arch2vec --space nb101
