#!/usr/bin/env bash
# Times spectrain's training step against PyTorch's on the CPU (issue 17), the same model, batch,
# optimizer and thread count on each side, in interleaved rounds: in every round each model runs
# `spectrain bench model` and then its PyTorch twin, back to back. Writes a Markdown report of the
# medians over the rounds: forward, backward, optimizer, their sum and the whole step in ms, and
# spectrain / PyTorch (below 1: spectrain faster).
#
#   launch/bench-models.sh [--quick] [ROUNDS]     (ROUNDS default 5; --quick: 2 rounds, fewer steps)
#
# Models (AdamW lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0, constant rate, both sides):
#   mlp1024  Fashion-MNIST 1x28x28, 10 classes, batch 128: flatten, linear 1024, relu, linear 1024,
#            relu, linear 10 (configs/fashion-mlp-adamw.json with these layers; launch/torch_models.py)
#   cnn      the same data: conv2d 32 k3, relu, maxpool 2, conv2d 64 k3, relu, maxpool 2, flatten, linear 128,
#            relu, linear 10 (configs/fashion-cnn-adamw.json with these layers; torch_models.py)
#   char     configs/shakespeare-char-adamw.json, 4 blocks of width 128, context 128, batch 32, on
#            the Shakespeare text (launch/torch_char_lm.py --measure-train-step)
# spectrain reads Fashion-MNIST, PyTorch random bytes of the same shape (both gather and normalise
# a batch in their data phase); the char model reads the same text on both sides.
#
# spectrain's bench reports each phase as its mean over the timed steps, so PyTorch's means are set
# beside it (torch_models.py's JSON also holds per-step medians; the logs keep it). A round's ratio
# is spectrain's mean / PyTorch's mean in that round; the report gives the median over rounds of
# each side's means and of the per-round ratios.
#
# Environment: SPECTRAIN (binary; default .build/release/spectrain), THREADS (default 2: spectrain
# --blas-threads, torch.set_num_threads with one inter-op thread), MODELS (default "mlp1024 cnn
# char"), OUTPUT (results folder; default runs/bench-models-DATE), VENV (default
# /tmp/spectrain-bench-venv), BENCH_TORCH (auto|pypi|/path/to/torch.whl, as launch/torch-venv.sh),
# CONFIGS (default configs/), TEXT (default data/shakespeare/shakespeare.txt, made by
# launch/prepare-shakespeare.sh when missing). --quick took 55 s on the project's 2-core machine,
# a full run 184 s (plus a one-off 20-40 s venv install).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)

fail() { echo "bench-models: $*" >&2; exit 2; }
usage="usage: launch/bench-models.sh [--quick] [ROUNDS]"

quick=false
rounds=
for argument in "$@"; do
  case $argument in
    --quick) quick=true ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) fail "unknown option '$argument'; $usage" ;;
    *) [ -z "$rounds" ] || fail "more than one ROUNDS ('$rounds', '$argument'); $usage"
       [[ $argument =~ ^[1-9][0-9]{0,2}$ ]] || fail "ROUNDS '$argument' is not a whole number in 1...999"
       rounds=$argument ;;
  esac
done
if $quick; then rounds=${rounds:-2}; else rounds=${rounds:-5}; fi

spectrain=${SPECTRAIN:-$repo/.build/release/spectrain}
threads=${THREADS:-2}
models=${MODELS-mlp1024 cnn char}
venv=${VENV:-/tmp/spectrain-bench-venv}
torch_source=${BENCH_TORCH:-auto}
configs=${CONFIGS:-$repo/configs}
text=${TEXT:-$repo/data/shakespeare/shakespeare.txt}
output=${OUTPUT:-$repo/runs/bench-models-$(date +%Y%m%d-%H%M%S)}

[ -n "$spectrain" ] && [ -f "$spectrain" ] && [ -x "$spectrain" ] \
  || fail "SPECTRAIN '$spectrain' is not an executable file; build it with 'swift build -c release' or set SPECTRAIN"
[[ $threads =~ ^[1-9][0-9]{0,3}$ ]] && [ "$threads" -le 1024 ] || fail "THREADS '$threads' is not a whole number in 1...1024"
[ -n "${models//[[:space:]]/}" ] || fail "MODELS is empty; give some of mlp1024, cnn, char"
for model in $models; do
  case $model in mlp1024|cnn|char) ;; *) fail "MODELS: unknown model '$model' (mlp1024, cnn, char)" ;; esac
