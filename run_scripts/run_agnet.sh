#!/usr/bin/env bash
# AG-Net end to end: pretrain the generator (if missing), the NB201 grids (P150 and 300 queries, all three
# datasets), the XGBoost variants, the hardware-aware searches on two devices, and the plots.
#   bash run_scripts/run_agnet.sh                 # 100 seeds per grid, 10 per hardware experiment
#   SEEDS=10 HW_SEEDS=5 bash run_scripts/run_agnet.sh
# Every step is resumable: finished runs are skipped on a rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
source run_scripts/_python.sh
SEEDS=${SEEDS:-100}
SEEDS_300=${SEEDS_300:-$SEEDS}
HW_SEEDS=${HW_SEEDS:-10}

if [ ! -f pretrained/agnet/nb201/generator.pt ]; then
  python -m models.pretrain_agnet --space nb201
fi
bash run_scripts/run_nb201.sh agnet --queries 150 --seeds "$SEEDS"
bash run_scripts/run_nb201.sh agnet --queries 300 --seeds "$SEEDS_300"
bash run_scripts/run_nb201.sh agnet_xgb --queries 150 --seeds "$SEEDS" --xgb-objective reg
bash run_scripts/run_nb201.sh agnet_xgb --queries 150 --seeds "$SEEDS" --xgb-objective rank --protocol q150_xgbrank

# hardware-aware: the accuracy-latency front on two HW-NAS-Bench devices, and one latency budget each
for device in pixel3 raspi4; do
  python -m search_methods.hw_search --device "$device" --pareto --queries 150 --seeds "$HW_SEEDS"
  python -m plot_scripts.plot_hw_front --device "$device" --mode pareto
done
python -m search_methods.hw_search --device pixel3 --latency-budget 5 --queries 150 --seeds "$HW_SEEDS"
python -m search_methods.hw_search --device raspi4 --latency-budget 15 --queries 150 --seeds "$HW_SEEDS"

python -m plot_scripts.plot_search_curves --protocol q150
python -m plot_scripts.plot_search_curves --protocol q300
python -m plot_scripts.summarize --protocol q150
python -m plot_scripts.summarize --protocol q300
