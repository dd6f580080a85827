#!/usr/bin/env bash
# Benchmark (not a test): how fast an archive backlog drains. A PostgreSQL 15 cluster builds up
# SEGMENTS ready segments while its archive_command fails (pgbench load, real WAL); it is
# stopped and copied, once per tool. Each copy is started with its tool's archive_command and
# timed until pg_wal/archive_status holds no .ready file. Two repositories, both required: a
# local directory and S3 (one moto server on loopback behind nginx for HTTPS, emptied between tools).
#
#   tidemark     archive_command 'tidemark wal-push --config C %p', the guide's configuration
#                (a passphrase in the config; the archiver autostarts from the first push and
#                pushes ready segments ahead, archiver.workers = WORKERS)
#   pgbackrest   archive-push with archive-async=y, process-max=WORKERS (its spool), repo1
#                local + repo2 S3
#
# Both tools run in turn, ROUNDS times, in alternating order; every run starts from its own
# copy of the same stopped cluster. After each run the script checks every tool's exit status
# (pg_stat_archiver.failed_count must not grow) and that each repository holds every segment.
#
#   scripts/bench/archive-backlog.sh
#
# Environment: SEGMENTS (default 200), ROUNDS (default 3), WORKERS (default 4), TIDEMARK_BIN,
# TIDEMARK_SCRATCH_PATH (default .build-release), KEEP=1.
# Caveat: moto is one Python process on the same two cores; both tools share that ceiling. Each
# run prints how busy moto was (its CPU time over the run's wall time, of one core).
# CPU per segment: each copy starts with an empty archive_command; PostgreSQL's archiver process
# is moved into a cgroup of its own (bench_cg_* in lib.sh), then the tool's command is set and
# the configuration reloaded, and the timing starts. Everything the archiver starts is born in
# that cgroup, detached daemons included (Tidemark's archiver, pgBackRest's async process and
# its workers), so its user + system CPU over the segments is the tool's cost per segment (plus
# PostgreSQL's archiver loop itself, the same for both). Without root or cgroups: "cpu n/a".
# PERF_DIR=DIR records `perf record -g` of the Tidemark archiver's runs into DIR (system-wide;
# read with `perf report -i DIR/tidemark-R.data --comm tidemark`).
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo_root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh

SEGMENTS=${SEGMENTS:-200}
ROUNDS=${ROUNDS:-3}
WORKERS=${WORKERS:-4}
[ "$SEGMENTS" -ge 10 ] || tm_die "SEGMENTS must be at least 10"

tm_ensure_packages "${TM_PACKAGES_BASE[@]}" pgbackrest nginx-light
tm_ensure_moto
PGBIN=$(tm_pg_bin)
if [ -n "${TIDEMARK_BIN:-}" ]; then
    built=$(realpath -e "$TIDEMARK_BIN") || tm_die "TIDEMARK_BIN=$TIDEMARK_BIN not found"
else
    tm_ensure_swift
    scratch=${TIDEMARK_SCRATCH_PATH:-.build-release}
    tm_log "building tidemark (release, static Swift runtime) in $scratch"
    swift build -c release --static-swift-stdlib --scratch-path "$scratch" --product tidemark
    built="$(swift build -c release --static-swift-stdlib --scratch-path "$scratch" --show-bin-path)/tidemark"
fi
[ -x "$built" ] || tm_die "no tidemark binary at $built"

