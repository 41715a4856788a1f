//! The server ending the session: a 4yz or 5yz greeting (RFC 5321 §3.1) and a 421 to
//! any command or unsolicited (§3.8). From then on nothing but QUIT is sent
//! ([`Session::send`] refuses the rest), whatever was undecided ends with the server's
//! reason, and replies still arriving are dropped.
//!
//! A child module of `session`, so that it reaches the session's state.

use bytes::BytesMut;

use crate::proto::ReplyCode;
use crate::proto::command::{Command, CommandKind};
use crate::proto::error::Error;
use crate::proto::reply::{Reply, ReplyParser};

use super::{Event, Expect, Session, State};

impl Session {
    /// RFC 5321 §3.1: a 4yz or 5yz greeting (554 "no SMTP service here", 421 "busy"):
    /// the client sends QUIT and waits for the server to close. The session opens with
    /// [`Error::Greeting`] and awaits the answer to QUIT (or EOF), which ends it; nothing
    /// else is sent. A 4yz gets a QUIT too: a server that refuses now may still wait for
    /// one, and one that closes (421) makes it a harmless write.
    pub(super) fn greeting_refused(&mut self, reply: Reply) {
        self.greeting = Some(reply.clone());
        let err = Error::Greeting { reply };
        self.quit_only = true;
        self.state = State::ServerClosing(err.clone());
        self.events.push_back(Event::Ready(Err(err)));
        self.send(&Command::Quit, Expect::Quit);
    }

    /// RFC 5321 §3.8: the server answered a command (`command`, or none for an
    /// unsolicited reply) with 421 and is closing the connection. Whatever is still
    /// undecided ends with the 421 as its reason: the running transaction's recipients
    /// (transient; a refusal already read stays as it was), and every other command
    /// awaited. From now on nothing but QUIT is sent, and every other call returns
    /// [`Error::ServerClosing`]. A handler that already ended the session (a refused
    /// greeting, EHLO, a protocol error) decides alone.
    pub(super) fn closed_by_server(&mut self, command: Option<CommandKind>, reply: Reply) {
        if matches!(self.state, State::Poisoned(_) | State::ServerClosing(_)) {
            return;
        }
        self.quit_only = true;
        let err = match command {
            Some(command) => Error::Reply {
                command,
                reply: reply.clone(),
            },
            None => Error::ServerClosing {
                reply: reply.clone(),
            },
        };
        // Commands queued by replies read before the 421 in the same input (the next
        // RCPT in lock-step, say) were not handed to the driver yet: they never go out.
        if std::mem::take(&mut self.out_secret) {
            zeroize::Zeroize::zeroize(&mut self.out[..]);
        }
        self.out.clear();
        self.end_pending(&err);
        self.state = State::ServerClosing(Error::ServerClosing { reply });
    }

    /// RFC 5321 §3.8: after a 421 (or a refused greeting) the server closes. Replies still
    /// arriving (the rest of a pipelined group, written before the server decided) answer
    /// commands already ended; they are dropped, never paired with anything, and do not
    /// restart the driver's deadline. Only a 221 (RFC 5321 §4.3.2) answers a QUIT sent
    /// since, so that a stale 250 is never taken for it; EOF answers it too.
    pub(super) fn handle_input_after_close(&mut self, buf: &mut BytesMut) {
        loop {
            match self.parser.parse(buf) {
                Ok(Some(reply)) => {
                    self.log_reply(&reply);
                    let quit = self.expect.front() == Some(&Expect::Quit);
                    if quit && reply.code() == ReplyCode::CLOSING {
                        self.expect.pop_front();
                        self.replies = self.replies.wrapping_add(1);
                        self.events.push_back(Event::Quit(Ok(())));
                    }
                }
                Ok(None) => return,
                Err(_) => {
                    // Nothing more is sent, so nothing depends on these bytes: resync.
                    buf.clear();
                    self.parser = ReplyParser::new();
                    return;
                }
            }
        }
    }
}
