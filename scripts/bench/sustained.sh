#!/usr/bin/env bash
# Benchmark (not a test): archiving under sustained load (issue 17). pgbench runs at full speed
# for DURATION seconds against a PostgreSQL 15 cluster that archives every segment to two
# repositories, both required: a local directory and S3 (moto on loopback behind nginx for
# HTTPS). Every SAMPLE seconds the script counts the segments in pg_wal and the .ready files in
# pg_wal/archive_status (what serve's tidemark_archive_backlog_segments reports). Once pgbench
# ends, it times how long the backlog takes to drain, checks pg_stat_archiver.failed_count did
# not grow and that both repositories hold every archived segment.
#
#   tidemark     archive_command 'tidemark wal-push --config C %p', the guide's configuration
#                (a passphrase; the archiver autostarts and pushes ready segments ahead)
#   pgbackrest   archive-push with archive-async=y, process-max=WORKERS, repo1 local + repo2 S3
#
# Target: pg_wal never holds more than max_wal_size + 4 segments, and the backlog stays near 0.
#
#   scripts/bench/sustained.sh
#
# Environment: DURATION (default 300), ROUNDS (default 1), CLIENTS (pgbench clients, default
# 4), SCALE (pgbench scale, default 20), MAX_WAL_SIZE (MB, default 1024), WORKERS (default 4),
# SAMPLE (seconds, default 2), SYNCHRONOUS_COMMIT (default off: more WAL a second), TIDEMARK_BIN, TIDEMARK_SCRATCH_PATH (default .build-release),
# KEEP=1. Caveat: pgbench, PostgreSQL, moto and the archivers share the same cores.
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo_root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh

DURATION=${DURATION:-300}
ROUNDS=${ROUNDS:-1}
CLIENTS=${CLIENTS:-4}
SCALE=${SCALE:-20}
MAX_WAL_SIZE=${MAX_WAL_SIZE:-1024}
WORKERS=${WORKERS:-4}
SAMPLE=${SAMPLE:-2}
SYNCHRONOUS_COMMIT=${SYNCHRONOUS_COMMIT:-off}
LIMIT=$(( MAX_WAL_SIZE / 16 + 4 ))

tm_ensure_packages "${TM_PACKAGES_BASE[@]}" pgbackrest nginx-light
tm_ensure_moto
PGBIN=$(tm_pg_bin)
built=$(bench_tidemark_binary)

