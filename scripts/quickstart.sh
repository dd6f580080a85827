#!/usr/bin/env bash
# Tidemark's main job, end to end, on a scratch PostgreSQL 15 and a local encrypted repository:
#
#   1. install the Debian packages, build tidemark (release, static Swift runtime)
#   2. make a scratch directory, a key file, and `tidemark init` a repository in it
#   3. start PostgreSQL with archive_command = 'tidemark wal-push %p'
#   4. `tidemark check`, a full backup (`tidemark backup`), write data (pgbench -i -s 5),
#      switch WAL a few times, an incremental backup, and wait until PostgreSQL reports every
#      segment archived; `tidemark list`
#   5. `tidemark info`, then `tidemark wal-fetch` one segment back and compare it byte for
#      byte with PostgreSQL's own copy in pg_wal; a name that was never archived must exit 1
#   6. `tidemark restore` the FULL backup (it writes restore_command = 'tidemark wal-fetch'),
#      let PostgreSQL replay the whole archive, and check that every row came back
#
# Runs as root (PostgreSQL runs as the `postgres` OS user through runuser) or as a normal user.
# Stops every server it started on exit; removes the scratch directory on success unless
# KEEP=1, keeps it on failure.
#
# Environment:
#   TIDEMARK_BIN            use this binary instead of building
#   TIDEMARK_BUILD          release (default) or debug
#   TIDEMARK_SCRATCH_PATH   SwiftPM build directory (default .build-release, or .build for debug)
#   KEEP=1                  keep the scratch directory
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo_root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

started=$(date +%s)

# --- 1. packages and build -----------------------------------------------------------------
tm_ensure_packages "${TM_PACKAGES_BASE[@]}"
PGBIN=$(tm_pg_bin)

if [ -n "${TIDEMARK_BIN:-}" ]; then
    built=$(realpath -e "$TIDEMARK_BIN") || tm_die "TIDEMARK_BIN=$TIDEMARK_BIN not found"
    [ -x "$built" ] || tm_die "TIDEMARK_BIN=$built is not executable"
else
    tm_ensure_swift
    mode=${TIDEMARK_BUILD:-release}
    case $mode in
        release) scratch=${TIDEMARK_SCRATCH_PATH:-.build-release}
                 build_args=(-c release --static-swift-stdlib) ;;
        debug)   scratch=${TIDEMARK_SCRATCH_PATH:-.build}
                 build_args=(-c debug) ;;
        *) tm_die "TIDEMARK_BUILD must be release or debug" ;;
    esac
    tm_log "building tidemark ($mode) in $scratch — the first build takes several minutes"
    t0=$(date +%s)
    swift build "${build_args[@]}" --scratch-path "$scratch" --product tidemark
    built="$(swift build "${build_args[@]}" --scratch-path "$scratch" --show-bin-path)/tidemark"
    tm_log "build took $(( $(date +%s) - t0 )) s"
fi

# --- 2. scratch directory, key, repository -----------------------------------------------
SCRATCH=$(tm_scratch_dir tidemark-quickstart)
# Everything below runs from here: the `postgres` user may not be able to enter the repo.
cd "$SCRATCH"
PRIMARY=$SCRATCH/primary
RESTORED=$SCRATCH/restored
PITR=$SCRATCH/pitr
SOCK=$SCRATCH/sock
BIN=$SCRATCH/bin/tidemark
ok=0

