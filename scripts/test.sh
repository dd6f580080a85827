#!/usr/bin/env bash
# Builds Tidemark and runs the whole test suite (unit and integration) on Debian 12 with the
# Swift 6 toolchain. Installs the Debian packages it needs (as root, or through sudo).
#
#   scripts/test.sh                     everything
#   scripts/test.sh --filter PATTERN    only matching tests (passed to `swift test`)
#
# Environment:
#   TIDEMARK_SCRATCH_PATH   SwiftPM build directory (default .build)
#   TIDEMARK_BUILD_TIMEOUT  timeout for the build, e.g. 40m (default 40m)
#   TIDEMARK_TEST_TIMEOUT   timeout for the tests (default 60m, or what is left of
#                           TIDEMARK_TOTAL_BUDGET, whichever is smaller)
#   TIDEMARK_TOTAL_BUDGET   seconds for the whole script (default 5100: CI allows 5400)
#   TIDEMARK_TEST_PARALLEL  1 for `swift test`'s own default (Swift Testing in parallel)
#
# Tests run one at a time by default: on two cores, CPU-heavy tests running beside tests that
# time how promptly something happens (a cancellation, an I/O timeout) starve the latter and
# fail them; serially the whole suite takes about 15 % longer and does not flake.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

started=$(date +%s)
# Everything the build and the tests put in the temporary directory (the test support's
# per-process roots, the Swift driver's TemporaryDirectory.* directories) goes into one
# directory of this run, removed when the script ends, however it ends.
run_tmp=$(mktemp -d "${TMPDIR:-/tmp}/tm-run.XXXXXX")
chmod 0755 "$run_tmp"   # the postgres user reaches the scratch clusters inside
trap 'rm -rf "$run_tmp"' EXIT
export TMPDIR=$run_tmp
budget=${TIDEMARK_TOTAL_BUDGET:-5100}
scratch=${TIDEMARK_SCRATCH_PATH:-.build}

tm_ensure_swift
tm_ensure_packages "${TM_PACKAGES_BASE[@]}"
# The integration tests start PostgreSQL 15 from here.
tm_pg_bin >/dev/null
# The S3 tests start moto (and cross-check signatures with botocore, which moto brings).
tm_ensure_moto
tm_ensure_croniter   # CronOracleTests runs scripts/cron-oracle/generate_cron_oracle.py
# The notification tests start aiosmtpd (SMTP) and a python http.server receiver.
tm_ensure_aiosmtpd
# The admin API's contract test (APISchemathesisTests) runs schemathesis.
tm_ensure_schemathesis
# The dashboard's browser test (DashboardBrowserTests) drives Debian's chromium with Selenium.
tm_ensure_browser

tm_log "swift $(swift --version 2>/dev/null | head -n 1)"
tm_log "building (debug, with tests) in $scratch"
build_started=$(date +%s)
timeout --kill-after=30s "${TIDEMARK_BUILD_TIMEOUT:-40m}" \
    swift build --build-tests --scratch-path "$scratch"
tm_log "build took $(( $(date +%s) - build_started )) s"

left=$(( budget - ($(date +%s) - started) ))
test_timeout=${TIDEMARK_TEST_TIMEOUT:-3600}
test_timeout=${test_timeout%s}
case $test_timeout in *m) test_timeout=$(( ${test_timeout%m} * 60 )) ;; esac
if [ "$left" -lt "$test_timeout" ]; then test_timeout=$left; fi
if [ "$test_timeout" -le 60 ]; then
    tm_die "no time left for the tests ($left s of the ${budget} s budget)"
fi

tm_log "running tests (timeout ${test_timeout} s)"
# A crash prints only the crashed thread's frames, without registers and the image list, so
# that the frames are in the last lines of the log (which is what a CI summary shows).
export SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=yes,interactive=no,color=no,threads=crashed,registers=none,images=none,limit=48,top=16}
parallel=(--no-parallel)
if [ "${TIDEMARK_TEST_PARALLEL:-0}" = 1 ]; then parallel=(); fi
rc=0
tm_run_with_deadline "$test_timeout" \
    swift test --skip-build --scratch-path "$scratch" "${parallel[@]}" "$@" || rc=$?
case $rc in
    0) tm_log "tests passed" ;;
    124) tm_log "tests timed out after ${test_timeout} s" ;;
    *) tm_log "tests failed (exit $rc)" ;;
esac
exit "$rc"
