//! Property checks behind the fuzz targets in `fuzz/` and the corpus replay test.
//!
//! Each function takes arbitrary bytes, drives one part of the sans-IO core with them and
//! checks a property with `assert!`: any panic is a finding. They are public so that the
//! one-line targets in `fuzz/fuzz_targets/` and `tests/fuzz_corpus.rs` can call them, and
//! hidden from the docs because they are not API: they may change at any time.
//!
//! The properties, not just "does not crash" (house style rule 7):
//! - [`reply_parser`]: parsing split anywhere gives the same replies and error as parsing
//!   whole, the buffer stays under [`MAX_REPLY_LINE`] between reads, and encoding a parsed
//!   reply parses back to it;
//! - [`ehlo_capabilities`]: every keyword kept is an RFC 5321 §4.1.1.1 `ehlo-keyword`,
//!   upper-cased, and the typed flags agree with the keyword list;
//! - [`dot_stuff_roundtrip`]: the DATA encoding has no bare CR or LF, ends with the only
//!   `CRLF.CRLF`, and decodes back to the normalised input whose length
//!   [`normalized_len`] predicts; strict mode fails exactly when the input has a bare CR
//!   or LF;
//! - [`session_feed`]: a whole client session under arbitrary server bytes ends every
//!   transaction with a report (one result per recipient) or an error, keeps its buffers
//!   bounded, and reports a recipient delivered only after a 2yz reply to the data.
//! - [`scram_server_messages`]: the SCRAM client under arbitrary server-first and
//!   server-final messages answers only a server nonce that extends its own and an
//!   iteration count within bounds, and accepts the server only with a `v=` signature.
//! - [`session_window`]: a window of 2 to 4 transactions in flight, with the server's
//!   capabilities (PIPELINING, CHUNKING, LMTP, …) chosen by the input: one report per
//!   transaction, `BDAT n` followed by exactly `n` octets, no chunk after a refused chunk
//!   of the same message, only QUIT after a 421, nothing once poisoned.
//! - [`bdat_roundtrip`]: BDAT chunks of any size decode back to the normalised input (the
//!   input itself in binary mode), every chunk but the last is full, and strict mode
//!   refuses exactly the first bare CR or LF.

use bytes::{Bytes, BytesMut};

use crate::Error;
use crate::proto::body::{BodyError, DotStuffer, LineEndings, check_line_endings, normalized_len};
use crate::proto::reply::{MAX_REPLY_LINE, MAX_REPLY_LINES, MAX_REPLY_SIZE, ReplyError};
use crate::proto::{
    Capabilities, Domain, Envelope, Event, Reply, ReplyCode, ReplyParser, Session, SessionConfig,
    TransactionReport,
};

mod bdat;
mod data;
mod scram;
mod window;
pub use bdat::{BdatDecoder, BdatFrameError, bdat_roundtrip};
pub use data::DataDecoder;
pub use scram::scram_server_messages;
pub use window::session_window;

/// Cuts `data` into chunks whose sizes come from a small PRNG seeded with `seed`: sizes
/// 0 to 4 when the seed's top bit is set (near byte by byte), else 0 to 300. Empty chunks
/// are kept on purpose: a read of nothing must change nothing.
fn chunks(data: &[u8], seed: u8) -> Vec<&[u8]> {
    let mut state = u32::from(seed).wrapping_mul(0x9E37_79B9) | 1;
    let max: u32 = if seed & 0x80 != 0 { 5 } else { 301 };
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        // xorshift32
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let len = (state % max) as usize;
        let (chunk, tail) = rest.split_at(len.min(rest.len()));
        out.push(chunk);
        rest = tail;
    }
    out
}

/// What parsing a byte stream gave: the replies, then the error that stopped it, or the
/// partial reply left over.
#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    replies: Vec<Reply>,
    error: Option<ReplyError>,
    /// Unparsed bytes and whether a reply was half read, when no error stopped parsing
    /// (after an error the leftover depends on where the reads were cut).
    leftover: Option<(Vec<u8>, bool)>,
}

