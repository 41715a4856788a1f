//! The session's settings and its transcript sink.
//!
//! A child module of `session`.

use std::fmt;
use std::sync::Arc;

use crate::proto::address::Domain;
use crate::proto::body::LineEndings;

/// Which way a transcript line went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client to server.
    Client,
    /// Server to client.
    Server,
}

/// A sink for the SMTP transcript: one call per command or reply line. Credentials are
/// already redacted and control characters in server text escaped.
pub type Transcript = Arc<dyn Fn(Direction, &str) + Send + Sync>;

/// Settings of the protocol session.
#[derive(Clone)]
#[non_exhaustive]
pub struct SessionConfig {
    /// The name sent in EHLO/HELO.
    pub ehlo_name: Domain,
    /// Use PIPELINING (RFC 2920) when the server offers it.
    pub pipelining: bool,
    /// What to do with bare CR or LF in message data.
    pub line_endings: LineEndings,
    /// Where the transcript goes, if anywhere.
    pub transcript: Option<Transcript>,
    /// Use CHUNKING (BDAT, RFC 3030) instead of DATA when the server offers it.
    pub chunking: bool,
    /// Speak LMTP (RFC 2033): LHLO instead of EHLO, with no HELO fallback, and after the
    /// message one reply per accepted recipient.
    pub lmtp: bool,
    /// The largest BDAT chunk, in octets (at least 1; default
    /// [`DEFAULT_MAX_CHUNK`](crate::proto::body::DEFAULT_MAX_CHUNK), 1 MiB).
    pub chunk_size: usize,
}

impl SessionConfig {
    /// Pipelining on, bare line endings normalised, no transcript.
    pub fn new(ehlo_name: Domain) -> Self {
        Self {
            ehlo_name,
            pipelining: true,
            line_endings: LineEndings::Normalize,
            transcript: None,
            chunking: true,
            lmtp: false,
            chunk_size: crate::proto::body::DEFAULT_MAX_CHUNK.get(),
        }
    }
}

impl fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionConfig")
            .field("ehlo_name", &self.ehlo_name)
            .field("pipelining", &self.pipelining)
            .field("line_endings", &self.line_endings)
            .field("transcript", &self.transcript.is_some())
            .field("chunking", &self.chunking)
            .field("lmtp", &self.lmtp)
            .field("chunk_size", &self.chunk_size)
            .finish()
    }
}
