//! The session failing: EOF, deadlines, I/O errors and desynchronisation poison it, and
//! whatever was pending ends with the same error (every transaction in flight included).
//!
//! A child module of `session`, so that it reaches the session's state.

use crate::proto::error::{Error, ProtocolError};
use crate::proto::{CommandKind, Phase};

use super::{Event, Expect, Session, State};

impl Session {
    /// The connection reached EOF. Undecided recipients become transient failures; a
    /// recipient already refused with 5yz stays permanent; after QUIT this is success.
    pub fn handle_eof(&mut self) {
        if self.expect.iter().all(|e| *e == Expect::Quit) && !self.expect.is_empty() {
            self.expect.clear();
            self.events.push_back(Event::Quit(Ok(())));
            self.state =
                State::Poisoned(match std::mem::replace(&mut self.state, State::Opening) {
                    // The reason the server gave stays the session's error.
                    State::ServerClosing(first) => first,
                    _ => Error::Closed { command: None },
                });
            return;
        }
        let command = self.pending_command();
        self.abort(Error::Closed { command });
    }

    /// The driver's deadline for the current phase passed.
    pub fn handle_timeout(&mut self) {
        let phase = self.phase().unwrap_or(Phase::Command);
        self.handle_timeout_in(phase);
    }

    /// A deadline of the driver's own passed, for `phase` (the whole data transfer, say).
    pub fn handle_timeout_in(&mut self, phase: Phase) {
        let command = self.pending_command();
        self.abort(Error::Timeout { phase, command });
    }

    /// Reading or writing failed.
    pub fn handle_io_error(&mut self, e: std::io::Error) {
        let command = self.pending_command();
        self.abort(Error::io(command, e));
    }

    pub(super) fn fail_protocol(&mut self, command: Option<CommandKind>, error: ProtocolError) {
        self.abort(Error::Protocol { command, error });
    }

    /// Poisons the session with `err`, ending whatever is pending with it. After a 421 or
    /// a refused greeting, that reason stays the session's error.
    pub fn abort(&mut self, err: Error) {
        if matches!(self.state, State::Poisoned(_)) {
            return;
        }
        // Sticky failure (house rule 4): nothing goes out once poisoned, not even what was
        // queued before the failure but not yet handed out (the BDAT chunks or dot-stuffed
        // data framed before a bare LF in strict mode, say). Wipe it if it holds a
        // credential.
        if std::mem::take(&mut self.out_secret) {
            zeroize::Zeroize::zeroize(&mut self.out[..]);
        }
        self.out.clear();
        self.end_pending(&err);
        self.state = State::Poisoned(match std::mem::replace(&mut self.state, State::Opening) {
            State::ServerClosing(first) => first,
            _ => err,
        });
    }

    /// Ends the running transaction and every reply awaited with `err`.
    pub(super) fn end_pending(&mut self, err: &Error) {
        let pending: Vec<Expect> = self.expect.drain(..).collect();
        for tx in self.take_transactions() {
            let id = tx.id;
            self.events
                .push_back(Event::Transaction(id, tx.into_report(Some(err.clone()))));
        }
        for e in pending {
            let ev = match e {
                Expect::Greeting | Expect::Ehlo | Expect::Helo | Expect::Lhlo => {
                    Event::Ready(Err(err.clone()))
                }
                Expect::StartTls => Event::StartTls(Err(err.clone())),
                Expect::Rset { user: true } => Event::Reset(Err(err.clone())),
                Expect::Noop => Event::Noop(Err(err.clone())),
                Expect::Quit => Event::Quit(Err(err.clone())),
                Expect::Auth => Event::Auth(Err(err.clone())),
                _ => continue,
            };
            // One Ready per open attempt.
            if matches!(ev, Event::Ready(_))
                && self.events.iter().any(|e| matches!(e, Event::Ready(_)))
            {
                continue;
            }
            self.events.push_back(ev);
        }
    }
}
