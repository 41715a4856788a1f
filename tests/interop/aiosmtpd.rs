//! aiosmtpd 2526 (stores the DATA bytes as received: CRLF kept, no headers added; no
//! PIPELINING; SIZE 10240000; every recipient accepted)

use smtp_courier::proto::{CommandKind, EsmtpParam};
use smtp_courier::{Envelope, Error, RecipientStatus};

use crate::support::*;

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn plain_delivery() {
    let env = Env::get();
    let t = token("aio-plain");
    let (a, b) = ("one@test.example", "two@example.org");
    let mut client = connect(&env.host, env.aiosmtpd_port).await;
    let msg = message(&t, a, b"Hello aiosmtpd.\r\n");
    let report = client
        .send_bytes(&Envelope::new("sender@test.example", [a, b]).unwrap(), &msg)
        .await
        .unwrap();
    assert_delivered(&report);
    client.quit().await.unwrap();
    let (eml, meta) = aiosmtpd_one(&env, &t).await;
    assert_bytes_eq(&eml, &msg, "aiosmtpd .eml");
    assert_eq!(meta["mail_from"], "sender@test.example");
    assert_eq!(meta["rcpt_tos"], serde_json::json!([a, b]));
    assert_eq!(
        meta["mail_options"],
        serde_json::json!([format!("SIZE={}", msg.len())])
    );
    assert_eq!(meta["helo"], "client.test.example");
    assert_eq!(meta["smtp_utf8"], false);
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn content_byte_for_byte() {
    let env = Env::get();
    let rcpt = "content@test.example";
    let mut client = connect(&env.host, env.aiosmtpd_port).await;
    let mut sent = Vec::new();
    for (label, body, eight) in [
        ("aio-dots", dots_and_long_line as fn(&str) -> Vec<u8>, false),
        ("aio-8bit", eight_bit, true),
        ("aio-smuggle", smuggling, false),
    ] {
        let t = token(label);
        let msg = message(&t, rcpt, &body(&t));
        let mut envelope = Envelope::new("sender@test.example", [rcpt]).unwrap();
        if eight {
            envelope = envelope.with_param(EsmtpParam::body_8bitmime()).unwrap();
        }
        assert_delivered(&client.send_bytes(&envelope, &msg).await.unwrap());
        sent.push((t, msg, eight));
    }
    client.quit().await.unwrap();
    for (t, msg, eight) in sent {
        let (eml, meta) = aiosmtpd_one(&env, &t).await;
        assert_bytes_eq(&eml, &crlf_normalised(&msg), &t);
        let mut opts = vec![format!("SIZE={}", crlf_normalised(&msg).len())];
        if eight {
            opts.push("BODY=8BITMIME".into());
        }
        assert_eq!(meta["mail_options"], serde_json::json!(opts), "{t}");
        assert_eq!(meta["size"], eml.len(), "{t}");
    }
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn no_pipelining_lock_step() {
    let env = Env::get();
    let t = token("aio-lockstep");
    let (a, b) = ("lock-a@test.example", "lock-b@test.example");
    // Pipelining is on in the config, but aiosmtpd does not offer it.
    let (mut client, writes) = connect_recorded(&env.host, env.aiosmtpd_port, config()).await;
    assert!(!client.capabilities().unwrap().pipelining());
    let msg = message(&t, a, b"lock-step\r\n");
    assert_delivered(
        &client
            .send_bytes(&Envelope::new("sender@test.example", [a, b]).unwrap(), &msg)
            .await
            .unwrap(),
    );
    client.quit().await.unwrap();
    let (texts, i) = mail_write(&writes);
    assert_eq!(
        texts[i..i + 4],
        [
            format!("MAIL FROM:<sender@test.example> SIZE={}\r\n", msg.len()),
            format!("RCPT TO:<{a}>\r\n"),
            format!("RCPT TO:<{b}>\r\n"),
            "DATA\r\n".to_owned()
        ],
        "{texts:?}"
    );
    let (eml, _) = aiosmtpd_one(&env, &t).await;
    assert_bytes_eq(&eml, &msg, "aiosmtpd .eml");
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn null_reverse_path() {
    let env = Env::get();
    let t = token("aio-null");
    let mut client = connect(&env.host, env.aiosmtpd_port).await;
    let msg = message(&t, "null@test.example", b"bounce\r\n");
    assert_delivered(
        &client
            .send_bytes(&Envelope::new("", ["null@test.example"]).unwrap(), &msg)
            .await
            .unwrap(),
    );
    client.quit().await.unwrap();
    let (eml, meta) = aiosmtpd_one(&env, &t).await;
    assert_eq!(meta["mail_from"], "<>"); // aiosmtpd keeps the null path as "<>"
    assert_bytes_eq(&eml, &msg, "aiosmtpd .eml");
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn smtputf8_address() {
    let env = Env::get();
    let t = token("aio-utf8");
    let from = "élise@test.example";
    let rcpt = "用户@test.example";
    let mut client = connect(&env.host, env.aiosmtpd_port).await;
    let msg = message(&t, rcpt, "Grüße\r\n".as_bytes());
    assert_delivered(
        &client
            .send_bytes(&Envelope::new(from, [rcpt]).unwrap(), &msg)
            .await
            .unwrap(),
    );
    client.quit().await.unwrap();
    let (eml, meta) = aiosmtpd_one(&env, &t).await;
    assert_eq!(meta["smtp_utf8"], true);
    assert_eq!(meta["mail_from"], from);
    assert_eq!(meta["rcpt_tos"], serde_json::json!([rcpt]));
    assert_bytes_eq(&eml, &msg, "aiosmtpd .eml");
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn size_limits() {
    let env = Env::get();
    let rcpt = "size@test.example";
    let (mut client, writes) = connect_recorded(&env.host, env.aiosmtpd_port, config()).await;

    // Declared above the advertised SIZE: refused by the library, nothing sent.
    let t = token("aio-size-declared");
    let before = writes.lock().unwrap().len();
    let too_big = Envelope::new("sender@test.example", [rcpt])
        .unwrap()
        .with_size(env.size_limit + 1);
    let report = client
        .send_bytes(&too_big, &message(&t, rcpt, b"small\r\n"))
        .await
        .unwrap();
    assert!(
        matches!(report.error, Some(Error::TooLarge { .. })),
        "{report:#?}"
    );
    assert_eq!(
        writes.lock().unwrap().len(),
        before,
        "{:?}",
        write_texts(&writes)
    );

    // Not declared, but really too big: aiosmtpd reads it all, then refuses with 552.
    let t2 = token("aio-size-real");
    let envelope = Envelope::new("sender@test.example", [rcpt]).unwrap();
    let report = client
        .send(&envelope, &oversized(&t2, rcpt, env.size_limit)[..])
        .await
        .unwrap();
    let r = &report.recipients[0];
    assert_eq!(r.status(), RecipientStatus::Permanent, "{report:#?}");
    assert_eq!(r.command(), Some(CommandKind::DataEnd), "{report:#?}");
    assert_eq!(
        r.reply().map(|r| r.code().as_u16()),
        Some(552),
        "{report:#?}"
    );

    // Twin: the same connection still delivers a small message.
    let t3 = token("aio-size-ok");
    let msg = message(&t3, rcpt, b"small\r\n");
    assert_delivered(&client.send_bytes(&envelope, &msg).await.unwrap());
    client.quit().await.unwrap();
    assert_bytes_eq(&aiosmtpd_one(&env, &t3).await.0, &msg, "aiosmtpd .eml");
    assert_eq!(aiosmtpd_count_now(&env, &t), 0);
    assert_eq!(aiosmtpd_count_now(&env, &t2), 0);
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn quit() {
    let env = Env::get();
    let (config, lines) = server_lines();
    let (client, writes) = connect_recorded(&env.host, env.aiosmtpd_port, config).await;
    client.quit().await.unwrap();
    assert_eq!(
        write_texts(&writes).last().map(String::as_str),
        Some("QUIT\r\n")
    );
    assert_eq!(
        lines.lock().unwrap().last().map(String::as_str),
        Some("221 Bye")
    );
}
