//! Design notes: why smtp-courier behaves as it does where the RFCs leave room.
//!
//! This module holds no code, only the reasoning behind decisions that a careful user
//! would otherwise have to reverse-engineer.
//!
//! # When opportunistic TLS falls back to plaintext
//!
//! Postfix's `may` level continues in plaintext when the server refuses STARTTLS, and
//! several mailers (mox, the `messages` project) reconnect without STARTTLS after a failed
//! handshake, because an MX with a broken TLS stack would otherwise never receive mail.
//! smtp-courier does both, but only when the caller asked for it
//! ([`TlsConfig::fallback`](crate::tls::TlsConfig::fallback)), only in opportunistic mode,
//! and never when the session carries credentials or a REQUIRETLS message
//! ([`TlsConfig::confidential`](crate::tls::TlsConfig::confidential)): an active attacker
//! can always make STARTTLS fail, so a fallback must never expose anything that TLS was
//! meant to protect. Bytes injected after the `220` are never a reason to fall back: they
//! are a protocol error and the connection is dropped. For the same reason a confidential
//! session in opportunistic mode treats a server that does not offer STARTTLS (the
//! keyword is easily stripped) as a TLS failure, not as a plaintext server.
//!
//! # AUTH only over verified TLS
//!
//! CRAM-MD5 and SCRAM never send the password, but they are no defence against a man in
//! the middle: one that strips STARTTLS or presents a certificate of its own sends the
//! challenge (or the salt and nonce) of its choosing and receives a response computed
//! from the password, which it can attack offline with a dictionary. So every mechanism
//! needs verified TLS, unless the caller allows otherwise:
//! [`AuthOptions::allow_unverified_challenge_response`](crate::auth::AuthOptions::allow_unverified_challenge_response)
//! for these, [`AuthOptions::allow_cleartext`](crate::auth::AuthOptions::allow_cleartext)
//! for all, PLAIN and LOGIN included.
//!
//! # Verification: enforced, ignored, or not required
//!
//! Verification always runs, so the [`TlsReport`](crate::tls::TlsReport) can say whether
//! the certificate would have passed; this is what TLS reporting (RFC 8460) needs. Whether
//! a failure stops the handshake is a separate decision. Ignoring the verdict never skips
//! the handshake signature checks: the server still proves it holds the key of the
//! certificate it presents.
//!
//! # Bare CR and LF in message data
//!
//! A bare LF or CR on the wire is how SMTP smuggling works (CVE-2023-51764/5/6): a server
//! that accepts `\n.\n` as the end of data ends the message where the client did not. By
//! default the encoder turns every bare CR and LF into CRLF, so Unix text files send as
//! they are; [`LineEndings::Strict`](crate::proto::body::LineEndings::Strict) refuses them
//! instead. Either way no bare CR or LF is ever written.
//!
//! # 552 to RCPT
//!
//! RFC 5321 §4.5.3.1.10 says a server that refuses a recipient because there are too many
//! should use 452, and that a client should treat 552 to RCPT the same way, since old
//! servers used it. It is therefore transient.
//!
//! # A 5yz followed by a hang-up
//!
//! With PIPELINING a server may answer MAIL with 550 and close the connection before the
//! RCPT and DATA replies. The 550 was read first and decides the transaction: every
//! recipient is refused permanently. Only recipients whose fate no reply decided become
//! transient "connection closed" results.
//!
//! # The end of the data in one write
//!
//! The final `.CRLF` is written together with the last block of content and TCP_NODELAY
//! is set. A separate small write for the terminator waits for the server's delayed ACK
//! under Nagle's algorithm, which caps a connection at a few dozen messages per second on
//! loopback.
//!
//! # No BDAT content before a MAIL was accepted
//!
//! With PIPELINING and CHUNKING the first chunk could leave with MAIL and every RCPT, one
//! round trip per message. RFC 3030 §2 says a server reads and discards the chunk of a
//! BDAT it refuses, so a refused MAIL would cost nothing. Postfix 3.7 does not: on a
//! submission port before STARTTLS it answers MAIL, RCPT and BDAT with `530 5.7.0 Must
//! issue a STARTTLS command first` and reads the chunk as SMTP commands, so message text
//! can inject commands into the session, and its replies come out of step with the
//! client's (the next QUIT meets an unsolicited reply). A refusal of this kind comes from
//! the state of the session (no TLS, no AUTH), not from the message, and it comes before
//! any MAIL is accepted.
//!
//! So no message content goes out by BDAT before the server has accepted a MAIL since the
//! last EHLO and the last AUTH. The first transaction on a connection pipelines MAIL and
//! every RCPT and sends its content only once MAIL's `250` and a recipient's `2yz` were
//! read (when MAIL or every RCPT is refused, nothing of the content is ever written).
//! STARTTLS and AUTH change the server's state, so the transaction after either waits
//! the same way. Once a MAIL was accepted, the first chunk rides with MAIL and the RCPTs
//! again and [`Client::send_batch`](crate::Client::send_batch) keeps its window: the first
//! message costs two round trips, every later one one. DATA needs no such rule: nothing
//! of the content goes before the `354`.
