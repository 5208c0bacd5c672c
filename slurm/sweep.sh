#!/usr/bin/env bash
# An ablation: one Slurm job per (reward arm, seed), all in one wandb group (the sweep id), runs named
# <task>__<arm>__<model>__s<seed> (as the presets). The arms pick their own judge (recipes/visual_erm/README.md).
# <task>: chart2code, table2md or svg2code (each job starts from experiment=<task>_verm, then verm/reward=<arm>).
#   bash slurm/sweep.sh table2md verm verm_no_rsr dino teds render_only
#   SEEDS="0 1 2" SWEEP_ID=table-arms-v1 bash slurm/sweep.sh chart2code verm structural ssim -- verm/cluster=2node
# Then: verm-rl compare --project visual-erm-rl --group <sweep id> --out compare/<sweep id>
set -euo pipefail
task=$1; shift
arms=(); extra=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; extra=("$@"); break; fi
  arms+=("$1"); shift
done
[ ${#arms[@]} -gt 0 ] || { echo "usage: sweep.sh <task> <arm>... [-- hydra overrides]" >&2; exit 2; }
SEEDS=${SEEDS:-0}
SWEEP_ID=${SWEEP_ID:-${task}-$(date -u +%Y%m%d-%H%M%S)}
DRY=${DRY_RUN:-0}
echo "sweep $SWEEP_ID: task $task, arms ${arms[*]}, seeds $SEEDS"
cd "$(dirname "$0")/.."  # submit from the checkout: launch.sh finds it as $SLURM_SUBMIT_DIR
PYTHON=${PYTHON:-.venv/bin/python}
for arm in "${arms[@]}"; do
  # the allocation the arm's cluster preset needs (as slurm/submit.sh), e.g. --nodes=5 --gpus-per-node=8
  shape=$(PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m recipes.visual_erm.plan --sbatch-args \
          experiment="${task}_verm" verm/reward="$arm" "${extra[@]}")
  read -r -a SHAPE <<<"$shape"
  for seed in $SEEDS; do
    cmd=(sbatch "${SHAPE[@]}" --job-name="verm-${task}-${arm}-s${seed}" --export="ALL,VERM_SWEEP_ID=${SWEEP_ID}"
         slurm/launch.sh experiment="${task}_verm" verm/reward="$arm" verm.run.seed="$seed"
         verm.run.group="$SWEEP_ID" "${extra[@]}")
    if [ "$DRY" = 1 ]; then echo "${cmd[*]}"; else "${cmd[@]}"; fi
  done
done
