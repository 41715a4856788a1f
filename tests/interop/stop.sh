#!/usr/bin/env bash
# stop.sh [STATE_DIR] [--purge] - stop every server start.sh started from STATE_DIR.
#
# Stops only processes recorded in STATE_DIR (pid files) and only after checking
# that the PID still belongs to the expected program of this state dir; Postfix
# is stopped with its own "postfix -c DIR stop". Never kills by process name.
# The state dir (logs, delivered mail) is kept unless --purge is given.
set -uo pipefail

STATE=""
PURGE=0
for arg in "$@"; do
    case "$arg" in
        --purge) PURGE=1 ;;
        *) STATE="$arg" ;;
    esac
done
STATE="${STATE:-${SMTP_REAL_STATE_DIR:-/tmp/smtpc-interop}}"
case "$STATE" in /*) ;; *) STATE="$(pwd)/$STATE" ;; esac   # same rule as start.sh
STATE="${STATE%/}"
log() { printf 'stop.sh: %s\n' "$*"; }

if [ ! -f "$STATE/.smtpc-interop" ]; then
    log "$STATE is not a harness state dir (no .smtpc-interop); nothing to stop"
    exit 0
fi

# alive PID: the process exists and is not a zombie (our daemons are re-parented
# to PID 1, which may reap them late).
alive() {
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# pid_matches PID NEEDLE: the process is alive and NEEDLE occurs in its command
# line or environment (to avoid killing a recycled PID).
pid_matches() {
    local pid=$1 needle=$2
    [ -n "$pid" ] && alive "$pid" || return 1
    { tr '\0' '\n' < "/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$needle" && return 0
    { tr '\0' '\n' < "/proc/$pid/environ"; } 2>/dev/null | grep -qF -- "$needle" && return 0
    return 1
}

# stop_pid NAME PID NEEDLE: SIGTERM, wait up to 10 s, then SIGKILL.
stop_pid() {
    local name=$1 pid=$2 needle=$3
    if ! pid_matches "$pid" "$needle"; then
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        alive "$pid" || { log "stopped $name (pid $pid)"; return 0; }
        sleep 0.1
    done
    log "$name (pid $pid) did not exit on SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

rc=0

# --- Postfix: its own stop command (sends SIGTERM to its master, waits, forces).
PF="$STATE/postfix/etc"
if [ -f "$PF/main.cf" ] && [ -x /usr/sbin/postfix ]; then
    mpid=$(sed -n '1s/ //gp' "$STATE/postfix/queue/pid/master.pid" 2>/dev/null || true)
    if /usr/sbin/postfix -c "$PF" status >/dev/null 2>&1; then
        /usr/sbin/postfix -c "$PF" stop >/dev/null 2>&1 || true
        log "stopped postfix (postfix -c $PF stop)"
    fi
    # Belt and braces: the master of *this* instance (MAIL_CONFIG=$PF in its environment).
    if [ -n "$mpid" ]; then
        stop_pid "postfix master" "$mpid" "MAIL_CONFIG=$PF"
    fi
fi

# --- aiosmtpd and smtp-sink: our own pid files.
if [ -f "$STATE/run/aiosmtpd.pid" ]; then
    stop_pid aiosmtpd "$(cat "$STATE/run/aiosmtpd.pid")" "$STATE/run/aiosmtpd.pid"
    rm -f "$STATE/run/aiosmtpd.pid"
fi
for f in "$STATE"/run/smtp-sink-*.pid; do
    [ -f "$f" ] || continue
    stop_pid "smtp-sink ($(basename "$f" .pid))" "$(cat "$f")" "SMTPC_INTEROP_STATE=$STATE"
    rm -f "$f"
done

# --- Dovecot (SASL, and the LMTP instance): master pid files under their base_dirs.
DVPID="$STATE/dovecot/run/master.pid"
if [ -f "$DVPID" ]; then
    stop_pid dovecot "$(cat "$DVPID")" "$STATE/dovecot/dovecot.conf"
fi
LMPID="$STATE/lmtp/run/master.pid"
if [ -f "$LMPID" ]; then
    stop_pid "dovecot (lmtp)" "$(cat "$LMPID")" "$STATE/lmtp/dovecot.conf"
fi

# Report anything of ours that still listens.
left=""
if [ -f "$STATE/env.sh" ]; then
    # shellcheck disable=SC1091
    . "$STATE/env.sh"
    for p in "$SMTP_REAL_POSTFIX_SMTP_PORT" "$SMTP_REAL_POSTFIX_SUBMISSION_PORT" \
             "$SMTP_REAL_POSTFIX_SUBMISSIONS_PORT" "$SMTP_REAL_AIOSMTPD_PORT" "$SMTP_REAL_SINK_PORT" \
             "${SMTP_REAL_POSTFIX_LIMITS_PORT:-}" "${SMTP_REAL_LMTP_PORT:-}"; do
        [ -n "$p" ] || continue   # an env.sh from before these ports existed
        for _ in $(seq 1 50); do
            [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ] && break
            sleep 0.1
        done
        [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ] || left="$left $p"
    done
fi
if [ -n "$left" ]; then
    log "WARNING: ports still listening after stop:$left"
    rc=1
fi

if [ "$PURGE" = 1 ]; then
    if [ $rc = 0 ]; then
        rm -rf "$STATE"
        log "removed $STATE"
    else
        log "NOT removing $STATE: something still runs and its pid files are needed"
    fi
fi
exit $rc
