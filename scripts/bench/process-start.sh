#!/usr/bin/env bash
# Benchmark (not a test): what one `tidemark` process costs before it does any work, and the
# wal-push fast path PostgreSQL pays per segment when the segment is archived already (the
# compare path: configuration, key, one read of the object, exit 0). Medians of ROUNDS runs,
# with the load average. Compare `/bin/true` for the floor of fork + exec.
#
#   scripts/bench/process-start.sh                       # the release binary (bench lib builds it)
#   TIDEMARK_BIN=.build/debug/tidemark scripts/bench/process-start.sh
#
# The last line is the resident archiver's fast path (a segment it made durable: one socket round
# trip). Each line has the median CPU per call too (user + system), steadier than wall time
# on a loaded machine.
#
# Environment: ROUNDS (default 20), KEEP=1 (keep the scratch directory).
set -euo pipefail
repo_root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo_root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh

ROUNDS=${ROUNDS:-20}
bin=$(bench_tidemark_binary)
pg=$(tm_pg_bin)
owner=$(tm_pg_owner)
work=$(mktemp -d /tmp/tm-start.XXXXXX)
chmod 755 "$work"
archiver=""
finish() {
    [ -z "$archiver" ] || kill "$archiver" 2>/dev/null || true
    [ "${KEEP:-}" = 1 ] || rm -rf "$work"
}
trap finish EXIT
chown "$owner" "$work"
cd "$work"

# A real segment: initdb's first one.
tm_as_pg "$pg/initdb" -D "$work/pgdata" -A trust >/dev/null
seg=$(ls "$work/pgdata/pg_wal" | grep -E '^[0-9A-F]{24}$' | head -1)
cp "$work/pgdata/pg_wal/$seg" "$work/$seg"
head -c 32 /dev/urandom | base64 > "$work/key"
chmod 600 "$work/key"
chown -R "$owner" "$work"
export BACKUP_DIR=$work/repo BACKUP_ENCRYPTION_KEY_FILE=$work/key TMPDIR=$work
tm_as_pg "$bin" init >/dev/null
tm_as_pg "$bin" wal-push "$work/$seg"

# Wall time per run, and CPU (user + system of the command and every child it waited for, from
# bash's `time`: steadier than wall time on a loaded machine; a detached archiver is not counted).
time_runs() {  # label, command...
    local label=$1 f=$work/times.$RANDOM c=$work/cpu.$RANDOM t0 t1 i TIMEFORMAT='%3U %3S'
    shift
    : > "$f"; : > "$c"
    for i in $(seq "$ROUNDS"); do
        t0=$(bench_now_us)
        { time "$@" >/dev/null 2>&1; } 2>>"$c" || tm_die "$label failed"
        t1=$(bench_now_us)
        echo $(( t1 - t0 )) >> "$f"
    done
    awk '{ printf "%.0f\n", ($1 + $2) * 1e6 }' "$c" > "$c.us"
    printf '%-40s median %6s ms  p90 %6s ms  cpu median %6s ms\n' "$label" "$(bench_median_ms "$f")" "$(bench_pct_ms "$f" 90)" "$(bench_median_ms "$c.us")"
}

echo "binary: $bin ($(( $(stat -c %s "$bin") / 1000000 )) MB), $ROUNDS rounds, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
time_runs "/bin/true" /bin/true
time_runs "/bin/true as the server user" tm_as_pg /bin/true
time_runs "tidemark --help" "$bin" --help
time_runs "tidemark wal-push (already archived)" tm_as_pg "$bin" wal-push "$work/$seg"
# The resident archiver's fast path: the segment in the data directory's pg_wal, wal-push run
# there as PostgreSQL runs it. The first call starts the archiver (autostart) and pushes; once
# the archiver answers, every call is one socket round trip with no key unwrapped.
touch "$work/pgdata/pg_wal/archive_status/$seg.ready"
chown "$owner" "$work/pgdata/pg_wal/archive_status/$seg.ready"
cd "$work/pgdata"
tm_as_pg "$bin" wal-push "pg_wal/$seg"
for _ in $(seq 1 100); do
    archiver=$(pgrep -f "^$bin .*archiver --data-directory $work/pgdata\$" | head -n 1 || true)
    [ -n "$archiver" ] && [ -S "$work/pgdata/pgsql_tmp.tidemark-archiver.main/socket" ] && break
    sleep 0.1
done
[ -n "$archiver" ] || tm_die "the archiver did not start"
time_runs "tidemark wal-push (the archiver answers)" tm_as_pg "$bin" wal-push "pg_wal/$seg"
tm_as_pg "$bin" --log-level debug wal-push "pg_wal/$seg" 2>&1 | grep -q "wal-push answered by the archiver" \
    || tm_die "wal-push was not answered by the archiver"
cd "$work"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
