# shellcheck shell=bash
# Small helpers for the benchmarks in scripts/bench/. Source after scripts/lib.sh.

# Wall clock in microseconds. Bash 5's $EPOCHREALTIME costs no fork; `date +%s%N` is the
# fallback (it adds a fork of ~1 ms to every measurement, the same for every tool).
bench_now_us() {
    if [ -n "${EPOCHREALTIME:-}" ]; then
        local t=${EPOCHREALTIME/[.,]/}
        echo "$t"
    else
        echo $(( $(date +%s%N) / 1000 ))
    fi
}

# Every regular file under DIR, one per line, sorted.
bench_list_files() { find "$1" -type f | LC_ALL=C sort; }

# Files under DIR that are not in the listing BEFORE (a string from bench_list_files): prints
# their total size in bytes and deletes them.
bench_take_new_files() {
    local dir=$1 before=$2 total=0 f
    while IFS= read -r f; do
        [ -n "$f" ] || continue
        total=$(( total + $(stat -c %s "$f") ))
        rm -f "$f"
    done < <(LC_ALL=C comm -13 <(printf '%s\n' "$before") <(bench_list_files "$dir"))
    echo "$total"
}

# Percentile (nearest rank) of the numbers in FILE, one per line.
bench_pct() {
    sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 } END {
        if (NR == 0) { print "nan"; exit }
        r = int((p / 100) * NR + 0.999999); if (r < 1) r = 1; if (r > NR) r = NR; print v[r] }'
}

# Median of the numbers in FILE (mean of the two middle values for an even count).
bench_median() {
    sort -n "$1" | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "nan"; exit }
        if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

us_to_ms() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'; }
bench_median_ms() { us_to_ms "$(bench_median "$1")"; }
bench_pct_ms() { us_to_ms "$(bench_pct "$1" "$2")"; }
bench_mean_ms() { awk '{ s += $1 } END { printf "%.1f", NR ? s / NR / 1000 : 0 }' "$1"; }
