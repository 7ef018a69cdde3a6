#!/usr/bin/env bash
# Launch spectrain on NP ranks with mpirun.
#
#   launch/mpirun.sh NP SPECTRAIN-ARGS...
#   launch/mpirun.sh 2 info
#   HOSTFILE=launch/hosts launch/mpirun.sh 8 train configs/fashion-mlp.json
#
# Environment:
#   HOSTFILE      an mpirun hostfile (see launch/hostfile.example); without it all ranks run here
#   BLAS_THREADS  OpenBLAS threads per rank; default: this machine's cores / NP (min 1) for a
#                 local job, and for a hostfile job each rank's share of its own node (spectrain
#                 computes it at start-up from the ranks it finds on its node)
#   SPECTRAIN_BIN the executable (default: .build/release/spectrain next to this script)
#   MPIRUN_ARGS   extra mpirun options, e.g. "--mca btl_tcp_if_include eth0"
#   STOP_GRACE_SECONDS  seconds mpirun waits before passing a SIGTERM or SIGINT it receives on to
#                 the ranks and killing them (its odls_base_sigkill_timeout): give it the time of
#                 a step and a checkpoint, so that a SIGTERM still saves one (docs/reliability.md).
#                 SIGUSR1 and SIGUSR2 reach the ranks at once and need no grace.
set -euo pipefail

usage() { echo "usage: launch/mpirun.sh NP SPECTRAIN-ARGS... (see the comments in this script)" >&2; exit 2; }
[ $# -ge 2 ] || usage
np=$1; shift
[[ "$np" =~ ^[1-9][0-9]*$ ]] || { echo "launch/mpirun.sh: NP '$np' is not a positive number of ranks" >&2; exit 2; }

here=$(cd "$(dirname "$0")" && pwd)
bin=${SPECTRAIN_BIN:-$here/../.build/release/spectrain}
[ -x "$bin" ] || { echo "launch/mpirun.sh: $bin not found; build it with: swift build -c release" >&2; exit 2; }
command -v mpirun >/dev/null || { echo "launch/mpirun.sh: mpirun not found; install openmpi-bin" >&2; exit 2; }

args=(-np "$np")
[ "$(id -u)" = 0 ] && args+=(--allow-run-as-root)

if [ -n "${HOSTFILE:-}" ]; then
  [ -r "$HOSTFILE" ] || { echo "launch/mpirun.sh: HOSTFILE '$HOSTFILE' is not readable" >&2; exit 2; }
  args+=(--hostfile "$HOSTFILE")
  [ -n "${BLAS_THREADS:-}" ] && args+=(-x "SPECTRAIN_BLAS_THREADS=$BLAS_THREADS")
else
  cores=$(nproc)
  threads=${BLAS_THREADS:-$(( cores / np > 0 ? cores / np : 1 ))}
  # More ranks than cores: let mpirun start them anyway.
  [ "$np" -gt "$cores" ] && args+=(--oversubscribe)
  # Set at load time too, so OpenBLAS never starts a thread per core in every rank.
  args+=(-x "OPENBLAS_NUM_THREADS=$threads")
fi

if [ -n "${STOP_GRACE_SECONDS:-}" ]; then
  [[ "$STOP_GRACE_SECONDS" =~ ^[0-9]+$ ]] || { echo "launch/mpirun.sh: STOP_GRACE_SECONDS '$STOP_GRACE_SECONDS' is not a whole number of seconds" >&2; exit 2; }
  args+=(--mca odls_base_sigkill_timeout "$STOP_GRACE_SECONDS")
fi

# shellcheck disable=SC2206
extra=(${MPIRUN_ARGS:-})
exec mpirun "${args[@]}" "${extra[@]}" "$bin" "$@"
