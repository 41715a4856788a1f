//! `--lmtp` (RFC 2033): LHLO with no HELO fallback, and one reply per accepted recipient
//! after the message, each deciding its own recipient.

use super::bdat::{script_of, send_script};
use super::script::{Scripted, closing, expect, opening, reply};
use super::*;

const CAPS_BDAT: &str =
    "250-lmtp.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250 CHUNKING\r\n";
const CAPS_DATA: &str = "250-lmtp.test\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n";

const TO: [&str; 6] = [
    "--to",
    "a@example.net",
    "--to",
    "b@example.net",
    "--to",
    "c@example.net",
];

/// `(status, command, code, enhanced_code, message)` of each recipient.
fn outcomes(tx: &Value) -> Vec<(String, String, i64, String, String)> {
    recipients(tx)
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            (
                s("status"),
                s("command"),
                r["code"].as_i64().unwrap(),
                s("enhanced_code"),
                s("message"),
            )
        })
        .collect()
}

fn o(
    status: &str,
    command: &str,
    code: i64,
    enh: &str,
    msg: &str,
) -> (String, String, i64, String, String) {
    (
        status.to_owned(),
        command.to_owned(),
        code,
        enh.to_owned(),
        msg.to_owned(),
    )
}

#[tokio::test]
async fn lmtp_bdat_one_reply_per_recipient_after_the_message() {
    let server = Scripted::start(script_of(vec![
        opening("LHLO", CAPS_BDAT),
        vec![
            expect(
                "MAIL FROM:<me@example.org>\r\nRCPT TO:<a@example.net>\r\n\
                 RCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nBDAT 4 LAST\r\nhi\r\n",
            ),
            reply("250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n"),
            reply("250 2.0.0 <a@example.net> saved\r\n452 4.2.2 <b@example.net> over quota\r\n"),
            reply("550 5.1.1 <c@example.net> gone\r\n"),
        ],
        closing(),
    ]))
    .await;
    let run = send_script(&server, &[&TO[..], &["--lmtp"]].concat(), b"hi").await;
    server.finish().await;
    assert_eq!(run.status, 69, "stderr: {}", run.stderr);
    let v = run.json();
    let tx = &v["transactions"][0];
    assert_eq!(
        outcomes(tx),
        [
            o("delivered", "BDAT", 250, "2.0.0", "<a@example.net> saved"),
            o(
                "transient",
                "BDAT",
                452,
                "4.2.2",
                "<b@example.net> over quota"
            ),
            o("permanent", "BDAT", 550, "5.1.1", "<c@example.net> gone"),
        ]
    );
    // `data` is the last of the replies; one recipient was delivered, so the message
    // did not fail as a whole.
    assert_eq!(tx["data"]["code"], 550);
    assert_eq!(tx["data"]["message"], "<c@example.net> gone");
    assert!(tx["error"].is_null());
    assert!(v["error"].is_null());
}

#[tokio::test]
async fn lmtp_data_replies_only_for_the_accepted_recipients() {
    // b@ refused at RCPT: two replies after the data, for a@ and c@, in RCPT order.
    let server = Scripted::start(script_of(vec![
        opening("LHLO", CAPS_DATA),
        vec![
            expect(
                "MAIL FROM:<me@example.org>\r\nRCPT TO:<a@example.net>\r\n\
                 RCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n",
            ),
            reply("250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n250 2.1.5 ok\r\n"),
            reply("354 go ahead\r\n"),
            expect("hi\r\n.\r\n"),
            reply("452 4.2.2 <a@example.net> over quota\r\n250 2.0.0 <c@example.net> saved\r\n"),
        ],
        closing(),
    ]))
    .await;
    let run = send_script(&server, &[&TO[..], &["--lmtp"]].concat(), b"hi").await;
    server.finish().await;
    assert_eq!(run.status, 69, "stderr: {}", run.stderr);
    let tx = &run.json()["transactions"][0];
    assert_eq!(
        outcomes(tx),
        [
            o(
                "transient",
                "DATA",
                452,
                "4.2.2",
                "<a@example.net> over quota"
            ),
            o("permanent", "RCPT", 550, "5.1.1", "no such user"),
            o("delivered", "DATA", 250, "2.0.0", "<c@example.net> saved"),
        ]
    );
    assert_eq!(tx["data"]["message"], "<c@example.net> saved");
}

#[tokio::test]
async fn lmtp_refused_lhlo_is_a_connection_error_with_no_helo_fallback() {
    // The library ends the session at a refused LHLO (as at a refused EHLO): the client
    // hangs up, with nothing after LHLO.
    let server = Scripted::start(opening("LHLO", "500 5.5.1 command unrecognized\r\n")).await;
    let run = send_script(&server, &["--to", "a@example.net", "--lmtp"], b"hi").await;
    let got = server.finish().await;
    assert_eq!(run.status, 69, "stderr: {}", run.stderr);
    let v = run.json();
    let err = &v["error"];
    assert_eq!(err["kind"], "reply");
    assert_eq!(err["permanent"], true);
    assert_eq!(err["command"], "LHLO");
    assert_eq!(err["code"], 500);
    let r = &recipients(&v["transactions"][0])[0];
    assert_eq!(r["status"], "permanent");
    assert_eq!(r["command"], "LHLO");
    assert_eq!(r["code"], 500);
    // No HELO, no MAIL: nothing after the refusal.
    assert_eq!(got.after_hello(), b"");

    // The twin in SMTP: the same refusal of EHLO falls back to HELO (RFC 5321 §3.2).
    let server = Scripted::start(script_of(vec![
        opening("EHLO", "500 5.5.1 command unrecognized\r\n"),
        vec![
            expect("HELO localhost\r\n"),
            reply("250 mx.test\r\n"),
            expect("MAIL FROM:<me@example.org>\r\n"),
            reply("250 ok\r\n"),
            expect("RCPT TO:<a@example.net>\r\n"),
            reply("250 ok\r\n"),
            expect("DATA\r\n"),
            reply("354 go ahead\r\n"),
            expect("hi\r\n.\r\n"),
            reply("250 queued\r\n"),
        ],
        closing(),
    ]))
    .await;
    let run = send_script(&server, &["--to", "a@example.net"], b"hi").await;
    server.finish().await;
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
}

#[tokio::test]
async fn lmtp_default_port_is_24() {
    // Whatever answers on 127.0.0.1:24 (normally nothing), nothing is sent in plaintext:
    // the default --tls starttls with pkix verification comes first.
    let run = send(&[
        "--server",
        "127.0.0.1",
        "--lmtp",
        "--json",
        "--timeout",
        "2",
        "--from",
        "me@example.org",
        "--to",
        "a@example.net",
    ])
    .await;
    assert_ne!(run.status, 0, "stderr: {}", run.stderr);
    assert_eq!(run.json()["server"], "127.0.0.1:24");
    // The twin: an explicit port wins (one nothing listens on).
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let run = send(&[
        "--server",
        &closed,
        "--lmtp",
        "--json",
        "--timeout",
        "2",
        "--from",
        "me@example.org",
        "--to",
        "a@example.net",
    ])
    .await;
    assert_eq!(run.status, 75, "stderr: {}", run.stderr);
    assert_eq!(run.json()["server"], closed.as_str());
}
