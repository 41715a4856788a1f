//! Property tests (proptest) of the sans-IO core, the same properties the fuzz targets
//! check, but from generated structured inputs: valid replies split anywhere parse as
//! whole, encode-then-parse returns the reply, garbage is split-invariant too, the DATA
//! encoding never ends early and round-trips, BDAT chunks of any size round-trip and
//! never exceed the maximum, and EHLO keywords come out upper-case.

use std::num::NonZeroUsize;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use smtp_courier::fuzzing::{BdatDecoder, DataDecoder};
use smtp_courier::proto::body::{
    BdatChunker, BodyError, DotStuffer, LineEndings, check_line_endings, normalized_len,
};
use smtp_courier::proto::reply::{MAX_REPLY_LINE, ReplyError};
use smtp_courier::proto::{Capabilities, Reply, ReplyCode, ReplyParser};

/// A reply with 1 to 6 lines of text that may hold any octet but LF and NUL (a CR
/// included; a NUL is a protocol error, `ReplyError::Nul`).
fn reply() -> impl Strategy<Value = Reply> {
    let text = prop::collection::vec(
        any::<u8>().prop_filter("no LF, no NUL", |b| !matches!(*b, b'\n' | 0)),
        0..60,
    );
    (200u16..=599, prop::collection::vec(text, 1..6)).prop_map(|(code, lines)| {
        let code = ReplyCode::new(code).expect("code in range");
        Reply::new(code, lines.into_iter().map(Bytes::from).collect())
    })
}

/// Octets weighted toward what a reply parser cares about.
fn reply_garbage() -> impl Strategy<Value = Vec<u8>> {
    let octet = prop_oneof![
        4 => prop::sample::select(b"0123456789".to_vec()),
        2 => prop::sample::select(b"- \r\n".to_vec()),
        1 => any::<u8>(),
    ];
    prop::collection::vec(octet, 0..400)
}

/// Octets weighted toward CR, LF and dots.
fn message_bytes() -> impl Strategy<Value = Vec<u8>> {
    let octet = prop_oneof![
        3 => prop::sample::select(b"\r\n.".to_vec()),
        2 => prop::sample::select(b"ab ".to_vec()),
        1 => any::<u8>(),
    ];
    prop::collection::vec(octet, 0..300)
}

/// Parses `input` fed in pieces cut at `cuts` (positions, taken modulo the length).
fn parse_split(input: &[u8], cuts: &[usize]) -> (Vec<Reply>, Option<ReplyError>) {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.push(input.len());
    points.sort_unstable();
    let mut parser = ReplyParser::new();
    let mut buf = BytesMut::new();
    let mut replies = Vec::new();
    let mut start = 0;
    for end in points {
        buf.extend_from_slice(&input[start..end]);
        start = end;
        loop {
            match parser.parse(&mut buf) {
                Ok(Some(r)) => replies.push(r),
                Ok(None) => break,
                Err(e) => return (replies, Some(e)),
            }
        }
        assert!(buf.len() < MAX_REPLY_LINE);
    }
    (replies, None)
}

/// The replies as a server writes them (RFC 5321 §4.2.1: `code-text` on every line but
/// the last, `code text` on the last). `Reply::encode` is crate-private.
fn encode_all(replies: &[Reply]) -> Vec<u8> {
    let mut wire = BytesMut::new();
    for r in replies {
        let code = r.code();
        let lines = r.lines();
        if lines.is_empty() {
            wire.extend_from_slice(format!("{code}\r\n").as_bytes());
        }
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            wire.extend_from_slice(format!("{code}{sep}").as_bytes());
            wire.extend_from_slice(line);
            wire.extend_from_slice(b"\r\n");
        }
    }
    wire.to_vec()
}

/// The reference normalisation: CRLF, bare CR and bare LF all become CRLF, and non-empty
/// content ends with CRLF.
fn normalize(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'\r' if data.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 2;
            }
            b'\r' | b'\n' => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            b => {
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

/// True when some CR is not followed by LF or some LF is not preceded by CR.
fn has_bare_eol(data: &[u8]) -> bool {
    data.iter().enumerate().any(|(i, b)| match b {
        b'\r' => data.get(i + 1) != Some(&b'\n'),
        b'\n' => i == 0 || data[i - 1] != b'\r',
        _ => false,
    })
}

fn stuff(mode: LineEndings, data: &[u8], cuts: &[usize]) -> Result<Vec<u8>, BodyError> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    points.push(data.len());
    points.sort_unstable();
    let mut enc = DotStuffer::new(mode);
    let mut wire = BytesMut::new();
    let mut start = 0;
    for end in points {
        enc.encode(&data[start..end], &mut wire)?;
        start = end;
    }
    enc.finish(&mut wire)?;
    Ok(wire.to_vec())
}

