//! Dovecot LMTP on 2424 (RFC 2033): raw sessions that pin down the fixture — what its
//! LHLO offers, the refusal at RCPT, one reply per accepted recipient after the data
//! (RFC 2033 §4.2) with the quota users' 552 and 452, BDAT, and the parameters it refuses.

use crate::raw::*;
use crate::support::*;

/// LHLO, MAIL, RCPTs in order; each RCPT reply must start with its expectation.
async fn transaction(env: &Env, rcpts: &[(&str, &str)]) -> Raw {
    let mut s = Raw::connect(&env.host, env.lmtp_port).await;
    s.expect("LHLO client.test.example", "250").await;
    s.expect("MAIL FROM:<sender@test.example>", "250 2.1.0")
        .await;
    for (rcpt, expected) in rcpts {
        s.expect(&format!("RCPT TO:<{rcpt}>"), expected).await;
    }
    s
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn raw_lhlo_offers_and_ehlo_is_unknown() {
    let env = Env::get();
    let mut s = Raw::connect(&env.host, env.lmtp_port).await;
    // RFC 2033 §4.1: LMTP has LHLO instead of EHLO/HELO; Dovecot does not know the others.
    s.expect("EHLO client.test.example", "500 5.5.1").await;
    s.expect("HELO client.test.example", "500 5.5.1").await;
    let r = s.expect("LHLO client.test.example", "250 ").await;
    assert_eq!(r.lines[0], "lmtp.test.example", "{r:?}");
    assert_eq!(
        r.keywords(),
        ["8BITMIME", "CHUNKING", "ENHANCEDSTATUSCODES", "PIPELINING"],
        "{r:?}"
    );
    s.quit().await;
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn raw_mixed_replies_after_data() {
    let env = Env::get();
    let t = token("lmtp-mixed");
    let mut s = transaction(
        &env,
        &[
            (&env.lmtp_rcpt1, "250 2.1.5"),
            (&env.lmtp_unknown_rcpt, "550 5.1.1"),
            (&env.lmtp_full_rcpt, "250 2.1.5"),
            (&env.lmtp_tempfull_rcpt, "250 2.1.5"),
            (&env.lmtp_rcpt2, "250 2.1.5"),
        ],
    )
    .await;
    s.expect("DATA", "354").await;
    let msg = message(&t, &env.lmtp_rcpt1, b"Hello over LMTP.\r\n");
    s.send(&msg).await;
    s.send(b".\r\n").await;
    // One reply per accepted recipient, in RCPT order (none for the refused one).
    let r1 = s.expect_reply("250 2.0.0", "lmtp1 after the data").await;
    assert!(
        r1.text()
            .starts_with(&format!("2.0.0 <{}> ", env.lmtp_rcpt1)),
        "{r1:?}"
    );
    assert!(r1.text().ends_with(" Saved"), "{r1:?}");
    let full = s
        .expect_reply("552 5.2.2", "lmtp-full after the data")
        .await;
    assert_eq!(
        full.text(),
        format!(
            "5.2.2 <{}> Quota exceeded (mailbox for user is full)",
            env.lmtp_full_rcpt
        )
    );
    let temp = s
        .expect_reply("452 4.2.2", "lmtp-tempfull after the data")
        .await;
    assert_eq!(
        temp.text(),
        format!(
            "4.2.2 <{}> Quota exceeded (mailbox for user is full)",
            env.lmtp_tempfull_rcpt
        )
    );
    let r2 = s.expect_reply("250 2.0.0", "lmtp2 after the data").await;
    assert!(
        r2.text()
            .starts_with(&format!("2.0.0 <{}> ", env.lmtp_rcpt2)),
        "{r2:?}"
    );
    // The transaction is over: MAIL again without RSET.
    s.expect("MAIL FROM:<sender@test.example>", "250 2.1.0")
        .await;
    s.quit().await;

    for rcpt in [&env.lmtp_rcpt1, &env.lmtp_rcpt2] {
        let stored = lmtp_one(&env, rcpt, &t).await;
        let (added, body) = split_postfix_headers(&stored);
        assert!(
            added.starts_with("Return-Path: <sender@test.example>\n"),
            "{added}"
        );
        assert!(added.contains("with LMTP"), "{added}");
        // Dovecot stores LF line endings (mail_save_crlf = no).
        assert_bytes_eq(body, &crlf_to_lf(&msg), "Dovecot maildir copy");
    }
    for rcpt in [&env.lmtp_full_rcpt, &env.lmtp_tempfull_rcpt] {
        assert_eq!(lmtp_count_now(&env, rcpt, &t), 0, "{rcpt} is over quota");
    }
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn raw_bdat_replies_per_recipient() {
    let env = Env::get();
    let t = token("lmtp-bdat");
    let mut s = transaction(
        &env,
        &[
            (&env.lmtp_rcpt1, "250 2.1.5"),
            (&env.lmtp_full_rcpt, "250 2.1.5"),
        ],
    )
    .await;
    let msg = message(&t, &env.lmtp_rcpt1, b"a line\r\n.\r\nafter a lone dot\r\n");
    let (a, b) = msg.split_at(40);
    s.send(format!("BDAT {}\r\n", a.len()).as_bytes()).await;
    s.send(a).await;
    s.expect_reply(&format!("250 2.0.0 Added {} octets", a.len()), "BDAT 1")
        .await;
    s.send(format!("BDAT {} LAST\r\n", b.len()).as_bytes())
        .await;
    s.send(b).await;
    // BDAT LAST, like the end of DATA, gets one reply per accepted recipient.
    s.expect_reply("250 2.0.0", "lmtp1 after BDAT LAST").await;
    s.expect_reply("552 5.2.2", "lmtp-full after BDAT LAST")
        .await;
    s.quit().await;
    // No dot-stuffing with BDAT: the lone dot arrives as content.
    let stored = lmtp_one(&env, &env.lmtp_rcpt1, &t).await;
    assert_bytes_eq(
        split_postfix_headers(&stored).1,
        &crlf_to_lf(&msg),
        "BDAT copy",
    );
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn raw_no_valid_recipient_refuses_data() {
    let env = Env::get();
    let mut s = transaction(&env, &[(&env.lmtp_unknown_rcpt, "550 5.1.1")]).await;
    let r = s.expect("DATA", "503 5.5.0").await;
    assert_eq!(r.text(), "5.5.0 No valid recipients");
    // Positive twin: a known user in the same session makes DATA go ahead.
    s.expect("RSET", "250").await;
    s.expect("MAIL FROM:<sender@test.example>", "250 2.1.0")
        .await;
    s.expect(&format!("RCPT TO:<{}>", env.lmtp_rcpt2), "250 2.1.5")
        .await;
    s.expect("DATA", "354").await;
    s.send(b"Subject: no valid recipient twin\r\n\r\nx\r\n.\r\n")
        .await;
    s.expect_reply("250 2.0.0", "lmtp2 after the data").await;
    s.quit().await;
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn raw_unoffered_parameters_are_refused() {
    let env = Env::get();
    let mut s = Raw::connect(&env.host, env.lmtp_port).await;
    s.expect("LHLO client.test.example", "250").await;
    // SIZE, SMTPUTF8 and the DSN parameters are not offered: 555 5.5.4 (RFC 5321 §4.1.1.11).
    for mail in [
        "MAIL FROM:<sender@test.example> SIZE=100",
        "MAIL FROM:<sender@test.example> SMTPUTF8",
        "MAIL FROM:<sender@test.example> RET=HDRS",
        "MAIL FROM:<sender@test.example> ENVID=x",
    ] {
        let r = s.expect(mail, "555 5.5.4").await;
        assert_eq!(r.text(), "5.5.4 Unsupported parameters", "{mail}");
    }
    // Offered: BODY=8BITMIME. ORCPT is accepted although DSN is not offered; NOTIFY is not.
    s.expect("MAIL FROM:<sender@test.example> BODY=8BITMIME", "250 2.1.0")
        .await;
    let rcpt1 = &env.lmtp_rcpt1;
    s.expect(&format!("RCPT TO:<{rcpt1}> NOTIFY=SUCCESS"), "555 5.5.4")
        .await;
    s.expect(
        &format!("RCPT TO:<{rcpt1}> ORCPT=rfc822;{rcpt1}"),
        "250 2.1.5",
    )
    .await;
    s.expect("RSET", "250 2.0.0").await;
    s.quit().await;
}
