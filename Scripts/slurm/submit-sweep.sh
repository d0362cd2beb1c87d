#!/usr/bin/env bash
# A sharded `spectrum sweep` on Slurm: Scripts/slurm/submit-sweep.sh [options] SHARDS OUTPUT [sweep options…]
# e.g. Scripts/slurm/submit-sweep.sh 16 /scratch/$USER/sweep --sigma-steps 201 --q0-steps 201 --layers 50
# Options and details: Scripts/slurm/submit.sh and docs/sweeps.md.
exec "$(dirname "${BASH_SOURCE[0]}")/submit.sh" sweep "$@"
