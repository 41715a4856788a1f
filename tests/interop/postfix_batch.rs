//! `Client::send_batch` against Postfix 2525 (PIPELINING and CHUNKING offered): twenty
//! real messages with a window of transactions in flight (RFC 2920 §3.1 with BDAT), a
//! 550 and a 450 recipient among them, and the same batch one at a time as a baseline.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smtp_courier::proto::{CommandKind, Direction};
use smtp_courier::{Envelope, RecipientStatus, TransactionReport};

use crate::postfix_bdat::{bdat_sent, stat};
use crate::support::*;

const MESSAGES: usize = 20;
/// 0-based: "message 5" and "message 9" of the batch.
const WITH_REJECT: usize = 4;
const WITH_DEFER: usize = 8;

/// The transcript, both directions, in the order the client saw it.
type Lines = Arc<Mutex<Vec<(Direction, String)>>>;

fn recorded_config(window: usize) -> (smtp_courier::ClientConfig, Lines) {
    let lines = Lines::default();
    let l = lines.clone();
    let config = config()
        .window(window)
        .transcript(move |dir, line| l.lock().unwrap().push((dir, line.to_owned())));
    (config, lines)
}

/// The most transactions in flight at once in a transcript: MAILs sent minus final
/// replies (`... queued as ...`, or a refusal of a BDAT LAST) received so far.
fn max_in_flight(lines: &Lines, finals: usize) -> usize {
    let lines = lines.lock().unwrap();
    let (mut sent, mut done, mut max) = (0usize, 0usize, 0usize);
    for (dir, line) in lines.iter() {
        match dir {
            Direction::Client if line.starts_with("MAIL FROM:") => sent += 1,
            Direction::Server if line.contains(" queued as ") => done += 1,
            _ => {}
        }
        max = max.max(sent - done.min(sent));
    }
    assert_eq!(done, finals, "final replies in the transcript");
    max
}

struct Batch {
    tokens: Vec<String>,
    envelopes: Vec<Envelope>,
    contents: Vec<Vec<u8>>,
    /// The recipient each message is stored for.
    delivered_to: Vec<String>,
}

fn batch(env: &Env, label: &str) -> Batch {
    let mut b = Batch {
        tokens: Vec::new(),
        envelopes: Vec::new(),
        contents: Vec::new(),
        delivered_to: Vec::new(),
    };
    for i in 0..MESSAGES {
        let n = i + 1;
        let t = token(&format!("{label}{n}"));
        let ok = env.ok_rcpt(&format!("{label}{n}"));
        let rcpts = match i {
            WITH_REJECT => vec![ok.clone(), env.reject_rcpt.clone()],
            WITH_DEFER => vec![env.defer_rcpt.clone(), ok.clone()],
            _ => vec![ok.clone()],
        };
        let body = format!("message {n} of {MESSAGES}\r\n.\r\n..dots\r\nend {t}\r\n");
        b.contents
            .push(message(&t, &ok, &body.repeat(1 + i % 3).into_bytes()));
        b.envelopes
            .push(Envelope::new("sender@test.example", &rcpts).unwrap());
        b.tokens.push(t);
        b.delivered_to.push(ok);
    }
    b
}

fn assert_reports(b: &Batch, reports: &[TransactionReport]) {
    assert_eq!(reports.len(), MESSAGES);
    for (i, report) in reports.iter().enumerate() {
        let n = i + 1;
        assert!(report.error.is_none(), "message {n}: {report:#?}");
        assert_eq!(report.data.as_ref().map(|r| r.code().as_u16()), Some(250));
        let expected: &[RecipientStatus] = match i {
            WITH_REJECT => &[RecipientStatus::Delivered, RecipientStatus::Permanent],
            WITH_DEFER => &[RecipientStatus::Transient, RecipientStatus::Delivered],
            _ => &[RecipientStatus::Delivered],
        };
        assert_eq!(rcpt_status(report), expected, "message {n}: {report:#?}");
        for r in report.recipients.iter().filter(|r| r.result.is_ok()) {
            assert_eq!(r.address.to_string(), b.delivered_to[i], "message {n}");
            assert_eq!(r.command(), Some(CommandKind::Bdat), "message {n}");
        }
    }
    assert_refused(
        &reports[WITH_REJECT],
        1,
        550,
        "5.1.1",
        RecipientStatus::Permanent,
    );
    assert_refused(
        &reports[WITH_DEFER],
        0,
        450,
        "4.2.0",
        RecipientStatus::Transient,
    );
}

