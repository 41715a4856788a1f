//! The library speaking LMTP (`ClientConfig::lmtp`, RFC 2033) to Dovecot on 2424: one
//! result per recipient, decided at RCPT or by that recipient's own reply after the
//! content (RFC 2033 §4.2), with BDAT (Dovecot offers CHUNKING) and with DATA.

use smtp_courier::proto::CommandKind;
use smtp_courier::{ClientConfig, Envelope, RecipientStatus, TransactionReport};

use crate::postfix_bdat::bdat_sent;
use crate::support::*;

/// The five users in this order: delivered, unknown, full, temporarily full, delivered.
fn rcpts(env: &Env) -> [String; 5] {
    [
        env.lmtp_rcpt1.clone(),
        env.lmtp_unknown_rcpt.clone(),
        env.lmtp_full_rcpt.clone(),
        env.lmtp_tempfull_rcpt.clone(),
        env.lmtp_rcpt2.clone(),
    ]
}

/// Checks the per-recipient results of a transaction to [`rcpts`]; `content` is the
/// command that carried the message (`Bdat` or `DataEnd`).
fn assert_lmtp_results(env: &Env, report: &TransactionReport, content: CommandKind) {
    use RecipientStatus::*;
    let rcpts = rcpts(env);
    let got: Vec<_> = report
        .recipients
        .iter()
        .map(|r| {
            let reply = r
                .reply()
                .unwrap_or_else(|| panic!("{}: no reply: {report:#?}", r.address));
            (
                r.address.to_string(),
                r.status(),
                reply.code().as_u16(),
                reply.enhanced_code().map(|c| c.to_string()),
                r.command(),
            )
        })
        .collect();
    let want = |i: usize, status, code, enhanced: &str, command| {
        (
            rcpts[i].clone(),
            status,
            code,
            Some(enhanced.to_owned()),
            Some(command),
        )
    };
    assert_eq!(
        got,
        [
            want(0, Delivered, 250, "2.0.0", content),
            want(1, Permanent, 550, "5.1.1", CommandKind::Rcpt),
            want(2, Permanent, 552, "5.2.2", content),
            want(3, Transient, 452, "4.2.2", content),
            want(4, Delivered, 250, "2.0.0", content),
        ],
        "{report:#?}"
    );
    // Each reply after the content names its own recipient (Dovecot's `<addr>` text).
    for i in [0, 2, 3, 4] {
        let text = report.recipients[i].reply().unwrap().message().to_owned();
        assert!(text.starts_with(&format!("<{}> ", rcpts[i])), "{text}");
    }
    assert!(report.error.is_none(), "two were delivered: {report:#?}");
    assert_eq!(report.delivered_count(), 2);
}

/// Both delivered users hold exactly one copy, byte for byte; the others none.
async fn assert_lmtp_stored(env: &Env, t: &str, msg: &[u8]) {
    for rcpt in [&env.lmtp_rcpt1, &env.lmtp_rcpt2] {
        let stored = lmtp_one(env, rcpt, t).await;
        let (added, body) = split_postfix_headers(&stored);
        assert!(added.contains("with LMTP\n"), "{added}");
        assert!(
            added.contains("(envelope-from <sender@test.example>)"),
            "{added}"
        );
        assert_bytes_eq(body, &crlf_to_lf(&crlf_normalised(msg)), "Dovecot copy");
    }
    for rcpt in [&env.lmtp_full_rcpt, &env.lmtp_tempfull_rcpt] {
        assert_eq!(lmtp_count_now(env, rcpt, t), 0, "{rcpt} is over quota");
    }
}

