//! `--repeat` through the library's connection pool: `--max-per-connection` as its
//! transactions per connection with `--window` on each connection, a connection lost
//! part-way (the messages never written go on a new one, the one in flight is not sent
//! again), and a later connection that fails (the report keeps the first connection's
//! greeting, the rest carry the failure).

use super::pool_support::{Behaviour, PlainServer};
use super::*;

/// 18 octets once normalised.
const MESSAGE: &[u8] = b"Subject: t\n\nhi\n";

async fn repeat(server: &PlainServer, extra: &[&str]) -> Run {
    let at = server.addr.to_string();
    let mut args = vec![
        "--server",
        &at,
        "--tls",
        "skip",
        "--json",
        "--timeout",
        "5",
        "--from",
        "me@example.org",
        "--to",
        "a@example.net",
        "--data",
        "-",
    ];
    args.extend_from_slice(extra);
    send_with_stdin(&args, Some(MESSAGE)).await
}

fn statuses(v: &Value) -> Vec<String> {
    v["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tx| recipients(tx)[0]["status"].as_str().unwrap().to_owned())
        .collect()
}

// Two transactions per connection, each connection's two in one window: the second
// MAIL leaves before the first message's final reply, on both connections.
#[tokio::test]
async fn max_per_connection_with_a_window_on_each_pooled_connection() {
    let server = PlainServer::start(Behaviour {
        ehlo: &["PIPELINING", "CHUNKING"],
        ..Behaviour::default()
    })
    .await;
    let run = repeat(
        &server,
        &[
            "--repeat",
            "4",
            "--max-per-connection",
            "2",
            "--window",
            "8",
        ],
    )
    .await;
    assert_eq!(run.status, 0, "stderr {}", run.stderr);
    assert_eq!(statuses(&run.json()), ["delivered"; 4]);
    let (mail, rcpt, bdat) = (
        "MAIL FROM:<me@example.org>",
        "RCPT TO:<a@example.net>",
        "BDAT 18 LAST",
    );
    let one = [
        "EHLO localhost",
        mail,
        rcpt,
        bdat,
        mail,
        "S: 250 2.0.0 queued 1",
        rcpt,
        bdat,
        "S: 250 2.0.0 queued 2",
        "QUIT",
    ];
    assert_eq!(server.logs(), [one, one]);
}

// The server hangs up on the third MAIL of the first connection: the third message was
// written, so it stays transient and is not sent again; the fourth and fifth go on a
// new connection.
#[tokio::test]
async fn a_lost_connection_sends_the_never_written_rest_on_a_new_one() {
    let server = PlainServer::start(Behaviour {
        hang_up_on_mail: Some(3),
        ..Behaviour::default()
    })
    .await;
    let run = repeat(&server, &["--repeat", "5"]).await;
    assert_eq!(run.status, 75, "stderr {}", run.stderr);
    let v = run.json();
    assert_eq!(
        statuses(&v),
        [
            "delivered",
            "delivered",
            "transient",
            "delivered",
            "delivered"
        ]
    );
    let lost = &recipients(&v["transactions"][2])[0];
    assert_eq!(lost["code"], Value::Null);
    // A connection lost mid-transaction is that message's failure, not the run's.
    assert_eq!(v["error"], Value::Null);
    assert_eq!(v["greeting"]["message"], "mx.pool.test ESMTP");
    assert_eq!(server.mails(), [3, 2]);
}

// The second connection's greeting is 554: the report's greeting is the first
// connection's, the run's error is the failed connection's, and the message it could
// not carry has it too.
#[tokio::test]
async fn a_later_failed_connection_fails_the_rest_and_the_first_greeting_stays() {
    let server = PlainServer::start(Behaviour {
        greetings: &["220 first.pool.test ESMTP", "554 5.3.2 no more today"],
        ..Behaviour::default()
    })
    .await;
    let run = repeat(&server, &["--repeat", "3", "--max-per-connection", "2"]).await;
    assert_eq!(run.status, 69, "stderr {}", run.stderr);
    let v = run.json();
    assert_eq!(v["greeting"]["message"], "first.pool.test ESMTP");
    assert_eq!(statuses(&v), ["delivered", "delivered", "permanent"]);
    let err = &v["error"];
    assert_eq!(err["code"], 554);
    assert_eq!(err["permanent"], true);
    assert_eq!(err["command"], Value::Null);
    let r = &recipients(&v["transactions"][2])[0];
    assert_eq!(r["code"], 554);
    // No ENHANCEDSTATUSCODES: the code stays in the text.
    assert_eq!(r["message"], "5.3.2 no more today");
    assert_eq!(server.mails(), [2, 0]);
}
