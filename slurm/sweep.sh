#!/usr/bin/env bash
# Submit one job per reward arm of an ablation (same task, model, seed; runs named <task>_<reward>).
#   bash slurm/sweep.sh table2md verm dino teds render_only
set -euo pipefail
task=$1; shift
for reward in "$@"; do
  sbatch --job-name="verm-${task}-${reward}" "$(dirname "$0")/launch.sh" \
    experiment="${task}_verm" verm/reward="$reward" trainer.experiment_name="${task}__${reward}"
done
