#!/usr/bin/env bash
# Benchmarks the Shakespeare character model (issue 11) on this machine, one run after another
# under the same wall-time budget: spectrain AdamW (configs/shakespeare-char-adamw.json), the same
# model and AdamW in PyTorch on the CPU (launch/torch_char_lm.py), spectrain's spectral optimizer
# (configs/shakespeare-char.json) and Eigen-Shampoo (that config with optimizer.type=eigenShampoo).
# Then prints a Markdown report: steps, tokens/s, best validation loss, and when each run first
# reached 1.70 nats/char and spectrain AdamW's best validation loss (in steps and in training
# seconds, evaluation and checkpoints excluded), with spectral/AdamW and spectral/Eigen-Shampoo ratios.
# Last, STEP_ROUNDS (default 3; 0: none) interleaved rounds time the forward+backward alone of the
# same model, spectrain (`spectrain bench model`, with its fraction of sgemm peak) against PyTorch
# (torch_char_lm.py --measure-step), 20 steps each after 3 untimed, and report their ratio.
#
#   launch/bench-shakespeare.sh [MINUTES] [RESULTS-FOLDER]   (default 15; runs/bench-shakespeare-DATE)
#   MINUTES=1 STEPS=40 EVAL_EVERY=20 launch/bench-shakespeare.sh     (a quick end-to-end check)
#
# Each run gets at most MINUTES of wall time: a short calibration run (CALIBRATION_STEPS, default
# 20) measures its step and evaluation time, and its training.maxSteps (torch: --steps) is set so
# that the full warmup-cosine schedule ends near the budget; `timeout -s TERM` stops it at the
# budget anyway (spectrain saves a checkpoint and exits 75; torch_char_lm.py exits 75 too).
# STEPS=N instead gives every run the same N steps (no calibration; the budget still applies).
# The whole bench takes about 4 x (MINUTES + a calibration of ~0.5 min) plus the one-off install.
#
# PyTorch lives in its own venv (VENV, default /tmp/spectrain-bench-venv, set up by
# launch/torch-venv.sh), never a dependency of spectrain. BENCH_TORCH=auto (default) installs a
# CPU-only torch wheel when pip's find-links offer one (this project's machines have
# /opt/wheels/torch-*+cpu-*.whl: 1 GB installed, 40 s), else torch from PyPI, whose Linux wheel is
# the CUDA build (5.4 GB installed with its nvidia-* packages, 85 s; it runs on the CPU all the
# same); BENCH_TORCH=pypi forces PyPI, BENCH_TORCH=/path/to/torch.whl a wheel.
#
# Other settings (environment): SPECTRAIN (default .build/release/spectrain; `swift build -c
# release`), CONFIGS (default configs/), TEXT (default data/shakespeare/shakespeare.txt, made by
# launch/prepare-shakespeare.sh when missing), TORCH_THREADS (default nproc), EVAL_EVERY (250),
# LOG_EVERY (50), TARGET (1.70 nats/char), RUNS (default "adamw torch spectral eigenshampoo"; RUNS=""
# with STEP_ROUNDS=N times only the forward+backward).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
minutes=${1:-${MINUTES:-15}}
results=${2:-${RESULTS:-$repo/runs/bench-shakespeare-$(date +%Y%m%d-%H%M%S)}}
venv=${VENV:-/tmp/spectrain-bench-venv}
spectrain=${SPECTRAIN:-$repo/.build/release/spectrain}
configs=${CONFIGS:-$repo/configs}
text=${TEXT:-$repo/data/shakespeare/shakespeare.txt}
torch_threads=${TORCH_THREADS:-$(nproc)}
fixed_steps=${STEPS:-}
eval_every=${EVAL_EVERY:-250}
log_every=${LOG_EVERY:-50}
calibration_steps=${CALIBRATION_STEPS:-20}
step_rounds=${STEP_ROUNDS:-3}
target=${TARGET:-1.70}
torch_source=${BENCH_TORCH:-auto}
runs=${RUNS-adamw torch spectral eigenshampoo}

