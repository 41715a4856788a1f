//! Whole transactions over loopback TCP against the in-process sink
//! (`examples/support/sink.rs`), in messages per second: many transactions on one
//! connection, each pipelined (MAIL, RCPT, RCPT, DATA in one write, then the data), and
//! for comparison a fresh connection per message (greeting, EHLO, transaction, QUIT).

#[path = "../examples/support/sink.rs"]
mod sink;

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use smtp_courier::{Client, ClientConfig, Envelope, Error, connect_tcp};
use tokio::net::TcpStream;

/// A small realistic message (about 1 KB), CRLF line endings, one dot-stuffed line.
fn message() -> Vec<u8> {
    let mut m = b"From: Sender <sender@example.org>\r\nTo: <a@example.net>, <b@example.net>\r\n\
        Subject: loopback benchmark\r\nMessage-ID: <bench@example.org>\r\n\r\n"
        .to_vec();
    for i in 0..12 {
        if i == 6 {
            m.extend_from_slice(b".this line starts with a dot\r\n");
        }
        m.extend_from_slice(b"The quick brown fox jumps over the lazy dog, again and again.\r\n");
    }
    m
}

/// TCP to the sink, greeting and EHLO: plaintext, as the sink is (no TLS to measure here).
async fn connect(
    addr: std::net::SocketAddr,
    config: ClientConfig,
) -> Result<Client<TcpStream>, Error> {
    let tcp = connect_tcp(addr, config.get_timeouts().connect).await?;
    Client::open(tcp, config).await
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let sink = rt
        .block_on(sink::Sink::start_with(
            sink::SinkConfig::default().keep_messages(false),
        ))
        .expect("sink starts");
    let addr = sink.addr();
    let envelope =
        Envelope::new("sender@example.org", ["a@example.net", "b@example.net"]).expect("envelope");
    let body = message();
    let config = || ClientConfig::new("client.example.org").expect("config");

    let mut group = c.benchmark_group("loopback");
    group.throughput(Throughput::Elements(1));

    let mut client = rt.block_on(connect(addr, config())).expect("connects");
    group.bench_function("pipelined_transaction_same_connection", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let report = client.send_bytes(&envelope, &body).await.expect("sent");
                    assert!(report.all_delivered());
                }
                start.elapsed()
            })
        })
    });
    rt.block_on(client.quit()).expect("quit");

    group.bench_function("connect_transaction_quit", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let mut client = connect(addr, config()).await.expect("connects");
                    let report = client.send_bytes(&envelope, &body).await.expect("sent");
                    assert!(report.all_delivered());
                    client.quit().await.expect("quit");
                }
                start.elapsed()
            })
        })
    });
    group.finish();

    let stats = sink.stats();
    assert_eq!(stats.recipients_refused, 0);
    rt.block_on(sink.shutdown());
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
