#!/usr/bin/env bash
# Benchmark (not a test): `tidemark plan` on a repository of SEGMENTS archived WAL segments.
#
# A scratch PostgreSQL 15 cluster with 1 MiB WAL segments (initdb --wal-segsize=1, so ten
# thousand segments take minutes, not hours) archives through `tidemark wal-push` (release
# build). After a full backup, a procedure commits one row and switches WAL SEGMENTS times, so
# every segment holds a commit. Then `tidemark plan` answers ROUNDS times each for a time in
# the middle of the archive, an LSN near its end and --latest; prints each median wall time
# and what the plan read. Target: under one second with 10,000 segments.
#
#   scripts/bench/plan.sh
#
# Environment: SEGMENTS (default 10000), ROUNDS (default 5), TIDEMARK_BIN, KEEP=1,
# TIDEMARK_BASELINE_BIN (another tidemark build, e.g. of the previous commit: each round also
# plans with it, in alternating order, on the same repository; before/after in one run).
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo_root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh

SEGMENTS=${SEGMENTS:-10000}
ROUNDS=${ROUNDS:-5}
tm_ensure_packages "${TM_PACKAGES_BASE[@]}"
BIN_SRC=$(bench_tidemark_binary)
PGBIN=$(tm_pg_bin)

SCRATCH=$(tm_scratch_dir tidemark-bench-plan)
cd "$SCRATCH"
DATA=$SCRATCH/data
SOCK=$SCRATCH/sock
BIN=$SCRATCH/bin/tidemark
cleanup() {
    tm_pg_stop "$DATA"
    cd /
    if [ "${KEEP:-0}" != 1 ]; then rm -rf "$SCRATCH"; else tm_log "kept $SCRATCH"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
tm_as_pg mkdir -p "$SCRATCH/bin" "$SOCK"
install -m 0755 "$BIN_SRC" "$BIN"
BASE_BIN=""
if [ -n "${TIDEMARK_BASELINE_BIN:-}" ]; then
    BASE_BIN=$SCRATCH/bin/tidemark-baseline
    install -m 0755 "$(realpath -e "$TIDEMARK_BASELINE_BIN")" "$BASE_BIN" || tm_die "TIDEMARK_BASELINE_BIN=$TIDEMARK_BASELINE_BIN not found"
fi
( umask 077; head -c 32 /dev/urandom | base64 >"$SCRATCH/key" )
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$SCRATCH/key"; fi
export BACKUP_DIR=$SCRATCH/repo BACKUP_ENCRYPTION_KEY_FILE=$SCRATCH/key TIDEMARK_STANZA=main
unset BACKUP_ENCRYPTION_KEY TIDEMARK_CONFIG
tm_as_pg "$BIN" init >/dev/null

tm_as_pg "$PGBIN/initdb" -D "$DATA" -U postgres --auth=trust --no-sync -E UTF8 --locale=C --wal-segsize=1 >"$SCRATCH/initdb.log" 2>&1 \
    || { cat "$SCRATCH/initdb.log" >&2; tm_die "initdb failed"; }
cat >>"$DATA/postgresql.conf" <<CONF
wal_level = replica
archive_mode = on
archive_command = '$BIN wal-push %p'
max_wal_senders = 4
track_commit_timestamp = on
min_wal_size = 4MB
max_wal_size = 64MB
CONF
PORT=$(tm_free_port)
tm_pg_start "$DATA" "$PORT" "$SOCK" "$SCRATCH/pg.log"
export PGHOST=$SOCK PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
psql() { tm_psql "$SOCK" "$PORT" "$1"; }

tm_log "full backup"
tm_as_pg "$BIN" backup --type full >/dev/null
psql "create table ticks (id int primary key, at timestamptz default clock_timestamp())"
psql "create procedure tick(n int) language plpgsql as \$\$ begin for i in 1..n loop insert into ticks (id) values ((select coalesce(max(id), 0) + 1 from ticks)); commit; perform pg_switch_wal(); end loop; end \$\$"
tm_log "writing $SEGMENTS segments (one commit and a switch each) and archiving them"
t0=$(date +%s)
done_=0
while [ "$done_" -lt "$SEGMENTS" ]; do
    n=$(( SEGMENTS - done_ < 500 ? SEGMENTS - done_ : 500 ))
    psql "call tick($n)" >/dev/null
    done_=$(( done_ + n ))
    last=$(psql "select pg_walfile_name(pg_current_wal_lsn())")
    # Let the archiver keep up so pg_wal stays small.
    tm_wait_archived "$SOCK" "$PORT" "$(psql "select pg_walfile_name(pg_switch_wal())")" 900 \
        || tm_die "archiving fell behind (see $SCRATCH/pg.log)"
done
archived=$(find "$BACKUP_DIR/main/wal" -type f -name '0*' ! -name '*.*' | wc -l)
tm_log "archived $archived segments in $(( $(date +%s) - t0 )) s"

mid=$(psql "set timezone='UTC'; select to_char(at, 'YYYY-MM-DD HH24:MI:SS.US') || '+00' from ticks where id = (select max(id) / 2 from ticks)")
near_end=$(psql "select pg_current_wal_lsn() - 3145728")
declare -A label=([time]="--target-time '$mid'" [lsn]="--target-lsn $near_end" [latest]="--latest")
printf '\n%-8s %10s %10s   %s\n' target median_ms max_ms "what the plan read"
for kind in time lsn latest; do
    : >"$SCRATCH/$kind.us"
    : >"$SCRATCH/$kind.baseline.us"
    case $kind in
        time) args=(--target-time "$mid") ;;
        lsn) args=(--target-lsn "$near_end") ;;
        latest) args=(--latest) ;;
    esac
    for round in $(seq 1 "$ROUNDS"); do
        if [ -n "$BASE_BIN" ] && [ $(( round % 2 )) -eq 0 ]; then
            s=$(bench_now_us)
            tm_as_pg "$BASE_BIN" plan "${args[@]}" --json >"$SCRATCH/$kind.baseline.json" || tm_die "baseline plan failed"
            e=$(bench_now_us)
            echo $(( e - s )) >>"$SCRATCH/$kind.baseline.us"
        fi
        s=$(bench_now_us)
        tm_as_pg "$BIN" plan "${args[@]}" --json >"$SCRATCH/$kind.json"
        e=$(bench_now_us)
        echo $(( e - s )) >>"$SCRATCH/$kind.us"
        if [ -n "$BASE_BIN" ] && [ $(( round % 2 )) -eq 1 ]; then
            s=$(bench_now_us)
            tm_as_pg "$BASE_BIN" plan "${args[@]}" --json >"$SCRATCH/$kind.baseline.json" || tm_die "baseline plan failed"
            e=$(bench_now_us)
            echo $(( e - s )) >>"$SCRATCH/$kind.baseline.us"
        fi
    done
    read_info=$(python3 - "$SCRATCH/$kind.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["timing"]
print("%d segments archived, %d summaries, %d whole segments; in-process %.3f s"
      % (t["segmentsInArchive"], t["summariesRead"], t["segmentsScanned"], t["seconds"]))
PY
)
    printf '%-8s %10s %10s   %s (%s)\n' "$kind" "$(bench_median_ms "$SCRATCH/$kind.us")" "$(bench_pct_ms "$SCRATCH/$kind.us" 100)" "$read_info" "${label[$kind]}"
done
if [ -n "$BASE_BIN" ]; then
    printf '\nbefore/after (baseline %s, same repository, alternating order)\n' "$TIDEMARK_BASELINE_BIN"
    for kind in time lsn latest; do
        t=$(bench_median "$SCRATCH/$kind.us"); b=$(bench_median "$SCRATCH/$kind.baseline.us")
        awk -v k="$kind" -v t="$t" -v b="$b" 'BEGIN { printf "%-8s tidemark %8.1f ms   baseline %8.1f ms   ratio %.3f\n", k, t/1000, b/1000, t/b }'
    done
fi
