#!/usr/bin/env bash
# Runs spectrain across several TCP "hosts" on this one machine: network namespaces joined by a
# bridge, OpenMPI started through an rsh agent that enters them, the TCP transport forced so nothing
# goes through shared memory. For testing multi-node jobs (and measuring their traffic) without a
# cluster. Needs root (ip netns).
#
#   [LINK_RATE=RATE] [TRAFFIC=1] [BLAS_THREADS=n] launch/local-cluster.sh HOSTS SPECTRAIN-ARGS...
#   launch/local-cluster.sh 2 selftest
#   TRAFFIC=1 launch/local-cluster.sh 2 train configs/fashion-mlp.json --set training.maxSteps=50
#   LINK_RATE=1gbit launch/local-cluster.sh 3 bench link
#
# With TRAFFIC=1 it prints the bytes each host sent during the run. With LINK_RATE=RATE (a whole
# number with kbit, mbit or gbit, at most 100gbit) every host's link is limited to RATE in each
# direction, like a NIC of that rate: a tbf qdisc on the host's end of its link (what it sends) and
# on the bridge's end (what it receives). Without it only the CPU limits the links. BLAS_THREADS
# sets OPENBLAS_NUM_THREADS of every rank (default 1). The namespaces, links and /etc/hosts
# entries are removed on exit, also after an error or Ctrl-C.
#
# Measured on this 2-core machine with `spectrain bench link` (docs/distributed.md, "Emulated
# links"): from 1 MiB up allgatherv moves 0.96 of LINK_RATE per rank at 200mbit and 1gbit (TCP/IP
# headers take the rest), reduceScatter 0.84-0.95; 10gbit is not reached (the cores limit MPI
# over TCP to 6-10 Gbit/s at 16 MiB). An exchange after an idle gap gets up to the tbf bucket
# (below) through faster than the rate.
set -euo pipefail

usage() { echo "usage: [LINK_RATE=RATE] [TRAFFIC=1] [BLAS_THREADS=n] launch/local-cluster.sh HOSTS SPECTRAIN-ARGS..." >&2; exit 2; }
[ $# -ge 2 ] || usage
hosts=$1; shift
[[ "$hosts" =~ ^[1-9]$ ]] || { echo "launch/local-cluster.sh: HOSTS '$hosts' is not 1..9" >&2; exit 2; }
rate=${LINK_RATE:-}
if [ -n "$rate" ]; then
  [[ "$rate" =~ ^([1-9][0-9]{0,5})(kbit|mbit|gbit)$ ]] ||
    { echo "launch/local-cluster.sh: LINK_RATE '$rate' is not a positive whole number with kbit, mbit or gbit (e.g. 1gbit)" >&2; exit 2; }
  declare -A unit_bits=([kbit]=1000 [mbit]=1000000 [gbit]=1000000000)
  rate_bits=$(( BASH_REMATCH[1] * ${unit_bits[${BASH_REMATCH[2]}]} ))
  (( rate_bits <= 100000000000 )) || { echo "launch/local-cluster.sh: LINK_RATE '$rate' is above 100gbit" >&2; exit 2; }
  # burst (the token bucket) = 1 ms of data at the rate, at least 128 KiB. It must cover the time
  # between two wake-ups of the qdisc (the rule burst >= rate/HZ, 4 ms here with CONFIG_HZ=250, is
  # for tick-driven timers; tbf here wakes on a high-resolution timer) and hold a whole 64 KiB GSO
  # packet of the veth. A bucket lets up to `burst` bytes after an idle gap pass at memory speed,
  # so it is kept small. iperf3, one TCP stream between two hosts, here: 10gbit gave 8.9 Gbit/s
  # with 128 KiB, 9.2 with 1.25 MB (1 ms) and 9.2 with 5 MB (4 ms); 1gbit 0.96 with 128 KiB or
  # 500 KB; 200mbit 0.19 (TCP payload after headers is at most ~0.96 of the rate).
  burst=$(( rate_bits / 8 / 1000 ))
  (( burst >= 131072 )) || burst=131072
fi
[ "$(id -u)" = 0 ] || { echo "launch/local-cluster.sh: needs root (ip netns)" >&2; exit 2; }
command -v ip >/dev/null || { echo "launch/local-cluster.sh: 'ip' not found; install iproute2" >&2; exit 2; }
[ -z "$rate" ] || command -v tc >/dev/null || { echo "launch/local-cluster.sh: LINK_RATE needs 'tc'; install iproute2" >&2; exit 2; }
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
  if [ -n "$rate" ]; then
    # latency 50ms: the queue holds 50 ms of data before tbf drops (deep enough for TCP at full rate).
    tc -n "$ns" qdisc add dev "${prefix}v$i" root tbf rate "$rate" burst "$burst" latency 50ms
    tc qdisc add dev "${prefix}p$i" root tbf rate "$rate" burst "$burst" latency 50ms
  fi
  echo "${subnet}$i $ns" >> /etc/hosts
  echo "$ns slots=1" >> "$work/hosts"
done

sent() { ip netns exec "${prefix}h$1" cat "/sys/class/net/${prefix}v$1/statistics/tx_bytes"; }
declare -a before
for i in $(seq 1 "$hosts"); do before[$i]=$(sent "$i"); done

# --bind-to none: each "host" would bind its rank to its first core, which is the same core of
# this machine for every host (all ranks then share core 0 and a small message waited ~0.35 ms
# for the other rank's time slice).
args=(--hostfile "$work/hosts" -np "$hosts" --mca plm_rsh_agent "$work/rsh" --bind-to none
      --mca btl tcp,self --mca btl_tcp_if_include "${subnet}0/24" --mca oob_tcp_if_include "${subnet}0/24"
      -x OPENBLAS_NUM_THREADS="${BLAS_THREADS:-1}")
[ -n "${SPECTRAIN_PERTURB_REPLICA:-}" ] && args+=(-x SPECTRAIN_PERTURB_REPLICA)
# More hosts than this machine's cores: ranks that wait yield the core, as OpenMPI does on an
# oversubscribed node (each "host" cannot see that; spinning, 3 ranks on 2 cores took 0.5 ms for
# an 8-byte allreduce, 0.14 ms yielding).
(( hosts <= $(nproc) )) || args+=(--mca mpi_yield_when_idle 1)
[ "$(id -u)" = 0 ] && args+=(--allow-run-as-root)
status=0
( cd "$PWD" && mpirun "${args[@]}" "$bin" "$@" ) || status=$?

if [ -n "${TRAFFIC:-}" ]; then
  for i in $(seq 1 "$hosts"); do
    echo "host $i sent $(( $(sent "$i") - before[$i] )) bytes"
  done
fi
exit $status
