//! Content checked once ([`CrlfText`]) and framed without a second search: the same
//! octets as the searching encoders, however it is cut into parts, and never a bare CR
//! or LF even when parts are fed out of order.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::num::NonZeroUsize;

use bytes::BytesMut;

use super::lines::CrlfText;
use super::{BdatChunker, DotStuffer, LineEndings, normalized_len};

const CLEAN: &[&[u8]] = &[
    b"",
    b"a",
    b"a\r\n",
    b"\r\n",
    b".\r\n..x\r\nend",
    b"Subject: x\r\n\r\n.hidden\r\nline\r\n.\r\nlast",
];

fn data_wire(parts: &[CrlfText<'_>]) -> Vec<u8> {
    let mut e = DotStuffer::new(LineEndings::Strict);
    let mut out = BytesMut::new();
    for p in parts {
        e.encode_clean(*p, &mut out).unwrap();
    }
    e.finish(&mut out).unwrap();
    out.to_vec()
}

fn bdat_wire(parts: &[CrlfText<'_>], max: usize) -> Vec<u8> {
    let mut e =
        BdatChunker::new(LineEndings::Strict).with_max_chunk(NonZeroUsize::new(max).unwrap());
    let mut out = BytesMut::new();
    for p in parts {
        e.encode_clean(*p, &mut out).unwrap();
    }
    e.finish(&mut out).unwrap();
    out.to_vec()
}

fn no_bare_line_end(wire: &[u8]) -> bool {
    (0..wire.len()).all(|i| match wire[i] {
        b'\r' => wire.get(i + 1) == Some(&b'\n'),
        b'\n' => i > 0 && wire[i - 1] == b'\r',
        _ => true,
    })
}

#[test]
fn parts_frame_as_the_whole_does() {
    for &input in CLEAN {
        let text = CrlfText::new(input).unwrap();
        assert_eq!(text.normalized_len(), normalized_len(input));
        let mut e = DotStuffer::default();
        let mut searched = BytesMut::new();
        e.encode(input, &mut searched).unwrap();
        e.finish(&mut searched).unwrap();
        for cut in 0..=input.len() {
            let (a, b) = text.split_at(cut);
            assert_eq!(data_wire(&[a, b]), searched, "{input:?} cut {cut}");
            for max in [1, 3, 64] {
                let mut e = BdatChunker::default().with_max_chunk(NonZeroUsize::new(max).unwrap());
                let mut plain = BytesMut::new();
                e.encode(input, &mut plain).unwrap();
                e.finish(&mut plain).unwrap();
                assert_eq!(bdat_wire(&[a, b], max), plain, "{input:?} cut {cut}");
            }
        }
    }
}

#[test]
fn text_with_a_bare_line_end_is_not_clean() {
    for bad in [&b"a\nb"[..], b"a\rb", b"a\r", b"\n", b"a\r\n\n"] {
        assert!(CrlfText::new(bad).is_none(), "{bad:?}");
    }
    assert!(CrlfText::new(b"a\r\nb").is_some());
}

#[test]
fn parts_out_of_order_never_put_a_bare_line_end_on_the_wire() {
    let input = b"ab\r\ncd\r\n.e\r\n";
    let text = CrlfText::new(input).unwrap();
    for cut in 0..=input.len() {
        let (a, b) = text.split_at(cut);
        for parts in [[b, a], [a, a], [b, b]] {
            let mut e = DotStuffer::default();
            let mut out = BytesMut::new();
            for p in parts {
                e.encode_clean(p, &mut out).unwrap();
            }
            e.finish(&mut out).unwrap();
            assert!(no_bare_line_end(&out), "cut {cut}: {out:?}");
        }
    }
}
