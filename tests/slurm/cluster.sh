#!/usr/bin/env bash
# A private single-host SLURM for tests: munged, slurmctld and slurmd with their configuration,
# state, logs and sockets under one folder, on ports of their own, so it neither needs nor touches
# a system SLURM.
#   cluster.sh start DIR [GPUS [OWNER_PID]]
#       start it (GPUS > 0: that many fake GPU device files, see below; where mknod is not allowed,
#       none, and DIR/no-gpus says why) and print the SLURM_CONF to
#       export for sbatch/squeue/scontrol; with OWNER_PID, a watchdog stops it when that process
#       ends, however it ends (a test killed by its timeout leaves no daemons behind)
#   cluster.sh stop DIR           stop every daemon it started, by the PIDs in DIR
#   cluster.sh check              exit 0 if this machine can run it, else say why on stdout, exit 1
# Needs root (daemons run as root, munged as the munge user, mknod for fake GPUs) and Debian's
# slurmctld slurmd slurm-client munge.
set -euo pipefail

cmd=${1:-}
why_not() {
  [ "$(id -u)" -eq 0 ] || { echo "not root (the SLURM daemons and munged's user switch need root)"; return 1; }
  for tool in munged slurmctld slurmd sbatch scontrol squeue sinfo runuser; do
    command -v "$tool" >/dev/null 2>&1 || { echo "$tool not installed (apt-get install slurmctld slurmd slurm-client munge)"; return 1; }
  done
  id munge >/dev/null 2>&1 || { echo "no munge user (the munge package makes it)"; return 1; }
  return 0
}

# A port nothing listens on: random in 20000-59999, tried with bash's /dev/tcp.
free_port() {
  local port
  while true; do
    port=$((20000 + RANDOM % 40000))
    (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return; }
  done
}

stop() {
  local dir=$1
  # Jobs first, while the daemons that run them are up.
  if [ -f "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null; then
    SLURM_CONF=$dir/slurm.conf scancel --user="$(id -un)" 2>/dev/null || true
    for _ in $(seq 50); do
      [ -z "$(SLURM_CONF=$dir/slurm.conf squeue -h -t RUNNING,COMPLETING 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
  for name in watchdog slurmd slurmctld munged; do
    local pidfile=$dir/$name.pid
    [ -f "$pidfile" ] || continue
    local pid; pid=$(cat "$pidfile" 2>/dev/null || true)
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done  # then SIGKILL: nothing here to save
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
  if [ -f "$dir/munge.dir" ]; then rm -rf "$(cat "$dir/munge.dir")" "$dir/munge.dir"; fi
  # Job processes slurmd started and left behind (a test that failed mid-job).
  pkill -f -- "--run $dir/" 2>/dev/null || true
}

watch() {
  local dir=$1 owner=$2
  while kill -0 "$owner" 2>/dev/null; do sleep 1; done
  rm -f "$dir/watchdog.pid"  # not itself
  stop "$dir"
}

start() {
  local dir=$1 gpus=${2:-0} owner=${3:-}
  why_not >/dev/null || { why_not; exit 1; }
  stop "$dir"
  mkdir -p "$dir"/{state,spool,log,dev}
  local host cpus mem port_ctld port_d
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
  port_ctld=$(free_port)
  port_d=$(free_port)

  # munge: a key of its own, its socket and log in a folder of its own that the munge user can
  # reach (the caller's folder may be private to root).
  local munge
  munge=$(mktemp -d /tmp/mvae-munge.XXXXXX)
  echo "$munge" > "$dir/munge.dir"
  dd if=/dev/urandom of="$munge/munge.key" bs=1024 count=1 status=none
  chown -R munge:munge "$munge"
  chmod 700 "$munge"
  chmod 400 "$munge/munge.key"
  runuser -u munge -- munged --force --key-file="$munge/munge.key" --socket="$munge/socket" \
    --pid-file="$munge/munged.pid" --log-file="$munge/munged.log" --seed-file="$munge/seed"
  cp "$munge/munged.pid" "$dir/munged.pid"

  local gres_line="" node_gres=""
  if [ "$gpus" -gt 0 ]; then
    # Fake GPUs: character devices with NVIDIA's major number (195). slurmd only needs the files
    # to exist; it then hands each job step CUDA_VISIBLE_DEVICES for the ones it was given.
    for ((g = 0; g < gpus; g++)); do
      if ! mknod "$dir/dev/nvidia$g" c 195 "$g" 2>/dev/null; then
        echo "mknod is not allowed here (no CAP_MKNOD): no fake GPUs" > "$dir/no-gpus"
        gpus=0
        break
      fi
    done
  fi
  if [ "$gpus" -gt 0 ]; then
    echo "Name=gpu File=$dir/dev/nvidia[0-$((gpus - 1))]" > "$dir/gres.conf"
    gres_line="GresTypes=gpu"
    node_gres="Gres=gpu:$gpus"
  fi

  cat > "$dir/slurm.conf" <<CONF
ClusterName=mvaetest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port_ctld
SlurmdPort=$port_d
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire=10: a requeued job starts again after ~10 s instead of 120 s.
AuthInfo=socket=$munge/socket,cred_expire=10
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
KillWait=5
MinJobAge=600
$gres_line
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem $node_gres State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF=$dir/slurm.conf
  slurmctld -f "$SLURM_CONF" -i
  slurmd -f "$SLURM_CONF"
  if [ -n "$owner" ]; then
    setsid bash "$0" watch "$dir" "$owner" </dev/null >/dev/null 2>&1 &
    echo $! > "$dir/watchdog.pid"
  fi
  for _ in $(seq 100); do
    if sinfo -h -o %T 2>/dev/null | grep -q idle; then echo "$SLURM_CONF"; return 0; fi
    sleep 0.2
  done
  echo "cluster.sh: node not idle after 20 s; logs in $dir/log" >&2
  sinfo >&2 || true
  tail -n 20 "$dir"/log/*.log >&2 || true
  stop "$dir"
  exit 1
}

case "$cmd" in
  start) start "${2:?cluster.sh start DIR [GPUS [OWNER_PID]]}" "${3:-0}" "${4:-}" ;;
  watch) watch "$2" "$3" ;;
  stop) stop "${2:?cluster.sh stop DIR}" ;;
  check) why_not ;;
  *) echo "usage: cluster.sh start DIR [GPUS] | stop DIR | check" >&2; exit 2 ;;
esac
