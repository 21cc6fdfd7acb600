#!/bin/bash
# thinice-prune on real Fashion-MNIST, small enough for `make check-data` (about a minute on
# two idle cores): a natural small CNN on 2000 images, then magnitude pruning and HYDRA at 90%
# (1 epoch per phase, PGD/TRADES with 3 steps). Checks the exact per-layer zero count in each
# JSON report (sum of floor(0.9 n) = 379266 of 421408 weights), that the written checkpoint
# reloads to identical logits, an accuracy floor, and that a second HYDRA run with the same
# checkpoint directory resumes both phases. With /usr/bin/python3 and torch it also checks
# the checkpoint from PyTorch (scripts/check_pruned_checkpoint.py).
set -euo pipefail
BUILD=${1:-build}
BIN=$BUILD/bin
DATA=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [ ! -e "$DATA/train-images-idx3-ubyte.gz" ] && [ ! -e "$DATA/train-images-idx3-ubyte" ]; then
    echo "prune.sh: no Fashion-MNIST in $DATA, skipped"
    exit 0
fi
T=$(mktemp -d /tmp/thinice-prune-data.XXXXXX)
trap 'rm -rf "$T"' EXIT
t0=$(date +%s)

fail() {
    echo "prune.sh: FAIL: $*" >&2
    exit 1
}

# the value of a top-level number in the one-line JSON report
jnum() {
    grep -o "\"$2\":[-0-9.e+]*" "$1" | head -1 | cut -d: -f2
}

$BIN/thinice-train --data "$DATA" --train-count 2000 --test-count 500 --epochs 2 --lr 0.05 \
    --threads 2 --quiet --no-progress -o "$T/dense.safetensors"

common=(--data "$DATA" --weights "$T/dense.safetensors" --sparsity 0.9 --epochs 1
        --train-count 2000 --steps 3 --eval-count 300 --eval-steps 3 --threads 2 --quiet
        --no-progress)
for method in magnitude hydra; do
    $BIN/thinice-prune "${common[@]}" --method $method -o "$T/$method.safetensors" \
        --json "$T/$method.json" --checkpoint-dir "$T/ckpt-$method"
    zeros=$(jnum "$T/$method.json" weights_zero)
    total=$(jnum "$T/$method.json" weights_total)
    [ "$zeros" = 379266 ] && [ "$total" = 421408 ] ||
        fail "$method: $zeros of $total weights are zero, expected 379266 of 421408"
    grep -q '"reload_max_abs_logit_diff":0[,}]' "$T/$method.json" ||
        fail "$method: the written checkpoint does not reload to identical logits"
    acc=$(jnum "$T/$method.json" clean_accuracy)
    awk -v a="$acc" 'BEGIN { exit !(a >= 0.3) }' ||
        fail "$method: clean accuracy $acc after pruning, expected at least 0.3 (0.1 is chance)"
    if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import torch" 2>/dev/null; then
        /usr/bin/python3 scripts/check_pruned_checkpoint.py "$T/$method.safetensors" \
            "$T/$method.json" || fail "$method: PyTorch check"
    fi
    echo "prune.sh: $method at 90%: $zeros of $total weights zero, clean accuracy $acc"
done

# the same HYDRA run again: both phases come from the checkpoint directory, same model
$BIN/thinice-prune "${common[@]}" --method hydra --json "$T/again.json" \
    --checkpoint-dir "$T/ckpt-hydra"
[ "$(grep -o '"resumed":true' "$T/again.json" | wc -l)" = 2 ] ||
    fail "hydra: the second run did not resume both phases"
[ "$(jnum "$T/again.json" clean_accuracy)" = "$(jnum "$T/hydra.json" clean_accuracy)" ] ||
    fail "hydra: the resumed run reports another accuracy"
echo "prune.sh: OK ($(( $(date +%s) - t0 )) s)"
