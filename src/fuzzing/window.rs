//! The windowed session check: several transactions in flight, BDAT, LMTP (test and fuzz
//! code, not API).
//!
//! Unlike [`super::session_feed`], the client here queues a window of 2 to 4
//! transactions and the fuzz input picks the server's capabilities. Every property is
//! judged from the bytes on the wire and the events, independently of the session's own
//! bookkeeping: the client's output is parsed back into commands and BDAT chunks, and
//! replies are paired with commands in order (RFC 2920 §3.1: one reply per command, in
//! order).

use std::collections::HashMap;

use bytes::BytesMut;

use crate::Error;
use crate::proto::body::LineEndings;
use crate::proto::reply::MAX_REPLY_LINE;
use crate::proto::{Domain, Envelope, Event, ReplyCode, ReplyParser, Session, SessionConfig, TxId};

use super::{BODIES, chunks, normalize, parse_parts, reply_segments, transmit};

/// Chunk sizes the input picks from (`SessionConfig::chunk_size`).
const CHUNK_SIZES: [usize; 4] = [1, 7, 64, 1 << 20];

/// What the fuzz input chose.
struct Setup {
    config: SessionConfig,
    envelope: Envelope,
    body: &'static [u8],
    /// Where the body is cut in two `send_body` calls.
    split: usize,
    /// Transactions to queue.
    wanted: usize,
}

/// What the driver saw.
#[derive(Default)]
struct Window {
    /// `Session::mail` calls that did not return a usage error (started or refused).
    attempted: usize,
    started: Vec<TxId>,
    reports: HashMap<TxId, usize>,
    /// The most transactions in flight at once.
    max_in_flight: usize,
}

/// Runs a client session that queues a window of transactions against arbitrary server
/// bytes. `data` is `[caps, flags, seed, server bytes…]`:
///
/// - `caps` chooses what the server offers: bit 0 PIPELINING, bit 1 CHUNKING, bit 2 SIZE,
///   bit 3 BINARYMIME, bit 4 ENHANCEDSTATUSCODES, bit 5 LMTP (the client speaks LHLO), bit
///   6 firehose (reads cut anywhere, not one reply at a time). Unless bit 7 is set, the
///   harness sends a `220` greeting and the `250` EHLO reply for these before the server
///   bytes; with it, the server bytes are everything.
/// - `flags`: bits 0-1 the window (2 to 4 transactions), bits 2-3 the BDAT chunk size
///   (1, 7, 64 or 1 MiB), bits 4-5 the body, bit 6 three recipients, bit 7 strict line
///   endings (or, with BINARYMIME offered, a BINARYMIME envelope).
/// - `seed` cuts the server bytes into reads and the body into two `send_body` calls.
///
/// Properties: no panic; every transaction started ends with exactly one report, with one
/// result per recipient in order; after a `421` (or a refused greeting) nothing is sent
/// but one QUIT; every `BDAT n` header is followed by exactly `n` octets of the message
/// (the chunks of a message concatenate to its expected content, and no chunk is larger
/// than the configured size); no chunk of a message is sent after a 4yz/5yz reply to one
/// of its chunks was read; nothing is sent once the session is poisoned.
pub fn session_window(data: &[u8]) {
    run_window(data);
}

