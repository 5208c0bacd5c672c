#!/usr/bin/env bash
# Multi-node GRPO with the Visual-ERM reward: a Ray cluster over the Slurm allocation, the placement preflight,
# then the recipe on the head node. Every argument is a Hydra override for recipes/visual_erm/main.py.
#
#   sbatch --nodes=2 --gpus-per-node=8 slurm/launch.sh experiment=chart2code_verm verm/cluster=2node
#   slurm/submit.sh experiment=chart2code_verm                # same, --nodes/--gpus-per-node read from the preset
#   PLAN_ONLY=1 sbatch --nodes=2 slurm/launch.sh ...          # bring Ray up, print the plan, stop
#   DRY_RUN=1 SLURM_JOB_ID=1 SLURM_JOB_NODELIST=n[1-2] bash slurm/launch.sh ...   # print every node's command
#
# Submit from the repository root (a shared filesystem every node reads): Slurm runs a copy of this script from
# its spool directory, so the checkout is $SLURM_SUBMIT_DIR (or REPO=...). The log goes to
# <submit dir>/visual-erm-rl-<jobid>.out; for a logs/ folder: mkdir -p logs && sbatch -o logs/%x-%j.out ...
#
# Environment knobs (all optional):
#   REPO          checkout to run (default $SLURM_SUBMIT_DIR)       PYTHON / RAY   interpreter / ray CLI
#   SRUN_PREFIX   command put before every per-node command, for containers, e.g.
#                 SRUN_PREFIX="apptainer exec --nv --bind $PWD image.sif"  (the checkout and .venv inside)
#   JOB_DIR       per-job state (Ray token, ports), default $REPO/outputs/slurm/$SLURM_JOB_ID
#   RAY_WAIT_TIMEOUT  seconds to wait for every node and GPU to join (600); RAY_HEAD_TIMEOUT for the head alone
#   RAY_PORT_OFFSET   shifts this job's port block (when two jobs on a shared node still collide)
#   RAY_NETWORK_INTERFACE  interface whose address the head advertises (default: hostname --ip-address)
#   PLAN_ONLY=1   stop after the preflight;  DRY_RUN=1  print the commands, start nothing
#
# Ray token authentication (Ray 2.60 turns it on for `ray start --head`): this script chooses token mode for
# every process (RAY_AUTH_MODE=token), writes a fresh random token to $JOB_DIR/ray_auth_token (mode 600, on the
# shared filesystem) and points head, workers and driver at it with RAY_AUTH_TOKEN_PATH. The token never appears
# on a command line or in the environment (ps shows both to other users); ~/.ray/auth_token is not touched.
#
# Whole nodes (--exclusive, --mem=0): each Ray node's step gets every CPU of its node (--cpus-per-task, else Slurm
# binds the step and all of Ray's workers to 1 CPU); Ray then reserves CPUs and GPUs itself.
#
# Ports: one block per job, derived from SLURM_JOB_ID, so two jobs on shared nodes do not collide:
#   GCS, dashboard, Ray client server        block = 20000 + 50*((JOB_ID + RAY_PORT_OFFSET) % 200), + 0..2
#   per node i: node manager, object manager, dashboard agent (listen, gRPC), runtime-env agent, metrics
#                                             block + 8 + 6*(i % 7) + 0..5 (distinct even when nodes share a host)
#   worker processes                          10000 + 500*((JOB_ID + RAY_PORT_OFFSET) % 20) .. +499
#SBATCH --job-name=visual-erm-rl
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --exclusive
#SBATCH --mem=0
#SBATCH --output=%x-%j.out
set -euo pipefail

die() { echo "launch.sh: $*" >&2; exit 1; }

JOB_ID=${SLURM_JOB_ID:?launch.sh runs inside a Slurm job: sbatch slurm/launch.sh ... (or DRY_RUN=1 SLURM_JOB_ID=...)}
REPO=${REPO:-${SLURM_SUBMIT_DIR:-$PWD}}
[ -f "$REPO/recipes/visual_erm/main.py" ] || die "REPO=$REPO is not this repository: submit from the checkout's root or set REPO"
cd "$REPO"
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
RAY=${RAY:-$REPO/.venv/bin/ray}
SRUN_PREFIX=${SRUN_PREFIX:-}
JOB_DIR=${JOB_DIR:-$REPO/outputs/slurm/$JOB_ID}
WAIT_TIMEOUT=${RAY_WAIT_TIMEOUT:-600}
HEAD_TIMEOUT=${RAY_HEAD_TIMEOUT:-$WAIT_TIMEOUT}
DRY_RUN=${DRY_RUN:-0}
PLAN_ONLY=${PLAN_ONLY:-0}
read -r -a PREFIX <<<"$SRUN_PREFIX"

