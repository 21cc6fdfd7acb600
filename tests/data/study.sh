#!/bin/bash
# thinice-study on real Fashion-MNIST with a micro configuration (for `make check-data`):
# every output is written, Table 2 has one row per pruned model with its four populations
# adding up to 100%, a re-run skips every step, and a bad configuration is refused.
set -euo pipefail
BUILD=${1:-build}
BIN=$BUILD/bin
DATA=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [ ! -e "$DATA/train-images-idx3-ubyte.gz" ] && [ ! -e "$DATA/train-images-idx3-ubyte" ]; then
    echo "study.sh: no Fashion-MNIST in $DATA, skipped"
    exit 0
fi
T=$(mktemp -d /tmp/thinice-study-data.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() {
    echo "study.sh: FAIL: $*" >&2
    exit 1
}
cat > "$T/micro.json" <<JSON
{"name": "micro", "data": "$DATA", "train_count": 1000, "test_count": 120,
 "methods": ["hydra", "atmc"], "sparsities": [0.9], "steps": 3,
 "dense": {"epochs": 1}, "prune": {"epochs_prune": 1, "epochs_finetune": 1},
 "attack": {"version": "apgd-ce,square", "count": 40}, "fmn": {"steps": 20}}
JSON
t0=$(date +%s)
"$BIN/thinice-study" --config "$T/micro.json" -o "$T/out" --no-progress > "$T/log1" 2>&1 ||
    { cat "$T/log1"; fail "the study failed"; }
for f in report.md table1.md table1.csv table2.md table2.csv figure2.png figure2.svg; do
    [ -s "$T/out/$f" ] || fail "$f missing"
done
[ "$(head -c 8 "$T/out/figure2.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] ||
    fail "figure2.png is not a PNG"
rows=$(tail -n +2 "$T/out/table2.csv" | wc -l)
[ "$rows" -eq 2 ] || fail "table2.csv has $rows rows, expected 2"
tail -n +2 "$T/out/table2.csv" | awk -F, '{ s = $3 + $4 + $5 + $6; if (s < 99.99 || s > 100.01) exit 1 }' ||
    fail "populations do not add up to 100%"
"$BIN/thinice-study" --config "$T/micro.json" -o "$T/out" --no-progress > "$T/log2" 2>&1 ||
    fail "the re-run failed"
ran=$(grep -c -v -e cached -e "study done" "$T/log2" || true)
[ "$ran" -eq 0 ] || { cat "$T/log2"; fail "the re-run ran $ran steps instead of reading the cache"; }
echo '{"dense": {"epochz": 1}}' > "$T/bad.json"
if "$BIN/thinice-study" --config "$T/bad.json" -o "$T/bad" > "$T/log3" 2>&1; then
    fail "a bad configuration was accepted"
fi
grep -q '"dense.epochz" is not a configuration key' "$T/log3" || fail "unclear message: $(cat "$T/log3")"
echo "study.sh: ok ($(( $(date +%s) - t0 )) s)"