/// [`session_window`], returning what the driver saw and sent (for the baselines).
fn run_window(data: &[u8]) -> Option<(Window, Vec<u8>)> {
    let (caps, flags, seed, server) = match data {
        [caps, flags, seed, rest @ ..] => (*caps, *flags, *seed, rest),
        _ => return None,
    };
    let setup = setup(caps, flags, seed);
    let mut input_all = Vec::new();
    if caps & 0x80 == 0 {
        input_all.extend_from_slice(b"220 mx.test.example ESMTP\r\n");
        input_all.extend_from_slice(ehlo_reply(caps).as_bytes());
    }
    input_all.extend_from_slice(server);
    let segments = if caps & 0x40 != 0 {
        vec![&input_all[..]]
    } else {
        reply_segments(&input_all)
    };

    let mut session = Session::new(setup.config.clone());
    let mut seen = Window::default();
    let mut input = BytesMut::new();
    let mut fed = Vec::new();
    let mut out = BytesMut::new();
    // For each read: how much had been fed after it, and where the output stood before it.
    let mut marks: Vec<(usize, usize)> = Vec::new();
    // Where the output stood when the session was first seen poisoned.
    let mut poisoned_at: Option<usize> = None;
    for read in segments.into_iter().flat_map(|s| chunks(s, seed)) {
        if session.error().is_some() {
            // A real driver drops the connection here.
            break;
        }
        marks.push((fed.len() + read.len(), out.len()));
        input.extend_from_slice(read);
        fed.extend_from_slice(read);
        session.handle_input(&mut input);
        if session.error().is_none() {
            assert!(
                input.len() < MAX_REPLY_LINE,
                "input buffer of {} octets",
                input.len()
            );
        }
        drive(&mut session, &setup, &mut seen, &mut out, &mut poisoned_at);
    }
    session.handle_eof();
    let at_eof = out.len();
    drive(&mut session, &setup, &mut seen, &mut out, &mut poisoned_at);
    assert_eq!(out.len(), at_eof, "sent after EOF");
    assert!(session.error().is_some(), "session usable after EOF");
    assert!(session.poll_event().is_none());

    if let Some(at) = poisoned_at {
        assert_eq!(
            out.len(),
            at,
            "sent after the session was poisoned: {:?}",
            String::from_utf8_lossy(out.get(at..).unwrap_or_default())
        );
    }
    // Line endings are checked per command line in `parse_client`: BINARYMIME content
    // may carry bare LF, and other content must equal its normalised form.
    assert!(out.len() <= 16 * 1024, "{} octets sent", out.len());

    // One report per transaction started, none for anything else.
    assert!(seen.attempted <= setup.wanted);
    for id in &seen.started {
        assert_eq!(seen.reports.get(id), Some(&1), "reports for {id:?}");
    }
    assert_eq!(
        seen.reports.len(),
        seen.started.len(),
        "report for a stranger"
    );

    let replies = parse_replies(&fed);
    // RFC 5321 §3.8 (a 421 to anything) and §3.1 (a refused greeting): the server is
    // closing; one QUIT at most may follow.
    let closing = replies.iter().enumerate().find(|(i, (code, _))| {
        *code == ReplyCode::SERVICE_NOT_AVAILABLE.as_u16() || (*i == 0 && *code >= 400)
    });
    if let Some((_, &(_, end))) = closing {
        let at = mark_for(&marks, end);
        let after = out.get(at..).unwrap_or_default();
        assert!(
            after.is_empty() || after == b"QUIT\r\n",
            "sent after the server closed: {:?}",
            String::from_utf8_lossy(after)
        );
    }

    let wire = parse_client(&out, &setup);
    check_refused_chunks(&wire, &replies, &marks, setup.config.lmtp);
    Some((seen, out.to_vec()))
}

fn setup(caps: u8, flags: u8, seed: u8) -> Setup {
    let mut config = SessionConfig::new(Domain::new("client.example").expect("valid domain"));
    config.pipelining = true;
    config.chunking = true;
    config.lmtp = caps & 0x20 != 0;
    config.chunk_size = CHUNK_SIZES[usize::from(flags >> 2) & 3];
    let binary = caps & 0x08 != 0 && flags & 0x80 != 0;
    config.line_endings = if flags & 0x80 != 0 && !binary {
        LineEndings::Strict
    } else {
        LineEndings::Normalize
    };
    let body = BODIES[usize::from(flags >> 4) & 3];
    let recipients: &[&str] = if flags & 0x40 != 0 {
        &["a@example.net", "b@example.net", "c@example.org"]
    } else {
        &["a@example.net", "b@example.net"]
    };
    let mut envelope = Envelope::new("sender@example.org", recipients).expect("valid envelope");
    if binary {
        envelope = envelope.with_binarymime();
    }
    Setup {
        config,
        envelope,
        body,
        split: usize::from(seed) % (body.len() + 1),
        wanted: 2 + usize::from(flags & 3).min(2),
    }
}

