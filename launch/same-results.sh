#!/usr/bin/env bash
# Checks that two builds of spectrain give the same results, bit for bit, timing aside: for a
# refactor, or a speed-up that must not change the arithmetic. Runs the same fixed-seed jobs with
# each binary (1-3 ranks under mpirun: spectral, Eigen-Shampoo, AdamW, SGD, a CNN, blocked shards,
# allreduce mode, resume on another world size, --branch, eval, inspect, --plan-only, es, spd) and
# compares metrics, summaries, resolved configs, checkpoint tensors byte for byte and the console
# output. Needs Fashion-MNIST (Debian's dataset-fashion-mnist).
#
#   launch/same-results.sh OLD-BINARY NEW-BINARY [WORK-FOLDER]
#   git worktree add /tmp/old HEAD~3 && (cd /tmp/old && swift build -c release)
#   launch/same-results.sh /tmp/old/.build/release/spectrain .build/release/spectrain
#
# Prints "IDENTICAL (timing aside)" and exits 0, or lists the differences and exits 1.
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: launch/same-results.sh OLD-BINARY NEW-BINARY [WORK-FOLDER]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
configs=$here/../configs
work=${3:-$(mktemp -d)}
mpi=(mpirun --oversubscribe --bind-to none)
[ "$(id -u)" = 0 ] && mpi+=(--allow-run-as-root)

scenarios() {
  local bin=$1 out=$2
  rm -rf "$out"; mkdir -p "$out"
  run() { local name=$1; shift; "$@" > "$out/$name.log" 2>&1; echo "rc=$?" >> "$out/$name.log"; }
  local common=(--set runDirectory="$out/runs")
  run A "$bin" train "$configs/fashion-mlp.json" --set training.maxSteps=60 --set training.logEvery=20 --set training.healthEvery=20 --set checkpoint.everySteps=30 "${common[@]}" --set name=A
  run B "${mpi[@]}" -np 2 "$bin" train "$configs/fashion-mlp.json" --set training.maxSteps=60 --set training.logEvery=20 --set training.healthEvery=20 --set checkpoint.everySteps=30 --set optimizer.preconditioner.maxFactorDimension=392 --set distributed.replicaCheckEvery=10 "${common[@]}" --set name=B
  run C "${mpi[@]}" -np 3 "$bin" train "$configs/fashion-mlp-eigenshampoo.json" --set training.maxSteps=30 --set training.logEvery=10 --set checkpoint.everySteps=30 --set optimizer.preconditioner.maxFactorDimension=200 "${common[@]}" --set name=C
  run D "${mpi[@]}" -np 2 "$bin" train "$configs/fashion-cnn-adamw.json" --set training.maxSteps=20 --set training.logEvery=10 --set training.evalBatchSize=2000 --set distributed.reduction=allreduce "${common[@]}" --set name=D
  run E "$bin" train "$configs/fashion-mlp-sgd.json" --set training.maxSteps=30 --set training.logEvery=10 "${common[@]}" --set name=E
  run F "${mpi[@]}" -np 2 "$bin" train "$configs/fashion-mlp.json" --set training.maxSteps=60 --set training.logEvery=20 --set training.healthEvery=20 --set checkpoint.everySteps=30 "${common[@]}" --set name=F --resume "$out/runs/A/ckpt-000030" --branch
  run G "$bin" train "$configs/fashion-mlp-spectral-shampoo.json" --set training.maxSteps=30 --set training.logEvery=10 --set optimizer.curvatureInterval=3 --set optimizer.curvatureGradientScale=sqrtBatch --set optimizer.schedule.type=constant "${common[@]}" --set name=G
  run H "$bin" train "$configs/fashion-cnn.json" --set training.maxSteps=10 --set training.logEvery=5 --set training.healthEvery=5 --set training.evalBatchSize=2000 "${common[@]}" --set name=H
  run I "${mpi[@]}" -np 2 "$bin" train "$configs/fashion-mlp.json" --resume "$out/runs/A" --set training.maxSteps=90 --set training.logEvery=20 --set training.healthEvery=20 --set checkpoint.everySteps=30 "${common[@]}" --set name=A
  run eval "$bin" eval "$out/runs/A/ckpt-000060" --json
  run inspect "$bin" inspect "$out/runs/A/ckpt-000060"
  run plan "$bin" train "$configs/fashion-mlp.json" --plan-only --ranks 3 --set optimizer.preconditioner.maxFactorDimension=392
  run es "$bin" es "$configs/es-rosenbrock.json" --json
  run spd "$bin" spd "$configs/spd-gaussian.json"
}