done
[ -n "$venv" ] || fail "VENV is empty; give the folder of the PyTorch venv"
[ -n "$output" ] || fail "OUTPUT is empty; give a results folder"
command -v python3 >/dev/null || fail "needs python3 (with venv and pip: Debian's python3-venv)"
needs() { [[ " $models " == *" $1 "* ]]; }
for config in $(needs mlp1024 && echo fashion-mlp-adamw.json) $(needs cnn && echo fashion-cnn-adamw.json) \
              $(needs char && echo shakespeare-char-adamw.json); do
  [ -f "$configs/$config" ] || fail "$configs/$config: missing; set CONFIGS to the folder of spectrain's configs"
done
if needs char && [ ! -f "$text" ]; then
  [ -z "${TEXT:-}" ] || fail "TEXT '$text': no such file"
  "$here/prepare-shakespeare.sh" "$(dirname "$text")" >&2 || fail "$text: launch/prepare-shakespeare.sh could not prepare the text"
fi
case $torch_source in
  auto|pypi) ;;
  *.whl) [ -f "$torch_source" ] || fail "BENCH_TORCH '$torch_source': no such wheel" ;;
  *) fail "BENCH_TORCH '$torch_source' is not auto, pypi or a path to a .whl" ;;
esac
[ -e "$output" ] && [ ! -d "$output" ] && fail "OUTPUT '$output' exists and is not a folder"
[ -d "$output" ] && [ -n "$(ls -A "$output")" ] && fail "OUTPUT '$output' exists and is not empty; give a new folder"
python=$venv/bin/python
torch_note=$("$here/torch-venv.sh" "$venv" "$torch_source") \
  || fail "the PyTorch venv '$venv' could not be set up (BENCH_TORCH=$torch_source; pip's log: $venv/pip.log)"
torch_version=$("$python" -c 'import torch; print(torch.__version__)' 2>/dev/null) || fail "$python: torch does not import"

mkdir -p "$output/logs" || fail "OUTPUT '$output': cannot create the folder"
output=$(cd "$output" && pwd)

# ---- steps per run ------------------------------------------------------------------------------
# Timed steps and untimed warm-up per run: about 1-5 s of timed work per run on 2 cores.
if $quick; then
  declare -A steps=([mlp1024]=20 [cnn]=20 [char]=4) warmup=([mlp1024]=3 [cnn]=2 [char]=2)
else
  declare -A steps=([mlp1024]=100 [cnn]=60 [char]=30) warmup=([mlp1024]=10 [cnn]=3 [char]=3)
fi

# ---- the machine ---------------------------------------------------------------------------------
cpu_model=$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
[ "$commit" = unknown ] || [ -z "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ] \
  || commit="$commit (working tree with uncommitted changes)"
spectrain_version=$("$spectrain" --version 2>/dev/null || echo unknown)

adamw_settings=(--set optimizer.type=adamw --set optimizer.learningRate=0.001 --set 'optimizer.schedule={"type":"constant"}'
                --set optimizer.beta1=0.9 --set optimizer.beta2=0.999 --set optimizer.epsilon=1e-8 --set optimizer.weightDecay=0)
mlp_layers='[{"type":"flatten"},{"type":"linear","outputs":1024},{"type":"relu"},{"type":"linear","outputs":1024},{"type":"relu"},{"type":"linear","outputs":10}]'
cnn_layers='[{"type":"conv2d","outputs":32,"kernel":3,"padding":0},{"type":"relu"},{"type":"maxpool","kernel":2},{"type":"conv2d","outputs":64,"kernel":3,"padding":0},{"type":"relu"},{"type":"maxpool","kernel":2},{"type":"flatten"},{"type":"linear","outputs":128},{"type":"relu"},{"type":"linear","outputs":10}]'

# Sets spectrain_cmd and torch_cmd for model $1.
commands() {
  local model=$1
  spectrain_cmd=("$spectrain" bench model)
  case $model in
    mlp1024) spectrain_cmd+=("$configs/fashion-mlp-adamw.json" --set "model.layers=$mlp_layers" --set training.batchSize=128) ;;
    cnn) spectrain_cmd+=("$configs/fashion-cnn-adamw.json" --set "model.layers=$cnn_layers" --set training.batchSize=128) ;;
    char) spectrain_cmd+=("$configs/shakespeare-char-adamw.json" --set data.text="$text" --set training.batchSize=32 --set data.context=128) ;;
  esac
  spectrain_cmd+=("${adamw_settings[@]}" --steps "${steps[$model]}" --warmup "${warmup[$model]}" --blas-threads "$threads")
  case $model in
    char) torch_cmd=("$python" "$here/torch_char_lm.py" --text "$text" --batch-size 32 --context 128 --learning-rate 1e-3
                     --measure-train-step "${steps[$model]}" --measure-warmup "${warmup[$model]}" --threads "$threads") ;;
    *) torch_cmd=("$python" "$here/torch_models.py" --model "$model" --batch 128
                  --steps "${steps[$model]}" --warmup "${warmup[$model]}" --threads "$threads") ;;
  esac
}

