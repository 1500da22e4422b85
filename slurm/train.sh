#!/usr/bin/env bash
# Data-parallel MusicVAE training under SLURM, one task per GPU, across nodes; checkpointed and
# requeued when preempted or near its time limit, and resumed on restart.      sbatch slurm/train.sh
#
# Change the #SBATCH lines for your cluster, or override any of them on the command line:
#   sbatch --nodes=4 --partition=gpu slurm/train.sh
# and the settings below from the environment (sbatch passes it on):
#   DATA=shards4 PRESET=hierdec-drums_4bar RUN=runs/h4 sbatch slurm/train.sh
# What the tests prove, and a real cluster's checklist: docs/distributed.md.
#SBATCH --job-name=musicvae
#SBATCH --nodes=2
#SBATCH --gpus-per-node=8
#SBATCH --ntasks-per-node=8          # one task per GPU
#SBATCH --cpus-per-task=8
#SBATCH --time=24:00:00
#SBATCH --signal=B:USR1@180          # to this script 3 minutes before the limit; it tells the ranks
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=%x-%j.out
##SBATCH --partition=gpu
##SBATCH --account=myproject
set -euo pipefail

DATA=${DATA:-shards16}                       # shard folder written by preprocess
RUN=${RUN:-runs/hierdec-16bar}               # run folder: checkpoints, metrics; resumed when it has a checkpoint
PRESET=${PRESET:-hierdec-drums_16bar}
EXTRA=${EXTRA:---batch 64 --steps 100000}    # any other train options
TRAIN=${TRAIN:-$SLURM_SUBMIT_DIR/build/bin/train}
LAUNCHER=${LAUNCHER:-srun}                   # srun, or mpirun inside the allocation
SRUN_MPI=${SRUN_MPI:-pmix}                   # srun's PMI plugin: the one your MPI was built with (srun --mpi=list)
MAX_REQUEUES=${MAX_REQUEUES:-50}             # preempted more often than this: stop requeueing, say so

export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
export SRUN_CPUS_PER_TASK=${SLURM_CPUS_PER_TASK:-1}  # srun >= 22.05 does not inherit --cpus-per-task
export HDF5_USE_FILE_LOCKING=FALSE           # read-only shards on Lustre/NFS
# NCCL troubleshooting (uncomment one at a time):
# export NCCL_DEBUG=INFO                     # topology, transports, rings
# export NCCL_DEBUG_SUBSYS=INIT,NET
# export NCCL_IB_DISABLE=1                   # rule out InfiniBand
# export NCCL_P2P_DISABLE=1                  # rule out PCIe peer-to-peer (ACS/IOMMU problems)
# export NCCL_SOCKET_IFNAME=ib0              # the interface NCCL bootstraps on

echo "job $SLURM_JOB_ID on $SLURM_JOB_NUM_NODES node(s): $SLURM_JOB_NODELIST, restart ${SLURM_RESTART_COUNT:-0}, launcher $LAUNCHER"
tasks_per_node=${SLURM_NTASKS_PER_NODE:-$SLURM_NTASKS}
gpus_per_node=${SLURM_GPUS_ON_NODE:-0}
if [ "$gpus_per_node" -gt 0 ] && [ "$tasks_per_node" != "$gpus_per_node" ]; then
  echo "error: $tasks_per_node task(s) per node for $gpus_per_node GPU(s) per node; train runs one rank per GPU:" \
       "submit with --ntasks-per-node=$gpus_per_node" >&2
  exit 2
fi
[ -x "$TRAIN" ] || { echo "error: TRAIN=$TRAIN is not an executable (build the project, or set TRAIN)" >&2; exit 2; }

# Always --resume: train finds the newest verified checkpoint itself (the `latest` link is only a
# hint and may be lost), and starts from step 0 when the run has none yet.
CMD=("$TRAIN" --data "$DATA" --run "$RUN" --preset "$PRESET" $EXTRA --resume)
if [ "$LAUNCHER" = srun ]; then
  # --kill-on-bad-exit: one failed task ends the step instead of leaving the others in a collective.
  # train refuses to start when the PMI is wrong (N one-rank worlds instead of one N-rank world).
  LAUNCH=(srun --mpi="$SRUN_MPI" --kill-on-bad-exit=1 --cpu-bind=cores "${CMD[@]}")
elif [ "$LAUNCHER" = mpirun ]; then
  # Inside an allocation Open MPI reads the nodes and slots from SLURM; it ends every rank when one fails.
  LAUNCH=(mpirun -np "$SLURM_NTASKS" --map-by "ppr:$tasks_per_node:node" --bind-to none
          -x OMP_NUM_THREADS -x HDF5_USE_FILE_LOCKING "${CMD[@]}")
else
  echo "error: LAUNCHER=$LAUNCHER; use srun or mpirun" >&2
  exit 2
fi

# Preemption: SLURM signals this shell (--signal=B:USR1, or `scancel --batch --signal=USR1`); the
# shell passes it to the launcher, which passes it to every rank. The ranks agree on a step,
# checkpoint, and exit 75; the job is then requeued and its next start resumes.
# A signal that arrives while the ranks are still starting can be lost on the way, so it is
# repeated every 20 s until they have stopped (a rank that already has it ignores the repeat).
preempt_requested=0
repeater=""
forward_to_ranks() {
  echo "preemption signal: telling the ranks to checkpoint and stop"
  kill -USR1 "$launcher_pid" 2>/dev/null || true
  if [ "$preempt_requested" -eq 0 ]; then
    (while sleep 20; do kill -USR1 "$launcher_pid" 2>/dev/null || exit 0; done) &
    repeater=$!
  fi
  preempt_requested=1
}
trap forward_to_ranks USR1
"${LAUNCH[@]}" &
launcher_pid=$!
# `wait` returns early when a trapped signal arrives: wait again until the launcher has exited.
while kill -0 "$launcher_pid" 2>/dev/null; do wait "$launcher_pid" || true; done
status=0
wait "$launcher_pid" || status=$?
if [ -n "$repeater" ]; then kill "$repeater" 2>/dev/null || true; fi

# 75: checkpointed on request. 138 (128 + USR1): a rank got the signal before it could handle it
# (still starting up); its newest checkpoint is intact, so that is a preemption as well.
if [ "$status" -eq 75 ] || { [ "$preempt_requested" -eq 1 ] && [ "$status" -eq 138 ]; }; then
  if [ "${SLURM_RESTART_COUNT:-0}" -ge "$MAX_REQUEUES" ]; then
    echo "preempted (exit $status) after $MAX_REQUEUES requeues: not requeueing again (MAX_REQUEUES);" \
         "resubmit to continue from the newest checkpoint" >&2
    exit 75
  fi
  echo "preempted (exit $status): requeueing job $SLURM_JOB_ID; its next start resumes from the newest checkpoint"
  scontrol requeue "$SLURM_JOB_ID"
  exit 0
fi
echo "train exited with status $status"
exit "$status"
