#!/usr/bin/env bash
# spectrain es (method "cma": CMA-ES whose covariance moves by a matmul-only spectral step) against
# pycma, like with like: the same functions, dimensions, seeds, start (3 in every coordinate; 0 for
# Rosenbrock), initial step size 1, population 4 + floor(3 ln n) (pycma's default), target
# f(mean) < 1e-10 and budget; pycma's own termination tolerances are switched off and it is driven
# by hand (ask, tell, f(mean)), so both stop on the same test. Runs are interleaved per seed
# (pycma, then spectrain) so the machine's noise hits both alike.
#
# Prints (1) a Markdown table of successes and median evaluations to the target per function and
# dimension (sphere, ellipsoid with condition 1e6 and Rosenbrock, all rotated) with the ratio
# spectrain/pycma, and (2) unless --no-timing, the time per iteration on the sphere at n = 200, 500,
# 1000 with one BLAS thread on both sides (median of 3 interleaved repeats, each >= 2 s).
# Raw per-run results go as JSON lines to --out.
#
#   launch/bench-es-pycma.sh [--seeds "1 2 ..."] [--rosenbrock-40] [--no-timing] [--quick]
#                            [--out FILE] [--budget N] [--spectrain-legacy]
#   launch/bench-es-pycma.sh --quick          # smoke test: seeds 1 2, n = 10, no timing
#
# Needs python3 with venv and network access to PyPI on the first run: the venv with cma and numpy
# is made in ${TMPDIR:-/tmp}/spectrain-pycma-venv and reused afterwards (PYCMA_VENV overrides).
# Uses $SPECTRAIN (default /tmp/spectrain-es); build one with swift build -c release if needed.
# Options are passed on to launch/es_pycma.py; see its --help.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${SPECTRAIN:-/tmp/spectrain-es}
venv=${PYCMA_VENV:-${TMPDIR:-/tmp}/spectrain-pycma-venv}
for arg in "$@"; do
  case $arg in
    -h|--help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
      [ -x "$venv/bin/python" ] && { echo; "$venv/bin/python" "$here/es_pycma.py" --help; }
      exit 0 ;;
  esac
done
[ -x "$bin" ] || { echo "bench-es-pycma: spectrain binary $bin not found or not executable (set SPECTRAIN, or build with swift build -c release)" >&2; exit 2; }
command -v python3 > /dev/null || { echo "bench-es-pycma: python3 not found" >&2; exit 2; }
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import cma, numpy' 2> /dev/null; then
  echo "bench-es-pycma: making the venv $venv (pip install cma numpy)" >&2
  python3 -m venv "$venv" || { echo "bench-es-pycma: python3 -m venv failed (install python3-venv?)" >&2; exit 2; }
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check cma numpy >&2 \
    || { echo "bench-es-pycma: pip install cma numpy failed (network to PyPI?)" >&2; exit 2; }
fi
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -n) ($(uname -sm), $(nproc 2> /dev/null || echo '?') cores, load $(cut -d' ' -f1-3 /proc/loadavg 2> /dev/null || echo '?')), commit $(git -C "$here/.." rev-parse --short HEAD 2> /dev/null || echo unknown)$(git -C "$here/.." diff --quiet HEAD 2> /dev/null || echo ' (+ uncommitted changes)')"
echo "# spectrain: $bin ($("$bin" --version 2> /dev/null || echo 'version unknown'), built $(date -u -r "$bin" '+%Y-%m-%d %H:%M UTC' 2> /dev/null || echo '?'))"
# One BLAS thread for numpy (pycma's linear algebra), set before numpy loads; spectrain gets
# --blas-threads 1 from the driver.
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
exec "$venv/bin/python" "$here/es_pycma.py" --spectrain "$bin" "$@"
