#![cfg(feature = "tokio")]
//! `Pool::send_batch` against a scripted server on loopback: the per-connection limits
//! (the pool's and MAILMAX) across connections, the window on a pooled connection, a
//! connection closed while idle replaced without an attempt, and a connection lost
//! part-way: only the messages never written move on, none is sent twice.

#[path = "pool_support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use smtp_courier::delivery::pool::{Destination, Pool, PoolConfig};
use smtp_courier::proto::Timeouts;
use smtp_courier::{Client, ClientConfig, Envelope, Error, RecipientStatus, TransactionReport};
use support::{Behaviour, PlainServer};
use tokio::net::TcpStream;

const MSG: &[u8] = b"Subject: t\r\n\r\nhi\r\n";

fn config() -> ClientConfig {
    ClientConfig::new("client.test")
        .unwrap()
        .timeouts(Timeouts::all(Duration::from_secs(5)))
}

/// A pool whose dialer connects to `addr`, counting its dials.
fn make_pool(cfg: PoolConfig, addr: SocketAddr) -> (Pool<TcpStream>, Arc<AtomicUsize>) {
    let dials = Arc::new(AtomicUsize::new(0));
    let d = Arc::clone(&dials);
    let pool = Pool::new(cfg, move |_: &Destination| {
        d.fetch_add(1, Ordering::SeqCst);
        async move {
            let stream = TcpStream::connect(addr)
                .await
                .map_err(|e| Error::io(None, e))?;
            Client::open(stream, config()).await
        }
    });
    (pool, dials)
}

fn dest() -> Destination {
    Destination::new("mx.pool.test", 25).unwrap()
}

fn envelope(to: &str) -> Envelope {
    Envelope::new("a@example.org", [to]).unwrap()
}

/// `n` messages to `b@pool.test`.
async fn batch(pool: &Pool<TcpStream>, n: usize) -> Vec<Result<TransactionReport, Error>> {
    let env = envelope("b@pool.test");
    pool.send_batch(&dest(), (0..n).map(|_| (&env, MSG))).await
}

fn delivered(results: &[Result<TransactionReport, Error>]) -> bool {
    results
        .iter()
        .all(|r| r.as_ref().is_ok_and(TransactionReport::all_delivered))
}

// Mailman's sessions per connection = 2, then a server's MAILMAX=2, then both (the
// smaller wins): five messages need three connections each time, in order.
#[tokio::test]
async fn batch_respects_the_per_connection_cap_and_mailmax_across_connections() {
    for (cap, ehlo) in [
        (2, &["PIPELINING"][..]),
        (0, &["PIPELINING", "LIMITS MAILMAX=2"][..]),
        (2, &["PIPELINING", "LIMITS MAILMAX=3"][..]),
    ] {
        let server = PlainServer::start(Behaviour {
            ehlo,
            ..Behaviour::default()
        })
        .await;
        let cfg = PoolConfig::default().transactions_per_connection(cap);
        let (pool, dials) = make_pool(cfg, server.addr);
        let results = batch(&pool, 5).await;
        assert!(delivered(&results), "{results:?}");
        let queued: Vec<String> = results
            .iter()
            .map(|r| r.as_ref().unwrap().data.as_ref().unwrap().message())
            .collect();
        // Each connection's own count: the order of the messages is kept.
        assert_eq!(
            queued,
            [
                "2.0.0 queued 1",
                "2.0.0 queued 2",
                "2.0.0 queued 1",
                "2.0.0 queued 2",
                "2.0.0 queued 1"
            ],
            "{ehlo:?}"
        );
        pool.close().await;
        assert_eq!(server.mails(), [2, 2, 1], "{ehlo:?}");
        assert_eq!(dials.load(Ordering::SeqCst), 3);
        assert_eq!(pool.stats().transactions, 5);
        // Every connection ended with QUIT, the full ones before the next began.
        for log in server.logs() {
            assert_eq!(log.last().map(String::as_str), Some("QUIT"), "{log:?}");
        }
    }
    // The twin: no limit at all is one connection.
    let server = PlainServer::start(Behaviour::default()).await;
    let (pool, _) = make_pool(PoolConfig::default(), server.addr);
    assert!(delivered(&batch(&pool, 5).await));
    pool.close().await;
    assert_eq!(server.mails(), [5]);
}

