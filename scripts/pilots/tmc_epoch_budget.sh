#!/usr/bin/env bash
# TMC proxy pilot (Papers/TMC/Table1.md, "Epoch budget"): every Table 1 row on every data set at seed 0, 50 epochs
# under the one protocol but with the rate held after the warm-up (--epoch-pilot: no decay, no early stopping), into
# a store of its own whose runs no table counts (exported to Reports/pilots/tmc-epochs/runs/). Then the rule, fixed
# before the pilot ran: the budget is the first epoch by which every run's best-so-far validation Dice is within
# 1 point of its pilot best, rounded up to a multiple of 5 (`repro epoch-budget`).
# Two single-threaded processes share the cells (run locks: each takes the next cell the other is not training),
# which on 2 cores gets more done than one process on two threads; the numbers do not depend on the thread count.
# Resumable: a killed or time-boxed call (MINUTES) continues where it stopped on the next call.
# Usage: bash scripts/pilots/tmc_epoch_budget.sh [BIN] [MINUTES]   (BIN: folder of the built executables)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-$(swift build -c release -Xswiftc -enable-testing --show-bin-path)}
DB=Reports/pilots/tmc-epochs/results.sqlite
for worker in 1 2; do
  REPRO_THREADS=1 "$BIN/Table1_TMC" --scale proxy --db "$DB" --epoch-pilot 50 --no-progress ${2:+--time-budget "$2"} &
  sleep 5
done
wait
"$BIN/repro" export --db "$DB"
"$BIN/repro" epoch-budget --db "$DB" --table Table1 --tolerance 1
