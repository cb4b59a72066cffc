#!/usr/bin/env bash
# The common protocol runner (P150 by default): one method, all three NB201 datasets, many seeds.
#   bash run_scripts/run_nb201.sh METHOD [--queries 150] [--seeds 100] [any flag of search_methods.run]
# Logs: saved_logs/q<queries>/nb201/<dataset>/<method>/<config digest>/seed_<k>.json (resumable: finished seeds are skipped).
# Method ids and every flag: python -m search_methods.run --method METHOD --help
set -euo pipefail
cd "$(dirname "$0")/.."
source run_scripts/_python.sh
if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
  echo "usage: bash run_scripts/run_nb201.sh METHOD [--queries 150] [--seeds 100] [flags]" >&2
  echo "methods: $(python -c 'from search_methods.registry import METHODS; print(" ".join(METHODS))')" >&2
  exit 2
fi
method=$1; shift
exec python -m search_methods.run --method "$method" "$@"
