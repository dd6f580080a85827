# shellcheck shell=bash
# Small helpers for the benchmarks in scripts/bench/. Source after scripts/lib.sh.

# Wall clock in microseconds. Bash 5's $EPOCHREALTIME costs no fork; `date +%s%N` is the
# fallback (it adds a fork of ~1 ms to every measurement, the same for every tool).
bench_now_us() {
    if [ -n "${EPOCHREALTIME:-}" ]; then
        local t=${EPOCHREALTIME/[.,]/}
        echo "$t"
    else
        echo $(( $(date +%s%N) / 1000 ))
    fi
}

# Every regular file under DIR, one per line, sorted.
bench_list_files() { find "$1" -type f | LC_ALL=C sort; }

# Files under DIR that are not in the listing BEFORE (a string from bench_list_files): prints
# their total size in bytes and deletes them.
bench_take_new_files() {
    local dir=$1 before=$2 total=0 f
    while IFS= read -r f; do
        [ -n "$f" ] || continue
        total=$(( total + $(stat -c %s "$f") ))
        rm -f "$f"
    done < <(LC_ALL=C comm -13 <(printf '%s\n' "$before") <(bench_list_files "$dir"))
    echo "$total"
}

# Percentile (nearest rank) of the numbers in FILE, one per line.
bench_pct() {
    sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 } END {
        if (NR == 0) { print "nan"; exit }
        r = int((p / 100) * NR + 0.999999); if (r < 1) r = 1; if (r > NR) r = NR; print v[r] }'
}

# Median of the numbers in FILE (mean of the two middle values for an even count).
bench_median() {
    sort -n "$1" | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "nan"; exit }
        if (NR % 2) print v[(NR + 1) / 2]; else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

us_to_ms() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'; }
bench_median_ms() { us_to_ms "$(bench_median "$1")"; }
bench_pct_ms() { us_to_ms "$(bench_pct "$1" "$2")"; }
bench_mean_ms() { awk '{ s += $1 } END { printf "%.1f", NR ? s / NR / 1000 : 0 }' "$1"; }

# --- backup and restore benchmarks (scripts/bench/backup.sh, scripts/bench/restore.sh) ------
#
#   bench_tidemark_binary        echo the release tidemark; build it when missing or older
#                                than Sources/ or Package.swift (TIDEMARK_BIN skips all that)
#   bench_br_setup SCALE         scratch PostgreSQL 15 archiving into a Tidemark repository and
#                                a pgBackRest stanza, pgbench -i -s SCALE; sets the BR_* globals
#                                and an EXIT trap that stops every server and cleans up
#   bench_br_timed NAME CMD...   run CMD, wall and cpu (us) into BR_WALL_US and BR_CPU_US;
#                                dies with CMD's output when it fails
#   bench_br_backup TOOL         one timed full backup: TOOL is tidemark, pgbackrest,
#                                basebackup-plain or basebackup-lz4; sets BR_WALL_US, BR_CPU_US,
#                                BR_STORED (bytes) and BR_BACKUP (id, label or directory)
#   bench_br_restore TOOL ID DIR one timed restore (tidemark or pgbackrest) of backup ID into DIR
#   bench_br_verify_start DIR NAME   start a restored directory on a scratch port, wait for
#                                promotion, compare pgbench_accounts with the source, stop it
#   bench_br_mb BYTES            bytes as MB (10^6), one decimal

bench_tidemark_binary() {
    local scratch bin stale
    if [ -n "${TIDEMARK_BIN:-}" ]; then
        realpath -e "$TIDEMARK_BIN" || tm_die "TIDEMARK_BIN=$TIDEMARK_BIN not found"
        return 0
    fi
    scratch=${TIDEMARK_SCRATCH_PATH:-.build-release}
    bin=$scratch/release/tidemark
    stale=
    if [ -x "$bin" ]; then
        stale=$(find Sources Package.swift Package.resolved -newer "$bin" -print -quit 2>/dev/null || true)
    fi
    if [ -x "$bin" ] && [ -z "$stale" ]; then
        tm_log "tidemark release binary is newer than the sources: $bin"
    else
        tm_ensure_swift
        if [ -x "$bin" ]; then tm_log "building tidemark (release): $stale is newer than $bin"
        else tm_log "building tidemark (release, static Swift runtime) in $scratch — several minutes the first time"; fi
        swift build -c release --static-swift-stdlib --scratch-path "$scratch" --product tidemark >&2 \
            || tm_die "swift build failed"
        bin="$(swift build -c release --static-swift-stdlib --scratch-path "$scratch" --show-bin-path)/tidemark"
    fi
    [ -x "$bin" ] || tm_die "no tidemark binary at $bin"
    realpath -e "$bin"
}

