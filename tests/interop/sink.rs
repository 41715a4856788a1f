//! smtp-sink 2527 (accepts and discards; PIPELINING, no SIZE, no SMTPUTF8)

use smtp_courier::{Envelope, Error, RecipientStatus};

use crate::support::*;

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn plain_delivery() {
    let env = Env::get();
    let mut client = connect(&env.host, env.sink_port).await;
    assert_eq!(
        client.capabilities().unwrap().size(),
        None,
        "smtp-sink offers no SIZE"
    );
    let t = token("sink-plain");
    // A declared size means nothing to a server without SIZE: not refused, not sent.
    let envelope = Envelope::new("sender@test.example", ["sink@test.example"])
        .unwrap()
        .with_size(env.size_limit * 2);
    let report = client
        .send_bytes(
            &envelope,
            &message(&t, "sink@test.example", b"discard me\r\n"),
        )
        .await
        .unwrap();
    assert_delivered(&report);
    client.quit().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn fifty_transactions_one_connection() {
    let env = Env::get();
    let (mut client, writes) = connect_recorded(&env.host, env.sink_port, config()).await;
    let envelope =
        Envelope::new("sender@test.example", ["a@test.example", "b@test.example"]).unwrap();
    for i in 0..50 {
        let t = token(&format!("sink-many{i}"));
        let report = client
            .send_bytes(
                &envelope,
                &message(&t, "a@test.example", b"one of fifty\r\n"),
            )
            .await
            .unwrap();
        assert_delivered(&report);
        assert_eq!(report.recipients.len(), 2);
    }
    assert!(client.is_usable());
    client.quit().await.unwrap();
    let w = wire(&writes);
    assert_eq!(count(&w, b"MAIL FROM:"), 50);
    assert_eq!(count(&w, b"EHLO "), 1, "one connection, one EHLO");
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn pipelining_one_write() {
    let env = Env::get();
    let envelope = Envelope::new(
        "",
        ["p1@test.example", "p2@test.example", "p3@test.example"],
    )
    .unwrap();
    let msg = message(&token("sink-pipe"), "p1@test.example", b"x\r\n");
    let (mut client, writes) = connect_recorded(&env.host, env.sink_port, config()).await;
    assert_delivered(&client.send_bytes(&envelope, &msg).await.unwrap());
    client.quit().await.unwrap();
    let (texts, i) = mail_write(&writes);
    assert_eq!(
        texts[i],
        "MAIL FROM:<>\r\nRCPT TO:<p1@test.example>\r\nRCPT TO:<p2@test.example>\r\nRCPT TO:<p3@test.example>\r\nDATA\r\n",
        "{texts:?}"
    );
    // Twin: lock-step when pipelining is off.
    let (mut client, writes) =
        connect_recorded(&env.host, env.sink_port, config().pipelining(false)).await;
    assert_delivered(&client.send_bytes(&envelope, &msg).await.unwrap());
    client.quit().await.unwrap();
    let (texts, i) = mail_write(&writes);
    assert_eq!(texts[i], "MAIL FROM:<>\r\n", "{texts:?}");
    assert_eq!(texts[i + 1], "RCPT TO:<p1@test.example>\r\n", "{texts:?}");
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn smtputf8_not_offered() {
    let env = Env::get();
    let (mut client, writes) = connect_recorded(&env.host, env.sink_port, config()).await;
    assert!(!client.capabilities().unwrap().smtputf8());
    let before = writes.lock().unwrap().len();
    let utf8 = Envelope::new("sender@test.example", ["用户@test.example"]).unwrap();
    let report = client
        .send_bytes(&utf8, b"Subject: x\r\n\r\nx\r\n")
        .await
        .unwrap();
    assert!(
        matches!(report.error, Some(Error::Extension("SMTPUTF8"))),
        "{report:#?}"
    );
    assert_eq!(rcpt_status(&report), [RecipientStatus::Permanent]);
    assert_eq!(
        writes.lock().unwrap().len(),
        before,
        "{:?}",
        write_texts(&writes)
    );
    // Twin: an ASCII envelope on the same connection goes through.
    let ascii = Envelope::new("sender@test.example", ["ascii@test.example"]).unwrap();
    assert_delivered(
        &client
            .send_bytes(&ascii, b"Subject: x\r\n\r\nx\r\n")
            .await
            .unwrap(),
    );
    client.quit().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn quit() {
    let env = Env::get();
    let (config, lines) = server_lines();
    let (client, writes) = connect_recorded(&env.host, env.sink_port, config).await;
    client.quit().await.unwrap();
    assert_eq!(
        write_texts(&writes).last().map(String::as_str),
        Some("QUIT\r\n")
    );
    let last = lines.lock().unwrap().last().cloned().unwrap_or_default();
    assert!(last.starts_with("221 "), "{last}");
}
