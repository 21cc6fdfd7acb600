#!/bin/bash
# thinice-stats --optimality (part of `make check-data`; needs no data set): three attacks'
# per-sample CSVs written here (one in shuffled order, columns in another order, zeros for
# samples misclassified clean, inf where nothing was found), scored by the app and, from the
# same files, independently in awk (envelope = per-sample minimum, eps* = largest finite
# envelope distance, c = fraction above 0, A = mean of min(d, eps*),
# optimality = 1 - (A - A*) / (c eps* - A*)); then the errors a user meets.
set -euo pipefail
BUILD=${1:-build}
BIN=$BUILD/bin
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "stats_optimality: FAIL: $*" >&2; exit 1; }
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

# index, then the distances of attacks a, b and c
cat > "$T/table" <<'EOF'
0 0 0 0
1 0.10 0.12 0.09
2 0.30 0.25 inf
3 inf inf 0.50
4 0.05 0.07 0.06
5 inf inf inf
6 0.2 0.18 0.22
7 0.40 0.35 0.45
8 0 0 0
9 0.15 inf 0.16
10 0.08 0.09 0.07
11 0.6 0.55 0.9
EOF
awk 'BEGIN { print "index,label,min_norm,l2" } { print $1 ",3," $2 ",0.5" }' \
    "$T/table" > "$T/runs_a.csv"
awk 'BEGIN { print "min_norm,attack,index" } { print $3 ",fmn," $1 }' "$T/table" \
    | { IFS= read -r h; echo "$h"; sort -t, -k3,3nr; } > "$T/b.csv"
awk 'BEGIN { print "index,min_norm" } { print $1 "," $4 }' "$T/table" > "$T/c.csv"
head -3 "$T/b.csv" | tail -1 | grep -q ',10$' || fail "b.csv is not shuffled"

# the reference values, from the table: eps*, c, A*, then per attack A and the optimality
awk 'function val(s) { return s == "inf" ? -1 : s + 0 } # -1 stands for +inf
{
    n++
    best = -1
    for (j = 2; j <= 4; j++) {
        d[j, n] = val($j)
        if (d[j, n] >= 0 && (best < 0 || d[j, n] < best)) best = d[j, n]
    }
    env[n] = best
}
END {
    emax = 0; broken0 = 0
    for (i = 1; i <= n; i++) {
        if (env[i] > emax) emax = env[i]
        if (env[i] == 0) broken0++
    }
    c = (n - broken0) / n
    astar = 0
    for (i = 1; i <= n; i++) astar += (env[i] < 0 || env[i] > emax ? emax : env[i]) / n
    printf "%.17g %.17g %.17g", emax, c, astar
    for (j = 2; j <= 4; j++) {
        a = 0
        for (i = 1; i <= n; i++) a += (d[j, i] < 0 || d[j, i] > emax ? emax : d[j, i]) / n
        printf " %.17g %.17g", a, 1 - (a - astar) / (c * emax - astar)
    }
    printf "\n"
}' "$T/table" > "$T/ref"
read -r EMAX C ASTAR A_A O_A A_B O_B A_C O_C < "$T/ref"

"$BIN/thinice-stats" --optimality "$T/runs_a.csv" "$T/b.csv" "$T/c.csv" --names a,b,c \
    -o "$T/opt.json" > "$T/table.out"
J=$(cat "$T/opt.json")
# a JSON number: the value of the k-th (1-based) member named $1
jnum() { grep -o "\"$1\":[^,}]*" <<< "$J" | sed -n "${2:-1}p" | cut -d: -f2; }
# |x - y| <= 1e-12 max(1, |y|)
close() {
    awk -v x="$1" -v y="$2" 'BEGIN { d = x - y; if (d < 0) d = -d; m = y < 0 ? -y : y;
                                   exit !(d <= 1e-12 * (m > 1 ? m : 1)) }' \
        || fail "$3: $1, expected $2"
}
[[ $J == '{"program":"thinice-stats","version":'* ]] || fail "JSON does not start with program"
close "$(jnum eps_max)" "$EMAX" "eps*"
close "$(jnum clean_accuracy)" "$C" "c"
close "$(jnum area_best)" "$ASTAR" "A*"
close "$(jnum area 1)" "$A_A" "A of a"
close "$(jnum area 2)" "$A_B" "A of b"
close "$(jnum area 3)" "$A_C" "A of c"
close "$(jnum optimality 1)" "$O_A" "optimality of a"
close "$(jnum optimality 2)" "$O_B" "optimality of b"
close "$(jnum optimality 3)" "$O_C" "optimality of c"
close "$(jnum area 4)" "$ASTAR" "the envelope's area"
[ "$(jnum finite 2)" = 9 ] || fail "b: $(jnum finite 2) finite, not 9"
[ "$(jnum samples)" = 12 ] || fail "samples: $(jnum samples)"
# numpy.median of a's 12 distances: the mean of the 6th and 7th smallest (inf sorts last)
MED_A=$(awk '{ print $2 }' "$T/table" | sort -g | sed -n '6,7p' | awk '{ s += $1 } END { printf "%.17g", s / 2 }')
close "$(jnum median 1)" "$MED_A" "median of a"
# the table: each attack's row ends with its optimality to 4 decimals
for k in "a $O_A" "b $O_B" "c $O_C"; do
    set -- $k
    want=$(awk -v x="$2" 'BEGIN { printf "%.4f", x }')
    grep -Eq "^  $1 +12 .* $want\$" "$T/table.out" || fail "table row $1 (want $want): $(cat "$T/table.out")"
