#!/usr/bin/env bash
# Multi-node data-parallel training under SLURM: one task per GPU, requeued with automatic resume
# when preempted.    sbatch slurm/train.sh
# What a cluster user changes: the #SBATCH lines (nodes, GPUs per node, partition, time, account)
# and DATA / RUN / PRESET / EXTRA below (or export them before sbatch).
#SBATCH --job-name=musicvae
#SBATCH --nodes=2
#SBATCH --gpus-per-node=8
#SBATCH --ntasks-per-node=8          # one task per GPU
#SBATCH --cpus-per-task=8
#SBATCH --time=24:00:00
#SBATCH --signal=USR1@180            # 3 minutes before the time limit: checkpoint and requeue
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=%x-%j.out
##SBATCH --partition=gpu
##SBATCH --account=myproject
set -euo pipefail
DATA=${DATA:-shards16}
RUN=${RUN:-runs/hierdec-16bar}
PRESET=${PRESET:-hierdec-drums_16bar}
EXTRA=${EXTRA:---batch 64 --steps 100000}
TRAIN=${TRAIN:-$SLURM_SUBMIT_DIR/build/bin/train}
LAUNCHER=${LAUNCHER:-srun}           # srun (PMIx) or mpirun inside the allocation
SRUN_MPI=${SRUN_MPI:-pmix}           # srun's PMI plugin: the one your MPI was built with (srun --mpi=list)

export OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK
export HDF5_USE_FILE_LOCKING=FALSE   # read-only shards on Lustre/NFS
# NCCL troubleshooting (uncomment one at a time):
# export NCCL_DEBUG=INFO             # topology, transports, rings
# export NCCL_DEBUG_SUBSYS=INIT,NET
# export NCCL_IB_DISABLE=1           # rule out InfiniBand
# export NCCL_P2P_DISABLE=1          # rule out PCIe peer-to-peer (ACS/IOMMU problems)
# export NCCL_SOCKET_IFNAME=ib0      # the interface NCCL bootstraps on

echo "job $SLURM_JOB_ID on $SLURM_JOB_NUM_NODES node(s): $SLURM_JOB_NODELIST, restart ${SLURM_RESTART_COUNT:-0}"
RESUME=""
[ -f "$RUN/checkpoints/latest" ] && RESUME="--resume"
CMD=("$TRAIN" --data "$DATA" --run "$RUN" --preset "$PRESET" $EXTRA $RESUME)
set +e
if [ "$LAUNCHER" = srun ]; then
  # --kill-on-bad-exit: one failed task ends the step instead of leaving the others in a collective.
  # train refuses to start when the PMI is wrong (N one-rank worlds instead of one N-rank world).
  srun --mpi="$SRUN_MPI" --kill-on-bad-exit=1 --cpu-bind=cores "${CMD[@]}"
else
  mpirun -np "$SLURM_NTASKS" --map-by ppr:"$SLURM_NTASKS_PER_NODE":node --bind-to none \
    -x OMP_NUM_THREADS -x HDF5_USE_FILE_LOCKING "${CMD[@]}"
fi
status=$?
set -e
# The trainer exits 75 after checkpointing on SIGUSR1/SIGTERM: requeue, and the next start resumes.
if [ "$status" -eq 75 ]; then
  echo "preempted: checkpoint written; requeueing $SLURM_JOB_ID"
  scontrol requeue "$SLURM_JOB_ID"
fi
exit "$status"
