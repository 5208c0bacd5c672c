#!/usr/bin/env bash
# Multi-node GRPO with the Visual-ERM reward: Ray on Slurm, then the recipe on the head node.
#   sbatch slurm/launch.sh experiment=chart2code_verm
#   sbatch --nodes=5 slurm/launch.sh experiment=table2md_teds trainer.total_epochs=2
# Every argument is a Hydra override for recipes/visual_erm/main.py (see hydra_configs/).
#SBATCH --job-name=visual-erm-rl
#SBATCH --nodes=5
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=64
#SBATCH --output=logs/%x-%j.out
set -euo pipefail

REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
RAY=${RAY:-$REPO/.venv/bin/ray}
PORT=${RAY_PORT:-6379}
cd "$REPO"
mkdir -p logs

mapfile -t NODES < <(scontrol show hostnames "$SLURM_JOB_NODELIST")   # one element per node
HEAD=${NODES[0]}
if [ -n "${RAY_NETWORK_INTERFACE:-}" ]; then
  HEAD_IP=$(srun --nodes=1 --ntasks=1 -w "$HEAD" ip -4 -o addr show dev "$RAY_NETWORK_INTERFACE" | awk '{print $4}' | cut -d/ -f1)
else
  HEAD_IP=$(srun --nodes=1 --ntasks=1 -w "$HEAD" hostname --ip-address | awk '{print $1}')
fi
export RAY_ADDRESS="$HEAD_IP:$PORT" VERL_USE_UV=0 WANDB_MODE=${WANDB_MODE:-online}
GPUS=${SLURM_GPUS_PER_NODE:-8}
CPUS=${SLURM_CPUS_PER_TASK:-64}

echo "head $HEAD ($HEAD_IP), ${#NODES[@]} nodes x $GPUS GPUs"
srun --nodes=1 --ntasks=1 -w "$HEAD" "$RAY" start --head --node-ip-address="$HEAD_IP" --port="$PORT" \
  --num-cpus="$CPUS" --num-gpus="$GPUS" --include-dashboard=false --block &
sleep 15
for node in "${NODES[@]:1}"; do
  srun --nodes=1 --ntasks=1 -w "$node" "$RAY" start --address="$RAY_ADDRESS" \
    --num-cpus="$CPUS" --num-gpus="$GPUS" --block &
done
sleep 15

# The recipe checks that trainer GPUs + reward-pool GPUs fit the cluster (verl's own check too).
srun --overlap --nodes=1 --ntasks=1 -w "$HEAD" "$PYTHON" -m recipes.visual_erm.main \
  ray_kwargs.ray_init.num_cpus="$CPUS" "$@"
