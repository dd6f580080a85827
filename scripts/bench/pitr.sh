#!/usr/bin/env bash
# Benchmark (not a test): point-in-time recovery end to end — restore a full backup of a
# pgbench database, then replay PITR_WAL_GB of archived WAL up to a target time and promote.
#
#   tidemark        `tidemark restore --to DIR --target-time T --target-action promote`;
#                   restore_command `tidemark wal-fetch` with prefetching (the default, 8)
#   tidemark-nopf   the same with TIDEMARK_PREFETCH=0 (one fetch per request, nothing ahead)
#   pgbackrest      `pgbackrest restore --type=time --target=T --target-action=promote`,
#                   archive-get synchronous (lz4, aes-256-cbc)
#   pgbackrest-async the same with archive-async=y (archive-get-queue-max = 128 MiB)
#   floor           Tidemark's restore, then every segment the replay needs copied into
#                   pg_wal beforehand (not timed) and restore_command = 'false': the replay
#                   reads only pg_wal — what recovery costs without any archive
#
# One scratch PostgreSQL 15 (scripts/bench/lib.sh: archive_command pushes every segment to a
# Tidemark repository AND a pgBackRest stanza, so both hold the same WAL) with
# track_commit_timestamp = on; `pgbench -i -s SCALE`; one full backup with each tool; then
# pgbench traffic until PITR_WAL_GB of WAL was written; marker rows, the target time T, more
# marker rows and commits after T; pg_switch_wal; wait until archived; the source is stopped.
# Then ROUNDS rounds, the order of the variants rotating each round. Each run: restore (timed),
# start on a scratch port with archive_mode=off (timed from pg_ctl start until
# pg_is_in_recovery() is false, i.e. until recovery stopped at T and promoted), check the log
# says it stopped before a commit and that exactly the marker rows committed at or before T are
# there, stop, delete (not timed). Medians per variant; ratios tidemark / floor and
# tidemark / pgbackrest-async (total = restore + replay).
#
#   scripts/bench/pitr.sh                 ~1 GiB of WAL, 3 rounds: about 35 minutes here (2
#                                         shared cores): ~17 to write and archive the WAL
#                                         with plain pgbench traffic, ~15 for the 15 runs
#   PITR_QUICK=1 scripts/bench/pitr.sh    ~256 MiB, 1 round: a smoke check, about 6 minutes
#
# The traffic is plain pgbench (TPC-B-like) without forced checkpoints, so most records are
# small and replay costs what it costs in production (~25-35 MB/s here). WAL made mostly of
# full-page images replays several times faster, and then the fixed cost of each
# restore_command call weighs more (see docs/wal-fetch-prefetch.md, "Cost per segment").
#
# Environment: PITR_WAL_GB (default 1; PITR_QUICK=1 makes it 0.25 and ROUNDS 1), SCALE
# (default 20, ~300 MB database), ROUNDS (default 3), VARIANTS (default all five, e.g.
# "tidemark pgbackrest-async floor"), TIDEMARK_BIN, TIDEMARK_SCRATCH_PATH, KEEP=1.
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo_root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh

if [ "${PITR_QUICK:-0}" = 1 ]; then
    PITR_WAL_GB=${PITR_WAL_GB:-0.25}
    ROUNDS=${ROUNDS:-1}
fi
PITR_WAL_GB=${PITR_WAL_GB:-1}
ROUNDS=${ROUNDS:-3}
SCALE=${SCALE:-20}
read -r -a VARIANTS <<<"${VARIANTS:-tidemark tidemark-nopf pgbackrest pgbackrest-async floor}"
[ "$ROUNDS" -ge 1 ] || tm_die "ROUNDS must be at least 1"
WAL_BYTES=$(awk -v g="$PITR_WAL_GB" 'BEGIN { printf "%d", g * 1024 * 1024 * 1024 }')
[ "$WAL_BYTES" -ge $(( 64 << 20 )) ] || tm_die "PITR_WAL_GB must be at least 0.0625"

