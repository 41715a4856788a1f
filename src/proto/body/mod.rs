//! Message data framing: DATA with dot-stuffing (RFC 5321 §4.5.2).
//!
//! The encoder is a streaming state machine: the caller feeds the message in chunks of any
//! size, and it never holds more than one chunk.
// TODO(RFC 3030): a BDAT chunker beside the dot-stuffer, with the same encode/end shape.

mod dot;

pub use dot::{
    BodyError, DataDecoder, DotStuffer, LineEndings, check_line_endings, normalized_len,
};
