//! The connection pool against in-process SMTP servers that count what they see:
//! connections, simultaneous connections, MAILs, AUTHs, NOOPs and QUITs per connection.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use smtp_courier::auth::{AuthOptions, Credentials};
use smtp_courier::delivery::pool::{
    Destination, Pool, PoolConfig, PooledClient, closed_while_idle,
};
use smtp_courier::proto::Timeouts;
use smtp_courier::{Client, ClientConfig, Envelope, Error};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};

/// How the server behaves.
#[derive(Clone, Default)]
struct Behaviour {
    /// Extra EHLO keywords (`LIMITS MAILMAX=2`).
    ehlo_extra: Option<&'static str>,
    /// Offer AUTH PLAIN and refuse MAIL before it (530), as a submission server does.
    require_auth: bool,
    /// Postfix's idle timeout: after this long without a command, say 421 (or just
    /// close, when `idle_eof`) and hang up.
    idle_close: Option<Duration>,
    idle_eof: bool,
    /// How long the end of data takes to be accepted.
    data_delay: Duration,
}

/// What one connection saw.
#[derive(Clone, Debug, Default)]
struct Conn {
    port: u16,
    mails: usize,
    auths: usize,
    quit: bool,
}

#[derive(Default)]
struct Log {
    conns: Vec<Conn>,
    live: usize,
    max_live: usize,
    noops: usize,
}

type Shared = Arc<Mutex<Log>>;

fn log(shared: &Shared) -> std::sync::MutexGuard<'_, Log> {
    shared.lock().unwrap()
}

async fn serve(io: DuplexStream, b: Behaviour, shared: Shared, port: u16) {
    let id = {
        let mut l = log(&shared);
        l.conns.push(Conn {
            port,
            ..Conn::default()
        });
        l.live += 1;
        l.max_live = l.max_live.max(l.live);
        l.conns.len() - 1
    };
    let _ = serve_conn(io, &b, &shared, id).await;
    let mut l = log(&shared);
    // Already counted down at QUIT.
    if !l.conns[id].quit {
        l.live -= 1;
    }
}

async fn serve_conn(
    io: DuplexStream,
    b: &Behaviour,
    shared: &Shared,
    id: usize,
) -> std::io::Result<()> {
    let (r, mut w) = tokio::io::split(io);
    let mut lines = BufReader::new(r).lines();
    let mut authed = false;
    w.write_all(b"220 mx.example ESMTP\r\n").await?;
    loop {
        let line = match b.idle_close {
            Some(after) => match tokio::time::timeout(after, lines.next_line()).await {
                Ok(l) => l?,
                Err(_) => {
                    if !b.idle_eof {
                        w.write_all(b"421 4.4.2 mx.example Error: timeout exceeded\r\n")
                            .await?;
                    }
                    return w.shutdown().await;
                }
            },
            None => lines.next_line().await?,
        };
        let Some(line) = line else { return Ok(()) };
        let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let reply: String = match verb.as_str() {
            "EHLO" => {
                let mut r = String::from("250-mx.example\r\n250-PIPELINING\r\n");
                if let Some(extra) = b.ehlo_extra {
                    r.push_str(&format!("250-{extra}\r\n"));
                }
                if b.require_auth {
                    r.push_str("250-AUTH PLAIN\r\n");
                }
                r + "250 8BITMIME\r\n"
            }
            "AUTH" => {
                log(shared).conns[id].auths += 1;
                authed = true;
                "235 2.7.0 ok\r\n".into()
            }
            "MAIL" if b.require_auth && !authed => "530 5.7.0 authentication required\r\n".into(),
            "MAIL" => {
                log(shared).conns[id].mails += 1;
                "250 ok\r\n".into()
            }
            "RCPT" | "RSET" => "250 ok\r\n".into(),
            "NOOP" => {
                log(shared).noops += 1;
                "500 5.5.1 no NOOP here\r\n".into()
            }
            "DATA" => {
                w.write_all(b"354 go\r\n").await?;
                while lines.next_line().await?.is_some_and(|l| l != ".") {}
                tokio::time::sleep(b.data_delay).await;
                "250 2.0.0 queued\r\n".into()
            }
            "QUIT" => {
                {
                    let mut l = log(shared);
                    l.conns[id].quit = true;
                    // Counted down before the 221: the client frees its place only once it
                    // has read it.
                    l.live -= 1;
                }
                w.write_all(b"221 2.0.0 bye\r\n").await?;
                return w.shutdown().await;
            }
            _ => "502 5.5.2 unknown\r\n".into(),
        };
        w.write_all(reply.as_bytes()).await?;
    }
}

