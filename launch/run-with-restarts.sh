#!/usr/bin/env bash
# Run a training job to the end, restarting it from its newest checkpoint when it fails or is
# stopped for preemption, on fewer ranks if asked (a checkpoint resumes on any number of ranks).
#
#   launch/run-with-restarts.sh [--max-restarts N] [--ranks "NP..."] -- CONFIG [TRAIN-ARGS...]
#   launch/run-with-restarts.sh --max-restarts 5 --ranks "4 2 1" -- configs/fashion-mlp.json
#
# Every attempt is `spectrain train CONFIG TRAIN-ARGS... --resume auto`: the first starts the run
# (or continues it, if its folder already has a checkpoint), each later one continues from the
# newest healthy complete checkpoint. --ranks lists the ranks of the first attempt, then of each
# attempt after a failure (the last entry stays); 1 runs a single process without mpirun, more go
# through launch/mpirun.sh (HOSTFILE and the other variables it reads apply).
#
# Exit status: 0 when training finished; otherwise the last attempt's status, after
# --max-restarts (default 3) failed restarts. An attempt that exits 75 stopped on a signal after a
# checkpoint: it is continued without counting as a failure, unless this script itself received
# the signal (SIGINT, SIGTERM), in which case it passes the signal on and stops after the attempt.
# Each attempt sees SPECTRAIN_ATTEMPT=1, 2, ... in its environment.
set -uo pipefail

usage() { echo "usage: launch/run-with-restarts.sh [--max-restarts N] [--ranks \"NP...\"] -- CONFIG [TRAIN-ARGS...]" >&2; exit 2; }
max_restarts=3
ranks=(1)
while [ $# -gt 0 ]; do
  case "$1" in
    --max-restarts) [ $# -ge 2 ] || usage; max_restarts=$2; shift 2 ;;
    --ranks) [ $# -ge 2 ] || usage; read -r -a ranks <<< "$2"; shift 2 ;;
    --) shift; break ;;
    *) usage ;;
  esac
done
[ $# -ge 1 ] || usage
[[ "$max_restarts" =~ ^[0-9]+$ ]] || { echo "launch/run-with-restarts.sh: --max-restarts '$max_restarts' is not a whole number" >&2; exit 2; }
[ ${#ranks[@]} -ge 1 ] || { echo "launch/run-with-restarts.sh: --ranks is empty" >&2; exit 2; }
for np in "${ranks[@]}"; do
  [[ "$np" =~ ^[1-9][0-9]*$ ]] || { echo "launch/run-with-restarts.sh: --ranks entry '$np' is not a positive number of ranks" >&2; exit 2; }
done

here=$(cd "$(dirname "$0")" && pwd)
bin=${SPECTRAIN_BIN:-$here/../.build/release/spectrain}
[ -x "$bin" ] || { echo "launch/run-with-restarts.sh: $bin not found; build it with: swift build -c release" >&2; exit 2; }

stopping=""
child=""
on_signal() {
  stopping=$1
  [ -n "$child" ] && kill "-$1" "$child" 2>/dev/null
}
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM

attempt=0
failures=0
level=0
while :; do
  attempt=$((attempt + 1))
  np=${ranks[$level]}
  echo "run-with-restarts: attempt $attempt on $np rank(s)" >&2
  if [ "$np" -eq 1 ]; then
    SPECTRAIN_ATTEMPT=$attempt "$bin" train "$@" --resume auto &
  else
    SPECTRAIN_ATTEMPT=$attempt SPECTRAIN_BIN="$bin" "$here/mpirun.sh" "$np" train "$@" --resume auto &
  fi
  child=$!
  # `wait` returns early when a trapped signal arrives; wait again until the attempt has ended.
  while :; do
    status=0
    wait "$child" || status=$?
    kill -0 "$child" 2>/dev/null || break
  done
  child=""
  if [ "$status" -eq 0 ]; then
    echo "run-with-restarts: finished after $attempt attempt(s)" >&2
    exit 0
  fi
  if [ -n "$stopping" ]; then
    echo "run-with-restarts: stopped by SIG$stopping (attempt $attempt exited $status); continue later with the same command" >&2
    exit "$status"
  fi
  if [ "$status" -eq 75 ]; then
    echo "run-with-restarts: attempt $attempt stopped after a checkpoint (exit 75); continuing" >&2
    continue
  fi
  failures=$((failures + 1))
  if [ "$failures" -gt "$max_restarts" ]; then
    echo "run-with-restarts: attempt $attempt failed (exit $status); giving up after $max_restarts restart(s)" >&2
    exit "$status"
  fi
  [ $((level + 1)) -lt ${#ranks[@]} ] && level=$((level + 1))
  echo "run-with-restarts: attempt $attempt failed (exit $status); restarting from the newest checkpoint on ${ranks[$level]} rank(s)" >&2
done
