#!/usr/bin/env bash
# Benchmark (not a test): a full base backup of a pgbench database, four ways.
#
#   tidemark            `tidemark backup --type full`          lz4, AES-256-GCM, local repository
#   pgbackrest          `pgbackrest backup --type=full`        lz4, aes-256-cbc, process-max=2
#   basebackup-plain    `pg_basebackup -Ft -X none -c fast`    uncompressed tar
#   basebackup-lz4      ... `--compress=server-lz4`            lz4 on the server, no encryption
#
# A scratch PostgreSQL 15 (loopback, free port) archives its WAL with both Tidemark and
# pgBackRest (`tidemark wal-push %p && pgbackrest archive-push %p`): Tidemark and pgBackRest
# each wait for the end-of-backup segment in their archive, and pg_basebackup -X none waits
# for the server to archive it, so every tool pays the same archive_command. The database is
# `pgbench -i -s SCALE`, loaded and archived before timing starts. All four use a fast
# checkpoint; all run as the cluster owner.
#
# ROUNDS rounds, the order of the tools rotating from round to round. Wall time is taken
# around the command ($EPOCHREALTIME), after a `sync` so that no earlier write is flushed
# inside the measurement; cpu is user + sys of the client process and its children (for
# pg_basebackup the server's work — including the server-side lz4 — is not in it). Stored
# size: the backup's own objects (Tidemark: its backup directory; pgBackRest: its backup
# set; pg_basebackup: the output directory), not the WAL archive. Backups of Tidemark and
# pgBackRest are kept (Tidemark has no expiry yet; the free space is checked first);
# pg_basebackup's output is deleted after each run. MB/s = data directory size (without
# pg_wal) / median wall time; MB = 10^6 bytes.
#
#   scripts/bench/backup.sh
#
# Environment: SCALE (default 50, at least 50; 100 is ~1.5 GB), ROUNDS (default 3),
# TIDEMARK_BIN (skip the build), TIDEMARK_SCRATCH_PATH (default .build-release),
# KEEP=1 (keep the scratch directory), BENCH_ALLOW_SMALL=1 (allow SCALE < 50, to try the script).
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo_root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh

SCALE=${SCALE:-50}
ROUNDS=${ROUNDS:-3}
[ "$SCALE" -ge 50 ] || [ "${BENCH_ALLOW_SMALL:-0}" = 1 ] || tm_die "SCALE must be at least 50 (BENCH_ALLOW_SMALL=1 to try the script)"
[ "$ROUNDS" -ge 1 ] || tm_die "ROUNDS must be at least 1"

bench_br_setup "$SCALE"

TOOLS=(tidemark pgbackrest basebackup-plain basebackup-lz4)
declare -A LABEL=(
    [tidemark]="tidemark (lz4, AES-256-GCM)"
    [pgbackrest]="pgbackrest (lz4, aes-256-cbc, 2 proc)"
    [basebackup-plain]="pg_basebackup -Ft (plain)"
    [basebackup-lz4]="pg_basebackup -Ft server-lz4"
)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

tm_log "timing: $ROUNDS rounds x ${#TOOLS[@]} tools"
for round in $(seq 1 "$ROUNDS"); do
    line="    round $round of $ROUNDS:"
    for j in 0 1 2 3; do
        tool=${TOOLS[$(( (round - 1 + j) % 4 ))]}
        bench_br_backup "$tool"
        echo "$BR_WALL_US" >>"$BR_TIMES/$tool.us"
        echo "$BR_CPU_US" >>"$BR_TIMES/$tool.cpu.us"
        echo "$BR_STORED" >>"$BR_TIMES/$tool.bytes"
        line+=" $tool $(awk -v u="$BR_WALL_US" 'BEGIN { printf "%.2f", u / 1e6 }') s,"
    done
    printf '%s (load average %s)\n' "${line%,}" "$(cut -d' ' -f1 /proc/loadavg)" >&2
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report -------------------------------------------------------------------------------
med_s() { awk -v u="$(bench_median "$BR_TIMES/$1.us")" 'BEGIN { printf "%.2f", u / 1e6 }'; }
echo
echo "backup benchmark: pgbench scale $SCALE, data directory $(bench_br_mb "$BR_DB_BYTES") MB (without pg_wal), $ROUNDS rounds" \
    "($(nproc) cores, $(uname -r))"
echo "  $BR_BIN_DESC; $(pgbackrest version); $("$PGBIN/postgres" --version)"
echo "  load average at start $load_start, at end $load_end"
printf '  %-38s %9s %7s %7s %7s %9s %10s %7s\n' tool "median s" min max "MB/s" "cpu med s" "stored MB" "of db"
for tool in "${TOOLS[@]}"; do
    f=$BR_TIMES/$tool.us
    b=$(bench_median "$BR_TIMES/$tool.bytes")
    printf '  %-38s %9s %7s %7s %7s %9s %10s %6s%%\n' "${LABEL[$tool]}" "$(med_s "$tool")" \
        "$(bench_pct "$f" 0 | awk '{ printf "%.2f", $1 / 1e6 }')" "$(bench_pct "$f" 100 | awk '{ printf "%.2f", $1 / 1e6 }')" \
        "$(awk -v b="$BR_DB_BYTES" -v u="$(bench_median "$f")" 'BEGIN { printf "%.0f", b / u }')" \
        "$(awk -v u="$(bench_median "$BR_TIMES/$tool.cpu.us")" 'BEGIN { printf "%.2f", u / 1e6 }')" \
        "$(bench_br_mb "$b")" "$(awk -v b="$b" -v d="$BR_DB_BYTES" 'BEGIN { printf "%.1f", 100 * b / d }')"
done
tm_med=$(bench_median "$BR_TIMES/tidemark.us")
pb_med=$(bench_median "$BR_TIMES/pgbackrest.us")
lz_med=$(bench_median "$BR_TIMES/basebackup-lz4.us")
awk -v t="$tm_med" -v p="$pb_med" -v l="$lz_med" 'BEGIN {
    r1 = p / t; r2 = t / l
    printf "  tidemark speed / pgbackrest speed (backup)        %5.2fx   target >= 1.50x   %s\n", r1, (r1 >= 1.5 ? "met" : "NOT MET")
    printf "  tidemark time / pg_basebackup server-lz4 time     %5.2fx   target <= 1.50x   %s\n", r2, (r2 <= 1.5 ? "met" : "NOT MET")
}'
