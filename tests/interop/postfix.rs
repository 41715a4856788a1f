//! Postfix 2525 (MX style: no AUTH; STARTTLS offered but not used here)
//!
//! Postfix offers CHUNKING, so the default path is BDAT (`bdat=` in its disconnect line):
//! the delivery tests take it. The tests about dot-stuffing and line endings on DATA use
//! `chunking(false)`; their BDAT twins are here and in `postfix_bdat`.

use smtp_courier::proto::{CommandKind, EsmtpParam};
use smtp_courier::{Envelope, Error, RecipientStatus};

use crate::postfix_bdat::bdat_sent;
use crate::support::*;

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn plain_delivery() {
    let env = Env::get();
    let t = token("pf-plain");
    let rcpt = env.ok_rcpt("plain");
    let mut client = connect(&env.host, env.postfix_port).await;
    let caps = client.capabilities().expect("EHLO capabilities");
    assert!(caps.pipelining() && caps.eight_bit_mime() && caps.smtputf8());
    assert_eq!(caps.size(), Some(Some(env.size_limit)));
    let msg = message(&t, &rcpt, b"Hello from smtp-courier.\r\n");
    let env_ = Envelope::new("sender@test.example", [&rcpt]).unwrap();
    let port = client.get_ref().local_addr().unwrap().port();
    let report = client.send_bytes(&env_, &msg).await.unwrap();
    assert_delivered(&report);
    // The default path: BDAT, since Postfix offers CHUNKING.
    assert_eq!(report.recipients[0].command(), Some(CommandKind::Bdat));
    let data = report.data.as_ref().unwrap();
    assert_eq!(
        data.enhanced_code().map(|c| c.to_string()).as_deref(),
        Some("2.0.0")
    );
    assert!(
        data.message()
            .starts_with(&format!("Ok: {} bytes queued as ", msg.len())),
        "{}",
        data.message()
    );
    client.quit().await.unwrap();
    assert_eq!(
        postfix_disconnect_stats(&env, &env.host, port).await,
        "ehlo=1 mail=1 rcpt=1 bdat=1 quit=1 commands=5"
    );

    let (added, stored) = postfix_stored(&env, &t).await;
    assert!(
        added.starts_with("Return-Path: <sender@test.example>\n"),
        "{added}"
    );
    assert!(
        added.contains(&format!("X-Original-To: {rcpt}\n")),
        "{added}"
    );
    assert!(added.contains("with ESMTP id "), "{added}");
    assert_bytes_eq(&stored, &crlf_to_lf(&msg), "Postfix maildir copy");
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn content_dots_and_long_line() {
    let env = Env::get();
    let t = token("pf-dots");
    let rcpt = env.ok_rcpt("dots");
    // DATA: dot-stuffing is the point (the BDAT twin is
    // `postfix_bdat::bdat_delivery_byte_for_byte`, the same content unstuffed).
    let config = config().chunking(false);
    let (mut client, writes) = connect_recorded(&env.host, env.postfix_port, config).await;
    let msg = message(&t, &rcpt, &dots_and_long_line(&t));
    let report = client
        .send_bytes(
            &Envelope::new("sender@test.example", [&rcpt]).unwrap(),
            &msg,
        )
        .await
        .unwrap();
    assert_delivered(&report);
    client.quit().await.unwrap();

    // On the wire: dot-stuffed (RFC 5321 §4.5.2), each line ≤ 1000 octets with its CRLF.
    let w = wire(&writes);
    let data = data_section(&w);
    assert!(find(data, b"\r\n..leading dot\r\n").is_some());
    assert!(find(data, b"\r\n...two leading dots\r\n").is_some());
    assert!(
        find(data, b"\r\n..\r\n. dot space").is_none(),
        "'. dot space' must be stuffed"
    );
    assert!(find(data, b"\r\n..\r\n... dot space").is_none());
    assert!(data.ends_with(format!("last line {t}\r\n..\r\n.\r\n").as_bytes()));
    assert!(data.split(|&b| b == b'\n').all(|l| l.len() <= 1000));

    let (_, stored) = postfix_stored(&env, &t).await;
    assert_bytes_eq(
        &stored,
        &crlf_to_lf(&crlf_normalised(&msg)),
        "Postfix maildir copy",
    );
    assert!(stored.ends_with(format!("last line {t}\n.\n").as_bytes()));
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn content_8bitmime() {
    let env = Env::get();
    let t = token("pf-8bit");
    let rcpt = env.ok_rcpt("eightbit");
    let (mut client, writes) = connect_recorded(&env.host, env.postfix_port, config()).await;
    let msg = message(&t, &rcpt, &eight_bit(&t));
    let envelope = Envelope::new("sender@test.example", [&rcpt])
        .unwrap()
        .with_param(EsmtpParam::body_8bitmime())
        .unwrap();
    let report = client.send_bytes(&envelope, &msg).await.unwrap();
    assert_delivered(&report);
    client.quit().await.unwrap();

    let mail = format!(
        "MAIL FROM:<sender@test.example> SIZE={} BODY=8BITMIME\r\n",
        msg.len()
    );
    assert!(
        find(&wire(&writes), mail.as_bytes()).is_some(),
        "{:?}",
        write_texts(&writes)
    );
    let (_, stored) = postfix_stored(&env, &t).await;
    assert_bytes_eq(&stored, &crlf_to_lf(&msg), "Postfix maildir copy");
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn content_bare_line_endings_normalised() {
    let env = Env::get();
    let t = token("pf-smuggle");
    let t2 = token("pf-smuggle-next");
    let rcpt = env.ok_rcpt("smuggle");
    // DATA: a bare `\n.\n` would end the data early there (the BDAT twin follows).
    let config = config().chunking(false);
    let (mut client, writes) = connect_recorded(&env.host, env.postfix_port, config).await;
    let msg = message(&t, &rcpt, &smuggling(&t));
    let envelope = Envelope::new("sender@test.example", [&rcpt]).unwrap();
    let report = client.send_bytes(&envelope, &msg).await.unwrap();
    assert_delivered(&report);
    // The session is still in step with the server: a second message goes through.
    let report = client
        .send_bytes(&envelope, &message(&t2, &rcpt, b"next\r\n"))
        .await
        .unwrap();
    assert_delivered(&report);
    let port = client.get_ref().local_port();
    client.quit().await.unwrap();

    let w = wire(&writes);
    let data = data_section(&w);
    assert_no_bare_line_endings(data);
    assert_eq!(
        count(data, b"\r\n.\r\n"),
        1,
        "exactly one end-of-data in the first message"
    );
    assert!(data.ends_with(format!("last line {t}\r\n.\r\n").as_bytes()));

    let (_, stored) = postfix_stored(&env, &t).await;
    assert_bytes_eq(
        &stored,
        &crlf_to_lf(&crlf_normalised(&msg)),
        "Postfix maildir copy",
    );
    for after in [
        "after LF.LF",
        "after CR.CR",
        "after LF.CRLF",
        "after CRLF.LF",
        "after CRLF.CR",
    ] {
        assert!(
            find(&stored, after.as_bytes()).is_some(),
            "{after} is missing"
        );
    }
    postfix_one(&env, &t2).await;
    // Postfix saw two messages and no stray command (the smuggled MAIL stayed content).
    let stats = postfix_disconnect_stats(&env, &env.host, port).await;
    assert_eq!(stats, "ehlo=1 mail=2 rcpt=2 data=2 quit=1 commands=8");
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn content_bare_line_endings_normalised_bdat() {
    // The BDAT twin: the chunk sizes count the CRLFs the bare line endings became, so a
    // smuggled MAIL stays content and the session stays in step.
    let env = Env::get();
    let t = token("pf-smuggle-bdat");
    let t2 = token("pf-smuggle-bdat-next");
    let rcpt = env.ok_rcpt("smuggle-bdat");
    let (mut client, writes) = connect_recorded(&env.host, env.postfix_port, config()).await;
    let msg = message(&t, &rcpt, &smuggling(&t));
    let envelope = Envelope::new("sender@test.example", [&rcpt]).unwrap();
    let report = client.send_bytes(&envelope, &msg).await.unwrap();
    assert_delivered(&report);
    assert_eq!(report.recipients[0].command(), Some(CommandKind::Bdat));
    let report = client
        .send_bytes(&envelope, &message(&t2, &rcpt, b"next\r\n"))
        .await
        .unwrap();
    assert_delivered(&report);
    let port = client.get_ref().local_port();
    client.quit().await.unwrap();

    let sent = bdat_sent(&wire(&writes));
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_no_bare_line_endings(&sent[0].content);
    assert_bytes_eq(&sent[0].content, &crlf_normalised(&msg), "BDAT content");
    let (_, stored) = postfix_stored(&env, &t).await;
    assert_bytes_eq(
        &stored,
        &crlf_to_lf(&crlf_normalised(&msg)),
        "Postfix copy of the BDAT message",
    );
    postfix_one(&env, &t2).await;
    let stats = postfix_disconnect_stats(&env, &env.host, port).await;
    assert_eq!(stats, "ehlo=1 mail=2 rcpt=2 bdat=2 quit=1 commands=8");
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn mixed_recipients_one_copy() {
    let env = Env::get();
    let t = token("pf-mixed");
    let ok = env.ok_rcpt("mixed-ok");
    let mut client = connect(&env.host, env.postfix_port).await;
    let envelope = Envelope::new(
        "sender@test.example",
        [&env.reject_rcpt, &ok, &env.defer_rcpt],
    )
    .unwrap();
    let report = client
        .send_bytes(&envelope, &message(&t, &ok, b"mixed\r\n"))
        .await
        .unwrap();
    assert_eq!(
        rcpt_status(&report),
        [
            RecipientStatus::Permanent,
            RecipientStatus::Delivered,
            RecipientStatus::Transient
        ],
        "{report:#?}"
    );
    assert_refused(&report, 0, 550, "5.1.1", RecipientStatus::Permanent);
    assert_refused(&report, 2, 450, "4.2.0", RecipientStatus::Transient);
    assert_eq!(report.recipients[1].command(), Some(CommandKind::Bdat));
    assert!(
        report.error.is_none(),
        "one recipient was delivered: {report:#?}"
    );
    assert_eq!(report.data.as_ref().map(|r| r.code().as_u16()), Some(250));
    assert!(client.is_usable());
    client.quit().await.unwrap();

    let (added, _) = postfix_stored(&env, &t).await; // exactly one copy
    assert!(added.contains(&format!("X-Original-To: {ok}\n")), "{added}");
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn relay_denied() {
    let env = Env::get();
    let t = token("pf-relay");
    let t2 = token("pf-relay-ok");
    let ok = env.ok_rcpt("relay-ok");
    let mut client = connect(&env.host, env.postfix_port).await;
    let envelope = Envelope::new("sender@test.example", ["someone@example.org"]).unwrap();
    let report = client
        .send_bytes(
            &envelope,
            &message(&t, "someone@example.org", b"relay?\r\n"),
        )
        .await
        .unwrap();
    assert_refused(&report, 0, 554, "5.7.1", RecipientStatus::Permanent);
    assert!(
        report.data.is_none(),
        "no data without an accepted recipient"
    );
    let err = report.error.as_ref().expect("transaction error");
    assert!(err.is_permanent() && err.connection_usable(), "{err:?}");
    assert!(
        err.reply()
            .unwrap()
            .message()
            .contains("Relay access denied"),
        "{err}"
    );

    // Positive twin on the same connection (after the library's RSET).
    let report = client
        .send_bytes(
            &Envelope::new("sender@test.example", [&ok]).unwrap(),
            &message(&t2, &ok, b"ok\r\n"),
        )
        .await
        .unwrap();
    assert_delivered(&report);
    client.quit().await.unwrap();
    postfix_one(&env, &t2).await;
    assert_eq!(postfix_count_now(&env, &t), 0);
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn declared_size_over_limit_refused_before_sending() {
    let env = Env::get();
    let t = token("pf-size-declared");
    let t2 = token("pf-size-at-limit");
    let rcpt = env.ok_rcpt("size");
    let (mut client, writes) = connect_recorded(&env.host, env.postfix_port, config()).await;
    let before = writes.lock().unwrap().len();
    let too_big = Envelope::new("sender@test.example", [&rcpt])
        .unwrap()
        .with_size(env.size_limit + 1);
    let report = client
        .send_bytes(&too_big, &message(&t, &rcpt, b"small\r\n"))
        .await
        .unwrap();
    match &report.error {
        Some(Error::TooLarge { size, limit }) => {
            assert_eq!((*size, *limit), (env.size_limit + 1, env.size_limit));
        }
        other => panic!("expected Error::TooLarge, got {other:?}"),
    }
    assert_eq!(rcpt_status(&report), [RecipientStatus::Permanent]);
    assert_eq!(
        writes.lock().unwrap().len(),
        before,
        "nothing may be sent: {:?}",
        write_texts(&writes)
    );

    // Twin: exactly at the limit is declared and accepted, on the same connection.
    let at_limit = Envelope::new("sender@test.example", [&rcpt])
        .unwrap()
        .with_size(env.size_limit);
    let report = client
        .send_bytes(&at_limit, &message(&t2, &rcpt, b"small\r\n"))
        .await
        .unwrap();
    assert_delivered(&report);
    let mail = format!(
        "MAIL FROM:<sender@test.example> SIZE={}\r\n",
        env.size_limit
    );
    assert!(
        find(&wire(&writes), mail.as_bytes()).is_some(),
        "{:?}",
        write_texts(&writes)
    );
    client.quit().await.unwrap();
    postfix_one(&env, &t2).await;
    assert_eq!(postfix_count_now(&env, &t), 0);
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn oversized_body_refused_by_server() {
    // By BDAT (the default): `552 5.3.4 Chunk exceeds message size limit` to the chunk
    // that crosses the limit; by DATA: 552 5.3.4 after the end of data.
    for (chunking, command) in [(true, CommandKind::Bdat), (false, CommandKind::DataEnd)] {
        oversized_body_refused(chunking, command).await;
    }
}

async fn oversized_body_refused(chunking: bool, command: CommandKind) {
    let env = Env::get();
    let t = token("pf-size-real");
    let t2 = token("pf-size-real-ok");
    let rcpt = env.ok_rcpt("size-real");
    let config = config().chunking(chunking);
    let (mut client, writes) = connect_recorded(&env.host, env.postfix_port, config).await;
    let big = oversized(&t, &rcpt, env.size_limit);
    // `send` with no declared size: no SIZE= goes out, so only the server can refuse.
    let envelope = Envelope::new("sender@test.example", [&rcpt]).unwrap();
    let report = client.send(&envelope, &big[..]).await.unwrap();
    let r = &report.recipients[0];
    assert_eq!(r.status(), RecipientStatus::Permanent, "{report:#?}");
    assert_eq!(r.command(), Some(command), "{report:#?}");
    assert_eq!(
        r.reply().map(|r| r.code().as_u16()),
        Some(552),
        "{report:#?}"
    );
    assert_eq!(
        r.reply()
            .and_then(|r| r.enhanced_code())
            .map(|c| c.to_string())
            .as_deref(),
        Some("5.3.4")
    );
    assert!(report.error.is_some());
    assert!(
        find(&wire(&writes), b"MAIL FROM:<sender@test.example>\r\n").is_some(),
        "no SIZE= expected"
    );

    // Twin: the connection is still usable and a small message goes through.
    let report = client
        .send_bytes(&envelope, &message(&t2, &rcpt, b"small\r\n"))
        .await
        .unwrap();
    assert_delivered(&report);
    client.quit().await.unwrap();
    postfix_one(&env, &t2).await;
    assert_eq!(postfix_count_now(&env, &t), 0);
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn ten_transactions_one_connection() {
    let env = Env::get();
    let rcpt = env.ok_rcpt("many");
    let (mut client, writes) = connect_recorded(&env.host, env.postfix_port, config()).await;
    let port = client.get_ref().local_port();
    let envelope = Envelope::new("sender@test.example", [&rcpt]).unwrap();
    let mut tokens = Vec::new();
    for i in 0..10 {
        let t = token(&format!("pf-many{i}"));
        let report = client
            .send_bytes(
                &envelope,
                &message(&t, &rcpt, format!("message {i}\r\n").as_bytes()),
            )
            .await
            .unwrap();
        assert_delivered(&report);
        tokens.push(t);
    }
    client.quit().await.unwrap();
    // The first MAIL waits for its 250 before any content; every later one takes its
    // chunk along in the same write (one round trip per message).
    let texts = write_texts(&writes);
    let mails: Vec<&String> = texts.iter().filter(|w| w.starts_with("MAIL ")).collect();
    assert_eq!(mails.len(), 10, "{texts:?}");
    assert!(!mails[0].contains("BDAT"), "{texts:?}");
    assert!(
        mails[1..].iter().all(|w| w.contains("\r\nBDAT ")),
        "{texts:?}"
    );
    let stats = postfix_disconnect_stats(&env, &env.host, port).await;
    assert_eq!(stats, "ehlo=1 mail=10 rcpt=10 bdat=10 quit=1 commands=32");
    for t in &tokens {
        postfix_one(&env, t).await;
    }
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn pipelining_one_write() {
    let env = Env::get();
    let (a, b) = (env.ok_rcpt("pipe-a"), env.ok_rcpt("pipe-b"));
    let envelope = Envelope::new("sender@test.example", [&a, &b]).unwrap();

    let envelope_line = |msg: &[u8]| {
        format!(
            "MAIL FROM:<sender@test.example> SIZE={}\r\nRCPT TO:<{a}>\r\nRCPT TO:<{b}>\r\n",
            msg.len()
        )
    };
    let chunk = |msg: &[u8]| {
        let mut c = format!("BDAT {} LAST\r\n", msg.len()).into_bytes();
        c.extend_from_slice(msg);
        String::from_utf8(c).unwrap()
    };

    // The default path, BDAT (RFC 3030 with RFC 2920): the first message's MAIL and both
    // RCPTs leave in one write and its chunk after their replies (no content before a
    // MAIL was accepted); the second message's MAIL, RCPTs and chunk in one write.
    let (t, t2) = (token("pf-pipe"), token("pf-pipe-2"));
    let (msg, msg2) = (
        message(&t, &a, b"pipelined\r\n"),
        message(&t2, &a, b"pipelined too\r\n"),
    );
    let (mut client, writes) = connect_recorded(&env.host, env.postfix_port, config()).await;
    let port = client.get_ref().local_port();
    assert_delivered(&client.send_bytes(&envelope, &msg).await.unwrap());
    assert_delivered(&client.send_bytes(&envelope, &msg2).await.unwrap());
    client.quit().await.unwrap();
    let (texts, i) = mail_write(&writes);
    assert_eq!(texts[i], envelope_line(&msg), "{texts:?}");
    assert_eq!(texts[i + 1], chunk(&msg), "{texts:?}");
    assert_eq!(
        texts[i + 2],
        [envelope_line(&msg2), chunk(&msg2)].concat(),
        "{texts:?}"
    );
    assert_eq!(
        postfix_disconnect_stats(&env, &env.host, port).await,
        "ehlo=1 mail=2 rcpt=4 bdat=2 quit=1 commands=10"
    );
    let session = postfix_session_log(&env, &env.host, port);
    assert!(!session.is_empty());
    assert!(
        !session
            .iter()
            .any(|l| l.contains("improper command pipelining")),
        "{session:#?}"
    );
    assert_eq!(postfix_copies(&env, &t, 2).await.len(), 2);
    assert_eq!(postfix_copies(&env, &t2, 2).await.len(), 2);

    // Twin with DATA: MAIL, both RCPTs and DATA leave in one write (RFC 2920 §3.1).
    let t = token("pf-pipe-data");
    let msg = message(&t, &a, b"pipelined\r\n");
    let (mut client, writes) =
        connect_recorded(&env.host, env.postfix_port, config().chunking(false)).await;
    let port = client.get_ref().local_port();
    assert_delivered(&client.send_bytes(&envelope, &msg).await.unwrap());
    client.quit().await.unwrap();
    let (texts, i) = mail_write(&writes);
    assert_eq!(
        texts[i],
        format!("{}DATA\r\n", envelope_line(&msg)),
        "{texts:?}"
    );
    // The whole message and its terminator went out together too.
    assert!(texts[i + 1].ends_with("pipelined\r\n.\r\n"), "{texts:?}");
    assert_eq!(
        postfix_disconnect_stats(&env, &env.host, port).await,
        "ehlo=1 mail=1 rcpt=2 data=1 quit=1 commands=6"
    );
    assert_eq!(postfix_copies(&env, &t, 2).await.len(), 2);

    // Twin: with pipelining off, each command is its own write, the chunk too.
    let t = token("pf-lockstep");
    let msg = message(&t, &a, b"lock-step\r\n");
    let (mut client, writes) =
        connect_recorded(&env.host, env.postfix_port, config().pipelining(false)).await;
    assert_delivered(&client.send_bytes(&envelope, &msg).await.unwrap());
    client.quit().await.unwrap();
    let (texts, i) = mail_write(&writes);
    assert_eq!(
        texts[i..i + 4],
        [
            format!("MAIL FROM:<sender@test.example> SIZE={}\r\n", msg.len()),
            format!("RCPT TO:<{a}>\r\n"),
            format!("RCPT TO:<{b}>\r\n"),
            chunk(&msg),
        ],
        "{texts:?}"
    );
    assert_eq!(postfix_copies(&env, &t, 2).await.len(), 2);
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn null_reverse_path() {
    let env = Env::get();
    let t = token("pf-null");
    let rcpt = env.ok_rcpt("null-sender");
    let (mut client, writes) = connect_recorded(&env.host, env.postfix_port, config()).await;
    let envelope = Envelope::new("", [&rcpt]).unwrap();
    let msg = message(&t, &rcpt, b"a bounce\r\n");
    assert_delivered(&client.send_bytes(&envelope, &msg).await.unwrap());
    client.quit().await.unwrap();
    let mail = format!("MAIL FROM:<> SIZE={}\r\n", msg.len());
    assert!(
        find(&wire(&writes), mail.as_bytes()).is_some(),
        "{:?}",
        write_texts(&writes)
    );
    let (added, stored) = postfix_stored(&env, &t).await;
    assert!(added.starts_with("Return-Path: <>\n"), "{added}");
    assert_bytes_eq(&stored, &crlf_to_lf(&msg), "Postfix maildir copy");
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn smtputf8_address() {
    let env = Env::get();
    let t = token("pf-utf8");
    let rcpt = "jürgen.用户@test.example";
    let (mut client, writes) = connect_recorded(&env.host, env.postfix_port, config()).await;
    let envelope = Envelope::new("sender@test.example", [rcpt]).unwrap();
    let msg = message(&t, rcpt, "Grüße\r\n".as_bytes());
    assert_delivered(&client.send_bytes(&envelope, &msg).await.unwrap());
    // Twin: an ASCII envelope does not declare SMTPUTF8.
    let t2 = token("pf-utf8-ascii");
    let ascii = env.ok_rcpt("ascii");
    let envelope2 = Envelope::new("sender@test.example", [&ascii]).unwrap();
    let msg2 = message(&t2, &ascii, b"plain\r\n");
    assert_delivered(&client.send_bytes(&envelope2, &msg2).await.unwrap());
    client.quit().await.unwrap();

    let w = wire(&writes);
    let mail = format!(
        "MAIL FROM:<sender@test.example> SIZE={} SMTPUTF8\r\n",
        msg.len()
    );
    assert!(
        find(&w, mail.as_bytes()).is_some(),
        "{:?}",
        write_texts(&writes)
    );
    assert!(find(&w, format!("RCPT TO:<{rcpt}>\r\n").as_bytes()).is_some());
    let mail2 = format!("MAIL FROM:<sender@test.example> SIZE={}\r\n", msg2.len());
    assert!(
        find(&w, mail2.as_bytes()).is_some(),
        "{:?}",
        write_texts(&writes)
    );

    let (added, stored) = postfix_stored(&env, &t).await;
    assert!(
        added.contains(&format!("X-Original-To: {rcpt}\n")),
        "{added}"
    );
    assert!(added.contains("with UTF8SMTP id "), "{added}");
    assert_bytes_eq(&stored, &crlf_to_lf(&msg), "Postfix maildir copy");
    let (added2, _) = postfix_stored(&env, &t2).await;
    assert!(added2.contains("with ESMTP id "), "{added2}");
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn ipv6() {
    let env = Env::get();
    assert!(
        !env.host6.is_empty(),
        "SMTP_REAL_HOST6 is empty: start.sh found no IPv6 loopback on this machine"
    );
    let t = token("pf-ipv6");
    let rcpt = env.ok_rcpt("ipv6");
    let (mut client, _) = connect_recorded(&env.host6, env.postfix_port, config()).await;
    let port = client.get_ref().local_port();
    let msg = message(&t, &rcpt, b"over IPv6\r\n");
    assert_delivered(
        &client
            .send_bytes(
                &Envelope::new("sender@test.example", [&rcpt]).unwrap(),
                &msg,
            )
            .await
            .unwrap(),
    );
    client.quit().await.unwrap();
    let (added, stored) = postfix_stored(&env, &t).await;
    assert!(added.contains("(unknown [IPv6:::1])"), "{added}");
    assert_bytes_eq(&stored, &crlf_to_lf(&msg), "Postfix maildir copy");
    assert_eq!(
        postfix_disconnect_stats(&env, &env.host6, port).await,
        "ehlo=1 mail=1 rcpt=1 bdat=1 quit=1 commands=5"
    );
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn quit() {
    let env = Env::get();
    let (config, lines) = server_lines();
    let (client, writes) = connect_recorded(&env.host, env.postfix_port, config).await;
    let port = client.get_ref().local_port();
    client.quit().await.unwrap();
    assert_eq!(
        write_texts(&writes).last().map(String::as_str),
        Some("QUIT\r\n")
    );
    assert_eq!(
        lines.lock().unwrap().last().map(String::as_str),
        Some("221 2.0.0 Bye")
    );
    assert_eq!(
        postfix_disconnect_stats(&env, &env.host, port).await,
        "ehlo=1 quit=1 commands=2"
    );
}
