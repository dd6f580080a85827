#!/usr/bin/env bash
# Benchmark (not a test): the keyed FastCDC chunker of file backups (docs/format.md, "File
# backups") over MIB MiB of random bytes, one thread: the chunker alone and chunker + keyed
# chunk id (HMAC-SHA-256), medians of ROUNDS passes; beside them, on the same bytes, from
# the page cache: `sha256sum` and `zstd -1 -c >/dev/null` (and `b3sum` when installed).
# The target (issue 16): the chunker alone >= 1 GB/s per core.
#
#   scripts/bench/chunker.sh            # MIB=1024 ROUNDS=5
#
# Builds release into .build-release (a long build on a small machine; run it niced, once).
set -euo pipefail
repo_root=$(cd "$(dirname "$0")/../.." && pwd)
MIB=${MIB:-1024}
ROUNDS=${ROUNDS:-5}
scratch=${SCRATCH:-$repo_root/.build-release}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cd "$repo_root"
nice swift build -c release --scratch-path "$scratch" --product tidemark-files-bench >/dev/null
bin="$scratch/release/tidemark-files-bench"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin" chunk --mib "$MIB" --rounds "$ROUNDS" --out "$out/data"

# Median GB/s of ROUNDS runs of a command reading $out/data.
reference() {
    local name=$1; shift
    local rates=() i start end
    for ((i = 0; i < ROUNDS; i++)); do
        start=$(date +%s%N)
        "$@" < "$out/data" > /dev/null
        end=$(date +%s%N)
        rates+=("$(awk -v b=$((MIB << 20)) -v ns=$((end - start)) 'BEGIN { printf "%.2f", b / ns }')")
    done
    printf '%s\n' "${rates[@]}" | sort -n | awk -v n="$name" -v r="$ROUNDS" '{ v[NR] = $1 } END { print n ": " v[int((NR + 1) / 2)] " GB/s (median of " r ")" }'
}
cat "$out/data" > /dev/null
reference "sha256sum" sha256sum
reference "zstd -1" zstd -1 -c
if command -v b3sum > /dev/null; then reference "b3sum (1 thread)" b3sum --num-threads 1; fi
