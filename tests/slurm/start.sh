#!/usr/bin/env bash
# Start a one-node Slurm cluster on this machine (Debian 12, Slurm 22.05 + munge), as root,
# without systemd. Idempotent: a second call with the cluster up only checks that the node is
# idle; a call after the config changed (or after stop.sh) restarts the daemons.
#
#   sudo bash tests/slurm/start.sh        # start (installs the packages on first use)
#   sudo bash tests/slurm/stop.sh         # stop the daemons (state under /var/spool is kept)
#
# Cluster: ClusterName=seq2pheno, one node "localhost" with this machine's CPUs and memory and
# one GPU GRES backed by /dev/null (so `--gpus=1` is accepted and scheduled for real), two
# partitions: cpu (Default=YES) and gpu. No slurmdbd: job status comes from `squeue`
# (MinJobAge keeps finished jobs visible to squeue/scontrol for a day); a plain-text job
# completion log at /var/log/slurm/jobcomp.log records every finished job. See docs/cluster.md.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "tests/slurm/start.sh: must run as root (it installs packages and starts daemons)" >&2
    exit 1
fi

CONF_DIR=/etc/slurm
LOG_DIR=/var/log/slurm
CTLD_SPOOL=/var/spool/slurmctld
SLURMD_SPOOL=/var/spool/slurmd
RUN_DIR=/run/slurm
PARTITION_CPU=${SLURM_TEST_PARTITION_CPU:-cpu}
PARTITION_GPU=${SLURM_TEST_PARTITION_GPU:-gpu}

log() { echo "[slurm-start] $*"; }

# --- 1. packages --------------------------------------------------------------------------
need=()
for bin in slurmctld slurmd sbatch munged; do
    command -v "$bin" >/dev/null 2>&1 || need+=("$bin")
done
if ((${#need[@]})); then
    log "installing slurmctld slurmd slurm-client munge (missing: ${need[*]})"
    export DEBIAN_FRONTEND=noninteractive
    # Do not let the packages' init scripts start anything: this script starts the daemons.
    policy_created=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        policy_created=1
    fi
    apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge \
        >/tmp/seq2pheno-slurm-apt.log 2>&1 || {
        log "apt-get install failed; running apt-get update and retrying"
        apt-get update -q >>/tmp/seq2pheno-slurm-apt.log 2>&1
        apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge \
            >>/tmp/seq2pheno-slurm-apt.log 2>&1 || {
            tail -20 /tmp/seq2pheno-slurm-apt.log >&2
            exit 1
        }
    }
    ((policy_created)) && rm -f /usr/sbin/policy-rc.d
fi

# --- 2. munge -----------------------------------------------------------------------------
install -d -o munge -g munge -m 0700 /etc/munge /var/log/munge
install -d -o munge -g munge -m 0711 /var/lib/munge
install -d -o munge -g munge -m 0755 /run/munge
if [[ ! -s /etc/munge/munge.key ]]; then
    log "creating /etc/munge/munge.key"
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key

munge_ok() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }
if ! munge_ok; then
    log "starting munged"
    rm -f /run/munge/munged.pid /run/munge/munge.socket.2*
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do munge_ok && break; sleep 0.1; done
    munge_ok || { echo "munged did not start; see /var/log/munge/munged.log" >&2; exit 1; }
fi

# --- 3. configuration ---------------------------------------------------------------------
# Real CPU topology and memory of this machine, as slurmd itself sees them.
node_hw=$(slurmd -C | head -1 | sed -e 's/^NodeName=[^ ]* //')
real_mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node_hw")
# Leave 5 % headroom so the node is never drained for "Low RealMemory" when free memory moves.
node_hw=$(sed -e "s/RealMemory=[0-9]*/RealMemory=$((real_mem * 95 / 100))/" <<<"$node_hw")

install -d -m 0755 "$CONF_DIR" "$LOG_DIR" "$RUN_DIR"
install -d -m 0700 "$CTLD_SPOOL" "$SLURMD_SPOOL"

new_conf=$(mktemp)
new_gres=$(mktemp)
trap 'rm -f "$new_conf" "$new_gres"' EXIT
cat >"$new_conf" <<CONF
# Written by seq2pheno tests/slurm/start.sh: a one-node test cluster. Do not edit by hand.
ClusterName=seq2pheno
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
ReturnToService=2
SlurmdParameters=config_overrides
# Finished jobs stay visible to squeue/scontrol for a day: the Snakemake slurm executor
# reads job states with squeue (no slurmdbd here), and the test inspects the jobs afterwards.
MinJobAge=86400
MaxJobCount=100000
DefMemPerCPU=1000
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG_DIR/jobcomp.log
StateSaveLocation=$CTLD_SPOOL
SlurmdSpoolDir=$SLURMD_SPOOL
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
Waittime=0
NodeName=localhost NodeAddr=127.0.0.1 $node_hw Gres=gpu:1 State=UNKNOWN
PartitionName=$PARTITION_CPU Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=$PARTITION_GPU Nodes=localhost Default=NO MaxTime=INFINITE State=UP
CONF
cat >"$new_gres" <<GRES
# Written by seq2pheno tests/slurm/start.sh: one dummy GPU so --gpus=1 is scheduled for real.
AutoDetect=off
NodeName=localhost Name=gpu File=/dev/null
GRES

changed=0
if ! cmp -s "$new_conf" "$CONF_DIR/slurm.conf"; then
    install -m 0644 "$new_conf" "$CONF_DIR/slurm.conf"
    changed=1
fi
if ! cmp -s "$new_gres" "$CONF_DIR/gres.conf"; then
    install -m 0644 "$new_gres" "$CONF_DIR/gres.conf"
    changed=1
fi

# --- 4. daemons ---------------------------------------------------------------------------
pid_alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_daemon() {  # $1 = pid file
    if pid_alive "$1"; then
        local pid
        pid=$(cat "$1")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$1"
}

if ((changed)); then
    log "slurm.conf/gres.conf written; (re)starting the daemons"
    stop_daemon "$RUN_DIR/slurmd.pid"
    stop_daemon "$RUN_DIR/slurmctld.pid"
fi

if ! pid_alive "$RUN_DIR/slurmctld.pid"; then
    log "starting slurmctld"
    # -c: start from a clean job state; -i: ignore errors in a saved state from an older run.
    /usr/sbin/slurmctld -c -i
    for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.1; done
fi
if ! pid_alive "$RUN_DIR/slurmd.pid"; then
    log "starting slurmd"
    /usr/sbin/slurmd -N localhost
fi

# --- 5. wait for the node -----------------------------------------------------------------
state=""
for _ in $(seq 150); do
    state=$(sinfo -h -N -n localhost -o '%T' 2>/dev/null | head -1 || true)
    case $state in
        idle|mixed|allocated|completing) break ;;
        drained|draining|down*)
            scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 0.2
done
case $state in
    idle|mixed|allocated|completing) ;;
    *)
        echo "tests/slurm/start.sh: node localhost is '$state', not idle, after 30 s." >&2
        echo "  sinfo -R; tail $LOG_DIR/slurmctld.log $LOG_DIR/slurmd.log" >&2
        sinfo -R >&2 || true
        tail -5 "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" >&2 || true
        exit 1 ;;
esac

log "Slurm is up: node localhost is $state"
sinfo -o '%P %a %D %T %c %m %G'
cat <<MSG
[slurm-start] logs: $LOG_DIR/slurmctld.log, $LOG_DIR/slurmd.log, $LOG_DIR/jobcomp.log
[slurm-start] stop with: bash tests/slurm/stop.sh
MSG
