# shellcheck shell=bash
# Helpers shared by scripts/test.sh, scripts/quickstart.sh and scripts/bench/*.sh.
# Source it; it defines functions and a few variables, and runs nothing by itself.
#
#   tm_log MSG...                 progress line on stderr
#   tm_die MSG...                 error line on stderr, exit 1
#   tm_ensure_swift               put /opt/swift/usr/bin on PATH when `swift` is not found
#   tm_ensure_packages PKG...     apt-get install what is missing (root, or sudo when available)
#   tm_ensure_moto                pip install 'moto[server]' unless moto_server is importable (S3 tests)
#   tm_ensure_croniter            pip install croniter (pinned) unless installed (cron oracle tests)
#   tm_ensure_aiosmtpd            pip install aiosmtpd (pinned) unless importable (notification tests)
#   tm_ensure_schemathesis        pip install schemathesis (pinned) unless installed (admin API contract test)
#   tm_ensure_browser             Debian's chromium + chromium-driver, pip install selenium (pinned) (dashboard browser test)
#   tm_pg_bin                     echo the PostgreSQL 15 bin directory
#   tm_as_pg CMD...               run CMD as the `postgres` OS user when root, else as yourself
#   tm_pg_owner                   echo the OS user that owns scratch clusters
#   tm_free_port                  echo a TCP port on 127.0.0.1 that nothing listens on
#   tm_pg_start DATADIR PORT SOCKDIR LOG [extra postgres options]
#   tm_pg_stop DATADIR            fast shutdown, quiet, never fails
#   tm_psql SOCKDIR PORT SQL      one value out (-Atq), as the `postgres` database role
#   tm_wait_archived SOCKDIR PORT SEGMENT TIMEOUT_S   until pg_stat_archiver has SEGMENT

# shellcheck disable=SC2034 # used by the scripts that source this file
TM_PACKAGES_BASE=(postgresql-15 libpq-dev liblz4-dev libzstd-dev zlib1g-dev libxxhash-dev pkg-config curl openssl)

tm_log() { printf '==> %s\n' "$*" >&2; }
tm_die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

tm_ensure_swift() {
    if ! command -v swift >/dev/null 2>&1; then
        if [ -x /opt/swift/usr/bin/swift ]; then
            export PATH="$PATH:/opt/swift/usr/bin"
        else
            tm_die "swift not found on PATH (nor in /opt/swift/usr/bin); install the Swift 6 toolchain first"
        fi
    fi
}

# Installs the Debian packages that are not installed yet. `apt-get update` runs only when
# something is missing, so a machine that has everything pays nothing.
tm_ensure_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            tm_die "missing packages: ${missing[*]} — run as root or install sudo (apt-get install -y ${missing[*]})"
        fi
    fi
    tm_log "installing: ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# tm_pip_install SPEC WHY: pip install SPEC (system, else --user, else --break-system-packages).
tm_pip_install() {
    command -v python3 >/dev/null 2>&1 || tm_ensure_packages python3 python3-pip
    tm_log "installing $1 (pip)"
    python3 -m pip install --quiet --disable-pip-version-check "$1" >/dev/null 2>&1 \
        || python3 -m pip install --quiet --disable-pip-version-check --user "$1" >/dev/null 2>&1 \
        || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$1" >/dev/null \
        || tm_die "unable to install $1 with pip ($2)"
}

# The S3 tests and benchmark start moto (a real S3-compatible server) on loopback. pip runs only
# when moto's server module is missing, so a machine that has it pays nothing. The test fixture
# finds `moto_server` on PATH or in pip's user directory, else runs `python3 -m moto.server`.
tm_ensure_moto() {
    command -v python3 >/dev/null 2>&1 || tm_ensure_packages python3 python3-pip
    if python3 -c 'import moto.server, flask, flask_cors' >/dev/null 2>&1; then return 0; fi
    tm_pip_install 'moto[server]' "the S3 tests need it"
    python3 -c 'import moto.server' >/dev/null 2>&1 || tm_die "moto installed but 'import moto.server' fails"
}

