#!/usr/bin/env bash
# Benchmark (not a test): `tidemark list`, `tidemark expire --dry-run` and `tidemark expire` on
# a repository of BACKUPS backups and SEGMENTS archived 1 MiB WAL segments over DAYS days.
#
# `tidemark-bench-repo` (release build) initializes the repository as `tidemark init` does and
# writes the stanza: SEGMENTS synthetic one-commit segments archived through the real wal-push
# path (commit times spaced evenly over DAYS days ending now) and BACKUPS backups spaced evenly
# over the same span (every 7th a full, the others incrementals; two packs and a blockmap
# each). Then, ROUNDS times each: `tidemark list` against `find` of the repository (the floor of
# reading a listing), and `tidemark expire --dry-run --json` (the repository must stay
# byte-identical); then one `tidemark expire --json`, against the floor of unlinking the same
# files in a copy (`cp -a`) of the repository taken before (`rm`, then `sync` of each
# directory). Prints medians, objects/s and ratios. Targets: list < 1 s, expire --dry-run < 5 s,
# expire >= 2,000 objects/s.
#
#   scripts/bench/expire.sh
#
# Environment: BACKUPS (default 1000), SEGMENTS (default 100000), DAYS (default 730), ROUNDS
# (default 5), TASKS (generator tasks, default 8), TIDEMARK_BIN, TIDEMARK_BENCH_REPO_BIN (a
# generator already built), KEEP=1; the policy through
# BACKUP_RETENTION_DAILY / _WEEKLY / _MONTHLY / _PITR_DAYS (defaults 30 / 26 / 12 / 180: about
# half of a 730-day history goes). Until `tidemark expire` exists, only list is timed.
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo_root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh

BACKUPS=${BACKUPS:-1000}
SEGMENTS=${SEGMENTS:-100000}
DAYS=${DAYS:-730}
ROUNDS=${ROUNDS:-5}
TASKS=${TASKS:-8}
export BACKUP_RETENTION_DAILY=${BACKUP_RETENTION_DAILY:-30}
export BACKUP_RETENTION_WEEKLY=${BACKUP_RETENTION_WEEKLY:-26}
export BACKUP_RETENTION_MONTHLY=${BACKUP_RETENTION_MONTHLY:-12}
export BACKUP_RETENTION_PITR_DAYS=${BACKUP_RETENTION_PITR_DAYS:-180}

BIN_SRC=$(bench_tidemark_binary)
GEN_SRC=$(bench_repo_generator)

SCRATCH=$(tm_scratch_dir tidemark-bench-expire)
cd "$SCRATCH"
BIN=$SCRATCH/bin/tidemark
GEN=$SCRATCH/bin/tidemark-bench-repo
REPO=$SCRATCH/repo
COPY=$SCRATCH/copy
cleanup() {
    cd /
    if [ "${KEEP:-0}" != 1 ]; then rm -rf "$SCRATCH"; else tm_log "kept $SCRATCH"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
tm_as_pg mkdir -p "$SCRATCH/bin"
install -m 0755 "$BIN_SRC" "$BIN"
install -m 0755 "$GEN_SRC" "$GEN"
( umask 077; head -c 32 /dev/urandom | base64 >"$SCRATCH/key" )
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$SCRATCH/key"; fi
export BACKUP_DIR=$REPO BACKUP_ENCRYPTION_KEY_FILE=$SCRATCH/key TIDEMARK_STANZA=main
unset BACKUP_ENCRYPTION_KEY TIDEMARK_CONFIG
tm_log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

tm_log "generating $BACKUPS backups and $SEGMENTS segments over $DAYS days"
s=$(bench_now_us)
tm_as_pg "$GEN" --repo "$REPO" --stanza main --key-file "$SCRATCH/key" --backups "$BACKUPS" --segments "$SEGMENTS" \
    --segment-mib 1 --days "$DAYS" --tasks "$TASKS" >"$SCRATCH/generate.json" || tm_die "tidemark-bench-repo failed"
e=$(bench_now_us)
objects=$(find "$REPO" -type f | wc -l)
tm_log "generated $objects objects ($(du -sh "$REPO" | cut -f1)) in $(us_to_ms $(( e - s ))) ms: $(cat "$SCRATCH/generate.json")"

# One timed run of a command into FILE (microseconds); dies when it fails.
timed() {
    local out=$1 file=$2 start end
    shift 2
    start=$(bench_now_us)
    "$@" >"$out" 2>"$out.err" || { cat "$out.err" >&2; tm_die "failed: $*"; }
    end=$(bench_now_us)
    echo $(( end - start )) >>"$file"
}

# A fingerprint of every file and directory (path, size, modification time).
fingerprint() {
    ( cd "$REPO" && find . -printf '%P %s %T@\n' | LC_ALL=C sort | sha256sum | cut -d' ' -f1 )
}

tm_log "list: the first run builds the catalog index"
: >"$SCRATCH/list.first.us"
timed "$SCRATCH/list.txt" "$SCRATCH/list.first.us" tm_as_pg "$BIN" list
count_backups() {
    tm_as_pg "$BIN" list --json >"$SCRATCH/count.json" || tm_die "tidemark list --json failed"
    python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["backups"]))' "$SCRATCH/count.json"
}
listed=$(count_backups)
[ "$listed" -eq "$BACKUPS" ] || tm_die "tidemark list shows $listed backups, expected $BACKUPS"
: >"$SCRATCH/list.us"
: >"$SCRATCH/find.us"
for _ in $(seq 1 "$ROUNDS"); do
    timed "$SCRATCH/list.txt" "$SCRATCH/list.us" tm_as_pg "$BIN" list
    timed "$SCRATCH/find.txt" "$SCRATCH/find.us" find "$REPO"
