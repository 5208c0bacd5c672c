#!/usr/bin/env bash
# Creates .venv in the repo root with the CPU torch pair, verl 0.9.1 and this package.
# Idempotent: re-running only installs what is missing. Apt packages (Chromium, fonts) when root.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && ! command -v chromium >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q chromium fonts-liberation >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
PIP=".venv/bin/pip"
stamp=".venv/.verm_rl_installed"
if [ ! -f "$stamp" ] || [ setup.py -nt "$stamp" ]; then
  # torch/torchvision first: the pair lies on local disk; any other spec pulls a CUDA build.
  quiet() { grep -v "is ignored: it is neither a file nor a directory" || true; }
  $PIP install -q "torch==2.14.1" "torchvision==0.29.1" 2>&1 | quiet
  $PIP install -q -e ".[train,dev]" "torch==2.14.1" "torchvision==0.29.1" "packaging<26" 2>&1 | quiet
  touch "$stamp"
else
  $PIP install -q --no-deps -e . >/dev/null
fi
