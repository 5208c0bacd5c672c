#!/usr/bin/env bash
# Submit slurm/launch.sh with the allocation the chosen cluster preset needs (verm.cluster.nodes/gpus_per_node),
# so --nodes never has to be kept in step with the preset by hand.
#   slurm/submit.sh experiment=chart2code_verm                       # 4node preset -> sbatch --nodes=5 --gpus-per-node=8
#   SBATCH_ARGS="--time=48:00:00 --partition=gpu" slurm/submit.sh experiment=table2md_verm verm/cluster=2node
set -euo pipefail
cd "$(dirname "$0")/.."  # submit from the checkout: launch.sh finds it as $SLURM_SUBMIT_DIR
PYTHON=${PYTHON:-.venv/bin/python}
shape=$(PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -m recipes.visual_erm.plan --sbatch-args "$@")
read -r -a SHAPE <<<"$shape"
read -r -a EXTRA <<<"${SBATCH_ARGS:-}"
echo "sbatch ${SHAPE[*]} ${EXTRA[*]} slurm/launch.sh $*"
exec sbatch "${SHAPE[@]}" "${EXTRA[@]}" slurm/launch.sh "$@"