done
grep -q "c = $(awk -v x="$C" 'BEGIN { printf "%.6g", x }') " "$T/table.out" || fail "table: c"

# default names: the file names without directory and extension; --quiet prints nothing
"$BIN/thinice-stats" --optimality "$T/runs_a.csv" "$T/c.csv" --quiet -o "$T/q.json" > "$T/out"
[ ! -s "$T/out" ] || fail "--quiet printed: $(cat "$T/out")"
grep -q '"name":"runs_a","file":"[^"]*runs_a.csv"' "$T/q.json" || fail "default names: $(cat "$T/q.json")"

# no room to fall behind (every best distance 0 or inf): the optimality is undefined
printf 'index,min_norm\n0,0\n1,inf\n' > "$T/flat1.csv"
printf 'index,min_norm\n1,inf\n0,0\n' > "$T/flat2.csv"
"$BIN/thinice-stats" --optimality "$T/flat1.csv" "$T/flat2.csv" -o "$T/flat.json" > "$T/out"
grep -q '"optimality":null' "$T/flat.json" || fail "undefined optimality: $(cat "$T/flat.json")"
grep -Eq '^  flat1 .* n/a$' "$T/out" || fail "undefined optimality in the table: $(cat "$T/out")"

# errors, each before any output: other samples, a missing column, one file, an empty cell,
# a repeated index, bad --names, options of the other mode
grep -v '^7,' "$T/c.csv" > "$T/c7.csv"
echo "12,0.3" >> "$T/c7.csv"
expect 1 "c7.csv has no sample with index 7 (.*runs_a.csv:9 has it)" \
    "$BIN/thinice-stats" --optimality "$T/runs_a.csv" "$T/c7.csv" -o "$T/mismatch.json"
[ ! -e "$T/mismatch.json" ] && [ ! -s "$T/out" ] || fail "output despite mismatched samples"
expect 1 "c.csv: no column 'l2' (columns: 'index', 'min_norm')" \
    "$BIN/thinice-stats" --optimality "$T/runs_a.csv" "$T/c.csv" --column l2
expect 2 "at least two" "$BIN/thinice-stats" --optimality "$T/runs_a.csv"
sed '6s/,0.05,/,,/' "$T/runs_a.csv" > "$T/empty.csv"
expect 1 "empty.csv:6: column 'min_norm' is empty" \
    "$BIN/thinice-stats" --optimality "$T/empty.csv" "$T/c.csv"
printf 'index,min_norm\n0,\n1,\n' > "$T/pgd.csv"
expect 1 "only for --attack fmn" "$BIN/thinice-stats" --optimality "$T/pgd.csv" "$T/c.csv"
{ cat "$T/c.csv"; echo "4,0.1"; } > "$T/dup.csv"
expect 1 "dup.csv:14: index 4 again (first on line 6)" \
    "$BIN/thinice-stats" --optimality "$T/dup.csv" "$T/c.csv"
expect 2 "does not name the 3 files" \
    "$BIN/thinice-stats" --optimality "$T/runs_a.csv" "$T/b.csv" "$T/c.csv" --names a,b
expect 2 "two attacks named 'c'" "$BIN/thinice-stats" --optimality "$T/c.csv" "$T/c.csv"
expect 2 "--value belongs to the two-sample comparison" \
    "$BIN/thinice-stats" --optimality "$T/runs_a.csv" "$T/c.csv" --value x
expect 2 "go with --optimality" "$BIN/thinice-stats" "$T/c.csv" --a index --b min_norm --column x
echo "stats_optimality: ok"
