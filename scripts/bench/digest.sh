#!/usr/bin/env bash
# Benchmark (not a test): the plaintext checksum of one 16 MiB WAL segment, SHA-256 (what WAL
# objects carried) against XXH3-128 (what they carry now, docs/format.md), medians of ROUNDS
# runs on one buffer, plus the load average (other work on the machine skews both alike).
#
#   scripts/bench/digest.sh            # MIB=16 ROUNDS=21
#
# Needs cc, libxxhash-dev (TM_PACKAGES_BASE) and libssl-dev (OpenSSL's SHA-256 uses the same
# SHA-NI instructions as swift-crypto's BoringSSL).
set -euo pipefail
repo_root=$(cd "$(dirname "$0")/../.." && pwd)
MIB=${MIB:-16}
ROUNDS=${ROUNDS:-21}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc -O2 -o "$out/digest" "$repo_root/scripts/bench/digest.c" -lcrypto -lxxhash
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$out/digest" "$MIB" "$ROUNDS"