/// Sends the batch with `window`, checks reports, wire, Postfix's log and the maildir;
/// returns the most transactions in flight at once and how long the batch took.
async fn run(window: usize, label: &str) -> (usize, Duration) {
    let env = Env::get();
    let b = batch(&env, label);
    let (config, lines) = recorded_config(window);
    let (mut client, writes) = connect_recorded(&env.host, env.postfix_port, config).await;
    let port = client.get_ref().local_port();
    let started = Instant::now();
    let reports = client
        .send_batch(
            b.envelopes
                .iter()
                .zip(&b.contents)
                .map(|(e, c)| (e, c.as_slice())),
        )
        .await;
    let took = started.elapsed();
    assert_reports(&b, &reports);
    assert!(client.is_usable());
    client.quit().await.unwrap();

    // On the wire: each message exactly once, by BDAT, its content unchanged.
    let sent = bdat_sent(&wire(&writes));
    assert_eq!(sent.len(), MESSAGES, "one MAIL per message");
    for (i, tx) in sent.iter().enumerate() {
        assert_eq!(
            tx.mail,
            format!(
                "MAIL FROM:<sender@test.example> SIZE={}",
                b.contents[i].len()
            )
        );
        assert_eq!(tx.chunks.last().map(|c| c.1), Some(true), "message {i}");
        assert_bytes_eq(&tx.content, &b.contents[i], "BDAT content on the wire");
    }
    let in_flight = max_in_flight(&lines, MESSAGES);
    assert!(
        in_flight <= window,
        "{in_flight} in flight with window {window}"
    );

    let stats = postfix_disconnect_stats(&env, &env.host, port).await;
    assert_eq!(stat(&stats, "mail"), Some("20"), "{stats}");
    assert_eq!(stat(&stats, "rcpt"), Some("20/22"), "{stats}");
    assert_eq!(stat(&stats, "bdat"), Some("20"), "{stats}");
    assert!(stat(&stats, "data").is_none(), "{stats}");
    let session = postfix_session_log(&env, &env.host, port);
    assert!(
        !session
            .iter()
            .any(|l| l.contains("improper command pipelining")),
        "{session:#?}"
    );

    // Every message stored exactly once, byte for byte, for its accepted recipient.
    for i in 0..MESSAGES {
        let (added, stored) = postfix_stored(&env, &b.tokens[i]).await;
        assert!(
            added.contains(&format!("X-Original-To: {}\n", b.delivered_to[i])),
            "message {}: {added}",
            i + 1
        );
        assert_bytes_eq(&stored, &crlf_to_lf(&b.contents[i]), "stored copy");
    }
    eprintln!(
        "window {window}: {MESSAGES} messages in {took:?}, at most {in_flight} in flight; {stats}"
    );
    (in_flight, took)
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn batch_window_8() {
    let (in_flight, _) = run(8, "win8-").await;
    assert!(in_flight > 1, "no transactions overlapped with window 8");
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn batch_window_1() {
    let (in_flight, _) = run(1, "win1-").await;
    assert_eq!(in_flight, 1, "window 1 sends one transaction at a time");
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn batch_window_message_with_no_accepted_recipient() {
    // Message 3 of 6 has only the 550 recipient: its BDAT is refused, and the MAIL of
    // message 4, already on the wire behind it, meets whatever state that left.
    let env = Env::get();
    let (config, lines) = recorded_config(8);
    let (mut client, writes) = connect_recorded(&env.host, env.postfix_port, config).await;
    let port = client.get_ref().local_port();
    let mut tokens = Vec::new();
    let mut envelopes = Vec::new();
    let mut contents = Vec::new();
    for n in 1..=6 {
        let t = token(&format!("win-none{n}"));
        let ok = env.ok_rcpt(&format!("win-none{n}"));
        let to = if n == 3 { env.reject_rcpt.clone() } else { ok };
        contents.push(message(&t, &to, format!("message {n}\r\n").as_bytes()));
        envelopes.push(Envelope::new("sender@test.example", [&to]).unwrap());
        tokens.push(t);
    }
    let reports = client
        .send_batch(
            envelopes
                .iter()
                .zip(&contents)
                .map(|(e, c)| (e, c.as_slice())),
        )
        .await;
    let transcript: Vec<String> = lines
        .lock()
        .unwrap()
        .iter()
        .map(|(d, l)| format!("{d:?}: {l}"))
        .collect();
    for (i, report) in reports.iter().enumerate() {
        if i == 2 {
            assert!(report.is_failed(), "message 3: {report:#?}");
            assert_refused(report, 0, 550, "5.1.1", RecipientStatus::Permanent);
            assert!(report.data.is_none(), "{report:#?}");
        } else {
            assert_delivered(report);
            assert_eq!(
                report.recipients[0].command(),
                Some(CommandKind::Bdat),
                "message {}: {report:#?}\n{transcript:#?}",
                i + 1
            );
        }
    }
    assert!(client.is_usable());
    client.quit().await.unwrap();
    // Postfix 3.7 ends the transaction with its 554 to the BDAT (no valid recipients):
    // the MAIL behind it gets 250, not 503, so nothing is turned away or sent again.
    // The transaction's error is the refusal that left it without a recipient.
    let error = reports[2].error.as_ref().expect("message 3 failed");
    assert_eq!(error.command(), Some(CommandKind::Rcpt), "{error:?}");
    assert_eq!(error.reply().map(|r| r.code().as_u16()), Some(550));
    assert!(
        transcript
            .iter()
            .any(|l| l == "Server: 554 5.5.1 Error: no valid recipients"),
        "{transcript:#?}"
    );
    assert!(
        !transcript.iter().any(|l| l.starts_with("Client: RSET")),
        "{transcript:#?}"
    );
    let stats = postfix_disconnect_stats(&env, &env.host, port).await;
    assert_eq!(
        stats, "ehlo=1 mail=6 rcpt=5/6 bdat=5/6 quit=1 commands=18/20",
        "{transcript:#?}"
    );
    assert_eq!(bdat_sent(&wire(&writes)).len(), 6, "each message sent once");
    for (i, t) in tokens.iter().enumerate() {
        if i == 2 {
            continue;
        }
        let (added, stored) = postfix_stored(&env, t).await;
        assert!(added.contains("X-Original-To: win-none"), "{added}");
        assert_bytes_eq(&stored, &crlf_to_lf(&contents[i]), "stored copy");
    }
    assert_eq!(postfix_count_now(&env, &tokens[2]), 0);
}