echo "old: $1"; scenarios "$1" "$work/old"
echo "new: $2"; scenarios "$2" "$work/new"
python3 - "$work/old" "$work/new" <<'PYTHON'
import difflib, json, os, re, sys
old, new = sys.argv[1], sys.argv[2]
TIMING = {"time", "elapsedSeconds", "samplesPerSecond", "seconds", "trainingSeconds", "targetReachedTrainingSeconds"}
def strip(value, root):
    if isinstance(value, dict): return {k: strip(v, root) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list): return [strip(v, root) for v in value]
    if isinstance(value, str): return value.replace(root + "/", "OUT/")
    return value
def console(text, root):
    text = text.replace(root + "/", "OUT/")
    text = re.sub(r"[\d.]+ samples/s", "N samples/s", text)
    text = re.sub(r"ETA \S+", "ETA T", text)
    text = re.sub(r" in \d+:\d+(:\d+)?", " in T", text)
    text = re.sub(r"^time: .*$", "time: T", text, flags=re.M)
    text = re.sub(r"after \d+:\d+ of training", "after T of training", text)
    # es and spd print their wall times; keep everything else of those lines
    text = re.sub(r'"seconds":[0-9.e-]+', '"seconds":T', text)
    text = re.sub(r"\s\d+\.\d{3}\s+(yes|no)$", r" T \1", text, flags=re.M)
    text = re.sub(r"wall time: .*", "wall time: T", text)
    return text
problems, files = [], 0
for folder, _, names in os.walk(old):
    relative = os.path.relpath(folder, old)
    for name in sorted(names):
        a, b = os.path.join(folder, name), os.path.join(new, relative, name)
        files += 1
        if not os.path.exists(b): problems.append(f"missing in new: {relative}/{name}"); continue
        da, db = open(a, "rb").read(), open(b, "rb").read()
        if name.endswith(".safetensors") or name == "latest":
            if da != db: problems.append(f"bytes differ: {relative}/{name}")
        elif name.endswith(".jsonl"):
            la = [strip(json.loads(l), old) for l in da.decode().splitlines() if l.strip()]
            lb = [strip(json.loads(l), new) for l in db.decode().splitlines() if l.strip()]
            if la != lb: problems.append(f"metrics differ: {relative}/{name}")
        elif name.endswith(".json"):
            if strip(json.loads(da), old) != strip(json.loads(db), new): problems.append(f"JSON differs: {relative}/{name}")
        elif name.endswith(".log"):
            ta, tb = console(da.decode(), old), console(db.decode(), new)
            if ta != tb:
                diff = list(difflib.unified_diff(ta.splitlines(), tb.splitlines(), lineterm="", n=0))
                problems.append(f"console output differs: {name}\n    " + "\n    ".join(diff[:12]))
for folder, _, names in os.walk(new):
    relative = os.path.relpath(folder, new)
    problems += [f"only in new: {relative}/{n}" for n in names if not os.path.exists(os.path.join(old, relative, n))]
print(f"compared {files} files")
for problem in problems: print(" -", problem)
print("IDENTICAL (timing aside)" if not problems else f"{len(problems)} differences")
sys.exit(1 if problems else 0)
PYTHON