bench_br_mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }

# Runs as the cluster owner, from the scratch directory (which that user can enter).
bench_br_pg() { tm_as_pg "$@"; }

# shellcheck disable=SC2034 # BR_* globals are read by the scripts that source this file
bench_br_setup() {
    local scale=$1 built free_kb need_kb
    tm_ensure_packages "${TM_PACKAGES_BASE[@]}" pgbackrest
    PGBIN=$(tm_pg_bin)
    built=$(bench_tidemark_binary)

    free_kb=$(df -Pk /tmp | awk 'NR == 2 { print $4 }')
    # database ~15 MB per scale unit; its WAL twice (two archives, compressed), backups kept
    # for every round, one restore and one pg_basebackup output at a time.
    need_kb=$(( scale * 15 * 1024 * (6 + ${ROUNDS:-3}) ))
    [ "$free_kb" -ge "$need_kb" ] || tm_die "/tmp has $(( free_kb / 1024 )) MiB free; this run needs about $(( need_kb / 1024 )) MiB"

    # What is being measured: the binary's version and, when built here, the commit and
    # whether Sources/ had uncommitted changes.
    BR_BIN_DESC=$("$built" --version 2>/dev/null | head -n 1 || echo 'tidemark (version unknown)')
    if [ -n "${TIDEMARK_BIN:-}" ]; then
        BR_BIN_DESC+=" (TIDEMARK_BIN=$TIDEMARK_BIN)"
    elif command -v git >/dev/null 2>&1 && git rev-parse --git-dir >/dev/null 2>&1; then
        BR_BIN_DESC+=" built from $(git rev-parse --short HEAD)"
        if [ -n "$(git status --porcelain -- Sources Package.swift 2>/dev/null)" ]; then BR_BIN_DESC+=" + uncommitted changes"; fi
    fi

    BR_SCRATCH=$(tm_scratch_dir tidemark-bench-br)
    BR_SERVERS=()
    trap bench_br_cleanup EXIT
    trap 'exit 130' INT TERM
    cd "$BR_SCRATCH" || tm_die "cannot enter $BR_SCRATCH"
    BR_PGDATA=$BR_SCRATCH/pg
    BR_SOCK=$BR_SCRATCH/sock
    BR_BIN=$BR_SCRATCH/bin/tidemark
    BR_TIMES=$BR_SCRATCH/times
    BR_TM_REPO=$BR_SCRATCH/tidemark-repo
    BR_PGBR_REPO=$BR_SCRATCH/pgbackrest/repo
    BR_PGBR_CONF=$BR_SCRATCH/pgbackrest/pgbackrest.conf
    mkdir -p "$BR_SCRATCH/bin" "$BR_TIMES"
    install -m 0755 "$built" "$BR_BIN"
    bench_br_pg mkdir -p "$BR_SOCK" "$BR_TM_REPO" "$BR_PGBR_REPO" "$BR_SCRATCH/pgbackrest/log" \
        "$BR_SCRATCH/pgbackrest/lock" "$BR_SCRATCH/pgbackrest/spool" "$BR_SCRATCH/out"
    chown "$(tm_pg_owner):" "$BR_TIMES"

    # Tidemark: environment only (the server's archive_command gets it inline).
    bench_br_pg sh -c "umask 077; head -c 32 /dev/urandom | base64 >'$BR_SCRATCH/tidemark.key'"
    export BACKUP_DIR=$BR_TM_REPO
    export BACKUP_ENCRYPTION_KEY_FILE=$BR_SCRATCH/tidemark.key
    export TIDEMARK_STANZA=bench
    export TIDEMARK_COMPRESSION=lz4
    unset BACKUP_ENCRYPTION_KEY TIDEMARK_CONFIG TIDEMARK_PG_CONNINFO

    # pgBackRest: lz4, aes-256-cbc, two processes (Tidemark's --parallel 2 on two cores),
    # fast checkpoint like the other two, every backup kept.
    bench_br_pg sh -c "umask 077; cat >'$BR_PGBR_CONF'" <<CONF
[global]
repo1-path=$BR_PGBR_REPO
repo1-cipher-type=aes-256-cbc
repo1-cipher-pass=$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')
repo1-retention-full=9999
compress-type=lz4
process-max=2
start-fast=y
archive-async=n
log-level-console=warn
log-level-stderr=warn
log-level-file=off
log-path=$BR_SCRATCH/pgbackrest/log
lock-path=$BR_SCRATCH/pgbackrest/lock
spool-path=$BR_SCRATCH/pgbackrest/spool

[bench]
pg1-path=$BR_PGDATA
pg1-port=PORT_PLACEHOLDER
pg1-socket-path=$BR_SOCK
pg1-user=postgres
CONF
    BR_PGBR=(pgbackrest "--config=$BR_PGBR_CONF" --stanza=bench)

    BR_PORT=$(tm_free_port)
    sed -i "s/PORT_PLACEHOLDER/$BR_PORT/" "$BR_PGBR_CONF"
    export PGHOST=$BR_SOCK PGPORT=$BR_PORT PGUSER=postgres PGDATABASE=postgres
    tm_log "scratch PostgreSQL 15 on 127.0.0.1:$BR_PORT in $BR_SCRATCH"
    tm_pg_initdb "$BR_PGDATA"
    cat >>"$BR_PGDATA/postgresql.conf" <<CONF

# --- tidemark backup/restore bench ---
wal_level = replica
max_wal_senders = 10
archive_mode = on
archive_command = 'BACKUP_DIR=$BR_TM_REPO BACKUP_ENCRYPTION_KEY_FILE=$BACKUP_ENCRYPTION_KEY_FILE TIDEMARK_STANZA=bench TIDEMARK_COMPRESSION=lz4 $BR_BIN wal-push %p && pgbackrest --config=$BR_PGBR_CONF --stanza=bench archive-push %p'
max_wal_size = 8GB
checkpoint_timeout = 30min
log_checkpoints = on
CONF
    BR_SERVERS+=("$BR_PGDATA")
    tm_pg_start "$BR_PGDATA" "$BR_PORT" "$BR_SOCK" "$BR_SCRATCH/pg.log"

    tm_log "tidemark init; pgbackrest stanza-create"
    bench_br_pg "$BR_BIN" init >"$BR_SCRATCH/tidemark-init.log" 2>&1 \
        || { cat "$BR_SCRATCH/tidemark-init.log" >&2; tm_die "tidemark init failed"; }
    bench_br_pg "${BR_PGBR[@]}" stanza-create

    tm_log "pgbench -i -s $scale (archived by both tools as it is written)"
    local t0; t0=$(date +%s)
    bench_br_pg "$PGBIN/pgbench" -i -s "$scale" -q 2>&1 | tail -n 1 >&2
    tm_psql "$BR_SOCK" "$BR_PORT" "checkpoint" >/dev/null
    local seg; seg=$(tm_psql "$BR_SOCK" "$BR_PORT" "select pg_walfile_name(pg_switch_wal())")
    tm_wait_archived "$BR_SOCK" "$BR_PORT" "$seg" 1800 || tm_die "the WAL of the load was not archived (see $BR_SCRATCH/pg.log)"
    tm_log "loaded and archived in $(( $(date +%s) - t0 )) s"

    # What a base backup copies: the data directory without pg_wal's contents.
    BR_DB_BYTES=$(( $(du -sb "$BR_PGDATA" | cut -f1) - $(du -sb "$BR_PGDATA/pg_wal" | cut -f1) ))
    BR_FINGERPRINT=$(bench_br_fingerprint "$BR_SOCK" "$BR_PORT")
    tm_log "data directory without pg_wal: $(bench_br_mb "$BR_DB_BYTES") MB; pgbench_accounts: $BR_FINGERPRINT"
    TIMEFORMAT='%3U %3S'
}

