//! Postfix 2525 and the limits port 2528 in raw sessions: the EHLO keywords the BDAT,
//! DSN and limits tests rely on, BDAT delivery, DSN parameters read back from the hold
//! queue, and `smtpd_recipient_limit`'s 452 4.5.3.

use crate::raw::*;
use crate::support::*;

async fn ehlo(env: &Env, port: u16) -> (Raw, Reply) {
    let mut s = Raw::connect(&env.host, port).await;
    let r = s.expect("EHLO client.test.example", "250 ").await;
    (s, r)
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn raw_ehlo_keywords() {
    let env = Env::get();
    for port in [env.postfix_port, env.postfix_limits_port] {
        let (s, r) = ehlo(&env, port).await;
        assert_eq!(
            r.keywords(),
            [
                "PIPELINING",
                "SIZE 10240000",
                "VRFY",
                "ETRN",
                "STARTTLS",
                "ENHANCEDSTATUSCODES",
                "8BITMIME",
                "DSN",
                "SMTPUTF8",
                "CHUNKING"
            ],
            "port {port}: {r:?}"
        );
        // RFC 9422 LIMITS is not offered by Postfix 3.7, not even with a recipient limit.
        assert!(
            !r.keywords().iter().any(|k| k.starts_with("LIMITS")),
            "{r:?}"
        );
        s.quit().await;
    }
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn raw_bdat_delivery() {
    let env = Env::get();
    let t = token("pf-raw-bdat");
    let rcpt = env.ok_rcpt("rawbdat");
    let (mut s, _) = ehlo(&env, env.postfix_port).await;
    s.expect("MAIL FROM:<sender@test.example>", "250 2.1.0")
        .await;
    s.expect(&format!("RCPT TO:<{rcpt}>"), "250 2.1.5").await;
    let msg = message(&t, &rcpt, b"chunk one\r\n.\r\n..two dots, not stuffed\r\n");
    let (a, b) = msg.split_at(40);
    s.send(format!("BDAT {}\r\n", a.len()).as_bytes()).await;
    s.send(a).await;
    s.expect_reply(&format!("250 2.0.0 Ok: {} bytes", a.len()), "BDAT 1")
        .await;
    s.send(format!("BDAT {}\r\n", b.len()).as_bytes()).await;
    s.send(b).await;
    s.expect_reply(&format!("250 2.0.0 Ok: {} bytes", b.len()), "BDAT 2")
        .await;
    // Each chunk's reply counts that chunk; the last one's counts the whole message. An
    // empty last chunk (RFC 3030 §2: BDAT 0 LAST) ends the message.
    let last = s.expect("BDAT 0 LAST", "250 2.0.0 Ok: ").await;
    assert!(
        last.text()
            .contains(&format!("{} bytes queued as ", msg.len())),
        "{last:?}"
    );
    s.quit().await;
    let (added, stored) = postfix_stored(&env, &t).await;
    assert!(added.contains("with ESMTP id "), "{added}");
    assert_bytes_eq(&stored, &crlf_to_lf(&msg), "Postfix copy of a BDAT message");
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn raw_dsn_parameters_in_the_hold_queue() {
    let env = Env::get();
    let t = token("pf-raw-dsn");
    let hold = env.postfix_hold_rcpt.clone();
    let other = env.ok_rcpt("dsn-other");
    let (mut s, _) = ehlo(&env, env.postfix_port).await;
    // ENVID and ORCPT are xtext (RFC 3461 §4): "+2B" is "+", "+3D" is "=".
    s.expect(
        &format!(
            "MAIL FROM:<sender@test.example> RET=HDRS ENVID={t}+2Bx+3Dy BODY=8BITMIME SMTPUTF8"
        ),
        "250 2.1.0",
    )
    .await;
    s.expect(
        &format!("RCPT TO:<{hold}> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;orig+2Bhold@test.example"),
        "250 2.1.5",
    )
    .await;
    s.expect(&format!("RCPT TO:<{other}> NOTIFY=NEVER"), "250 2.1.5")
        .await;
    s.expect("DATA", "354").await;
    s.send(&message(&t, &hold, b"held\r\n")).await;
    let id = queue_id(&s.expect(".", "250 2.0.0 Ok: queued as ").await);
    s.quit().await;

    let e = postfix_held_envelope(&env, &id).await;
    postfix_delete_held(&env, &id);
    assert_eq!(e.queue, "hold", "{}", e.text);
    assert_eq!(e.sender, "sender@test.example");
    assert_eq!(e.envelope_id.as_deref(), Some(format!("{t}+x=y").as_str()));
    assert_eq!(e.ret_flags, Some(RET_HDRS));
    assert_eq!(e.encoding.as_deref(), Some("8bit"));
    assert_eq!(e.smtputf8, 1);
    assert_eq!(
        e.recipients,
        [
            HeldRcpt {
                address: hold.clone(),
                notify_flags: Some(NOTIFY_SUCCESS | NOTIFY_DELAY),
                orcpt: Some("rfc822;orig+hold@test.example".into()),
            },
            HeldRcpt {
                address: other.clone(),
                notify_flags: Some(NOTIFY_NEVER),
                // Synthesised by Postfix: the client sent no ORCPT.
                orcpt: Some(format!("rfc822;{other}")),
            },
        ],
        "{}",
        e.text
    );
    // Held: nothing was delivered, not even to the other recipient.
    assert_eq!(postfix_count_now(&env, &t), 0);
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn raw_no_dsn_parameters_in_the_hold_queue() {
    // Twin of the above: without parameters there are no DSN attributes but ORCPT.
    let env = Env::get();
    let t = token("pf-raw-nodsn");
    let hold = env.postfix_hold_rcpt.clone();
    let (mut s, _) = ehlo(&env, env.postfix_port).await;
    s.expect("MAIL FROM:<sender@test.example>", "250 2.1.0")
        .await;
    s.expect(&format!("RCPT TO:<{hold}>"), "250 2.1.5").await;
    s.expect("DATA", "354").await;
    s.send(&message(&t, &hold, b"held\r\n")).await;
    let id = queue_id(&s.expect(".", "250 2.0.0 Ok: queued as ").await);
    s.quit().await;
    let e = postfix_held_envelope(&env, &id).await;
    postfix_delete_held(&env, &id);
    assert_eq!(
        (e.envelope_id, e.ret_flags, e.encoding),
        (None, None, None),
        "{}",
        e.text
    );
    assert_eq!(e.smtputf8, 0, "{}", e.text);
    assert_eq!(
        e.recipients,
        [HeldRcpt {
            address: hold.clone(),
            notify_flags: None,
            orcpt: Some(format!("rfc822;{hold}")),
        }],
        "{}",
        e.text
    );
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn raw_recipient_limit_then_next_transaction() {
    let env = Env::get();
    let limit = env.postfix_rcpt_limit;
    assert_eq!(
        limit, 3,
        "the test is written for smtpd_recipient_limit = 3"
    );
    let t = token("pf-raw-limit");
    let rcpts: Vec<String> = (1..=5).map(|i| env.ok_rcpt(&format!("limit{i}"))).collect();
    let (mut s, _) = ehlo(&env, env.postfix_limits_port).await;
    s.expect("MAIL FROM:<sender@test.example>", "250 2.1.0")
        .await;
    s.expect(&format!("RCPT TO:<{}>", rcpts[0]), "250 2.1.5")
        .await;
    // A refused recipient does not count towards the limit: only accepted ones do.
    s.expect(&format!("RCPT TO:<{}>", env.reject_rcpt), "550 5.1.1")
        .await;
    s.expect(&format!("RCPT TO:<{}>", rcpts[1]), "250 2.1.5")
        .await;
    s.expect(&format!("RCPT TO:<{}>", rcpts[2]), "250 2.1.5")
        .await;
    for r in &rcpts[3..] {
        let reply = s.expect(&format!("RCPT TO:<{r}>"), "452 4.5.3").await;
        assert_eq!(reply.text(), "4.5.3 Error: too many recipients");
    }
    s.expect("DATA", "354").await;
    s.send(&message(&t, &rcpts[0], b"first transaction\r\n"))
        .await;
    s.expect(".", "250 2.0.0 Ok: queued as ").await;
    // The excess recipients, in a following transaction of the same session.
    s.expect("MAIL FROM:<sender@test.example>", "250 2.1.0")
        .await;
    for r in &rcpts[3..] {
        s.expect(&format!("RCPT TO:<{r}>"), "250 2.1.5").await;
    }
    s.expect("DATA", "354").await;
    s.send(&message(&t, &rcpts[3], b"second transaction\r\n"))
        .await;
    s.expect(".", "250 2.0.0 Ok: queued as ").await;
    s.quit().await;
    // One copy per accepted recipient: 3 + 2.
    assert_eq!(postfix_copies(&env, &t, 5).await.len(), 5);
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn raw_no_recipient_limit_on_2525() {
    // Twin: the same four recipients in one transaction on 2525.
    let env = Env::get();
    let (mut s, _) = ehlo(&env, env.postfix_port).await;
    s.expect("MAIL FROM:<sender@test.example>", "250 2.1.0")
        .await;
    for i in 1..=env.postfix_rcpt_limit + 1 {
        s.expect(
            &format!("RCPT TO:<{}>", env.ok_rcpt(&format!("nolimit{i}"))),
            "250 2.1.5",
        )
        .await;
    }
    s.expect("RSET", "250 2.0.0").await;
    s.quit().await;
}
