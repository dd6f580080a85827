#!/usr/bin/env bash
# Benchmark (not a test): archive_command's cost for a segment a background pusher has already
# made durable — the common case once archiving runs ahead of PostgreSQL (a backlog, a burst).
# A stopped PostgreSQL 15 cluster holds SEGMENTS .ready segments (pgbench, archive_command
# failing). For each tool, in a copy of it: one archive_command call starts the background
# pusher, which pushes every .ready segment ahead; once all are durable, archive_command is
# timed for each segment in turn, as PostgreSQL would call it.
#
#   tidemark     `tidemark wal-push %p`, the guide's configuration (a passphrase, the resident
#                archiver autostarted: a segment it made durable is answered over its socket,
#                no key unwrapped, no repository opened)
#   pgbackrest   `pgbackrest archive-push %p` with archive-async=y (its spool's .ok files answer)
#   true         `/bin/true`: process start alone, the floor
#
# Local repositories (lz4, encrypted). Rounds alternate the tools' order; every call's exit
# status is checked, and each repository must hold every segment at the end.
#
#   scripts/bench/wal-push-ahead.sh
#
# Environment: SEGMENTS (default 20), ROUNDS (default 3), TIDEMARK_BIN, TIDEMARK_SCRATCH_PATH
# (default .build-release), KEEP=1.
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo_root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh

SEGMENTS=${SEGMENTS:-20}
ROUNDS=${ROUNDS:-3}
tm_ensure_packages "${TM_PACKAGES_BASE[@]}" pgbackrest
PGBIN=$(tm_pg_bin)
built=$(bench_tidemark_binary)