bench_br_fingerprint() {
    tm_psql "$1" "$2" "select count(*) || ' rows, sum(aid) ' || sum(aid::bigint) || ', sum(bid) ' || sum(bid::bigint) from pgbench_accounts"
}

bench_br_cleanup() {
    local d
    for d in "${BR_SERVERS[@]}"; do tm_pg_stop "$d"; done
    cd /
    if [ "${KEEP:-0}" = 1 ]; then tm_log "scratch directory kept: $BR_SCRATCH"; else rm -rf "$BR_SCRATCH"; fi
}

# shellcheck disable=SC2034 # BR_* globals are read by the scripts that source this file
bench_br_timed() {
    local name=$1 t0 t1 rc
    shift
    sync
    t0=$(bench_now_us)
    # bash's `time` keyword (no fork) adds the CPU time of the command and its children.
    { time "$@" >"$BR_TIMES/last.out" 2>&1; } 2>"$BR_TIMES/last.cpu" && rc=0 || rc=$?
    t1=$(bench_now_us)
    if [ "$rc" -ne 0 ]; then
        cat "$BR_TIMES/last.out" >&2
        tm_die "$name failed (exit $rc)"
    fi
    BR_WALL_US=$(( t1 - t0 ))
    BR_CPU_US=$(awk '{ printf "%d", ($1 + $2) * 1000000 }' "$BR_TIMES/last.cpu")
}

