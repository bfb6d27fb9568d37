#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for the srun tests (tests/app/fit_mpi_srun_test.cpp):
# munged, slurmctld and slurmd (Debian 12: munge slurmctld slurmd slurm-client, scripts/deps.sh),
# run as root with a private configuration, key, state, spool and logs in one folder,
# $CURVEFIT_SLURM_DIR or else ${TMPDIR:-/tmp}/curvefit-slurm. Nothing in /etc is read or written,
# and no cgroups or systemd are needed (proctrack/linuxproc, task/none), so it runs in containers.
#
#   scripts/slurm_local.sh start    start the daemons (a no-op when this cluster is already up) and
#                                   wait, at most 30 s, for the node to be idle; exit 1 with one
#                                   line on stderr when it cannot be started
#   scripts/slurm_local.sh stop     end the daemons that start started (by their pid files)
#   scripts/slurm_local.sh status   exit 0 when the node answers, else 1
#   scripts/slurm_local.sh conf     print the path of slurm.conf
#   scripts/slurm_local.sh with COMMAND...
#                                   run COMMAND with SLURM_CONF set, on this cluster: the one already
#                                   up, or one started for it and stopped after it; where it cannot
#                                   start, say so in one line and run COMMAND anyway (the srun tests
#                                   then skip). Exits with COMMAND's status.
#
# Clients find the cluster through SLURM_CONF=<folder>/slurm.conf (start and status print it; the
# tests look there when SLURM_CONF is unset). Ranks are launched with `srun --mpi=pmix` (MpiDefault):
# Debian's Open MPI 4.1 has no PMI-2 client, only PMIx (its pmix/ext3x component).
set -euo pipefail
dir=${CURVEFIT_SLURM_DIR:-${TMPDIR:-/tmp}/curvefit-slurm}
conf=$dir/slurm.conf
host=$(hostname -s)
export SLURM_CONF=$conf

fail() {
  local said
  said=$(tail -n 1 "$dir/log/start.log" 2>/dev/null || true)
  echo "slurm_local.sh: $*${said:+: $said}" >&2
  exit 1
}

# The pid in a pid file if that process is alive and runs `name`, else nothing.
live_pid() {  # pid file, name
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 0
  [[ $pid =~ ^[0-9]+$ ]] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] && echo "$pid"
  return 0
}

# The node's state as sinfo prints it (idle, mix, alloc, down*, ...), or nothing.
node_state() {
  timeout 5 sinfo --noheader --Node --nodes="$host" --format=%t 2>/dev/null | head -n 1 || true
}

daemons_alive() {
  [ -n "$(live_pid "$dir/slurmctld.pid" slurmctld)" ] && [ -n "$(live_pid "$dir/slurmd.pid" slurmd)" ]
}

# Whether the daemons this script started are alive and the node can take jobs.
up() {
  [ -n "$(live_pid "$dir/munged.pid" munged)" ] && daemons_alive && [[ $(node_state) =~ ^(idle|mix|alloc|comp)$ ]]
}

write_conf() {
  local cpus memory
  cpus=$(nproc)
  memory=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
  cat >"$conf" <<EOF
# Written by scripts/slurm_local.sh: a one-node cluster on $host for curvefit's srun tests.
ClusterName=curvefit
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=${CURVEFIT_SLURMCTLD_PORT:-6817}
SlurmdPort=${CURVEFIT_SLURMD_PORT:-6818}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
# Neither cgroups nor systemd: processes tracked by their parent pids, tasks not bound.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
# Open MPI 4.1 as Debian builds it starts from Slurm's PMIx server (mpi_pmix, libpmix-dev).
MpiDefault=pmix
ReturnToService=2
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
}

