#!/usr/bin/env bash
# Stop the test cluster started by tests/slurm/start.sh: slurmd, slurmctld, then munged.
# Leaves the packages, the configuration and /var/spool state; start.sh starts it again.
set -uo pipefail
RUN_DIR=/run/slurm

stop_pidfile() {  # $1 = name, $2 = pid file
    if [[ -s $2 ]] && kill -0 "$(cat "$2")" 2>/dev/null; then
        local pid
        pid=$(cat "$2")
        echo "[slurm-stop] stopping $1 (pid $pid)"
        kill "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$2"
}

scancel --state=PENDING,RUNNING --full 2>/dev/null || true  # jobs still queued or running
stop_pidfile slurmd "$RUN_DIR/slurmd.pid"
stop_pidfile slurmctld "$RUN_DIR/slurmctld.pid"
stop_pidfile munged /run/munge/munged.pid
echo "[slurm-stop] stopped"
