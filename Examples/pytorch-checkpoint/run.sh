#!/usr/bin/env bash
# End to end: trains short Fashion-MNIST runs with spectrain, measures each latest checkpoint with
# `spectrain eval` and with PyTorch (load_checkpoint.py), and fails unless the two test accuracies
# agree to 0.01 percentage points (1 of the 10,000 test images).
#
#   Examples/pytorch-checkpoint/run.sh
#
# Settings (environment): SPECTRAIN (default .build/release/spectrain of this repository),
# VENV (default /tmp/spectrain-torch-venv, made by launch/torch-venv.sh when torch is missing),
# TORCH (auto, pypi or a torch .whl: launch/torch-venv.sh's source), MODELS (default "mlp cnn"),
# MLP_STEPS (default 300), CNN_STEPS (default 60). The runs go to a temporary folder, removed on
# success and kept (its path printed) on failure.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
spectrain=${SPECTRAIN:-$repo/.build/release/spectrain}
venv=${VENV:-/tmp/spectrain-torch-venv}
models=${MODELS-mlp cnn}
mlp_steps=${MLP_STEPS:-300}
cnn_steps=${CNN_STEPS:-60}
started=$(date +%s)

fail() { echo "pytorch-checkpoint: $*" >&2; exit 1; }
[ -x "$spectrain" ] || fail "$spectrain: no spectrain binary; build it with 'swift build -c release' or set SPECTRAIN"
for steps in "$mlp_steps" "$cnn_steps"; do
  [[ $steps =~ ^[1-9][0-9]{0,6}$ ]] || fail "MLP_STEPS/CNN_STEPS '$steps' is not a whole number of steps in 1...9999999"
done
[ -n "${models//[[:space:]]/}" ] || fail "MODELS is empty (mlp, cnn)"
for model in $models; do
  case $model in mlp|cnn) ;; *) fail "MODELS: unknown model '$model' (mlp, cnn)" ;; esac
done

note=$("$repo/launch/torch-venv.sh" "$venv" "${TORCH:-auto}") || fail "the PyTorch venv $venv could not be set up"
echo "PyTorch: $note"
work=$(mktemp -d "${TMPDIR:-/tmp}/pytorch-checkpoint.XXXXXX")
trap 'status=$?; if [ $status -eq 0 ]; then rm -rf "$work"; else echo "runs and logs kept in $work" >&2; fi' EXIT

failures=0
for model in $models; do
  if [ "$model" = mlp ]; then
    train=(train "$repo/configs/fashion-mlp.json" --set training.maxSteps="$mlp_steps")
  else
    train=(train "$repo/configs/fashion-cnn.json" --set training.maxSteps="$cnn_steps" --set training.evalBatchSize=2000)
  fi
  run=$work/$model
  echo "$model: spectrain ${train[*]#"$repo/"} ..."
  "$spectrain" "${train[@]}" --set name="$model" --set runDirectory="$work" > "$work/$model-train.log" 2>&1 \
    || fail "$model: training failed; see $work/$model-train.log"
  "$spectrain" eval "$run" --json > "$work/$model-spectrain.json" 2> "$work/$model-eval.log" \
    || fail "$model: spectrain eval failed; see $work/$model-eval.log"
  "$venv/bin/python" "$here/load_checkpoint.py" "$run" --json > "$work/$model-torch.json" 2> "$work/$model-torch.log" \
    || fail "$model: load_checkpoint.py failed: $(tail -n 1 "$work/$model-torch.log")"
  # Accuracies compared as counts of images: 0.01 points of 10,000 images is 1 image.
  python3 - "$model" "$work/$model-spectrain.json" "$work/$model-torch.json" <<'PYTHON' || failures=$((failures + 1))
import json, sys
model, mine, theirs = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
if (mine["step"], mine["samples"]) != (theirs["step"], theirs["samples"]):
    sys.exit(f"{model}: spectrain evaluated step {mine['step']} on {mine['samples']} images, "
             f"PyTorch step {theirs['step']} on {theirs['samples']}")
samples = mine["samples"]
spectrain_correct, torch_correct = round(mine["accuracy"] * samples), theirs["correct"]
differing = abs(spectrain_correct - torch_correct)
difference = 100 * differing / samples
verdict = "agree" if differing * 10000 <= samples else "DISAGREE"  # at most 0.01 percentage points
print(f"{model}: step {mine['step']}: spectrain eval accuracy {100 * spectrain_correct / samples:.2f}% "
      f"(loss {mine['loss']:.6f}), PyTorch {100 * torch_correct / samples:.2f}% (loss {theirs['loss']:.6f}); "
      f"correct images {spectrain_correct} and {torch_correct} of {samples}, {difference:.2f} points apart: {verdict}")
sys.exit(verdict != "agree")
PYTHON
done
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(( $(date +%s) - started )) s"
[ "$failures" -eq 0 ] || fail "$failures model(s) differ by more than 0.01 points of test accuracy between spectrain and PyTorch"
echo "pytorch-checkpoint: spectrain and PyTorch agree to 0.01 points on: $models"