fail() { echo "bench-shakespeare: $*" >&2; exit 2; }
is_count() { [[ $1 =~ ^[1-9][0-9]{0,8}$ ]]; }
[[ $minutes =~ ^[0-9]+([.][0-9]+)?$ ]] && awk "BEGIN { exit !($minutes > 0 && $minutes <= 10000) }" \
  || fail "MINUTES '$minutes' is not a number of minutes in (0, 10000]"
[ -z "$fixed_steps" ] || is_count "$fixed_steps" || fail "STEPS '$fixed_steps' is not a positive whole number"
is_count "$log_every" || fail "LOG_EVERY '$log_every' is not a positive whole number"
[[ $step_rounds =~ ^[0-9]{1,3}$ ]] || fail "STEP_ROUNDS '$step_rounds' is not a whole number below 1000"
is_count "$calibration_steps" || fail "CALIBRATION_STEPS '$calibration_steps' is not a positive whole number"
is_count "$torch_threads" || fail "TORCH_THREADS '$torch_threads' is not a positive whole number"
[[ $eval_every =~ ^(0|[1-9][0-9]{0,8})$ ]] || fail "EVAL_EVERY '$eval_every' is not a whole number"
[[ $target =~ ^[0-9]+([.][0-9]+)?$ ]] || fail "TARGET '$target' is not a loss in nats/char"
for run in $runs; do
  case $run in adamw|torch|spectral|eigenshampoo) ;; *) fail "RUNS: unknown run '$run' (adamw, torch, spectral, eigenshampoo)" ;; esac
done
budget=$(awk "BEGIN { printf \"%.0f\", $minutes * 60 }")
[ "$budget" -ge 1 ] || fail "MINUTES $minutes is less than a second"
command -v timeout >/dev/null || fail "needs timeout (coreutils)"
command -v python3 >/dev/null || fail "needs python3 (with venv and pip: Debian's python3-venv)"

# ---- spectrain, configs, text -------------------------------------------------------------------
needs_spectrain=false
for run in $runs; do [ "$run" = torch ] || needs_spectrain=true; done
[ "$step_rounds" -eq 0 ] || needs_spectrain=true
[ -n "${runs//[[:space:]]/}" ] || [ "$step_rounds" -gt 0 ] || fail "nothing to do: RUNS is empty and STEP_ROUNDS is 0"
if $needs_spectrain; then
  [ -x "$spectrain" ] || fail "$spectrain: no spectrain binary; build it with 'swift build -c release' or set SPECTRAIN"
  for config in shakespeare-char-adamw.json shakespeare-char.json; do
    [ -f "$configs/$config" ] || fail "$configs/$config: missing; set CONFIGS to the folder of the Shakespeare configs"
  done
fi
if [ ! -f "$text" ]; then
  [ -z "${TEXT:-}" ] || fail "$text: no such file (TEXT)"
  "$here/prepare-shakespeare.sh" "$(dirname "$text")" || fail "$text: launch/prepare-shakespeare.sh could not prepare the text"
fi

[ -e "$results" ] && [ -n "$(ls -A "$results" 2>/dev/null)" ] && fail "$results exists and is not empty; give a new RESULTS-FOLDER"
mkdir -p "$results/runs" "$results/calibration" || fail "cannot create $results"
results=$(cd "$results" && pwd)
report=$results/report.md

# ---- the PyTorch venv ---------------------------------------------------------------------------
python=$venv/bin/python
torch_install_note=$(TORCH_VENV_LOG="$results/pip.log" "$here/torch-venv.sh" "$venv" "$torch_source") \
  || fail "the PyTorch venv $venv could not be set up (BENCH_TORCH=$torch_source)"
[[ $torch_install_note == reused* ]] || echo "$torch_install_note"
torch_version=$("$python" -c 'import torch; print(torch.__version__)')

# ---- the machine --------------------------------------------------------------------------------
cpu_model=$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
spectrain_version=$( ($needs_spectrain && "$spectrain" --version 2>/dev/null) || echo "not run")
{
  echo "# Shakespeare character model: spectrain against PyTorch"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- machine: $(nproc) cores ($(uname -m)), ${cpu_model:-unknown CPU}, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
  echo "- spectrain: $spectrain_version ($spectrain, commit $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown))"
  echo "- PyTorch: $torch_version, $torch_threads threads ($torch_install_note)"
  echo "- budget: $minutes min of wall time per run; $( [ -n "$fixed_steps" ] && echo "$fixed_steps steps each" || echo "steps from a $calibration_steps-step calibration")"
  echo "- text: $text"
} | tee "$report"

