//! The replies the session awaits, each with where its command ends in the output, and
//! what each one is for.
//!
//! A child module of `session`.

use std::collections::VecDeque;

use super::{CommandKind, Phase, TxId};

/// A reply the session is waiting for, in the order the commands were sent
/// (RFC 2920 §3.1: replies come back in command order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Expect {
    Greeting,
    Ehlo,
    Helo,
    Lhlo,
    StartTls,
    /// RSET sent by the session before a transaction (`user: false`) or by the caller.
    Rset {
        user: bool,
    },
    Noop,
    Quit,
    /// The reply to AUTH or to a continuation line (RFC 4954 §4).
    Auth,
    Mail(TxId),
    Rcpt(TxId, usize),
    Data(TxId),
    /// The reply to the final `.`; `discard` when the data was empty because no
    /// recipient had been accepted but the server sent 354 anyway.
    DataEnd {
        id: TxId,
        discard: bool,
    },
    /// The reply to a BDAT chunk (RFC 3030 §2); `last` for `BDAT n LAST`.
    Bdat {
        id: TxId,
        last: bool,
    },
    /// LMTP (RFC 2033 §4.2): the reply after the message for the `nth` accepted
    /// recipient (counting from 0), after the first; `bdat` when the content went by BDAT.
    LmtpData {
        id: TxId,
        nth: usize,
        bdat: bool,
    },
}

impl Expect {
    pub(super) fn phase(self) -> Phase {
        match self {
            Self::Greeting => Phase::Greeting,
            Self::Mail(_) => Phase::Mail,
            Self::Rcpt(..) => Phase::Rcpt,
            Self::Data(_) => Phase::DataInit,
            // RFC 3030 sets no timeouts: a chunk is a data block, and the server works on
            // the whole message after the last one, as after the final `.`.
            Self::DataEnd { .. } | Self::Bdat { last: true, .. } | Self::LmtpData { .. } => {
                Phase::DataTermination
            }
            Self::Bdat { last: false, .. } => Phase::DataBlock,
            _ => Phase::Command,
        }
    }

    pub(super) fn command(self) -> Option<CommandKind> {
        Some(match self {
            Self::Greeting => return None,
            Self::Ehlo => CommandKind::Ehlo,
            Self::Helo => CommandKind::Helo,
            Self::Lhlo => CommandKind::Lhlo,
            Self::StartTls => CommandKind::StartTls,
            Self::Rset { .. } => CommandKind::Rset,
            Self::Noop => CommandKind::Noop,
            Self::Quit => CommandKind::Quit,
            Self::Auth => CommandKind::Auth,
            Self::Mail(_) => CommandKind::Mail,
            Self::Rcpt(..) => CommandKind::Rcpt,
            Self::Data(_) => CommandKind::Data,
            Self::DataEnd { .. } => CommandKind::DataEnd,
            Self::Bdat { .. } | Self::LmtpData { bdat: true, .. } => CommandKind::Bdat,
            Self::LmtpData { bdat: false, .. } => CommandKind::DataEnd,
        })
    }

    /// The transaction this reply belongs to.
    pub(super) fn tx(self) -> Option<TxId> {
        match self {
            Self::Mail(id)
            | Self::Rcpt(id, _)
            | Self::Data(id)
            | Self::DataEnd { id, .. }
            | Self::Bdat { id, .. }
            | Self::LmtpData { id, .. } => Some(id),
            _ => None,
        }
    }
}

/// The replies awaited, oldest first, each with the output offset just past its command.
///
/// A reply can answer a command only once every byte of that command was written (see
/// [`Session::handle_written`](super::Session::handle_written)); reads and writes
/// overlap, so without the offsets a reply the server sent too early (a `250` to the end
/// of data, before the data) would be paired with a command queued or written after it
/// arrived.
#[derive(Debug, Default)]
pub(super) struct Awaited {
    items: VecDeque<(Expect, u64)>,
}

impl Awaited {
    pub(super) fn push(&mut self, expect: Expect, end: u64) {
        self.items.push_back((expect, end));
    }

    /// Awaits another reply to a command already written (LMTP's replies after the
    /// message, RFC 2033 §4.2), before everything else.
    pub(super) fn push_front(&mut self, expect: Expect) {
        self.items.push_front((expect, 0));
    }

    pub(super) fn front(&self) -> Option<&Expect> {
        self.items.front().map(|(e, _)| e)
    }

    /// The oldest reply awaited, if its command was completely written by `written`.
    pub(super) fn front_written(&self, written: u64) -> Option<Expect> {
        self.items
            .front()
            .filter(|(_, end)| *end <= written)
            .map(|(e, _)| *e)
    }

    pub(super) fn pop_front(&mut self) -> Option<Expect> {
        self.items.pop_front().map(|(e, _)| e)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Expect> {
        self.items.iter().map(|(e, _)| e)
    }

    pub(super) fn clear(&mut self) {
        self.items.clear();
    }

    pub(super) fn drain(&mut self, _all: std::ops::RangeFull) -> impl Iterator<Item = Expect> + '_ {
        self.items.drain(..).map(|(e, _)| e)
    }
}
