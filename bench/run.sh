#!/usr/bin/env bash
# Runs benchmark scenarios side by side: `bench/run.sh [scenario...]` (default: all).
set -euo pipefail
cd "$(dirname "$0")/.."
bash bench/deps.sh
export BENCH_OUT="$PWD/bench/results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$BENCH_OUT"
scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
  for f in bench/scenarios/*.sh; do scenarios+=("$(basename "$f" .sh)"); done
fi
for s in "${scenarios[@]}"; do
  echo "== $s"
  bash "bench/scenarios/$s.sh"
done
echo "results: $BENCH_OUT/results.tsv"
