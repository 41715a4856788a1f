//! BDAT framed ahead ([`BdatChunker::frame_ahead`]): the same octets as framing each
//! chunk once it fills, whatever the chunk size and however the input is split; chunk
//! ends reported exactly; content of another length refused without an octet too many.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::num::NonZeroUsize;

use bytes::BytesMut;

use super::*;

fn chunker(binary: bool, max: usize) -> BdatChunker {
    let enc = if binary {
        BdatChunker::binary()
    } else {
        BdatChunker::new(LineEndings::Normalize)
    };
    let mut enc = enc.with_max_chunk(NonZeroUsize::new(max).unwrap());
    enc.track_completed();
    enc
}

/// Encodes `parts` then finishes; returns the wire and the reported chunk ends.
fn run(mut enc: BdatChunker, parts: &[&[u8]]) -> (Vec<u8>, Vec<(usize, bool)>) {
    let mut out = BytesMut::new();
    let mut ends = Vec::new();
    for part in parts {
        enc.encode(part, &mut out).unwrap();
        enc.drain_completed(&mut ends);
    }
    enc.finish(&mut out).unwrap();
    enc.drain_completed(&mut ends);
    (out.to_vec(), ends)
}

/// The offsets where each chunk of `wire` ends, read back from its headers.
fn chunk_ends(wire: &[u8]) -> Vec<(usize, bool)> {
    let mut ends = Vec::new();
    let mut at = 0;
    while at < wire.len() {
        let line_end = at + wire[at..].windows(2).position(|w| w == b"\r\n").unwrap();
        let line = std::str::from_utf8(&wire[at..line_end]).unwrap();
        let mut words = line.split(' ').skip(1);
        let n: usize = words.next().unwrap().parse().unwrap();
        let last = words.next() == Some("LAST");
        at = line_end + 2 + n;
        ends.push((at, last));
    }
    ends
}

#[test]
fn framed_ahead_is_the_same_wire() {
    let inputs: &[&[u8]] = &[
        b"",
        b"a",
        b"ab\r\n",
        b"Subject: x\n\nhello\r\n.\r\nbye",
        b"line one\r\nline two\r\n",
        b"bare\rcr and bare\nlf\r",
        b"0123456789abcdef",
    ];
    for &input in inputs {
        for binary in [false, true] {
            for max in [1, 2, 3, 5, 8, 16, 17, 64] {
                let plain = run(chunker(binary, max), &[input]);
                let len = chunker(binary, max).message_len(input);
                for cut in 0..=input.len() {
                    let (a, b) = input.split_at(cut);
                    let mut enc = chunker(binary, max);
                    enc.frame_ahead(len);
                    let ahead = run(enc, &[a, b]);
                    assert_eq!(ahead.0, plain.0, "{input:?} max {max} cut {cut}");
                    assert_eq!(ahead.1, chunk_ends(&ahead.0), "{input:?} max {max}");
                    // The chunker framing at once reports the same ends.
                    assert_eq!(plain.1, ahead.1);
                }
            }
        }
    }
}

#[test]
fn chunk_open_while_its_octets_are_due() {
    let mut enc = chunker(false, 1024);
    enc.frame_ahead(13);
    let mut out = BytesMut::new();
    assert!(!enc.chunk_open());
    enc.encode(b"hello ", &mut out).unwrap();
    // The header went first; the chunk is not complete.
    assert_eq!(&out[..], b"BDAT 13 LAST\r\nhello ");
    assert!(enc.chunk_open());
    enc.encode(b"world\r\n", &mut out).unwrap();
    assert!(!enc.chunk_open());
    enc.finish(&mut out).unwrap();
    assert_eq!(&out[..], b"BDAT 13 LAST\r\nhello world\r\n");
    assert!(enc.is_last_sent());
}

#[test]
fn another_length_is_refused() {
    // Longer: the octets beyond the framed length never reach the output.
    let mut enc = chunker(false, 1024);
    enc.frame_ahead(4);
    let mut out = BytesMut::new();
    assert_eq!(
        enc.encode(b"ab\r\ncd\r\n", &mut out),
        Err(BodyError::LengthMismatch)
    );
    assert_eq!(&out[..], b"BDAT 4 LAST\r\nab\r\n");
    // Shorter: the end cannot be framed.
    let mut enc = chunker(true, 1024);
    enc.frame_ahead(10);
    let mut out = BytesMut::new();
    enc.encode(b"abc", &mut out).unwrap();
    assert_eq!(enc.finish(&mut out), Err(BodyError::LengthMismatch));
    assert_eq!(&out[..], b"BDAT 10 LAST\r\nabc");
    // Positive twin: the exact length goes through.
    let mut enc = chunker(true, 1024);
    enc.frame_ahead(3);
    let mut out = BytesMut::new();
    enc.encode(b"abc", &mut out).unwrap();
    enc.finish(&mut out).unwrap();
    assert_eq!(&out[..], b"BDAT 3 LAST\r\nabc");
}
