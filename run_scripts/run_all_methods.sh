#!/usr/bin/env bash
# Every registered method on one space: runs it (or records its one-line refusal) and prints a table.
#   bash run_scripts/run_all_methods.sh [SPACE] [SEEDS] [QUERIES] [flags of search_methods.run]
# Defaults: nb101, 3 seeds, 150 queries. Logs: saved_logs/q<QUERIES>/<SPACE>/...; refusals: the error line.
set -uo pipefail
cd "$(dirname "$0")/.."
source run_scripts/_python.sh
space=${1:-nb101}; seeds=${2:-3}; queries=${3:-150}
shift $(( $# < 3 ? $# : 3 ))
for method in $(python -c 'from search_methods.registry import METHODS; print(" ".join(METHODS))'); do
  started=$(date +%s)
  if message=$(python -m search_methods.run --space "$space" --method "$method" --seeds "$seeds" \
                 --queries "$queries" --quiet "$@" 2>&1 >/dev/null); then
    echo "$method: ok ($(( $(date +%s) - started )) s)"
  else
    echo "$method: $(echo "$message" | tail -1)"
  fi
done
