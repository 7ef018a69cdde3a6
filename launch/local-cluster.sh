#!/usr/bin/env bash
# Runs spectrain across several TCP "hosts" on this one machine: network namespaces joined by a
# bridge, OpenMPI started through an rsh agent that enters them, the TCP transport forced so nothing
# goes through shared memory. For testing multi-node jobs (and measuring their traffic) without a
# cluster. Needs root (ip netns).
#
#   launch/local-cluster.sh HOSTS SPECTRAIN-ARGS...
#   launch/local-cluster.sh 2 selftest
#   TRAFFIC=1 launch/local-cluster.sh 2 train configs/fashion-mlp.json --set training.maxSteps=50
#
# With TRAFFIC=1 it prints the bytes each host sent during the run. The namespaces, links and
# /etc/hosts entries are removed on exit, also after an error or Ctrl-C.
set -euo pipefail

usage() { echo "usage: launch/local-cluster.sh HOSTS SPECTRAIN-ARGS..." >&2; exit 2; }
[ $# -ge 2 ] || usage
hosts=$1; shift
[[ "$hosts" =~ ^[1-9]$ ]] || { echo "launch/local-cluster.sh: HOSTS '$hosts' is not 1..9" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "launch/local-cluster.sh: needs root (ip netns)" >&2; exit 2; }
command -v ip >/dev/null || { echo "launch/local-cluster.sh: 'ip' not found; install iproute2" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
bin=${SPECTRAIN_BIN:-$here/../.build/release/spectrain}
[ -x "$bin" ] || { echo "launch/local-cluster.sh: $bin not found; build it with: swift build -c release" >&2; exit 2; }

prefix=spc$$
work=$(mktemp -d)
cleanup() {
  for i in $(seq 1 "$hosts"); do ip netns del "${prefix}h$i" 2>/dev/null || true; done
  ip link del "${prefix}br" 2>/dev/null || true
  sed -i "/ ${prefix}h[0-9]\$/d" /etc/hosts
  rm -rf "$work"
}
trap cleanup EXIT

# Each host gets its own network namespace and its own host name (a UTS namespace).
cat > "$work/rsh" <<'AGENT'
#!/bin/bash
host=$1; shift
exec ip netns exec "$host" unshare --uts /bin/sh -c "hostname $host; $*"
AGENT
chmod +x "$work/rsh"

subnet=10.$((RANDOM % 200 + 20)).$((RANDOM % 250)).
ip link add "${prefix}br" type bridge
ip addr add "${subnet}254/24" dev "${prefix}br"
ip link set "${prefix}br" up
: > "$work/hosts"
for i in $(seq 1 "$hosts"); do
  ns="${prefix}h$i"
  ip netns add "$ns"
  ip link add "${prefix}v$i" type veth peer name "${prefix}p$i"
  ip link set "${prefix}v$i" netns "$ns"
  ip link set "${prefix}p$i" master "${prefix}br"
  ip link set "${prefix}p$i" up
  ip -n "$ns" addr add "${subnet}$i/24" dev "${prefix}v$i"
  ip -n "$ns" link set "${prefix}v$i" up
  ip -n "$ns" link set lo up
  echo "${subnet}$i $ns" >> /etc/hosts
  echo "$ns slots=1" >> "$work/hosts"
done

sent() { ip netns exec "${prefix}h$1" cat "/sys/class/net/${prefix}v$1/statistics/tx_bytes"; }
declare -a before
for i in $(seq 1 "$hosts"); do before[$i]=$(sent "$i"); done

args=(--hostfile "$work/hosts" -np "$hosts" --mca plm_rsh_agent "$work/rsh"
      --mca btl tcp,self --mca btl_tcp_if_include "${subnet}0/24" --mca oob_tcp_if_include "${subnet}0/24"
      -x OPENBLAS_NUM_THREADS="${BLAS_THREADS:-1}")
[ -n "${SPECTRAIN_PERTURB_REPLICA:-}" ] && args+=(-x SPECTRAIN_PERTURB_REPLICA)
[ "$(id -u)" = 0 ] && args+=(--allow-run-as-root)
status=0
( cd "$PWD" && mpirun "${args[@]}" "$bin" "$@" ) || status=$?

if [ -n "${TRAFFIC:-}" ]; then
  for i in $(seq 1 "$hosts"); do
    echo "host $i sent $(( $(sent "$i") - before[$i] )) bytes"
  done
fi
exit $status