# ---- the runs -----------------------------------------------------------------------------------
run_name() {
  case $1 in
    adamw) echo shakespeare-char-adamw ;; torch) echo torch-char-adamw ;;
    spectral) echo shakespeare-char ;; eigenshampoo) echo shakespeare-char-eigenshampoo ;;
  esac
}

# The command of run $1 named $2 in folder $3 for $4 steps, evaluating every $5 and logging every $6.
run_command() {
  local run=$1 name=$2 folder=$3 steps=$4 every=$5 log=$6
  if [ "$run" = torch ]; then
    cmd=("$python" "$here/torch_char_lm.py" --text "$text" --out "$folder/$name" --steps "$steps" --minutes "$minutes"
             --threads "$torch_threads" --eval-every "$every" --log-every "$log" --seed 1)
    return
  fi
  local config=$configs/shakespeare-char.json
  [ "$run" = adamw ] && config=$configs/shakespeare-char-adamw.json
  cmd=("$spectrain" train "$config" --set name="$name" --set runDirectory="$folder" --set data.text="$text"
           --set training.maxSteps="$steps" --set training.evalEvery="$every" --set training.logEvery="$log")
  [ "$run" = eigenshampoo ] && cmd+=(--set optimizer.type=eigenShampoo)
  return 0
}

# Runs "${cmd[@]}" for at most $1 seconds, its output to $2; prints its exit status and wall seconds.
run_timed() {
  local limit=$1 log=$2 start status
  start=$(date +%s.%N)
  set +e
  timeout --preserve-status -s TERM -k 60 "$limit" "${cmd[@]}" > "$log" 2>&1
  status=$?
  set -e
  echo "$status $(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $start }")"
}

# Steps that fit the budget, from a calibration run's metrics and wall time.
plan_steps() {
  python3 - "$@" <<'PYTHON'
import json, math, statistics, sys
metrics, wall, budget, every, tokens = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
lines = []
try:
    with open(metrics) as handle:
        lines = [json.loads(line) for line in handle if line.strip()]
except (OSError, ValueError) as error:
    sys.exit(f"bench-shakespeare: {metrics}: cannot read the calibration metrics ({error})")
rates = [line["tokensPerSecond"] for line in lines if line.get("tokensPerSecond")]
if not rates:
    sys.exit(f"bench-shakespeare: {metrics}: the calibration run logged no tokensPerSecond")
step_seconds = tokens / statistics.median(rates)
evaluation = sum(line.get("time", {}).get("evaluation", 0.0) for line in lines)
evaluations = sum(1 for line in lines if line.get("testLoss") is not None)
per_evaluation = evaluation / evaluations if evaluations else 0.0
startup = max(wall - lines[-1]["elapsedSeconds"], 0.0)
usable = budget * 0.97 - startup - 2 - per_evaluation
per_step = step_seconds + (per_evaluation / every if every else 0.0)
print(max(1, math.floor(usable / per_step)), f"{step_seconds:.3f}", f"{per_evaluation:.2f}", f"{startup:.1f}")
PYTHON
}

printf 'run\tname\tplannedSteps\tstatus\twallSeconds\n' > "$results/runs.tsv"
echo
for run in $runs; do
  name=$(run_name "$run")
  if [ -n "$fixed_steps" ]; then
    steps=$fixed_steps
  else
    run_command "$run" "calibrate-$name" "$results/calibration" "$calibration_steps" "$calibration_steps" $(( (calibration_steps + 3) / 4 ))
    read -r status wall < <(run_timed "$budget" "$results/calibration/calibrate-$name.log")
    plan=$(plan_steps "$results/calibration/calibrate-$name/metrics.jsonl" "$wall" "$budget" "$eval_every" 4096) \
      || fail "$run: the calibration run failed (exit $status); see $results/calibration/calibrate-$name.log"
    read -r steps step_seconds evaluation_seconds startup_seconds <<< "$plan"
    echo "$run: calibration ${step_seconds} s/step, ${evaluation_seconds} s/evaluation, ${startup_seconds} s start-up -> $steps steps"
  fi
  run_command "$run" "$name" "$results/runs" "$steps" "$eval_every" "$log_every"
  echo "$run: ${cmd[*]}" >> "$results/commands.txt"
  echo "$run: training $name for $steps steps, at most $minutes min ..."
  read -r status wall < <(run_timed "$budget" "$results/$name.log")
  case $status in
    0|75|143) echo "$run: exit $status after $wall s" ;;
    *) echo "$run: FAILED (exit $status after $wall s; see $results/$name.log)" ;;
  esac
  printf '%s\t%s\t%s\t%s\t%s\n' "$run" "$name" "$steps" "$status" "$wall" >> "$results/runs.tsv"
