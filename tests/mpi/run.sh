#!/bin/bash
# make check-mpi: the MPI build's apps under mpirun against one process, shards merged, a
# rank killed and resumed, a failing rank, data-parallel training and pruning, the study
# spread over ranks and over shards. Records are compared byte for byte with a run of one
# process with the same --threads (1) and --batch-size: the rounding of a model's outputs
# depends on both (OpenBLAS), never on the number of processes or shards.
set -euo pipefail
MPIB=${1:-build-mpi}
BUILD=${2:-build}
FM=${FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
FX=tests/fixtures
W=$FX/external_fmnist_dense.safetensors
T=$(mktemp -d /tmp/thinice-mpi.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "check-mpi: FAIL: $*" >&2; exit 1; }
say() { echo "check-mpi: $*"; }
# containers: no ptrace-based single copy; two cores run three ranks
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1
MPIRUN="mpirun --oversubscribe --allow-run-as-root"
ONE=$BUILD/bin
MPI=$MPIB/bin
t0=$(date +%s)
# the JSON summary without the members that time the run or describe the machine
json_core() {
    sed -E -e 's/"seconds":\{[^}]*\}//g' \
        -e 's/"(wall_seconds|seconds|threads|processes)":[-0-9.e+]+,?//g' "$1"
}

# ---- 1. thinice-attack: AutoAttack standard and FMN, 1 process vs 2 and 3 ranks ----------
AA="--weights $W --eps 0.05 --count 20 --batch-size 4 --threads 1 --no-progress --quiet"
FMN="--weights $W --attack fmn --fmn-steps 100 --count 60 --batch-size 8 --threads 1 --no-progress --quiet"
"$ONE/thinice-attack" $AA -o "$T/aa1.csv" --json "$T/aa1.json" > /dev/null
"$ONE/thinice-attack" $FMN -o "$T/fmn1.csv" --json "$T/fmn1.json" > /dev/null
for n in 2 3; do
    $MPIRUN -n $n "$MPI/thinice-attack" $AA -o "$T/aa$n.csv" --json "$T/aa$n.json" > /dev/null
    cmp "$T/aa1.csv" "$T/aa$n.csv" || fail "AutoAttack CSV of $n ranks differs from one process"
    diff <(json_core "$T/aa1.json") <(json_core "$T/aa$n.json") ||
        fail "AutoAttack JSON of $n ranks differs from one process"
    $MPIRUN -n $n "$MPI/thinice-attack" $FMN -o "$T/fmn$n.csv" > /dev/null
    cmp "$T/fmn1.csv" "$T/fmn$n.csv" || fail "FMN CSV of $n ranks differs from one process"
done
grep -q '"processes":3' "$T/aa3.json" || fail "the JSON does not say 3 processes"
"$MPI/thinice-attack" $FMN -o "$T/fmn_plain.csv" > /dev/null # the MPI build without mpirun
cmp "$T/fmn1.csv" "$T/fmn_plain.csv" || fail "the MPI build without mpirun differs"
say "attack: AutoAttack and FMN CSVs of 2 and 3 ranks identical to one process"

# ---- 2. shards and --merge ------------------------------------------------------------------
for k in 0 1 2; do
    "$ONE/thinice-attack" $AA --shard $k/3 --resume "$T/aa.s$k" > /dev/null
done
"$ONE/thinice-attack" $AA --merge "$T/aa.s0" "$T/aa.s1" "$T/aa.s2" -o "$T/aam.csv" \
    --json "$T/aam.json" > /dev/null
cmp "$T/aa1.csv" "$T/aam.csv" || fail "merged AutoAttack shards differ from one process"
diff <(json_core "$T/aa1.json") <(json_core "$T/aam.json") || fail "merged JSON differs"
$MPIRUN -n 2 "$MPI/thinice-attack" $FMN --shard 0/2 --resume "$T/fmn.s0" > /dev/null
"$ONE/thinice-attack" $FMN --shard 1/2 --resume "$T/fmn.s1" > /dev/null
"$ONE/thinice-attack" $FMN --merge "$T/fmn.s1" "$T/fmn.s0" -o "$T/fmnm.csv" > /dev/null
cmp "$T/fmn1.csv" "$T/fmnm.csv" || fail "merged FMN shards (one of them MPI) differ"
expect_merge_error() { # what, expected message, merge arguments...
    local what=$1 msg=$2; shift 2
    if "$ONE/thinice-attack" "$@" -o "$T/bad.csv" > /dev/null 2> "$T/err"; then
        fail "merge $what: accepted"
    fi
    grep -q "$msg" "$T/err" || { cat "$T/err"; fail "merge $what: no '$msg' in the message"; }
}
expect_merge_error "with a shard missing" "are in no shard" $AA --merge "$T/aa.s0" "$T/aa.s2"
expect_merge_error "with a shard twice" "in two shards" $AA --merge "$T/aa.s0" "$T/aa.s1" \
    "$T/aa.s1" "$T/aa.s2"
expect_merge_error "at another eps" "eps differs" ${AA/0.05/0.06} --merge "$T/aa.s0" \
    "$T/aa.s1" "$T/aa.s2"
expect_merge_error "of another attack" "attack differs" $FMN --merge "$T/aa.s0" "$T/aa.s1" \
    "$T/aa.s2"
say "shards: merged CSV and JSON identical to one process; bad merges refused"

# ---- 3. a rank killed mid-run, then --resume; a failing rank -------------------------------
KILL="--weights $W --attack fmn --fmn-steps 400 --count 96 --batch-size 4 --threads 1 --no-progress --quiet"
"$ONE/thinice-attack" $KILL -o "$T/kill1.csv" > /dev/null
$MPIRUN -n 2 "$MPI/thinice-attack" $KILL --resume "$T/kill.state" -o "$T/kill2.csv" \
    > /dev/null 2> "$T/kill.err" &
job=$!
for _ in $(seq 600); do # until a rank has finished a batch
    grep -qs '^rec ' "$T/kill.state.rank1" && break
    sleep 0.1
done
victim=$(pgrep -f "$MPI/thinice-attack" | tail -1)
[ -n "$victim" ] || fail "no rank to kill"
kill -9 "$victim"
if wait $job; then fail "the job survived a killed rank"; fi
[ ! -e "$T/kill2.csv" ] || fail "a job with a killed rank wrote its CSV"
$MPIRUN -n 2 "$MPI/thinice-attack" $KILL --resume "$T/kill.state" -o "$T/kill2.csv" \
    > "$T/kill.out"
cmp "$T/kill1.csv" "$T/kill2.csv" || fail "the resumed job's CSV differs from one process"
ls "$T"/kill.state.rank* > /dev/null 2>&1 && fail "the finished job left its rank files"
# rank 1 alone fails (its weights file is missing) while rank 0 waits for it in the run
if timeout 300 $MPIRUN -n 1 "$MPI/thinice-attack" $FMN --resume "$T/bad.state" : \
    -n 1 "$MPI/thinice-attack" ${FMN/$W/$T/missing.safetensors} --resume "$T/bad.state" \
    > /dev/null 2> "$T/bad.err"; then
    fail "a job whose rank 1 failed succeeded"
fi
grep -q "rank 1 of 2.*missing.safetensors" "$T/bad.err" ||
    { cat "$T/bad.err"; fail "no message from rank 1"; }
say "a killed rank ends the job; --resume finishes it with one process's CSV; a failing rank stops the job with its message"

# ---- 4. data-parallel training and pruning ---------------------------------------------------
TR="--adv pgd --steps 5 --epochs 1 --train-count 4000 --test-count 1000 --no-progress"
"$ONE/thinice-train" $TR --threads 2 -o "$T/dense.safetensors" --json "$T/t1.json" > /dev/null
$MPIRUN -n 2 "$MPI/thinice-train" $TR -o "$T/dense2.safetensors" --json "$T/t2.json" > "$T/t2.out"
acc() { sed -n 's/.*"test_accuracy":\([0-9.]*\),"total_seconds".*/\1/p' "$1"; }
a1=$(acc "$T/t1.json"); a2=$(acc "$T/t2.json")
awk -v a="$a1" -v b="$a2" 'BEGIN { d = a - b; exit !(d < 0.04 && d > -0.04) }' ||
    fail "PGD-AT test accuracy of 2 ranks $a2, of one process $a1"
grep -q "gradient sums" "$T/t2.out" || fail "no communication share in the epoch line"
for m in hydra admm atmc; do # every step checks the ranks' weights and masks are equal
    $MPIRUN -n 3 "$MPI/thinice-prune" --weights "$T/dense.safetensors" --method $m \
        --epochs-prune 1 --epochs-finetune 1 --train-count 600 --eval-count 100 --steps 2 \
        --no-progress --quiet -o "$T/$m.safetensors" ||
        fail "$m pruning over 3 ranks"
done
say "training: 2-rank PGD-AT accuracy $a2 (one process $a1); HYDRA, ADMM, ATMC over 3 ranks in step"

# ---- 5. the study over ranks and shards -------------------------------------------------------
cat > "$T/st.json" <<JSON
{"name": "external", "data": "$FM", "test_count": 400,
 "models": [{"name": "smallcnn", "model": "smallcnn", "dense": "$W",
             "pruned": [{"method": "magnitude", "sparsity": 0.9,
                         "file": "$FX/external_fmnist_pruned90.safetensors.gz",
                         "reported": {"clean": 0.86, "robust": 0.12, "attack": "PGD-20"}}]}],
 "attack": {"version": "apgd-ce,apgd-t", "count": 40}, "fmn": {"steps": 20},
 "curves": {"count": 100}, "batch_size": 32}
JSON
ST="--config $T/st.json --threads 1 --no-progress --quiet"
"$ONE/thinice-study" $ST -o "$T/s1"
$MPIRUN -n 3 "$MPI/thinice-study" $ST -o "$T/s3"
"$ONE/thinice-study" $ST -o "$T/sh" --models-only
for k in 0 1 2; do "$ONE/thinice-study" $ST -o "$T/sh" --shard $k/3; done
[ ! -e "$T/sh/table1.csv" ] || fail "a shard run wrote the tables"
"$ONE/thinice-study" $ST -o "$T/sh"
for f in table1.csv table2.csv securitycurves-smallcnn.csv samples/smallcnn-dense-fmn.csv \
         samples/smallcnn-dense-autoattack.csv; do
    cmp "$T/s1/$f" "$T/s3/$f" || fail "study over 3 ranks: $f differs"
    cmp "$T/s1/$f" "$T/sh/$f" || fail "study in 3 shards: $f differs"
done
ls "$T"/s3/samples/*.rank* "$T"/sh/samples/*.shard* > /dev/null 2>&1 &&
    fail "the study left part files"
say "study: 3 ranks and 3 shards give one process's tables"
say "OK ($(( $(date +%s) - t0 )) s)"