fn config() -> ClientConfig {
    ClientConfig::default().timeouts(Timeouts::all(Duration::from_secs(2)))
}

/// A pool whose dialer spawns a server with `b` for each new connection; with
/// `authenticate`, the dialer authenticates with the destination's credentials.
fn make_pool(cfg: PoolConfig, b: Behaviour, authenticate: bool) -> (Pool<DuplexStream>, Shared) {
    let shared = Shared::default();
    let s = Arc::clone(&shared);
    let pool = Pool::new(cfg, move |dest: &Destination| {
        let (client_io, server_io) = tokio::io::duplex(4096);
        tokio::spawn(serve(server_io, b.clone(), Arc::clone(&s), dest.port()));
        let creds = dest.get_credentials().cloned();
        async move {
            let mut client = Client::open(client_io, config()).await?;
            if authenticate && let Some(c) = creds {
                let options = AuthOptions::new().allow_cleartext(true);
                client.authenticate(&c, &options).await?;
            }
            Ok(client)
        }
    });
    (pool, shared)
}

fn dest() -> Destination {
    Destination::new("mx.example", 25).unwrap()
}

fn envelope() -> Envelope {
    Envelope::new("me@example.org", ["you@example.net"]).unwrap()
}

const MSG: &[u8] = b"Subject: hi\r\n\r\nHello\r\n";

async fn send_ok(pool: &Pool<DuplexStream>, d: &Destination) {
    let report = pool.send(d, &envelope(), MSG).await.expect("send");
    assert!(report.all_delivered(), "{report:?}");
}

fn mails(shared: &Shared) -> Vec<usize> {
    log(shared).conns.iter().map(|c| c.mails).collect()
}

fn quits(shared: &Shared) -> usize {
    log(shared).conns.iter().filter(|c| c.quit).count()
}

