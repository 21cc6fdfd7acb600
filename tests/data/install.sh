#!/bin/bash
# `make install` into a temporary prefix, then the README's library example, extracted from
# README.md as printed, built against it with pkg-config: it stops with the library's message
# when the model file is missing, and evaluates a freshly trained small CNN otherwise.
set -euo pipefail
BUILD=${1:-build}
DATA=${THINICE_DATA:-/usr/share/datasets/fashion-mnist}
T=$(mktemp -d /tmp/thinice-install.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "install.sh: FAIL: $*" >&2; exit 1; }
make -s BUILD="$BUILD" install PREFIX="$T/prefix" > "$T/log" 2>&1 || { cat "$T/log"; exit 1; }
[ -x "$T/prefix/bin/thinice-study" ] || fail "no thinice-study installed"
export PKG_CONFIG_PATH="$T/prefix/lib/pkgconfig"
# the C block of the README's "Using the library" section, as printed
awk '/^## Using the library/ { on = 1 } on && /^```c$/ { code = 1; next }
     code && /^```$/ { exit } code { print }' README.md > "$T/example.c"
[ -s "$T/example.c" ] || fail "no C example in README.md"
cc -Wall -Werror "$T/example.c" $(pkg-config --cflags --libs thinice) -o "$T/example" ||
    fail "the README's example does not compile"
if [ ! -e "$DATA/t10k-images-idx3-ubyte" ] && [ ! -e "$DATA/t10k-images-idx3-ubyte.gz" ]; then
    echo "install.sh: ok (built the README example; no Fashion-MNIST to run it)"
    exit 0
fi
cd "$T"
if ./example > out 2> err; then fail "ran without a model file"; fi
grep -q "smallcnn.safetensors" err || fail "no message naming the missing file: $(cat err)"
"$T/prefix/bin/thinice-train" --data "$DATA" --epochs 1 --train-count 2000 --test-count 100 \
    --threads 2 --quiet --no-progress -o smallcnn.safetensors
./example > out 2> err || fail "the example failed: $(cat err)"
grep -q "^clean 0\.[0-9]*, robust 0\.[0-9]* under AutoAttack standard" out || fail "$(cat out)"
[ "$(wc -l < example.csv)" -eq 201 ] || fail "example.csv should hold a header and 200 rows"
echo "install.sh: ok (README example: $(cat out))"
