#!/bin/bash
# Real-data checks of thinice-attack on Fashion-MNIST (part of `make check-data`): a small CNN
# trained for one quick epoch, then AutoAttack standard vs PGD-20 on the same samples (never
# weaker), FMN L-inf minimum norms, a run killed with SIGKILL mid-way and resumed to the same
# CSV as an uninterrupted run, a state file from other arguments refused, and error paths.
set -euo pipefail
BUILD=${1:-build}
DATA=${THINICE_DATA:-/usr/share/datasets/fashion-mnist}
BIN=$BUILD/bin
if [ ! -e "$DATA/t10k-images-idx3-ubyte" ] && [ ! -e "$DATA/t10k-images-idx3-ubyte.gz" ]; then
    echo "attack: skipped (no Fashion-MNIST in $DATA)"
    exit 0
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "attack: FAIL: $*" >&2; exit 1; }
# the top-level "robust_accuracy" of a summary (the per-attack ones come after it)
robust() { grep -o '"robust_accuracy":[0-9.e+-]*' "$1" | head -1 | cut -d: -f2; }

"$BIN/thinice-train" --data "$DATA" --epochs 1 --train-count 3000 --test-count 200 --threads 2 \
    -o "$T/m.safetensors" --quiet --no-progress
W="--weights $T/m.safetensors --data $DATA --threads 2 --no-progress --quiet"

# 1. AutoAttack standard is never weaker than PGD-20 on the same samples
"$BIN/thinice-attack" $W --count 24 --eps 0.1 --attack standard --json "$T/aa.json" --csv "$T/aa.csv"
"$BIN/thinice-attack" $W --count 24 --eps 0.1 --attack pgd --json "$T/pgd.json"
aa=$(robust "$T/aa.json"); pgd=$(robust "$T/pgd.json")
awk -v a="$aa" -v p="$pgd" 'BEGIN { exit !(a <= p) }' ||
    fail "AutoAttack robust accuracy $aa above PGD-20's $pgd"
[ "$(wc -l < "$T/aa.csv")" -eq 25 ] || fail "aa.csv should have a header and 24 rows"
echo "attack: AutoAttack standard $aa <= PGD-20 $pgd (24 samples, eps 0.1)"

# 2. FMN L-inf: per-sample minimum norms (0 for misclassified points, which FMN does not
# attack) and the median
"$BIN/thinice-attack" $W --count 16 --attack fmn --fmn-steps 100 --csv "$T/fmn.csv" --json "$T/fmn.json"
head -1 "$T/fmn.csv" | grep -q ',l1,min_norm,forwards,backwards,forwards_fmn,backwards_fmn,audit_randomized,.*,audit_unconstrained_attack_failure$' ||
    fail "fmn.csv has not the harness's columns and the audit's: $(head -1 "$T/fmn.csv")"
awk -F, 'NR > 1 && $3 != $2 && ($10 != 0 || $14 != 0) { bad = 1 }
         NR > 1 && $3 == $2 && $14 != 100 { bad = 1 } END { exit bad }' "$T/fmn.csv" ||
    fail "fmn.csv: misclassified points need norm 0 and no backward pass, the others 100"
grep -q '"median_norm":' "$T/fmn.json" || fail "fmn.json lacks the median norm"

# 3. kill -KILL mid-run, resume, same CSV as an uninterrupted run
A="$W --count 60 --eps 0.1 --batch-size 10 --attack apgd-ce,apgd-dlr"
"$BIN/thinice-attack" $A --csv "$T/full.csv"
"$BIN/thinice-attack" $A --csv "$T/res.csv" --resume "$T/state" &
pid=$!
for _ in $(seq 1 600); do # wait for the first batch in the state file, then kill
    if [ -f "$T/state" ] && grep -q '^rec ' "$T/state"; then break; fi
    sleep 0.05
done
kill -KILL $pid 2>/dev/null || true
wait $pid 2>/dev/null || true
done_before=$(grep -c '^rec ' "$T/state" || true)
"$BIN/thinice-attack" $A --csv "$T/res.csv" --resume "$T/state"
cmp -s "$T/full.csv" "$T/res.csv" || fail "resumed CSV differs from the uninterrupted run"
echo "attack: killed after $done_before of 60 samples, resumed to the same CSV"

# 4. a state file from other arguments is refused, with the reason
if "$BIN/thinice-attack" $A --eps 0.2 --resume "$T/state" 2> "$T/err"; then
    fail "a state file from another eps was accepted"
fi
grep -q 'other settings.*eps' "$T/err" || fail "refusal message: $(cat "$T/err")"

# 5. errors: missing weights (1), wrong architecture (1), bad flag values (2)
set +e
"$BIN/thinice-attack" --weights "$T/nope.safetensors" --eps 0.1 --count 2 2> "$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q 'nope.safetensors' "$T/err" || fail "missing weights: rc $rc, $(cat "$T/err")"
"$BIN/thinice-attack" --model resnet18 --weights "$T/m.safetensors" --eps 0.1 --count 2 2> "$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q 'smallcnn' "$T/err" || fail "wrong model: rc $rc, $(cat "$T/err")"
"$BIN/thinice-attack" --weights "$T/m.safetensors" --eps -1 2> /dev/null; rc=$?
[ $rc -eq 2 ] || fail "--eps -1 should be a usage error (rc $rc)"
"$BIN/thinice-attack" --weights "$T/m.safetensors" --eps 0.1 --norm l3 2> /dev/null; rc=$?
[ $rc -eq 2 ] || fail "--norm l3 should be a usage error (rc $rc)"
set -e
echo "attack: ok"
