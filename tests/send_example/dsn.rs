//! DSN (RFC 3461) through `send`: `--dsn-notify`, `--dsn-ret`, `--dsn-envid` and
//! `--dsn-orcpt` against scripted servers, with the exact MAIL and RCPT lines; the
//! extension error when the server lacks DSN; and the usage errors for bad values.

use super::bdat::{script_of, send_script};
use super::script::{Scripted, closing, expect, opening, reply};
use super::*;

/// PIPELINING, SIZE, ENHANCEDSTATUSCODES and DSN (no CHUNKING: the message goes by DATA).
const CAPS_DSN: &str = "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n\
                        250-ENHANCEDSTATUSCODES\r\n250 DSN\r\n";
/// The same without DSN.
const CAPS_NO_DSN: &str =
    "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250 ENHANCEDSTATUSCODES\r\n";

/// The message of these tests, and what it is after normalisation (21 octets).
const MESSAGE: &[u8] = b"Subject: t\n\nhello\n";
const NORMALISED: &str = "Subject: t\r\n\r\nhello\r\n";

/// A server offering DSN that expects exactly `envelope` (MAIL, every RCPT, DATA in one
/// pipelined group), accepts all of it and the message.
async fn dsn_server(envelope: &str, rcpts: usize) -> Scripted {
    let accepted = "250 2.1.5 ok\r\n".repeat(rcpts);
    Scripted::start(script_of(vec![
        opening("EHLO", CAPS_DSN),
        vec![
            expect(envelope),
            reply(format!("250 2.1.0 ok\r\n{accepted}354 go ahead\r\n")),
            expect(format!("{NORMALISED}.\r\n")),
            reply("250 2.0.0 queued as N1\r\n"),
        ],
        closing(),
    ]))
    .await
}

#[tokio::test]
async fn all_four_flags_put_their_parameters_on_mail_and_every_rcpt() {
    // RFC 3461 §4: RET and ENVID on MAIL (after SIZE), NOTIFY then ORCPT on every RCPT.
    // ENVID and ORCPT are xtext: "+" is "+2B", "=" is "+3D" (§4); the RCPT address itself
    // goes as given. NOTIFY is written in the RFC's order whatever the order given.
    let envelope = "MAIL FROM:<me@example.org> SIZE=21 RET=HDRS ENVID=QQ+2B31+3D4\r\n\
                    RCPT TO:<a+b@example.net> NOTIFY=SUCCESS,FAILURE \
                    ORCPT=rfc822;a+2Bb@example.net\r\n\
                    RCPT TO:<c@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c@example.net\r\n\
                    DATA\r\n";
    let server = dsn_server(envelope, 2).await;
    let run = send_script(
        &server,
        &[
            "--to",
            "a+b@example.net",
            "--to",
            "c@example.net",
            "--dsn-notify",
            "FAILURE,success",
            "--dsn-ret",
            "HDRS",
            "--dsn-envid",
            "QQ+31=4",
            "--dsn-orcpt",
        ],
        MESSAGE,
    )
    .await;
    let got = server.finish().await;
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    let v = run.json();
    assert!(
        v["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "DSN")
    );
    let tx = &v["transactions"][0];
    assert!(tx["error"].is_null());
    for r in recipients(tx) {
        assert_eq!(r["status"], "delivered");
        assert_eq!(r["command"], "DATA");
        assert_eq!(r["message"], "queued as N1");
    }
    assert_eq!(
        got.after_hello(),
        format!("{envelope}{NORMALISED}.\r\nQUIT\r\n").as_bytes()
    );
}

#[tokio::test]
async fn notify_never_and_ret_full_each_alone() {
    // NEVER on its own; RET=FULL (any case); no ENVID or ORCPT when not asked for.
    let envelope = "MAIL FROM:<me@example.org> SIZE=21 RET=FULL\r\n\
                    RCPT TO:<a@example.net> NOTIFY=NEVER\r\n\
                    DATA\r\n";
    let server = dsn_server(envelope, 1).await;
    let run = send_script(
        &server,
        &[
            "--to",
            "a@example.net",
            "--dsn-notify",
            "never",
            "--dsn-ret",
            "full",
        ],
        MESSAGE,
    )
    .await;
    server.finish().await;
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);

    // Without any DSN flag, no DSN parameter, even though the server offers DSN.
    let plain = "MAIL FROM:<me@example.org> SIZE=21\r\nRCPT TO:<a@example.net>\r\nDATA\r\n";
    let server = dsn_server(plain, 1).await;
    let run = send_script(&server, &["--to", "a@example.net"], MESSAGE).await;
    server.finish().await;
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
}

