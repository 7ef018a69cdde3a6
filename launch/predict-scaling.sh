#!/usr/bin/env bash
# The scaling model's predictions (docs/scaling.md) for every shipped training config on nodes
# like this machine (one rank per node with this machine's cores as BLAS threads), over a link
# measured by `bench link` (LINK=FILE) or given by its figures (BANDWIDTH Gbit/s, LATENCY us,
# OVERLAP_COST s/s). Prints each config's table as Markdown and the verdict.
#
#   LINK=link.json launch/predict-scaling.sh [CONFIG...]
#   BANDWIDTH=10 LATENCY=25 launch/predict-scaling.sh fashion-cnn
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$here/..
bin=${SPECTRAIN_BIN:-$root/.build/release/spectrain}
[ -x "$bin" ] || { echo "launch/predict-scaling.sh: $bin not found; build it with: swift build -c release" >&2; exit 2; }
if [ -n "${LINK:-}" ]; then
  link=(--link "$LINK")
elif [ -n "${BANDWIDTH:-}" ] && [ -n "${LATENCY:-}" ]; then
  link=(--bandwidth "$BANDWIDTH" --latency "$LATENCY" --overlap-cost "${OVERLAP_COST:-0}")
else
  echo "launch/predict-scaling.sh: set LINK=FILE, or BANDWIDTH and LATENCY" >&2; exit 2
fi
configs=("$@")
if [ ${#configs[@]} -eq 0 ]; then
  configs=(fashion-mlp fashion-mlp-adamw fashion-mlp-sgd fashion-mlp-eigenshampoo fashion-mlp-spectral-shampoo
           fashion-cnn fashion-cnn-adamw shakespeare-char shakespeare-char-adamw)
fi
for config in "${configs[@]}"; do
  echo "### $config"
  echo
  "$bin" plan "$root/configs/$config.json" --predict "${link[@]}" --blas-threads "$(nproc)" --markdown 2>&1 \
    | awk '/^\| / || /^best predicted/ || /^link/'
  echo
done
