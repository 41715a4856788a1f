#!/usr/bin/env bash
# start.sh [STATE_DIR] - start real SMTP servers on loopback for client testing.
#
# STATE_DIR defaults to $SMTP_REAL_STATE_DIR or /tmp/smtpc-interop. It is wiped and
# recreated (only if it is empty, missing, or was created by this harness), and
# anything a previous run started from it is stopped first.
#
# Started (all on 127.0.0.1 and, when available, ::1):
#   Postfix  :2525 MX-style SMTP, STARTTLS offered (may), no AUTH
#   Postfix  :2587 submission, STARTTLS required, SASL AUTH (Dovecot) required
#   Postfix  :2465 submissions, implicit TLS, SASL AUTH required
#   Postfix  :2528 like 2525 but smtpd_recipient_limit = 3 (452 4.5.3 for the 4th RCPT)
#   Dovecot  (no network listeners) SASL backend for Postfix, unix socket only
#   Dovecot  :2424 LMTP (a second instance), maildirs per user, two users over quota
#   aiosmtpd :2526 STARTTLS + AUTH PLAIN/LOGIN, stores messages as files
#   smtp-sink:2527 Postfix's discard-everything sink for throughput tests
# Ports can be overridden with
# SMTP_REAL_PORT_{SMTP,SUBMISSION,SUBMISSIONS,AIOSMTPD,SINK,LIMITS,LMTP}.
# Then writes STATE_DIR/env.sh (and env.json) describing all of it.
set -euo pipefail

T0=$(date +%s.%N)
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="${1:-${SMTP_REAL_STATE_DIR:-/tmp/smtpc-interop}}"

die() { echo "start.sh: ERROR: $*" >&2 || true; exit 1; }
log() { printf 'start.sh: %s\n' "$*" 2>/dev/null || true; }
trap '' PIPE   # a closed stdout (e.g. "| head") must not kill us half-way
umask 022      # postfix/nobody must be able to traverse and read what we create