/// The EHLO (or LHLO) reply for the capability bits of `caps`.
fn ehlo_reply(caps: u8) -> String {
    let mut lines = vec!["mx.test.example"];
    for (bit, keyword) in [
        (0x01, "PIPELINING"),
        (0x02, "CHUNKING"),
        (0x04, "SIZE 1000"),
        (0x08, "BINARYMIME"),
        (0x10, "ENHANCEDSTATUSCODES"),
    ] {
        if caps & bit != 0 {
            lines.push(keyword);
        }
    }
    let mut reply = String::new();
    for (i, line) in lines.iter().enumerate() {
        let sep = if i + 1 == lines.len() { ' ' } else { '-' };
        reply.push_str(&format!("250{sep}{line}\r\n"));
    }
    reply
}

/// True when the session is desynchronised or closed, as opposed to the server having
/// said it is closing (after which one QUIT may still go out).
fn is_poisoned(session: &Session) -> bool {
    session
        .error()
        .is_some_and(|e| !matches!(e, Error::ServerClosing { .. } | Error::Greeting { .. }))
}

/// Hands out what the session queued, checking first that a poisoned session has
/// nothing to send.
fn send(session: &mut Session, out: &mut BytesMut, poisoned_at: &mut Option<usize>) {
    if is_poisoned(session) {
        assert!(
            !session.wants_write(),
            "a poisoned session ({:?}) still has bytes to send",
            session.error()
        );
        poisoned_at.get_or_insert(out.len());
    }
    transmit(session, out);
}

/// Queues transactions while the session takes them; true if one was started.
fn fill(session: &mut Session, setup: &Setup, seen: &mut Window) -> bool {
    if seen.attempted >= setup.wanted || !session.is_ready() {
        return false;
    }
    if session.in_transaction() && !session.can_queue_transactions() {
        return false;
    }
    match session.mail(setup.envelope.clone()) {
        Ok(id) => {
            seen.attempted += 1;
            seen.started.push(id);
            seen.max_in_flight = seen.max_in_flight.max(session.transactions_in_flight());
            true
        }
        // A transaction in flight that this one may not follow yet: try again later.
        Err(Error::Usage(_)) => false,
        Err(_) => {
            seen.attempted += 1;
            false
        }
    }
}

/// Handles every pending event and queues what it can, as a windowed driver would.
fn drive(
    session: &mut Session,
    setup: &Setup,
    seen: &mut Window,
    out: &mut BytesMut,
    poisoned_at: &mut Option<usize>,
) {
    loop {
        let mut progressed = fill(session, setup, seen);
        send(session, out, poisoned_at);
        while let Some(event) = session.poll_event() {
            progressed = true;
            match event {
                Event::Ready(_) => {}
                Event::SendBody(id) => {
                    let (a, b) = setup.body.split_at(setup.split.min(setup.body.len()));
                    let _ = session
                        .send_body(id, a)
                        .and_then(|()| session.send_body(id, b))
                        .and_then(|()| session.finish_body(id));
                }
                Event::Transaction(id, report) => {
                    *seen.reports.entry(id).or_default() += 1;
                    let addresses: Vec<&str> = report
                        .recipients
                        .iter()
                        .map(|r| r.address.as_str())
                        .collect();
                    let expected: Vec<&str> = setup
                        .envelope
                        .recipients()
                        .iter()
                        .map(|m| m.as_str())
                        .collect();
                    assert_eq!(addresses, expected, "one result per recipient, in order");
                    let delivered = report
                        .recipients
                        .iter()
                        .filter(|r| r.result.is_ok())
                        .count();
                    assert_eq!(report.error.is_none(), delivered > 0, "error vs deliveries");
                }
                // RFC 5321 §3.1: the session answers a refused greeting with QUIT itself.
                Event::Quit(_) if matches!(session.error(), Some(Error::Greeting { .. })) => {}
                other => panic!("event for a command never sent: {other:?}"),
            }
            send(session, out, poisoned_at);
        }
        send(session, out, poisoned_at);
        if !progressed {
            break;
        }
    }
}

