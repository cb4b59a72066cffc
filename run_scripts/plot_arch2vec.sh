#!/usr/bin/env bash
# All arch2vec figures into figures/ (or the folder given as $1): search curves + CDFs of the arch2vec
# searches vs the supervised baselines, random search and regularized evolution (P150 and the paper
# protocol, from saved_logs/), and the latent-space analysis figures (from pretrained/dim-16).
#   bash run_scripts/plot_arch2vec.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
source run_scripts/_python.sh
out=${1:-figures}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
methods="arch2vec_rl arch2vec_bo supervised_rl supervised_bo random evolution"
for protocol in q150 paper; do
  if compgen -G "saved_logs/$protocol/nb201/*/arch2vec_*" > /dev/null; then
    python -m plot_scripts.plot_search_curves --protocol "$protocol" --methods $methods --name arch2vec --out "$out"
  else
    echo "no arch2vec logs for protocol $protocol: run run_scripts/run_nb201.sh / run_arch2vec_paper.sh first" >&2
  fi
done
python -m plot_scripts.plot_arch2vec_analysis --out "$out"
