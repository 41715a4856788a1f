#!/usr/bin/env python3
"""aiosmtpd-based SMTP server for the smtp-courier interop suite (started by start.sh).

- listens on the given loopback addresses/port
- STARTTLS with the harness certificate
- AUTH PLAIN / LOGIN for one user; wrong credentials -> "535 5.7.8 ..." and the
  connection stays open (aiosmtpd's own behaviour)
- every accepted message is written to OUTDIR as <id>.eml (the DATA bytes exactly
  as received, after dot-unstuffing, CRLF line endings kept) plus <id>.json
  (envelope: mail_from, rcpt_tos, options, peer, helo, auth user, tls).
  Both files are written to a temporary name first and renamed, the .json last,
  so a reader that waits for the .json sees a complete pair.
"""
import argparse
import asyncio
import json
import logging
import os
import signal
import ssl
import sys
import time
import uuid

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
import aiosmtpd


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--hosts", default="127.0.0.1", help="comma-separated listen addresses")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--hostname", default="mx.test.example")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--outdir", required=True)
    p.add_argument("--pidfile", required=True)
    p.add_argument("--size-limit", type=int, default=10240000)
    p.add_argument("--auth-require-tls", action="store_true",
                   help="only offer/accept AUTH after STARTTLS (aiosmtpd's default)")
    return p.parse_args()


def _write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


class Handler:
    def __init__(self, outdir):
        self.outdir = outdir

    async def handle_DATA(self, server, session, envelope):
        msg_id = "%d-%s" % (time.time_ns(), uuid.uuid4().hex[:8])
        raw = envelope.original_content
        if raw is None:
            raw = envelope.content if isinstance(envelope.content, bytes) else \
                (envelope.content or "").encode("utf-8", "surrogateescape")
        meta = {
            "id": msg_id,
            "received_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "mail_from": envelope.mail_from,
            "mail_options": envelope.mail_options,
            "rcpt_tos": envelope.rcpt_tos,
            "rcpt_options": envelope.rcpt_options,
            "smtp_utf8": envelope.smtp_utf8,
            "peer": list(session.peer) if session.peer else None,
            "helo": session.host_name,
            "extended_smtp": session.extended_smtp,
            "authenticated": session.authenticated,
            "auth_login": (session.auth_data.login.decode("utf-8", "replace")
                           if isinstance(session.auth_data, LoginPassword) else None),
            "tls": session.ssl is not None,
            "size": len(raw),
            "eml": msg_id + ".eml",
        }
        _write_atomic(os.path.join(self.outdir, msg_id + ".eml"), raw)
        _write_atomic(os.path.join(self.outdir, msg_id + ".json"),
                      json.dumps(meta, indent=1, ensure_ascii=False).encode())
        logging.getLogger("harness").info(
            "stored %s from=%s rcpt=%s size=%d", msg_id, envelope.mail_from,
            envelope.rcpt_tos, len(raw))
        return "250 2.0.0 OK: queued as %s" % msg_id


def main():
    a = parse_args()
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    os.makedirs(a.outdir, exist_ok=True)

    user = a.user.encode()
    password = a.password.encode()

    def authenticator(server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword) and \
                auth_data.login == user and auth_data.password == password:
            return AuthResult(success=True, auth_data=auth_data)
        # handled=False: aiosmtpd sends its standard
        # "535 5.7.8 Authentication credentials invalid" and keeps the session.
        return AuthResult(success=False, handled=False)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    handler = Handler(a.outdir)

    def factory():
        return SMTP(
            handler,
            hostname=a.hostname,
            tls_context=ctx,
            require_starttls=False,
            auth_required=False,
            auth_require_tls=a.auth_require_tls,
            authenticator=authenticator,
            data_size_limit=a.size_limit,
            enable_SMTPUTF8=True,
            decode_data=False,
            loop=loop,
        )

    hosts = [h for h in a.hosts.split(",") if h]
    server = loop.run_until_complete(
        loop.create_server(factory, host=hosts, port=a.port, reuse_address=True))

    with open(a.pidfile + ".tmp", "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(a.pidfile + ".tmp", a.pidfile)
    logging.getLogger("harness").info(
        "aiosmtpd %s listening on %s port %d (auth_require_tls=%s)",
        aiosmtpd.__version__, hosts, a.port, a.auth_require_tls)

    def _stop(*_):
        loop.stop()

    loop.add_signal_handler(signal.SIGTERM, _stop)
    loop.add_signal_handler(signal.SIGINT, _stop)
    try:
        loop.run_forever()
    finally:
        server.close()
        loop.run_until_complete(server.wait_closed())
        try:
            os.unlink(a.pidfile)
        except OSError:
            pass
        logging.getLogger("harness").info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