done
printf '\n%-34s %10s %10s\n' "" median_ms max_ms
printf '%-34s %10s %10s\n' "tidemark list (first, builds index)" "$(bench_median_ms "$SCRATCH/list.first.us")" "-"
printf '%-34s %10s %10s\n' "tidemark list" "$(bench_median_ms "$SCRATCH/list.us")" "$(bench_pct_ms "$SCRATCH/list.us" 100)"
printf '%-34s %10s %10s\n' "find REPO ($objects objects)" "$(bench_median_ms "$SCRATCH/find.us")" "$(bench_pct_ms "$SCRATCH/find.us" 100)"
awk -v t="$(bench_median "$SCRATCH/list.us")" -v f="$(bench_median "$SCRATCH/find.us")" \
    'BEGIN { printf "list / find %.2f; target list < 1 s: %s\n", t / f, t < 1e6 ? "met" : "NOT met" }'

if ! tm_as_pg "$BIN" expire --help >/dev/null 2>&1; then
    printf '\nSKIPPED expire --dry-run and expire: this tidemark has no expire command (`tidemark expire --help` fails)\n'
    exit 0
fi

: >"$SCRATCH/dry.us"
before=$(fingerprint)
for _ in $(seq 1 "$ROUNDS"); do
    timed "$SCRATCH/dry.json" "$SCRATCH/dry.us" tm_as_pg "$BIN" expire --dry-run --json
done
[ "$(fingerprint)" = "$before" ] || tm_die "expire --dry-run changed the repository"
# The plan's share of backups and WAL to delete, from the fields of docs/expire-json.md.
fraction=$(python3 - "$SCRATCH/dry.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r = d["repositories"][0]
n, total = r["backupsDeleted"], len(r["backups"])
segs = sum(w["segments"] for w in r["walDeleted"])
kept = sum(w["segments"] for w in r["walKept"])
print("%d of %d backups (%.0f%%), %d of %d WAL segments (%.0f%%), %d objects, %.0f MiB" % (
    n, total, 100.0 * n / max(1, total), segs, segs + kept, 100.0 * segs / max(1, segs + kept), r["objectsDeleted"], r["bytesFreed"] / 1048576))
PY
)
printf '%-34s %10s %10s   deletes %s\n' "tidemark expire --dry-run" "$(bench_median_ms "$SCRATCH/dry.us")" \
    "$(bench_pct_ms "$SCRATCH/dry.us" 100)" "$fraction"
awk -v t="$(bench_median "$SCRATCH/dry.us")" 'BEGIN { printf "target expire --dry-run < 5 s: %s\n", t < 5e6 ? "met" : "NOT met" }'

tm_log "copying the repository for the floor (cp -a)"
cp -a "$REPO" "$COPY"
sync
( cd "$REPO" && find . -type f | LC_ALL=C sort ) >"$SCRATCH/before.txt"
: >"$SCRATCH/expire.us"
timed "$SCRATCH/expire.json" "$SCRATCH/expire.us" tm_as_pg "$BIN" expire --json
( cd "$REPO" && find . -type f | LC_ALL=C sort ) >"$SCRATCH/after.txt"
LC_ALL=C comm -23 "$SCRATCH/before.txt" "$SCRATCH/after.txt" >"$SCRATCH/deleted.txt"
gone=$(wc -l <"$SCRATCH/deleted.txt")
added=$(LC_ALL=C comm -13 "$SCRATCH/before.txt" "$SCRATCH/after.txt" | wc -l)
[ "$gone" -gt 0 ] || tm_die "expire deleted nothing"
: >"$SCRATCH/floor.us"
s=$(bench_now_us)
# The same durability as expire's: each directory that lost a file fsynced once (`sync DIR`;
# not `sync -f`, which would flush every other process's writes to the file system too).
sed 's|/[^/]*$||' "$SCRATCH/deleted.txt" | LC_ALL=C sort -u >"$SCRATCH/deleted.dirs"
( cd "$COPY" && xargs -d '\n' -a "$SCRATCH/deleted.txt" rm -f -- && xargs -d '\n' -a "$SCRATCH/deleted.dirs" sync -- \
    && find . -mindepth 3 -type d -empty -delete && sync -- . main main/wal main/backup ) \
    || tm_die "the floor's rm failed"
e=$(bench_now_us)
echo $(( e - s )) >"$SCRATCH/floor.us"
left=$(count_backups)
awk -v t="$(cat "$SCRATCH/expire.us")" -v f="$(cat "$SCRATCH/floor.us")" -v n="$gone" -v a="$added" -v left="$left" -v all="$BACKUPS" 'BEGIN {
    printf "%-34s %10.1f ms   %d objects deleted (%d written), %.0f objects/s; %d of %d backups left\n", "tidemark expire", t / 1000, n, a, n / (t / 1e6), left, all
    printf "%-34s %10.1f ms   %.0f objects/s\n", "floor: rm + sync of a copy", f / 1000, n / (f / 1e6)
    printf "expire / floor time %.2f; target expire >= 2000 objects/s: %s\n", t / f, ((n / (t / 1e6)) >= 2000 ? "met" : "NOT met")
}'
tm_log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
