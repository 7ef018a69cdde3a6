#!/usr/bin/env bash
# Communication exposed per step with overlap off and on, over emulated links between TCP "hosts"
# on this machine (launch/local-cluster.sh with LINK_RATE), the two modes interleaved run by run;
# also checks that both modes computed the same losses, bit for bit. Needs root (network namespaces).
# The rate `shm` runs HOSTS ranks on this one node instead (launch/mpirun.sh: shared memory).
#
#   launch/bench-overlap.sh [REPEATS] [CONFIG] [HOSTS] [RATE...]
#   launch/bench-overlap.sh 3 fashion-cnn 2 1gbit 10gbit
#   STEPS=1000 launch/bench-overlap.sh 6 fashion-mlp-sgd 2 shm
#
# Environment: SPECTRAIN_BIN (default .build/release/spectrain), STEPS (default 60), EXTRA (more
# --set arguments for every run).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$here/..
bin=${SPECTRAIN_BIN:-$root/.build/release/spectrain}
[ -x "$bin" ] || { echo "launch/bench-overlap.sh: $bin not found; build it with: swift build -c release" >&2; exit 2; }
repeats=${1:-3}; config=${2:-fashion-cnn}; hosts=${3:-2}
shift $(( $# < 3 ? $# : 3 ))
rates=("$@"); [ ${#rates[@]} -gt 0 ] || rates=(1gbit)
[[ "$repeats" =~ ^[1-9][0-9]?$ ]] || { echo "launch/bench-overlap.sh: REPEATS '$repeats' is not 1..99" >&2; exit 2; }
file=$root/configs/$config.json
[ -f "$file" ] || { echo "launch/bench-overlap.sh: no config $file" >&2; exit 2; }
steps=${STEPS:-60}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Per step: step time, exposed and hidden communication (ms); and the loss lines, for the comparison.
measure() {
  python3 - "$1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1] + "/summary.json"))
t, steps = s["time"], max(1, s["steps"])
total = sum(v for k, v in t.items() if k not in ("communicationHidden", "evaluation", "checkpoint"))
print("%.2f %.2f %.2f" % (1000 * total / steps, 1000 * t.get("communication", 0) / steps, 1000 * t.get("communicationHidden", 0) / steps))
PY
}
losses() { python3 -c 'import json,sys; print([json.loads(l)["loss"] for l in open(sys.argv[1] + "/metrics.jsonl")])' "$1"; }

echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $config, $hosts hosts, $steps steps, $repeats repeats, interleaved"
echo
echo "| link | overlap | step ms | exposed comm ms | hidden comm ms | exposed on / off |"
echo "|---|---|---|---|---|---|"
for rate in "${rates[@]}"; do
  : > "$work/false"; : > "$work/true"
  for repeat in $(seq 1 "$repeats"); do
    for overlap in false true; do
      rm -rf "$work/runs"
      if [ "$rate" = shm ]; then launch=("$here/mpirun.sh"); else launch=(env LINK_RATE="$rate" "$here/local-cluster.sh"); fi
      SPECTRAIN_BIN=$bin "${launch[@]}" "$hosts" train "$file" --set name=run \
        --set training.maxSteps="$steps" --set training.evalEvery=0 --set training.logEvery=10 --set checkpoint.atEnd=false \
        --set checkpoint.everyMinutes=0 --set distributed.replicaCheckEvery=0 --set distributed.overlap=$overlap \
        --set runDirectory="$work/runs" ${EXTRA:-} > "$work/log" 2>&1 || { cat "$work/log" >&2; exit 1; }
      measure "$work/runs/run" >> "$work/$overlap"
      losses "$work/runs/run" > "$work/losses-$overlap"
    done
    cmp -s "$work/losses-false" "$work/losses-true" || { echo "launch/bench-overlap.sh: losses differ between overlap off and on at $rate" >&2; exit 1; }
  done
  python3 - "$rate" "$work/false" "$work/true" <<'PY'
import statistics, sys
rate, off, on = sys.argv[1], [l.split() for l in open(sys.argv[2])], [l.split() for l in open(sys.argv[3])]
m = lambda rows, i: statistics.median(float(r[i]) for r in rows)
for name, rows in (("off", off), ("on", on)):
    ratio = "%.2f" % (m(on, 1) / m(off, 1)) if name == "on" else ""
    print("| %s | %s | %.1f | %.1f | %.1f | %s |" % (rate, name, m(rows, 0), m(rows, 1), m(rows, 2), ratio))
PY
done
echo
echo "losses equal, bit for bit, in every pair"