# The names in DIR (nothing when it does not exist), sorted.
bench_br_entries() { find "$1" -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | LC_ALL=C sort || true; }

# The entry of DIR matching the extended regular expression RE that is not in BEFORE (a
# listing): there must be exactly one.
bench_br_new_entry() {
    local dir=$1 before=$2 re=$3 new
    new=$(LC_ALL=C comm -13 <(printf '%s\n' "$before") <(bench_br_entries "$dir") | grep -E "$re" || true)
    if [ -z "$new" ] || [ "$(printf '%s\n' "$new" | wc -l)" -ne 1 ]; then
        tm_die "expected one new entry in $dir, found: ${new:-none}"
    fi
    echo "$new"
}

# shellcheck disable=SC2034 # BR_* globals are read by the scripts that source this file
bench_br_backup() {
    local tool=$1 dir before out
    case $tool in
        tidemark)
            dir=$BR_TM_REPO/bench/backup
            before=$(bench_br_entries "$dir")
            bench_br_timed "tidemark backup" bench_br_pg "$BR_BIN" backup --type full
            BR_BACKUP=$(bench_br_new_entry "$dir" "$before" '.')
            BR_STORED=$(du -sb "$dir/$BR_BACKUP" | cut -f1)
            out=$(bench_br_pg "$BR_BIN" list --json)
            case $out in *"\"$BR_BACKUP\""*) ;; *) tm_die "tidemark list does not show backup $BR_BACKUP" ;; esac
            ;;
        pgbackrest)
            dir=$BR_PGBR_REPO/backup/bench
            before=$(bench_br_entries "$dir")
            bench_br_timed "pgbackrest backup" bench_br_pg "${BR_PGBR[@]}" --type=full backup
            BR_BACKUP=$(bench_br_new_entry "$dir" "$before" '^[0-9]{8}-[0-9]{6}F$')
            BR_STORED=$(du -sb "$dir/$BR_BACKUP" | cut -f1)
            out=$(bench_br_pg "${BR_PGBR[@]}" info "--set=$BR_BACKUP")
            case $out in *"full backup: $BR_BACKUP"*) ;; *) tm_die "pgbackrest info does not show backup $BR_BACKUP" ;; esac
            ;;
        basebackup-plain|basebackup-lz4)
            out=$BR_SCRATCH/out/$tool
            local extra=()
            [ "$tool" = basebackup-lz4 ] && extra=(--compress=server-lz4)
            bench_br_timed "pg_basebackup ($tool)" bench_br_pg "$PGBIN/pg_basebackup" -h "$BR_SOCK" -p "$BR_PORT" \
                -U postgres -D "$out" -Ft -X none -c fast "${extra[@]}"
            BR_BACKUP=$out
            BR_STORED=$(du -sb "$out" | cut -f1)
            [ -s "$out/backup_manifest" ] || tm_die "pg_basebackup wrote no backup_manifest"
            rm -rf "$out"
            ;;
        *) tm_die "unknown tool $tool" ;;
    esac
}

bench_br_restore() {
    local tool=$1 id=$2 dir=$3
    case $tool in
        tidemark)
            bench_br_timed "tidemark restore" bench_br_pg "$BR_BIN" restore --to "$dir" --backup "$id" --parallel 2 \
                --target-immediate --target-action promote
            ;;
        pgbackrest)
            bench_br_pg mkdir -m 0700 "$dir"
            bench_br_timed "pgbackrest restore" bench_br_pg "${BR_PGBR[@]}" restore "--pg1-path=$dir" "--set=$id" \
                --type=immediate --target-action=promote
            ;;
        *) tm_die "unknown tool $tool" ;;
    esac
}