// PIPELINING and CHUNKING: the next message's MAIL leaves with the previous message's
// last chunk, before its reply (the server holds each final reply until the next line).
// The baseline, --window 1, waits for each reply.
#[tokio::test]
async fn batch_uses_the_window_on_a_pooled_connection() {
    let ehlo = &["PIPELINING", "CHUNKING"][..];
    let mail = "MAIL FROM:<a@example.org>";
    let rcpt = "RCPT TO:<b@pool.test>";
    let bdat = format!("BDAT {} LAST", MSG.len());
    for window in [8, 1] {
        let server = PlainServer::start(Behaviour {
            ehlo,
            ..Behaviour::default()
        })
        .await;
        let addr = server.addr;
        let pool = Pool::new(PoolConfig::default(), move |_: &Destination| async move {
            let stream = TcpStream::connect(addr)
                .await
                .map_err(|e| Error::io(None, e))?;
            Client::open(stream, config().window(window)).await
        });
        // A reused connection: one message first, then the batch on the same one.
        assert!(delivered(&batch(&pool, 1).await));
        assert!(delivered(&batch(&pool, 3).await));
        pool.close().await;
        assert_eq!(pool.stats().connections_opened, 1);
        let logs = server.logs();
        let log: Vec<&str> = logs[0].iter().map(String::as_str).collect();
        let want: Vec<&str> = if window > 1 {
            vec![
                "EHLO client.test",
                mail,
                rcpt,
                &bdat,
                "S: 250 2.0.0 queued 1",
                // The batch, on the reused connection: each next MAIL leaves with the
                // chunk before it, ahead of that message's final reply.
                mail,
                rcpt,
                &bdat,
                mail,
                "S: 250 2.0.0 queued 2",
                rcpt,
                &bdat,
                mail,
                "S: 250 2.0.0 queued 3",
                rcpt,
                &bdat,
                "S: 250 2.0.0 queued 4",
                "QUIT",
            ]
        } else {
            vec![
                "EHLO client.test",
                mail,
                rcpt,
                &bdat,
                "S: 250 2.0.0 queued 1",
                mail,
                rcpt,
                &bdat,
                "S: 250 2.0.0 queued 2",
                mail,
                rcpt,
                &bdat,
                "S: 250 2.0.0 queued 3",
                mail,
                rcpt,
                &bdat,
                "S: 250 2.0.0 queued 4",
                "QUIT",
            ]
        };
        assert_eq!(log, want, "window {window}");
    }
}

async fn idle_close_case(idle_eof: bool) {
    let server = PlainServer::start(Behaviour {
        idle_close: Some(Duration::from_millis(100)),
        idle_eof,
        ..Behaviour::default()
    })
    .await;
    let (pool, dials) = make_pool(PoolConfig::default(), server.addr);
    assert!(delivered(&batch(&pool, 1).await));
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The idle connection was closed by the server: the batch goes on a fresh one, and
    // every report is that connection's (no error of the dead one in sight).
    let results = batch(&pool, 2).await;
    assert!(delivered(&results), "{results:?}");
    pool.close().await;
    assert_eq!(dials.load(Ordering::SeqCst), 2);
    assert_eq!(pool.stats().closed_while_idle, 1);
    assert_eq!(server.mails(), [1, 2]);
}

#[tokio::test]
async fn a_421_while_idle_moves_the_batch_to_a_fresh_connection() {
    idle_close_case(false).await;
}

#[tokio::test]
async fn an_eof_while_idle_moves_the_batch_to_a_fresh_connection() {
    idle_close_case(true).await;
}

