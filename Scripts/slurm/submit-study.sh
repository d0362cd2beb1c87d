#!/usr/bin/env bash
# A sharded `study` on Slurm: Scripts/slurm/submit-study.sh [options] SHARDS OUTPUT [study options…]
# Options and details: Scripts/slurm/submit.sh and docs/sweeps.md.
exec "$(dirname "${BASH_SOURCE[0]}")/submit.sh" study "$@"
