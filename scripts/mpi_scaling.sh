#!/bin/bash
# Scaling of the MPI build on this machine (docs/distributed.md): the same work as one
# process with T threads and as T ranks with one thread each, in alternating rounds (the
# machine's speed drifts, so each ratio compares a pair measured back to back).
#   evaluation: thinice-attack, FMN on Fashion-MNIST test images (batches handed out)
#   training:   one PGD-AT epoch of thinice-train (data-parallel), with the share of the
#               time spent in the gradient sums (MPI_Reduce + MPI_Bcast)
# Usage: scripts/mpi_scaling.sh [ROUNDS] [OUT]; needs `make` and `make MPI=1` first.
set -euo pipefail
ROUNDS=${1:-3}
OUT=${2:-/dev/stdout}
P=$(nproc)
export OMPI_MCA_btl_vader_single_copy_mechanism=none
MPIRUN="mpirun --allow-run-as-root --bind-to none -n $P"
W=tests/fixtures/external_fmnist_dense.safetensors
T=$(mktemp -d /tmp/thinice-scaling.XXXXXX)
trap 'rm -rf "$T"' EXIT
EVAL="--weights $W --attack fmn --fmn-steps 200 --count 400 --batch-size 25 --no-progress --quiet"
TRAIN="--adv pgd --steps 7 --epochs 1 --train-count 6000 --test-count 500 --no-progress"
secs() { local t0; t0=$(date +%s.%N); "$@" > "$T/out" 2>&1 || { cat "$T/out"; exit 1; }
         awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
comm_share() { sed -n 's/.*gradient sums [0-9.]* s, \([0-9.]*\)% of training.*/\1/p' "$T/out"; }
{
echo "# $(date -u +%F) $(lscpu | sed -n 's/^Model name: *//p'), $P cores"
echo "# round  eval_1x${P}_s  eval_${P}x1_s  eval_ratio  train_1x${P}_s  train_${P}x1_s  train_ratio  comm_%"
for r in $(seq "$ROUNDS"); do
    e1=$(secs build/bin/thinice-attack $EVAL --threads "$P")
    eP=$(secs $MPIRUN build-mpi/bin/thinice-attack $EVAL --threads 1)
    t1=$(secs build/bin/thinice-train $TRAIN --threads "$P")
    tP=$(secs $MPIRUN build-mpi/bin/thinice-train $TRAIN --threads 1)
    c=$(comm_share)
    printf "%d  %.1f  %.1f  %s  %.1f  %.1f  %s  %s\n" "$r" "$e1" "$eP" "$(ratio "$e1" "$eP")" \
        "$t1" "$tP" "$(ratio "$t1" "$tP")" "$c"
done
} > "$OUT"
