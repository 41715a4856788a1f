//! The receiving side of DATA, for the property checks (test and fuzz code, not API).

use bytes::BytesMut;

/// The receiving side of DATA: undoes dot-stuffing and finds the terminator. Only CRLF
/// ends a line, as RFC 5321 §4.5.2 requires of a server.
///
/// Server-side, so not part of the client's API: it is here for the property checks, the
/// corpus replay and the proptests.
#[derive(Debug, Default)]
pub struct DataDecoder {
    done: bool,
}

impl DataDecoder {
    /// A decoder at the start of the data.
    pub fn new() -> Self {
        Self::default()
    }

    /// Consumes complete lines from `buf`, appending the message content to `out`. Returns
    /// true once `.CRLF` at the start of a line has been consumed; bytes after it stay in
    /// `buf`.
    pub fn decode(&mut self, buf: &mut BytesMut, out: &mut Vec<u8>) -> bool {
        while !self.done {
            let Some(end) = memchr::memmem::find(buf, b"\r\n") else {
                break;
            };
            let line = buf.split_to(end.saturating_add(2));
            if &line[..] == b".\r\n" {
                self.done = true;
            } else {
                out.extend_from_slice(line.strip_prefix(b".").unwrap_or(&line));
            }
        }
        self.done
    }

    /// True once the terminator has been seen.
    pub fn is_done(&self) -> bool {
        self.done
    }
}