/// Waits (a little) for background QUITs to reach the server.
async fn wait_for_quits(shared: &Shared, n: usize) {
    for _ in 0..100 {
        if quits(shared) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// Mailman's SMTP_MAX_SESSIONS_PER_CONNECTION = 2: five messages need three connections.
#[tokio::test]
async fn transactions_per_connection_limit_opens_new_connections() {
    let cfg = PoolConfig::default().transactions_per_connection(2);
    let (pool, shared) = make_pool(cfg, Behaviour::default(), false);
    for _ in 0..5 {
        send_ok(&pool, &dest()).await;
    }
    assert_eq!(mails(&shared), [2, 2, 1]);
    // The two full ones were QUIT; the third is idle until close.
    wait_for_quits(&shared, 2).await;
    assert_eq!(quits(&shared), 2);
    pool.close().await;
    assert_eq!(quits(&shared), 3);
    assert_eq!(pool.stats().connections_opened, 3);
    assert_eq!(pool.stats().transactions, 5);
}

// Baseline: with no limit, all five go on one connection.
#[tokio::test]
async fn unlimited_transactions_reuse_one_connection() {
    let (pool, shared) = make_pool(PoolConfig::default(), Behaviour::default(), false);
    for _ in 0..5 {
        send_ok(&pool, &dest()).await;
    }
    assert_eq!(mails(&shared), [5]);
    pool.close().await;
}

// RFC 9422: a server that says LIMITS MAILMAX=2 gets two transactions per connection,
// with no limit configured in the pool.
#[tokio::test]
async fn mailmax_from_ehlo_is_honoured() {
    let b = Behaviour {
        ehlo_extra: Some("LIMITS MAILMAX=2"),
        ..Behaviour::default()
    };
    let (pool, shared) = make_pool(PoolConfig::default(), b, false);
    for _ in 0..5 {
        send_ok(&pool, &dest()).await;
    }
    assert_eq!(mails(&shared), [2, 2, 1]);
    pool.close().await;
    // The smaller limit wins: pool 1, MAILMAX 2.
    let b = Behaviour {
        ehlo_extra: Some("LIMITS MAILMAX=2"),
        ..Behaviour::default()
    };
    let (pool, shared) = make_pool(
        PoolConfig::default().transactions_per_connection(1),
        b,
        false,
    );
    for _ in 0..3 {
        send_ok(&pool, &dest()).await;
    }
    assert_eq!(mails(&shared), [1, 1, 1]);
    pool.close().await;
}

// The guard reports what is left under the limits: the batch hook.
#[tokio::test]
async fn guard_counts_remaining_transactions() {
    let b = Behaviour {
        ehlo_extra: Some("LIMITS MAILMAX=3"),
        ..Behaviour::default()
    };
    let (pool, _shared) = make_pool(PoolConfig::default(), b, false);
    let mut c: PooledClient<DuplexStream> = pool.get(&dest()).await.unwrap();
    assert!(c.is_fresh());
    assert_eq!(c.remaining_transactions(), Some(3));
    assert!(
        c.send_bytes(&envelope(), MSG)
            .await
            .unwrap()
            .all_delivered()
    );
    assert_eq!(c.remaining_transactions(), Some(2));
    assert_eq!(c.transactions(), 1);
    drop(c);
    let c = pool.get(&dest()).await.unwrap();
    assert!(!c.is_fresh());
    assert_eq!(c.remaining_transactions(), Some(2));
    drop(c);
    pool.close().await;
}

// 50 tasks sending at once, 3 connections per destination: the server never sees more
// than 3 at a time, and does see 3 (the cap is reached, not just respected).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_cap_per_destination_holds_under_load() {
    let b = Behaviour {
        data_delay: Duration::from_millis(5),
        ..Behaviour::default()
    };
    let (pool, shared) = make_pool(PoolConfig::default().max_per_destination(3), b, false);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { send_ok(&pool, &dest()).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(log(&shared).max_live, 3);
    assert_eq!(mails(&shared).iter().sum::<usize>(), 50);
    assert_eq!(pool.stats().connections_opened, 3);
    pool.close().await;
    assert_eq!(log(&shared).live, 0);
}

// Two destinations, 2 connections each allowed but 2 in total: never more than 2 open,
// idle connections of one destination are QUIT to make room for the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn total_cap_holds_across_destinations() {
    let b = Behaviour {
        data_delay: Duration::from_millis(5),
        ..Behaviour::default()
    };
    let cfg = PoolConfig::default().max_per_destination(2).max_total(2);
    let (pool, shared) = make_pool(cfg, b, false);
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let pool = pool.clone();
            let d = Destination::new("mx.example", if i % 2 == 0 { 25 } else { 26 }).unwrap();
            tokio::spawn(async move { send_ok(&pool, &d).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    {
        let l = log(&shared);
        assert_eq!(l.max_live, 2);
        for port in [25, 26] {
            let n: usize = l
                .conns
                .iter()
                .filter(|c| c.port == port)
                .map(|c| c.mails)
                .sum();
            assert_eq!(n, 20, "port {port}");
        }
    }
    pool.close().await;
}

async fn idle_close_case(idle_eof: bool) {
    // Postfix: `421 4.4.2 ... Error: timeout exceeded` after its idle timeout (or a server
    // that just closes).
    let b = Behaviour {
        idle_close: Some(Duration::from_millis(300)),
        idle_eof,
        ..Behaviour::default()
    };
    let (pool, shared) = make_pool(PoolConfig::default(), b, false);
    send_ok(&pool, &dest()).await;
    send_ok(&pool, &dest()).await; // reused: the server has not timed out yet
    tokio::time::sleep(Duration::from_millis(600)).await;
    // The server has closed: the message goes on a fresh connection, delivered once.
    let report = pool.send(&dest(), &envelope(), MSG).await.unwrap();
    assert!(report.all_delivered(), "{report:?}");
    assert_eq!(report.recipients.len(), 1);
    assert_eq!(mails(&shared), [2, 1]);
    let stats = pool.stats();
    assert_eq!(stats.closed_while_idle, 1);
    assert_eq!(stats.connections_opened, 2);
    assert_eq!(stats.transactions, 3);
    pool.close().await;
}

#[tokio::test]
async fn server_421_while_idle_moves_the_message_to_a_fresh_connection() {
    idle_close_case(false).await;
}

#[tokio::test]
async fn server_eof_while_idle_moves_the_message_to_a_fresh_connection() {
    idle_close_case(true).await;
}

// The 421 arrives after the connection was checked out: `send` on the guard fails before
// MAIL (the server counts no MAIL), and the error says it is safe to send again.
#[tokio::test]
async fn a_421_after_checkout_fails_before_mail_and_is_flagged() {
    let b = Behaviour {
        idle_close: Some(Duration::from_millis(300)),
        ..Behaviour::default()
    };
    let (pool, shared) = make_pool(PoolConfig::default(), b, false);
    let mut c = pool.get(&dest()).await.unwrap();
    // Baseline: the connection works.
    assert!(
        c.send_bytes(&envelope(), MSG)
            .await
            .unwrap()
            .all_delivered()
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    let err = c.send_bytes(&envelope(), MSG).await.unwrap_err();
    assert!(matches!(err, Error::ServerClosing { .. }), "{err:?}");
    assert!(closed_while_idle(&err));
    assert_eq!(
        c.transactions(),
        1,
        "a transaction that never started is not counted"
    );
    drop(c);
    assert_eq!(mails(&shared), [1]);
    // An error after MAIL was written is not flagged.
    let after_mail = Error::Closed {
        command: Some(smtp_courier::proto::CommandKind::Mail),
    };
    assert!(!closed_while_idle(&after_mail));
    // The closed connection is not reused.
    send_ok(&pool, &dest()).await;
    assert_eq!(mails(&shared), [1, 1]);
    pool.close().await;
}

// A submission server that wants AUTH on every connection: the dialer authenticates, so
// each new connection (here one per message) carries its own AUTH.
#[tokio::test]
async fn every_new_connection_is_authenticated() {
    let b = Behaviour {
        require_auth: true,
        ..Behaviour::default()
    };
    let cfg = PoolConfig::default().transactions_per_connection(1);
    let (pool, shared) = make_pool(cfg, b, true);
    let d = dest().credentials(Credentials::new("alice", "hunter2"));
    for _ in 0..3 {
        send_ok(&pool, &d).await;
    }
    {
        let l = log(&shared);
        assert_eq!(l.conns.len(), 3);
        assert!(
            l.conns.iter().all(|c| c.auths == 1 && c.mails == 1),
            "{:?}",
            l.conns
        );
    }
    pool.close().await;
}

// Negative twin: a destination without credentials is not authenticated, and the server
// refuses its mail (so the test above would fail without the dialer's AUTH).
#[tokio::test]
async fn without_auth_the_server_refuses_mail() {
    let b = Behaviour {
        require_auth: true,
        ..Behaviour::default()
    };
    let (pool, shared) = make_pool(PoolConfig::default(), b, true);
    let report = pool.send(&dest(), &envelope(), MSG).await.unwrap();
    assert!(report.is_failed());
    assert_eq!(mails(&shared), [0]);
    pool.close().await;
}

// The server answers NOOP with 500 and counts it: reuse costs no probe round trip.
#[tokio::test]
async fn reuse_sends_no_noop() {
    let (pool, shared) = make_pool(PoolConfig::default(), Behaviour::default(), false);
    for _ in 0..4 {
        send_ok(&pool, &dest()).await;
    }
    assert_eq!(mails(&shared), [4]);
    assert_eq!(log(&shared).noops, 0);
    pool.close().await;
}

// A short idle timeout: the idle connection is QUIT by the pool on its own, and the next
// message opens a new one.
#[tokio::test]
async fn idle_timeout_quits_the_connection() {
    let cfg = PoolConfig::default().idle_timeout(Duration::from_millis(200));
    let (pool, shared) = make_pool(cfg, Behaviour::default(), false);
    send_ok(&pool, &dest()).await;
    assert_eq!(pool.idle_connections(), 1);
    wait_for_quits(&shared, 1).await;
    assert_eq!(quits(&shared), 1);
    assert_eq!(pool.idle_connections(), 0);
    assert_eq!(pool.stats().idle_expired, 1);
    send_ok(&pool, &dest()).await;
    assert_eq!(mails(&shared), [1, 1]);
    pool.close().await;
}

// Graceful shutdown: idle connections are QUIT by close, one in use when it comes back;
// after close nothing more is sent.
#[tokio::test]
async fn close_quits_idle_and_returned_connections() {
    let cfg = PoolConfig::default().max_per_destination(2);
    let (pool, shared) = make_pool(cfg, Behaviour::default(), false);
    send_ok(&pool, &dest()).await;
    let mut busy = pool.get(&dest()).await.unwrap();
    let mut second = pool.get(&dest()).await.unwrap();
    assert!(busy.is_fresh() ^ second.is_fresh(), "one reused, one new");
    assert!(
        second
            .send_bytes(&envelope(), MSG)
            .await
            .unwrap()
            .all_delivered()
    );
    drop(second);
    assert_eq!(quits(&shared), 0);
    pool.close().await;
    assert_eq!(quits(&shared), 1, "the idle one");
    assert!(
        busy.send_bytes(&envelope(), MSG)
            .await
            .unwrap()
            .all_delivered()
    );
    drop(busy);
    wait_for_quits(&shared, 2).await;
    assert_eq!(quits(&shared), 2, "the busy one, on return");
    assert!(pool.send(&dest(), &envelope(), MSG).await.is_err());
    assert!(pool.get(&dest()).await.is_err());
    assert_eq!(log(&shared).conns.len(), 2);
}

// A dial that fails is reported and leaves nothing behind; the next one is made afresh.
#[tokio::test]
async fn failed_dial_is_returned_and_not_reused() {
    let attempts = Arc::new(Mutex::new(0usize));
    let a = Arc::clone(&attempts);
    let pool = Pool::new(PoolConfig::default(), move |_d: &Destination| {
        let n = {
            let mut n = a.lock().unwrap();
            *n += 1;
            *n
        };
        let (client_io, server_io) = tokio::io::duplex(4096);
        tokio::spawn(async move {
            let mut s = server_io;
            if n == 1 {
                // A refused greeting: setup fails.
                let _ = s.write_all(b"554 5.3.2 no service\r\n").await;
                let mut buf = [0u8; 64];
                let _ = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await;
            } else {
                serve(s, Behaviour::default(), Shared::default(), 25).await;
            }
        });
        async move { Client::open(client_io, config()).await }
    });
    let err = pool.send(&dest(), &envelope(), MSG).await.unwrap_err();
    assert!(matches!(err, Error::Greeting { .. }), "{err:?}");
    assert_eq!(pool.stats().dial_failures, 1);
    assert_eq!(pool.idle_connections(), 0);
    send_ok(&pool, &dest()).await;
    assert_eq!(*attempts.lock().unwrap(), 2);
    assert_eq!(pool.stats().connections_opened, 1);
    pool.close().await;
}

// `get` itself probes a reused connection (a read that does not wait): one the server
// closed while idle is never handed out.
#[tokio::test]
async fn get_never_hands_out_a_connection_closed_while_idle() {
    let b = Behaviour {
        idle_close: Some(Duration::from_millis(300)),
        ..Behaviour::default()
    };
    let (pool, shared) = make_pool(PoolConfig::default(), b, false);
    send_ok(&pool, &dest()).await;
    // Baseline: straight away, the idle connection is reused.
    let c = pool.get(&dest()).await.unwrap();
    assert!(!c.is_fresh());
    drop(c);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let c = pool.get(&dest()).await.unwrap();
    assert!(c.is_fresh(), "the closed connection was handed out");
    assert!(c.is_usable());
    drop(c);
    assert_eq!(pool.stats().closed_while_idle, 1);
    assert_eq!(log(&shared).conns.len(), 2);
    pool.close().await;
}