/// Feeds `parts` to one parser as successive reads, as a driver would.
fn parse_parts<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Parsed {
    let mut parser = ReplyParser::new();
    let mut buf = BytesMut::new();
    let mut replies = Vec::new();
    for part in parts {
        buf.extend_from_slice(part);
        // The parser never needs more than one line's limit plus the latest read.
        assert!(buf.len() < MAX_REPLY_LINE + part.len());
        loop {
            match parser.parse(&mut buf) {
                Ok(Some(reply)) => replies.push(reply),
                Ok(None) => break,
                Err(error) => {
                    return Parsed {
                        replies,
                        error: Some(error),
                        leftover: None,
                    };
                }
            }
        }
        // "Need more" means no complete line is waiting and the line so far is legal.
        assert!(
            buf.len() < MAX_REPLY_LINE,
            "buffer of {} octets kept",
            buf.len()
        );
        assert!(!buf.contains(&b'\n'), "a complete line was left unparsed");
    }
    Parsed {
        replies,
        error: None,
        leftover: Some((buf.to_vec(), parser.is_partial())),
    }
}

/// Checks what any reply out of the parser must look like, and that encoding it parses
/// back to the same reply.
fn check_reply(reply: &Reply) {
    let code = reply.code().as_u16();
    assert!((200..=599).contains(&code), "code {code}");
    let lines = reply.lines();
    assert!(!lines.is_empty() && lines.len() <= MAX_REPLY_LINES);
    assert!(lines.iter().map(Bytes::len).sum::<usize>() <= MAX_REPLY_SIZE);
    assert!(lines.iter().all(|l| !l.contains(&b'\n')));
    // Display and Debug escape whatever the server sent.
    let shown = format!("{reply} {reply:?}");
    assert!(!shown.contains(['\r', '\n', '\x1b']));
    // A line read with a bare LF grows by one octet when encoded with CRLF, so only
    // lines with room for that are expected to round-trip within the limit.
    if lines.iter().all(|l| l.len() + 6 <= MAX_REPLY_LINE) {
        let mut wire = BytesMut::new();
        reply.encode(&mut wire);
        let mut parser = ReplyParser::new();
        let again = parser.parse(&mut wire);
        assert_eq!(again, Ok(Some(reply.clone())), "encode then parse");
        assert!(wire.is_empty() && !parser.is_partial());
    }
}

/// Parses `data` whole and split at points chosen from its first bytes (and, for short
/// inputs, at every point and byte by byte); every way must give the same replies and the
/// same error. Never panics, and the buffer never holds more than [`MAX_REPLY_LINE`] plus
/// the latest read.
pub fn reply_parser(data: &[u8]) {
    let whole = parse_parts([data]);
    for reply in &whole.replies {
        check_reply(reply);
    }
    let a = data.first().copied().unwrap_or(0);
    let b = data.get(1).copied().unwrap_or(0);
    // One cut at a point picked by the first byte.
    let cut = usize::from(a) * data.len() / 256;
    let (head, tail) = data.split_at(cut);
    assert_eq!(parse_parts([head, tail]), whole, "split at {cut}");
    // Reads of varying sizes, near byte by byte or larger, picked by the second byte.
    assert_eq!(parse_parts(chunks(data, b)), whole, "chunks seeded {b}");
    assert_eq!(parse_parts(chunks(data, b | 0x80)), whole, "small chunks");
    if data.len() <= 4 * MAX_REPLY_LINE {
        assert_eq!(parse_parts(data.chunks(1)), whole, "byte by byte");
    }
    if data.len() <= 128 {
        for cut in 0..=data.len() {
            let (head, tail) = data.split_at(cut);
            assert_eq!(parse_parts([head, tail]), whole, "split at {cut}");
        }
    }
}

