#!/bin/sh
# make fuzz: runs each fuzzer BUILD/bin/fuzz_<parser> for FUZZ_SECONDS over a copy of its seed
# corpus (tests/fuzz/corpus/<parser>/, which stays as committed) with its dictionary, one
# after the other. New corpus entries, logs and crash inputs go to BUILD/fuzz-work/<parser>/.
# Exits non-zero if any fuzzer finds a crash, a leak, a timeout (an input taking more than
# 10 s) or a memory blow-up (2 GB resident, or one allocation above 2 GB).
set -u
build=${1:-build-fuzz}
secs=${FUZZ_SECONDS:-60}
work=$build/fuzz-work
rm -rf "$work"
failed=""
for bin in "$build"/bin/fuzz_*; do
    name=${bin##*/fuzz_}
    dir=$work/$name
    mkdir -p "$dir/corpus"
    # the harnesses that must write their input to a file do it in $TMPDIR: memory if we can
    if [ -d /dev/shm ] && [ -w /dev/shm ]; then
        tmp=$(mktemp -d /dev/shm/thinice-fuzz.XXXXXX)
    else
        tmp=$(mktemp -d)
    fi
    cp tests/fuzz/corpus/"$name"/* "$dir/corpus/"
    dict=""
    [ -f tests/fuzz/"$name".dict ] && dict=-dict=tests/fuzz/"$name".dict
    start=$(date +%s)
    TMPDIR=$tmp "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$dir/" $dict "$dir/corpus" >"$dir/log" 2>&1
    rc=$?
    end=$(date +%s)
    rm -rf "$tmp"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -n 1)
    printf 'fuzz %-12s %10s executions in %4d s, corpus %d -> %d inputs\n' "$name" \
        "${execs:-?}" $((end - start)) "$(ls tests/fuzz/corpus/"$name" | wc -l)" \
        "$(ls "$dir/corpus" | wc -l)"
    if [ "$rc" -ne 0 ]; then
        failed="$failed $name"
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$dir/log" | head -n 20
        echo "fuzz $name: FAILED (exit $rc); the log is $dir/log; reproduce with $bin INPUT"
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz: findings in:$failed"
    exit 1
fi
echo "fuzz: no findings"