done

if [ -n "${runs//[[:space:]]/}" ]; then
# ---- the report ---------------------------------------------------------------------------------
echo | tee -a "$report"
python3 - "$results" "$target" <<'PYTHON' | tee -a "$report"
import csv, json, os, statistics, sys
results, target = sys.argv[1], float(sys.argv[2])
LABELS = {"adamw": "spectrain AdamW", "torch": "PyTorch AdamW", "spectral": "spectrain spectral", "eigenshampoo": "spectrain Eigen-Shampoo"}

def load(name):
    path = os.path.join(results, "runs", name, "metrics.jsonl")
    lines = []
    try:
        with open(path) as handle:
            for number, text in enumerate(handle, 1):
                if not text.strip():
                    continue
                try:
                    lines.append(json.loads(text))
                except ValueError:
                    print(f"note: {path}: line {number} is not JSON; skipped (a run stopped mid-write)", file=sys.stderr)
    except OSError:
        pass
    training_seconds, spent = [], 0.0
    for line in lines:
        times = line.get("time", {})
        spent += times.get("evaluation", 0.0) + times.get("checkpoint", 0.0)
        training_seconds.append(line.get("elapsedSeconds", 0.0) - spent)
    return lines, training_seconds

def first_reach(lines, seconds, goal):
    if goal is None:
        return None
    for line, second in zip(lines, seconds):
        loss = line.get("testLoss")
        if isinstance(loss, (int, float)) and loss <= goal:
            return line["step"], second
    return None

with open(os.path.join(results, "runs.tsv")) as handle:
    plan = list(csv.DictReader(handle, delimiter="\t"))
data = {}
for row in plan:
    lines, seconds = load(row["name"])
    losses = [line["testLoss"] for line in lines if isinstance(line.get("testLoss"), (int, float))]
    rates = [line["tokensPerSecond"] for line in lines if line.get("tokensPerSecond")]
    data[row["run"]] = dict(row=row, lines=lines, seconds=seconds, best=min(losses) if losses else None,
                            rate=statistics.median(rates) if rates else None)
adamw_best = data.get("adamw", {}).get("best")
for entry in data.values():
    entry["target"] = first_reach(entry["lines"], entry["seconds"], target)
    entry["adamw"] = first_reach(entry["lines"], entry["seconds"], adamw_best)

def number(value, digits=0):
    return "-" if value is None else f"{value:,.{digits}f}"

def reached(pair):
    return ("not reached", "-") if pair is None else (str(pair[0]), f"{pair[1]:.0f}")

goal = "-" if adamw_best is None else f"{adamw_best:.4f}"
print(f"| run | steps (planned) | minutes | tokens/s | best validation | {target:.2f} at step | {target:.2f} at training s "
      f"| AdamW best ({goal}) at step | at training s | ended |")
print("|---|---|---|---|---|---|---|---|---|---|")
for run, entry in data.items():
    lines, row = entry["lines"], entry["row"]
    steps = lines[-1]["step"] if lines else 0
    minutes = lines[-1]["elapsedSeconds"] / 60 if lines else None
    status = int(row["status"])
    if status not in (0, 75, 143):
        ended = f"failed (exit {status})"
    else:
        ended = "finished" if steps == int(row["plannedSteps"]) else "at the budget"
    cells = [LABELS[run], f"{steps} ({row['plannedSteps']})", number(minutes, 1), number(entry["rate"]),
             number(entry["best"], 4), *reached(entry["target"]), *reached(entry["adamw"]), ended]
    print("| " + " | ".join(cells) + " |")

