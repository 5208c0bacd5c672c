#!/usr/bin/env bash
# Judge SFT (recipes/reward_model_sft) on Slurm: torchrun on every node through srun, DeepSpeed ZeRO from the config.
#   sbatch slurm/train_judge.sh data.root=data/judge model.path=/models/Qwen3-VL-8B-Instruct
#   sbatch --nodes=2 slurm/train_judge.sh data.root=data/judge zero=zero3
# Every argument is a Hydra override for recipes/reward_model_sft/main.py (hydra_configs/reward_model_sft/sft.yaml).
#SBATCH --job-name=judge-sft
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=64
#SBATCH --output=logs/%x-%j.out
set -euo pipefail

# sbatch copies this script to a spool folder: find the repository from where the job was submitted.
REPO=${REPO:-${SLURM_SUBMIT_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}}
[ -f "$REPO/recipes/reward_model_sft/main.py" ] || { echo "REPO=$REPO is not the repository root" >&2; exit 2; }
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
cd "$REPO"
mkdir -p logs

mapfile -t NODES < <(scontrol show hostnames "$SLURM_JOB_NODELIST")
HEAD=${NODES[0]}
if [ -n "${NETWORK_INTERFACE:-}" ]; then
  HEAD_IP=$(srun --nodes=1 --ntasks=1 -w "$HEAD" ip -4 -o addr show dev "$NETWORK_INTERFACE" | awk '{print $4}' | cut -d/ -f1)
else
  HEAD_IP=$(srun --nodes=1 --ntasks=1 -w "$HEAD" hostname --ip-address | awk '{print $1}')
fi
# a rendezvous port of its own per job, so two jobs sharing a head node never collide
PORT=${MASTER_PORT:-$((20000 + ${SLURM_JOB_ID:-0} % 20000))}
GPUS=${SLURM_GPUS_PER_NODE:-8}
GPUS=${GPUS##*:}   # "h100:8" → 8
export WANDB_MODE=${WANDB_MODE:-online} OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}
export JUDGE_OUTPUT_DIR=${JUDGE_OUTPUT_DIR:-checkpoints/judge_sft/${SLURM_JOB_ID:-local}}

echo "judge SFT: ${#NODES[@]} nodes x $GPUS GPUs, rendezvous $HEAD_IP:$PORT, output $JUDGE_OUTPUT_DIR"
srun --nodes="${#NODES[@]}" --ntasks-per-node=1 --kill-on-bad-exit=1 \
  "$PYTHON" -m torch.distributed.run --nnodes="${#NODES[@]}" --nproc_per_node="$GPUS" \
  --rdzv_id="${SLURM_JOB_ID:-0}" --rdzv_backend=c10d --rdzv_endpoint="$HEAD_IP:$PORT" \
  -m recipes.reward_model_sft.main "$@"
