#!/usr/bin/env bash
# Benchmark (not a test): the cost of archiving one 16 MiB WAL segment, as PostgreSQL's
# archive_command pays it — one process per segment, exit only when the copy is durable.
#
#   tidemark     `tidemark wal-push SEG`       lz4, AES-256-GCM, local repository, a generated key
#                file, the archiver off (archiver.autostart false): the synchronous path
#   tm-pass      the same with a passphrase in BACKUP_ENCRYPTION_KEY and the archiver off:
#                every push pays scrypt to unwrap the key
#   tm-default   the guide's plain configuration: a passphrase in BACKUP_ENCRYPTION_KEY and
#                nothing else, so the resident archiver is autostarted by the first push of
#                each round (a new repository and socket per round); reported from the second
#                segment of each round on, the first (which starts the archiver) apart
#   pgbackrest   `pgbackrest archive-push SEG` lz4, aes-256-cbc, archive-async=n, process-max=1
#   cp+fsync     `cp SEG DIR/ && sync DIR/SEG DIR`   the floor: copy, fsync file and directory
#
# Segments are real: a scratch PostgreSQL 15 runs pgbench (bulk load, then OLTP traffic) and
# archives with a plain cp into a scratch directory; the last SEGMENTS full segments are used.
# pgBackRest's stanza is created against that same cluster (archive-push checks each segment's
# system identifier), and the cluster is stopped before timing starts so it adds no noise.
#
# Each round pushes every segment once with each tool, in a rotating order; before each push
# the previous copy of that segment is removed from that tool's repository, so every push
# really writes. Wall time is taken around the command ($EPOCHREALTIME, no extra fork).
#
#   scripts/bench/wal-push.sh
#
# Environment: SEGMENTS (default 24), ROUNDS (default 5), TIDEMARK_BIN (skip the build),
# TIDEMARK_BASELINE_BIN (another tidemark build, e.g. of the previous commit, timed in the same
# rounds as a fourth tool "baseline" with a repository of its own: before/after in one run),
# TIDEMARK_SCRATCH_PATH (default .build-release), KEEP=1 (keep the scratch directory),
# LOAD=N (N busy processes, nice 0, compete for the cores while timing: a server that is
# generating WAL is rarely idle).
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo_root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh

SEGMENTS=${SEGMENTS:-24}
ROUNDS=${ROUNDS:-5}
LOAD=${LOAD:-0}
[[ $LOAD =~ ^[0-9]+$ ]] || tm_die "LOAD must be a number of busy processes, e.g. LOAD=2"
[ "$SEGMENTS" -ge 3 ] || tm_die "SEGMENTS must be at least 3"

# --- packages and build -------------------------------------------------------------------
tm_ensure_packages "${TM_PACKAGES_BASE[@]}" pgbackrest
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
baseline_built=""
if [ -n "${TIDEMARK_BASELINE_BIN:-}" ]; then
    baseline_built=$(realpath -e "$TIDEMARK_BASELINE_BIN") || tm_die "TIDEMARK_BASELINE_BIN=$TIDEMARK_BASELINE_BIN not found"
fi

