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
# Caveat: moto is one Python process on the same two cores; both tools share that ceiling.
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
cleanup() {
    [ -z "$RUN_DATA" ] || tm_pg_stop "$RUN_DATA"
    tm_pg_stop "$SCRATCH/pg"
    pkill -f "^$BIN.* archiver" 2>/dev/null || true
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

# --- S3: moto behind nginx for HTTPS ------------------------------------------------------
# pgBackRest speaks only HTTPS to S3, and moto's own TLS (werkzeug) closes connections without
# a close_notify, which OpenSSL 3 reports as "unexpected eof while reading". nginx terminates
# TLS with keep-alive, as a real S3 endpoint does; Tidemark goes through the same nginx.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$SCRATCH/moto.key" -out "$SCRATCH/moto.crt" 2>/dev/null
chmod 0644 "$SCRATCH/moto.crt"
MOTO_HTTP_PORT=$(tm_free_port)
if command -v moto_server >/dev/null 2>&1; then moto=(moto_server); else moto=(python3 -m moto.server); fi
"${moto[@]}" -H 127.0.0.1 -p "$MOTO_HTTP_PORT" >"$SCRATCH/moto.log" 2>&1 &
MOTO_PID=$!
MOTO_PORT=$(tm_free_port)
mkdir -p "$SCRATCH/nginx"
cat >"$SCRATCH/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $SCRATCH/nginx/nginx.pid;
error_log $SCRATCH/nginx/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $SCRATCH/nginx/body;
    proxy_temp_path $SCRATCH/nginx/proxy;
    server {
        listen 127.0.0.1:$MOTO_PORT ssl;
        ssl_certificate $SCRATCH/moto.crt;
        ssl_certificate_key $SCRATCH/moto.key;
        client_max_body_size 0;
        keepalive_requests 100000;
        location / {
            proxy_pass http://127.0.0.1:$MOTO_HTTP_PORT;
            proxy_set_header Host \$http_host;
            proxy_request_buffering off;
            proxy_buffering off;
        }
    }
}
CONF
nginx -c "$SCRATCH/nginx/nginx.conf" -p "$SCRATCH/nginx" >"$SCRATCH/nginx/stdout.log" 2>&1 &
NGINX_PID=$!
for _ in $(seq 1 100); do tm_port_busy "$MOTO_HTTP_PORT" && tm_port_busy "$MOTO_PORT" && break; sleep 0.1; done
tm_port_busy "$MOTO_HTTP_PORT" || { cat "$SCRATCH/moto.log" >&2; tm_die "moto did not start"; }
tm_port_busy "$MOTO_PORT" || { cat "$SCRATCH/nginx/error.log" "$SCRATCH/nginx/stdout.log" >&2; tm_die "nginx did not start"; }
ENDPOINT=https://127.0.0.1:$MOTO_PORT
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_DEFAULT_REGION=us-east-1
s3py() { # python3 snippet with `s3` a boto3 client
    python3 - "$@" <<PY
import sys, boto3
s3 = boto3.client("s3", endpoint_url="$ENDPOINT", verify="$SCRATCH/moto.crt")
$S3PY
PY
}
S3PY='for b in ("tidemark-bench", "pgbr-bench"): s3.create_bucket(Bucket=b)' s3py
s3_count() { # BUCKET: number of WAL segment objects (a key whose last part is a 24-digit name)
    S3PY="
import re
n = 0
for page in s3.get_paginator('list_objects_v2').paginate(Bucket='$1'):
    for o in page.get('Contents', []):
        if re.match(r'[0-9A-F]{24}(-[0-9a-f]{40})?([.][a-z0-9]+)?$', o['Key'].rsplit('/', 1)[-1]): n += 1
print(n)" s3py
}
s3_empty() { # BUCKET: removes the WAL segment objects only (pgBackRest's archive.info stays: its
    # stanza must outlive a round)
    S3PY="
import re
for page in s3.get_paginator('list_objects_v2').paginate(Bucket='$1'):
    for o in page.get('Contents', []):
        if re.match(r'[0-9A-F]{24}(-[0-9a-f]{40})?([.][a-z0-9]+)?$', o['Key'].rsplit('/', 1)[-1]): s3.delete_object(Bucket='$1', Key=o['Key'])" s3py
}
echo "bench-secret" >"$SCRATCH/s3.secret"; chmod 0644 "$SCRATCH/s3.secret"

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

