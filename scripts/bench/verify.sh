#!/usr/bin/env bash
# Benchmark (not a test): `tidemark verify`, in two parts.
#
# 1. Real data, side by side. A scratch PostgreSQL 15 loads `pgbench -i -s SCALE`, archived by
#    both Tidemark and pgBackRest as it is written (the same WAL, see scripts/bench/lib.sh),
#    and each tool takes one full backup. Then ROUNDS times, in rotating order:
#      tidemark verify --full     every object read, authenticated and decompressed, catalogs,
#                                 WAL continuity (rebuilds the ledger)
#      pgbackrest verify          pgBackRest's check of the same WAL and backup (it exits 0
#                                 even when it finds errors, so its output must say status: ok)
#      cat                        every file of Tidemark's repository to /dev/null: the store's
#                                 sequential read speed for the same bytes (the floor)
#    once with warm caches and, as root, once with the page cache dropped before each run (the
#    disk's speed). Prints medians, MB/s of the repository's stored bytes and verify/cat.
#    Target: verify --full at >= 80 % of cat's MB/s.
# 2. Nothing new. `tidemark-bench-repo` writes SEGMENTS synthetic 16 MiB segments through the
#    real push path; one `verify --wal` reads them all (and writes the ledger); then ROUNDS
#    routine `verify --wal` runs (the default 2 % sample) and ROUNDS with `--sample-percent 0`
#    (the bookkeeping alone: listing, headers, ledger, continuity), against `find` of the
#    repository. Target: verify --wal with nothing new < 1 s.
#
#   scripts/bench/verify.sh
#
# Environment: SCALE (default 50), ROUNDS (default 3), SEGMENTS (default 10000), TIDEMARK_BIN,
# TIDEMARK_BENCH_REPO_BIN, TIDEMARK_SCRATCH_PATH (default .build-release), KEEP=1,
# COLD=0 (skip the dropped-cache runs), PARTS (default "1 2"; "2" runs only the second part).
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo_root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh

SCALE=${SCALE:-50}
ROUNDS=${ROUNDS:-3}
SEGMENTS=${SEGMENTS:-10000}
COLD=${COLD:-1}
PARTS=${PARTS:-1 2}
[ "$(id -u)" -eq 0 ] || COLD=0

GEN_SRC=$(bench_repo_generator)

part() { case " $PARTS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
if ! part 1; then SCALE=1; fi   # part 2 needs only the scratch directory, the binary and a key
bench_br_setup "$SCALE"
if part 1; then
tm_log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
bench_br_backup tidemark
tm_log "tidemark backup $BR_BACKUP: $(bench_br_mb "$BR_STORED") MB stored"
bench_br_backup pgbackrest
tm_log "pgbackrest backup $BR_BACKUP: $(bench_br_mb "$BR_STORED") MB stored"
TM_BYTES=$(du -sb "$BR_TM_REPO" | cut -f1)
PGBR_BYTES=$(du -sb "$BR_PGBR_REPO" | cut -f1)
TM_FILES=$(find "$BR_TM_REPO" -type f | wc -l)
tm_log "repositories: tidemark $(bench_br_mb "$TM_BYTES") MB in $TM_FILES files, pgbackrest $(bench_br_mb "$PGBR_BYTES") MB"

drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

run_tool() {
    local tool=$1
    case $tool in
        tidemark)
            bench_br_timed "tidemark verify --full" bench_br_pg "$BR_BIN" verify --full
            grep -q "stanza 'bench': ok" "$BR_TIMES/last.out" || { cat "$BR_TIMES/last.out" >&2; tm_die "tidemark verify did not report ok"; }
            ;;
        pgbackrest)
            bench_br_timed "pgbackrest verify" bench_br_pg "${BR_PGBR[@]}" --output=text --verbose verify
            grep -q "status: ok" "$BR_TIMES/last.out" || { cat "$BR_TIMES/last.out" >&2; tm_die "pgbackrest verify did not report status: ok"; }
            ;;
        cat)
            bench_br_timed "cat" sh -c "find '$BR_TM_REPO' -type f -print0 | xargs -0 cat >/dev/null"
            ;;
    esac
}

modes=(warm)
[ "$COLD" = 1 ] && modes+=(cold)
for mode in "${modes[@]}"; do
    for tool in tidemark pgbackrest cat; do : >"$BR_TIMES/$mode.$tool"; : >"$BR_TIMES/$mode.$tool.cpu"; done
    for round in $(seq 1 "$ROUNDS"); do
        order=(tidemark pgbackrest cat)
        shift_by=$(( (round - 1) % 3 ))
        order=("${order[@]:$shift_by}" "${order[@]:0:$shift_by}")
        for tool in "${order[@]}"; do
            # cold: nothing cached; warm: one unmeasured read first, in the first round.
            if [ "$mode" = cold ]; then drop_caches; elif [ "$round" = 1 ]; then run_tool "$tool"; fi
            run_tool "$tool"
            echo "$BR_WALL_US" >>"$BR_TIMES/$mode.$tool"
            echo "$BR_CPU_US" >>"$BR_TIMES/$mode.$tool.cpu"
        done
    done
done

