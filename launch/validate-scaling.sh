#!/usr/bin/env bash
# Checks the scaling model (docs/scaling.md) against real runs over emulated links: for each link
# rate and host count (2 and 3), the link is measured on those hosts (`bench link`), the model
# predicts the step time of each config there from a profile taken here (`plan --predict`, the
# hosts sharing this machine's cores), and the same job runs over launch/local-cluster.sh with
# overlap on (the model's "step ms"; `auto` would turn it off for the MLPs); prints predicted
# against measured. Needs root (network namespaces).
#
#   launch/validate-scaling.sh [RATES] [CONFIGS]
#   launch/validate-scaling.sh "1gbit 200mbit" "fashion-cnn fashion-mlp"
#
# Environment: SPECTRAIN_BIN (default .build/release/spectrain), STEPS (default 60).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$here/..
bin=${SPECTRAIN_BIN:-$root/.build/release/spectrain}
[ -x "$bin" ] || { echo "launch/validate-scaling.sh: $bin not found; build it with: swift build -c release" >&2; exit 2; }
rates=${1:-"1gbit 200mbit"}
configs=${2:-"fashion-cnn fashion-mlp"}
steps=${STEPS:-60}
cores=$(nproc)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $cores cores shared by the hosts, $steps steps per run, overlap on"
echo
echo "| config | link | hosts | predicted ms | measured ms | predicted / measured |"
echo "|---|---|---|---|---|---|"
for rate in $rates; do
  for hosts in 2 3; do
    LINK_RATE=$rate SPECTRAIN_BIN=$bin "$here/local-cluster.sh" "$hosts" bench link --sizes 64K,256K,1M,4M --output "$work/link$hosts.json" \
      > "$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }
  done
  for config in $configs; do
    file=$root/configs/$config.json
    [ -f "$file" ] || { echo "launch/validate-scaling.sh: no config $file" >&2; exit 2; }
    for hosts in 2 3; do
      "$bin" plan "$file" --predict --link "$work/link$hosts.json" --nodes "$hosts" --shared-cores "$cores" --profile-steps 40 --markdown \
        > "$work/plan" 2>&1 || { cat "$work/plan" >&2; exit 1; }
      predicted=$(awk -F'|' -v n="$hosts" '$2 ~ "^ "n" $" { gsub(/ /, "", $4); print $4 }' "$work/plan")
      rm -rf "$work/runs"
      LINK_RATE=$rate SPECTRAIN_BIN=$bin "$here/local-cluster.sh" "$hosts" train "$file" --set name=run \
        --set training.maxSteps="$steps" --set training.evalEvery=0 --set training.logEvery=100000 --set checkpoint.atEnd=false \
        --set checkpoint.everyMinutes=0 --set distributed.replicaCheckEvery=0 --set distributed.overlap=true \
        --set runDirectory="$work/runs" > "$work/log" 2>&1 \
        || { cat "$work/log" >&2; exit 1; }
      measured=$(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
t = s["time"]
print("%.1f" % (1000 * sum(v for k, v in t.items() if k not in ("communicationHidden", "evaluation", "checkpoint")) / s["steps"]))' "$work/runs/run/summary.json")
      ratio=$(python3 -c "print('%.2f' % ($predicted / $measured))")
      echo "| $config | $rate | $hosts | $predicted | $measured | $ratio |"
    done
  done
done
