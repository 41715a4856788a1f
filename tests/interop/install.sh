#!/usr/bin/env bash
# install.sh - install the real SMTP servers the interop suite runs against.
#
# Idempotent and quick (~1 s) when everything is there. Needs root (apt-get, pip).
#   - Debian packages: postfix (also ships /usr/sbin/smtp-sink), dovecot-core (SASL
#     backend for Postfix), dovecot-lmtpd (the LMTP server on 2424), openssl (test
#     CA), iproute2 (ss), procps.
#   - PyPI: aiosmtpd, into the Python that start.sh will use ($SMTP_REAL_PYTHON,
#     default: python3 on PATH).
#   - The distribution's own postfix/dovecot/exim4 services are stopped and disabled:
#     the suite runs private instances on high loopback ports only.
# Nothing is written outside the normal package locations (postfix is preseeded
# "No configuration", so no /etc/postfix/main.cf is created).
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "install.sh: must run as root" >&2; exit 1; }

export DEBIAN_FRONTEND=noninteractive
PY="${SMTP_REAL_PYTHON:-python3}"
APT_LOG=/tmp/smtpc-interop-apt.log
PIP_LOG=/tmp/smtpc-interop-pip.log
log() { printf 'install.sh: %s\n' "$*"; }

APT_PKGS=(postfix dovecot-core dovecot-lmtpd openssl ca-certificates iproute2 procps)

missing=()
for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

# Package scripts must not start daemons on the standard ports. Docker images ship a
# policy-rc.d that says no; otherwise install a temporary one and remove it afterwards.
TMP_POLICY=0
cleanup_policy() {
    if [ "$TMP_POLICY" = 1 ] && grep -q 'smtp-courier interop temporary' /usr/sbin/policy-rc.d 2>/dev/null; then
        rm -f /usr/sbin/policy-rc.d
    fi
}
trap cleanup_policy EXIT

if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]} (log: $APT_LOG)"
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\n# smtp-courier interop temporary: no service starts during install\nexit 101\n' \
            > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        TMP_POLICY=1
    fi
    printf '%s\n' \
        'postfix postfix/main_mailer_type select No configuration' \
        'postfix postfix/mailname string mx.test.example' | debconf-set-selections
    {
        apt-get update -qq &&
        apt-get install -y -qq --no-install-recommends \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
    } </dev/null >"$APT_LOG" 2>&1 || {
        echo "install.sh: apt-get failed; tail of $APT_LOG:" >&2
        tail -n 40 "$APT_LOG" >&2
        exit 1
    }
    cleanup_policy
    TMP_POLICY=0
else
    log "Debian packages already installed"
fi

# Stop and disable the distribution's own services, found through their own pid files
# or systemd units, never by process name.
pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1" 2>/dev/null)" 2>/dev/null; }
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    for svc in postfix dovecot exim4; do
        systemctl list-unit-files "$svc.service" >/dev/null 2>&1 &&
            systemctl disable --now "$svc.service" >/dev/null 2>&1 || true
    done
else
    for svc in postfix:/var/spool/postfix/pid/master.pid dovecot:/run/dovecot/master.pid exim4:/run/exim4/exim.pid; do
        name=${svc%%:*} pidf=${svc#*:}
        if pid_alive "$pidf" && [ -x "/etc/init.d/$name" ]; then
            log "stopping the system's own $name service"
            "/etc/init.d/$name" stop >/dev/null 2>&1 || true
        fi
        if [ -x "/etc/init.d/$name" ] && command -v update-rc.d >/dev/null 2>&1; then
            update-rc.d "$name" disable >/dev/null 2>&1 || true
        fi
    done
fi

# aiosmtpd from PyPI, into the interpreter start.sh will use.
if "$PY" -c 'import aiosmtpd' >/dev/null 2>&1; then
    log "aiosmtpd already installed for $("$PY" -c 'import sys; print(sys.executable)')"
else
    log "pip installing aiosmtpd for $("$PY" -c 'import sys; print(sys.executable)') (log: $PIP_LOG)"
    if ! "$PY" -m pip --version >/dev/null 2>&1; then
        log "no pip for $PY; installing Debian's python3-pip"
        apt-get install -y -qq --no-install-recommends python3-pip </dev/null >>"$APT_LOG" 2>&1
    fi
    pip_install() { "$PY" -m pip install -q --disable-pip-version-check --no-input "$@" aiosmtpd </dev/null >"$PIP_LOG" 2>&1; }
    if ! pip_install; then
        # Debian's own python3 is "externally managed" (PEP 668).
        if grep -qi 'externally-managed' "$PIP_LOG" && pip_install --break-system-packages; then
            :
        else
            cat "$PIP_LOG" >&2
            exit 1
        fi
    fi
fi

for bin in /usr/sbin/postfix /usr/sbin/postconf /usr/sbin/postmap /usr/sbin/smtp-sink \
           /usr/sbin/dovecot /usr/lib/dovecot/lmtp /usr/bin/openssl /usr/bin/ss; do
    [ -x "$bin" ] || { echo "install.sh: missing $bin" >&2; exit 1; }
done
log "postfix $(postconf -d -h mail_version 2>/dev/null), dovecot $(dovecot --version 2>/dev/null | cut -d' ' -f1), aiosmtpd $("$PY" -c 'import aiosmtpd; print(aiosmtpd.__version__)')"
