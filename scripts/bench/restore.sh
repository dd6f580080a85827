#!/usr/bin/env bash
# Benchmark (not a test): restoring a full backup of a pgbench database.
#
#   tidemark     `tidemark restore --to DIR --parallel 2`   lz4, AES-256-GCM; every file read
#                                                          back against its SHA-256; sync()
#   pgbackrest   `pgbackrest restore --pg1-path=DIR`       lz4, aes-256-cbc, process-max=2
#
# The scratch setup is backup.sh's (scripts/bench/lib.sh): PostgreSQL 15 archiving with both
# tools, `pgbench -i -s SCALE`. One full backup is taken with each tool (timed and shown, but
# scripts/bench/backup.sh is the backup benchmark), then each is restored ROUNDS times into a
# fresh directory, the two tools alternating which goes first. Both restores configure
# recovery to stop at the backup's consistency point and promote. Wall time around the command
# after a `sync`; the target directory is deleted (and synced) between runs, outside the
# timing. Checks, all outside the timing: every Tidemark restore passes `pg_verifybackup -n`
# (the server's manifest); in the first round both restored directories are started on a
# scratch port and their pgbench_accounts compared with the source (VERIFY_START=0 skips that).
# MB/s = data directory size (without pg_wal) / median wall time; MB = 10^6 bytes.
#
#   scripts/bench/restore.sh
#
# Environment: SCALE (default 50, at least 50), ROUNDS (default 3), VERIFY_START (default 1),
# TIDEMARK_BIN, TIDEMARK_SCRATCH_PATH, KEEP=1, BENCH_ALLOW_SMALL=1 (as in backup.sh).
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo_root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh

SCALE=${SCALE:-50}
ROUNDS=${ROUNDS:-3}
VERIFY_START=${VERIFY_START:-1}
[ "$SCALE" -ge 50 ] || [ "${BENCH_ALLOW_SMALL:-0}" = 1 ] || tm_die "SCALE must be at least 50 (BENCH_ALLOW_SMALL=1 to try the script)"
[ "$ROUNDS" -ge 1 ] || tm_die "ROUNDS must be at least 1"

bench_br_setup "$SCALE"

TOOLS=(tidemark pgbackrest)
declare -A LABEL=(
    [tidemark]="tidemark (lz4, AES-256-GCM, --parallel 2)"
    [pgbackrest]="pgbackrest (lz4, aes-256-cbc, 2 proc)"
)
declare -A ID STORED BACKUP_S
for tool in "${TOOLS[@]}"; do
    bench_br_backup "$tool"
    ID[$tool]=$BR_BACKUP
    STORED[$tool]=$BR_STORED
    BACKUP_S[$tool]=$(awk -v u="$BR_WALL_US" 'BEGIN { printf "%.2f", u / 1e6 }')
    tm_log "$tool full backup ${ID[$tool]}: ${BACKUP_S[$tool]} s, $(bench_br_mb "$BR_STORED") MB stored"
done
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

tm_log "timing: $ROUNDS rounds x ${#TOOLS[@]} tools"
for round in $(seq 1 "$ROUNDS"); do
    line="    round $round of $ROUNDS:"
    for j in 0 1; do
        tool=${TOOLS[$(( (round - 1 + j) % 2 ))]}
        dir=$BR_SCRATCH/restore-$tool
        bench_br_restore "$tool" "${ID[$tool]}" "$dir"
        echo "$BR_WALL_US" >>"$BR_TIMES/$tool.us"
        echo "$BR_CPU_US" >>"$BR_TIMES/$tool.cpu.us"
        du -sb "$dir" | cut -f1 >>"$BR_TIMES/$tool.restored"
        line+=" $tool $(awk -v u="$BR_WALL_US" 'BEGIN { printf "%.2f", u / 1e6 }') s,"
        if [ "$tool" = tidemark ]; then
            bench_br_pg "$PGBIN/pg_verifybackup" -n -q -i tidemark.restore.json "$dir" || tm_die "pg_verifybackup rejects the Tidemark restore in $dir"
        fi
        if [ "$round" = 1 ] && [ "$VERIFY_START" = 1 ]; then bench_br_verify_start "$dir" "$tool"; fi
        bench_br_remove "$dir"
    done
    printf '%s (load average %s)\n' "${line%,}" "$(cut -d' ' -f1 /proc/loadavg)" >&2
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report -------------------------------------------------------------------------------
s_of() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1e6 }'; }
echo
echo "restore benchmark: pgbench scale $SCALE, data directory $(bench_br_mb "$BR_DB_BYTES") MB (without pg_wal), $ROUNDS rounds" \
    "($(nproc) cores, $(uname -r))"
echo "  $BR_BIN_DESC; $(pgbackrest version); $("$PGBIN/postgres" --version)"
echo "  load average at start $load_start, at end $load_end"
echo "  checks: pg_verifybackup -n on every Tidemark restore$([ "$VERIFY_START" = 1 ] && echo "; round 1 of each tool started, recovered, promoted, pgbench_accounts equal")"
printf '  %-42s %9s %7s %7s %7s %9s %10s %11s %9s\n' tool "median s" min max "MB/s" "cpu med s" "stored MB" "restored MB" "backup s"
for tool in "${TOOLS[@]}"; do
    f=$BR_TIMES/$tool.us
    printf '  %-42s %9s %7s %7s %7s %9s %10s %11s %9s\n' "${LABEL[$tool]}" "$(s_of "$(bench_median "$f")")" \
        "$(s_of "$(bench_pct "$f" 0)")" "$(s_of "$(bench_pct "$f" 100)")" \
        "$(awk -v b="$BR_DB_BYTES" -v u="$(bench_median "$f")" 'BEGIN { printf "%.0f", b / u }')" \
        "$(s_of "$(bench_median "$BR_TIMES/$tool.cpu.us")")" "$(bench_br_mb "${STORED[$tool]}")" \
        "$(bench_br_mb "$(bench_median "$BR_TIMES/$tool.restored")")" "${BACKUP_S[$tool]}"
done
awk -v t="$(bench_median "$BR_TIMES/tidemark.us")" -v p="$(bench_median "$BR_TIMES/pgbackrest.us")" 'BEGIN {
    r = p / t
    printf "  tidemark speed / pgbackrest speed (restore)       %5.2fx   target >= 1.50x   %s\n", r, (r >= 1.5 ? "met" : "NOT MET")
}'