async fn send_mixed(
    config: ClientConfig,
    label: &str,
) -> (String, Vec<u8>, TransactionReport, Writes) {
    let env = Env::get();
    let t = token(label);
    let (mut client, writes) = connect_recorded(&env.host, env.lmtp_port, config).await;
    let caps = client.capabilities().expect("LHLO capabilities");
    assert!(
        caps.chunking() && caps.pipelining() && caps.size().is_none(),
        "{caps:?}"
    );
    let msg = message(&t, &env.lmtp_rcpt1, &dots_and_long_line(&t));
    let envelope = Envelope::new("sender@test.example", rcpts(&env)).unwrap();
    let report = client.send_bytes(&envelope, &msg).await.unwrap();
    assert!(client.is_usable(), "{report:#?}");
    client.quit().await.unwrap();
    let texts = write_texts(&writes);
    assert!(
        texts[0].starts_with("LHLO client.test.example\r\n"),
        "{texts:?}"
    );
    (t, msg, report, writes)
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn lmtp_per_recipient_results_bdat() {
    let env = Env::get();
    let (t, msg, report, writes) = send_mixed(config().lmtp(true), "lmtp-lib-bdat").await;
    assert_lmtp_results(&env, &report, CommandKind::Bdat);
    // No SIZE= (not offered), the five RCPTs, then the content unstuffed in one chunk.
    let sent = bdat_sent(&wire(&writes));
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].mail, "MAIL FROM:<sender@test.example>");
    assert_eq!(sent[0].chunks.len(), 1);
    assert_bytes_eq(&sent[0].content, &crlf_normalised(&msg), "BDAT content");
    assert_lmtp_stored(&env, &t, &msg).await;
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn lmtp_per_recipient_results_data() {
    let env = Env::get();
    let config = config().lmtp(true).chunking(false);
    let (t, msg, report, writes) = send_mixed(config, "lmtp-lib-data").await;
    assert_lmtp_results(&env, &report, CommandKind::DataEnd);
    let w = wire(&writes);
    assert!(find(&w, b"BDAT").is_none(), "{:?}", write_texts(&writes));
    let data = data_section(&w);
    assert!(data.ends_with(format!("last line {t}\r\n..\r\n.\r\n").as_bytes()));
    assert_lmtp_stored(&env, &t, &msg).await;
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn lmtp_all_delivered_twin() {
    // Positive twin: only deliverable users, several chunks; every result is a 250.
    let env = Env::get();
    let t = token("lmtp-lib-ok");
    let config = config().lmtp(true).chunk_size(64);
    let (mut client, writes) = connect_recorded(&env.host, env.lmtp_port, config).await;
    let msg = message(&t, &env.lmtp_rcpt1, b"short\r\n.\r\nbody\r\n");
    let envelope =
        Envelope::new("sender@test.example", [&env.lmtp_rcpt1, &env.lmtp_rcpt2]).unwrap();
    let report = client.send_bytes(&envelope, &msg).await.unwrap();
    assert_delivered(&report);
    for r in &report.recipients {
        assert_eq!(r.command(), Some(CommandKind::Bdat));
        assert_eq!(r.reply().unwrap().code().as_u16(), 250);
    }
    client.quit().await.unwrap();
    let sent = bdat_sent(&wire(&writes));
    assert!(sent[0].chunks.len() > 1, "{:?}", sent[0].chunks);
    assert_lmtp_stored(&env, &t, &msg).await;
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn lmtp_batch_window() {
    // Three messages to the five users with a window of 4 (Dovecot offers PIPELINING
    // and CHUNKING): each gets its own five results, and each delivered user one copy.
    let env = Env::get();
    let (mut client, writes) =
        connect_recorded(&env.host, env.lmtp_port, config().lmtp(true).window(4)).await;
    let envelope = Envelope::new("sender@test.example", rcpts(&env)).unwrap();
    let tokens: Vec<String> = (1..=3).map(|n| token(&format!("lmtp-batch{n}"))).collect();
    let msgs: Vec<Vec<u8>> = tokens
        .iter()
        .map(|t| message(t, &env.lmtp_rcpt1, format!("batch {t}\r\n").as_bytes()))
        .collect();
    let reports = client
        .send_batch(msgs.iter().map(|m| (&envelope, m.as_slice())))
        .await;
    assert_eq!(reports.len(), 3);
    for report in &reports {
        assert_lmtp_results(&env, report, CommandKind::Bdat);
    }
    assert!(client.is_usable());
    client.quit().await.unwrap();
    let sent = bdat_sent(&wire(&writes));
    assert_eq!(sent.len(), 3, "{sent:?}");
    // The second MAIL left before the first message's replies: in one write with its
    // content (RFC 2920 §3.1), so the window was used.
    let texts = write_texts(&writes);
    let overlapped = texts
        .iter()
        .any(|w| match (w.find(" LAST\r\n"), w.rfind("MAIL FROM:")) {
            (Some(last), Some(mail)) => last < mail,
            _ => false,
        });
    assert!(overlapped, "{texts:#?}");
    for (t, m) in tokens.iter().zip(&msgs) {
        assert_lmtp_stored(&env, t, m).await;
    }
}
