#!/bin/bash
# thinice-study on models made outside thinice (for `make check-data`): a Fashion-MNIST pair of
# safetensors checkpoints (a PyTorch smallcnn with its normalisation as metadata, float16,
# "module." names, and a copy pruned to 90%; the pruned one with reported accuracies) through a
# configuration file, and a CIFAR-10 pair of ONNX files through --dense/--pruned. Both made by
# scripts/make_external_fixtures.py, whose PyTorch predictions fix the populations Table 2
# must find. Then: every output, a model added to a finished study costs only its own steps,
# and bad models are refused with a clear message before any work.
set -euo pipefail
BUILD=${1:-build}
BIN=$BUILD/bin
FM=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
CIFAR=${CIFAR_DIR:-../shared/data/cifar10}
FX=tests/fixtures
T=$(mktemp -d /tmp/thinice-external.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "study_external: FAIL: $*" >&2; exit 1; }
# "00 01 10 11" counts of a fixture, and of the study's table2.csv (from its percentages)
fixture_counts() { sed -n 's/^counts 00 \([0-9]*\) 01 \([0-9]*\) 10 \([0-9]*\) 11 \([0-9]*\)$/\1 \2 \3 \4/p' "$1"; }
table_counts() {
    tail -n +2 "$1" | head -1 | awk -F, '{ n = $2; printf "%d %d %d %d\n", $3 * n / 100 + 0.5,
        $4 * n / 100 + 0.5, $5 * n / 100 + 0.5, $6 * n / 100 + 0.5 }'
}
t0=$(date +%s)

if [ -e "$FM/t10k-images-idx3-ubyte.gz" ] || [ -e "$FM/t10k-images-idx3-ubyte" ]; then
    cat > "$T/fm.json" <<JSON
{"name": "external", "data": "$FM", "test_count": 1000,
 "models": [{"name": "smallcnn", "model": "smallcnn",
             "dense": "$FX/external_fmnist_dense.safetensors",
             "pruned": [{"method": "magnitude", "sparsity": 0.9,
                         "file": "$FX/external_fmnist_pruned90.safetensors.gz",
                         "reported": {"clean": 0.86, "robust": 0.12, "attack": "PGD-20"}}]}],
 "attack": {"version": "apgd-ce", "count": 40}, "fmn": {"steps": 20}, "curves": {"count": 100}}
JSON
    "$BIN/thinice-study" --config "$T/fm.json" -o "$T/fm" --no-progress > "$T/log" 2>&1 ||
        { cat "$T/log"; fail "the Fashion-MNIST study failed"; }
    for f in report.md table1.md table1.csv table2.csv figure2.png securitycurves-smallcnn.png \
             securitycurves-smallcnn.svg securitycurves-smallcnn.csv \
             samples/smallcnn-dense-distances.csv samples/smallcnn-magnitude-90-distances.csv; do
        [ -s "$T/fm/$f" ] || fail "$f missing"
    done
    want=$(fixture_counts "$FX/external_fmnist_populations.txt")
    got=$(table_counts "$T/fm/table2.csv")
    [ "$got" = "$want" ] || fail "populations $got, PyTorch computed $want"
    grep -q '| smallcnn | magnitude | 90% (90.00%) | PGD-20 (reported) | 86.00 | 12.00 |' \
        "$T/fm/table1.md" || fail "Table 1 lacks the reported columns: $(cat "$T/fm/table1.md")"
    [ "$(wc -l < "$T/fm/samples/smallcnn-magnitude-90-distances.csv")" -eq 101 ] ||
        fail "the pruned model's distances CSV should hold 100 rows"
    echo "study_external: Fashion-MNIST safetensors pair: populations $got, as PyTorch's"
    # a model added to the finished study: only its own three steps run
    sed 's|"reported": {"clean": 0.86, "robust": 0.12, "attack": "PGD-20"}}|&,\n {"method": "atmc", "sparsity": 0.9, "file": "'"$FX"'/external_fmnist_pruned90.safetensors.gz"}|' \
        "$T/fm.json" > "$T/fm2.json"
    "$BIN/thinice-study" --config "$T/fm2.json" -o "$T/fm" --no-progress > "$T/log2" 2>&1 ||
        { cat "$T/log2"; fail "the study with an added model failed"; }
    ran=$(grep '^\[' "$T/log2" | grep -v -e cached -e 'reported clean' | grep -c -v 'smallcnn-atmc-90' || true)
    [ "$ran" -eq 0 ] || { cat "$T/log2"; fail "adding a model re-ran $ran steps of the others"; }
    grep -q 'smallcnn-atmc-90' "$T/fm/table2.csv" || fail "the added model is not in Table 2"
