#!/usr/bin/env bash
# What bfloat16 does to each method: trains every configuration in float32 and in bfloat16 for
# each seed, interleaved (seed 1: A f32, A bf16, B f32, ...), and prints a table row per run.
#
#   --what state (default): optimizer.preconditioner.stateDType, one rank. Columns: the final
#     metric (test accuracy; validation loss for a language model), the curvature factors' state
#     bytes in the final checkpoint (`inspect`), from the factor health logged every HEALTH steps
#     the largest ||B^T B - I||_F, the rejected updates and the polar steps; for Eigen-Shampoo,
#     from the final checkpoint, the failed eigendecompositions, those whose spectrum was not
#     positive (clamped), and the lowest min/max eigenvalue ratio any of them had.
#   --what exchange: distributed.exchangeDType on RANKS ranks (default 2, launch/mpirun.sh).
#
#   launch/bench-bfloat16.sh [--what state|exchange] [--seeds "1 2 3"] [--health 117] [--set key=value]... CONFIG...
#   launch/bench-bfloat16.sh configs/fashion-mlp.json configs/fashion-cnn.json configs/fashion-mlp-eigenshampoo.json
#   launch/bench-bfloat16.sh --what exchange configs/fashion-mlp.json configs/fashion-cnn.json
#
# Runs go to $WORK (default: a fresh temporary folder). Uses .build/release/spectrain.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${SPECTRAIN:-$here/../.build/release/spectrain}
seeds="1 2 3"
health=117
what=state
sets=()
configs=()
while [ $# -gt 0 ]; do
  case $1 in
    --seeds) seeds=$2; shift 2 ;;
    --health) health=$2; shift 2 ;;
    --what) what=$2; shift 2 ;;
    --set) sets+=(--set "$2"); shift 2 ;;
    -*) echo "bench-bfloat16: unknown option $1" >&2; exit 2 ;;
    *) configs+=("$1"); shift ;;
  esac
done
[ ${#configs[@]} -ge 1 ] || { echo "usage: launch/bench-bfloat16.sh [--seeds LIST] [--health N] [--set key=value]... CONFIG..." >&2; exit 2; }
[ -x "$bin" ] || { echo "bench-bfloat16: $bin not found; run swift build -c release" >&2; exit 2; }
case $what in
  state) field=optimizer.preconditioner.stateDType; launch=("$bin") ;;
  exchange) field=distributed.exchangeDType; launch=(env SPECTRAIN_BIN="$bin" "$here/mpirun.sh" "${RANKS:-2}" ) ;;
  *) echo "bench-bfloat16: --what is state or exchange, not '$what'" >&2; exit 2 ;;
esac
work=${WORK:-$(mktemp -d)}
mkdir -p "$work"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo unknown), runs in $work"
echo "# $what in bfloat16 against float32 ($field)"
echo "| config | seed | $what | final | factor state bytes | max ‖BᵀB−I‖_F | rejected | polar steps / updates | root failures | indefinite roots | lowest λmin/λmax |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for seed in $seeds; do
  for config in "${configs[@]}"; do
    for dtype in float32 bfloat16; do
      name=$(basename "$config" .json)-seed$seed-$dtype
      if ! "${launch[@]}" train "$config" --overwrite --set runDirectory="$work" --set name="$name" --set seed="$seed" \
          --set "$field=$dtype" --set training.healthEvery="$health" \
          ${sets[@]+"${sets[@]}"} > "$work/$name.log" 2>&1; then
        echo "bench-bfloat16: $config (seed $seed, $dtype) failed; see $work/$name.log" >&2
        exit 1
      fi
      bytes=$("$bin" inspect "$work/$name" | sed -n 's/^factor state: \([0-9]*\) bytes.*/\1/p')
      python3 "$here/bfloat16_summary.py" "$work/$name" "$(basename "$config" .json)" "$seed" "$dtype" "${bytes:--}"
    done
  done
done