/// Each reply in `fed` (as an independent parser reads it, up to the first error): its
/// code and the offset just past it.
fn parse_replies(fed: &[u8]) -> Vec<(u16, usize)> {
    let mut parser = ReplyParser::new();
    let mut buf = BytesMut::from(fed);
    let mut replies = Vec::new();
    while let Ok(Some(reply)) = parser.parse(&mut buf) {
        replies.push((reply.code().as_u16(), fed.len() - buf.len()));
    }
    debug_assert_eq!(replies.len(), parse_parts([fed]).replies.len());
    replies
}

/// Where the output stood before the read that completed the fed bytes up to `end`.
fn mark_for(marks: &[(usize, usize)], end: usize) -> usize {
    marks
        .iter()
        .find(|(fed, _)| *fed >= end)
        .map_or(usize::MAX, |(_, out)| *out)
}

/// A command on the wire that takes one reply (the greeting is the first, virtual one).
#[derive(Debug)]
enum Sent {
    Greeting,
    Line,
    /// The dot-stuffed data after DATA, up to the final `.`.
    DataBody,
    /// A `BDAT n [LAST]` chunk of message `msg`, its header at offset `at`.
    Bdat {
        msg: usize,
        last: bool,
        at: usize,
    },
}

/// Parses the client's output back into commands, checking that every line is a command
/// the session may send and that every `BDAT n` is followed by exactly `n` octets of its
/// message's content.
fn parse_client(out: &[u8], setup: &Setup) -> Vec<Sent> {
    const VERBS: [&[u8]; 9] = [
        b"EHLO ",
        b"HELO ",
        b"LHLO ",
        b"MAIL FROM:",
        b"RCPT TO:",
        b"RSET",
        b"QUIT",
        b"DATA",
        b"NOOP",
    ];
    let expected = if setup.envelope.is_binarymime() {
        setup.body.to_vec()
    } else {
        normalize(setup.body)
    };
    let mut sent = vec![Sent::Greeting];
    // Per message (one per MAIL): the content its chunks carried, and whether LAST came.
    let mut content: Vec<(Vec<u8>, bool)> = Vec::new();
    let mut pos = 0;
    while pos < out.len() {
        let rest = &out[pos..];
        let end = memchr::memmem::find(rest, b"\r\n")
            .unwrap_or_else(|| panic!("unterminated line {:?}", String::from_utf8_lossy(rest)));
        let line = &rest[..end];
        assert!(
            !line.contains(&b'\r') && !line.contains(&b'\n'),
            "bare CR or LF"
        );
        let at = pos;
        pos += end + 2;
        if let Some(header) = line.strip_prefix(b"BDAT ") {
            let text = std::str::from_utf8(header).expect("ASCII BDAT header");
            let (size, last) = match text.strip_suffix(" LAST") {
                Some(n) => (n, true),
                None => (text, false),
            };
            let size: usize = size.parse().expect("BDAT size is digits");
            assert!(size <= setup.config.chunk_size, "chunk of {size} octets");
            let payload = out
                .get(pos..pos + size)
                .expect("BDAT n followed by n octets");
            pos += size;
            let msg = content.len().checked_sub(1).expect("BDAT before MAIL");
            let (so_far, done) = content.last_mut().expect("a message");
            assert!(!*done, "BDAT after the LAST chunk");
            so_far.extend_from_slice(payload);
            assert!(
                expected.starts_with(so_far),
                "chunks carry {:?}, not the message",
                String::from_utf8_lossy(so_far)
            );
            if last {
                assert_eq!(
                    *so_far, expected,
                    "LAST chunk before the end of the message"
                );
                *done = true;
            }
            sent.push(Sent::Bdat { msg, last, at });
            continue;
        }
        assert!(
            VERBS.iter().any(|v| line.starts_with(v)),
            "not a command: {:?} at {at}",
            String::from_utf8_lossy(line)
        );
        if line.starts_with(b"MAIL FROM:") {
            content.push((Vec::new(), false));
        }
        let is_data = line == b"DATA";
        sent.push(Sent::Line);
        // Message data follows DATA only after a 354, so look at what comes next: none of
        // the bodies starts with a command verb.
        let next = &out[pos..];
        if is_data && !next.is_empty() && !VERBS.iter().any(|v| next.starts_with(v)) {
            let end = if next.starts_with(b".\r\n") {
                0
            } else {
                memchr::memmem::find(next, b"\r\n.\r\n").expect("data without its end") + 2
            };
            assert!(!content.is_empty(), "DATA before MAIL");
            pos += end + 3;
            sent.push(Sent::DataBody);
        }
    }
    sent
}

