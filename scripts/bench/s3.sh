#!/usr/bin/env bash
# Benchmark (not a test): write throughput through the S3 store to a loopback S3 server (moto,
# signature checking off) against the file-system store, in one run, for several multipart part
# sizes and upload concurrencies. Prints MB/s per configuration, the S3/file-system ratio, and
# the fastest configuration (what S3RepositorySettings' defaults were chosen from).
#
#   scripts/bench/s3.sh
#
# Environment: MIB (object size, default 256), PARTS (MiB, default "5 8 16 32"), CONCURRENCY
# (default "1 2 4 8"), ROUNDS (best of, default 2), BUILD (release|debug, default release),
# TIDEMARK_SCRATCH_PATH (default .build-release), KEEP=1 (keep the scratch directory).
#
# Caveat: moto is a single Python process on the same two cores; its own speed (it hashes and
# copies every body in Python) bounds what any client can reach, so the ratio says how close the
# S3 path comes to the local disk *through moto*, not what AWS would give.
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo_root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh

MIB=${MIB:-256}
PARTS=${PARTS:-"5 8 16 32"}
CONCURRENCY=${CONCURRENCY:-"1 2 4 8"}
ROUNDS=${ROUNDS:-2}
BUILD=${BUILD:-release}

tm_ensure_swift
tm_ensure_moto
scratch=${TIDEMARK_SCRATCH_PATH:-.build-$BUILD}
[ "$BUILD" = debug ] && scratch=${TIDEMARK_SCRATCH_PATH:-.build}
tm_log "building tidemark-s3-bench ($BUILD) in $scratch"
swift build -c "$BUILD" --scratch-path "$scratch" --product tidemark-s3-bench >&2 || tm_die "swift build failed"
bin="$(swift build -c "$BUILD" --scratch-path "$scratch" --show-bin-path)/tidemark-s3-bench"
[ -x "$bin" ] || tm_die "no benchmark binary at $bin"

SCRATCH=$(mktemp -d /tmp/tidemark-bench-s3.XXXXXX)
MOTO_PID=
cleanup() {
    if [ -n "$MOTO_PID" ]; then kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true; fi
    if [ "${KEEP:-0}" = 1 ]; then tm_log "scratch directory kept: $SCRATCH"; else rm -rf "$SCRATCH"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$(tm_free_port)
if command -v moto_server >/dev/null 2>&1; then moto=(moto_server); else moto=(python3 -m moto.server); fi
"${moto[@]}" -H 127.0.0.1 -p "$PORT" >"$SCRATCH/moto.log" 2>&1 &
MOTO_PID=$!
for _ in $(seq 1 100); do tm_port_busy "$PORT" && break; sleep 0.2; done
tm_port_busy "$PORT" || { cat "$SCRATCH/moto.log" >&2; tm_die "moto did not start"; }
# Without signature checking moto accepts an unsigned bucket creation.
python3 - "$PORT" <<'PY' || tm_die "unable to create the bucket"
import sys, http.client
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
c.request("PUT", "/bench")
r = c.getresponse()
sys.exit(0 if r.status == 200 else 1)
PY
tm_log "moto on 127.0.0.1:$PORT; writing $MIB MiB per run, best of $ROUNDS"

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench
mkdir -p "$SCRATCH/fs"
"$bin" --endpoint "http://127.0.0.1:$PORT" --bucket bench --dir "$SCRATCH/fs" --mib "$MIB" \
    --parts "$(echo "$PARTS" | tr ' ' ',')" --concurrency "$(echo "$CONCURRENCY" | tr ' ' ',')" \
    --rounds "$ROUNDS" >"$SCRATCH/results.tsv"

awk -F'\t' '
    $1 == "fs" { fs = $4 }
    $1 == "s3" { n++; part[n] = $2; conc[n] = $3; rate[n] = $4 }
    END {
        printf "%-12s %8s %12s %10s %8s\n", "store", "part MiB", "concurrency", "MB/s", "vs fs"
        printf "%-12s %8s %12s %10.1f %8s\n", "file system", "-", "-", fs, "1.00"
        for (i = 1; i <= n; i++) {
            printf "%-12s %8d %12d %10.1f %8.2f\n", "s3 (moto)", part[i], conc[i], rate[i], rate[i] / fs
            if (rate[i] > best) { best = rate[i]; bp = part[i]; bc = conc[i] }
        }
        printf "fastest S3 configuration: part size %d MiB, concurrency %d: %.1f MB/s (%.2f x the file system)\n", bp, bc, best, best / fs
    }' "$SCRATCH/results.tsv"