# pgBackRest's stanza (made while the cluster runs; every copy has the same system identifier).
PGBR_PASS=$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')
pgbr_conf() { # FILE PG-PATH
    ( umask 077; cat >"$1" <<CONF
[global]
repo1-path=$SCRATCH/pgbr-repo
repo1-cipher-type=aes-256-cbc
repo1-cipher-pass=$PGBR_PASS
repo2-type=s3
repo2-s3-bucket=pgbr-bench
repo2-s3-endpoint=127.0.0.1:$MOTO_PORT
repo2-s3-region=us-east-1
repo2-s3-key=bench
repo2-s3-key-secret=bench-secret
repo2-s3-uri-style=path
repo2-storage-verify-tls=n
repo2-cipher-type=aes-256-cbc
repo2-cipher-pass=$PGBR_PASS
compress-type=lz4
archive-async=y
process-max=$WORKERS
log-level-console=warn
log-level-stderr=warn
log-level-file=off
log-path=$SCRATCH/pgbr/log
lock-path=$SCRATCH/pgbr/lock
spool-path=$SCRATCH/pgbr/spool

[bench]
pg1-path=$2
pg1-port=$PORT
pg1-socket-path=$SOCK
pg1-user=postgres
CONF
    )
    chown postgres: "$1" 2>/dev/null || true
}
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

# --- Tidemark ---------------------------------------------------------------------------------
PASSPHRASE="bench tide mark passphrase $(od -An -N6 -tu2 /dev/urandom | tr -s ' ' '-')"
tm_conf() { # FILE RUN
    ( umask 077; cat >"$1" <<JSON
{ "stanza": "bench", "compression": "lz4", "encryptionKey": "$PASSPHRASE",
  "repositories": [
    { "name": "local", "type": "posix", "path": "$SCRATCH/tm-repo-$2" },
    { "name": "offsite", "type": "s3", "s3": { "bucket": "tidemark-bench", "prefix": "$2",
      "endpoint": "$ENDPOINT", "region": "us-east-1", "addressing": "path",
      "caBundle": "$SCRATCH/moto.crt", "accessKeyId": "bench", "secretAccessKeyFile": "$SCRATCH/s3.secret" } } ],
  "archiver": { "workers": $WORKERS, "idleMinutes": 1 } }
JSON
    )
    chown postgres: "$1" 2>/dev/null || true
}

# --- runs -------------------------------------------------------------------------------------
# run TOOL ROUND: a fresh copy of the stopped cluster, released with TOOL; prints seconds.
run() {
    local tool=$1 r=$2 data=$SCRATCH/run-$1-$2 conf cmd t0 t1 failed0 failed1 local_n s3_n
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
    sed -i "s|^archive_command = '/bin/false'|archive_command = '$cmd'|" "$data/postgresql.conf"
    RUN_DATA=$data
    tm_pg_start "$data" "$PORT" "$SOCK" "$SCRATCH/$tool-$r.log"
    failed0=$(tm_psql "$SOCK" "$PORT" "select failed_count from pg_stat_archiver")
    t0=$(bench_now_us)
    for _ in $(seq 1 6000); do
        [ "$(ready "$data")" -eq 0 ] && break
        sleep 0.1
    done
    t1=$(bench_now_us)
    [ "$(ready "$data")" -eq 0 ] || tm_die "$tool: $(ready "$data") segments still ready after 600 s"
    failed1=$(tm_psql "$SOCK" "$PORT" "select failed_count from pg_stat_archiver")
    tm_pg_stop "$data"; RUN_DATA=""
    pkill -f "^$BIN.* archiver" 2>/dev/null || true
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
        'BEGIN { printf "    %-10s %7.1f s  %6.1f segments/s  (load average %s)\n", t, us / 1e6, n / (us / 1e6), l }' >&2
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
echo "  load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
