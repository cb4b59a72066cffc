#!/usr/bin/env bash
# Extract arch2vec embeddings for every space that has a finished checkpoint in pretrained/dim-16.
#   bash run_scripts/extract_arch2vec.sh [nb201|nb101|darts ...]   (default: all three, skipping missing ones)
set -euo pipefail
cd "$(dirname "$0")/.."
source run_scripts/_python.sh
spaces=("$@")
[ ${#spaces[@]} -eq 0 ] && spaces=(nb201 nb101 darts)
for space in "${spaces[@]}"; do
  if [ $# -eq 0 ] && [ ! -f "pretrained/dim-16/model-$space.pt" ]; then
    echo "skip $space: no pretrained/dim-16/model-$space.pt (run run_scripts/pretrain_$space.sh)"
    continue
  fi
  python -m models.extract_arch2vec --space "$space"
done