/// Pairs replies with the commands they answer, in order, and checks that no chunk of a
/// message went out after a 4yz/5yz to an earlier chunk of it had been read (RFC 3030 §2:
/// after a failed chunk the rest of the message is not sent). With LMTP the pairing stops
/// at the first end of message data, which takes one reply per accepted recipient.
fn check_refused_chunks(
    wire: &[Sent],
    replies: &[(u16, usize)],
    marks: &[(usize, usize)],
    lmtp: bool,
) {
    for (k, (sent, &(code, end))) in wire.iter().zip(replies).enumerate() {
        let ends_message = matches!(sent, Sent::DataBody | Sent::Bdat { last: true, .. });
        if lmtp && ends_message {
            return;
        }
        let &Sent::Bdat { msg, at, .. } = sent else {
            continue;
        };
        if code < 400 {
            continue;
        }
        let read_at = mark_for(marks, end);
        for later in wire.get(k + 1..).unwrap_or_default() {
            if let &Sent::Bdat { msg: m, at: a, .. } = later {
                assert!(
                    m != msg || a < read_at,
                    "chunk at {a} of message {msg} sent after a {code} to its chunk at {at}"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Positive baselines: a window of two BDAT transactions delivers both, and a
    /// refused chunk is seen by the pairing (a harness that paired nothing would pass).
    #[test]
    fn session_window_baselines() {
        // PIPELINING + CHUNKING, window 2, default chunk size, CRLF body, two recipients.
        let mut ok = vec![0x03, 0x0c, 0x00];
        ok.extend_from_slice(
            b"250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n",
        );
        let (seen, out) = run(&ok);
        assert_eq!(seen.started.len(), 2);
        assert_eq!(
            seen.max_in_flight, 2,
            "the second MAIL before the first report"
        );
        assert!(seen.reports.values().all(|n| *n == 1));
        let wire = String::from_utf8(out).expect("ASCII");
        assert_eq!(wire.matches("BDAT ").count(), 2, "{wire}");
        assert_eq!(wire.matches("MAIL FROM:").count(), 2, "{wire}");

        // Chunks of 7 octets, the first refused: the pairing sees the refusal.
        let setup = setup(0x03, 0x04, 0);
        let mut wire = b"MAIL FROM:<sender@example.org>\r\nRCPT TO:<a@example.net>\r\n".to_vec();
        wire.extend_from_slice(b"BDAT 7\r\nSubject");
        let parsed = parse_client(&wire, &setup);
        assert_eq!(parsed.len(), 4);
        let replies = [(220, 10), (250, 20), (250, 30), (554, 40)];
        check_refused_chunks(&parsed, &replies, &[(40, 0)], false);
        // A later chunk of the same message sent after the refusal was read.
        wire.extend_from_slice(b"BDAT 7\r\n: hello");
        let parsed = parse_client(&wire, &setup);
        let caught = std::panic::catch_unwind(|| {
            check_refused_chunks(&parsed, &replies, &[(40, 0)], false);
        });
        assert!(
            caught.is_err(),
            "a chunk after a refused chunk must be caught"
        );
    }

    fn run(data: &[u8]) -> (Window, Vec<u8>) {
        run_window(data).expect("input long enough")
    }
}
