//! The sans-IO protocol core.
//!
//! Nothing in this module does I/O, reads a clock or resolves a name: bytes come in as
//! buffers and go out as buffers, and timeouts are described as data ([`Phase`],
//! [`Timeouts`]) for a driver to enforce. It builds without tokio
//! (`cargo check --no-default-features`) and is what the fuzzers exercise.
//!
//! RFCs implemented here:
//! - RFC 5321: replies (§4.2), commands (§4.1), paths and limits (§4.1.2, §4.5.3.1),
//!   transparency (§4.5.2), timeouts (§4.5.3.2);
//! - RFC 2920 PIPELINING (the reply FIFO in [`Session`], several transactions in flight);
//! - RFC 3030 CHUNKING and BINARYMIME (BDAT framing in [`Session::send_body`]);
//! - RFC 2033 LMTP ([`SessionConfig::lmtp`]: LHLO, one reply per recipient);
//! - RFC 3463 and RFC 2034 enhanced status codes ([`EnhancedCode`]);
//! - RFC 1870 SIZE, RFC 6531 SMTPUTF8 (envelope checks in [`Session::mail`]);
//! - RFC 3207 STARTTLS (the state side: re-EHLO, no plaintext after `220`);
//! - RFC 3030 CHUNKING and BINARYMIME: the BDAT framing ([`body::BdatChunker`]);
//! - RFC 3461 DSN: the MAIL and RCPT parameters and xtext ([`dsn`]);
//! - RFC 9422 LIMITS: parsed into [`Limits`], and recipients split into transactions
//!   within them ([`Limits::split_recipients`]).

// Peer input must never panic the core: these hold for all non-test code here.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

pub mod address;
pub mod body;
mod capability;
mod code;
mod command;
pub mod dsn;
pub mod error;
mod limits;
pub mod reply;
mod session;
mod timeouts;
mod transaction;

pub use address::{AddressError, Domain, EsmtpParam, Mailbox, ReversePath};
pub use capability::{Capabilities, Limits};
pub use code::{EnhancedCode, ReplyClass, ReplyCode};
pub use command::{Command, CommandKind};
pub use dsn::{DsnError, EnvId, Notify, NotifyOn, Orcpt, Ret};
pub use reply::{Reply, ReplyParser, escape_text};
pub use session::{Direction, Event, OUT_IDLE_CAPACITY, Session, SessionConfig, Transcript};
pub use timeouts::{Phase, Timeouts};
pub use transaction::{Envelope, RecipientResult, RecipientStatus, TransactionReport, TxId};
