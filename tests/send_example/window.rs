//! `--repeat` through `Client::send_batch`: `--window` transactions in flight when the
//! server offers PIPELINING and CHUNKING, one result per message, in order.

use super::bdat::{script_of, send_script};
use super::script::{Scripted, closing, expect, opening, quiet, reply};
use super::*;

const CAPS: &str = "250-mx.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250 CHUNKING\r\n";

/// What the server receives of one message: MAIL, RCPT and its one chunk.
fn group() -> String {
    "MAIL FROM:<me@example.org>\r\nRCPT TO:<a@example.net>\r\nBDAT 4 LAST\r\nhi\r\n".to_owned()
}

#[tokio::test]
async fn window_sends_three_at_once_and_a_refused_mail_changes_no_other_message() {
    // A sender policy refusing the second MAIL, and the rest of that group 503: the first
    // and third messages are delivered.
    let all = group().repeat(3);
    let server = Scripted::start(script_of(vec![
        opening("EHLO", CAPS),
        vec![
            expect(&all),
            reply("250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.0.0 one\r\n"),
            reply("550 5.7.1 sender refused\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n"),
            reply("250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.0.0 three\r\n"),
        ],
        closing(),
    ]))
    .await;
    let run = send_script(
        &server,
        &["--to", "a@example.net", "--repeat", "3", "--window", "8"],
        b"hi",
    )
    .await;
    let got = server.finish().await;
    assert_eq!(run.status, 69, "stderr: {}", run.stderr);
    let v = run.json();
    assert!(v["error"].is_null());
    let txs = v["transactions"].as_array().unwrap();
    assert_eq!(txs.len(), 3);
    for (tx, data) in [(&txs[0], "one"), (&txs[2], "three")] {
        assert!(tx["error"].is_null(), "{tx}");
        assert_eq!(tx["data"]["message"], data);
        let r = &recipients(tx)[0];
        assert_eq!(r["status"], "delivered");
        assert_eq!(r["command"], "BDAT");
        assert_eq!(r["message"], data);
    }
    let failed = &txs[1];
    assert_eq!(failed["error"]["kind"], "reply");
    assert_eq!(failed["error"]["permanent"], true);
    assert_eq!(failed["error"]["command"], "MAIL");
    assert_eq!(failed["error"]["code"], 550);
    assert_eq!(failed["error"]["enhanced_code"], "5.7.1");
    assert!(failed["data"].is_null());
    let r = &recipients(failed)[0];
    assert_eq!(r["status"], "permanent");
    assert_eq!(r["command"], "MAIL");
    assert_eq!(r["code"], 550);
    assert_eq!(r["message"], "sender refused");
    // The three messages left together, before any reply (RFC 2920 §3.1: MAIL may follow
    // BDAT in a group), and nothing was sent twice.
    let start = got.bytes.len() - all.len() - "QUIT\r\n".len();
    assert!(got.one_read(start, all.len()), "{:?}", got.reads);
    assert_eq!(
        got.after_hello(),
        [all.as_str(), "QUIT\r\n"].concat().as_bytes()
    );
}

#[tokio::test]
async fn window_1_sends_one_after_another_with_rset_after_a_failure() {
    // The second MAIL only after the first message's final reply; the second message's
    // chunk refused, so RSET goes before the third MAIL (RFC 5321 §4.1.1.5).
    let server = Scripted::start(script_of(vec![
        opening("EHLO", CAPS),
        vec![
            expect(group()),
            // Nothing more until the final reply.
            quiet(300),
            reply("250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.0.0 one\r\n"),
            expect(group()),
            quiet(300),
            reply("250 2.1.0 ok\r\n250 2.1.5 ok\r\n554 5.6.0 content refused\r\n"),
            expect(["RSET\r\n".to_owned(), group()].concat()),
            quiet(300),
            reply("250 2.0.0 reset\r\n250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.0.0 three\r\n"),
        ],
        closing(),
    ]))
    .await;
    let run = send_script(
        &server,
        &["--to", "a@example.net", "--repeat", "3", "--window", "1"],
        b"hi",
    )
    .await;
    server.finish().await;
    assert_eq!(run.status, 69, "stderr: {}", run.stderr);
    let v = run.json();
    let txs = v["transactions"].as_array().unwrap();
    let summary: Vec<(&str, &str, i64)> = txs
        .iter()
        .map(|tx| {
            let r = &recipients(tx)[0];
            (
                r["status"].as_str().unwrap(),
                r["command"].as_str().unwrap(),
                r["code"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("delivered", "BDAT", 250),
            ("permanent", "BDAT", 554),
            ("delivered", "BDAT", 250)
        ]
    );
    assert_eq!(txs[1]["error"]["command"], "BDAT");
    assert_eq!(txs[2]["data"]["message"], "three");
}
