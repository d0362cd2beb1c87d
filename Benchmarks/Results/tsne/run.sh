#!/bin/bash
# 3 alternating rounds; each contender in its own process, 2 threads each.
cd "$(dirname "$0")/../../.."   # the repository root
export OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 MKL_NUM_THREADS=2
PY=/root/.venv-peers/bin/python
OUT=${OUT:-/tmp/tsne-bench}; mkdir -p $OUT
EMBED=${EMBED:-.build/release/embed}   # the run used a copy of it, so a rebuild could not swap it mid-run
run() { # name round cmd...
  local name=$1 round=$2; shift 2
  echo "$(date -u +%FT%TZ) start $name round $round | $(uptime)" >> $OUT/load.log
  "$@" > $OUT/$name-round$round.out 2> $OUT/$name-round$round.err
  local rc=$?   # (the session's run logged rc after a command substitution, so its load.log says rc=0 whatever)
  echo "$(date -u +%FT%TZ) end   $name round $round rc=$rc | $(uptime)" >> $OUT/load.log
}
iso() { run embed $1 $EMBED --limit 10000 --epochs 40 --threads 2 --output $OUT/embed-r$1; }
skl() { run sklearn-fit $1 $PY Benchmarks/Peers/tsne_peers.py --mode sklearn-fit --threads 2; }
ots() { run opentsne $1 $PY Benchmarks/Peers/tsne_peers.py --mode opentsne --threads 2; }
iso 1; skl 1; ots 1
ots 2; skl 2; iso 2
iso 3; skl 3; ots 3
echo finished >> $OUT/load.log