/// Checks that `caps` holds only well-formed, upper-cased keywords and that its typed
/// view agrees with the keyword list.
fn check_capabilities(reply: &Reply, caps: &Capabilities) {
    assert_eq!(
        caps.domain_line(),
        reply.lines().first().map_or(&[][..], |l| &l[..])
    );
    for entry in caps.keywords() {
        let (keyword, params) = entry.split_once(' ').unwrap_or((&entry, ""));
        // RFC 5321 §4.1.1.1: ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-").
        assert!(
            keyword.starts_with(|c: char| c.is_ascii_alphanumeric()),
            "keyword {keyword:?} does not start with a letter or digit"
        );
        assert!(
            keyword
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-'),
            "keyword {keyword:?} is not an upper-case ehlo-keyword"
        );
        assert!(caps.has(keyword) && caps.has(&keyword.to_ascii_lowercase()));
        // Parameters are joined by exactly one space, with no line ending left in.
        assert!(!params.starts_with(' ') && !params.ends_with(' ') && !params.contains("  "));
        assert!(!entry.contains(['\r', '\n', '\t']));
    }
    for mech in caps.auth_mechanisms() {
        assert!(!mech.is_empty() && !mech.contains(|c: char| c.is_ascii_whitespace()));
        assert!(
            !mech.chars().any(|c| c.is_ascii_lowercase()),
            "mechanism {mech:?}"
        );
    }
    let mut mechs = caps.auth_mechanisms().to_vec();
    mechs.sort();
    mechs.dedup();
    assert_eq!(
        mechs.len(),
        caps.auth_mechanisms().len(),
        "duplicate mechanisms"
    );
    assert_eq!(caps.pipelining(), caps.has("PIPELINING"));
    assert_eq!(caps.starttls(), caps.has("STARTTLS"));
    assert_eq!(caps.smtputf8(), caps.has("SMTPUTF8"));
    assert_eq!(caps.chunking(), caps.has("CHUNKING"));
    assert_eq!(
        caps.enhanced_status_codes(),
        caps.has("ENHANCEDSTATUSCODES")
    );
    assert_eq!(caps.size().is_some(), caps.has("SIZE"));
    assert_ne!(
        caps.size(),
        Some(Some(0)),
        "SIZE 0 means no limit (RFC 1870 §4)"
    );
    assert_eq!(caps.limits().is_some(), caps.has("LIMITS"));
    // RFC 9422 §4: a limit kept is 1*6DIGIT and not zero.
    if let Some(l) = caps.limits() {
        for n in [l.rcpt_max, l.mail_max, l.rcpt_domain_max]
            .into_iter()
            .flatten()
        {
            assert!((1..=999_999).contains(&n), "limit {n}");
        }
    }
    assert_eq!(&Capabilities::from_ehlo(reply), caps, "not deterministic");
}

/// Parses replies from `data` and reads each as an EHLO reply; then reads the raw lines
/// of `data` as one EHLO reply, so text the parser would refuse reaches
/// [`Capabilities::from_ehlo`] too. Never panics; every keyword is upper-case.
pub fn ehlo_capabilities(data: &[u8]) {
    let mut buf = BytesMut::from(data);
    let mut parser = ReplyParser::new();
    while let Ok(Some(reply)) = parser.parse(&mut buf) {
        check_capabilities(&reply, &Capabilities::from_ehlo(&reply));
    }
    let lines: Vec<Bytes> = data
        .split(|b| *b == b'\n')
        .map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            // Drop a "250-" or "250 " prefix so that transcripts in the corpus read as
            // keywords here as well.
            let line = match line {
                [a, b, c, b' ' | b'-', rest @ ..]
                    if [a, b, c].iter().all(|d| d.is_ascii_digit()) =>
                {
                    rest
                }
                _ => line,
            };
            Bytes::copy_from_slice(line)
        })
        .collect();
    let reply = Reply::new(ReplyCode::OK, lines);
    check_capabilities(&reply, &Capabilities::from_ehlo(&reply));
}

