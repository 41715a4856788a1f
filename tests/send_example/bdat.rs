//! CHUNKING (RFC 3030) through `send`: BDAT when offered, `--chunk-size`, `--no-chunking`
//! and `--binarymime`, against scripted servers, with the exact bytes each received.

use super::script::{Scripted, closing, expect, opening, reply};
use super::*;

/// PIPELINING, SIZE, ENHANCEDSTATUSCODES and CHUNKING.
const CAPS_CHUNKING: &str = "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n\
                             250-ENHANCEDSTATUSCODES\r\n250 CHUNKING\r\n";
/// The same without PIPELINING: every chunk waits for the reply to the one before.
const CAPS_LOCK_STEP: &str =
    "250-mx.test\r\n250-SIZE 1000000\r\n250-ENHANCEDSTATUSCODES\r\n250 CHUNKING\r\n";
/// CHUNKING and BINARYMIME.
const CAPS_BINARY: &str = "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n\
                           250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250 BINARYMIME\r\n";

/// `send` against `server` (TLS off, JSON), the message on stdin.
pub(crate) async fn send_script(server: &Scripted, extra: &[&str], message: &[u8]) -> Run {
    let mut args = vec![
        "--server",
        server.addr.as_str(),
        "--tls",
        "skip",
        "--json",
        "--timeout",
        "5",
        "--from",
        "me@example.org",
        "--data",
        "-",
    ];
    args.extend_from_slice(extra);
    send_with_stdin(&args, Some(message)).await
}

/// The message of these tests, and what it is after normalisation (21 octets).
const MESSAGE: &[u8] = b"Subject: t\n\nhello\n";
const NORMALISED: &str = "Subject: t\r\n\r\nhello\r\n";

#[tokio::test]
async fn bdat_when_offered_with_mail_rcpt_and_chunk_in_one_write() {
    let group = format!(
        "MAIL FROM:<me@example.org> SIZE=21\r\nRCPT TO:<a@example.net>\r\nBDAT 21 LAST\r\n{NORMALISED}"
    );
    let server = Scripted::start(script_of(vec![
        opening("EHLO", CAPS_CHUNKING),
        vec![
            expect(&group),
            reply("250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.0.0 queued as B1\r\n"),
        ],
        closing(),
    ]))
    .await;
    let run = send_script(&server, &["--to", "a@example.net"], MESSAGE).await;
    let got = server.finish().await;
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    let tx = &run.json()["transactions"][0];
    let r = &recipients(tx)[0];
    assert_eq!(r["status"], "delivered");
    assert_eq!(r["command"], "BDAT");
    assert_eq!(r["code"], 250);
    assert_eq!(r["enhanced_code"], "2.0.0");
    assert_eq!(r["message"], "queued as B1");
    assert_eq!(tx["data"]["message"], "queued as B1");
    assert!(tx["error"].is_null());
    // RFC 3030 §4 with RFC 2920: MAIL, RCPT and the chunk left in one write.
    let mail_at = got.bytes.len() - group.len() - "QUIT\r\n".len();
    assert!(got.one_read(mail_at, group.len()), "{:?}", got.reads);
    assert_eq!(
        got.after_hello(),
        [group.as_str(), "QUIT\r\n"].concat().as_bytes()
    );
}

#[tokio::test]
async fn no_chunking_sends_data_to_a_chunking_server() {
    let server = Scripted::start(script_of(vec![
        opening("EHLO", CAPS_CHUNKING),
        vec![
            expect("MAIL FROM:<me@example.org> SIZE=21\r\nRCPT TO:<a@example.net>\r\nDATA\r\n"),
            reply("250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n"),
            expect(format!("{NORMALISED}.\r\n")),
            reply("250 2.0.0 queued as D1\r\n"),
        ],
        closing(),
    ]))
    .await;
    let run = send_script(
        &server,
        &["--to", "a@example.net", "--no-chunking"],
        MESSAGE,
    )
    .await;
    server.finish().await;
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    let tx = &run.json()["transactions"][0];
    assert_eq!(recipients(tx)[0]["command"], "DATA");
    assert_eq!(tx["data"]["message"], "queued as D1");
}

/// 25 octets once normalised.
const MESSAGE_25: &[u8] = b"0123456789abcdefghijklm\n";

#[tokio::test]
async fn chunk_size_cuts_the_message_into_chunks() {
    assert_eq!(MESSAGE_25.len() + 1, 25);
    let group = "MAIL FROM:<me@example.org> SIZE=25\r\nRCPT TO:<a@example.net>\r\n\
                 BDAT 10\r\n0123456789BDAT 10\r\nabcdefghijBDAT 5 LAST\r\nklm\r\n";
    let server = Scripted::start(script_of(vec![
        opening("EHLO", CAPS_CHUNKING),
        vec![
            expect(group),
            reply("250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.0.0 10 octets\r\n"),
            reply("250 2.0.0 20 octets\r\n250 2.0.0 queued as C1\r\n"),
        ],
        closing(),
    ]))
    .await;
    let run = send_script(
        &server,
        &["--to", "a@example.net", "--chunk-size", "10"],
        MESSAGE_25,
    )
    .await;
    server.finish().await;
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    let tx = &run.json()["transactions"][0];
    let r = &recipients(tx)[0];
    assert_eq!(r["command"], "BDAT");
    // The reply to `BDAT … LAST` decides; the others decide nothing.
    assert_eq!(r["message"], "queued as C1");
    assert_eq!(tx["data"]["message"], "queued as C1");
}