# The cron oracle (CronOracleTests) compares CronSchedule with croniter, pinned to the version
# the committed fixture scripts/cron-oracle/cron-oracle.json was generated with.
TM_CRONITER_VERSION=7.0.0
tm_ensure_croniter() {
    command -v python3 >/dev/null 2>&1 || tm_ensure_packages python3 python3-pip
    if [ "$(python3 -c 'import importlib.metadata as m; print(m.version("croniter"))' 2>/dev/null)" = "$TM_CRONITER_VERSION" ]; then return 0; fi
    tm_pip_install "croniter==$TM_CRONITER_VERSION" "the cron oracle tests need it"
    python3 -c 'import croniter' >/dev/null 2>&1 || tm_die "croniter installed but 'import croniter' fails"
}

# The SMTP tests (TidemarkNotifyTests) start a real aiosmtpd; its STARTTLS test makes a
# certificate with python's `cryptography` (aiosmtpd does not bring it; the openssl CLI is the
# fallback the fixture uses).
TM_AIOSMTPD_VERSION=1.4.6
tm_ensure_aiosmtpd() {
    command -v python3 >/dev/null 2>&1 || tm_ensure_packages python3 python3-pip
    if python3 -c 'import aiosmtpd' >/dev/null 2>&1; then return 0; fi
    tm_pip_install "aiosmtpd==$TM_AIOSMTPD_VERSION" "the notification tests need it"
    python3 -c 'import aiosmtpd' >/dev/null 2>&1 || tm_die "aiosmtpd installed but 'import aiosmtpd' fails"
    command -v openssl >/dev/null 2>&1 || tm_ensure_packages openssl
}

# The admin API's contract test (APISchemathesisTests) runs schemathesis against a real
# `tidemark serve` with docs/api/openapi.yaml; the flags it passes are those of this version.
TM_SCHEMATHESIS_VERSION=4.32.5
tm_ensure_schemathesis() {
    command -v python3 >/dev/null 2>&1 || tm_ensure_packages python3 python3-pip
    if [ "$(python3 -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null)" = "$TM_SCHEMATHESIS_VERSION" ]; then return 0; fi
    tm_pip_install "schemathesis==$TM_SCHEMATHESIS_VERSION" "the admin API contract test needs it"
    python3 -c 'import schemathesis' >/dev/null 2>&1 || tm_die "schemathesis installed but 'import schemathesis' fails"
}

# The dashboard's browser test (DashboardBrowserTests) drives Debian's chromium through
# chromedriver with Selenium (scripts/test-browser/dashboard.py).
TM_SELENIUM_VERSION=4.38.0
tm_ensure_browser() {
    if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then tm_ensure_packages chromium chromium-driver; fi
    command -v python3 >/dev/null 2>&1 || tm_ensure_packages python3 python3-pip
    if [ "$(python3 -c 'import importlib.metadata as m; print(m.version("selenium"))' 2>/dev/null)" = "$TM_SELENIUM_VERSION" ]; then return 0; fi
    tm_pip_install "selenium==$TM_SELENIUM_VERSION" "the dashboard browser test needs it"
    python3 -c 'import selenium' >/dev/null 2>&1 || tm_die "selenium installed but 'import selenium' fails"
}

tm_pg_bin() {
    local d=/usr/lib/postgresql/15/bin
    [ -x "$d/postgres" ] || tm_die "PostgreSQL 15 server binaries not found in $d"
    echo "$d"
}

tm_pg_owner() {
    if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}

# PostgreSQL refuses to run as root: as root, run as `postgres` (runuser keeps the environment,
# so BACKUP_DIR etc. reach the server and its archive_command). The caller must stand in a
# directory that user can enter.
tm_as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# A scratch directory under /tmp that the cluster owner can use.
tm_scratch_dir() {
    local d
    d=$(mktemp -d "/tmp/$1.XXXXXX")
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$d"; fi
    echo "$d"
}

# True when something accepts connections on 127.0.0.1:$1.
tm_port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

