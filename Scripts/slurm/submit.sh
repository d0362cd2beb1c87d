#!/usr/bin/env bash
# Submits a sharded grid to Slurm: a job array (one task per shard) and a merge job that runs
# once every task has ended. Called through submit-sweep.sh and submit-study.sh; see
# docs/sweeps.md, "Slurm".
#
#   Scripts/slurm/submit-sweep.sh [options] SHARDS OUTPUT [-- ] [sweep options…]
#   Scripts/slurm/submit-study.sh [options] SHARDS OUTPUT [-- ] [study options…]
#
# SHARDS   number of shards n; task k runs `--shard k/n` (k = SLURM_ARRAY_TASK_ID, n = SHARDS,
#          never SLURM_ARRAY_TASK_COUNT, so a re-run of one task still says k/n).
# OUTPUT   folder for the shard files, the merged result and logs/; it must be on a filesystem
#          every compute node sees.
# Options (before SHARDS):
#   --array=LIST   submit only these tasks (re-running failed ones: --array=3 or --array=3,7-9);
#                  default 1-SHARDS. A new merge job is submitted after them.
#   --cpus=N       CPUs per task (default 1); the task sets OPENBLAS_NUM_THREADS=N.
#   --bin=PATH     the binary (default .build/release/spectrum or .build/release/study of this
#                  checkout); resolved to an absolute path.
#   --no-merge     submit the array only.
#   --NAME=VALUE or --FLAG: any other option is passed to sbatch for both jobs
#                  (e.g. --time=01:00:00 --partition=short --account=proj --mem-per-cpu=2G).
set -euo pipefail

die() { echo "submit: $*" >&2; exit 2; }
usage() { sed -n '5,21p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

kind=${1:-}
case "$kind" in
    sweep|study) shift ;;
    *) die "the first argument must be sweep or study (use submit-sweep.sh or submit-study.sh)" ;;
esac

slurm_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$slurm_dir/../.." && pwd -P)
case "$kind" in
    sweep) default_bin="$repo/.build/release/spectrum" ;;
    study) default_bin="$repo/.build/release/study" ;;
esac

array="" cpus=1 bin="$default_bin" merge=1 sbatch_options=()
while [ $# -gt 0 ]; do
    case "$1" in
        --array=*) array=${1#--array=} ;;
        --array) [ $# -ge 2 ] || die "--array needs a value"; array=$2; shift ;;
        --cpus=*) cpus=${1#--cpus=} ;;
        --cpus) [ $# -ge 2 ] || die "--cpus needs a value"; cpus=$2; shift ;;
        --bin=*) bin=${1#--bin=} ;;
        --bin) [ $# -ge 2 ] || die "--bin needs a value"; bin=$2; shift ;;
        --no-merge) merge=0 ;;
        -h|--help) usage ;;
        --cpus-per-task*|-c*) die "use --cpus=N (it also sets OPENBLAS_NUM_THREADS)" ;;
        --export*|--output*|--error*|--dependency*|--job-name*) die "$1 is set by this script" ;;
        --*) sbatch_options+=("$1") ;;
        *) break ;;
    esac
    shift
done
[ $# -ge 2 ] || usage
shards=$1 output=$2
shift 2
[ "${1:-}" = "--" ] && shift
command_args=("$@")

[[ "$shards" =~ ^[1-9][0-9]*$ ]] || die "SHARDS must be a positive whole number, got '$shards'"
[[ "$cpus" =~ ^[1-9][0-9]*$ ]] || die "--cpus must be a positive whole number, got '$cpus'"
if [ -z "$array" ]; then array="1-$shards"; fi
[[ "$array" =~ ^[0-9][0-9,-]*(%[0-9]+)?$ ]] || die "--array must be a list like 3 or 1-4,7 (optionally %LIMIT), got '$array'"
for range in $(echo "${array%%%*}" | tr ',' ' '); do
    for task in $(echo "$range" | tr '-' ' '); do
        [ "$task" -ge 1 ] && [ "$task" -le "$shards" ] || die "--array=$array names task $task, outside 1…$shards"
    done
done
for argument in "${command_args[@]}"; do
    case "$argument" in
        --shard|--shard=*|--output|--output=*) die "$argument is set by this script (task k gets --shard k/$shards --output OUTPUT)" ;;
    esac
done

# Absolute paths, so that the jobs work whatever folder they start in.
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
[ -x "$bin" ] || die "no binary at $bin: build it first (swift build -c release --product $( [ "$kind" = sweep ] && echo spectrum || echo study )) or pass --bin=PATH"
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
mkdir -p "$output/logs" || die "cannot create $output/logs"
output=$(cd "$output" && pwd -P)
for value in "$bin" "$output" "$slurm_dir"; do
    case "$value" in *,*) die "paths with a comma cannot be passed through sbatch --export: $value" ;; esac
done
command -v sbatch >/dev/null || die "sbatch not found: run this on a Slurm login node"

name="isometry-$kind"
export_list="ALL,ISOMETRY_KIND=$kind,ISOMETRY_BIN=$bin,ISOMETRY_SHARDS=$shards,ISOMETRY_OUTPUT=$output,ISOMETRY_SLURM_DIR=$slurm_dir,ISOMETRY_CPUS=$cpus"

array_job=$(sbatch --parsable \
    --job-name="$name" --array="$array" --cpus-per-task="$cpus" \
    --output="$output/logs/%x-%A_%a.out" \
    --export="$export_list" \
    "${sbatch_options[@]}" \
    "$slurm_dir/shard.sbatch" "${command_args[@]}")
array_job=${array_job%%;*}
echo "submitted $name: array job $array_job, tasks $array of $shards, $cpus CPU(s) each; logs in $output/logs"

if [ "$merge" = 1 ]; then
    # afterany, not afterok: with afterok one failed task would leave the merge pending
    # forever; this job runs in every case and reports the missing shards itself.
    merge_job=$(sbatch --parsable \
        --job-name="$name-merge" --cpus-per-task=1 \
        --dependency="afterany:$array_job" \
        --output="$output/logs/%x-%j.out" \
        --export="$export_list,ISOMETRY_ARRAY_JOB=$array_job" \
        "${sbatch_options[@]}" \
        "$slurm_dir/merge.sbatch" "${sbatch_options[@]}" -- "${command_args[@]}")
    merge_job=${merge_job%%;*}
    echo "submitted $name-merge: job $merge_job, runs after every task of $array_job has ended (afterany); merges into $output"
fi