SCRATCH=$(tm_scratch_dir tidemark-push-ahead)
cd "$SCRATCH"
SOCK=$SCRATCH/sock
BIN=$SCRATCH/bin/tidemark
cleanup() {
    pkill -f "^$BIN.* archiver" 2>/dev/null || true
    tm_pg_stop "$SCRATCH/pg" 2>/dev/null || true
    cd /
    if [ "${KEEP:-0}" = 1 ]; then tm_log "scratch directory kept: $SCRATCH"; else rm -rf "$SCRATCH"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
tm_as_pg mkdir -p "$SOCK" "$SCRATCH/conf" "$SCRATCH/times" "$SCRATCH/pgbr/log" "$SCRATCH/pgbr/lock" "$SCRATCH/pgbr/spool" "$SCRATCH/pgbr/repo"
mkdir -p "$SCRATCH/bin"
install -m 0755 "$built" "$BIN"

PORT=$(tm_free_port)
tm_pg_initdb "$SCRATCH/pg"
cat >>"$SCRATCH/pg/postgresql.conf" <<CONF

# --- tidemark push-ahead bench ---
wal_level = replica
archive_mode = on
archive_command = '/bin/false'
max_wal_size = 4GB
CONF
tm_pg_start "$SCRATCH/pg" "$PORT" "$SOCK" "$SCRATCH/pg.log"
PGBR_PASS=$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')
( umask 077; cat >"$SCRATCH/conf/pgbr.conf" <<CONF
[global]
repo1-path=$SCRATCH/pgbr/repo
repo1-cipher-type=aes-256-cbc
repo1-cipher-pass=$PGBR_PASS
compress-type=lz4
archive-async=y
process-max=2
log-level-console=warn
log-level-stderr=warn
log-level-file=off
log-path=$SCRATCH/pgbr/log
lock-path=$SCRATCH/pgbr/lock
spool-path=$SCRATCH/pgbr/spool

[bench]
pg1-path=$SCRATCH/pg
pg1-port=$PORT
pg1-socket-path=$SOCK
pg1-user=postgres
CONF
)
chown postgres: "$SCRATCH/conf/pgbr.conf" 2>/dev/null || true
tm_as_pg pgbackrest --config="$SCRATCH/conf/pgbr.conf" --stanza=bench stanza-create
tm_log "generating $SEGMENTS ready segments (pgbench, archive_command failing)"
tm_as_pg "$PGBIN/pgbench" -h "$SOCK" -p "$PORT" -U postgres -i -s 10 -q postgres 2>&1 | tail -n 1
ready() { find "$1/pg_wal/archive_status" -name '*.ready' | wc -l; }
for _ in $(seq 1 100); do
    [ "$(ready "$SCRATCH/pg")" -ge "$SEGMENTS" ] && break
    tm_as_pg "$PGBIN/pgbench" -h "$SOCK" -p "$PORT" -U postgres -c 4 -j 2 -T 5 -n postgres >/dev/null 2>&1 || true
done
tm_pg_stop "$SCRATCH/pg"
mapfile -t SEGS < <(find "$SCRATCH/pg/pg_wal/archive_status" -name '*.ready' -printf '%f\n' | sed 's/[.]ready$//' \
    | grep -E '^[0-9A-F]{24}$' | LC_ALL=C sort | head -n "$SEGMENTS")
[ "${#SEGS[@]}" -ge "$SEGMENTS" ] || tm_die "only ${#SEGS[@]} ready segments"
PASSPHRASE="bench tide mark passphrase $(od -An -N6 -tu2 /dev/urandom | tr -s ' ' '-')"

# run TOOL ROUND: a copy of the stopped cluster; one call starts the pusher; wait until every
# segment is durable; then time one call per segment.
run() {
    local tool=$1 r=$2 data=$SCRATCH/run-$1-$2 cmd=() durable s t0 t1 rc
    rm -rf "$data"; cp -a "$SCRATCH/pg" "$data"
    case $tool in
        tidemark)
            ( umask 077; printf '{ "stanza": "bench", "compression": "lz4", "encryptionKey": "%s",\n  "repositories": [ { "name": "local", "type": "posix", "path": "%s" } ],\n  "archiver": { "idleMinutes": 1 } }\n' \
                "$PASSPHRASE" "$SCRATCH/tm-repo-$r" >"$SCRATCH/conf/tm-$r.json" )
            chown postgres: "$SCRATCH/conf/tm-$r.json" 2>/dev/null || true
            tm_as_pg "$BIN" --config "$SCRATCH/conf/tm-$r.json" init >/dev/null 2>&1 || tm_die "tidemark init failed"
            cmd=("$BIN" wal-push --config "$SCRATCH/conf/tm-$r.json")
            durable() { find "$SCRATCH/tm-repo-$r/bench/wal" -type f -regextype egrep -regex '.*/[0-9A-F]{24}' 2>/dev/null | wc -l; } ;;
        pgbackrest)
            sed "s|^pg1-path=.*|pg1-path=$data|" "$SCRATCH/conf/pgbr.conf" >"$SCRATCH/conf/pgbr-$r.conf"
            chmod 0600 "$SCRATCH/conf/pgbr-$r.conf"; chown postgres: "$SCRATCH/conf/pgbr-$r.conf" 2>/dev/null || true
            rm -rf "$SCRATCH/pgbr/spool/"* "$SCRATCH/pgbr/repo/archive/bench/"*/0000* 2>/dev/null || true
            cmd=(pgbackrest --config="$SCRATCH/conf/pgbr-$r.conf" --stanza=bench archive-push)
            durable() { find "$SCRATCH/pgbr/spool/archive/bench/out" -name '*.ok' 2>/dev/null | wc -l; } ;;
        true)
            cmd=(/bin/true)
            durable() { echo "${#SEGS[@]}"; } ;;
    esac
    # The first call, from the data directory as PostgreSQL makes it (%p is relative).
    ( cd "$data" && tm_as_pg "${cmd[@]}" "pg_wal/${SEGS[0]}" ) >/dev/null 2>"$SCRATCH/first.err" \
        || { cat "$SCRATCH/first.err" >&2; tm_die "$tool: the first call failed"; }
    for _ in $(seq 1 1200); do [ "$(durable)" -ge "${#SEGS[@]}" ] && break; sleep 0.1; done
    [ "$(durable)" -ge "${#SEGS[@]}" ] || tm_die "$tool: only $(durable) of ${#SEGS[@]} segments pushed ahead after 120 s"
    for s in "${SEGS[@]:1}"; do
        t0=$(bench_now_us)
        rc=0; ( cd "$data" && tm_as_pg "${cmd[@]}" "pg_wal/$s" ) >/dev/null 2>"$SCRATCH/call.err" || rc=$?
        t1=$(bench_now_us)
        [ "$rc" -eq 0 ] || { cat "$SCRATCH/call.err" >&2; tm_die "$tool: archive_command for $s exited $rc"; }
        echo $(( t1 - t0 )) >>"$SCRATCH/times/$tool.us"
    done
    pkill -f "^$BIN.* archiver" 2>/dev/null || true
    rm -rf "$data" "$SCRATCH/tm-repo-$r"
}

for r in $(seq 1 "$ROUNDS"); do
    case $(( r % 3 )) in
        1) order=(tidemark pgbackrest true) ;; 2) order=(pgbackrest true tidemark) ;; *) order=(true tidemark pgbackrest) ;;
    esac
    for tool in "${order[@]}"; do run "$tool" "$r"; done
    tm_log "round $r: median ms tidemark $(bench_median_ms "$SCRATCH/times/tidemark.us"), pgbackrest $(bench_median_ms "$SCRATCH/times/pgbackrest.us"), /bin/true $(bench_median_ms "$SCRATCH/times/true.us") (load $(cut -d' ' -f1 /proc/loadavg))"
done

echo
echo "archive_command for a segment already pushed ahead: $(( ${#SEGS[@]} - 1 )) calls x $ROUNDS rounds per tool ($(nproc) cores)"
echo "  $("$BIN" --version 2>/dev/null | head -n 1), resident archiver | $(pgbackrest version) archive-async=y"
printf '  %-12s %10s %10s\n' tool median_ms p90_ms
for tool in tidemark pgbackrest true; do
    printf '  %-12s %10s %10s\n' "$tool" "$(bench_median_ms "$SCRATCH/times/$tool.us")" "$(bench_pct_ms "$SCRATCH/times/$tool.us" 90)"
done
awk -v t="$(bench_median "$SCRATCH/times/tidemark.us")" -v p="$(bench_median "$SCRATCH/times/pgbackrest.us")" \
    'BEGIN { printf "  tidemark / pgbackrest (medians) = %.2f\n", t / p }'
echo "  load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