# --- source cluster, backups, WAL -----------------------------------------------------------
bench_br_setup "$SCALE"
PSQL() { tm_psql "$BR_SOCK" "$BR_PORT" "$1"; }
PSQL "alter system set track_commit_timestamp = on" >/dev/null
tm_pg_stop "$BR_PGDATA"
tm_pg_start "$BR_PGDATA" "$BR_PORT" "$BR_SOCK" "$BR_SCRATCH/pg.log"
PSQL "create table pitr_marker (id int primary key, at timestamptz not null default clock_timestamp())" >/dev/null

declare -A ID
for tool in tidemark pgbackrest; do
    bench_br_backup "$tool"
    ID[$tool]=$BR_BACKUP
    tm_log "$tool full backup ${ID[$tool]}: $(awk -v u="$BR_WALL_US" 'BEGIN { printf "%.1f", u / 1e6 }') s"
done

tm_log "pgbench traffic until $(bench_br_mb "$WAL_BYTES") MB of WAL were written (archived by both tools)"
start_lsn=$(PSQL "select pg_current_wal_lsn()")
t0=$(date +%s)
while :; do
    written=$(PSQL "select pg_current_wal_lsn() - '$start_lsn'::pg_lsn")
    written=${written%.*}
    [ "$written" -lt "$WAL_BYTES" ] || break
    bench_br_pg "$PGBIN/pgbench" -c 4 -j 2 -T 15 -n postgres >/dev/null 2>&1 || tm_die "pgbench failed"
    tm_log "  $(bench_br_mb "$written") MB so far"
done
tm_log "wrote $(bench_br_mb "$written") MB of WAL in $(( $(date +%s) - t0 )) s"