fi

if [ -e "$CIFAR/test_batch.bin.gz" ] || [ -e "$CIFAR/test_batch.bin" ]; then
    "$BIN/thinice-study" --dense "$FX/external_cifar_dense.onnx" \
        --pruned "magnitude:0.9:$FX/external_cifar_pruned90.onnx" --data "$CIFAR" \
        --eps 2/255 --test-count 500 --attack apgd-ce --attack-count 40 --fmn-steps 20 \
        -o "$T/cifar" --no-progress > "$T/log" 2>&1 || { cat "$T/log"; fail "the CIFAR-10 study failed"; }
    want=$(fixture_counts "$FX/external_cifar_populations.txt")
    got=$(table_counts "$T/cifar/table2.csv")
    [ "$got" = "$want" ] || fail "CIFAR-10 populations $got, PyTorch computed $want"
    grep -q 'PGD-10 (thinice)' "$T/cifar/table1.md" || fail "unreported models need thinice's PGD"
    [ -s "$T/cifar/securitycurves-model.png" ] || fail "no security curves for the ONNX pair"
    echo "study_external: CIFAR-10 ONNX pair: populations $got, as PyTorch's"

    # bad input, refused before any work: a model for other data, another architecture,
    # a missing file, a method without a sparsity
    set +e
    "$BIN/thinice-study" --dense "$FX/external_fmnist_dense.safetensors" --model smallcnn \
        --pruned "magnitude:0.9:$FX/external_fmnist_pruned90.safetensors.gz" --data "$CIFAR" \
        -o "$T/bad1" --no-progress > "$T/out" 2> "$T/err"; rc=$?
    [ $rc -eq 1 ] && grep -q '1x28x28' "$T/err" || fail "Fashion-MNIST model on CIFAR-10: rc $rc, $(cat "$T/err")"
    [ ! -e "$T/bad1/steps/smallcnn-dense-pgd.json" ] || fail "work started before the check"
    "$BIN/thinice-study" --dense "$FX/external_fmnist_dense.safetensors" --model smallcnn \
        --pruned "magnitude:0.9:$FX/model_resnet18_fmnist.safetensors" --data "$FM" \
        -o "$T/bad2" --no-progress > "$T/out" 2> "$T/err"; rc=$?
    [ $rc -eq 1 ] && grep -q 'resnet18' "$T/err" || fail "pruned model of another architecture: rc $rc, $(cat "$T/err")"
    "$BIN/thinice-study" --dense "$T/nope.onnx" --pruned "atmc:0.9:$T/nope2.onnx" \
        -o "$T/bad3" > "$T/out" 2> "$T/err"; rc=$?
    [ $rc -eq 2 ] && grep -q 'nope.onnx is not a readable file' "$T/err" || fail "missing file: rc $rc, $(cat "$T/err")"
    "$BIN/thinice-study" --dense "$FX/external_cifar_dense.onnx" \
        --pruned "hydra:$FX/external_cifar_pruned90.onnx" -o "$T/bad4" > "$T/out" 2> "$T/err"; rc=$?
    [ $rc -eq 2 ] && grep -q 'expected METHOD:SPARSITY:FILE' "$T/err" || fail "method without sparsity: rc $rc, $(cat "$T/err")"
    set -e
fi
echo "study_external: ok ($(( $(date +%s) - t0 )) s)"
