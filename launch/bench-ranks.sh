#!/usr/bin/env bash
# Training throughput of every shipped training config on 2 ranks x 1 BLAS thread against 1 rank x
# 2 BLAS threads on this machine (docs/benchmarks.md, "Distributed throughput"), the two layouts
# interleaved run by run so that the machine's drift hits both alike; prints a Markdown table of
# medians and their ratio, each repeat's own ratio (one pair, run back to back), and the 2-rank
# time split (exposed and hidden communication).
#
#   launch/bench-ranks.sh [REPEATS] [CONFIG...]       (default: 3 repeats, every shipped training config)
#
# Environment: SPECTRAIN_BIN (default .build/release/spectrain), STEPS (default: 1000 for the MLPs,
# whose steps take 1.5-7 ms, so that start-up does not weigh on their rate; 60 for the CNN and the
# character model), EXTRA (more --set arguments for every run).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$here/..
bin=${SPECTRAIN_BIN:-$root/.build/release/spectrain}
[ -x "$bin" ] || { echo "launch/bench-ranks.sh: $bin not found; build it with: swift build -c release" >&2; exit 2; }
repeats=${1:-3}
[[ "$repeats" =~ ^[1-9][0-9]?$ ]] || { echo "launch/bench-ranks.sh: REPEATS '$repeats' is not 1..99" >&2; exit 2; }
shift || true
configs=("$@")
if [ ${#configs[@]} -eq 0 ]; then
  configs=(fashion-mlp fashion-mlp-adamw fashion-mlp-sgd fashion-mlp-eigenshampoo fashion-mlp-spectral-shampoo
           fashion-cnn fashion-cnn-adamw shakespeare-char shakespeare-char-adamw)
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Samples (or characters) per second of training, and the time split, from a run's summary.json.
rate() {
  python3 - "$1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
rate = s.get("tokensPerSecond") or s["samplesPerSecond"]
t = s["time"]
total = sum(v for k, v in t.items() if k not in ("communicationHidden", "evaluation", "checkpoint"))
steps = max(1, s["steps"])
print("%.1f %.2f %.2f %.2f" % (rate, 1000 * total / steps, 1000 * t.get("communication", 0) / steps, 1000 * t.get("communicationHidden", 0) / steps))
PY
}

echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $bin, $repeats repeats, interleaved"
echo
echo "| config | 1 x 2 | 2 x 1 | ratio | paired ratios | 2 x 1 step ms | exposed comm ms | hidden comm ms |"
echo "|---|---|---|---|---|---|---|---|"
for config in "${configs[@]}"; do
  file=$root/configs/$config.json
  [ -f "$file" ] || { echo "launch/bench-ranks.sh: no config $file" >&2; exit 2; }
  steps=${STEPS:-}
  if [ -z "$steps" ]; then case $config in *cnn*|shakespeare*) steps=60 ;; *) steps=1000 ;; esac; fi
  args=(train "$file" --set training.maxSteps="$steps" --set training.evalEvery=0 --set training.logEvery=100000
        --set checkpoint.atEnd=false --set checkpoint.everyMinutes=0 --set distributed.replicaCheckEvery=0 ${EXTRA:-})
  : > "$work/one"; : > "$work/two"
  for repeat in $(seq 1 "$repeats"); do
    rm -rf "$work/runs"
    "$bin" "${args[@]}" --set runDirectory="$work/runs/one" > "$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }
    rate "$(ls -d "$work"/runs/one/*/)summary.json" >> "$work/one"
    SPECTRAIN_BIN=$bin "$here/mpirun.sh" 2 "${args[@]}" --set runDirectory="$work/runs/two" > "$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }
    rate "$(ls -d "$work"/runs/two/*/)summary.json" >> "$work/two"
  done
  python3 - "$config" "$work/one" "$work/two" <<'PY'
import statistics, sys
config, one, two = sys.argv[1], [l.split() for l in open(sys.argv[2])], [l.split() for l in open(sys.argv[3])]
median = lambda rows, i: statistics.median(float(r[i]) for r in rows)
a, b = median(one, 0), median(two, 0)
pairs = sorted(float(t[0]) / float(o[0]) for o, t in zip(one, two))
print("| %s | %.0f | %.0f | %.2f | %s | %.1f | %.1f | %.1f |" % (
    config, a, b, b / a, " ".join("%.2f" % r for r in pairs), median(two, 1), median(two, 2), median(two, 3)))
PY
done