start_munged() {
  [ -s "$dir/munge.key" ] || {
    if command -v mungekey >/dev/null; then
      mungekey --create --keyfile="$dir/munge.key" 2>/dev/null
    else
      dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none
    fi
  }
  chmod 600 "$dir/munge.key"
  munged --socket="$dir/munge.socket" --key-file="$dir/munge.key" --pid-file="$dir/munged.pid" \
    --log-file="$dir/log/munged.log" --seed-file="$dir/munged.seed" 2>>"$dir/log/start.log" ||
    fail "munged did not start"
}

start() {
  if up; then
    echo "slurm_local.sh: already up; SLURM_CONF=$conf"
    return 0
  fi
  rm -f "$dir/log/start.log"
  for command in munged slurmctld slurmd sinfo srun; do
    command -v "$command" >/dev/null || fail "$command not found (Debian: munge slurmctld slurmd slurm-client; scripts/deps.sh)"
  done
  [ "$(id -u)" -eq 0 ] || fail "needs root (SlurmUser=root; slurmd starts tasks as their user)"
  stop >/dev/null  # what is left of an earlier start
  mkdir -p "$dir/state" "$dir/spool" "$dir/log"
  chmod 755 "$dir"  # munged wants every folder above its socket searchable by all
  rm -f "$dir"/log/*.log
  write_conf
  : >"$dir/log/start.log"
  start_munged
  # -c: no jobs or node states from an earlier start. Both fork into the background.
  slurmctld -c -f "$conf" 2>>"$dir/log/start.log" || fail "slurmctld did not start"
  slurmd -f "$conf" 2>>"$dir/log/start.log" || fail "slurmd did not start"
  local state="" why deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    state=$(node_state)
    [ "$state" = idle ] && break
    if ! daemons_alive; then
      sleep 0.5  # the pid files are written once the daemons are in the background
      daemons_alive || break
    fi
    sleep 0.5
  done
  if [ "$state" != idle ]; then
    why=$(grep -h -e 'fatal' -e 'error' "$dir/log/slurmctld.log" "$dir/log/slurmd.log" 2>/dev/null | tail -n 1 || true)
    stop >/dev/null
    fail "node $host not idle (state '${state:-no answer}'; ${why:-no error in the logs}; logs in $dir/log)"
  fi
  echo "slurm_local.sh: node $host idle; SLURM_CONF=$conf"
}

# SIGTERM to each daemon whose pid file names a live process of its name (all at once: each takes
# about 2 s to end), then SIGKILL to those still alive 10 s later.
stop() {
  local name pid pids=()
  for name in slurmd slurmctld munged; do
    pid=$(live_pid "$dir/$name.pid" "$name")
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && pids+=("$pid")
    rm -f "$dir/$name.pid"
  done
  for _ in $(seq 100); do
    for pid in "${pids[@]}"; do [ -d "/proc/$pid" ] && break; pid=""; done
    [ -z "${pid:-}" ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do [ -d "/proc/$pid" ] && kill -9 "$pid" 2>/dev/null; done
  echo "slurm_local.sh: stopped"
}

# COMMAND with the cluster (see `with` above).
with() {
  local why status=0 started=0
  if up; then
    echo "slurm_local.sh: using the local Slurm cluster that is already up"
  elif why=$(start 2>&1 >/dev/null); then
    started=1
    echo "slurm_local.sh: started a local Slurm cluster for the srun tests (SLURM_CONF=$conf)"
  else
    echo "slurm_local.sh: the srun tests will skip: ${why##*$'\n'}"
  fi
  "$@" || status=$?
  if ((started)); then stop >/dev/null; fi
  return "$status"
}

case "${1:-}" in
  start) start ;;
  with)
    shift
    with "$@"
    ;;
  stop) stop ;;
  conf) echo "$conf" ;;
  status)
    if up; then
      echo "slurm_local.sh: up ($(node_state)); SLURM_CONF=$conf"
    else
      echo "slurm_local.sh: not up"
      exit 1
    fi
    ;;
  *)
    echo "usage: $0 start|stop|status|conf|with COMMAND..." >&2
    exit 2
    ;;
esac