# Runs "$@" with its output in log $1 (the rest the command); on failure names the log and its last line.
run_logged() {
  local log=$1; shift
  printf '%q ' "$@" > "$log.cmd"
  "$@" > "$log" 2>&1 || fail "$(basename "$log" .log) failed: $(tail -n 1 "$log") (log: $log)"
}

{
  echo "# spectrain against PyTorch: the training step of three models"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- machine: $(nproc) cores ($(uname -m)), ${cpu_model:-unknown CPU}, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); load average at the start $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- spectrain: $spectrain_version ($spectrain); repository commit $commit"
  echo "- PyTorch: $torch_version in $venv ($torch_note)"
  echo "- $threads threads each side (spectrain --blas-threads $threads; torch.set_num_threads($threads), 1 inter-op thread)"
  echo "- $rounds interleaved rounds$($quick && echo " (--quick)"): each round runs, per model, spectrain then PyTorch; timed steps (after untimed warm-up) per run: $(for model in $models; do printf '%s %s (+%s) ' "$model" "${steps[$model]}" "${warmup[$model]}"; done)"
  echo "- AdamW lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0, constant rate, on both sides; mlp1024 and cnn: spectrain reads Fashion-MNIST, PyTorch random bytes of its shape (1x28x28, 10 classes); char: both read $text"
} > "$output/machine.md"
cat "$output/machine.md" >&2

# ---- the rounds ---------------------------------------------------------------------------------
started=$(date +%s)
for round in $(seq 1 "$rounds"); do
  for model in $models; do
    commands "$model"
    echo "round $round/$rounds: $model: spectrain ..." >&2
    run_logged "$output/logs/spectrain-$model-$round.log" "${spectrain_cmd[@]}"
    echo "round $round/$rounds: $model: PyTorch ..." >&2
    run_logged "$output/logs/torch-$model-$round.log" "${torch_cmd[@]}"
  done
done
echo "rounds done in $(( $(date +%s) - started )) s" >&2

# ---- the report ---------------------------------------------------------------------------------
python3 - "$output" "$rounds" "$models" > "$output/tables.md" <<'PYTHON' || fail "the report could not be written (see above)"
import json, re, statistics, sys
folder, rounds, models = sys.argv[1], int(sys.argv[2]), sys.argv[3].split()
PHASES = ("data", "forward", "backward", "communication", "curvature", "precondition", "optimizer")

def stop(message):
    sys.exit(f"bench-models: {message}")

def spectrain_run(path):
    """Mean ms/step of each phase of `spectrain bench model`'s table, and the parameter count."""
    with open(path, errors="replace") as handle:
        text = handle.read()
    phases = {}
    for line in text.splitlines():
        match = re.match(r"^(" + "|".join(PHASES + ("step",)) + r")\s+([0-9]+(?:\.[0-9]+)?)\s", line + " ")
        if match:
            phases[match[1]] = float(match[2])
    for needed in ("forward", "backward", "optimizer", "step"):
        if needed not in phases:
            stop(f"{path}: no '{needed}' row in spectrain bench model's table")
    parameters = re.search(r"; ([0-9]+) parameters;", text)
    if parameters is None:
        stop(f"{path}: no parameter count in spectrain's header")
    phases["compute"] = phases["forward"] + phases["backward"] + phases["optimizer"]
    # The step row is printed to 3 figures like each phase; the sum of the phases is as precise and agrees with compute.
    phases["step"] = sum(phases.get(name, 0.0) for name in PHASES)
    return phases, int(parameters[1])

def torch_run(path):
    with open(path, errors="replace") as handle:
        lines = [line for line in handle if line.startswith("{")]
    if not lines:
        stop(f"{path}: no JSON line from the PyTorch side")
    try:
        report = json.loads(lines[-1])
        phases = {name: value["mean"] for name, value in report["milliseconds"].items()}
    except (ValueError, KeyError, TypeError) as error:
        stop(f"{path}: the PyTorch JSON is not as expected ({error})")
    return phases, report

