#!/usr/bin/env bash
# Creates .venv in the repo root with the CPU torch pair, verl 0.9.1 and this package.
# Idempotent: re-running only installs what is missing. Apt packages (Chromium, fonts) when root.
#   bash scripts/setup_env.sh          # CPU (make setup / run / test)
#   bash scripts/setup_env.sh --gpu    # GPU node (make setup-gpu): pinned CUDA set of requirements/gpu.lock
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=cpu
[ "${1:-}" = "--gpu" ] && MODE=gpu

if [ "$(id -u)" = 0 ] && ! command -v chromium >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q chromium fonts-liberation >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
PIP=".venv/bin/pip"

if [ "$MODE" = gpu ]; then
  # The GPU set: verl 0.9.1's vllm extra (CUDA torch 2.11.0, vLLM 0.24.0, transformers 5.9.0) and everything
  # they pull, pinned by requirements/gpu.lock (resolved by pip: requirements/gpu-resolve-report.json.gz).
  stamp=".venv/.verm_rl_gpu_installed"
  if [ ! -f "$stamp" ] || [ requirements/gpu.lock -nt "$stamp" ] || [ setup.py -nt "$stamp" ]; then
    $PIP install -c requirements/gpu.lock -r requirements/gpu.in -e ".[train,dev]"
    # Source builds against the torch just installed (their build imports torch): needs nvcc (CUDA 13) on PATH.
    MAX_JOBS=${MAX_JOBS:-8} $PIP install -c requirements/gpu.lock --no-build-isolation "flash-attn==2.8.3" \
      "deepspeed==0.19.8"
    touch "$stamp"
  fi
  # Table renders need Chromium. Cluster users are not root: Playwright downloads its own build into
  # ~/.cache/ms-playwright (shared home: once for every node); verm_rl.render.table finds it there.
  if ! command -v chromium >/dev/null 2>&1; then
    .venv/bin/playwright install chromium
  fi
  exit 0
fi

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