cleanup() {
    tm_pg_stop "$PITR"
    tm_pg_stop "$RESTORED"
    tm_pg_stop "$PRIMARY"
    cd /
    if [ "$ok" = 1 ] && [ "${KEEP:-0}" != 1 ]; then
        rm -rf "$SCRATCH"
    else
        tm_log "scratch directory kept: $SCRATCH (server logs: $SCRATCH/*.log)"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

tm_as_pg mkdir -p "$SCRATCH/bin" "$SOCK" "$SCRATCH/fetched"
# A copy the server's OS user can execute, whatever the permissions of the checkout.
install -m 0755 "$built" "$BIN"

# The key: 32 random bytes, base64. Readable by the server's OS user only. It is passed to
# Tidemark as a file name in the environment, never in argv.
( umask 077; head -c 32 /dev/urandom | base64 >"$SCRATCH/key" )
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$SCRATCH/key"; fi

export BACKUP_DIR=$SCRATCH/repo
export BACKUP_ENCRYPTION_KEY_FILE=$SCRATCH/key
export TIDEMARK_STANZA=main
export TIDEMARK_COMPRESSION=lz4
unset BACKUP_ENCRYPTION_KEY TIDEMARK_CONFIG

tm_log "tidemark init (repository $BACKUP_DIR)"
tm_as_pg "$BIN" init

# --- 3. PostgreSQL with archive_command ---------------------------------------------------
PORT=$(tm_free_port)
tm_log "starting PostgreSQL 15 on 127.0.0.1:$PORT (data $PRIMARY)"
tm_pg_initdb "$PRIMARY"
cat >>"$PRIMARY/postgresql.conf" <<CONF

# --- tidemark quickstart (see pg-conf/postgresql.tidemark.conf) ---
wal_level = replica
archive_mode = on
archive_command = '$BIN wal-push %p'
archive_timeout = 60
max_wal_senders = 4
wal_keep_size = 1GB
fsync = on
CONF
tm_pg_start "$PRIMARY" "$PORT" "$SOCK" "$SCRATCH/primary.log"

psql() { tm_psql "$SOCK" "$PORT" "$1"; }

# --- 4. backups, data, WAL switches, archiving ---------------------------------------------
export PGHOST=$SOCK PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
tm_log "tidemark check (settings, replication connection, a WAL switch reaching the repository)"
tm_as_pg "$BIN" check
tm_log "tidemark backup --type full"
tm_as_pg "$BIN" backup --type full --label quickstart-full
full_id=$(tm_as_pg "$BIN" list --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["backups"][-1]["id"])')

tm_log "writing data: pgbench -i -s 5, then three more tables with a WAL switch after each"
tm_as_pg "$PGBIN/pgbench" -h "$SOCK" -p "$PORT" -U postgres -i -s 5 -q postgres 2>&1 | tail -n 1
for i in 1 2 3; do
    psql "create table quickstart_$i as select g as id, md5(g::text) as v from generate_series(1, 20000) g"
    last_switch=$(psql "select pg_walfile_name(pg_switch_wal())")
done
expect_accounts=$(psql "select count(*) from pgbench_accounts")
expect_rows=$(psql "select sum(n) from (select count(*) n from quickstart_1 union all select count(*) from quickstart_2 union all select count(*) from quickstart_3) s")

tm_log "tidemark backup --type incremental"
tm_as_pg "$BIN" backup --type incremental --label quickstart-incremental
tm_as_pg "$BIN" list

tm_log "waiting for the archiver to reach $last_switch"
if ! tm_wait_archived "$SOCK" "$PORT" "$last_switch" 180; then
    tail -n 30 "$SCRATCH/primary.log" >&2
    tm_die "segments were not archived in time"
fi
psql "select 'archiver: archived ' || archived_count || ', failed ' || failed_count || ', last ' || last_archived_wal from pg_stat_archiver"
failed=$(psql "select failed_count from pg_stat_archiver")
if [ "$failed" != 0 ]; then
    grep -iE 'archive|tidemark' "$SCRATCH/primary.log" | tail -n 20 >&2 || true
    tm_die "the archiver reported $failed failed wal-push attempt(s)"
fi

# --- 5. info and a round trip -------------------------------------------------------------
tm_log "tidemark info"
tm_as_pg "$BIN" info

seg=$last_switch
[ -f "$PRIMARY/pg_wal/$seg" ] || tm_die "expected $seg in pg_wal (wal_keep_size should have kept it)"
tm_log "tidemark wal-fetch $seg and compare with pg_wal/$seg"
tm_as_pg "$BIN" wal-fetch "$seg" "$SCRATCH/fetched/$seg"
cmp "$PRIMARY/pg_wal/$seg" "$SCRATCH/fetched/$seg"
tm_log "identical: $(stat -c %s "$SCRATCH/fetched/$seg") bytes"

absent=00000001FFFFFFFF000000FF
rc=0
tm_as_pg "$BIN" wal-fetch "$absent" "$SCRATCH/fetched/$absent" || rc=$?
[ "$rc" = 1 ] || tm_die "wal-fetch of a segment that was never archived exited $rc (expected 1)"
[ ! -e "$SCRATCH/fetched/$absent" ] || tm_die "wal-fetch left a file for a missing segment"
tm_log "never-archived segment: exit 1, no file (what PostgreSQL expects)"

# --- 6. recovery from the archive ---------------------------------------------------------
PORT2=$(tm_free_port)
tm_log "tidemark restore of the full backup $full_id, then replay of the whole archive on port $PORT2"
tm_as_pg "$BIN" restore --backup "$full_id" --to "$RESTORED"
cat >>"$RESTORED/postgresql.auto.conf" <<CONF
port = $PORT2
archive_mode = off
CONF
# Starts a restored data directory on $PORT2 and waits until recovery has ended (promoted).
start_restored() {
    local datadir=$1 log=$2 deadline
    tm_pg_start "$datadir" "$PORT2" "$SOCK" "$log"
    deadline=$(( $(date +%s) + 180 ))
    until [ "$(tm_psql "$SOCK" "$PORT2" "select pg_is_in_recovery()" 2>/dev/null)" = f ]; do
        if [ "$(date +%s)" -ge "$deadline" ] || ! [ -f "$datadir/postmaster.pid" ]; then
            tail -n 30 "$log" >&2
            tm_die "recovery of $datadir did not finish"
        fi
        sleep 0.5
    done
}
start_restored "$RESTORED" "$SCRATCH/restored.log"
grep -E 'restored log file|archive recovery complete|selected new timeline' "$SCRATCH/restored.log" \
    | sed 's/^/    /' | tail -n 4 || true
got_accounts=$(tm_psql "$SOCK" "$PORT2" "select count(*) from pgbench_accounts")
got_rows=$(tm_psql "$SOCK" "$PORT2" "select sum(n) from (select count(*) n from quickstart_1 union all select count(*) from quickstart_2 union all select count(*) from quickstart_3) s")
if [ "$got_accounts" != "$expect_accounts" ] || [ "$got_rows" != "$expect_rows" ]; then
    tm_die "restored cluster has $got_accounts accounts / $got_rows rows, expected $expect_accounts / $expect_rows"
fi
tm_log "restored cluster: $got_accounts pgbench accounts and $got_rows rows, as on the primary"
tm_pg_stop "$RESTORED"

# --- 7. point-in-time recovery: restore to a timestamp ---------------------------------------
tm_log "point in time: three orders, note the time, two more orders (one transaction each)"
psql "create table quickstart_orders (id int primary key, placed timestamptz default clock_timestamp())"
for i in 1 2 3; do psql "insert into quickstart_orders (id) values ($i)"; done
sleep 0.2
target=$(psql "set timezone = 'UTC'; select to_char(clock_timestamp(), 'YYYY-MM-DD HH24:MI:SS.US') || '+00'")
sleep 0.2
for i in 4 5; do psql "insert into quickstart_orders (id) values ($i)"; done
pitr_switch=$(psql "select pg_walfile_name(pg_switch_wal())")
tm_wait_archived "$SOCK" "$PORT" "$pitr_switch" 180 || tm_die "segment $pitr_switch was not archived in time"

tm_log "tidemark plan --target-time '$target'"
tm_as_pg "$BIN" plan --target-time "$target" --target-action promote | sed 's/^/    /'
tm_log "tidemark restore --target-time '$target' (port $PORT2)"
tm_as_pg "$BIN" restore --to "$PITR" --target-time "$target" --target-action promote
cat >>"$PITR/postgresql.auto.conf" <<CONF
port = $PORT2
archive_mode = off
CONF
start_restored "$PITR" "$SCRATCH/pitr.log"
grep -E 'recovery stopping|last completed transaction' "$SCRATCH/pitr.log" | sed 's/^/    /' || true
orders=$(tm_psql "$SOCK" "$PORT2" "select string_agg(id::text, ',' order by id) from quickstart_orders")
[ "$orders" = "1,2,3" ] || tm_die "restored to $target: orders $orders, expected 1,2,3"
tm_log "restored to $target: orders $orders (4 and 5 came later), as planned"

# --- 8. retention --------------------------------------------------------------------------
tm_log "tidemark expire --dry-run (the default policy: 7 daily, 4 weekly, 12 monthly, a 7-day PITR window)"
tm_as_pg "$BIN" expire --dry-run
tm_log "tidemark expire: both backups lie inside the PITR window, so nothing may be deleted"
tm_as_pg "$BIN" expire --json >"$SCRATCH/expire.json"
grep -q '"backupsDeleted" : 0' "$SCRATCH/expire.json" || { cat "$SCRATCH/expire.json" >&2; tm_die "expire deleted a backup inside the PITR window"; }
[ "$(tm_as_pg "$BIN" list --json | grep -c '"keep" : true')" = 2 ] || tm_die "list does not show both backups as kept"

# --- 9. verification -----------------------------------------------------------------------
tm_log "tidemark verify: every object authenticated, both catalogs, the WAL's continuity, the restorable window"
tm_as_pg "$BIN" verify || tm_die "tidemark verify found problems in a healthy repository"
tm_as_pg "$BIN" verify --json >"$SCRATCH/verify.json" || tm_die "the second tidemark verify failed"
python3 - "$SCRATCH/verify.json" <<'PY' || tm_die "the second verify re-read objects the first had proven"
import json, sys
r = json.load(open(sys.argv[1]))["repositories"][0]
assert r["status"] == "ok" and r["newObjects"] == 0 and r["changedObjects"] == 0 and r["windows"], r
PY

ok=1
echo "PASS: tidemark archived $(psql "select archived_count from pg_stat_archiver") WAL files (archiver failures: $failed), took a full and an incremental backup, wal-fetch returned an identical segment, restoring the full backup plus replaying the archive brought back every row, a restore to a timestamp brought back exactly the orders placed before it, expire kept both backups inside the PITR window, and verify proved every object, catalog and the WAL ($(( $(date +%s) - started )) s)"