# Marker rows before T (expected after recovery), T itself, then rows and commits after T.
PSQL "insert into pitr_marker (id) select generate_series(1, 100)" >/dev/null
sleep 0.2
TARGET=$(PSQL "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
sleep 0.2
PSQL "insert into pitr_marker (id) select generate_series(101, 150)" >/dev/null
bench_br_pg "$PGBIN/pgbench" -c 2 -j 1 -t 200 -n postgres >/dev/null 2>&1 || tm_die "pgbench failed"
EXPECTED=$(PSQL "select count(*) || ' ' || coalesce(max(id), 0) from pitr_marker where pg_xact_commit_timestamp(xmin) <= '$TARGET'")
[ "$EXPECTED" = "100 100" ] || tm_die "marker rows committed at or before T: '$EXPECTED', expected '100 100'"
last=$(PSQL "select pg_walfile_name(pg_switch_wal())")
tm_wait_archived "$BR_SOCK" "$BR_PORT" "$last" 1800 || tm_die "WAL was not archived (see $BR_SCRATCH/pg.log)"
tm_log "target time $TARGET; WAL archived up to $last; stopping the source"
tm_pg_stop "$BR_PGDATA"
# The segments of timeline 1 in Tidemark's repository (the floor copies the ones it needs).
mapfile -t ARCHIVED < <(find "$BR_TM_REPO/bench/wal" -type f -name '00000001????????????????' -printf '%f\n' | LC_ALL=C sort)

# --- one run ---------------------------------------------------------------------------------
RESTORE_US=0
REPLAY_US=0
RUN_NOTE=

# Starts DIR and waits until recovery ended (promoted); checks the stop and the marker rows.
replay() {
    local variant=$1 dir=$2 port sock log t0 t1 got deadline
    shift 2
    port=$(tm_free_port)
    sock=$BR_SCRATCH/sock-run
    log=$BR_SCRATCH/run-$variant.log
    bench_br_pg mkdir -p "$sock"
    rm -f "$log"
    BR_SERVERS+=("$dir")
    sync
    t0=$(bench_now_us)
    env "$@" runuser -u postgres -- "$PGBIN/pg_ctl" -D "$dir" -l "$log" -w -t 1800 \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$sock -c archive_mode=off" start >/dev/null \
        || { tail -n 30 "$log" >&2; tm_die "$variant: the restored server did not start"; }
    deadline=$(( $(date +%s) + 1800 ))
    until [ "$(tm_psql "$sock" "$port" "select pg_is_in_recovery()" 2>/dev/null)" = f ]; do
        [ "$(date +%s)" -lt "$deadline" ] || { tail -n 30 "$log" >&2; tm_die "$variant: recovery did not end"; }
        if ! [ -f "$dir/postmaster.pid" ]; then tail -n 30 "$log" >&2; tm_die "$variant: the server stopped during recovery"; fi
        sleep 0.1
    done
    t1=$(bench_now_us)
    REPLAY_US=$(( t1 - t0 ))
    grep -q 'recovery stopping before commit of transaction' "$log" || { tail -n 30 "$log" >&2; tm_die "$variant: recovery did not stop at the target time"; }
    got=$(tm_psql "$sock" "$port" "select count(*) || ' ' || coalesce(max(id), 0) from pitr_marker")
    [ "$got" = "$EXPECTED" ] || tm_die "$variant: marker rows after recovery '$got', expected '$EXPECTED'"
    tm_pg_stop "$dir"
}

tidemark_restore() {
    local dir=$1
    bench_br_timed "tidemark restore" bench_br_pg "$BR_BIN" restore --to "$dir" --backup "${ID[tidemark]}" --parallel 2 \
        --target-time "$TARGET" --target-action promote
    RESTORE_US=$BR_WALL_US
}

pgbackrest_restore() {
    local dir=$1 conf=$2
    bench_br_pg mkdir -m 0700 "$dir"
    bench_br_timed "pgbackrest restore" bench_br_pg pgbackrest "--config=$conf" --stanza=bench restore "--pg1-path=$dir" \
        "--set=${ID[pgbackrest]}" --type=time "--target=$TARGET" --target-action=promote \
        "--recovery-option=restore_command=pgbackrest --config=$conf --stanza=bench --pg1-path=$dir archive-get %f \"%p\""
    RESTORE_US=$BR_WALL_US
}

run_variant() {
    local variant=$1 dir=$BR_SCRATCH/restore-$1 spool=$BR_SCRATCH/restore-$1/pgsql_tmp.tidemark-spool first seg n left
    RUN_NOTE=
    case $variant in
        tidemark|tidemark-nopf)
            tidemark_restore "$dir"
            local pf=8
            [ "$variant" = tidemark-nopf ] && pf=0
            # The default spool, inside the restored data directory (docs/wal-fetch-prefetch.md).
            replay "$variant" "$dir" TIDEMARK_SPOOL= TIDEMARK_PREFETCH=$pf
            if [ "$pf" -gt 0 ]; then
                RUN_NOTE="served from the prefetch spool: $(grep -c 'served from the prefetch spool' "$BR_SCRATCH/run-$variant.log" || true)"
                # Recovery ended, so the prefetcher removes the spool (decrypted WAL) by itself.
                left=$(( $(date +%s) + 20 ))
                while [ -e "$spool" ] && [ "$(date +%s)" -lt "$left" ]; do sleep 0.2; done
                [ ! -e "$spool" ] || tm_die "$variant: the prefetch spool $spool is still there after recovery"
            fi
            ;;
        pgbackrest)
            pgbackrest_restore "$dir" "$BR_PGBR_CONF"
            replay "$variant" "$dir"
            ;;
        pgbackrest-async)
            pgbackrest_restore "$dir" "$ASYNC_CONF"
            replay "$variant" "$dir"
            ;;
        floor)
            tidemark_restore "$dir"
            # Not timed: every archived segment from the backup's start on, into pg_wal.
            first=$(sed -n 's/^START WAL LOCATION: .* (file \([0-9A-F]*\))$/\1/p' "$dir/backup_label")
            [ -n "$first" ] || tm_die "floor: no START WAL LOCATION in $dir/backup_label"
            n=0
            for seg in "${ARCHIVED[@]}"; do
                [[ "$seg" < "$first" ]] && continue
                TIDEMARK_PREFETCH=0 bench_br_pg "$BR_BIN" wal-fetch "$seg" "$dir/pg_wal/$seg" || tm_die "floor: wal-fetch $seg failed"
                n=$(( n + 1 ))
            done
            sed -i "s|^restore_command = .*|restore_command = 'false'|" "$dir/postgresql.auto.conf"
            grep -q "^restore_command = 'false'" "$dir/postgresql.auto.conf" || tm_die "floor: restore_command not replaced"
            sync
            replay "$variant" "$dir"
            RUN_NOTE="$n segments pre-copied into pg_wal"
            ;;
        *) tm_die "unknown variant $variant" ;;
    esac
    bench_br_remove "$dir"
    rm -rf "$BR_SCRATCH/pgbackrest/spool-async"
    bench_br_pg mkdir -p "$BR_SCRATCH/pgbackrest/spool-async"
}

