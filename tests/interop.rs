//! Interop tests against real servers on loopback: Postfix (2525, MX style), aiosmtpd
//! (2526) and Postfix's smtp-sink (2527), set up by `tests/interop/start.sh`.
//!
//! Run them with the one command `bash tests/interop/run.sh`: it installs and starts the
//! servers, exports their environment, runs this file with `--ignored` and stops the
//! servers. Every test is `#[ignore]`d so that a plain `cargo test` never mistakes a
//! missing server for a pass, and with `--ignored` a missing environment is a failure,
//! never a skip.
//!
//! TODO(interop: TLS and AUTH, once the library has them), as tests of their own files or
//! sections here; `support::Env` already carries the CA file, server name and credentials:
//! - Postfix 2525 and aiosmtpd 2526: STARTTLS (opportunistic and required), PKIX against
//!   `SMTP_REAL_CA_FILE` with name `mx.test.example`, a wrong name and the system roots
//!   refused; capabilities re-read after TLS (no STARTTLS in the second EHLO).
//! - Postfix 2587 (submission): 530 before STARTTLS; after STARTTLS, AUTH PLAIN, LOGIN,
//!   CRAM-MD5, SCRAM-SHA-1, SCRAM-SHA-256 (Dovecot sends the SCRAM server-final as a 334
//!   challenge); 535 on a wrong password leaves the connection usable; relayed mail lands
//!   as relayed@test.example.
//! - Postfix 2465 (submissions): implicit TLS (RFC 8314), then the same AUTH matrix.
//! - aiosmtpd 2526: AUTH PLAIN/LOGIN with and without TLS (`SMTP_REAL_AIOSMTPD_AUTH_REQUIRE_TLS`).
//! - Postfix 2525: CHUNKING/BDAT once the library sends BDAT (smtp-sink cannot do BDAT).
//! - The `send` example with `--tls starttls|implicit`, `--auth-*`.
//!
//! Not testable against these servers: the EHLO → HELO fallback (all three know EHLO);
//! the scripted-server tests cover it.
//!
//! Layout: `interop/support.rs` (environment, message tokens, reading stored mail, the
//! write-recording stream, Postfix log lookups, shared messages and assertions), then one
//! module per server: `postfix`, `aiosmtpd`, `sink`, and `send_example` for the CLI.
//! TLS and AUTH tests go in new modules here (e.g. `interop/tls.rs`, `interop/auth.rs`).
//! Filter by module: `bash tests/interop/run.sh postfix::`.

#[path = "interop/support.rs"]
mod support;

#[path = "interop/aiosmtpd.rs"]
mod aiosmtpd;
#[path = "interop/postfix.rs"]
mod postfix;
#[path = "interop/send_example.rs"]
mod send_example;
#[path = "interop/sink.rs"]
mod sink;