tm_free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
        if ! tm_port_busy "$p"; then echo "$p"; return 0; fi
    done
    tm_die "no free port found"
}

# initdb with a `postgres` superuser and trust auth on loopback/socket (scratch clusters only).
tm_pg_initdb() {
    local datadir=$1
    tm_as_pg "$(tm_pg_bin)/initdb" -D "$datadir" -U postgres --auth=trust --no-sync -E UTF8 \
        --locale=C >"$datadir.initdb.log" 2>&1 || { cat "$datadir.initdb.log" >&2; tm_die "initdb failed"; }
}

tm_pg_start() {
    local datadir=$1 port=$2 sockdir=$3 log=$4
    shift 4
    local opts="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$sockdir $*"
    if ! tm_as_pg "$(tm_pg_bin)/pg_ctl" -D "$datadir" -l "$log" -o "$opts" -w -t 60 start >/dev/null; then
        tail -n 30 "$log" >&2 || true
        tm_die "PostgreSQL did not start (log: $log)"
    fi
}

tm_pg_stop() {
    local datadir=$1
    [ -f "$datadir/postmaster.pid" ] || return 0
    tm_as_pg "$(tm_pg_bin)/pg_ctl" -D "$datadir" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

tm_psql() {
    local sockdir=$1 port=$2 sql=$3
    tm_as_pg "$(tm_pg_bin)/psql" -X -h "$sockdir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -Atq -c "$sql"
}

# Waits until the archiver has archived SEGMENT (or a later one). Fails early when the
# archiver reports a failure for it, and prints the server's archiver view.
tm_wait_archived() {
    local sockdir=$1 port=$2 seg=$3 timeout=${4:-120} deadline row
    deadline=$(( $(date +%s) + timeout ))
    while :; do
        row=$(tm_psql "$sockdir" "$port" \
            "select coalesce(last_archived_wal,'') >= '$seg', archived_count, failed_count, coalesce(last_failed_wal,'') from pg_stat_archiver")
        case $row in t\|*) return 0 ;; esac
        if [ "$(date +%s)" -ge "$deadline" ]; then
            tm_log "archiver (done|archived|failed|last failed): $row"
            return 1
        fi
        sleep 0.2
    done
}

# Sends SIGNAL to every process of session SID, by process id (no pkill: procps may be
# missing). `swift test` runs the test binary in a process group of its own, so killing a
# process group is not enough to stop a hung test run; its session is.
tm_kill_session() {
    local sid=$1 sig=$2 stat rest pid
    for stat in /proc/[0-9]*/stat; do
        pid=${stat#/proc/}; pid=${pid%/stat}
        [ "$pid" = "$$" ] && continue
        rest=$(cat "$stat" 2>/dev/null) || continue
        rest=${rest##*) }
        # fields after the command name: state ppid pgrp session ...
        # shellcheck disable=SC2086 # split into fields on purpose
        set -- $rest
        [ "${4:-}" = "$sid" ] && kill "-$sig" "$pid" 2>/dev/null
    done
    return 0
}

# Runs CMD... in a new session with a time limit in seconds. On timeout (or when this script
# is told to stop) every process of that session gets SIGTERM, then SIGKILL 30 s later.
# Returns CMD's exit status, or 124 on timeout.
tm_run_with_deadline() {
    local limit=$1 pid deadline rc
    shift
    setsid "$@" &
    pid=$!
    trap 'tm_kill_session '"$pid"' TERM; sleep 2; tm_kill_session '"$pid"' KILL; exit 143' INT TERM
    deadline=$(( $(date +%s) + limit ))
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            tm_log "time limit of $limit s reached: stopping the test run"
            tm_kill_session "$pid" TERM
            sleep 30
            tm_kill_session "$pid" KILL
            wait "$pid" 2>/dev/null || true
            trap - INT TERM
            return 124
        fi
        sleep 2
    done
    rc=0
    wait "$pid" || rc=$?
    trap - INT TERM
    return "$rc"
}