SCRATCH=$(tm_scratch_dir tidemark-sustained)
cd "$SCRATCH"
SOCK=$SCRATCH/sock
BIN=$SCRATCH/bin/tidemark
MOTO_PID=""
NGINX_PID=""
RUN_DATA=""
PGBENCH_PID=""
cleanup() {
    [ -z "$PGBENCH_PID" ] || kill "$PGBENCH_PID" 2>/dev/null || true
    [ -z "$RUN_DATA" ] || tm_pg_stop "$RUN_DATA"
    pkill -f "^$BIN.* archiver" 2>/dev/null || true
    [ -z "$MOTO_PID" ] || kill "$MOTO_PID" 2>/dev/null || true
    [ -z "$NGINX_PID" ] || kill "$NGINX_PID" 2>/dev/null || true
    cd /
    if [ "${KEEP:-0}" = 1 ]; then tm_log "scratch directory kept: $SCRATCH"; else rm -rf "$SCRATCH"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
tm_as_pg mkdir -p "$SOCK" "$SCRATCH/conf" "$SCRATCH/samples"
mkdir -p "$SCRATCH/bin"
install -m 0755 "$built" "$BIN"

# shellcheck source=scripts/bench/archive-lib.sh
. "$repo_root/scripts/bench/archive-lib.sh"
archive_bench_s3

# --- the cluster: initialized once (pgbench tables), copied for every run ----------------------
PORT=$(tm_free_port)
tm_pg_initdb "$SCRATCH/pg"
cat >>"$SCRATCH/pg/postgresql.conf" <<CONF

# --- tidemark sustained bench ---
wal_level = replica
archive_mode = on
archive_command = '/bin/true'
max_wal_size = ${MAX_WAL_SIZE}MB
# pgbench bounded by the cores, not by each commit's fsync: as much WAL a second as the machine
# can write, for the archivers to keep up with.
synchronous_commit = ${SYNCHRONOUS_COMMIT}
CONF
tm_pg_start "$SCRATCH/pg" "$PORT" "$SOCK" "$SCRATCH/pg.log"
tm_as_pg mkdir -p "$SCRATCH/pgbr/log" "$SCRATCH/pgbr/lock" "$SCRATCH/pgbr/spool" "$SCRATCH/pgbr-repo"
pgbr_conf "$SCRATCH/conf/pgbr-gen.conf" "$SCRATCH/pg"
tm_as_pg pgbackrest --config="$SCRATCH/conf/pgbr-gen.conf" --stanza=bench stanza-create
tm_log "pgbench -i -s $SCALE"
tm_as_pg "$PGBIN/pgbench" -h "$SOCK" -p "$PORT" -U postgres -i -s "$SCALE" -q postgres 2>&1 | tail -n 1
tm_psql "$SOCK" "$PORT" "checkpoint" >/dev/null
tm_pg_stop "$SCRATCH/pg"
# The segments archived to /bin/true before the run are not the bench's.
find "$SCRATCH/pg/pg_wal/archive_status" -name '*.ready' -delete

ready() { find "$1/pg_wal/archive_status" -name '*.ready' | wc -l; }
wal_count() { find "$1/pg_wal" -maxdepth 1 -type f -regextype egrep -regex '.*/[0-9A-F]{24}' | wc -l; }

# run TOOL ROUND: one loaded run; appends "max_wal max_ready median_ready drain_s segments tps" to results.
run() {
    local tool=$1 r=$2 data=$SCRATCH/run-$1-$2 conf cmd failed0 failed1 archived0 archived1 local_n s3_n t0 t1 tps
    rm -rf "$data"; cp -a "$SCRATCH/pg" "$data"
    case $tool in
        tidemark)
            conf=$SCRATCH/conf/tm-$r.json
            tm_conf "$conf" "r$r"
            tm_as_pg mkdir -p "$SCRATCH/tm-repo-r$r"
            tm_as_pg env TIDEMARK_CONFIG="$conf" "$BIN" init >"$SCRATCH/tm-init.log" 2>&1 \
                || { cat "$SCRATCH/tm-init.log" >&2; tm_die "tidemark init failed"; }
            cmd="$BIN wal-push --config $conf %p" ;;
        pgbackrest)
            conf=$SCRATCH/conf/pgbr-$r.conf
            pgbr_conf "$conf" "$data"
            cmd="pgbackrest --config=$conf --stanza=bench archive-push %p" ;;
    esac
    sed -i "s|^archive_command = '/bin/true'|archive_command = '$cmd'|" "$data/postgresql.conf"
    RUN_DATA=$data
    tm_pg_start "$data" "$PORT" "$SOCK" "$SCRATCH/$tool-$r.log"
    failed0=$(tm_psql "$SOCK" "$PORT" "select failed_count from pg_stat_archiver")
    archived0=$(tm_psql "$SOCK" "$PORT" "select archived_count from pg_stat_archiver")
    local samples=$SCRATCH/samples/$tool-$r
    : >"$samples"
    tm_as_pg "$PGBIN/pgbench" -h "$SOCK" -p "$PORT" -U postgres -c "$CLIENTS" -j 2 -T "$DURATION" -n postgres \
        >"$SCRATCH/pgbench-$tool-$r.log" 2>&1 &
    PGBENCH_PID=$!
    while kill -0 "$PGBENCH_PID" 2>/dev/null; do
        echo "$(wal_count "$data") $(ready "$data")" >>"$samples"
        sleep "$SAMPLE"
    done
    wait "$PGBENCH_PID" || tm_die "$tool: pgbench failed ($(tail -n 3 "$SCRATCH/pgbench-$tool-$r.log"))"
    PGBENCH_PID=""
    tps=$(awk '/^tps = / { printf "%.0f", $3 }' "$SCRATCH/pgbench-$tool-$r.log")
    tm_psql "$SOCK" "$PORT" "select pg_switch_wal()" >/dev/null
    t0=$(bench_now_us)
    for _ in $(seq 1 6000); do
        [ "$(ready "$data")" -eq 0 ] && break
        sleep 0.1
    done
    t1=$(bench_now_us)
    [ "$(ready "$data")" -eq 0 ] || tm_die "$tool: $(ready "$data") segments still ready 600 s after pgbench ended"
    failed1=$(tm_psql "$SOCK" "$PORT" "select failed_count from pg_stat_archiver")
    archived1=$(tm_psql "$SOCK" "$PORT" "select archived_count from pg_stat_archiver")
    tm_pg_stop "$data"; RUN_DATA=""
    pkill -f "^$BIN.* archiver" 2>/dev/null || true
    [ "$failed1" -eq "$failed0" ] || tm_die "$tool: archive_command failed $(( failed1 - failed0 )) times (server log $SCRATCH/$tool-$r.log)"
    local n=$(( archived1 - archived0 ))
    case $tool in
        tidemark)
            local_n=$(find "$SCRATCH/tm-repo-r$r/bench/wal" -type f -regextype egrep -regex '.*/[0-9A-F]{24}' | wc -l)
            s3_n=$(s3_count tidemark-bench); s3_empty tidemark-bench ;;
        pgbackrest)
            local_n=$(find "$SCRATCH/pgbr-repo/archive" -type f -regextype egrep -regex '.*/[0-9A-F]{24}-[0-9a-f]{40}[.a-z0-9]*' | wc -l)
            s3_n=$(s3_count pgbr-bench); s3_empty pgbr-bench
            rm -rf "$SCRATCH/pgbr-repo/archive/bench/"*/0000* "$SCRATCH/pgbr/spool/"* ;;
    esac
    # archived_count counts .history files too; every WAL segment must be in both repositories.
    [ "$local_n" -ge $(( n - 1 )) ] || tm_die "$tool: only $local_n of $n archived files in the local repository"
    [ "$s3_n" -ge $(( n - 1 )) ] || tm_die "$tool: only $s3_n objects for $n archived files in S3"
    rm -rf "$data" "$SCRATCH/tm-repo-r$r"
    local mw mr medr
    mw=$(cut -d' ' -f1 "$samples" | sort -n | tail -n 1)
    mr=$(cut -d' ' -f2 "$samples" | sort -n | tail -n 1)
    medr=$(cut -d' ' -f2 "$samples" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
    awk -v d=$(( t1 - t0 )) -v n="$n" -v tps="$tps" -v mw="${mw:-0}" -v mr="${mr:-0}" -v medr="${medr:-0}" \
        'BEGIN { printf "%d %d %d %.1f %d %s\n", mw, mr, medr, d / 1e6, n, tps }' \
        >>"$SCRATCH/samples/$tool.results"
    tail -n 1 "$SCRATCH/samples/$tool.results" | awk -v t="$tool" -v l="$(cut -d' ' -f1 /proc/loadavg)" '{
        printf "    %-10s pg_wal max %d segments, backlog max %d median %d, drained in %.1f s, %d files archived, %s tps (load %s)\n",
            t, $1, $2, $3, $4, $5, $6, l }' >&2
}

