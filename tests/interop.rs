//! Interop tests against real servers on loopback: Postfix (2525 MX style; 2587
//! submission and 2465 submissions with Dovecot SASL; 2528 with a recipient limit),
//! Dovecot's LMTP server (2424), aiosmtpd (2526) and Postfix's smtp-sink (2527), set up
//! by `tests/interop/start.sh`.
//!
//! Run them with the one command `bash tests/interop/run.sh`: it installs and starts the
//! servers, exports their environment, runs this file with `--ignored` and stops the
//! servers. Every test is `#[ignore]`d so that a plain `cargo test` never mistakes a
//! missing server for a pass, and with `--ignored` a missing environment is a failure,
//! never a skip.
//!
//! TLS and AUTH (`interop/tls.rs`, `interop/auth.rs`, `interop/send_tls.rs`): STARTTLS
//! on Postfix 2525, 2587 and aiosmtpd 2526 and implicit TLS on 2465, verified against
//! `SMTP_REAL_CA_FILE` as `mx.test.example`, refused with the platform roots or a wrong
//! name, accepted unverified with `CertVerification::None` or
//! `ignore_verification_errors`; the Postfix levels; 530 before STARTTLS on 2587; every
//! AUTH mechanism each server offers (Dovecot's SCRAM server-final arrives as a 334), the
//! default choice, the cleartext policy, 535 then success on the same connection; the
//! `send` example with `--tls`, `--level` and `--auth-*`.
//!
//! Raw sessions (`interop/raw.rs`: bytes by hand, no library code) pin down what the
//! BDAT, DSN, limits and LMTP tests will rely on: `postfix_raw` (EHLO keywords, BDAT, DSN
//! parameters read back from the hold queue, `smtpd_recipient_limit`) and `lmtp` (LHLO,
//! RCPT refusal, per-recipient replies after DATA and BDAT LAST, quota users).
//!
//! Library sessions over CHUNKING, windows and LMTP: `postfix_bdat` (BDAT byte for byte,
//! a message over many chunks, BINARYMIME refused before sending, `chunking(false)` →
//! DATA, BDAT content before STARTTLS on 2587), `postfix_batch` (`send_batch` of twenty
//! messages with a 550 and a 450 recipient, window 8 and 1; a message with no accepted
//! recipient in a window) and `lmtp_client` (per-recipient results from Dovecot after
//! BDAT and after DATA, a batch over LMTP). The library's DSN parameters and the 452 of a
//! recipient limit: `dsn` (what it sends, read back from Postfix's hold queue).
//!
//! Delivery (`smtp_courier::delivery`): `mx_delivery` (`MxDelivery` over `HickoryResolver`
//! asking the scripted DNS server of `tests/dns_support` on loopback, where
//! `test.example`'s MX hosts are a dead 127.0.0.2 then Postfix 2525: the walk, the `may`
//! verdict and `verify`/`secure` trusting the test CA, each host verified under its MX
//! name, per-recipient results, null MX and NXDOMAIN contacting nothing, the `send`
//! example in MX mode), `relay` (`Relay::submission` on 2587 and `Relay::implicit_tls`
//! on 2465 with every mechanism Dovecot offers, a wrong password, channel binding,
//! credentials refused over smtp-sink's plaintext) and `pool` (`Pool` with a dialer
//! that authenticates on 2587: reuse and one AUTH per connection, from Postfix's log).
//!
//! TODO(interop): aiosmtpd with `SMTP_REAL_AIOSMTPD_AUTH_REQUIRE_TLS=1` (needs a
//! restart); RFC 9422 LIMITS needs a server that advertises it (Postfix 3.7 does not).
//!
//! Not testable against these servers: the EHLO → HELO fallback (all three know EHLO);
//! the scripted-server tests cover it.
//!
//! Layout: `interop/support.rs` (environment, message tokens, reading stored mail, the
//! write-recording stream, Postfix log lookups, shared messages and assertions), `raw.rs`
//! (raw sessions, the Postfix hold queue), then one module per server: `postfix`,
//! `postfix_raw`, `postfix_bdat`, `postfix_batch`, `dsn`, `lmtp`, `lmtp_client`, `aiosmtpd`,
//! `sink`, and `send_example` for the CLI;
//! `tls`, `auth` and `send_tls` across the servers (the TLS helpers live in `tls`);
//! `mx_delivery`, `relay` and `pool` for the delivery layer, with `dns_support` (shared
//! with tests/mx_dns.rs) for DNS.
//! Filter by module: `bash tests/interop/run.sh postfix::`.

#[path = "dns_support/mod.rs"]
mod dns_support;
#[path = "interop/raw.rs"]
mod raw;
#[path = "interop/support.rs"]
mod support;

#[path = "interop/aiosmtpd.rs"]
mod aiosmtpd;
#[path = "interop/auth.rs"]
mod auth;
#[path = "interop/dsn.rs"]
mod dsn;
#[path = "interop/lmtp.rs"]
mod lmtp;
#[path = "interop/lmtp_client.rs"]
mod lmtp_client;
#[path = "interop/mx_delivery.rs"]
mod mx_delivery;
#[path = "interop/pool.rs"]
mod pool;
#[path = "interop/postfix.rs"]
mod postfix;
#[path = "interop/postfix_batch.rs"]
mod postfix_batch;
#[path = "interop/postfix_bdat.rs"]
mod postfix_bdat;
#[path = "interop/postfix_raw.rs"]
mod postfix_raw;
#[path = "interop/relay.rs"]
mod relay;
#[path = "interop/send_example.rs"]
mod send_example;
#[path = "interop/send_tls.rs"]
mod send_tls;
#[path = "interop/sink.rs"]
mod sink;
#[path = "interop/tls.rs"]
mod tls;
