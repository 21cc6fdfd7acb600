#!/bin/bash
# What a new user trips over, checked with the built apps (part of `make check-data`): outputs
# written through symbolic links, FIFOs, devices and "-" without replacing them; output paths
# and study configurations checked before any work; periodic progress lines into a pipe;
# inputs refused with a clear message (eps, attack names, counts beyond the data set); the
# same short options everywhere.
set -euo pipefail
BUILD=${1:-build}
DATA=${THINICE_DATA:-/usr/share/datasets/fashion-mnist}
BIN=$BUILD/bin
if [ ! -e "$DATA/t10k-images-idx3-ubyte" ] && [ ! -e "$DATA/t10k-images-idx3-ubyte.gz" ]; then
    echo "cli: skipped (no Fashion-MNIST in $DATA)"
    exit 0
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "cli: FAIL: $*" >&2; exit 1; }
# runs a command that must fail with exit code $1 and a message matching $2
expect() {
    local rc=$1 msg=$2
    shift 2
    set +e
    "$@" > "$T/out" 2> "$T/err"
    local got=$?
    set -e
    [ $got -eq "$rc" ] || fail "$*: exit $got, not $rc ($(cat "$T/err"))"
    grep -q -- "$msg" "$T/err" || fail "$*: no '$msg' in: $(cat "$T/err")"
}

for app in attack study train prune stats; do
    "$BIN/thinice-$app" -h > "$T/out" && grep -q Usage "$T/out" || fail "thinice-$app -h"
done

"$BIN/thinice-train" --data "$DATA" --epochs 1 --train-count 1000 --test-count 50 --threads 2 \
    -o "$T/m.safetensors" --quiet --no-progress
A=(--weights "$T/m.safetensors" --data "$DATA" --count 8 --eps 0.1 --attack fgsm --threads 2
   --quiet --no-progress)

# 1. outputs: a symbolic link is followed, "-" is standard output, a FIFO and a device are
#    written in place, and none of them is replaced by a regular file
touch "$T/target.csv"
ln -s "$T/target.csv" "$T/link.csv"
"$BIN/thinice-attack" "${A[@]}" -o "$T/link.csv" > /dev/null
[ -L "$T/link.csv" ] && [ "$(wc -l < "$T/target.csv")" -eq 9 ] || fail "the symbolic link"
"$BIN/thinice-attack" "${A[@]}" -o - > "$T/out"
grep -q '^index,label,' "$T/out" || fail "-o - to stdout"
[ ! -e ./- ] || fail "-o - wrote a file named -"
mkfifo "$T/fifo"
cat "$T/fifo" > "$T/from-fifo" &
"$BIN/thinice-attack" "${A[@]}" -o "$T/fifo" > /dev/null
wait
[ -p "$T/fifo" ] && [ "$(wc -l < "$T/from-fifo")" -eq 9 ] || fail "the FIFO"
"$BIN/thinice-attack" "${A[@]}" --json /dev/null > /dev/null || fail "--json /dev/null"
[ -c /dev/null ] || fail "/dev/null is no longer a device"
if [ -w /dev/full ]; then
    expect 1 "write failed" "$BIN/thinice-attack" "${A[@]}" -o /dev/full
    [ -c /dev/full ] || fail "/dev/full was replaced"
fi

# 2. output paths are checked before any work
expect 1 "does not exist" "$BIN/thinice-attack" "${A[@]}" -o "$T/no/such/dir/x.csv"
grep -q "robust accuracy" "$T/out" && fail "the attack ran before the output check"
touch "$T/file"
expect 1 "not a directory" "$BIN/thinice-train" --data "$DATA" --epochs 1 --train-count 100 \
    --no-progress -o "$T/file/m.safetensors"
grep -q "epoch" "$T/out" && fail "training ran before the output check"
expect 1 "not a directory" "$BIN/thinice-prune" --weights "$T/m.safetensors" --data "$DATA" \
    --checkpoint-dir "$T/file" --no-progress
expect 1 "is a directory" "$BIN/thinice-attack" "${A[@]}" --json "$T"

# 3. a study configuration is checked whole, before any work (and by --print-config)
printf '{"attack": {"version": "foo"}}' > "$T/bad1.json"
printf '{"fmn": {"norm": "l3"}}' > "$T/bad2.json"
printf '{"networks": ["resnet19"]}' > "$T/bad3.json"
expect 2 "attack.version" "$BIN/thinice-study" --config "$T/bad1.json" -o "$T/s" --print-config
expect 2 "fmn.norm" "$BIN/thinice-study" --config "$T/bad2.json" -o "$T/s"
expect 2 "resnet19" "$BIN/thinice-study" --config "$T/bad3.json" -o "$T/s"
[ ! -e "$T/s" ] || fail "a bad configuration created the output directory"

# 4. progress into a pipe: a plain line every THINICE_PROGRESS_SECONDS (30 by default)
THINICE_PROGRESS_SECONDS=0.2 "$BIN/thinice-attack" --weights "$T/m.safetensors" \
    --data "$DATA" --count 40 --eps 0.1 --attack apgd-ce,square --threads 2 2> "$T/err" > /dev/null
grep -q 'thinice-attack: eval .* img/s  ETA' "$T/err" || fail "no progress lines: $(cat "$T/err")"

# 5. inputs: eps 0 runs nothing for every attack; clear refusals
"$BIN/thinice-attack" "${A[@]}" --eps 0 --attack pgd --json "$T/e0.json" > /dev/null
clean=$(grep -o '"clean_accuracy":[0-9.e+-]*' "$T/e0.json" | cut -d: -f2)
robust=$(grep -o '"robust_accuracy":[0-9.e+-]*' "$T/e0.json" | head -1 | cut -d: -f2)
[ "$clean" = "$robust" ] || fail "eps 0: robust $robust is not the clean $clean"
expect 2 "denominator" "$BIN/thinice-attack" "${A[@]}" --eps 8/0
expect 2 "did you mean 'apgd-ce'" "$BIN/thinice-attack" "${A[@]}" --attack apgd-cee
expect 2 "pgd runs alone" "$BIN/thinice-attack" "${A[@]}" --attack apgd-ce,pgd
expect 1 "has 60000" "$BIN/thinice-train" --data "$DATA" --train-count 70000 --no-progress
expect 1 "has 60000" "$BIN/thinice-prune" --weights "$T/m.safetensors" --data "$DATA" \
    --train-count 70000 --no-progress
# the training adversary's default follows the data set (0.1 on Fashion-MNIST)
"$BIN/thinice-train" --data "$DATA" --epochs 1 --train-count 200 --test-count 50 --adv pgd \
    --steps 1 --no-progress --threads 2 > "$T/out"
grep -q "eps 0.1, step 0.025" "$T/out" || fail "train --adv eps: $(cat "$T/out")"

# 6. thinice-stats: a CSV with a byte-order mark, and its input as an argument
printf '\xef\xbb\xbfscore,group\n1,a\n2,a\n3,b\n4,b\n' > "$T/bom.csv"
"$BIN/thinice-stats" "$T/bom.csv" --value score --group group --quiet -o "$T/st.json"
grep -q '"program":"thinice-stats"' "$T/st.json" || fail "stats JSON convention"
echo "cli: ok"