[ "$(id -u)" = 0 ] || die "must run as root (postfix and dovecot master processes need it)"
case "$STATE" in /*) ;; *) STATE="$(pwd)/$STATE" ;; esac
STATE="${STATE%/}"
case "$STATE" in
    *[!A-Za-z0-9._/+-]*) die "state dir path may only contain A-Z a-z 0-9 . _ / + - (got '$STATE')" ;;
    ""|/|/tmp|/root|/home|/etc|/var|/usr) die "refusing to use '$STATE' as state dir" ;;
esac
# Unix socket paths (Dovecot, Postfix) are limited to 107 bytes.
[ ${#STATE} -le 60 ] || die "state dir path too long for unix sockets (${#STATE} > 60 chars): $STATE"

# ---------------------------------------------------------------- settings
HOST4=127.0.0.1
HOST6=::1
TLS_NAME=mx.test.example
DOMAIN=test.example
AUTH_USER=user@test.example
AUTH_PASS=pass-word
REJECT_RCPT=reject@test.example
DEFER_RCPT=defer@test.example
HOLD_RCPT=hold@test.example        # Postfix: HOLD at RCPT, the message stays in the hold queue
RCPT_LIMIT=3                       # Postfix on the limits port (2528): smtpd_recipient_limit
# LMTP users (Dovecot): delivered, over quota (permanent / temporary), readiness check.
LMTP_USERS="lmtp1 lmtp2 lmtp-full lmtp-tempfull lmtp-ready"
LMTP_UNKNOWN=lmtp-unknown@test.example
SIZE_LIMIT=10240000
P_SMTP=${SMTP_REAL_PORT_SMTP:-2525}
P_SUB=${SMTP_REAL_PORT_SUBMISSION:-2587}
P_SUBS=${SMTP_REAL_PORT_SUBMISSIONS:-2465}
P_AIO=${SMTP_REAL_PORT_AIOSMTPD:-2526}
P_SINK=${SMTP_REAL_PORT_SINK:-2527}
P_LIMITS=${SMTP_REAL_PORT_LIMITS:-2528}
P_LMTP=${SMTP_REAL_PORT_LMTP:-2424}
ALL_PORTS="$P_SMTP $P_SUB $P_SUBS $P_AIO $P_SINK $P_LIMITS $P_LMTP"
VMAIL_UID=$(id -u nobody)
VMAIL_GID=$(getent group nogroup | cut -d: -f3)

for bin in /usr/sbin/postfix /usr/sbin/postmap /usr/sbin/smtp-sink /usr/sbin/dovecot /usr/lib/dovecot/lmtp \
           /usr/bin/openssl /usr/bin/ss; do
    [ -x "$bin" ] || die "missing $bin - run install.sh first"
done

# Python interpreter that has aiosmtpd.
PY=""
for cand in "${SMTP_REAL_PYTHON:-}" python3 /usr/local/bin/python3 /usr/bin/python3; do
    [ -n "$cand" ] || continue
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import aiosmtpd' >/dev/null 2>&1; then
        PY="$("$cand" -c 'import sys; print(sys.executable)')"
        break
    fi
done
[ -n "$PY" ] || die "no python3 with aiosmtpd found - run install.sh (or set SMTP_REAL_PYTHON)"

# IPv6 loopback: use it unless disabled or unavailable.
USE_V6=0
if [ "${SMTP_REAL_IPV6:-auto}" != 0 ] && "$PY" -c \
    'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0)); s.close()' 2>/dev/null; then
    USE_V6=1
fi

# ---------------------------------------------------------------- fresh state dir
MARKER="$STATE/.smtpc-interop"
if [ -e "$STATE" ]; then
    if [ -f "$MARKER" ]; then
        "$HERE/stop.sh" "$STATE" >/dev/null 2>&1 || true
        rm -rf "$STATE"
    elif [ -d "$STATE" ] && [ -z "$(ls -A "$STATE")" ]; then
        rmdir "$STATE"
    else
        die "$STATE exists and was not created by this harness; refusing to wipe it"
    fi
fi

# Ports must be free (on any address).
for p in $ALL_PORTS; do
    busy=$(ss -Htln "sport = :$p" 2>/dev/null || true)
    [ -z "$busy" ] || die "port $p is already in use: $(echo "$busy" | awk '{print $4}' | tr '\n' ' ')(another harness running? use stop.sh or SMTP_REAL_PORT_*)"
done

mkdir -p "$STATE"
chmod 755 "$STATE"
touch "$MARKER"
mkdir -p "$STATE"/{tls,log,run,postfix/etc,postfix/queue,dovecot,lmtp,mail,aiosmtpd/mail}
chmod 755 "$STATE"/{tls,log,run,postfix,postfix/etc,postfix/queue,dovecot,lmtp,mail,aiosmtpd,aiosmtpd/mail}
# Postfix daemons (user postfix) and virtual(8) (user nobody) must traverse the path.
d=$(dirname "$STATE")
while :; do
    case "$(stat -c %A "$d")" in
        *x|*t) ;;
        *) die "$d is not world-searchable (o+x); the postfix and nobody users could not reach $STATE" ;;
    esac
    [ "$d" = / ] && break
    d=$(dirname "$d")
done

cleanup_on_error() {
    rc=$?
    if [ $rc -ne 0 ]; then
        echo "start.sh: FAILED (rc=$rc); stopping what was started. Logs:" >&2
        for f in "$STATE"/log/*.log; do
            [ -f "$f" ] || continue
            echo "---- $f (last 15 lines)" >&2
            tail -n 15 "$f" >&2
        done
        "$HERE/stop.sh" "$STATE" >&2 || true
    fi
}
trap cleanup_on_error EXIT
trap 'exit 130' INT TERM HUP

# wait_banners HOST:PORT:TLS... - wait (max 20 s) until every endpoint answers
# with a 220 banner (TLS=1: implicit TLS, certificate verified first).
wait_banners() {
    "$PY" - "$STATE/tls/ca.crt" "$TLS_NAME" "$@" <<'EOF'
import socket, ssl, sys, time
ca, name, specs = sys.argv[1], sys.argv[2], sys.argv[3:]
deadline = time.time() + 20
for spec in specs:
    host, port, tls = spec.rsplit(":", 2)
    last = None
    while True:
        try:
            s = socket.create_connection((host, int(port)), timeout=2)
            if tls == "1":
                s = ssl.create_default_context(cafile=ca).wrap_socket(s, server_hostname=name)
            line = s.recv(512)
            try:
                s.sendall(b"QUIT\r\n"); s.recv(512)
            except OSError:
                pass
            s.close()
            if line.startswith(b"220"):
                break
            last = line
        except OSError as e:
            last = e
        if time.time() > deadline:
            sys.exit("start.sh: %s:%s did not answer with 220 (%r)" % (host, port, last))
        time.sleep(0.05)
EOF
}

# ---------------------------------------------------------------- TLS
log "generating test CA and server certificate for $TLS_NAME, localhost"
TLS="$STATE/tls"
openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 30 \
    -keyout "$TLS/ca.key" -out "$TLS/ca.crt" -subj "/O=smtp-courier interop/CN=smtp-courier interop test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" >/dev/null 2>&1
cat > "$TLS/server.ext" <<EOF
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:$TLS_NAME,DNS:localhost,IP:127.0.0.1,IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
EOF
openssl req -new -newkey rsa:2048 -nodes -sha256 -keyout "$TLS/server.key" \
    -out "$TLS/server.csr" -subj "/CN=$TLS_NAME" >/dev/null 2>&1
openssl x509 -req -sha256 -days 30 -in "$TLS/server.csr" -CA "$TLS/ca.crt" -CAkey "$TLS/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -extfile "$TLS/server.ext" -out "$TLS/server.crt" >/dev/null 2>&1
cat "$TLS/server.crt" "$TLS/ca.crt" > "$TLS/server-chain.crt"
chmod 600 "$TLS/ca.key" "$TLS/server.key"
chmod 644 "$TLS/ca.crt" "$TLS/server.crt" "$TLS/server-chain.crt"
openssl verify -CAfile "$TLS/ca.crt" "$TLS/server.crt" >/dev/null

# ---------------------------------------------------------------- Dovecot (SASL only)
DV="$STATE/dovecot"
AUTH_SOCKET="$DV/run/auth-postfix"
printf '%s:{PLAIN}%s::::::\n' "$AUTH_USER" "$AUTH_PASS" > "$DV/users"
chown root:dovecot "$DV/users"; chmod 640 "$DV/users"
mkdir -p "$DV/state"
cat > "$DV/dovecot.conf" <<EOF
# Generated by start.sh: Dovecot as SASL backend for Postfix only.
# No protocols => no network listeners; only unix sockets under base_dir.
base_dir = $DV/run
state_dir = $DV/state
instance_name = smtpc-interop-dovecot
protocols = none
listen = 127.0.0.1
log_path = $STATE/log/dovecot.log
ssl = no
# Postfix only passes AUTH through after TLS on 2587/2465 anyway.
disable_plaintext_auth = no
auth_mechanisms = plain login cram-md5 scram-sha-1 scram-sha-256
auth_verbose = yes
auth_username_format = %Lu
# {PLAIN} storage: the only scheme from which Dovecot can serve PLAIN, LOGIN,
# CRAM-MD5 *and* both SCRAM variants.
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DV/users
}
userdb {
  driver = static
  args = uid=$VMAIL_UID gid=$VMAIL_GID home=/nonexistent
}
# Test-speed settings (see README): no per-IP exponential auth penalty (all
# tests come from 127.0.0.1), and a configurable fixed failure delay
# (Dovecot's default is 2 secs; we default to 0).
auth_failure_delay = ${SMTP_REAL_AUTH_FAILURE_DELAY:-0 secs}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service auth {
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}
EOF
log "starting dovecot (SASL backend)"
/usr/sbin/dovecot -c "$DV/dovecot.conf" >>"$STATE/log/dovecot.log" 2>&1
for _ in $(seq 1 100); do [ -S "$AUTH_SOCKET" ] && break; sleep 0.1; done
[ -S "$AUTH_SOCKET" ] || die "dovecot auth socket $AUTH_SOCKET did not appear"

# ---------------------------------------------------------------- Dovecot (LMTP)
# A second, independent Dovecot instance: its users, mail storage and quota plugin
# stay apart from the SASL instance above (whose static userdb accepts any name).
LM="$STATE/lmtp"
LMTP_ADDRS=$HOST4; [ "$USE_V6" = 1 ] && LMTP_ADDRS="$HOST4, $HOST6"
mkdir -p "$LM/state" "$LM/mail"
: > "$LM/users"
for u in $LMTP_USERS; do
    extra=""
    # 10 octets of quota: every message is over it, so its delivery fails after the data.
    case "$u" in
        lmtp-full) extra="userdb_quota_rule=*:storage=10B" ;;
        lmtp-tempfull) extra="userdb_quota_rule=*:storage=10B userdb_quota_full_tempfail=yes" ;;
    esac
    printf '%s@%s::%s:%s::%s::%s\n' "$u" "$DOMAIN" "$VMAIL_UID" "$VMAIL_GID" "$LM/mail/$u" "$extra" >> "$LM/users"
    mkdir -p "$LM/mail/$u/Maildir"/{new,cur,tmp}
done
chown -R "$VMAIL_UID:$VMAIL_GID" "$LM/mail"
cat > "$LM/dovecot.conf" <<EOF
# Generated by start.sh: Dovecot's LMTP server on $P_LMTP (RFC 2033), nothing else.
base_dir = $LM/run
state_dir = $LM/state
instance_name = smtpc-interop-lmtp
protocols = lmtp
listen = $LMTP_ADDRS
log_path = $STATE/log/dovecot-lmtp.log
ssl = no
hostname = lmtp.$DOMAIN
mail_location = maildir:~/Maildir
# Over-quota users: 552 5.2.2 (lmtp-full) or 452 4.2.2 (lmtp-tempfull, through its
# quota_full_tempfail userdb field) for that recipient after the data, not at RCPT
# (lmtp_rcpt_check_quota = no, the default).
mail_plugins = quota
plugin {
  quota = maildir:User quota
}
# Users are full addresses; an unknown one is refused at RCPT (550 5.1.1).
auth_username_format = %Lu
passdb {
  driver = passwd-file
  args = $LM/users
}
userdb {
  driver = passwd-file
  args = $LM/users
}
service lmtp {
  inet_listener lmtp {
    address = $LMTP_ADDRS
    port = $P_LMTP
  }
}
EOF
log "starting dovecot (LMTP on $P_LMTP)"
/usr/sbin/dovecot -c "$LM/dovecot.conf" >>"$STATE/log/dovecot-lmtp.log" 2>&1

# ---------------------------------------------------------------- Postfix
PF="$STATE/postfix/etc"
if [ "$USE_V6" = 1 ]; then INET_PROTOCOLS=all; MYNETWORKS="127.0.0.0/8 [::1]/128"; else INET_PROTOCOLS=ipv4; MYNETWORKS="127.0.0.0/8"; fi
cat > "$PF/main.cf" <<EOF
# Generated by start.sh - private Postfix instance (postfix -c $PF ...).
compatibility_level = 3.6
queue_directory = $STATE/postfix/queue
data_directory = $STATE/postfix/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop

myhostname = $TLS_NAME
mydomain = $DOMAIN
myorigin = \$myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relay_domains =
relayhost =
inet_interfaces = loopback-only
inet_protocols = $INET_PROTOCOLS
mynetworks = $MYNETWORKS

# Nothing ever leaves this machine: no local(8), no smtp(8); anything not for
# $DOMAIN is rewritten to relayed@$DOMAIN (see virtual_alias), and the error
# transport catches whatever is left.
local_transport = error:5.1.1 local delivery is disabled in this test harness
default_transport = error:5.7.1 outbound delivery is disabled in this test harness
relay_transport = error:5.7.1 outbound delivery is disabled in this test harness
smtp_dns_support_level = disabled
# No DNS lookups for connecting clients (127.0.0.1 / ::1).
smtpd_peername_lookup = no
# "connect from unknown[127.0.0.1]:PORT": tests find their own session in the log
# by the client's local port (and its "disconnect ... quit=1 commands=N" summary).
smtpd_client_port_logging = yes

# Delivery: everything for @$DOMAIN goes to one maildir, $STATE/mail/inbox
# (virtual(8) adds X-Original-To:, Delivered-To: and Return-Path: headers).
virtual_mailbox_domains = $DOMAIN
virtual_mailbox_base = $STATE/mail
virtual_mailbox_maps = hash:$PF/vmailbox
virtual_alias_maps = regexp:$PF/virtual_alias
# Must be explicit: the default (\$virtual_alias_maps) would make the regexp map
# turn every domain into a "virtual alias domain".
virtual_alias_domains =
virtual_uid_maps = static:$VMAIL_UID
virtual_gid_maps = static:$VMAIL_GID
# Keep received headers untouched (no canonicalisation, no added headers).
local_header_rewrite_clients =
always_add_missing_headers = no

# Logging to a file (no syslog needed).
maillog_file = $STATE/log/postfix.log
maillog_file_prefixes = /var, /dev/stdout, $STATE/log

# ESMTP features (Postfix defaults, made explicit).
message_size_limit = $SIZE_LIMIT
smtputf8_enable = yes
smtpd_discard_ehlo_keywords =

# TLS (port $P_SMTP: offered; submission ports override in master.cf).
smtpd_tls_cert_file = $TLS/server.crt
smtpd_tls_key_file = $TLS/server.key
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtpd_tls_session_cache_database =

# SASL via Dovecot (enabled per service in master.cf).
smtpd_sasl_type = dovecot
smtpd_sasl_path = $AUTH_SOCKET
smtpd_sasl_auth_enable = no
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
smtpd_sasl_authenticated_header = yes
broken_sasl_auth_clients = no

# Restrictions: no open relay; per-recipient test verdicts from recipient_access.
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions = check_recipient_access hash:$PF/recipient_access
# Used by the submission services (with smtpd_delay_reject=no => at MAIL FROM).
harness_auth_required = permit_sasl_authenticated, check_client_access static:{530 5.7.0 Authentication required}
EOF
if [ -n "${SMTP_REAL_POSTFIX_EXTRA:-}" ]; then
    printf '\n# From $SMTP_REAL_POSTFIX_EXTRA\n%s\n' "$SMTP_REAL_POSTFIX_EXTRA" >> "$PF/main.cf"
fi

smtpd_services() {   # addr-prefix
    local a=$1
    cat <<EOF
$a:$P_SMTP inet  n       -       n       -       -       smtpd
$a:$P_SUB inet  n       -       n       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_delay_reject=no
  -o smtpd_sender_restrictions=\$harness_auth_required
$a:$P_SUBS inet  n       -       n       -       -       smtpd
  -o syslog_name=postfix/submissions
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_delay_reject=no
  -o smtpd_sender_restrictions=\$harness_auth_required
$a:$P_LIMITS inet  n       -       n       -       -       smtpd
  -o syslog_name=postfix/limits
  -o smtpd_recipient_limit=$RCPT_LIMIT
EOF
}
{
    echo "# Generated by start.sh. No chroot; no smtp/relay/lmtp client transports (nothing leaves the host)."
    smtpd_services 127.0.0.1
    [ "$USE_V6" = 1 ] && smtpd_services '[::1]'
    cat <<'EOF'
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
} > "$PF/master.cf"

cat > "$PF/recipient_access" <<EOF
# Per-recipient verdicts at RCPT time (all ports). Format: address  NNN x.y.z text
$REJECT_RCPT   550 5.1.1 User unknown (smtp-courier interop: permanent rejection)
$DEFER_RCPT    450 4.2.0 Mailbox temporarily unavailable (smtp-courier interop: temporary rejection)
# The whole message goes to the hold queue (postcat -hq ID shows its envelope records).
$HOLD_RCPT     HOLD smtp-courier interop: held for envelope inspection
EOF
cat > "$PF/vmailbox" <<EOF
# Every address @$DOMAIN is accepted and delivered to the maildir "inbox/".
@$DOMAIN   inbox/
EOF
cat > "$PF/virtual_alias" <<EOF
# Authenticated submission may relay; such mail stays here: any recipient
# outside $DOMAIN is rewritten to relayed@$DOMAIN (X-Original-To keeps the original).
if /@/
!/@$(echo "$DOMAIN" | sed 's/\./\\./g')\$/   relayed@$DOMAIN
endif
EOF
# Postfix pauses ("lets a hot file cool down") for ~2 s whenever main.cf was
# modified within the last second or so; back-date our freshly written files.
touch -d "@$(( $(date +%s) - 60 ))" "$PF/main.cf" "$PF/master.cf" "$PF/recipient_access" \
    "$PF/vmailbox" "$PF/virtual_alias"
postmap -c "$PF" "hash:$PF/recipient_access"
postmap -c "$PF" "hash:$PF/vmailbox"

mkdir -p "$STATE/mail/inbox"/{tmp,new,cur}
chown -R "$VMAIL_UID:$VMAIL_GID" "$STATE/mail"
chmod -R 755 "$STATE/mail"

log "starting postfix (config_directory $PF)"
if ! /usr/sbin/postfix -c "$PF" start >"$STATE/log/postfix-start.log" 2>&1; then
    cat "$STATE/log/postfix-start.log" >&2
    die "postfix -c $PF start failed"
fi

# ---------------------------------------------------------------- aiosmtpd
AIO_HOSTS=$HOST4; [ "$USE_V6" = 1 ] && AIO_HOSTS="$HOST4,$HOST6"
AIO_TLS_FLAG=""; [ "${SMTP_REAL_AIOSMTPD_AUTH_REQUIRE_TLS:-0}" = 1 ] && AIO_TLS_FLAG="--auth-require-tls"
log "starting aiosmtpd on $AIO_HOSTS port $P_AIO"
setsid "$PY" "$HERE/lib/aiosmtpd_server.py" \
    --hosts "$AIO_HOSTS" --port "$P_AIO" --hostname "$TLS_NAME" \
    --cert "$TLS/server.crt" --key "$TLS/server.key" \
    --user "$AUTH_USER" --password "$AUTH_PASS" \
    --outdir "$STATE/aiosmtpd/mail" --pidfile "$STATE/run/aiosmtpd.pid" \
    --size-limit "$SIZE_LIMIT" $AIO_TLS_FLAG \
    </dev/null >>"$STATE/log/aiosmtpd.log" 2>&1 &

# ---------------------------------------------------------------- smtp-sink
# -a: do not advertise AUTH. smtp-sink would advertise "AUTH PLAIN LOGIN" but
# answers any AUTH command with "250 2.0.0 Ok" (not 235), which only confuses clients.
SINK_FLAGS=${SMTP_REAL_SINK_FLAGS--a}
start_sink() {   # name listen-address
    local name=$1 addr=$2
    # The inner shell records its own PID and then execs smtp-sink (same PID).
    SMTPC_INTEROP_STATE="$STATE" \
    setsid bash -c 'echo $$ > "$1"; shift; exec "$@"' _ "$STATE/run/smtp-sink-$name.pid" \
        /usr/sbin/smtp-sink -u nobody -h "$TLS_NAME" -m 512 $SINK_FLAGS "$addr" 1024 \
        </dev/null >>"$STATE/log/smtp-sink-$name.log" 2>&1 &
}
log "starting smtp-sink on port $P_SINK"
start_sink v4 "$HOST4:$P_SINK"
[ "$USE_V6" = 1 ] && start_sink v6 "[$HOST6]:$P_SINK"

# ---------------------------------------------------------------- readiness
HOSTS="$HOST4"; [ "$USE_V6" = 1 ] && HOSTS="$HOST4 $HOST6"
endpoints=()
for h in $HOSTS; do
    endpoints+=("$h:$P_SMTP:0" "$h:$P_SUB:0" "$h:$P_SUBS:1" "$h:$P_AIO:0" "$h:$P_SINK:0"
                "$h:$P_LIMITS:0" "$h:$P_LMTP:0")
done
wait_banners "${endpoints[@]}"

# One whole LMTP transaction (on 127.0.0.1): proves the users, the RCPT refusal and
# both quota replies are as the README says, each recipient answered after the data.
"$PY" - "$HOST4" "$P_LMTP" "$DOMAIN" "$LMTP_UNKNOWN" <<'EOF'
import socket, sys
host, port, dom, unknown = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.create_connection((host, port), timeout=10)
f = s.makefile("rb")
def expect(code, what):
    lines = []
    while True:
        line = f.readline()
        lines.append(line.decode("utf-8", "replace").rstrip("\r\n"))
        if line[3:4] != b"-":
            break
    if not lines[-1].startswith(code):
        sys.exit("start.sh: LMTP readiness check: %s: expected %s, got %r" % (what, code, lines))
    return lines
def cmd(line, code):
    s.sendall(line.encode() + b"\r\n")
    return expect(code, line)
expect("220", "greeting")
cmd("LHLO ready.%s" % dom, "250")
cmd("MAIL FROM:<ready@%s>" % dom, "250")
cmd("RCPT TO:<lmtp-ready@%s>" % dom, "250")
cmd("RCPT TO:<%s>" % unknown, "550 5.1.1")
cmd("RCPT TO:<lmtp-full@%s>" % dom, "250")
cmd("RCPT TO:<lmtp-tempfull@%s>" % dom, "250")
cmd("DATA", "354")
s.sendall(b"Subject: start.sh LMTP readiness check\r\n\r\nready\r\n.\r\n")
expect("250 2.0.0 <lmtp-ready@", "reply for lmtp-ready after the data")
expect("552 5.2.2 <lmtp-full@", "reply for lmtp-full after the data")
expect("452 4.2.2 <lmtp-tempfull@", "reply for lmtp-tempfull after the data")
cmd("QUIT", "221")
EOF

# ---------------------------------------------------------------- env.sh / env.json
HOST6_EXPORT=""; [ "$USE_V6" = 1 ] && HOST6_EXPORT=$HOST6
cat > "$STATE/env.sh" <<EOF
# Generated by start.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ). Source it: . $STATE/env.sh
export SMTP_REAL_STATE_DIR='$STATE'
export SMTP_REAL_HOST='$HOST4'
export SMTP_REAL_HOST6='$HOST6_EXPORT'          # empty when IPv6 loopback is not used
export SMTP_REAL_TLS_SERVER_NAME='$TLS_NAME'    # certificate SANs: $TLS_NAME, localhost, 127.0.0.1, ::1
export SMTP_REAL_CA_FILE='$TLS/ca.crt'
export SMTP_REAL_CA_KEY_FILE='$TLS/ca.key'
export SMTP_REAL_SERVER_CERT_FILE='$TLS/server.crt'
export SMTP_REAL_SERVER_KEY_FILE='$TLS/server.key'
export SMTP_REAL_DOMAIN='$DOMAIN'
export SMTP_REAL_USER='$AUTH_USER'
export SMTP_REAL_PASSWORD='$AUTH_PASS'
export SMTP_REAL_REJECT_RCPT='$REJECT_RCPT'     # 550 5.1.1 at RCPT (Postfix, all ports)
export SMTP_REAL_DEFER_RCPT='$DEFER_RCPT'       # 450 4.2.0 at RCPT (Postfix, all ports)
export SMTP_REAL_MESSAGE_SIZE_LIMIT=$SIZE_LIMIT
# Postfix
export SMTP_REAL_POSTFIX_SMTP_PORT=$P_SMTP          # plain SMTP, STARTTLS optional, no AUTH
export SMTP_REAL_POSTFIX_SUBMISSION_PORT=$P_SUB     # STARTTLS required, AUTH required
export SMTP_REAL_POSTFIX_SUBMISSIONS_PORT=$P_SUBS   # implicit TLS, AUTH required
export SMTP_REAL_POSTFIX_LIMITS_PORT=$P_LIMITS       # like SMTP_PORT, but smtpd_recipient_limit (below)
export SMTP_REAL_POSTFIX_RCPT_LIMIT=$RCPT_LIMIT       # on LIMITS_PORT: RCPT number LIMIT+1.. -> 452 4.5.3
export SMTP_REAL_POSTFIX_HOLD_RCPT='$HOLD_RCPT'   # accepted, whole message kept in the hold queue (all ports)
export SMTP_REAL_POSTFIX_MAILDIR='$STATE/mail/inbox'   # delivered messages: \$SMTP_REAL_POSTFIX_MAILDIR/new/*
export SMTP_REAL_POSTFIX_CONFIG_DIR='$PF'
export SMTP_REAL_POSTFIX_LOG='$STATE/log/postfix.log'
export SMTP_REAL_DOVECOT_LOG='$STATE/log/dovecot.log'
# aiosmtpd
export SMTP_REAL_AIOSMTPD_PORT=$P_AIO               # STARTTLS optional, AUTH PLAIN/LOGIN (also without TLS unless AUTH_REQUIRE_TLS=1)
export SMTP_REAL_AIOSMTPD_MAILDIR='$STATE/aiosmtpd/mail'  # <id>.eml + <id>.json per message
export SMTP_REAL_AIOSMTPD_LOG='$STATE/log/aiosmtpd.log'
export SMTP_REAL_AIOSMTPD_AUTH_REQUIRE_TLS=${SMTP_REAL_AIOSMTPD_AUTH_REQUIRE_TLS:-0}   # 1: AUTH only after STARTTLS
# Dovecot LMTP (RFC 2033); each user's maildir is \$SMTP_REAL_LMTP_MAILDIR_BASE/<local part>/Maildir
export SMTP_REAL_LMTP_PORT=$P_LMTP
export SMTP_REAL_LMTP_RCPT1='lmtp1@$DOMAIN'                 # 250 at RCPT, 250 2.0.0 after the data
export SMTP_REAL_LMTP_RCPT2='lmtp2@$DOMAIN'                 # same, another mailbox
export SMTP_REAL_LMTP_FULL_RCPT='lmtp-full@$DOMAIN'         # 250 at RCPT, 552 5.2.2 after the data
export SMTP_REAL_LMTP_TEMPFULL_RCPT='lmtp-tempfull@$DOMAIN' # 250 at RCPT, 452 4.2.2 after the data
export SMTP_REAL_LMTP_UNKNOWN_RCPT='$LMTP_UNKNOWN'   # 550 5.1.1 at RCPT
export SMTP_REAL_LMTP_MAILDIR_BASE='$LM/mail'
export SMTP_REAL_LMTP_MAILDIR1='$LM/mail/lmtp1/Maildir'
export SMTP_REAL_LMTP_MAILDIR2='$LM/mail/lmtp2/Maildir'
export SMTP_REAL_LMTP_LOG='$STATE/log/dovecot-lmtp.log'
# smtp-sink
export SMTP_REAL_SINK_PORT=$P_SINK                 # accepts and discards everything
# tools
export SMTP_REAL_PYTHON='$PY'
EOF
"$PY" - "$STATE/env.sh" "$STATE/env.json" <<'EOF'
import json, re, sys
env = {}
for line in open(sys.argv[1]):
    m = re.match(r"export (\w+)=('([^']*)'|(\S+))", line)
    if m:
        env[m.group(1)] = m.group(3) if m.group(3) is not None else m.group(4)
json.dump(env, open(sys.argv[2], "w"), indent=1)
EOF

trap - EXIT
T1=$(date +%s.%N)
log "all servers up in $(awk -v a="$T0" -v b="$T1" 'BEGIN{printf "%.1f", b-a}')s (state dir $STATE)"
log "  postfix smtp $P_SMTP, submission $P_SUB, submissions $P_SUBS, limits $P_LIMITS; dovecot lmtp $P_LMTP; aiosmtpd $P_AIO; smtp-sink $P_SINK on $HOSTS"
log "  source $STATE/env.sh for ports, CA, credentials and maildir paths"