SCRATCH=$(tm_scratch_dir tidemark-backlog)
cd "$SCRATCH"
SOCK=$SCRATCH/sock
BIN=$SCRATCH/bin/tidemark
MOTO_PID=""
NGINX_PID=""
RUN_DATA=""
CG=""
cleanup() {
    [ -z "$RUN_DATA" ] || tm_pg_stop "$RUN_DATA"
    tm_pg_stop "$SCRATCH/pg"
    pkill -f "^$BIN.* archiver" 2>/dev/null || true
    [ -z "$CG" ] || { bench_cg_wait_empty "$CG" || true; bench_cg_remove "$CG"; }
    [ -z "$MOTO_PID" ] || kill "$MOTO_PID" 2>/dev/null || true
    [ -z "$NGINX_PID" ] || kill "$NGINX_PID" 2>/dev/null || true
    cd /
    if [ "${KEEP:-0}" = 1 ]; then tm_log "scratch directory kept: $SCRATCH"; else rm -rf "$SCRATCH"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
tm_as_pg mkdir -p "$SOCK" "$SCRATCH/conf" "$SCRATCH/times"
mkdir -p "$SCRATCH/bin"
install -m 0755 "$built" "$BIN"

# --- S3: moto behind nginx for HTTPS (archive-lib.sh) ---------------------------------------
# shellcheck source=scripts/bench/archive-lib.sh
. "$repo_root/scripts/bench/archive-lib.sh"
archive_bench_s3

# --- the backlog ----------------------------------------------------------------------------
PORT=$(tm_free_port)
tm_pg_initdb "$SCRATCH/pg"
cat >>"$SCRATCH/pg/postgresql.conf" <<CONF

# --- tidemark backlog bench ---
wal_level = replica
archive_mode = on
archive_command = '/bin/false'
max_wal_size = 8GB
checkpoint_timeout = 30min
CONF
tm_pg_start "$SCRATCH/pg" "$PORT" "$SOCK" "$SCRATCH/pg.log"
ready() { find "$1/pg_wal/archive_status" -name '*.ready' | wc -l; }
# cpu_ticks PID: user + system clock ticks a process has used (moto is one Python process: when
# it is busy ~100 % of one core during a run, the S3 server, not the tool, sets the pace).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# pgBackRest's stanza (made while the cluster runs; every copy has the same system identifier).
tm_as_pg mkdir -p "$SCRATCH/pgbr/log" "$SCRATCH/pgbr/lock" "$SCRATCH/pgbr/spool" "$SCRATCH/pgbr-repo"
pgbr_conf "$SCRATCH/conf/pgbr-gen.conf" "$SCRATCH/pg"
tm_as_pg pgbackrest --config="$SCRATCH/conf/pgbr-gen.conf" --stanza=bench stanza-create

tm_log "generating $SEGMENTS ready segments (pgbench, archive_command failing)"
tm_as_pg "$PGBIN/pgbench" -h "$SOCK" -p "$PORT" -U postgres -i -s 20 -q postgres 2>&1 | tail -n 1
for _ in $(seq 1 200); do
    [ "$(ready "$SCRATCH/pg")" -ge "$SEGMENTS" ] && break
    tm_as_pg "$PGBIN/pgbench" -h "$SOCK" -p "$PORT" -U postgres -c 4 -j 2 -T 5 -n postgres >/dev/null 2>&1 || true
done
tm_pg_stop "$SCRATCH/pg"
N=$(ready "$SCRATCH/pg")
[ "$N" -ge "$SEGMENTS" ] || tm_die "only $N ready segments"
tm_log "backlog: $N ready segments ($(du -sm "$SCRATCH/pg/pg_wal" | cut -f1) MB in pg_wal)"

# --- runs -------------------------------------------------------------------------------------
# run TOOL ROUND: a fresh copy of the stopped cluster, released with TOOL; prints seconds.
run() {
    local tool=$1 r=$2 data=$SCRATCH/run-$1-$2 conf cmd t0 t1 c0 c1 failed0 failed1 local_n s3_n cg pgarch perf_pid cpu cpu_user cpu_sys
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
    # Started with no archive_command (nothing is archived, nothing fails); the archiver process
    # goes into the cgroup, then the command is set and the configuration reloaded.
    sed -i "s|^archive_command = '/bin/false'|archive_command = ''|" "$data/postgresql.conf"
    RUN_DATA=$data
    tm_pg_start "$data" "$PORT" "$SOCK" "$SCRATCH/$tool-$r.log"
    failed0=$(tm_psql "$SOCK" "$PORT" "select failed_count from pg_stat_archiver")
    cg=$(bench_cg_create "tm-bench-backlog-$$"); CG=$cg
    if [ -n "$cg" ]; then
        pgarch=$(ps -o pid=,args= --ppid "$(head -n 1 "$data/postmaster.pid")" | awk '/archiver/ { print $1; exit }')
        [ -n "$pgarch" ] || tm_die "$tool: no archiver process under the postmaster"
        bench_cg_add "$cg" "$pgarch"
    fi
    sed -i "s|^archive_command = ''|archive_command = '$cmd'|" "$data/postgresql.conf"
    perf_pid=""
    if [ -n "${PERF_DIR:-}" ] && [ "$tool" = tidemark ]; then
        mkdir -p "$PERF_DIR"
        perf record -a -g -F 499 -o "$PERF_DIR/tidemark-$r.data" >"$PERF_DIR/tidemark-$r.log" 2>&1 &
        perf_pid=$!
    fi
    c0=$(cpu_ticks "$MOTO_PID")
    t0=$(bench_now_us)
    [ "$(tm_psql "$SOCK" "$PORT" "select pg_reload_conf()")" = t ] || tm_die "$tool: pg_reload_conf failed"
    for _ in $(seq 1 6000); do
        [ "$(ready "$data")" -eq 0 ] && break
        sleep 0.1
    done
    t1=$(bench_now_us)
    c1=$(cpu_ticks "$MOTO_PID")
    [ -z "$perf_pid" ] || { kill -INT "$perf_pid"; wait "$perf_pid" || true; }
    [ "$(ready "$data")" -eq 0 ] || tm_die "$tool: $(ready "$data") segments still ready after 600 s"
    failed1=$(tm_psql "$SOCK" "$PORT" "select failed_count from pg_stat_archiver")
    tm_pg_stop "$data"; RUN_DATA=""
    pkill -f "^$BIN.* archiver" 2>/dev/null || true
    cpu="cpu n/a"
    if [ -n "$cg" ]; then
        bench_cg_wait_empty "$cg" || tm_die "$tool: processes outlived the run"
        read -r cpu_user cpu_sys < <(bench_cg_cpu "$cg")
        bench_cg_remove "$cg"; CG=""
        echo $(( cpu_user + cpu_sys )) >>"$SCRATCH/times/$tool.cpu"
        cpu=$(awk -v u="$cpu_user" -v s="$cpu_sys" -v n="$N" 'BEGIN { printf "cpu %.3f s/segment (user %.3f, sys %.3f)", (u + s) / 1e6 / n, u / 1e6 / n, s / 1e6 / n }')
    fi
    [ "$failed1" -eq "$failed0" ] || tm_die "$tool: archive_command failed $(( failed1 - failed0 )) times (server log $SCRATCH/$tool-$r.log)"
    # Every segment in both repositories (pgBackRest: repo1 local, repo2 S3).
    case $tool in
        tidemark)
            local_n=$(find "$SCRATCH/tm-repo-r$r/bench/wal" -type f -regextype egrep -regex '.*/[0-9A-F]{24}' | wc -l)
            s3_n=$(s3_count tidemark-bench); s3_empty tidemark-bench ;;
        pgbackrest)
            local_n=$(find "$SCRATCH/pgbr-repo/archive" -type f -regextype egrep -regex '.*/[0-9A-F]{24}-[0-9a-f]{40}[.a-z0-9]*' | wc -l)
            s3_n=$(s3_count pgbr-bench); s3_empty pgbr-bench
            rm -rf "$SCRATCH/pgbr-repo/archive/bench/"*/0000* "$SCRATCH/pgbr/spool/"* ;;
    esac
    [ "$local_n" -ge "$N" ] || tm_die "$tool: only $local_n of $N segments in the local repository"
    [ "$s3_n" -ge "$N" ] || tm_die "$tool: only $s3_n objects for $N segments in S3"
    rm -rf "$data"
    echo $(( t1 - t0 )) >>"$SCRATCH/times/$tool.us"
    awk -v us=$(( t1 - t0 )) -v n="$N" -v t="$tool" -v l="$(cut -d' ' -f1 /proc/loadavg)" \
        -v busy="$(awk -v c=$(( c1 - c0 )) -v hz="$(getconf CLK_TCK)" -v us=$(( t1 - t0 )) 'BEGIN { printf "%.2f", c / hz / (us / 1e6) }')" \
        -v cpu="$cpu" \
        'BEGIN { printf "    %-10s %7.1f s  %6.1f segments/s  %s  moto busy %.0f%% of one core  (load average %s)\n", t, us / 1e6, n / (us / 1e6), cpu, busy * 100, l }' >&2
}