#[tokio::test]
async fn refused_chunk_ends_the_message_and_the_last_chunk_never_goes() {
    // Without PIPELINING each chunk waits for the reply to the one before (RFC 3030 §4);
    // after a 5yz to a chunk, no further chunk (RFC 3030 §2).
    let server = Scripted::start(script_of(vec![
        opening("EHLO", CAPS_LOCK_STEP),
        vec![
            expect("MAIL FROM:<me@example.org> SIZE=25\r\n"),
            reply("250 2.1.0 ok\r\n"),
            expect("RCPT TO:<a@example.net>\r\n"),
            reply("250 2.1.5 ok\r\n"),
            expect("BDAT 10\r\n0123456789"),
            reply("250 2.0.0 10 octets\r\n"),
            expect("BDAT 10\r\nabcdefghij"),
            reply("554 5.6.0 content refused\r\n"),
        ],
        closing(),
    ]))
    .await;
    let run = send_script(
        &server,
        &["--to", "a@example.net", "--chunk-size", "10"],
        MESSAGE_25,
    )
    .await;
    server.finish().await;
    assert_eq!(run.status, 69, "stderr: {}", run.stderr);
    let tx = &run.json()["transactions"][0];
    let r = &recipients(tx)[0];
    assert_eq!(r["status"], "permanent");
    assert_eq!(r["command"], "BDAT");
    assert_eq!(r["code"], 554);
    assert_eq!(r["enhanced_code"], "5.6.0");
    assert_eq!(tx["error"]["kind"], "reply");
    assert_eq!(tx["error"]["command"], "BDAT");
    assert_eq!(tx["data"]["code"], 554);
}

/// Bare LF, bare CR, NUL, a byte over 127 and no final line ending: BINARYMIME keeps
/// them all.
const BINARY: &[u8] = b"Subject: bin\n\nbare\nlf\rcr\x00\xff end";

#[tokio::test]
async fn binarymime_sends_the_bytes_as_given() {
    let mut group = format!(
        "MAIL FROM:<me@example.org> SIZE={0} BODY=BINARYMIME\r\nRCPT TO:<a@example.net>\r\nBDAT {0} LAST\r\n",
        BINARY.len()
    )
    .into_bytes();
    group.extend_from_slice(BINARY);
    let server = Scripted::start(script_of(vec![
        opening("EHLO", CAPS_BINARY),
        vec![
            expect(&group),
            reply("250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.0.0 queued as M1\r\n"),
        ],
        closing(),
    ]))
    .await;
    let run = send_script(&server, &["--to", "a@example.net", "--binarymime"], BINARY).await;
    let got = server.finish().await;
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    let tx = &run.json()["transactions"][0];
    assert_eq!(recipients(tx)[0]["command"], "BDAT");
    assert_eq!(recipients(tx)[0]["status"], "delivered");
    assert_eq!(got.after_hello(), [&group[..], b"QUIT\r\n"].concat());
}

#[tokio::test]
async fn binarymime_without_the_extensions_is_an_extension_error_and_nothing_is_sent() {
    // CHUNKING without BINARYMIME, then BINARYMIME without CHUNKING (RFC 3030 §3 needs
    // both), then both offered but --no-chunking.
    let cases: &[(&str, &[&str])] = &[
        (CAPS_CHUNKING, &[]),
        (
            "250-mx.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250 BINARYMIME\r\n",
            &[],
        ),
        (CAPS_BINARY, &["--no-chunking"]),
    ];
    for (caps, extra) in cases {
        let server = Scripted::start(script_of(vec![opening("EHLO", caps), closing()])).await;
        let args = [&["--to", "a@example.net", "--binarymime"][..], extra].concat();
        let run = send_script(&server, &args, BINARY).await;
        let got = server.finish().await;
        assert_eq!(run.status, 69, "{extra:?}: stderr: {}", run.stderr);
        let v = run.json();
        assert!(v["error"].is_null(), "{extra:?}: a failure of the message");
        let tx = &v["transactions"][0];
        assert_eq!(tx["error"]["kind"], "extension", "{caps:?}");
        assert_eq!(tx["error"]["permanent"], true);
        assert!(tx["data"].is_null());
        let r = &recipients(tx)[0];
        assert_eq!(r["status"], "permanent");
        assert!(r["code"].is_null());
        // Nothing of the message: QUIT right after EHLO.
        assert_eq!(got.after_hello(), b"QUIT\r\n", "{caps:?} {extra:?}");
    }
}

#[tokio::test]
async fn chunk_size_and_window_of_zero_and_binarymime_with_8bitmime_are_usage_errors() {
    let sink = Sink::start().await.unwrap();
    let base = ["--from", "me@example.org", "--to", "a@example.net"];
    for (extra, names) in [
        (&["--chunk-size", "0"][..], "--chunk-size"),
        (&["--repeat", "2", "--window", "0"][..], "--window"),
        (&["--binarymime", "--8bitmime"][..], "--8bitmime"),
    ] {
        let run = send_to(&sink, &[&base[..], extra].concat()).await;
        assert_eq!(run.status, 64, "{extra:?}: stderr: {}", run.stderr);
        let v = run.json();
        assert_eq!(v["error"]["kind"], "usage");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(names), "{extra:?}: {msg}");
    }
    assert_eq!(sink.stats().connections, 0, "no usage error may connect");
    // The twin: accepted values, and the message is delivered (the sink has no CHUNKING:
    // DATA).
    let run = send_to(
        &sink,
        &[&base[..], &["--chunk-size", "1", "--window", "1"]].concat(),
    )
    .await;
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    assert_eq!(sink.messages().len(), 1);
}

/// The steps of several parts, in order.
pub(crate) fn script_of(parts: Vec<Vec<super::script::Step>>) -> Vec<super::script::Step> {
    parts.into_iter().flatten().collect()
}