/// A reference for what the receiver must get: every CRLF, bare CR and bare LF becomes
/// CRLF, and non-empty content ends with CRLF. Deliberately naive.
fn normalize(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 2);
    let mut i = 0;
    while let Some(&b) = data.get(i) {
        match b {
            b'\r' if data.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 2;
            }
            b'\r' | b'\n' => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The first bare CR or LF in `data`, as strict mode must report it.
fn first_bare(data: &[u8]) -> Option<BodyError> {
    let mut i = 0;
    while let Some(&b) = data.get(i) {
        match b {
            b'\r' if data.get(i + 1) == Some(&b'\n') => i += 2,
            b'\r' => return Some(BodyError::BareCr(i as u64)),
            b'\n' => return Some(BodyError::BareLf(i as u64)),
            _ => i += 1,
        }
    }
    None
}

/// Asserts that `wire`, sent right after a line ending (the one ending `DATA`), has no
/// bare CR or LF and that its only `CRLF.CRLF` is its end.
fn check_data_wire(wire: &[u8]) {
    let mut framed = b"\r\n".to_vec();
    framed.extend_from_slice(wire);
    check_no_bare_eol(&framed);
    let ends: Vec<usize> = memchr::memmem::find_iter(&framed, b"\r\n.\r\n").collect();
    assert_eq!(ends, [framed.len() - 5], "terminator not only at the end");
}

fn check_no_bare_eol(wire: &[u8]) {
    for (i, b) in wire.iter().enumerate() {
        match b {
            b'\r' => assert_eq!(wire.get(i + 1), Some(&b'\n'), "bare CR at {i}"),
            b'\n' => assert!(i > 0 && wire.get(i - 1) == Some(&b'\r'), "bare LF at {i}"),
            _ => {}
        }
    }
}

/// Encodes `parts` with one encoder; `Err` if strict mode refused them.
fn stuff(parts: &[&[u8]], enc: &mut DotStuffer) -> Result<Vec<u8>, BodyError> {
    let mut wire = BytesMut::new();
    let mut total = 0u64;
    for part in parts {
        enc.encode(part, &mut wire)?;
        total += part.len() as u64;
        assert_eq!(enc.consumed(), total);
    }
    enc.finish(&mut wire)?;
    Ok(wire.to_vec())
}

/// Dot-stuffs `data` (in chunks picked by its first byte, and whole), checks the wire
/// framing, decodes it back and compares with the normalised input; strict mode must
/// either refuse the first bare CR or LF or give the same wire.
pub fn dot_stuff_roundtrip(data: &[u8]) {
    let seed = data.first().copied().unwrap_or(0);
    let parts = chunks(data, seed);
    let mut enc = DotStuffer::new(LineEndings::Normalize);
    let wire = stuff(&parts, &mut enc).expect("normalising never fails");
    check_data_wire(&wire);
    // However the input is cut, and for a reused encoder, the wire is the same.
    assert_eq!(stuff(&[data], &mut enc), Ok(wire.clone()));
    let expected = normalize(data);
    assert_eq!(
        normalized_len(data),
        expected.len() as u64,
        "normalized_len"
    );

    // The receiving side, fed the wire in pieces, with a command after the terminator.
    let mut stream = wire.clone();
    stream.extend_from_slice(b"QUIT\r\n");
    let mut dec = DataDecoder::new();
    let mut buf = BytesMut::new();
    let mut content = Vec::new();
    let mut fed = 0;
    for piece in chunks(&stream, seed.rotate_left(3)) {
        buf.extend_from_slice(piece);
        fed += piece.len();
        if dec.decode(&mut buf, &mut content) {
            assert!(fed >= wire.len(), "terminator found before the end");
        }
    }
    assert!(dec.is_done(), "no terminator");
    assert_eq!(&buf[..], b"QUIT\r\n", "bytes after the terminator");
    assert!(
        content == expected,
        "decoded content differs from the normalised input"
    );

    let strict = stuff(&parts, &mut DotStuffer::new(LineEndings::Strict));
    match first_bare(data) {
        None => assert_eq!(strict, Ok(wire), "strict and normalising output differ"),
        Some(e) => assert_eq!(strict, Err(e), "strict mode error"),
    }
    assert_eq!(
        check_line_endings(data),
        first_bare(data).map_or(Ok(()), Err)
    );
}

/// Cuts a server's byte stream after each complete reply, as an independent parser
/// sees it; whatever follows the last reply (a partial or malformed one) is the last
/// segment.
fn reply_segments(server: &[u8]) -> Vec<&[u8]> {
    let mut parser = ReplyParser::new();
    let mut buf = BytesMut::from(server);
    let mut segments = Vec::new();
    let mut start = 0;
    while let Ok(Some(_)) = parser.parse(&mut buf) {
        let end = server.len() - buf.len();
        segments.push(&server[start..end]);
        start = end;
    }
    segments.push(&server[start..]);
    segments
}

/// Message bodies the session sends: CRLF text, Unix text with leading dots and no final
/// line end, nothing at all, and bare CRs.
const BODIES: [&[u8]; 4] = [
    b"Subject: hello\r\n\r\nHi.\r\n",
    b"Subject: dots\n\n.leading dot\n..two\n.\nend",
    b"",
    b"line\r.\r\nbare cr\r",
];

/// What the driver in [`session_feed`] saw.
#[derive(Debug, Default)]
struct Seen {
    /// Whether the session may pipeline (`SessionConfig::pipelining`).
    pipelining: bool,
    /// How many transactions the driver runs when it can: 1, or 2 on one connection.
    wanted: usize,
    ready: usize,
    failed_to_open: Option<Error>,
    /// Transactions that `Session::mail` accepted.
    mail_started: usize,
    mail_refused: Option<Error>,
    send_body: usize,
    /// How many replies had been handled when the final `.` of the running transaction
    /// was written: the index of the reply to its data in the server's stream.
    data_end_reply: Option<u64>,
    /// Each report, with the `data_end_reply` of its transaction.
    reports: Vec<(TransactionReport, Option<u64>)>,
}

impl Seen {
    /// True when the session pipelines: configured to, and offered by the server.
    fn pipelining(&self, session: &Session) -> bool {
        self.pipelining && session.capabilities().is_some_and(Capabilities::pipelining)
    }
}

/// Hands out what the session queued; this driver writes it all at once.
fn transmit(session: &mut Session, out: &mut BytesMut) {
    session.poll_transmit(out);
    session.handle_written(usize::MAX);
}

/// Starts a transaction, checking that a failed one before it is reset first
/// (RFC 5321 §4.1.1.5).
fn start_transaction(
    session: &mut Session,
    envelope: &Envelope,
    seen: &mut Seen,
    out: &mut BytesMut,
) {
    transmit(session, out);
    let before = out.len();
    seen.data_end_reply = None;
    match session.mail(envelope.clone()) {
        Ok(_) => seen.mail_started += 1,
        Err(e) => seen.mail_refused = Some(e),
    }
    transmit(session, out);
    let previous_failed = seen.reports.last().is_some_and(|(r, _)| r.error.is_some());
    let sent = &out[before..];
    if seen.mail_refused.is_none() {
        assert_eq!(
            sent.starts_with(b"RSET\r\n"),
            previous_failed,
            "RSET after a failure only"
        );
        // Without PIPELINING, MAIL waits for the reply to the RSET (RFC 2920 §3).
        let lock_step = previous_failed && !seen.pipelining(session);
        let mail_sent = sent.windows(10).any(|w| w == b"MAIL FROM:");
        assert_eq!(
            mail_sent,
            !lock_step,
            "MAIL sent: {:?}",
            String::from_utf8_lossy(sent)
        );
    } else {
        assert!(sent.is_empty(), "a refused transaction sent something");
    }
}

/// Handles every pending event as a simple driver would.
fn drive(
    session: &mut Session,
    envelope: &Envelope,
    body: &[u8],
    split: usize,
    seen: &mut Seen,
    out: &mut BytesMut,
) {
    while let Some(event) = session.poll_event() {
        match event {
            Event::Ready(Ok(())) => {
                seen.ready += 1;
                start_transaction(session, envelope, seen, out);
            }
            Event::Ready(Err(e)) => {
                seen.ready += 1;
                seen.failed_to_open = Some(e);
            }
            Event::SendBody(id) => {
                seen.send_body += 1;
                let (a, b) = body.split_at(split.min(body.len()));
                let sent = session
                    .send_body(id, a)
                    .and_then(|()| session.send_body(id, b))
                    .and_then(|()| session.finish_body(id));
                transmit(session, out);
                if sent.is_ok() {
                    seen.data_end_reply = Some(session.replies_handled());
                }
            }
            Event::Transaction(_, report) => {
                seen.reports.push((report, seen.data_end_reply.take()));
                let more = seen.mail_started < seen.wanted && seen.mail_refused.is_none();
                if more && session.is_ready() && !session.in_transaction() {
                    start_transaction(session, envelope, seen, out);
                }
            }
            // RFC 5321 §3.1: the session answers a refused greeting with QUIT itself.
            Event::Quit(_) if matches!(seen.failed_to_open, Some(Error::Greeting { .. })) => {}
            other => panic!("event for a command never sent: {other:?}"),
        }
        transmit(session, out);
    }
    transmit(session, out);
}

/// Runs a client session against arbitrary server bytes. The first byte picks the
/// options (bit 0: pipelining off, bit 1: strict line endings, bits 2-3: the body,
/// bit 4: three recipients, bit 5: declare the size, bit 6: firehose, bit 7: a second
/// transaction), the second how the rest is cut into reads; the rest is what the server
/// sends. The driver opens the session, starts a transaction on `Ready` (and, with bit 7,
/// another on the same connection after the first report), sends the body on
/// `SendBody`, and hits EOF at the end.
///
/// By default the server is paced like a real one: each read holds bytes of one reply
/// only, so replies never arrive before their command was sent. In firehose mode reads
/// are cut anywhere, so replies can run ahead of their commands (a broken or hostile
/// server).
pub fn session_feed(data: &[u8]) {
    run_session(data);
}

/// [`session_feed`], returning what the driver saw (for the baseline tests below).
fn run_session(data: &[u8]) -> Seen {
    let (flags, seed, server) = match data {
        [flags, seed, rest @ ..] => (*flags, *seed, rest),
        _ => (0, 0, data),
    };
    let mut config = SessionConfig::new(Domain::new("client.example").expect("valid domain"));
    config.pipelining = flags & 0x01 == 0;
    // The properties below are about DATA (the reply index of the final `.`); BDAT is
    // checked byte for byte in the session tests.
    config.chunking = false;
    config.line_endings = if flags & 0x02 != 0 {
        LineEndings::Strict
    } else {
        LineEndings::Normalize
    };
    let body = BODIES[usize::from(flags >> 2) & 3];
    let recipients: &[&str] = if flags & 0x10 != 0 {
        &["a@example.net", "b@example.net", "c@example.org"]
    } else {
        &["a@example.net", "b@example.net"]
    };
    let mut envelope = Envelope::new("sender@example.org", recipients).expect("valid envelope");
    if flags & 0x20 != 0 {
        envelope = envelope.with_size(normalized_len(body));
    }
    let split = usize::from(seed) % (body.len() + 1);

    let mut session = Session::new(config);
    let mut seen = Seen {
        pipelining: flags & 0x01 == 0,
        wanted: if flags & 0x80 != 0 { 2 } else { 1 },
        ..Seen::default()
    };
    let mut input = BytesMut::new();
    let mut fed = Vec::new();
    let mut out = BytesMut::new();
    let segments = if flags & 0x40 != 0 {
        vec![server]
    } else {
        reply_segments(server)
    };
    let reads = segments
        .into_iter()
        .flat_map(|segment| chunks(segment, seed));
    // Where the output stood before the read that had the server close (a 421 anywhere,
    // RFC 5321 §3.8, or a refused greeting, §3.1): after it, nothing but one QUIT may go
    // out.
    let mut closed_at: Option<usize> = None;
    for read in reads {
        if session.error().is_some() {
            // A real driver drops the connection here.
            break;
        }
        let mark = out.len();
        input.extend_from_slice(read);
        fed.extend_from_slice(read);
        session.handle_input(&mut input);
        // Judged from the bytes, not from the session: a complete 421 reply, or a
        // greeting that is not 2yz or 3yz.
        let closing = closed_at.is_none() && {
            let replies = parse_parts([&fed[..]]).replies;
            let refused_greeting = replies.first().is_some_and(|r| r.code().first_digit() >= 4);
            refused_greeting
                || replies
                    .iter()
                    .any(|r| r.code() == crate::proto::ReplyCode::SERVICE_NOT_AVAILABLE)
        };
        if closing && closed_at.is_none() {
            closed_at = Some(mark);
        }
        if session.error().is_none() {
            assert!(
                input.len() < MAX_REPLY_LINE,
                "input buffer of {} octets",
                input.len()
            );
        }
        drive(&mut session, &envelope, body, split, &mut seen, &mut out);
    }
    session.handle_eof();
    drive(&mut session, &envelope, body, split, &mut seen, &mut out);

    // After EOF the session is closed, and stays so.
    assert!(session.error().is_some(), "session usable after EOF");
    assert!(session.mail(envelope.clone()).is_err());
    assert!(session.poll_event().is_none());

    if let Some(at) = closed_at {
        let after = out.get(at..).unwrap_or_default();
        assert!(
            after.is_empty() || after == b"QUIT\r\n",
            "sent after the server closed: {:?}",
            String::from_utf8_lossy(after)
        );
    }

    // What went out: a handful of commands and small bodies, never a bare line end.
    assert!(out.len() <= 2048, "{} octets sent", out.len());
    check_no_bare_eol(&out);

    assert!(seen.ready <= 1, "{} Ready events", seen.ready);
    assert!(seen.mail_started <= seen.wanted && seen.send_body <= seen.mail_started);
    assert_eq!(
        seen.reports.len(),
        seen.mail_started,
        "every transaction ends with one report"
    );
    if seen.mail_started == 0 {
        // A refused greeting or EHLO poisons the session without a `Ready` event; the
        // driver then reads the sticky error.
        assert!(
            seen.failed_to_open.is_some()
                || seen.mail_refused.is_some()
                || session.error().is_some(),
            "neither report nor error"
        );
    }
    let replies = parse_parts([&fed[..]]).replies;
    for (report, data_end_reply) in &seen.reports {
        let addresses: Vec<&str> = report
            .recipients
            .iter()
            .map(|r| r.address.as_str())
            .collect();
        assert_eq!(addresses, recipients, "one result per recipient, in order");
        let delivered = report
            .recipients
            .iter()
            .filter(|r| r.result.is_ok())
            .count();
        assert_eq!(
            report.error.is_none(),
            delivered > 0,
            "report error vs deliveries"
        );
        if report.data.is_some() {
            assert!(
                data_end_reply.is_some(),
                "a reply to data that was never sent"
            );
        }
        if delivered > 0 {
            // Independently of the session: the reply that followed the data was a 2yz.
            let index = data_end_reply.expect("delivered without sending the data");
            let reply = usize::try_from(index).ok().and_then(|i| replies.get(i));
            assert!(
                reply.is_some_and(|r| r.code().is_positive_completion()),
                "delivered, but the reply after the data was {reply:?}"
            );
            assert!(
                report
                    .data
                    .as_ref()
                    .is_some_and(|r| r.code().is_positive_completion())
            );
            for r in &report.recipients {
                if let Ok(reply) = &r.result {
                    assert!(reply.code().is_positive_completion());
                }
            }
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Positive baselines: the checks above must see deliveries and refusals, or a broken
    /// harness would pass everything.
    #[test]
    fn session_feed_baselines() {
        let greeting = "220 mx.test.example ESMTP\r\n";
        let ehlo = "250-mx.test.example\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n";
        let ok = format!(
            "\x00\x10{greeting}{ehlo}250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no\r\n\
             354 go\r\n250 2.0.0 queued\r\n"
        );
        let seen = run_session(ok.as_bytes());
        let report = &seen.reports[0].0;
        assert_eq!(report.delivered().count(), 1);
        assert_eq!(seen.reports[0].1, Some(6));
        // Not pipelined, three recipients, the data refused.
        let mut refused = vec![0x11, 0x85];
        refused.extend_from_slice(
            format!("{greeting}{ehlo}250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n554 no\r\n")
                .as_bytes(),
        );
        let seen = run_session(&refused);
        assert_eq!(seen.reports[0].0.delivered().count(), 0);
        assert!(seen.reports[0].0.error.is_some() && seen.reports[0].1.is_some());
        // Two transactions on one connection: the first refused, so RSET goes first.
        let mut two = vec![0x80, 0x10];
        two.extend_from_slice(
            format!(
                "{greeting}{ehlo}250 ok\r\n550 no\r\n550 no\r\n554 no valid recipients\r\n\
                 250 reset\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n250 queued\r\n"
            )
            .as_bytes(),
        );
        let seen = run_session(&two);
        assert_eq!(seen.mail_started, 2);
        assert_eq!(seen.reports[0].0.delivered().count(), 0);
        assert_eq!(seen.reports[1].0.delivered().count(), 2);
        assert_eq!(seen.reports[1].1, Some(11));
        // A refused greeting: no transaction, the session says why.
        let seen = run_session(b"\x00\x00554 no service\r\n");
        assert!(seen.mail_started == 0 && seen.reports.is_empty());
        // Lock-step, a 421 to the second of three RCPTs: nothing more goes out (the
        // property in `run_session`), and every recipient is left transient.
        let mut closing = vec![0x11, 0x00];
        closing.extend_from_slice(
            format!("{greeting}{ehlo}250 ok\r\n250 ok\r\n421 4.3.2 closing\r\n").as_bytes(),
        );
        let seen = run_session(&closing);
        let report = &seen.reports[0].0;
        assert!(report.is_failed());
        assert!(
            report
                .recipients
                .iter()
                .all(|r| r.status() == crate::proto::RecipientStatus::Transient)
        );
    }

    #[test]
    fn dot_stuff_and_parser_baselines() {
        assert_eq!(normalize(b"a\nb\r\r\nc"), b"a\r\nb\r\n\r\nc\r\n");
        assert_eq!(first_bare(b"a\r\nb\rc\n"), Some(BodyError::BareCr(4)));
        assert_eq!(first_bare(b"a\r\n"), None);
        dot_stuff_roundtrip(b"\x05a\n.\nb\r.\r\n");
        let parsed = parse_parts(chunks(b"250-a\r\n250 b\r\n354 go\r\n", 0x81));
        assert_eq!(parsed.replies.len(), 2);
        reply_parser(b"250-a\r\n250 b\r\n354 go\r\n");
        ehlo_capabilities(b"250-x\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n");
    }
}