# pgBackRest's asynchronous archive-get: its own config (the restore_command names it).
ASYNC_CONF=$BR_SCRATCH/pgbackrest/pgbackrest-async.conf
bench_br_pg sh -c "umask 077; sed -e 's/^archive-async=n/archive-async=y/' \
    -e 's|^spool-path=.*|spool-path=$BR_SCRATCH/pgbackrest/spool-async\narchive-get-queue-max=128MiB|' \
    '$BR_PGBR_CONF' >'$ASYNC_CONF'"
bench_br_pg mkdir -p "$BR_SCRATCH/pgbackrest/spool-async"

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
tm_log "timing: $ROUNDS rounds x ${#VARIANTS[@]} variants"
nv=${#VARIANTS[@]}
for round in $(seq 1 "$ROUNDS"); do
    for j in $(seq 0 $(( nv - 1 ))); do
        variant=${VARIANTS[$(( (round - 1 + j) % nv ))]}
        run_variant "$variant"
        echo "$RESTORE_US" >>"$BR_TIMES/$variant.restore.us"
        echo "$REPLAY_US" >>"$BR_TIMES/$variant.replay.us"
        echo $(( RESTORE_US + REPLAY_US )) >>"$BR_TIMES/$variant.total.us"
        printf '    round %d: %-17s restore %6.2f s  replay %6.2f s  total %6.2f s%s (load %s)\n' "$round" "$variant" \
            "$(awk -v u="$RESTORE_US" 'BEGIN { print u / 1e6 }')" "$(awk -v u="$REPLAY_US" 'BEGIN { print u / 1e6 }')" \
            "$(awk -v u="$(( RESTORE_US + REPLAY_US ))" 'BEGIN { print u / 1e6 }')" "${RUN_NOTE:+  [$RUN_NOTE]}" \
            "$(cut -d' ' -f1 /proc/loadavg)" >&2
    done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report -------------------------------------------------------------------------------
s_of() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1e6 }'; }
med() { bench_median "$BR_TIMES/$1.$2.us"; }
echo
echo "PITR benchmark: pgbench scale $SCALE ($(bench_br_mb "$BR_DB_BYTES") MB without pg_wal), $(bench_br_mb "$written") MB of WAL" \
    "replayed to a target time, $ROUNDS rounds ($(nproc) cores, $(uname -r))"
echo "  $BR_BIN_DESC; $(pgbackrest version); $("$PGBIN/postgres" --version)"
echo "  load average at start $load_start, at end $load_end"
echo "  checks: every run stopped before a commit at T and holds exactly the marker rows committed at or before T"
printf '  %-18s %12s %12s %12s %9s %9s\n' variant "restore med" "replay med" "total med" "total min" "total max"
for v in "${VARIANTS[@]}"; do
    printf '  %-18s %10s s %10s s %10s s %9s %9s\n' "$v" "$(s_of "$(med "$v" restore)")" "$(s_of "$(med "$v" replay)")" \
        "$(s_of "$(med "$v" total)")" "$(s_of "$(bench_pct "$BR_TIMES/$v.total.us" 0)")" "$(s_of "$(bench_pct "$BR_TIMES/$v.total.us" 100)")"
done
ratio() {
    [ -s "$BR_TIMES/$1.total.us" ] && [ -s "$BR_TIMES/$2.total.us" ] || return 0
    awk -v a="$(med "$1" total)" -v b="$(med "$2" total)" -v l="$3" -v lim="$4" -v cmp="$5" 'BEGIN {
        r = a / b; ok = (cmp == "le" ? r <= lim : r < lim)
        printf "  %-40s %5.2fx   target %s %.2fx   %s\n", l, r, (cmp == "le" ? "<=" : "<"), lim, (ok ? "met" : "NOT MET") }'
}
ratio tidemark floor "tidemark total / floor total" 1.2 le
ratio tidemark pgbackrest-async "tidemark total / pgbackrest-async total" 1.0 lt
ratio tidemark pgbackrest "tidemark total / pgbackrest (sync) total" 1.0 lt
ratio tidemark tidemark-nopf "tidemark total / tidemark without prefetch" 1.0 le