printf '\n%s; pgbench scale %s; one full backup each, the WAL of the load; %s rounds\n' "$BR_BIN_DESC" "$SCALE" "$ROUNDS"
printf '%-26s %-5s %10s %10s %12s\n' "" cache median_ms MB/s cpu_ms
for mode in "${modes[@]}"; do
    for tool in tidemark pgbackrest cat; do
        bytes=$TM_BYTES
        [ "$tool" = pgbackrest ] && bytes=$PGBR_BYTES
        label=$tool
        [ "$tool" = tidemark ] && label="tidemark verify --full"
        [ "$tool" = pgbackrest ] && label="pgbackrest verify"
        [ "$tool" = cat ] && label="cat (tidemark's files)"
        awk -v l="$label" -v m="$mode" -v t="$(bench_median "$BR_TIMES/$mode.$tool")" -v b="$bytes" \
            -v c="$(bench_median "$BR_TIMES/$mode.$tool.cpu")" \
            'BEGIN { printf "%-26s %-5s %10.1f %10.1f %12.1f\n", l, m, t / 1000, b / (t / 1e6) / 1e6, c / 1000 }'
    done
    awk -v v="$(bench_median "$BR_TIMES/$mode.tidemark")" -v c="$(bench_median "$BR_TIMES/$mode.cat")" \
        -v p="$(bench_median "$BR_TIMES/$mode.pgbackrest")" -v m="$mode" \
        'BEGIN { printf "%s: verify --full speed / cat speed %.0f %%  (target >= 80 %%: %s); tidemark / pgbackrest time %.2f\n", m, 100 * c / v, (c / v >= 0.8 ? "met" : "NOT met"), v / p }'
done

fi

# Part 2: nothing new on SEGMENTS segments.
part 2 || exit 0
tm_log "part 2: $SEGMENTS synthetic segments"
REPO2=$BR_SCRATCH/wal-repo
install -m 0755 "$GEN_SRC" "$BR_SCRATCH/bin/tidemark-bench-repo"
bench_br_pg "$BR_SCRATCH/bin/tidemark-bench-repo" --repo "$REPO2" --stanza main --key-file "$BACKUP_ENCRYPTION_KEY_FILE" \
    --backups 20 --segments "$SEGMENTS" --segment-mib 16 --days 30 --tasks 8 >"$BR_TIMES/generate.json" \
    || tm_die "tidemark-bench-repo failed"
export BACKUP_DIR=$REPO2 TIDEMARK_STANZA=main
bench_br_timed "verify --wal (first: reads everything)" bench_br_pg "$BR_BIN" verify --wal --json
first_us=$BR_WALL_US
python3 - "$BR_TIMES/last.out" "$SEGMENTS" <<'PY' || tm_die "the first verify --wal did not read every segment"
import json, sys
r = json.load(open(sys.argv[1]))["repositories"][0]
assert r["status"] == "ok", r["problems"][:3]
assert r["segmentsChecked"] == int(sys.argv[2]), r["segmentsChecked"]
assert r["objectsRead"] >= int(sys.argv[2]), r["objectsRead"]
PY
: >"$BR_TIMES/wal.sample"; : >"$BR_TIMES/wal.none"; : >"$BR_TIMES/find"
for _ in $(seq 1 "$ROUNDS"); do
    bench_br_timed "verify --wal" bench_br_pg "$BR_BIN" verify --wal --json
    echo "$BR_WALL_US" >>"$BR_TIMES/wal.sample"
    sampled=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["repositories"][0]; assert r["status"]=="ok"; print(r["objectsRead"])' "$BR_TIMES/last.out")
    bench_br_timed "verify --wal --sample-percent 0" bench_br_pg "$BR_BIN" verify --wal --sample-percent 0 --json
    echo "$BR_WALL_US" >>"$BR_TIMES/wal.none"
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["repositories"][0]; assert r["status"]=="ok" and r["objectsRead"]==0, r' "$BR_TIMES/last.out" \
        || tm_die "verify --sample-percent 0 read objects with nothing new"
    bench_br_timed "find" find "$REPO2"
    echo "$BR_WALL_US" >>"$BR_TIMES/find"
done
printf '\n%s segments of 16 MiB (synthetic), nothing new; %s rounds\n' "$SEGMENTS" "$ROUNDS"
printf '%-44s %10s\n' "" median_ms
printf '%-44s %10s\n' "verify --wal, first run (reads all)" "$(us_to_ms "$first_us")"
printf '%-44s %10s   (%s objects sampled per run)\n' "verify --wal (2 % sample)" "$(bench_median_ms "$BR_TIMES/wal.sample")" "$sampled"
printf '%-44s %10s\n' "verify --wal --sample-percent 0" "$(bench_median_ms "$BR_TIMES/wal.none")"
printf '%-44s %10s\n' "find (listing floor)" "$(bench_median_ms "$BR_TIMES/find")"
awk -v s="$(bench_median "$BR_TIMES/wal.sample")" -v n="$(bench_median "$BR_TIMES/wal.none")" \
    'BEGIN { printf "target verify --wal with nothing new < 1 s: %s with the 2 %% sample, %s without\n", s < 1e6 ? "met" : "NOT met", n < 1e6 ? "met" : "NOT met" }'
tm_log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
