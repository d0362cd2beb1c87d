#!/usr/bin/env bash
# Runs the Slurm scripts of Scripts/slurm/ on a real one-node Slurm cluster brought up on this
# machine, and checks that a sharded sweep (and a sharded study, once .build/release/study
# exists) merged by the merge job is byte-identical to a single-machine run, after one task
# was killed on purpose, reported by the merge job and re-run with the command it printed.
#
#   sudo Scripts/slurm-check.sh        # as root; Debian/Ubuntu; a few minutes
#
# Installs slurm-wlm and munge when missing; starts munged (as the munge user, on a private
# socket), slurmctld and slurmd (as root) with a generated slurm.conf in a temporary folder, and
# stops all three on exit. Leaves the system's own munge/slurm services, if any, alone.
# Not part of Scripts/test.sh: it needs root and takes minutes. See docs/sweeps.md.
#
# Environment: KEEP=1 keeps the temporary folder; TIMEOUT (seconds, default 300) bounds each wait;
# STUDY_ARGS overrides the small study grid; STUDY_BIN another study binary.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
timeout=${TIMEOUT:-300}

step() { printf '\n== %s\n' "$*"; }
info() { printf '   %s\n' "$*"; }
die() { printf 'slurm-check: FAIL: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it starts munged, slurmctld and slurmd): sudo $0"

step "packages"
. Scripts/lib/ensure-packages.sh
ensure_packages slurm-wlm munge
info "$(slurmctld -V), $(munged -V 2>&1 | head -1)"

spectrum=$repo/.build/release/spectrum
study=${STUDY_BIN:-$repo/.build/release/study}
if [ ! -x "$spectrum" ]; then
    step "building spectrum (release)"
    swift build -c release --product spectrum
fi

work=$(mktemp -d /tmp/isometry-slurm-check.XXXXXX)
chmod 755 "$work"
# Stops the daemons this script started (by the pid files it gave them); idempotent.
stop_daemons() {
    if [ -f "$work/slurmctld.pid" ] && [ -n "${SLURM_CONF:-}" ]; then
        scancel --quiet --user=root 2>/dev/null || true
    fi
    local name pidfile pid
    for name in slurmd slurmctld munged; do
        pidfile="$work/$name.pid"
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile" 2>/dev/null || true)
        { [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; } || { rm -f "$pidfile"; continue; }
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null || true
            echo "   stopped $name (pid $pid, SIGKILL after 10 s)"
        else
            echo "   stopped $name (pid $pid)"
        fi
        rm -f "$pidfile"
    done
}
finish() {
    local status=$?
    set +e
    stop_daemons
    if [ $status -ne 0 ]; then
        echo "slurm-check: FAILED (exit $status); the daemons' logs end with:" >&2
        for log in "$work"/log/*.log "$work"/munge/munged.log; do
            [ -f "$log" ] && { echo "--- $log" >&2; tail -n 15 "$log" >&2; }
        done
        echo "slurm-check: kept $work for inspection" >&2
    elif [ "${KEEP:-0}" = 1 ]; then
        echo "   kept $work"
    else
        rm -rf "$work"
    fi
    exit $status
}
trap finish EXIT
trap 'exit 130' INT TERM

# wait_for DESCRIPTION COMMAND…: polls COMMAND every second until it succeeds, at most $timeout s.
wait_for() {
    local what=$1; shift
    local start=$SECONDS
    until "$@"; do
        [ $((SECONDS - start)) -lt "$timeout" ] || die "timed out after ${timeout} s waiting for $what"
        sleep 1
    done
    info "$what ($((SECONDS - start)) s)"
}

free_port() {
    local port
    for port in $(seq "$1" $(($1 + 200))); do
        ss -Hltn "sport = :$port" 2>/dev/null | grep -q . || { echo "$port"; return; }
    done
    die "no free TCP port from $1"
}

step "munge"
if [ ! -s /etc/munge/munge.key ]; then
    install -d -o munge -g munge -m 0700 /etc/munge
    if command -v mungekey >/dev/null; then mungekey --create --keyfile=/etc/munge/munge.key
    else dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; fi
    info "created /etc/munge/munge.key"
fi
chown munge:munge /etc/munge /etc/munge/munge.key
chmod 0700 /etc/munge
chmod 0400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 "$work/munge"   # the socket folder must be searchable by all
socket=$work/munge/munge.socket
# munged refuses to write its pid file into a folder it does not own; copy it out afterwards.
runuser -u munge -- munged --socket="$socket" --pid-file="$work/munge/munged.pid" \
    --log-file="$work/munge/munged.log" --seed-file="$work/munge/munged.seed"
cp "$work/munge/munged.pid" "$work/munged.pid"
info "munged (pid $(cat "$work/munged.pid")) as user munge on $socket"
munge_works() { munge -n -S "$socket" 2>/dev/null | unmunge -S "$socket" >/dev/null 2>&1; }
wait_for "munge credential round trip" munge_works

step "slurm.conf"
node=$(hostname -s)
node_line=$(slurmd -C | head -n 1)
case "$node_line" in NodeName=*) ;; *) die "slurmd -C printed no node line: $node_line" ;; esac
node_line=${node_line/NodeName=* CPUs=/NodeName=$node CPUs=}
ctld_port=$(free_port 16817)
slurmd_port=$(free_port $((ctld_port + 1)))
mkdir -p "$work/etc" "$work/state" "$work/spool" "$work/log" "$work/shared"
export SLURM_CONF=$work/etc/slurm.conf
cat > "$SLURM_CONF" <<CONF
# Generated by Scripts/slurm-check.sh: a one-node cluster for the check.
ClusterName=isometry-check
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=check Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
info "$SLURM_CONF: $node_line; ports $ctld_port, $slurmd_port"

step "slurmctld and slurmd"
slurmctld -i
slurmd
wait_for "slurmctld pid file" test -s "$work/slurmctld.pid"
wait_for "slurmd pid file" test -s "$work/slurmd.pid"
info "slurmctld pid $(cat "$work/slurmctld.pid"), slurmd pid $(cat "$work/slurmd.pid")"
node_idle() { [ "$(sinfo -h -N -n "$node" -o %t 2>/dev/null)" = idle ]; }
wait_for "node $node idle in sinfo" node_idle
sinfo -N -o '   %N %t %c CPUs %m MB %P'

# job_state ID: the state of one job (or array task, 12_3) from slurmctld.
job_state() {
    local state
    state=$(scontrol -o show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -n 1 | cut -d= -f2 || true)
    echo "${state:-UNKNOWN}"
}
job_done() {
    local state; state=$(job_state "$1")
    case "$state" in
        COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED) return 0 ;;
        PENDING)
            if scontrol -o show job "$1" 2>/dev/null | grep -q 'Reason=DependencyNeverSatisfied'; then
                die "job $1 pending with DependencyNeverSatisfied"
            fi ;;
    esac
    return 1
}
submitted_id() { sed -n "s/^submitted $1: $2 \([0-9]*\).*/\1/p"; }

# run_case KIND BINARY ARGS…: the whole story for one command.
run_case() {
    local kind=$1 binary=$2; shift 2
    local args=("$@") shards=4 killed=3
    local name="isometry-$kind" single="$work/single-$kind" output="$work/shared/$kind"
    local merged_name
    case "$kind" in sweep) merged_name=sweep.csv ;; study) merged_name=study.csv ;; esac

    step "$kind: single-machine run"
    if [ "$kind" = sweep ]; then
        info "+ spectrum sweep ${args[*]} --output $single"
        OPENBLAS_NUM_THREADS=1 "$binary" sweep "${args[@]}" --output "$single" 2>/dev/null | sed 's/^/   /'
    else
        info "+ study ${args[*]} --output $single"
        OPENBLAS_NUM_THREADS=1 "$binary" "${args[@]}" --output "$single" 2>/dev/null | sed 's/^/   /'
    fi
    [ -s "$single/$merged_name" ] || die "the single-machine run wrote no $single/$merged_name"

    step "$kind: $shards shards as a job array, task $killed killed on purpose"
    # Hold the partition so that task $killed can be cancelled before it runs: the tasks of a
    # grid this small finish in well under a second.
    scontrol update PartitionName=check State=DOWN
    local submit_output
    submit_output=$(cd / && "$repo/Scripts/slurm/submit-$kind.sh" --bin="$binary" "$shards" "$output" "${args[@]}")
    echo "$submit_output" | sed 's/^/   /'
    local array merge
    array=$(echo "$submit_output" | submitted_id "$name" "array job")
    merge=$(echo "$submit_output" | submitted_id "$name-merge" "job")
    [ -n "$array" ] && [ -n "$merge" ] || die "could not read the job ids from the submit output"
    scancel "${array}_$killed"
    info "scancel ${array}_$killed"
    scontrol update PartitionName=check State=UP
    wait_for "merge job $merge to end" job_done "$merge"
    local k state
    for ((k = 1; k <= shards; k++)); do
        state=$(job_state "${array}_$k")
        if [ "$k" = "$killed" ]; then
            # A task cancelled while pending is only removed from the array's pending record.
            case "$state" in
                CANCELLED) info "task ${array}_$k: CANCELLED" ;;
                UNKNOWN) info "task ${array}_$k: cancelled while pending (no record left)" ;;
                *) die "task $killed is $state, not cancelled" ;;
            esac
            [ ! -e "$output/$kind-part-$k-of-$shards.csv" ] || die "the cancelled task wrote its shard file"
        else
            info "task ${array}_$k: $state"
            [ "$state" = COMPLETED ] || die "task $k is $state, not COMPLETED"
        fi
    done
    state=$(job_state "$merge")
    local merge_log="$output/logs/$name-merge-$merge.out"
    info "merge job $merge: $state; its log ($merge_log):"
    sed 's/^/   | /' "$merge_log"
    [ "$state" = FAILED ] || die "the merge job should fail with a shard missing, but is $state"
    grep -q "$kind-part-$killed-of-$shards.csv" "$merge_log" || die "the merge log does not name $kind-part-$killed-of-$shards.csv"
    grep -q "sbatch --array=$killed " "$merge_log" || die "the merge log has no 'sbatch --array=$killed' command"
    [ ! -e "$output/$merged_name" ] || die "$output/$merged_name exists although a shard is missing"

    step "$kind: re-run task $killed with the command the merge job printed"
    local rerun
    rerun=$(grep -A1 'merge: re-run the missing tasks' "$merge_log" | tail -n 1 | sed 's/^ *//')
    case "$rerun" in "$repo/Scripts/slurm/submit-$kind.sh --array=$killed "*) ;; *) die "unexpected re-run command: $rerun" ;; esac
    info "+ $rerun"
    submit_output=$(cd / && eval "$rerun")
    echo "$submit_output" | sed 's/^/   /'
    array=$(echo "$submit_output" | submitted_id "$name" "array job")
    merge=$(echo "$submit_output" | submitted_id "$name-merge" "job")
    [ -n "$array" ] && [ -n "$merge" ] || die "could not read the job ids from the re-run's submit output"
    wait_for "merge job $merge to end" job_done "$merge"
    state=$(job_state "${array}_$killed")
    info "task ${array}_$killed: $state"
    grep -q "shard $killed/$shards" "$output/logs/$name-${array}_$killed.out" \
        || die "the re-run task did not run shard $killed/$shards: $(cat "$output/logs/$name-${array}_$killed.out")"
    info "its log says: $(grep -m1 "shard $killed/$shards" "$output/logs/$name-${array}_$killed.out")"
    state=$(job_state "$merge")
    merge_log="$output/logs/$name-merge-$merge.out"
    info "merge job $merge: $state; its log:"
    sed 's/^/   | /' "$merge_log"
    [ "$state" = COMPLETED ] || die "the merge job after the re-run is $state"

    step "$kind: merged against single-machine"
    compare "$output/$merged_name" "$single/$merged_name"
    if [ "$kind" = sweep ]; then compare "$output/sweep.svg" "$single/sweep.svg"; fi
}

