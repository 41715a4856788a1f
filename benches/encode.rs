//! DATA encoding throughput: dot-stuffing a ~1 MB message with Unix (LF) line endings and
//! some lines starting with a dot, fed in 64 KiB reads as the driver does; the same message
//! with CRLF line endings in strict mode; and `normalized_len`, which sizes `SIZE=`.

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use smtp_courier::proto::body::{DotStuffer, LineEndings, normalized_len};

/// A ~1 MB plain-text message: headers, then paragraphs of 60 to 78 character lines, with
/// a line starting with "." every 25 lines and a blank line every 12.
fn message(eol: &str) -> Vec<u8> {
    let mut m = String::new();
    for h in [
        "From: Sender <sender@example.org>",
        "To: Friend <friend@example.net>",
        "Subject: quarterly report",
        "Message-ID: <20240101120000.1234@example.org>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ] {
        m.push_str(h);
        m.push_str(eol);
    }
    m.push_str(eol);
    let words = [
        "lorem",
        "ipsum",
        "dolor",
        "sit",
        "amet,",
        "consectetur",
        "adipiscing",
        "elit.",
    ];
    let mut i = 0usize;
    while m.len() < 1_000_000 {
        if i.is_multiple_of(25) {
            m.push_str(". a line that starts with a dot");
        } else if i.is_multiple_of(12) {
            // blank line between paragraphs
        } else {
            let width = 60 + i % 19;
            let mut line = String::new();
            let mut w = i;
            while line.len() < width {
                line.push_str(words[w % words.len()]);
                line.push(' ');
                w += 3;
            }
            m.push_str(line.trim_end());
        }
        m.push_str(eol);
        i += 1;
    }
    m.into_bytes()
}

/// Encodes `input` in 64 KiB reads into `out` (cleared first).
fn encode(mode: LineEndings, input: &[u8], out: &mut BytesMut) {
    out.clear();
    let mut enc = DotStuffer::new(mode);
    for chunk in input.chunks(64 * 1024) {
        enc.encode(chunk, out).expect("encodes");
    }
    enc.finish(out).expect("finishes");
}

fn bench(c: &mut Criterion) {
    let lf = message("\n");
    let crlf = message("\r\n");
    let mut out = BytesMut::with_capacity(crlf.len() * 2);

    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Bytes(lf.len() as u64));
    group.bench_function("dot_stuff_lf_1mb", |b| {
        b.iter(|| encode(LineEndings::Normalize, black_box(&lf), &mut out))
    });
    group.bench_function("normalized_len_lf_1mb", |b| {
        b.iter(|| normalized_len(black_box(&lf)))
    });
    group.throughput(Throughput::Bytes(crlf.len() as u64));
    group.bench_function("dot_stuff_crlf_strict_1mb", |b| {
        b.iter(|| encode(LineEndings::Strict, black_box(&crlf), &mut out))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .sample_size(20);
    targets = bench
}
criterion_main!(benches);
