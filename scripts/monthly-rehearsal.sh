#!/usr/bin/env bash
# The monthly PITR rehearsal (docs/rehearsal.md): runs `tidemark rehearse --json`, saves the
# report as DIR/rehearsal-YYYYmmddTHHMMSSZ.json and exits with rehearse's status
# (0 PASS, 11 FAIL, 10 target unreachable, others: see docs/exit-codes.md).
#
#   monthly-rehearsal.sh [--first-monday-only] [--dir DIR] [--tidemark PATH] [-- REHEARSE FLAGS...]
#
#   --first-monday-only   do nothing (exit 0) unless today is the first Monday of the month
#                         (for cron lines that fire every Monday)
#   --dir DIR             where reports go (default /var/lib/tidemark/rehearsals)
#   --tidemark PATH       the tidemark binary (default: `tidemark` on PATH)
set -u

dir=/var/lib/tidemark/rehearsals
tidemark=tidemark
first_monday_only=0
while [ $# -gt 0 ]; do
    case "$1" in
        --first-monday-only) first_monday_only=1; shift ;;
        --dir) dir=${2:?--dir needs a directory}; shift 2 ;;
        --tidemark) tidemark=${2:?--tidemark needs a path}; shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "monthly-rehearsal.sh: unknown argument '$1' (rehearse flags go after --)" >&2; exit 64 ;;
    esac
done

if [ "$first_monday_only" = 1 ]; then
    # Monday is day-of-week 1; the first one falls on day 1..7.
    if [ "$(date +%u)" != 1 ] || [ "$((10#$(date +%d)))" -gt 7 ]; then
        exit 0
    fi
fi

mkdir -p "$dir" || { echo "monthly-rehearsal.sh: cannot create '$dir'" >&2; exit 73; }
stamp=$(date -u +%Y%m%dT%H%M%SZ)
report="$dir/rehearsal-$stamp.json"
log="$dir/rehearsal-$stamp.log"

"$tidemark" rehearse --json "$@" >"$report.tmp" 2>"$log"
status=$?
mv "$report.tmp" "$report"
[ -s "$log" ] || rm -f "$log"

case $status in
    0) echo "tidemark rehearsal PASS: $report" ;;
    11) echo "tidemark rehearsal FAIL: $report" >&2 ;;
    *) echo "tidemark rehearsal could not run (exit $status): $log" >&2 ;;
esac
exit "$status"
