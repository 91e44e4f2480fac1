#!/usr/bin/env bash
# MOSMOS proxy pilot (Papers/MOSMOS/datasets.md §7): the fine-tuning learning rate at proxy scale, chosen per
# backbone on BTCV's *validation* split from the grid {1e-4 (the paper's), 3e-4, 1e-3} (and 3e-3 for the U-Net, whose
# best was the grid's edge), with the table's own epochs.
# The 1e-4 runs are the table's runs at the paper's rate (Reports/results.sqlite); the others go to their own store,
# exported beside it (Reports/pilots/mosmos-lr/runs/), so the choice can be audited and redone.
# Usage: bash scripts/pilots/mosmos_learning_rate.sh [BIN]   (BIN: folder of the built executables)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-$(swift build -c release -Xswiftc -enable-testing --show-bin-path)}
for lr in 1e-3 3e-4; do
  "$BIN/Table2_BTCV" --scale proxy --db Reports/pilots/mosmos-lr/results.sqlite --learning-rate "$lr" --no-progress
done
# The U-Net's best rate was the grid's largest, so the grid goes one step further for it.
"$BIN/Table2_BTCV" --scale proxy --db Reports/pilots/mosmos-lr/results.sqlite --learning-rate 3e-3 --only "Random · U-Net" --no-progress
# Best validation Dice per backbone and rate (the selection criterion; test scores are not looked at).
for db in Reports/results.sqlite Reports/pilots/mosmos-lr/results.sqlite; do
  sqlite3 "$db" "SELECT r.variant, json_extract(r.config_json, '$.hyperparameters.lr') AS lr, MAX(c.value) AS best_val_dice
                 FROM runs r JOIN curves c ON c.run_id = r.id
                 WHERE r.paper = 'MOSMOS' AND r.table_name = 'Table2' AND r.scale = 'proxy' AND r.status = 'finished'
                   AND c.split = 'val' AND c.metric = 'Dice'
                 GROUP BY r.id ORDER BY r.variant, lr"
done