tm_log "timing: $ROUNDS rounds x (tidemark, pgbackrest), $N segments each, $WORKERS workers"
for r in $(seq 1 "$ROUNDS"); do
    if [ $(( r % 2 )) -eq 1 ]; then run tidemark "$r"; run pgbackrest "$r"; else run pgbackrest "$r"; run tidemark "$r"; fi
done

tm=$(bench_median "$SCRATCH/times/tidemark.us"); pb=$(bench_median "$SCRATCH/times/pgbackrest.us")
echo
echo "archive backlog: $N ready segments, local + S3 (moto, HTTPS) both required, $WORKERS workers, $ROUNDS rounds ($(nproc) cores)"
echo "  $("$BIN" --version 2>/dev/null | head -n 1) with its archiver | $(pgbackrest version) archive-async=y process-max=$WORKERS"
awk -v t="$tm" -v p="$pb" -v n="$N" 'BEGIN {
    printf "  median: tidemark %.1f s (%.1f segments/s)   pgbackrest %.1f s (%.1f segments/s)\n", t/1e6, n/(t/1e6), p/1e6, n/(p/1e6)
    printf "  tidemark segments/s / pgbackrest segments/s = %.2f (target >= 2)\n", p/t }'
if [ -s "$SCRATCH/times/tidemark.cpu" ] && [ -s "$SCRATCH/times/pgbackrest.cpu" ]; then
    awk -v t="$(bench_median "$SCRATCH/times/tidemark.cpu")" -v p="$(bench_median "$SCRATCH/times/pgbackrest.cpu")" -v n="$N" 'BEGIN {
        printf "  median CPU (user + sys, every process the archive_command started): tidemark %.3f s/segment   pgbackrest %.3f s/segment   ratio %.2f\n", t/1e6/n, p/1e6/n, t/p }'
else
    echo "  CPU per segment: n/a (needs root and a writable cgroup)"
fi
echo "  load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
