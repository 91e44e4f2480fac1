#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for the end-to-end test of `repro slurm` (README, "Running on a
# cluster"): a root-run munged, a slurm.conf naming this host with its CPUs, slurmctld and slurmd. JobRequeue=1 lets
# the test requeue a killed task. State lives under /tmp/repro-slurm; `stop` ends the daemons and removes it.
# Usage: bash scripts/slurm/local-cluster.sh start|stop|status
set -euo pipefail
STATE=/tmp/repro-slurm
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
case "${1:-}" in
start)
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null || {
    echo "SLURM is not installed (apt-get install slurmctld slurmd slurm-client munge)" >&2; exit 1; }
  $SUDO mkdir -p "$STATE"/{spool,slurmd,log} /etc/munge /run/munge /var/log/munge /var/lib/munge
  if [ ! -s /etc/munge/munge.key ]; then
    $SUDO dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  $SUDO chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
  $SUDO chmod 400 /etc/munge/munge.key
  pgrep -x munged >/dev/null || $SUDO -u munge /usr/sbin/munged 2>/dev/null || $SUDO /usr/sbin/munged --force
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
  $SUDO mkdir -p /etc/slurm
  $SUDO tee /etc/slurm/slurm.conf >/dev/null <<CONF
ClusterName=repro
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/spool
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ReturnToService=2
JobRequeue=1
MpiDefault=none
SwitchType=switch/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MinJobAge=600
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  pgrep -x slurmctld >/dev/null || $SUDO /usr/sbin/slurmctld -i
  pgrep -x slurmd >/dev/null || $SUDO /usr/sbin/slurmd
  for _ in $(seq 1 60); do
    if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then sinfo; exit 0; fi
    sleep 0.5
  done
  echo "SLURM did not come up; logs in $STATE/log" >&2
  tail -5 "$STATE"/log/*.log >&2 || true
  exit 1
  ;;
stop)
  $SUDO pkill -x slurmd 2>/dev/null || true
  $SUDO pkill -x slurmctld 2>/dev/null || true
  $SUDO pkill -x munged 2>/dev/null || true
  # pkill only signals: slurmctld writes its state files while it shuts down, and removing the folder under it
  # fails with "Directory not empty". Wait for the daemons to be gone (10 s at most), then remove.
  for _ in $(seq 50); do pgrep -x slurmd >/dev/null || pgrep -x slurmctld >/dev/null || pgrep -x munged >/dev/null || break; sleep 0.2; done
  $SUDO rm -rf "$STATE" || { sleep 1; $SUDO rm -rf "$STATE"; }
  ;;
status)
  sinfo
  ;;
*)
  echo "usage: $0 start|stop|status" >&2; exit 2
  ;;
esac
