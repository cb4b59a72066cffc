#!/usr/bin/env bash
# MetaD2A end to end on the shipped meta-database: meta-train, then meta-test on
#   - a held-out Fashion-MNIST task (classes 6-9, never in the database) and scikit-learn's digits:
#     the top cell and 10 random cells are trained for real with the database recipe;
#   - CIFAR-10, CIFAR-100, ImageNet16-120: the chosen cells are scored by the NB201 table.
#     Their dataset code comes from no images (mean of the meta-training tasks) unless CIFAR_DATA names
#     the official CIFAR python archive folder (then CIFAR-10/100 use their own images).
#   bash run_scripts/run_metad2a.sh
#   CIFAR_DATA=/data/cifar bash run_scripts/run_metad2a.sh
# Results: pretrained/metad2a/metad2a.pt, saved_logs/metad2a/<dataset>.json. About 10 minutes on 2 busy cores.
set -euo pipefail
cd "$(dirname "$0")/.."
source run_scripts/_python.sh
DATABASE=${DATABASE:-data/metad2a/fmnist_db.csv.gz}
CHECKPOINT=${CHECKPOINT:-pretrained/metad2a/metad2a.pt}

python -m models.train_metad2a --database "$DATABASE" --out "$CHECKPOINT"
for dataset in fmnist_heldout digits; do
  python -m search_methods.metad2a --dataset "$dataset" --checkpoint "$CHECKPOINT" --train-eval
done
python -m search_methods.metad2a --dataset cifar10 --checkpoint "$CHECKPOINT" ${CIFAR_DATA:+--data "$CIFAR_DATA/cifar-10-python.tar.gz"}
python -m search_methods.metad2a --dataset cifar100 --checkpoint "$CHECKPOINT" ${CIFAR_DATA:+--data "$CIFAR_DATA/cifar-100-python.tar.gz"}
python -m search_methods.metad2a --dataset ImageNet16-120 --checkpoint "$CHECKPOINT"