// The server hangs up on the second MAIL of the first connection. Message 2 was written:
// it keeps its transient report and is never sent again; messages 3 and 4 were not
// written and go on a fresh connection.
#[tokio::test]
async fn a_connection_lost_mid_batch_moves_only_the_messages_never_written() {
    let server = PlainServer::start(Behaviour {
        hang_up_on_mail: Some(2),
        ..Behaviour::default()
    })
    .await;
    let (pool, dials) = make_pool(PoolConfig::default(), server.addr);
    let envs: Vec<Envelope> = (1..=4)
        .map(|i| envelope(&format!("m{i}@pool.test")))
        .collect();
    let results = pool
        .send_batch(&dest(), envs.iter().map(|e| (e, MSG)))
        .await;
    pool.close().await;
    let reports: Vec<&TransactionReport> = results.iter().map(|r| r.as_ref().unwrap()).collect();
    assert!(reports[0].all_delivered());
    assert_eq!(
        reports[1].recipients[0].status(),
        RecipientStatus::Transient
    );
    assert!(reports[1].error.is_some());
    assert!(reports[2].all_delivered() && reports[3].all_delivered());
    assert_eq!(dials.load(Ordering::SeqCst), 2);
    let rcpts = |log: &[String]| -> Vec<String> {
        log.iter()
            .filter(|l| l.starts_with("RCPT"))
            .cloned()
            .collect()
    };
    let logs = server.logs();
    // Message 2's MAIL reached the first server only; 3 and 4 the second, once each.
    assert_eq!(logs[0].iter().filter(|l| l.starts_with("MAIL")).count(), 2);
    assert_eq!(rcpts(&logs[0]), ["RCPT TO:<m1@pool.test>"]);
    assert_eq!(
        rcpts(&logs[1]),
        ["RCPT TO:<m3@pool.test>", "RCPT TO:<m4@pool.test>"]
    );
    // The baseline: the same server without the hang-up takes all four on one connection.
    let server = PlainServer::start(Behaviour::default()).await;
    let (pool, _) = make_pool(PoolConfig::default(), server.addr);
    let results = pool
        .send_batch(&dest(), envs.iter().map(|e| (e, MSG)))
        .await;
    pool.close().await;
    assert!(delivered(&results));
    assert_eq!(server.mails(), [4]);
}

// The second dial fails: the messages still waiting get its error, as `Err`, and the
// ones the first connection carried keep their reports.
#[tokio::test]
async fn a_failed_dial_is_the_error_of_every_message_still_waiting() {
    let server = PlainServer::start(Behaviour::default()).await;
    let addr = server.addr;
    let dials = Arc::new(AtomicUsize::new(0));
    let d = Arc::clone(&dials);
    let cfg = PoolConfig::default().transactions_per_connection(2);
    let pool = Pool::new(cfg, move |_: &Destination| {
        let n = d.fetch_add(1, Ordering::SeqCst);
        async move {
            if n > 0 {
                return Err(Error::Closed { command: None });
            }
            let stream = TcpStream::connect(addr)
                .await
                .map_err(|e| Error::io(None, e))?;
            Client::open(stream, config()).await
        }
    });
    let results = batch(&pool, 4).await;
    pool.close().await;
    assert!(delivered(&results[..2]), "{results:?}");
    for r in &results[2..] {
        assert!(matches!(r, Err(Error::Closed { command: None })), "{r:?}");
    }
    assert_eq!(dials.load(Ordering::SeqCst), 2);
    assert_eq!(server.mails(), [2]);
    assert_eq!(pool.stats().dial_failures, 1);
}

// RCPTMAX=1 splits each two-recipient message into two transactions, and MAILMAX=3
// counts them as the server does: a message never starts on a connection that cannot
// take all of its parts (it is not written there), so each connection carries one
// message, and each message still gets one report.
#[tokio::test]
async fn mailmax_counts_the_transactions_of_split_messages() {
    let server = PlainServer::start(Behaviour {
        ehlo: &["LIMITS RCPTMAX=1 MAILMAX=3"],
        ..Behaviour::default()
    })
    .await;
    let (pool, dials) = make_pool(PoolConfig::default(), server.addr);
    let env = Envelope::new("a@example.org", ["x@pool.test", "y@pool.test"]).unwrap();
    let results = pool.send_batch(&dest(), (0..3).map(|_| (&env, MSG))).await;
    pool.close().await;
    assert_eq!(results.len(), 3);
    assert!(delivered(&results), "{results:?}");
    assert_eq!(server.mails(), [2, 2, 2]);
    assert_eq!(dials.load(Ordering::SeqCst), 3);
    for log in server.logs() {
        assert_eq!(log.last().map(String::as_str), Some("QUIT"), "{log:?}");
    }
}

// A pool dropped without close: its idle connection is still QUIT (in the background).
#[tokio::test]
async fn a_pool_dropped_without_close_quits_its_idle_connections() {
    let server = PlainServer::start(Behaviour::default()).await;
    let (pool, _) = make_pool(PoolConfig::default(), server.addr);
    assert!(delivered(&batch(&pool, 1).await));
    assert_eq!(server.live(), 1, "idle in the pool");
    drop(pool);
    server.wait_closed().await;
    let logs = server.logs();
    assert_eq!(logs[0].last().map(String::as_str), Some("QUIT"), "{logs:?}");
}
