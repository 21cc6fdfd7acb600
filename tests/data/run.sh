#!/bin/bash
# Integration checks on real data (Fashion-MNIST from Debian, CIFAR-10 from ../shared).
set -euo pipefail
BUILD=${1:-build}
"$BUILD/bin/bench_data"
bash tests/data/install.sh "$BUILD"
bash tests/data/prune.sh "$BUILD"
bash tests/data/attack.sh "$BUILD"
bash tests/data/study.sh "$BUILD"
bash tests/data/study_external.sh "$BUILD"
bash tests/data/onnx.sh "$BUILD"
bash tests/data/cli.sh "$BUILD"
bash tests/data/stats_optimality.sh "$BUILD"
