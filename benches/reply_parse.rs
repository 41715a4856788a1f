//! Reply parsing throughput: a Postfix EHLO reply (parsed, then read as capabilities) and a
//! pipelined batch of transaction replies as one read delivers them.

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use smtp_courier::proto::{Capabilities, ReplyParser};

const POSTFIX_EHLO: &[u8] = b"250-mx.test.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n\
    250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256\r\n\
    250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";

/// The replies to one pipelined transaction with three recipients (one refused), its data
/// and the RSET before the next.
const TRANSACTION: &[u8] = b"250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n\
    550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown in local recipient table\r\n\
    250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as 4Xq1Lz0Rk9z3J\r\n";

/// Parses every reply in `input`; returns how many there were.
fn parse_all(input: &[u8]) -> usize {
    let mut buf = BytesMut::from(input);
    let mut parser = ReplyParser::new();
    let mut n = 0;
    while let Ok(Some(reply)) = parser.parse(&mut buf) {
        black_box(&reply);
        n += 1;
    }
    n
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("reply_parse");
    group.throughput(Throughput::Bytes(POSTFIX_EHLO.len() as u64));
    group.bench_function("postfix_ehlo", |b| {
        b.iter(|| parse_all(black_box(POSTFIX_EHLO)))
    });
    group.bench_function("postfix_ehlo_capabilities", |b| {
        b.iter(|| {
            let mut buf = BytesMut::from(black_box(POSTFIX_EHLO));
            let reply = ReplyParser::new().parse(&mut buf).ok().flatten();
            reply.map(|r| Capabilities::from_ehlo(&r))
        })
    });

    // 100 transactions' replies in one buffer: 700 replies.
    let batch = TRANSACTION.repeat(100);
    assert_eq!(parse_all(&batch), 700);
    group.throughput(Throughput::Bytes(batch.len() as u64));
    group.bench_function("pipelined_batch_700_replies", |b| {
        b.iter(|| parse_all(black_box(&batch)))
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
