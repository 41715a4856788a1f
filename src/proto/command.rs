//! SMTP commands and their encoding (RFC 5321 §4.1.1).
//!
//! Every argument is a validated type ([`Domain`], [`ReversePath`], [`Mailbox`],
//! [`EsmtpParam`]) checked when it was built, so encoding cannot fail and no CR, LF or NUL
//! can reach the wire through a command.

use std::fmt;

use bytes::BytesMut;

use super::address::{Domain, EsmtpParam, Mailbox, ReversePath};

/// A command the client sends.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// `EHLO domain` (RFC 5321 §4.1.1.1).
    Ehlo(Domain),
    /// `HELO domain`.
    Helo(Domain),
    /// `LHLO domain` (LMTP, RFC 2033 §4.1).
    Lhlo(Domain),
    /// `STARTTLS` (RFC 3207).
    StartTls,
    /// `MAIL FROM:<path> params` (RFC 5321 §4.1.1.2).
    Mail(ReversePath, Vec<EsmtpParam>),
    /// `RCPT TO:<path> params` (RFC 5321 §4.1.1.3).
    Rcpt(Mailbox, Vec<EsmtpParam>),
    /// `DATA` (RFC 5321 §4.1.1.4).
    Data,
    /// `RSET` (RFC 5321 §4.1.1.5).
    Rset,
    /// `NOOP` (RFC 5321 §4.1.1.9).
    Noop,
    /// `QUIT` (RFC 5321 §4.1.1.10).
    Quit,
}

impl Command {
    /// Appends the command and its CRLF to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        use std::fmt::Write as _;
        // MAIL and RCPT, once or more per message, are put together without the
        // formatting machinery; the bytes are the same as `Display`'s.
        let (verb, path, params): (&[u8], &str, &[EsmtpParam]) = match self {
            Self::Mail(from, params) => (b"MAIL FROM:<", from.as_str(), params),
            Self::Rcpt(to, params) => (b"RCPT TO:<", to.as_str(), params),
            _ => {
                // Writing into a BytesMut cannot fail.
                let _ = write!(Wire(dst), "{self}");
                dst.extend_from_slice(b"\r\n");
                return;
            }
        };
        dst.extend_from_slice(verb);
        dst.extend_from_slice(path.as_bytes());
        dst.extend_from_slice(b">");
        for p in params {
            dst.extend_from_slice(b" ");
            dst.extend_from_slice(p.keyword().as_bytes());
            if let Some(v) = p.value() {
                dst.extend_from_slice(b"=");
                dst.extend_from_slice(v.as_bytes());
            }
        }
        dst.extend_from_slice(b"\r\n");
    }

    /// Which command this is, for errors and timeouts.
    pub fn kind(&self) -> CommandKind {
        match self {
            Self::Ehlo(_) => CommandKind::Ehlo,
            Self::Helo(_) => CommandKind::Helo,
            Self::Lhlo(_) => CommandKind::Lhlo,
            Self::StartTls => CommandKind::StartTls,
            Self::Mail(..) => CommandKind::Mail,
            Self::Rcpt(..) => CommandKind::Rcpt,
            Self::Data => CommandKind::Data,
            Self::Rset => CommandKind::Rset,
            Self::Noop => CommandKind::Noop,
            Self::Quit => CommandKind::Quit,
        }
    }
}

struct Wire<'a>(&'a mut BytesMut);

impl fmt::Write for Wire<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// The command line without CRLF, as it goes on the wire.
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ehlo(d) => write!(f, "EHLO {d}"),
            Self::Helo(d) => write!(f, "HELO {d}"),
            Self::Lhlo(d) => write!(f, "LHLO {d}"),
            Self::StartTls => f.write_str("STARTTLS"),
            Self::Mail(from, params) => {
                write!(f, "MAIL FROM:<{}>", from.as_str())?;
                params.iter().try_for_each(|p| write!(f, " {p}"))
            }
            Self::Rcpt(to, params) => {
                write!(f, "RCPT TO:<{to}>")?;
                params.iter().try_for_each(|p| write!(f, " {p}"))
            }
            Self::Data => f.write_str("DATA"),
            Self::Rset => f.write_str("RSET"),
            Self::Noop => f.write_str("NOOP"),
            Self::Quit => f.write_str("QUIT"),
        }
    }
}

/// Which command a reply answered; carried by errors and recipient outcomes.
///
/// [`CommandKind::DataEnd`] is the end of the message data (the final `.`), whose reply
/// decides delivery; it displays as `DATA`, as reports name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CommandKind {
    /// EHLO.
    Ehlo,
    /// HELO.
    Helo,
    /// LHLO (LMTP, RFC 2033).
    Lhlo,
    /// STARTTLS.
    StartTls,
    /// AUTH.
    Auth,
    /// MAIL.
    Mail,
    /// RCPT.
    Rcpt,
    /// DATA, the command (its reply is normally 354).
    Data,
    /// The message data and its final `.` (the reply that decides delivery).
    DataEnd,
    /// BDAT (RFC 3030).
    Bdat,
    /// RSET.
    Rset,
    /// NOOP.
    Noop,
    /// QUIT.
    Quit,
}

impl CommandKind {
    /// The command verb as reports show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ehlo => "EHLO",
            Self::Helo => "HELO",
            Self::Lhlo => "LHLO",
            Self::StartTls => "STARTTLS",
            Self::Auth => "AUTH",
            Self::Mail => "MAIL",
            Self::Rcpt => "RCPT",
            Self::Data | Self::DataEnd => "DATA",
            Self::Bdat => "BDAT",
            Self::Rset => "RSET",
            Self::Noop => "NOOP",
            Self::Quit => "QUIT",
        }
    }
}

impl fmt::Display for CommandKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(c: &Command) -> Vec<u8> {
        let mut b = BytesMut::new();
        c.encode(&mut b);
        b.to_vec()
    }

    #[test]
    fn encodes_byte_exact() {
        let d = Domain::new("client.example").unwrap();
        assert_eq!(wire(&Command::Ehlo(d.clone())), b"EHLO client.example\r\n");
        assert_eq!(wire(&Command::Helo(d.clone())), b"HELO client.example\r\n");
        assert_eq!(wire(&Command::Lhlo(d)), b"LHLO client.example\r\n");
        assert_eq!(
            wire(&Command::Mail(ReversePath::Null, vec![])),
            b"MAIL FROM:<>\r\n"
        );
        let from = ReversePath::new("a@b.example").unwrap();
        let params = vec![EsmtpParam::size(1234), EsmtpParam::body_8bitmime()];
        assert_eq!(
            wire(&Command::Mail(from, params)),
            b"MAIL FROM:<a@b.example> SIZE=1234 BODY=8BITMIME\r\n"
        );
        let to = Mailbox::new("c@d.example").unwrap();
        assert_eq!(
            wire(&Command::Rcpt(to, vec![])),
            b"RCPT TO:<c@d.example>\r\n"
        );
        assert_eq!(wire(&Command::Data), b"DATA\r\n");
        assert_eq!(wire(&Command::Rset), b"RSET\r\n");
        assert_eq!(wire(&Command::Noop), b"NOOP\r\n");
        assert_eq!(wire(&Command::Quit), b"QUIT\r\n");
        assert_eq!(wire(&Command::StartTls), b"STARTTLS\r\n");
    }

    #[test]
    fn data_end_reports_as_data() {
        assert_eq!(CommandKind::DataEnd.to_string(), "DATA");
        assert_eq!(Command::Data.kind(), CommandKind::Data);
    }
}
