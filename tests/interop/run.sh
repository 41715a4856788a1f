#!/usr/bin/env bash
# run.sh [TEST_FILTER...] - the one command for the interop suite.
#
# Installs the servers if needed, starts them, exports their environment, builds the
# `send` example, runs `cargo test --test interop -- --ignored --test-threads=1
# [TEST_FILTER...]`, and stops the servers on every exit path (success, failure,
# Ctrl-C, SIGTERM). Exits with the tests' status. Works from any directory, without a
# terminal or stdin (CI=true). Needs root.
#
#   bash tests/interop/run.sh                 # everything
#   bash tests/interop/run.sh postfix::       # only tests whose name contains postfix::
#
# Environment: SMTP_REAL_STATE_DIR (default /tmp/smtpc-interop), SMTP_REAL_PORT_* and
# the other knobs of start.sh (see README.md here).
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
export SMTP_REAL_STATE_DIR="${SMTP_REAL_STATE_DIR:-/tmp/smtpc-interop}"
STATE="$SMTP_REAL_STATE_DIR"
LOCK=/tmp/smtpc-interop.lock

say() { printf 'run.sh: %s\n' "$*"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

[ "$(id -u)" = 0 ] || { say "must run as root (Postfix and Dovecot masters)"; exit 1; }

# Two runs at once would fight over the ports and the state dir: the second waits.
exec 9>"$LOCK"
if ! flock -n 9; then
    say "another interop run holds $LOCK; waiting (up to 10 min)"
    flock -w 600 9 || { say "gave up waiting for $LOCK"; exit 1; }
fi

T_START=$(now)
T_INSTALL=- T_SERVERS=- T_BUILD=- T_TESTS=- T_STOP=-
PHASE=install
RC=0
STARTED=0
CHILD=""
SEND_BUILD="not attempted"
TEST_LOG=""

# Runs a command in its own process group, in the background, so that a signal to this
# script is handled at once (bash defers traps until a foreground child exits) and can
# be passed on to the whole group. Output goes to stdout and, with LOGFILE set, to it.
run_child() {
    local rc
    if [ -n "${LOGFILE:-}" ]; then
        rm -f "$STATE/run/out.fifo"
        mkfifo "$STATE/run/out.fifo"
        tee "$LOGFILE" <"$STATE/run/out.fifo" &
        local tee_pid=$!
        setsid "$@" </dev/null >"$STATE/run/out.fifo" 2>&1 &
        CHILD=$!
        wait "$CHILD"; rc=$?
        CHILD=""
        wait "$tee_pid" 2>/dev/null
        rm -f "$STATE/run/out.fifo"
    else
        setsid "$@" </dev/null &
        CHILD=$!
        wait "$CHILD"; rc=$?
        CHILD=""
    fi
    return "$rc"
}

summary() {
    local passed failed tests_line
    echo
    echo "==================== interop summary ===================="
    if [ -n "$TEST_LOG" ] && [ -f "$TEST_LOG" ]; then
        tests_line=$(grep -E '^test result:' "$TEST_LOG" | tail -n 1)
        echo "tests:        ${tests_line:-no result line (build failure or interrupted?)}"
        failed=$(grep -E '^test .* \.\.\. FAILED$' "$TEST_LOG" | sed -e 's/^test //' -e 's/ \.\.\. FAILED$//')
        if [ -n "$failed" ]; then
            echo "failed:"
            echo "$failed" | sed 's/^/  - /'
        fi
        echo "test output:  $TEST_LOG"
    else
        echo "tests:        not run (stopped during: $PHASE)"
    fi
    echo "send example: $SEND_BUILD"
    echo "timings (s):  install $T_INSTALL, servers up $T_SERVERS, build $T_BUILD, tests $T_TESTS, stop $T_STOP, total $(secs "$T_START" "$(now)")"
    echo "server logs:  $STATE/log/ (kept until the next run)"
    if [ "$RC" = 0 ]; then echo "RESULT:       PASS"; else echo "RESULT:       FAIL (exit $RC)"; fi
    echo "========================================================="
}

cleanup() {
    RC=$?
    trap - EXIT INT TERM HUP
    if [ -n "$CHILD" ]; then
        kill -TERM -- "-$CHILD" 2>/dev/null
        wait "$CHILD" 2>/dev/null
    fi
    if [ "$STARTED" = 1 ]; then
        local t; t=$(now)
        bash "$HERE/stop.sh" "$STATE" || { say "stop.sh reported a problem"; [ "$RC" = 0 ] && RC=1; }
        T_STOP=$(secs "$t" "$(now)")
    fi
    summary
    exit "$RC"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# 1. Install (quick when already done).
t=$(now)
bash "$HERE/install.sh" </dev/null || { say "install.sh failed"; exit 1; }
T_INSTALL=$(secs "$t" "$(now)")

# 2. Start the servers (start.sh stops a previous instance of this state dir first).
PHASE="server start"
t=$(now)
STARTED=1
bash "$HERE/start.sh" "$STATE" </dev/null || { say "start.sh failed"; exit 1; }
T_SERVERS=$(secs "$t" "$(now)")
# shellcheck disable=SC1091
. "$STATE/env.sh"

cd "$ROOT" || exit 1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# 3. Build the test and the `send` example the tests run. A broken example must not
# hide the library's tests: its tests then fail, pointed at a path that does not exist.
PHASE="build"
t=$(now)
if run_child cargo build --example send; then
    SEND_BUILD="built"
    unset SMTPC_SEND_BIN
else
    SEND_BUILD="FAILED to build: the send_example_* tests fail"
    export SMTPC_SEND_BIN="$STATE/send-example-failed-to-build"
fi
run_child cargo test --test interop --no-run || { say "the interop tests do not build"; exit 1; }
T_BUILD=$(secs "$t" "$(now)")

# 4. Run the tests.
PHASE="tests"
TEST_LOG="$STATE/log/cargo-test.log"
t=$(now)
LOGFILE="$TEST_LOG" run_child cargo test --test interop -- --ignored --test-threads=1 "$@"
RC=$?
T_TESTS=$(secs "$t" "$(now)")
if [ "$RC" = 0 ] && ! grep -qE '^test result: ok\. [1-9][0-9]* passed' "$TEST_LOG"; then
    say "no test ran (filter matched nothing?): counting that as a failure"
    RC=1
fi
exit "$RC"