# --- the allocation -------------------------------------------------------------------------------------------
mapfile -t NODES < <(scontrol show hostnames "${SLURM_JOB_NODELIST:?no SLURM_JOB_NODELIST}")
N=${#NODES[@]}
[ "$N" -ge 1 ] || die "empty node list: $SLURM_JOB_NODELIST"
HEAD=${NODES[0]}
gpus=${SLURM_GPUS_PER_NODE:-${SLURM_GPUS_ON_NODE:-0}}
GPUS=${gpus##*:}   # "h100:8" -> 8
CPUS=${SLURM_CPUS_ON_NODE:-$(nproc)}
[[ "$GPUS" =~ ^[0-9]+$ ]] || die "cannot read GPUs per node from SLURM_GPUS_PER_NODE=$gpus (use --gpus-per-node=N)"

# --- job-unique ports -----------------------------------------------------------------------------------------
SLOT=$(( (JOB_ID + ${RAY_PORT_OFFSET:-0}) ))
BLOCK=$(( 20000 + 50 * (SLOT % 200) ))
GCS_PORT=$BLOCK DASHBOARD_PORT=$((BLOCK + 1)) CLIENT_PORT=$((BLOCK + 2))
MIN_WORKER_PORT=$(( 10000 + 500 * (SLOT % 20) ))
MAX_WORKER_PORT=$(( MIN_WORKER_PORT + 499 ))

node_ports() {  # node index -> the ray start options of that node's own ports
  local p=$(( BLOCK + 8 + 6 * ($1 % 7) ))
  echo "--node-manager-port=$p --object-manager-port=$((p + 1)) --dashboard-agent-listen-port=$((p + 2))" \
       "--dashboard-agent-grpc-port=$((p + 3)) --runtime-env-agent-port=$((p + 4)) --metrics-export-port=$((p + 5))" \
       "--min-worker-port=$MIN_WORKER_PORT --max-worker-port=$MAX_WORKER_PORT"
}

# --- head address ---------------------------------------------------------------------------------------------
if [ "$DRY_RUN" = 1 ]; then
  HEAD_IP="<ip of $HEAD>"
elif [ -n "${RAY_NETWORK_INTERFACE:-}" ]; then
  HEAD_IP=$(srun --overlap --nodes=1 --ntasks=1 -w "$HEAD" ip -4 -o addr show dev "$RAY_NETWORK_INTERFACE" \
            | awk '{print $4}' | cut -d/ -f1 | head -1)
else
  HEAD_IP=$(srun --overlap --nodes=1 --ntasks=1 -w "$HEAD" bash -c 'hostname --ip-address 2>/dev/null || hostname -I' \
            | awk '{print $1}')
fi
[ -n "$HEAD_IP" ] || die "could not find the address of the head node $HEAD"
export RAY_ADDRESS="$HEAD_IP:$GCS_PORT"

# --- token authentication, the same for head, workers and the driver ------------------------------------------
export RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH="$JOB_DIR/ray_auth_token"
export RAY_USAGE_STATS_ENABLED=${RAY_USAGE_STATS_ENABLED:-0} VERL_USE_UV=0 WANDB_MODE=${WANDB_MODE:-online}
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"  # every process on every node runs the submitted checkout
unset RAY_AUTH_TOKEN  # a stale value would win over the file

# --- per-node commands ----------------------------------------------------------------------------------------
ray_start_cmd() {  # node index -> the command run on that node (blocks until stopped)
  local i=$1 node=${NODES[$1]}
  local common="--num-cpus=$CPUS --num-gpus=$GPUS --labels=verm-slurm-node=$node --block $(node_ports "$i")"
  if [ "$i" = 0 ]; then
    echo "$RAY start --head --node-ip-address=$HEAD_IP --port=$GCS_PORT --dashboard-port=$DASHBOARD_PORT" \
         "--ray-client-server-port=$CLIENT_PORT --include-dashboard=false --temp-dir=/tmp/ray-$JOB_ID $common"
  else
    echo "$RAY start --address=$RAY_ADDRESS $common"
  fi
}
WAIT_CMD=("$PYTHON" -m recipes.visual_erm.cluster_wait --address "$RAY_ADDRESS" --timeout "$WAIT_TIMEOUT"
          --gpus-per-node "$GPUS" --nodes "$(IFS=,; echo "${NODES[*]}")")
HEAD_WAIT=("$PYTHON" -m recipes.visual_erm.cluster_wait --address "$RAY_ADDRESS" --timeout "$HEAD_TIMEOUT"
           --gpus-per-node "$GPUS" --nodes "$HEAD")
PLAN_CMD=("$PYTHON" -m recipes.visual_erm.plan --expect-nodes "$N" --expect-gpus-per-node "$GPUS" "$@")
RECIPE_CMD=("$PYTHON" -m recipes.visual_erm.main "$@")  # no ray_init.num_cpus: ray.init(address=...) rejects it
on_head() { srun --overlap --nodes=1 --ntasks=1 -w "$HEAD" "${PREFIX[@]}" "$@"; }

echo "job $JOB_ID: $N node(s) x $GPUS GPUs, $CPUS CPUs; head $HEAD ($RAY_ADDRESS); worker ports" \
     "$MIN_WORKER_PORT-$MAX_WORKER_PORT; job dir $JOB_DIR"
if [ "$DRY_RUN" = 1 ]; then
  for i in "${!NODES[@]}"; do
    echo "[node ${NODES[$i]}] srun --overlap --nodes=1 --ntasks=1 --cpus-per-task=$CPUS -w ${NODES[$i]}" \
         "${SRUN_PREFIX:+$SRUN_PREFIX }$(ray_start_cmd "$i")"
  done
  echo "[wait] ${HEAD_WAIT[*]}   (the head first; then the other nodes start)"
  echo "[wait] ${WAIT_CMD[*]}"
  echo "[plan] ${PLAN_CMD[*]}"
  [ "$PLAN_ONLY" = 1 ] || echo "[train] ${RECIPE_CMD[*]}"
  exit 0
fi

mkdir -p "$JOB_DIR"
(umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$RAY_AUTH_TOKEN_PATH")  # 256 random bits, hex
printf 'RAY_ADDRESS=%s\nMIN_WORKER_PORT=%s\nMAX_WORKER_PORT=%s\n' "$RAY_ADDRESS" "$MIN_WORKER_PORT" \
  "$MAX_WORKER_PORT" >"$JOB_DIR/ray.env"

# --- teardown on every exit: SIGTERM each node's `ray start --block` step (it stops that node's Ray processes;
# `ray stop` would also kill other jobs' Ray of the same user on a shared node), then SIGKILL what is left.
STEP_PIDS=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "${#STEP_PIDS[@]}" -gt 0 ]; then
    echo "stopping Ray on $N node(s)"
    kill -TERM "${STEP_PIDS[@]}" 2>/dev/null || true
    for _ in $(seq 1 30); do
      local alive=0
      for pid in "${STEP_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
      [ "$alive" = 0 ] && break
      sleep 1
    done
    kill -KILL "${STEP_PIDS[@]}" 2>/dev/null || true
    wait "${STEP_PIDS[@]}" 2>/dev/null || true
  fi
  rm -f "$RAY_AUTH_TOKEN_PATH"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' INT TERM

STEP_NODES=()
start_node() {
  local CMD
  read -r -a CMD <<<"$(ray_start_cmd "$1")"
  srun --overlap --nodes=1 --ntasks=1 --cpus-per-task="$CPUS" -w "${NODES[$1]}" "${PREFIX[@]}" "${CMD[@]}" \
    > >(sed -u "s/^/[ray ${NODES[$1]}] /") 2>&1 &
  STEP_PIDS+=($!)
  STEP_NODES+=("${NODES[$1]}")
}
wait_watching() {  # run a wait command; fail at once when a node's `ray start --block` step exits meanwhile
  on_head "$@" &
  local wpid=$! j
  while kill -0 "$wpid" 2>/dev/null; do
    for j in "${!STEP_PIDS[@]}"; do
      if ! kill -0 "${STEP_PIDS[$j]}" 2>/dev/null; then
        kill "$wpid" 2>/dev/null || true
        die "ray start on ${STEP_NODES[$j]} exited (its output above, lines [ray ${STEP_NODES[$j]}]); stopping"
      fi
    done
    sleep 1
  done
  wait "$wpid"
}
# The head first, and only once it is registered the others (a worker started earlier gives up at once).
start_node 0
wait_watching "${HEAD_WAIT[@]}" || die "the Ray head did not start on $HEAD; stopping"
for i in "${!NODES[@]}"; do
  [ "$i" = 0 ] || start_node "$i"
done
wait_watching "${WAIT_CMD[@]}" || die "not every node joined the Ray cluster (above: which ones); stopping"
on_head "${PLAN_CMD[@]}" || die "the placement preflight failed (above: what is short); nothing was trained"
if [ "$PLAN_ONLY" = 1 ]; then
  echo "PLAN_ONLY=1: stopping after the preflight"
  exit 0
fi
on_head "${RECIPE_CMD[@]}"