tm_log "sustained: $ROUNDS rounds x (tidemark, pgbackrest), pgbench -c $CLIENTS for $DURATION s, max_wal_size ${MAX_WAL_SIZE}MB"
for r in $(seq 1 "$ROUNDS"); do
    if [ $(( r % 2 )) -eq 1 ]; then run tidemark "$r"; run pgbackrest "$r"; else run pgbackrest "$r"; run tidemark "$r"; fi
done

echo
echo "sustained archiving: pgbench -c $CLIENTS -T $DURATION (scale $SCALE, synchronous_commit $SYNCHRONOUS_COMMIT), local + S3 (moto, HTTPS) both required, $ROUNDS round(s) ($(nproc) cores)"
echo "  $("$BIN" --version 2>/dev/null | head -n 1) with its archiver ($WORKERS workers) | $(pgbackrest version) archive-async=y process-max=$WORKERS"
echo "  limit: max_wal_size + 4 = $LIMIT segments in pg_wal"
for tool in tidemark pgbackrest; do
    # Worst pg_wal and backlog over the rounds; medians of the per-round medians, drains and tps.
    f=$SCRATCH/samples/$tool.results
    med() { cut -d' ' -f"$1" "$f" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
    mw=$(cut -d' ' -f1 "$f" | sort -n | tail -n 1); mr=$(cut -d' ' -f2 "$f" | sort -n | tail -n 1)
    files=$(awk '{ n += $5 } END { print n }' "$f")
    awk -v t="$tool" -v limit="$LIMIT" -v mw="$mw" -v mr="$mr" -v medr="$(med 3)" -v drain="$(med 4)" -v n="$files" -v tps="$(med 6)" 'BEGIN {
        printf "  %-10s pg_wal max %3d (%s)  backlog max %3d, median %d  drain after load %.1f s  %d files  %s tps\n",
            t, mw, mw <= limit ? "within the limit" : "OVER the limit", mr, medr, drain, n, tps }'
done
echo "  load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
