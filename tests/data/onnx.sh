#!/bin/bash
# Real-data checks of thinice-attack on an imported ONNX model (part of `make check-data`):
# tests/fixtures/onnx_fmnist.onnx, a small batch-norm CNN with a normalisation prefix trained
# one epoch in PyTorch (scripts/make_onnx_fmnist.py; no Python runs here), attacked on 20
# Fashion-MNIST test images with APGD-CE + APGD-T and with FMN; resume tied to the file's
# bytes; errors: truncated file, model for other inputs, --weights with ONNX, apps that
# cannot take an ONNX model.
set -euo pipefail
BUILD=${1:-build}
DATA=${THINICE_DATA:-/usr/share/datasets/fashion-mnist}
BIN=$BUILD/bin
ONNX=tests/fixtures/onnx_fmnist.onnx
if [ ! -e "$DATA/t10k-images-idx3-ubyte" ] && [ ! -e "$DATA/t10k-images-idx3-ubyte.gz" ]; then
    echo "onnx: skipped (no Fashion-MNIST in $DATA)"
    exit 0
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "onnx: FAIL: $*" >&2; exit 1; }
num() { grep -o "\"$2\":[0-9.e+-]*" "$1" | head -1 | cut -d: -f2; }
C="--data $DATA --count 20 --threads 2 --no-progress --quiet"

# 1. APGD-CE + APGD-T at eps 0.02: exit 0, 20 CSV rows, robust <= clean, some samples fooled
"$BIN/thinice-attack" --model "onnx:$ONNX" $C --eps 0.02 --attack apgd-ce,apgd-t \
    --csv "$T/aa.csv" --json "$T/aa.json" > /dev/null || fail "apgd-ce,apgd-t: exit $?"
[ "$(wc -l < "$T/aa.csv")" -eq 21 ] || fail "aa.csv should have a header and 20 rows"
awk -F, 'NR > 1 && ($1 != NR - 2 || ($5 == 1 && $6 != "apgd-ce" && $6 != "apgd-t")) { bad = 1 }
         END { exit bad }' "$T/aa.csv" || fail "aa.csv rows: $(cat "$T/aa.csv")"
clean=$(num "$T/aa.json" clean_accuracy); rob=$(num "$T/aa.json" robust_accuracy)
awk -v c="$clean" -v r="$rob" 'BEGIN { exit !(r <= c && c >= 0.5 && r < c) }' ||
    fail "clean $clean, robust $rob: want robust < clean and clean >= 0.5"
grep -q "\"weights\":\"$ONNX\"" "$T/aa.json" || fail "aa.json does not name the ONNX file"
echo "onnx: apgd-ce,apgd-t eps 0.02 on 20 images: clean $clean, robust $rob"

# 2. FMN, 50 steps (a file name ending in .onnx is enough, no prefix)
"$BIN/thinice-attack" --model "$ONNX" $C --attack fmn --fmn-steps 50 \
    --csv "$T/fmn.csv" --json "$T/fmn.json" > /dev/null || fail "fmn: exit $?"
[ "$(wc -l < "$T/fmn.csv")" -eq 21 ] || fail "fmn.csv should have a header and 20 rows"
awk -F, 'NR > 1 && (($3 != $2 && ($10 != 0 || $14 != 0)) || ($3 == $2 && $14 != 50)) { bad = 1 }
         END { exit bad }' "$T/fmn.csv" ||
    fail "fmn.csv: misclassified points need norm 0 and no backward pass, the others 50"
clean=$(num "$T/fmn.json" clean_accuracy); rob=$(num "$T/fmn.json" robust_accuracy)
awk -v c="$clean" -v r="$rob" 'BEGIN { exit !(r <= c) }' || fail "fmn: robust $rob > clean $clean"
echo "onnx: fmn 50 steps: clean $clean, robust $rob, median norm $(num "$T/fmn.json" median_norm)"

# 3. --resume: a finished state file reproduces the CSV; another file's bytes are refused
R="--model onnx:$T/m.onnx $C --eps 0.02 --attack apgd-ce --batch-size 10"
cp "$ONNX" "$T/m.onnx"
"$BIN/thinice-attack" $R --csv "$T/r1.csv" --resume "$T/state" > /dev/null
"$BIN/thinice-attack" $R --csv "$T/r2.csv" --resume "$T/state" > /dev/null
cmp -s "$T/r1.csv" "$T/r2.csv" || fail "re-run from a finished state file gave another CSV"
printf '\x28\x01' >> "$T/m.onnx" # same name, other bytes: model_version = 1 appended
set +e
"$BIN/thinice-attack" $R --resume "$T/state" > /dev/null 2> "$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q 'other settings.*weights_fnv' "$T/err" ||
    fail "state of another ONNX file: rc $rc, $(cat "$T/err")"

# 4. errors: truncated file (1, names the file), other input shape (1), --weights (2),
#    train and prune refuse ONNX models (2)
head -c 100 "$ONNX" > "$T/trunc.onnx"
"$BIN/thinice-attack" --model "$T/trunc.onnx" $C --eps 0.02 2> "$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q 'trunc.onnx' "$T/err" || fail "truncated file: rc $rc, $(cat "$T/err")"
"$BIN/thinice-attack" --model onnx:tests/fixtures/onnx_bnnorm.onnx $C --eps 0.02 2> "$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q 'onnx_bnnorm.onnx takes 3x16x16 inputs but the fashion-mnist data are 1x28x28' "$T/err" ||
    fail "3x16x16 model on Fashion-MNIST: rc $rc, $(cat "$T/err")"
"$BIN/thinice-attack" --model "onnx:$ONNX" --weights x.safetensors $C --eps 0.02 2> "$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q 'carries its weights' "$T/err" || fail "--weights with ONNX: rc $rc"
"$BIN/thinice-attack" --model onnx: $C --eps 0.02 2> /dev/null; rc=$?
[ $rc -eq 2 ] || fail "--model onnx: without a file should be a usage error (rc $rc)"
for app in train prune; do
    "$BIN/thinice-$app" --model "onnx:$ONNX" --data "$DATA" 2> "$T/err"; rc=$?
    [ $rc -eq 2 ] && grep -q 'not trained or pruned' "$T/err" ||
        fail "thinice-$app --model onnx:...: rc $rc, $(cat "$T/err")"
done
set -e
echo "onnx: ok"
