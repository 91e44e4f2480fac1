#!/usr/bin/env bash
# TMC Tables 1 and 2 rerun at proxy scale under the one protocol (Papers/TMC/Table1.md, "One protocol" and "Seeds"):
# seed by seed (all of seed 0 in both tables, then seed 1, ...), so that a session that ends early leaves whole
# seeds behind; two single-threaded processes share each table's cells through run locks. Resumable: the next call
# skips finished runs and resumes the one a budget paused. Results go to Reports/results.sqlite and Reports/runs/.
# Usage: bash scripts/reruns/tmc_protocol.sh [BIN] [SEEDS] [MINUTES]   (defaults: the build folder, 3, no limit)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-$(swift build -c release -Xswiftc -enable-testing --show-bin-path)}
SEEDS=${2:-3}
END=${3:+$(( $(date +%s) + $3 * 60 ))}
for seeds in $(seq 1 "$SEEDS"); do
  for table in Table1_TMC Table2_Ablation; do
    budget=()
    if [ -n "$END" ]; then
      left=$(( (END - $(date +%s)) / 60 ))
      if [ "$left" -lt 2 ]; then echo "time budget spent before $table --seeds $seeds"; exit 0; fi
      budget=(--time-budget "$left")
    fi
    for worker in 1 2; do
      REPRO_THREADS=1 "$BIN/$table" --scale proxy --seeds "$seeds" --no-progress "${budget[@]}" &
      sleep 5
    done
    wait
  done
done
