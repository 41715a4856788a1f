//! The connection pool (`delivery::pool::Pool`) against Postfix submission 2587: a
//! `Dial` closure connects, sets up verified STARTTLS (test CA, `mx.test.example`) and
//! authenticates with the destination's credentials; `Pool::send` carries the
//! messages. Postfix's log says which connection (client port) carried each message
//! (`QUEUEID: client=…`) and how many AUTHs and MAILs each connection had (its
//! `disconnect` line), so reuse and "AUTH once per connection" are checked on the
//! server's side.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use smtp_courier::auth::{AuthOptions, Credentials};
use smtp_courier::delivery::pool::{Destination, Pool, PoolConfig, TlsPolicy};
use smtp_courier::tls::{MaybeTls, TlsMode};
use smtp_courier::{Client, Envelope};
use tokio::net::TcpStream;

use crate::support::*;
use crate::tls::{local_port, verified};

const SENDER: &str = "sender@test.example";

/// The local ports of the connections a dialer made, in order.
type Dialled = Arc<Mutex<Vec<u16>>>;

/// A pool whose dialer opens verified STARTTLS sessions to the destination and
/// authenticates with its credentials; the local port of each connection it made is
/// pushed to the returned list.
fn submission_pool(
    env: &Env,
    config: PoolConfig,
) -> (Pool<MaybeTls<TcpStream>>, Destination, Dialled) {
    let tls = verified(env, TlsMode::RequiredStartTls);
    let dest = Destination::new(&env.host, env.submission_port)
        .unwrap()
        .tls(TlsPolicy::from(&tls))
        .credentials(Credentials::new(env.user.clone(), env.password.clone()));
    let dialled = Dialled::default();
    let d = dialled.clone();
    let pool = Pool::new(config, move |dest: &Destination| {
        let target = dest.target();
        let creds = dest.get_credentials().cloned();
        let cfg = crate::support::config().tls(tls.clone());
        let dialled = d.clone();
        async move {
            let mut client = Client::connect(target, cfg).await?;
            dialled.lock().unwrap().push(local_port(&client));
            let creds = creds.expect("the destination carries the credentials");
            client.authenticate(&creds, &AuthOptions::new()).await?;
            Ok(client)
        }
    });
    (pool, dest, dialled)
}

/// For each message token, the client port Postfix logged for its queue id; and each
/// message's stored copy, checked byte for byte.
async fn carried_by(env: &Env, sent: &[(String, Vec<u8>, String)]) -> Vec<u16> {
    let tokens: Vec<&str> = sent.iter().map(|(t, _, _)| t.as_str()).collect();
    let copies = postfix_each_once(env, &tokens).await;
    let mut ports = Vec::new();
    for ((_, msg, qid), copy) in sent.iter().zip(copies) {
        let (port, record) = postfix_queued_client(env, qid).await;
        assert!(
            record.contains(&format!("sasl_username={}", env.user)),
            "{record}"
        );
        let (_, stored) = split_postfix_headers(&copy);
        assert_bytes_eq(
            stored,
            &crlf_to_lf(&crlf_normalised(msg)),
            "Postfix maildir copy",
        );
        ports.push(port);
    }
    ports
}

/// Postfix's counters for a pooled session that carried `mails` messages: EHLO,
/// STARTTLS, EHLO, one AUTH, then MAIL, RCPT and BDAT per message, and QUIT; nothing
/// else (no NOOP probe, no RSET between transactions).
fn session_stats(mails: usize) -> String {
    format!(
        "ehlo=2 starttls=1 auth=1 mail={mails} rcpt={mails} bdat={mails} quit=1 commands={}",
        5 + 3 * mails
    )
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn two_transactions_per_connection_and_one_auth_each() {
    let env = Env::get();
    let (pool, dest, dialled) =
        submission_pool(&env, PoolConfig::default().transactions_per_connection(2));
    let rcpt = env.ok_rcpt("pool");
    let envelope = Envelope::new(SENDER, [&rcpt]).unwrap();
    let mut sent = Vec::new();
    for i in 0..5 {
        let t = token(&format!("pool-{i}"));
        let msg = message(&t, &rcpt, &eight_bit(&t));
        let report = pool
            .send(&dest, &envelope, &msg)
            .await
            .unwrap_or_else(|e| panic!("message {i}: {e} ({e:?})"));
        assert_delivered(&report);
        sent.push((t, msg, queued_as(report.data.as_ref().unwrap())));
    }
    pool.close().await;
    let stats = pool.stats();
    assert_eq!(stats.connections_opened, 3, "{stats:?}");
    assert_eq!(stats.transactions, 5, "{stats:?}");
    assert_eq!((stats.dial_failures, stats.closed_while_idle), (0, 0));

    // Postfix's side: messages 1-2, 3-4 and 5 on three connections, in that order.
    let ports = carried_by(&env, &sent).await;
    assert_eq!(ports[0], ports[1], "{ports:?}");
    assert_eq!(ports[2], ports[3], "{ports:?}");
    let distinct = [ports[0], ports[2], ports[4]];
    assert!(
        distinct[0] != distinct[1] && distinct[1] != distinct[2] && distinct[0] != distinct[2],
        "{ports:?}"
    );
    assert_eq!(
        *dialled.lock().unwrap(),
        distinct,
        "the dialer's connections"
    );
    for (port, mails) in [(distinct[0], 2), (distinct[1], 2), (distinct[2], 1)] {
        assert_eq!(
            postfix_disconnect_stats(&env, &env.host, port).await,
            session_stats(mails),
            "port {port}"
        );
    }
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn concurrent_senders_share_at_most_the_cap() {
    // Eight messages from four tasks at once, at most two connections to the
    // destination, no limit per connection: Postfix sees two sessions at most, each
    // authenticated once, carrying all eight messages between them.
    let env = Env::get();
    let (pool, dest, dialled) = submission_pool(&env, PoolConfig::default().max_per_destination(2));
    let rcpt = env.ok_rcpt("pool-cap");
    let envelope = Envelope::new(SENDER, [&rcpt]).unwrap();
    let mut tasks = Vec::new();
    for task in 0..4 {
        let (pool, dest, envelope, rcpt) =
            (pool.clone(), dest.clone(), envelope.clone(), rcpt.clone());
        tasks.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            for i in 0..2 {
                let t = token(&format!("pool-cap-{task}-{i}"));
                let msg = message(&t, &rcpt, b"shared connection\r\n");
                let report = pool.send(&dest, &envelope, &msg).await.unwrap();
                assert_delivered(&report);
                sent.push((t, msg, queued_as(report.data.as_ref().unwrap())));
            }
            sent
        }));
    }
    let mut sent = Vec::new();
    for t in tasks {
        sent.extend(t.await.unwrap());
    }
    pool.close().await;
    let stats = pool.stats();
    assert_eq!(stats.transactions, 8, "{stats:?}");
    assert!((1..=2).contains(&stats.connections_opened), "{stats:?}");
    let ports = carried_by(&env, &sent).await;
    let mut per_port: BTreeMap<u16, usize> = BTreeMap::new();
    for p in &ports {
        *per_port.entry(*p).or_default() += 1;
    }
    let mut opened = dialled.lock().unwrap().clone();
    opened.sort_unstable();
    assert_eq!(
        per_port.keys().copied().collect::<Vec<_>>(),
        opened,
        "{ports:?}"
    );
    assert_eq!(per_port.len() as u64, stats.connections_opened);
    for (port, mails) in per_port {
        assert_eq!(
            postfix_disconnect_stats(&env, &env.host, port).await,
            session_stats(mails),
            "port {port}"
        );
    }
}