# Starts a restored data directory beside the source (its own port, no archiving), waits until
# recovery has ended, and compares pgbench_accounts with the source's fingerprint.
bench_br_verify_start() {
    local dir=$1 name=$2 port sock deadline got
    port=$(tm_free_port)
    sock=$BR_SCRATCH/sock-verify
    bench_br_pg mkdir -p "$sock"
    BR_SERVERS+=("$dir")
    tm_pg_start "$dir" "$port" "$sock" "$BR_SCRATCH/verify-$name.log" -c archive_mode=off
    deadline=$(( $(date +%s) + 600 ))
    until [ "$(tm_psql "$sock" "$port" "select pg_is_in_recovery()" 2>/dev/null)" = f ]; do
        [ "$(date +%s)" -lt "$deadline" ] || { tail -n 30 "$BR_SCRATCH/verify-$name.log" >&2; tm_die "$name: recovery did not end"; }
        sleep 0.5
    done
    got=$(bench_br_fingerprint "$sock" "$port")
    tm_pg_stop "$dir"
    [ "$got" = "$BR_FINGERPRINT" ] || tm_die "$name: restored pgbench_accounts differs: '$got', source '$BR_FINGERPRINT'"
    tm_log "$name: restored cluster started, recovery ended, pgbench_accounts matches ($got)"
}

# Deletes DIR (a restore target or output), outside any timing, and flushes what is dirty.
bench_br_remove() { rm -rf "$1"; sync; }

# tidemark-bench-repo (the synthetic repository generator of expire.sh and verify.sh):
# TIDEMARK_BENCH_REPO_BIN when set, else built like the release tidemark (same scratch path
# and flags, so the build is shared; incremental, a no-op when nothing changed).
bench_repo_generator() {
    if [ -n "${TIDEMARK_BENCH_REPO_BIN:-}" ]; then
        realpath -e "$TIDEMARK_BENCH_REPO_BIN" || tm_die "TIDEMARK_BENCH_REPO_BIN=$TIDEMARK_BENCH_REPO_BIN not found"
        return
    fi
    local scratch=${TIDEMARK_SCRATCH_PATH:-.build-release}
    tm_ensure_swift
    tm_log "building tidemark-bench-repo (release) in $scratch"
    swift build -c release --static-swift-stdlib --scratch-path "$scratch" --product tidemark-bench-repo >&2 \
        || tm_die "swift build of tidemark-bench-repo failed"
    realpath -e "$(swift build -c release --static-swift-stdlib --scratch-path "$scratch" --show-bin-path)/tidemark-bench-repo"
}

# --- CPU time of a process and everything it starts (cgroup accounting) --------------------
#
# A cgroup counts the CPU of every process in it, and a process's children are born in its
# cgroup whatever they do later (setsid, double fork, reparented to init): so a tool's
# detached daemons (Tidemark's archiver, pgBackRest's async process and its workers) count
# too, which a parent's cutime/cstime would miss. Needs root and a cgroup v1 cpuacct
# hierarchy or cgroup v2; without them bench_cg_create prints nothing and the callers say
# "cpu n/a".
#
#   bench_cg_create NAME     create (or empty) a cgroup; prints its directory, or nothing
#   bench_cg_add DIR PID     move PID into it (its later children are born there)
#   bench_cg_cpu DIR         "USER_US SYS_US" used by its processes so far, dead ones included
#   bench_cg_wait_empty DIR  wait (at most 20 s) until no process is left in it
#   bench_cg_remove DIR      remove it (it must be empty)
bench_cg_create() {
    local name=$1 dir
    [ "$(id -u)" -eq 0 ] || return 0
    for dir in /sys/fs/cgroup/cpuacct/"$name" /sys/fs/cgroup/"$name"; do
        [ -d "$(dirname "$dir")" ] || continue
        [ -d "$dir" ] && rmdir "$dir" 2>/dev/null
        if mkdir "$dir" 2>/dev/null; then
            if [ -r "$dir/cpuacct.stat" ] || [ -r "$dir/cpu.stat" ]; then echo "$dir"; return 0; fi
            rmdir "$dir" 2>/dev/null
        fi
    done
}
bench_cg_add() { echo "$2" >"$1/cgroup.procs"; }
bench_cg_cpu() {
    local dir=$1 hz
    if [ -r "$dir/cpuacct.stat" ]; then
        hz=$(getconf CLK_TCK)
        awk -v hz="$hz" '$1 == "user" { u = $2 } $1 == "system" { s = $2 } END { printf "%.0f %.0f\n", u * 1e6 / hz, s * 1e6 / hz }' "$dir/cpuacct.stat"
    else
        awk '$1 == "user_usec" { u = $2 } $1 == "system_usec" { s = $2 } END { printf "%.0f %.0f\n", u, s }' "$dir/cpu.stat"
    fi
}
bench_cg_wait_empty() {
    local _
    for _ in $(seq 1 200); do [ -s "$1/cgroup.procs" ] || return 0; sleep 0.1; done
    tm_log "processes still in $1 after 20 s: $(tr '\n' ' ' <"$1/cgroup.procs")"
    return 1
}
bench_cg_remove() { rmdir "$1" 2>/dev/null || true; }