# --- scratch --------------------------------------------------------------------------------
SCRATCH=$(tm_scratch_dir tidemark-bench)
cd "$SCRATCH"
PGDATA_DIR=$SCRATCH/pg
SOCK=$SCRATCH/sock
BIN=$SCRATCH/bin/tidemark
LOAD_PIDS=()
cleanup() {
    if [ "${#LOAD_PIDS[@]}" -gt 0 ]; then kill "${LOAD_PIDS[@]}" 2>/dev/null || true; fi
    pkill -f "^$BIN.* archiver" 2>/dev/null || true
    tm_pg_stop "$PGDATA_DIR"
    cd /
    if [ "${KEEP:-0}" = 1 ]; then tm_log "scratch directory kept: $SCRATCH"; else rm -rf "$SCRATCH"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

tm_as_pg mkdir -p "$SOCK" "$SCRATCH/wal-archive"
mkdir -p "$SCRATCH/bin" "$SCRATCH/segments" "$SCRATCH/tidemark-repo" "$SCRATCH/pgbackrest" \
    "$SCRATCH/cp-dest" "$SCRATCH/times"
install -m 0755 "$built" "$BIN"
BASE_BIN=$SCRATCH/bin/tidemark-baseline
[ -z "$baseline_built" ] || install -m 0755 "$baseline_built" "$BASE_BIN"

# --- real WAL segments --------------------------------------------------------------------
PORT=$(tm_free_port)
tm_log "scratch PostgreSQL 15 on 127.0.0.1:$PORT, archiving with cp"
tm_pg_initdb "$PGDATA_DIR"
cat >>"$PGDATA_DIR/postgresql.conf" <<CONF

# --- tidemark bench ---
wal_level = replica
archive_mode = on
archive_command = 'cp %p $SCRATCH/wal-archive/%f'
max_wal_size = 4GB
checkpoint_timeout = 30s
CONF
tm_pg_start "$PGDATA_DIR" "$PORT" "$SOCK" "$SCRATCH/pg.log"
archived() { tm_psql "$SOCK" "$PORT" "select archived_count from pg_stat_archiver"; }

tm_log "pgbench -i -s 10 (bulk-load WAL)"
tm_as_pg "$PGBIN/pgbench" -h "$SOCK" -p "$PORT" -U postgres -i -s 10 -q postgres 2>&1 | tail -n 1
load_end=$(tm_psql "$SOCK" "$PORT" "select pg_walfile_name(pg_current_wal_lsn())")
sleep 1
after_load=$(archived)
tm_log "pgbench OLTP traffic until $SEGMENTS full segments are archived (half of them OLTP)"
want=$(( SEGMENTS + 1 ))
for _ in $(seq 1 60); do
    n=$(archived)
    if [ "$n" -ge "$want" ] && [ $(( n - after_load )) -ge $(( SEGMENTS / 2 )) ]; then break; fi
    tm_as_pg "$PGBIN/pgbench" -h "$SOCK" -p "$PORT" -U postgres -c 4 -j 2 -T 10 -n postgres \
        2>&1 | grep -E '^tps' || true
done
n=$(archived)
[ "$n" -ge "$want" ] || tm_die "only $n segments archived"

# Full segments only, oldest of the set first; no pg_switch_wal() was ever called, so every
# archived segment is a naturally filled one.
mapfile -t SEGS < <(cd "$SCRATCH/wal-archive" && for f in [0-9A-F]*; do
    [[ $f =~ ^[0-9A-F]{24}$ ]] && echo "$f"; done | LC_ALL=C sort | tail -n "$SEGMENTS")
for s in "${SEGS[@]}"; do cp "$SCRATCH/wal-archive/$s" "$SCRATCH/segments/$s"; done
n_load=0
for s in "${SEGS[@]}"; do if [[ "$s" < "$load_end" ]]; then n_load=$(( n_load + 1 )); fi; done
tm_log "segments: ${SEGS[0]} .. ${SEGS[-1]}: ${#SEGS[@]} in all, $n_load from the bulk load, $(( ${#SEGS[@]} - n_load )) with OLTP traffic"

# --- pgBackRest ---------------------------------------------------------------------------
PGBR_CONF=$SCRATCH/pgbackrest/pgbackrest.conf
mkdir -p "$SCRATCH/pgbackrest/repo" "$SCRATCH/pgbackrest/log" "$SCRATCH/pgbackrest/lock" \
    "$SCRATCH/pgbackrest/spool"
( umask 077; cat >"$PGBR_CONF" <<CONF
[global]
repo1-path=$SCRATCH/pgbackrest/repo
repo1-cipher-type=aes-256-cbc
repo1-cipher-pass=$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')
compress-type=lz4
archive-async=n
process-max=1
log-level-console=warn
log-level-stderr=warn
log-level-file=off
log-path=$SCRATCH/pgbackrest/log
lock-path=$SCRATCH/pgbackrest/lock
spool-path=$SCRATCH/pgbackrest/spool

[bench]
pg1-path=$PGDATA_DIR
pg1-port=$PORT
pg1-socket-path=$SOCK
pg1-user=postgres
CONF
)
PGBR=(pgbackrest --config="$PGBR_CONF" --stanza=bench)
tm_log "pgbackrest stanza-create"
"${PGBR[@]}" stanza-create

# --- Tidemark -----------------------------------------------------------------------------
( umask 077; head -c 32 /dev/urandom | base64 >"$SCRATCH/tidemark.key" )
# A passphrase as the guide configures one (words, not a generated key: scrypt unwraps it).
PASSPHRASE="bench tide mark passphrase $(od -An -N6 -tu2 /dev/urandom | tr -s ' ' '-')"
unset BACKUP_DIR BACKUP_ENCRYPTION_KEY BACKUP_ENCRYPTION_KEY_FILE TIDEMARK_CONFIG AWS_BACKUP_BUCKET
export TIDEMARK_STANZA=bench
export TIDEMARK_COMPRESSION=lz4
mkdir -p "$SCRATCH/conf" "$SCRATCH/archiver"
chmod 0700 "$SCRATCH/archiver"
# tm_conf FILE REPO-DIR KEY-LINE ARCHIVER-JSON: one Tidemark configuration file.
tm_conf() {
    ( umask 077; cat >"$1" <<JSON
{ "stanza": "bench", "compression": "lz4",
  "repositories": [ { "name": "local", "type": "posix", "path": "$2" } ],
  $3
  "archiver": $4 }
JSON
    )
}
tm_init() { # CONFIG [passphrase]
    if [ "${2:-}" = passphrase ]; then
        BACKUP_ENCRYPTION_KEY=$PASSPHRASE TIDEMARK_CONFIG=$1 "$BIN" init >"$SCRATCH/tidemark-init.log" 2>&1
    else
        TIDEMARK_CONFIG=$1 "$BIN" init >"$SCRATCH/tidemark-init.log" 2>&1
    fi || { cat "$SCRATCH/tidemark-init.log" >&2; tm_die "tidemark init ($1) failed"; }
}
tm_conf "$SCRATCH/conf/keyfile.json" "$SCRATCH/tidemark-repo" "\"encryptionKeyFile\": \"$SCRATCH/tidemark.key\"," '{ "autostart": false }'
tm_conf "$SCRATCH/conf/pass.json" "$SCRATCH/tm-pass-repo" "" '{ "autostart": false }'
tm_log "tidemark init (key file; passphrase)"
tm_init "$SCRATCH/conf/keyfile.json"
tm_init "$SCRATCH/conf/pass.json" passphrase
# tm-default: a new repository and data directory per round, so the first push of each round
# finds no archiver and starts one; the archiver of a finished round is stopped. The archiver
# pushes only its own data directory's pg_wal files, and an autostarted one takes the directory
# archive_command runs in: so each round has a data directory of its own (the stopped scratch
# cluster's pg_control, the segments hard-linked into pg_wal, no .ready files), and its pushes
# run there with %p = pg_wal/NAME, as PostgreSQL runs them.
for r in $(seq 1 "$ROUNDS") 0; do
    tm_conf "$SCRATCH/conf/default-r$r.json" "$SCRATCH/tm-default-repo-r$r" "" '{ "idleMinutes": 2 }'
    tm_init "$SCRATCH/conf/default-r$r.json" passphrase
done
stop_archivers() { pkill -f "^$BIN archiver" 2>/dev/null || true; pkill -f "^$BIN.* archiver" 2>/dev/null || true; }
if [ -n "$baseline_built" ]; then
    tm_log "tidemark init (baseline build)"
    BACKUP_DIR=$SCRATCH/baseline-repo BACKUP_ENCRYPTION_KEY_FILE=$SCRATCH/tidemark.key "$BASE_BIN" init >"$SCRATCH/baseline-init.log" 2>&1 \
        || { cat "$SCRATCH/baseline-init.log" >&2; tm_die "baseline tidemark init failed"; }
fi

# Nothing else runs while we time.
tm_pg_stop "$PGDATA_DIR"
for r in $(seq 1 "$ROUNDS") 0; do
    d=$SCRATCH/data-r$r
    mkdir -p "$d/global" "$d/pg_wal/archive_status"
    cp "$PGDATA_DIR/global/pg_control" "$d/global/"
    for s in "${SEGS[@]}"; do ln "$SCRATCH/segments/$s" "$d/pg_wal/$s"; done
done

# --- the three pushes ---------------------------------------------------------------------
# push TOOL SEGMENT-PATH: the command PostgreSQL would run.
push() {
    case $1 in
        tidemark)   TIDEMARK_CONFIG=$SCRATCH/conf/keyfile.json "$BIN" wal-push "$2" ;;
        tm-pass)    BACKUP_ENCRYPTION_KEY=$PASSPHRASE TIDEMARK_CONFIG=$SCRATCH/conf/pass.json "$BIN" wal-push "$2" ;;
        tm-default)
            cd "$SCRATCH/data-r$CURRENT_ROUND"
            BACKUP_ENCRYPTION_KEY=$PASSPHRASE TIDEMARK_CONFIG=$SCRATCH/conf/default-r$CURRENT_ROUND.json "$BIN" wal-push "pg_wal/${2##*/}"
            local rc=$?; cd "$SCRATCH"; return $rc ;;
        baseline)   BACKUP_DIR=$SCRATCH/baseline-repo BACKUP_ENCRYPTION_KEY_FILE=$SCRATCH/tidemark.key "$BASE_BIN" wal-push "$2" ;;
        pgbackrest) "${PGBR[@]}" archive-push "$2" ;;
        cp)         cp "$2" "$SCRATCH/cp-dest/" && sync "$SCRATCH/cp-dest/${2##*/}" "$SCRATCH/cp-dest" ;;
    esac
}
repo_of() {
    case $1 in
        tidemark) echo "$SCRATCH/tidemark-repo" ;;
        tm-pass) echo "$SCRATCH/tm-pass-repo" ;;
        tm-default) echo "$SCRATCH/tm-default-repo-r$CURRENT_ROUND" ;;
        baseline) echo "$SCRATCH/baseline-repo" ;;
        pgbackrest) echo "$SCRATCH/pgbackrest/repo" ;;
        cp) echo "$SCRATCH/cp-dest" ;;
    esac
}
TOOLS=(tidemark tm-pass tm-default pgbackrest cp)
[ -z "$baseline_built" ] || TOOLS=(tidemark tm-pass tm-default baseline pgbackrest cp)
NT=${#TOOLS[@]}

# One timed push; afterwards the files it created are measured and removed (untimed), so the
# next push of the segment writes again into the same, clean, repository.
timed_push() {
    local tool=$1 seg=$2 repo before t0 t1 bytes cpu rc
    repo=$(repo_of "$tool")
    before=$(bench_list_files "$repo")
    t0=$(bench_now_us)
    # bash's `time` keyword (no fork) adds the CPU time of the command and its children.
    { time push "$tool" "$SCRATCH/segments/$seg" >"$SCRATCH/times/last.out" 2>&1; } 2>"$SCRATCH/times/last.cpu" && rc=0 || rc=$?
    t1=$(bench_now_us)
    if [ "$rc" -ne 0 ]; then
        cat "$SCRATCH/times/last.out" >&2
        tm_die "$tool failed to push $seg (exit $rc)"
    fi
    bytes=$(bench_take_new_files "$repo" "$before")
    [ "$bytes" -gt 0 ] || tm_die "$tool push of $seg stored no new file in $repo"
    cpu=$(awk '{ printf "%d", ($1 + $2) * 1000000 }' "$SCRATCH/times/last.cpu")
    if [ "$tool" = tm-default ] && [ ! -e "$SCRATCH/times/tm-default.started.r$CURRENT_ROUND" ]; then
        # The first push of a round found no archiver and started one: apart.
        touch "$SCRATCH/times/tm-default.started.r$CURRENT_ROUND"
        echo "$(( t1 - t0 ))" >>"$SCRATCH/times/tm-default-first.us"
        return 0
    fi
    echo "$(( t1 - t0 ))" >>"$SCRATCH/times/$tool.us"
    echo "$(( t1 - t0 ))" >>"$SCRATCH/times/$tool.round$CURRENT_ROUND.us"
    echo "$cpu" >>"$SCRATCH/times/$tool.cpu.us"
    echo "$bytes" >>"$SCRATCH/times/$tool.bytes"
}

TIMEFORMAT='%3U %3S'
CURRENT_ROUND=0
tm_log "warm-up (untimed): one push per tool (tm-default in a round of its own)"
for tool in "${TOOLS[@]}"; do timed_push "$tool" "${SEGS[0]}"; done
stop_archivers
rm -f "$SCRATCH"/times/*

for _ in $(seq 1 "$LOAD"); do
    ( while :; do :; done ) &
    LOAD_PIDS+=($!)
done
[ "$LOAD" -eq 0 ] || tm_log "$LOAD busy processes compete for the cores while timing"
tm_log "timing: ${#SEGS[@]} segments x $ROUNDS rounds x ${#TOOLS[@]} tools (${TOOLS[*]})"
for round in $(seq 1 "$ROUNDS"); do
    CURRENT_ROUND=$round
    i=0
    for seg in "${SEGS[@]}"; do
        k=$(( (round + i) % NT ))
        for j in $(seq 0 $(( NT - 1 ))); do timed_push "${TOOLS[$(( (k + j) % NT ))]}" "$seg"; done
        i=$(( i + 1 ))
    done
    stop_archivers
    [ -z "$baseline_built" ] || printf '    round %d of %d: median ms baseline %s\n' "$round" "$ROUNDS" \
        "$(bench_median_ms "$SCRATCH/times/baseline.round$round.us")"
    printf '    round %d of %d: median ms tidemark %s, tm-pass %s, tm-default %s, pgbackrest %s, cp+fsync %s (load average %s)\n' \
        "$round" "$ROUNDS" \
        "$(bench_median_ms "$SCRATCH/times/tidemark.round$round.us")" \
        "$(bench_median_ms "$SCRATCH/times/tm-pass.round$round.us")" \
        "$(bench_median_ms "$SCRATCH/times/tm-default.round$round.us")" \
        "$(bench_median_ms "$SCRATCH/times/pgbackrest.round$round.us")" \
        "$(bench_median_ms "$SCRATCH/times/cp.round$round.us")" "$(cut -d' ' -f1 /proc/loadavg)"
done

# Process start-up alone (no I/O): what every archive_command call pays first.
for _ in $(seq 1 20); do
    t0=$(bench_now_us); "$BIN" --help >/dev/null 2>&1 || true; t1=$(bench_now_us)
    echo $(( t1 - t0 )) >>"$SCRATCH/times/start-tidemark.us"
    t0=$(bench_now_us); pgbackrest version >/dev/null 2>&1; t1=$(bench_now_us)
    echo $(( t1 - t0 )) >>"$SCRATCH/times/start-pgbackrest.us"
done

# --- report -------------------------------------------------------------------------------
seg_bytes=$(stat -c %s "$SCRATCH/segments/${SEGS[0]}")
echo
echo "wal-push benchmark: ${#SEGS[@]} real segments of $seg_bytes bytes ($n_load bulk load, $(( ${#SEGS[@]} - n_load )) OLTP) x $ROUNDS rounds" \
    "($(nproc) cores, $(uname -r))${LOAD_PIDS:+, $LOAD busy processes competing}"
tm_version=$("$BIN" --version 2>/dev/null | head -n 1 || true)
echo "  Tidemark${tm_version:+ $tm_version} (lz4, AES-256-GCM) | $(pgbackrest version) (lz4, aes-256-cbc, archive-async=n) | cp + fsync(file, dir)"
echo "  tidemark: key file, archiver off; tm-pass: passphrase, archiver off; tm-default: passphrase, autostarted archiver (from the 2nd segment of a round)"
echo "  wall: per push, as archive_command sees it; cpu: user + sys of the process and its children"
printf '  %-12s %10s %8s %8s %8s %12s %12s %7s\n' tool "median ms" "p10" "p90" "mean" "cpu med ms" "stored B/seg" "of seg"
for tool in "${TOOLS[@]}"; do
    f=$SCRATCH/times/$tool.us
    b=$(bench_median "$SCRATCH/times/$tool.bytes")
    printf '  %-12s %10s %8s %8s %8s %12s %12s %6s%%\n' "$(case $tool in cp) echo cp+fsync ;; baseline) echo "tm baseline" ;; *) echo "$tool" ;; esac)" \
        "$(bench_median_ms "$f")" "$(bench_pct_ms "$f" 10)" "$(bench_pct_ms "$f" 90)" \
        "$(bench_mean_ms "$f")" "$(bench_median_ms "$SCRATCH/times/$tool.cpu.us")" "$b" \
        "$(awk -v b="$b" -v s="$seg_bytes" 'BEGIN{printf "%.1f", 100*b/s}')"
done
printf '  tm-default first push of a round (starts the archiver): median %s ms of %s\n' \
    "$(bench_median_ms "$SCRATCH/times/tm-default-first.us")" "$(wc -l <"$SCRATCH/times/tm-default-first.us")"
printf '  process start-up (median of 20): tidemark --help %s ms, pgbackrest version %s ms\n' \
    "$(bench_median_ms "$SCRATCH/times/start-tidemark.us")" "$(bench_median_ms "$SCRATCH/times/start-pgbackrest.us")"
tm_med=$(bench_median "$SCRATCH/times/tidemark.us")
pb_med=$(bench_median "$SCRATCH/times/pgbackrest.us")
cp_med=$(bench_median "$SCRATCH/times/cp.us")
awk -v t="$tm_med" -v p="$pb_med" -v c="$cp_med" \
    'BEGIN { printf "  ratios of medians: tidemark/pgbackrest %.2f   tidemark/cp+fsync %.2f   pgbackrest/cp+fsync %.2f\n", t/p, t/c, p/c }'
awk -v a="$(bench_median "$SCRATCH/times/tm-pass.us")" -v d="$(bench_median "$SCRATCH/times/tm-default.us")" -v p="$pb_med" \
    'BEGIN { printf "  ratios of medians: tm-pass/pgbackrest %.2f   tm-default/pgbackrest %.2f (targets: tidemark <= 0.5, tm-default <= 0.25)\n", a/p, d/p }'
echo "  load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "$baseline_built" ]; then
    bl_med=$(bench_median "$SCRATCH/times/baseline.us")
    bl_version=$("$BASE_BIN" --version 2>/dev/null | head -n 1 || true)
    awk -v t="$tm_med" -v b="$bl_med" -v v="$bl_version" \
        'BEGIN { printf "  before/after: tidemark/baseline %.3f (baseline: %s, %s)\n", t/b, v, ENVIRON["TIDEMARK_BASELINE_BIN"] }'
fi