# compare MERGED SINGLE: byte for byte. For study.csv, columns of wall time (header matching
# $VOLATILE_COLUMNS) differ between any two runs and are cut from both before comparing.
compare() {
    local merged=$1 single=$2
    case "$merged" in
        */study.csv)
            local pattern=${VOLATILE_COLUMNS:-wall|seconds|elapsed}
            local columns
            # The column names are on the first line that is not a '#' comment (the grid record).
            local header
            header=$(grep -v -m 1 '^#' "$merged")
            columns=$(echo "$header" | tr ',' '\n' | grep -n -E -i "$pattern" | cut -d: -f1 | paste -sd, -)
            if [ -n "$columns" ]; then
                info "cutting wall-time columns $columns ($(echo "$header" | cut -d, -f"$columns")) before comparing"
                cut -d, --complement -f"$columns" "$merged" > "$merged.compared"
                cut -d, --complement -f"$columns" "$single" > "$single.compared"
                merged=$merged.compared single=$single.compared
            fi ;;
    esac
    if cmp "$merged" "$single"; then
        info "cmp $merged $single: identical ($(wc -l < "$merged") lines, $(wc -c < "$merged") bytes)"
    else
        diff "$merged" "$single" | head -n 10 >&2
        die "$merged differs from the single-machine $single"
    fi
}

run_case sweep "$spectrum" --sigma-steps 5 --q0-steps 5 --samples 2 --width 60 --layers 5
if [ -x "$study" ]; then
    read -r -a study_args <<< "${STUDY_ARGS:---layers 2 3 --init identity gaussian --epochs 1 --limit 500 --spectrum-inputs 1}"
    run_case study "$study" "${study_args[@]}"
else
    step "study: skipped ($study does not exist yet: swift build -c release --product study)"
fi

step "stopping the daemons"
stop_daemons
echo "slurm-check: PASS"
