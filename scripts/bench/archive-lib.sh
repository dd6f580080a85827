# shellcheck shell=bash
# Shared by the archiving benchmarks (archive-backlog.sh, sustained.sh): S3 on loopback (moto
# behind nginx for HTTPS), pgBackRest's and Tidemark's configurations for local + S3, both
# required. Source after scripts/lib.sh with SCRATCH, WORKERS, PORT and SOCK set.

# archive_bench_s3: starts moto and nginx (MOTO_PID, NGINX_PID, ENDPOINT, MOTO_PORT), creates
# the buckets tidemark-bench and pgbr-bench, writes $SCRATCH/s3.secret; defines s3py, s3_count,
# s3_empty. (Not indented: the here-documents inside end at column 0.)
archive_bench_s3() {
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
}

# pgBackRest's configuration for the cluster at PG-PATH (PGBR_PASS: its cipher passphrase).
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
# Tidemark: the guide's configuration (a passphrase) for local + S3, archiver.workers = WORKERS.
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