ROWS = (("data", "data"), ("forward", "forward"), ("backward", "backward"), ("optimizer", "optimizer"),
        ("compute", "forward + backward + optimizer"), ("step", "whole step (all phases)"))
median = statistics.median
print("## Medians over the rounds")
print()
print("Milliseconds per step (each run's mean over its timed steps; the median of those over the rounds). "
      "Ratio: the median over the rounds of that round's spectrain / PyTorch; below 1, spectrain is faster.")
print()
print("| model | batch | measure | spectrain | PyTorch | spectrain / PyTorch | ratio range over rounds |")
print("|---|---|---|---|---|---|---|")
per_round = []
for model in models:
    mine, theirs, torch_reports = [], [], []
    for round in range(1, rounds + 1):
        phases, parameters = spectrain_run(f"{folder}/logs/spectrain-{model}-{round}.log")
        other, report = torch_run(f"{folder}/logs/torch-{model}-{round}.log")
        if parameters != report["parameters"]:
            stop(f"{model}: spectrain's model has {parameters} parameters, PyTorch's {report['parameters']}: not the same model")
        mine.append(phases)
        theirs.append(other)
        torch_reports.append(report)
        spread = report["milliseconds"]["step"]["mean"] / report["milliseconds"]["step"]["median"]
        per_round.append((round, model, phases["compute"], other["compute"], phases["step"], other["step"], spread))
    first = torch_reports[0]
    predictions = first["batch"] * first["predictionsPerSample"]
    batch = f"{first['batch']}" + (f" x {first['predictionsPerSample']} tokens" if first["predictionsPerSample"] > 1 else "")
    label = f"{model} ({first['parameters']:,} parameters)"
    for key, name in ROWS:
        ratios = [m.get(key, 0) / t[key] for m, t in zip(mine, theirs)]
        print(f"| {label} | {batch} | {name} ms | {median(m.get(key, 0) for m in mine):.2f} | {median(t[key] for t in theirs):.2f} "
              f"| {median(ratios):.2f} | {min(ratios):.2f} - {max(ratios):.2f} |")
        label, batch = "", ""
    extra = [name for name in ("communication", "curvature", "precondition") if any(m.get(name, 0) for m in mine)]
    for name in extra:
        print(f"| | | {name} ms (spectrain only; in its whole step) | {median(m.get(name, 0) for m in mine):.2f} | - | | |")
    unit = "tokens/s" if first["predictionsPerSample"] > 1 else "samples/s"
    for key, name in (("compute", "forward + backward + optimizer"), ("step", "whole step")):
        rate_mine = median(predictions / (m[key] / 1000) for m in mine)
        rate_theirs = median(predictions / (t[key] / 1000) for t in theirs)
        print(f"| | | {unit}, {name} | {rate_mine:,.0f} | {rate_theirs:,.0f} | | |")
print()
print("## Every round")
print()
print("forward + backward + optimizer and the whole step, ms (means over the run's timed steps), in the order they ran. "
      "PyTorch's mean / median step: well above 1 when something else took the cores during its run (spectrain reports no per-step times).")
print()
print("| round | model | spectrain compute | PyTorch compute | ratio | spectrain step | PyTorch step | ratio | PyTorch mean / median step |")
print("|---|---|---|---|---|---|---|---|---|")
per_round.sort(key=lambda row: (row[0], models.index(row[1])))
for round, model, mine_compute, their_compute, mine_step, their_step, spread in per_round:
    print(f"| {round} | {model} | {mine_compute:.2f} | {their_compute:.2f} | {mine_compute / their_compute:.2f} "
          f"| {mine_step:.2f} | {their_step:.2f} | {mine_step / their_step:.2f} | {spread:.2f} |")
PYTHON

{
  cat "$output/machine.md"
  echo "- load average at the end $(cut -d' ' -f1-3 /proc/loadavg); the rounds took $(( $(date +%s) - started )) s"
  echo
  echo "The machine may be shared with other work; single runs are noisy, hence the interleaved rounds and"
  echo "medians; the ratio range shows how far the rounds spread. Logs and the exact commands: logs/."
  echo
  cat "$output/tables.md"
} > "$output/report.md"
rm -f "$output/machine.md" "$output/tables.md"
cat "$output/report.md"
echo "report: $output/report.md" >&2