def ratio(numerator, denominator, index):
    if numerator is None or denominator is None or denominator[index] <= 0:
        return "-"
    return f"{numerator[index] / denominator[index]:.2f}"

print()
print(f"Ratios (below 1: the spectral optimizer needed less); training seconds exclude evaluation and checkpoints.")
print()
print(f"| ratio | {target:.2f}: time | {target:.2f}: steps | AdamW best: time | AdamW best: steps |")
print("|---|---|---|---|---|")
spectral = data.get("spectral")
for other in ("adamw", "eigenshampoo", "torch"):
    if spectral is None or other not in data:
        continue
    mine, theirs = spectral, data[other]
    cells = [f"spectral / {LABELS[other].replace('spectrain ', '')}",
             ratio(mine["target"], theirs["target"], 1), ratio(mine["target"], theirs["target"], 0),
             ratio(mine["adamw"], theirs["adamw"], 1), ratio(mine["adamw"], theirs["adamw"], 0)]
    print("| " + " | ".join(cells) + " |")
PYTHON

if $needs_spectrain; then
  folders=()
  for run in $runs; do [ -f "$results/runs/$(run_name "$run")/metrics.jsonl" ] && folders+=("$results/runs/$(run_name "$run")"); done
  if [ ${#folders[@]} -gt 0 ] && "$spectrain" plot "${folders[@]}" --x seconds -o "$results/loss.svg" > "$results/plot.log" 2>&1; then
    echo; echo "curves: $results/loss.svg"
  else
    echo; echo "(no plot: spectrain plot failed, see $results/plot.log)"
  fi
fi
fi

# ---- forward+backward alone, interleaved ---------------------------------------------------------
if [ "$step_rounds" -gt 0 ]; then
  mkdir -p "$results/step"
  for round in $(seq 1 "$step_rounds"); do
    "$spectrain" bench model "$configs/shakespeare-char-adamw.json" --steps 20 --warmup 3 --set data.text="$text" \
      > "$results/step/spectrain-$round.log" 2>&1 || fail "spectrain bench model failed; see $results/step/spectrain-$round.log"
    "$python" "$here/torch_char_lm.py" --text "$text" --threads "$torch_threads" --measure-step 20 --measure-warmup 3 \
      > "$results/step/torch-$round.log" 2>&1 || fail "torch_char_lm.py --measure-step failed; see $results/step/torch-$round.log"
  done
  python3 - "$results/step" "$step_rounds" <<'PYTHON' | tee -a "$report"
import re, statistics, sys
folder, rounds = sys.argv[1], int(sys.argv[2])
def tokens(path, pattern):
    with open(path, errors="replace") as handle:
        match = re.search(pattern, handle.read())
    if match is None:
        sys.exit(f"bench-shakespeare: {path}: no forward+backward line")
    return match
rows, ratios = [], []
for round in range(1, rounds + 1):
    mine = tokens(f"{folder}/spectrain-{round}.log",
                  r"forward\+backward: (\d+) tokens/s, ([\d.]+) GFLOP/s = (\d+)% of sgemm (\d+) \(([\d.]+) GFLOP/s")
    theirs = tokens(f"{folder}/torch-{round}.log", r"forward\+backward: .* (\d+) tokens/s")
    ratio = int(mine[1]) / int(theirs[1])
    ratios.append(ratio)
    rows.append(f"| {round} | {int(mine[1]):,} | {mine[2]} | {mine[3]}% of {mine[5]} (n = {mine[4]}) | {int(theirs[1]):,} | {ratio:.2f} |")
print()
print(f"Forward+backward alone (batch 32 x 128 tokens, no optimizer), {rounds} interleaved rounds of 20 timed steps:")
print()
print("| round | spectrain tokens/s | spectrain GFLOP/s | of sgemm peak (same run) | PyTorch tokens/s | spectrain / PyTorch |")
print("|---|---|---|---|---|---|")
print("\n".join(rows))
print()
print(f"Median spectrain / PyTorch: {statistics.median(ratios):.2f}")
PYTHON
fi
echo "report: $report"