/// Feeds `data` cut at `cuts` to `enc`, then ends the message.
fn chunk(mut enc: BdatChunker, data: &[u8], cuts: &[usize]) -> (Vec<u8>, BdatChunker) {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    points.push(data.len());
    points.sort_unstable();
    let mut wire = BytesMut::new();
    let mut start = 0;
    for end in points {
        enc.encode(&data[start..end], &mut wire)
            .expect("not strict");
        start = end;
    }
    enc.finish(&mut wire).expect("not strict");
    (wire.to_vec(), enc)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn bdat_round_trips_with_any_chunk_size_and_split(
        data in message_bytes(),
        max in 1usize..400,
        cuts in prop::collection::vec(any::<usize>(), 0..6),
        binary in any::<bool>(),
    ) {
        let max = NonZeroUsize::new(max).expect("non-zero");
        let enc = if binary { BdatChunker::binary() } else { BdatChunker::default() };
        let (wire, enc) = chunk(enc.with_max_chunk(max), &data, &cuts);
        let mut dec = BdatDecoder::new();
        let mut buf = BytesMut::from(&wire[..]);
        let mut content = Vec::new();
        prop_assert_eq!(dec.decode(&mut buf, &mut content), Ok(true));
        let expected = if binary { data.clone() } else { normalize(&data) };
        prop_assert_eq!(&content, &expected);
        prop_assert_eq!(enc.message_len(&data), expected.len() as u64);
        // No chunk is larger than the maximum, and only the last is shorter.
        let sizes = dec.chunks();
        for (i, &(size, last)) in sizes.iter().enumerate() {
            prop_assert!(size <= max.get() as u64, "chunk {} of {} octets", i, size);
            prop_assert_eq!(last, i + 1 == sizes.len());
            if !last {
                prop_assert_eq!(size, max.get() as u64);
            }
        }
        prop_assert_eq!(enc.chunks(), sizes.len() as u64);
        prop_assert_eq!(enc.commands_for(expected.len() as u64), sizes.len() as u64);
        // The cuts do not change the wire.
        let whole = if binary { BdatChunker::binary() } else { BdatChunker::default() };
        prop_assert_eq!(chunk(whole.with_max_chunk(max), &data, &[]).0, wire);
    }

    #[test]
    fn valid_replies_split_anywhere_parse_as_whole(
        replies in prop::collection::vec(reply(), 1..6),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let wire = encode_all(&replies);
        prop_assert_eq!(parse_split(&wire, &[]), (replies.clone(), None));
        prop_assert_eq!(parse_split(&wire, &cuts), (replies, None));
    }

    #[test]
    fn encode_then_parse_is_identity(r in reply()) {
        let mut wire = BytesMut::from(&encode_all(std::slice::from_ref(&r))[..]);
        prop_assert_eq!(ReplyParser::new().parse(&mut wire), Ok(Some(r)));
        prop_assert!(wire.is_empty());
    }

    #[test]
    fn garbage_split_anywhere_parses_as_whole(
        data in reply_garbage(),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let whole = parse_split(&data, &[]);
        prop_assert_eq!(parse_split(&data, &cuts), whole);
        // The same check the fuzz target makes.
        smtp_courier::fuzzing::reply_parser(&data);
    }

    #[test]
    fn dot_stuffing_round_trips_and_never_ends_early(
        data in message_bytes(),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let wire = stuff(LineEndings::Normalize, &data, &cuts).expect("normalising never fails");
        prop_assert_eq!(&wire, &stuff(LineEndings::Normalize, &data, &[]).expect("whole"));
        // After the CRLF that ends DATA: no bare CR or LF, one terminator, at the end.
        let mut framed = b"\r\n".to_vec();
        framed.extend_from_slice(&wire);
        for (i, b) in framed.iter().enumerate() {
            match b {
                b'\r' => prop_assert_eq!(framed.get(i + 1), Some(&b'\n'), "bare CR at {}", i),
                b'\n' => prop_assert_eq!(framed[i - 1], b'\r', "bare LF at {}", i),
                _ => {}
            }
        }
        let ends: Vec<usize> = framed.windows(5).enumerate()
            .filter(|(_, w)| *w == b"\r\n.\r\n").map(|(i, _)| i).collect();
        prop_assert_eq!(ends, vec![framed.len() - 5]);
        // The receiver gets the normalised message, whose length normalized_len predicts.
        let mut buf = BytesMut::from(&wire[..]);
        let mut content = Vec::new();
        prop_assert!(DataDecoder::new().decode(&mut buf, &mut content));
        prop_assert!(buf.is_empty());
        let expected = normalize(&data);
        prop_assert_eq!(&content, &expected);
        prop_assert_eq!(normalized_len(&data), expected.len() as u64);
        // Strict mode: the same wire when there is nothing bare, else an error.
        let bare = has_bare_eol(&data);
        match stuff(LineEndings::Strict, &data, &cuts) {
            Ok(strict) => {
                prop_assert!(!bare, "strict mode accepted a bare line ending");
                prop_assert_eq!(strict, wire);
                prop_assert!(check_line_endings(&data).is_ok());
            }
            Err(e) => {
                prop_assert!(bare, "strict mode refused clean data: {:?}", e);
                prop_assert_eq!(check_line_endings(&data), Err(e));
            }
        }
    }

    #[test]
    fn ehlo_keywords_are_upper_case(
        lines in prop::collection::vec("[a-zA-Z0-9=\\- \t.ſß]{0,30}", 1..12),
    ) {
        let reply = Reply::new(ReplyCode::OK, lines.into_iter().map(Bytes::from).collect());
        let caps = Capabilities::from_ehlo(&reply);
        for entry in caps.keywords() {
            let keyword = entry.split(' ').next().unwrap_or_default();
            prop_assert!(keyword.starts_with(|c: char| c.is_ascii_alphanumeric()), "{:?}", entry);
            prop_assert!(
                keyword.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-'),
                "{:?}", entry
            );
            prop_assert!(caps.has(keyword));
        }
        for mech in caps.auth_mechanisms() {
            prop_assert!(!mech.chars().any(|c| c.is_ascii_lowercase()));
        }
        smtp_courier::fuzzing::ehlo_capabilities(&encode_all(&[reply]));
    }
}
