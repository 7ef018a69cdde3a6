#!/usr/bin/env bash
# Sets up a Python venv with PyTorch, numpy and safetensors for the scripts that compare spectrain
# with PyTorch (launch/bench-shakespeare.sh, Examples/pytorch-checkpoint). PyTorch is never a
# dependency of spectrain itself; it lives in this venv only.
#
#   launch/torch-venv.sh VENV_DIR [auto|pypi|/path/to/torch.whl]      (default auto)
#
# auto installs a CPU-only torch wheel when pip's find-links offer one (this project's machines
# have /opt/wheels/torch-*+cpu-*.whl: 1 GB installed, 40 s), else torch from PyPI, whose Linux
# wheel is the CUDA build (5.4 GB installed with its nvidia-* packages, 85 s; it runs on the CPU all
# the same); pypi forces PyPI; a path installs that wheel. A venv whose torch already imports is
# reused, and numpy or safetensors added to it when missing.
#
# Prints one line on stdout, what it did ("reused VENV_DIR" or "installed ... in N s, SIZE on
# disk"); progress goes to stderr and pip's output to TORCH_VENV_LOG (default VENV_DIR/pip.log).
# Exits 2 with a one-line message when the venv cannot be set up.
set -euo pipefail

fail() { echo "torch-venv: $*" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] && [ -n "$1" ] || fail "usage: launch/torch-venv.sh VENV_DIR [auto|pypi|/path/to/torch.whl]"
venv=$1
source=${2:-auto}
case $source in
  auto|pypi) ;;
  *.whl) [ -f "$source" ] || fail "$source: no such wheel" ;;
  *) fail "torch source '$source' is not auto, pypi or a path to a .whl" ;;
esac
command -v python3 >/dev/null || fail "needs python3 (with venv and pip: Debian's python3-venv)"
python=$venv/bin/python
log=${TORCH_VENV_LOG:-$venv/pip.log}
pip=("$python" -m pip install --disable-pip-version-check)

if "$python" -c 'import torch' >/dev/null 2>&1; then
  missing=$("$python" -c '
import importlib.util
print(" ".join(name for name in ("numpy", "safetensors") if importlib.util.find_spec(name) is None))')
  if [ -n "$missing" ]; then
    echo "adding $missing to $venv (log in $log)" >&2
    "${pip[@]}" $missing >> "$log" 2>&1 || fail "pip could not install $missing into $venv (see $log)"
  fi
  echo "reused $venv${missing:+ (added $missing)}"
  exit 0
fi

python3 -m venv "$venv" || fail "$venv: python3 -m venv failed (install Debian's python3-venv)"
echo "setting up $venv (PyTorch, numpy, safetensors; log in $log)" >&2
started=$(date +%s)
wheel=
case $source in
  auto)
    tag=$("$python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
    folders="${PIP_FIND_LINKS:-} $("$python" -m pip config get global.find-links 2>/dev/null || true) /opt/wheels"
    for folder in $folders; do
      candidate=$(ls "$folder"/torch-*+cpu-"$tag"-*-manylinux*_x86_64.whl 2>/dev/null | sort -V | tail -n 1 || true)
      if [ -n "$candidate" ] && [ "$(uname -m)" = x86_64 ]; then wheel=$candidate; break; fi
    done ;;
  *.whl) wheel=$source ;;
esac
if [ -n "$wheel" ]; then
  what="CPU wheel $(basename "$wheel") + numpy, safetensors from PyPI"
  "${pip[@]}" "$wheel" numpy safetensors > "$log" 2>&1 \
    || fail "pip could not install $wheel, numpy and safetensors (see $log)"
else
  what="torch + numpy, safetensors from PyPI (the CUDA build and its nvidia-* packages)"
  "${pip[@]}" --index-url https://pypi.org/simple torch numpy safetensors > "$log" 2>&1 \
    || fail "pip could not install torch, numpy and safetensors from PyPI (see $log)"
fi
"$python" -c 'import torch, numpy, safetensors' 2>> "$log" || fail "$venv: torch does not import after the install (see $log)"
echo "installed $what into $venv in $(( $(date +%s) - started )) s, $(du -sh "$venv" | cut -f1) on disk"
