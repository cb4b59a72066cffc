#!/usr/bin/env bash
# Build the shipped MetaD2A meta-database: 10 Fashion-MNIST class-subset tasks (classes 0-5; 6-9 are kept
# for meta-testing) x 32 NB201 cells each, every cell trained for 3 epochs (2 workers, 1 thread each).
#   bash run_scripts/build_metad2a_database.sh                 # -> data/metad2a/fmnist_db.csv.gz
#   bash run_scripts/build_metad2a_database.sh --tasks 2 --cells-per-task 2 --epochs 1 --out /tmp/db.csv.gz
# Interrupt and rerun at will: finished cells are kept in <out>.parts.jsonl and skipped.
# Extra flags go to `python -m preprocessing.metad2a_database` (see --help), e.g. --source cifar10 --data PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
source run_scripts/_python.sh
python -m preprocessing.metad2a_database --tasks 10 --cells-per-task 32 --workers 2 "$@"
