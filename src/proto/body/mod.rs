//! Message data framing: DATA with dot-stuffing (RFC 5321 §4.5.2) and BDAT chunks
//! (RFC 3030).
//!
//! Both encoders are streaming state machines with the same shape (`encode` then
//! `finish`): the caller feeds the message in chunks of any size, and neither holds more
//! than one chunk. They share one line-ending normaliser, so DATA and BDAT put the same
//! message octets on the wire.

mod bdat;
mod dot;
mod lines;
mod scan;

pub use bdat::{BdatChunker, DEFAULT_MAX_CHUNK};
pub use dot::{BodyError, DotStuffer, LineEndings, check_line_endings, normalized_len};
pub(crate) use lines::CrlfText;

#[cfg(test)]
mod clean_tests;