#[tokio::test]
async fn without_dsn_at_the_server_each_flag_is_an_extension_error_and_nothing_is_sent() {
    // RFC 3461 §4: no DSN parameter to a server that does not offer DSN. The twin, the
    // same flags to a server offering it, is the test above.
    let cases: &[&[&str]] = &[
        &["--dsn-notify", "SUCCESS,FAILURE"],
        &["--dsn-notify", "NEVER"],
        &["--dsn-ret", "HDRS"],
        &["--dsn-envid", "QQ314159"],
        &["--dsn-orcpt"],
    ];
    for extra in cases {
        let server =
            Scripted::start(script_of(vec![opening("EHLO", CAPS_NO_DSN), closing()])).await;
        let run = send_script(
            &server,
            &[&["--to", "a@example.net"][..], extra].concat(),
            MESSAGE,
        )
        .await;
        let got = server.finish().await;
        assert_eq!(run.status, 69, "{extra:?}: stderr: {}", run.stderr);
        let v = run.json();
        assert!(v["error"].is_null(), "{extra:?}: the connection was fine");
        let tx = &v["transactions"][0];
        assert_eq!(tx["error"]["kind"], "extension", "{extra:?}");
        assert_eq!(tx["error"]["permanent"], true, "{extra:?}");
        assert!(
            tx["error"]["message"].as_str().unwrap().contains("DSN"),
            "{extra:?}: {}",
            tx["error"]["message"]
        );
        assert!(tx["data"].is_null());
        let r = &recipients(tx)[0];
        assert_eq!(r["status"], "permanent", "{extra:?}");
        // Nothing after EHLO but QUIT: no MAIL, no RCPT, no content.
        assert_eq!(got.after_hello(), b"QUIT\r\n", "{extra:?}");
    }
}

#[tokio::test]
async fn bad_dsn_values_are_usage_errors_before_connecting() {
    let sink = Sink::start().await.unwrap();
    let server = sink.addr().to_string();
    let base = [
        "--server",
        server.as_str(),
        "--tls",
        "skip",
        "--json",
        "--from",
        "me@example.org",
        "--to",
        "a@example.net",
    ];

    // The twins: values at the edge of what is allowed get past the checks, connect, and
    // meet the sink's lack of DSN (an extension error, not a usage error).
    let longest = "x".repeat(100);
    let at_limit: &[&[&str]] = &[
        &["--dsn-notify", "success,DELAY,failure"],
        &["--dsn-notify", "SUCCESS,SUCCESS"],
        &["--dsn-envid", &longest],
        &["--dsn-envid", "a b ~!"],
        &["--dsn-ret", "Hdrs"],
    ];
    for extra in at_limit {
        let run = send(&[&base[..], extra].concat()).await;
        assert_eq!(run.status, 69, "{extra:?}: stderr: {}", run.stderr);
        assert_eq!(
            run.json()["transactions"][0]["error"]["kind"],
            "extension",
            "{extra:?}"
        );
    }
    let connected = at_limit.len() as u64;
    assert_eq!(sink.stats().connections, connected);

    let too_long = "x".repeat(101);
    // 34 octets, 102 characters once encoded: the limit is on the value as sent.
    let too_long_encoded = "+".repeat(34);
    let cases: &[&[&str]] = &[
        // RFC 3461 §4.1: NEVER cannot be combined; only the three conditions; no empty
        // element.
        &["--dsn-notify", "NEVER,SUCCESS"],
        &["--dsn-notify", "FAILURE,NEVER"],
        &["--dsn-notify", "SUCCESS,"],
        &["--dsn-notify", ",DELAY"],
        &["--dsn-notify", ""],
        &["--dsn-notify", "SUCCESS FAILURE"],
        &["--dsn-notify", "SUCCESS;FAILURE"],
        &["--dsn-notify", "ALWAYS"],
        &["--dsn-notify", "SUCCESS,FAILURE\r\nRSET"],
        // RFC 3461 §4.3: FULL or HDRS.
        &["--dsn-ret", "NONE"],
        &["--dsn-ret", "FULL,HDRS"],
        // RFC 3461 §4.4: printable US-ASCII, at most 100 characters as sent.
        &["--dsn-envid", "id\r\nRSET"],
        &["--dsn-envid", "tab\there"],
        &["--dsn-envid", "del\u{7f}"],
        &["--dsn-envid", "caf\u{e9}"],
        &["--dsn-envid", ""],
        &["--dsn-envid", &too_long],
        &["--dsn-envid", &too_long_encoded],
    ];
    for extra in cases {
        let flag = extra[0];
        let run = send(&[&base[..], extra].concat()).await;
        assert_eq!(run.status, 64, "{extra:?}: stderr: {}", run.stderr);
        let v = run.json();
        assert_eq!(v["error"]["kind"], "usage", "{extra:?}");
        assert_eq!(v["error"]["permanent"], true, "{extra:?}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(flag), "{extra:?}: {msg:?} should name {flag}");
        assert!(
            run.stderr.contains(flag),
            "{extra:?}: stderr {:?} should name {flag}",
            run.stderr
        );
        assert_eq!(v["transactions"], serde_json::json!([]), "{extra:?}");
    }
    assert_eq!(
        sink.stats().connections,
        connected,
        "no usage error may connect"
    );
    assert!(sink.messages().is_empty());
}
