#!/usr/bin/env bash
# Wall-clock to a target, optimizers side by side: trains each configuration once per seed,
# interleaved (seed 1: A, B, ...; seed 2: A, B, ...), so the machine's noise hits all alike, and
# prints per seed the training seconds to the configuration's target (accuracy, or for a
# language model the first configuration's best validation loss), the final and best metric,
# and each time as a ratio to the first configuration's.
#
#   launch/bench-time-to-target.sh [--seeds "1 2 3"] [--set key=value]... CONFIG CONFIG...
#   launch/bench-time-to-target.sh configs/fashion-mlp-adamw.json configs/fashion-mlp.json
#
# Runs go to $WORK (default: a fresh temporary folder); nothing else is written. Uses
# .build/release/spectrain (build it first: swift build -c release).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${SPECTRAIN:-$here/../.build/release/spectrain}
seeds="1 2 3"
sets=()
configs=()
while [ $# -gt 0 ]; do
  case $1 in
    --seeds) seeds=$2; shift 2 ;;
    --set) sets+=(--set "$2"); shift 2 ;;
    -*) echo "bench-time-to-target: unknown option $1" >&2; exit 2 ;;
    *) configs+=("$1"); shift ;;
  esac
done
[ ${#configs[@]} -ge 1 ] || { echo "usage: launch/bench-time-to-target.sh [--seeds LIST] [--set key=value]... CONFIG..." >&2; exit 2; }
[ -x "$bin" ] || { echo "bench-time-to-target: $bin not found; run swift build -c release" >&2; exit 2; }
work=${WORK:-$(mktemp -d)}
mkdir -p "$work"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo unknown), runs in $work"
for seed in $seeds; do
  for config in "${configs[@]}"; do
    name=$(basename "$config" .json)-seed$seed
    if ! "$bin" train "$config" --overwrite --set runDirectory="$work" --set name="$name" --set seed="$seed" \
        ${sets[@]+"${sets[@]}"} > "$work/$name.log" 2>&1; then
      echo "bench-time-to-target: $config (seed $seed) failed; see $work/$name.log" >&2
      exit 1
    fi
  done
done
python3 - "$work" "$seeds" "${configs[@]}" <<'PY'
import json, os, sys
work, seeds, configs = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
names = [os.path.basename(c)[:-5] for c in configs]

def summary(name, seed):
    with open(os.path.join(work, f"{name}-seed{seed}", "summary.json")) as f:
        return json.load(f)

def metrics(name, seed):
    with open(os.path.join(work, f"{name}-seed{seed}", "metrics.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]

def time_to_loss(name, seed, target):
    """Training seconds (elapsed minus evaluation and checkpoint time, which each record's
    interval times hold) at the first evaluation whose loss is at most target."""
    spent = 0.0
    for record in metrics(name, seed):
        times = record.get("time", {})
        spent += times.get("evaluation", 0.0) + times.get("checkpoint", 0.0)
        loss = record.get("testLoss")
        if isinstance(loss, (int, float)) and loss <= target:
            return record.get("elapsedSeconds", 0.0) - spent, record.get("step")
    return None, None

print("| seed | config | target | steps to target | training s to target | vs first | final | best | training s (all) |")
print("|---|---|---|---|---|---|---|---|---|")
for seed in seeds:
    first = summary(names[0], seed)
    language = "targetAccuracy" not in first or first.get("targetAccuracy") is None
    reference = None
    for name in names:
        s = summary(name, seed)
        if language:
            target = min(r["testLoss"] for r in metrics(names[0], seed) if isinstance(r.get("testLoss"), (int, float)))
            seconds, step = time_to_loss(name, seed, target)
            losses = [r["testLoss"] for r in metrics(name, seed) if isinstance(r.get("testLoss"), (int, float))]
            final, best = s["finalTestLoss"], min(losses)
            label, fmt = f"loss {target:.4f}", "{:.4f}"
        else:
            target = s["targetAccuracy"]
            seconds, step = s.get("targetReachedTrainingSeconds"), s.get("targetReachedStep")
            final, best = 100 * s["finalTestAccuracy"], 100 * s["bestTestAccuracy"]
            label, fmt = f"{100 * target:.0f}%", "{:.2f}%"
        if reference is None:
            reference = seconds
        ratio = f"{seconds / reference:.2f}x" if seconds and reference else "-"
        print(f"| {seed} | {name} | {label} | {step if step is not None else 'not reached'} | "
              f"{seconds:.1f} | {ratio} | {fmt.format(final)} | {fmt.format(best)} | {s['trainingSeconds']:.1f} |"
              if seconds is not None else
              f"| {seed} | {name} | {label} | not reached | - | - | {fmt.format(final)} | {fmt.format(best)} | {s['trainingSeconds']:.1f} |")
PY
