#!/bin/bash
# `make install` into a temporary prefix, then a program built against it with pkg-config runs.
set -euo pipefail
BUILD=${1:-build}
T=$(mktemp -d /tmp/thinice-install.XXXXXX)
trap 'rm -rf "$T"' EXIT
make -s BUILD="$BUILD" install PREFIX="$T/prefix" > "$T/log" 2>&1 || { cat "$T/log"; exit 1; }
export PKG_CONFIG_PATH="$T/prefix/lib/pkgconfig"
cc tests/install/example.c $(pkg-config --cflags --libs thinice) -o "$T/example"
out=$("$T/example")
echo "$out" | grep -q "^421642 parameters" || { echo "install.sh: FAIL: $out" >&2; exit 1; }
[ -x "$T/prefix/bin/thinice-study" ] || { echo "install.sh: FAIL: no thinice-study installed" >&2; exit 1; }
echo "install.sh: ok ($out)"
