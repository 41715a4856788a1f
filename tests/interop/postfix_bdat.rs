//! The library's CHUNKING (RFC 3030) sessions against Postfix 2525: BDAT delivery byte
//! for byte, a message over several chunks, BINARYMIME refused before anything is sent
//! (Postfix 3.7 does not offer it), and `chunking(false)` falling back to DATA.

use smtp_courier::proto::CommandKind;
use smtp_courier::{Envelope, Error, RecipientStatus};

use crate::support::*;

/// One transaction as the client wrote it with BDAT: its MAIL line, each chunk's
/// declared size and LAST flag, and the chunks' bytes joined.
#[derive(Debug, Default)]
pub struct BdatSent {
    pub mail: String,
    pub chunks: Vec<(usize, bool)>,
    pub content: Vec<u8>,
}

/// Parses what a client wrote in a session that sends content only by BDAT: command
/// lines, each `BDAT n [LAST]` followed by exactly `n` octets (RFC 3030 §2). One entry
/// per MAIL, in order. Panics on a DATA command or a BDAT outside a transaction.
pub fn bdat_sent(wire: &[u8]) -> Vec<BdatSent> {
    let mut out: Vec<BdatSent> = Vec::new();
    let mut pos = 0;
    while pos < wire.len() {
        let end = find(&wire[pos..], b"\r\n")
            .map(|i| pos + i)
            .unwrap_or_else(|| panic!("unterminated command at octet {pos}"));
        let line = String::from_utf8_lossy(&wire[pos..end]).into_owned();
        pos = end + 2;
        assert_ne!(line, "DATA", "DATA in a BDAT session");
        if line.starts_with("MAIL FROM:") {
            out.push(BdatSent {
                mail: line,
                ..BdatSent::default()
            });
        } else if let Some(args) = line.strip_prefix("BDAT ") {
            let mut words = args.split(' ');
            let size: usize = words
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("bad BDAT line {line:?}"));
            let last = match words.next() {
                None => false,
                Some("LAST") => true,
                Some(w) => panic!("bad BDAT argument {w:?} in {line:?}"),
            };
            assert!(pos + size <= wire.len(), "BDAT {size} runs past the wire");
            let tx = out
                .last_mut()
                .unwrap_or_else(|| panic!("BDAT before any MAIL: {line:?}"));
            tx.chunks.push((size, last));
            tx.content.extend_from_slice(&wire[pos..pos + size]);
            pos += size;
        }
    }
    out
}

/// `key=N` (or `key=N/M`) from a Postfix disconnect summary, if present.
pub fn stat<'a>(stats: &'a str, key: &str) -> Option<&'a str> {
    stats
        .split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn bdat_delivery_byte_for_byte() {
    let env = Env::get();
    let t = token("pf-bdat");
    let rcpt = env.ok_rcpt("bdat");
    let (mut client, writes) = connect_recorded(&env.host, env.postfix_port, config()).await;
    assert!(client.capabilities().unwrap().chunking());
    let port = client.get_ref().local_port();
    // Dot lines and a missing final CRLF: BDAT carries them unstuffed (RFC 3030 §2).
    let msg = message(&t, &rcpt, &dots_and_long_line(&t));
    let envelope = Envelope::new("sender@test.example", [&rcpt]).unwrap();
    let report = client.send_bytes(&envelope, &msg).await.unwrap();
    assert_delivered(&report);
    assert_eq!(report.recipients[0].command(), Some(CommandKind::Bdat));
    let wanted = crlf_normalised(&msg);
    let data = report.data.as_ref().unwrap();
    assert!(
        data.message()
            .starts_with(&format!("Ok: {} bytes queued as ", wanted.len())),
        "{data:?}"
    );
    client.quit().await.unwrap();

    let sent = bdat_sent(&wire(&writes));
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        sent[0].mail,
        format!("MAIL FROM:<sender@test.example> SIZE={}", wanted.len())
    );
    assert_eq!(sent[0].chunks, [(wanted.len(), true)]);
    assert_bytes_eq(&sent[0].content, &wanted, "BDAT content on the wire");

    let (added, stored) = postfix_stored(&env, &t).await;
    assert!(added.contains("with ESMTP id "), "{added}");
    assert_bytes_eq(
        &stored,
        &crlf_to_lf(&wanted),
        "Postfix copy of a BDAT message",
    );
    let stats = postfix_disconnect_stats(&env, &env.host, port).await;
    assert_eq!(stats, "ehlo=1 mail=1 rcpt=1 bdat=1 quit=1 commands=5");
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn bdat_message_over_many_chunks() {
    let env = Env::get();
    let t = token("pf-bdat-big");
    let rcpt = env.ok_rcpt("bdat-big");
    const CHUNK: usize = 16 * 1024;
    let config = config().chunk_size(CHUNK);
    let (mut client, writes) = connect_recorded(&env.host, env.postfix_port, config).await;
    let port = client.get_ref().local_port();
    // 100 KiB of numbered 78-octet lines (so a lost or repeated chunk shows), a few
    // bare LFs and a lone dot among them.
    let mut body = Vec::new();
    let mut i = 0;
    while body.len() < 100 * 1024 {
        body.extend_from_slice(format!("{i:06} {}\r\n", "y".repeat(70)).as_bytes());
        if i % 300 == 7 {
            body.extend_from_slice(b"bare LF\n.\r\n");
        }
        i += 1;
    }
    let msg = message(&t, &rcpt, &body);
    let wanted = crlf_normalised(&msg);
    let envelope = Envelope::new("sender@test.example", [&rcpt]).unwrap();
    let report = client.send_bytes(&envelope, &msg).await.unwrap();
    assert_delivered(&report);
    assert_eq!(report.recipients[0].command(), Some(CommandKind::Bdat));
    client.quit().await.unwrap();

    let sent = bdat_sent(&wire(&writes));
    assert_eq!(sent.len(), 1);
    let chunks = &sent[0].chunks;
    assert!(
        chunks.len() >= wanted.len().div_ceil(CHUNK),
        "{} octets in {chunks:?}",
        wanted.len()
    );
    assert!(chunks.iter().all(|&(n, _)| n <= CHUNK), "{chunks:?}");
    assert_eq!(
        chunks.iter().filter(|c| c.1).count(),
        1,
        "one LAST: {chunks:?}"
    );
    assert!(chunks.last().unwrap().1, "LAST comes last: {chunks:?}");
    assert_bytes_eq(&sent[0].content, &wanted, "BDAT content on the wire");

    let (_, stored) = postfix_stored(&env, &t).await;
    assert_bytes_eq(
        &stored,
        &crlf_to_lf(&wanted),
        "Postfix copy of a 100 KiB message",
    );
    let stats = postfix_disconnect_stats(&env, &env.host, port).await;
    eprintln!(
        "{} octets in {} chunks: {stats}",
        wanted.len(),
        chunks.len()
    );
    assert_eq!(
        stat(&stats, "bdat"),
        Some(chunks.len().to_string().as_str()),
        "{stats}"
    );
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn binarymime_not_offered_refused_before_sending() {
    let env = Env::get();
    let t = token("pf-binarymime");
    let rcpt = env.ok_rcpt("binarymime");
    let (mut client, writes) = connect_recorded(&env.host, env.postfix_port, config()).await;
    let caps = client.capabilities().unwrap();
    assert!(caps.chunking() && !caps.binarymime(), "{caps:?}");
    let port = client.get_ref().local_port();
    let before = writes.lock().unwrap().len();
    let envelope = Envelope::new("sender@test.example", [&rcpt])
        .unwrap()
        .with_binarymime();
    let msg = message(&t, &rcpt, b"binary \x00\x01 bare LF\n end\r\n");
    let report = client.send_bytes(&envelope, &msg).await.unwrap();
    assert!(
        matches!(report.error, Some(Error::Extension("BINARYMIME"))),
        "{report:#?}"
    );
    assert_eq!(rcpt_status(&report), [RecipientStatus::Permanent]);
    assert!(report.data.is_none());
    assert_eq!(
        writes.lock().unwrap().len(),
        before,
        "nothing may be sent: {:?}",
        write_texts(&writes)
    );
    assert!(client.is_usable());
    client.quit().await.unwrap();
    // Postfix saw no MAIL in that session.
    let stats = postfix_disconnect_stats(&env, &env.host, port).await;
    assert_eq!(stats, "ehlo=1 quit=1 commands=2");
    assert_eq!(postfix_count_now(&env, &t), 0);

    // Twin: the same content without BINARYMIME goes by BDAT, normalised to CRLF.
    let t2 = token("pf-binarymime-twin");
    let msg2 = message(&t2, &rcpt, b"binary \x00\x01 bare LF\n end\r\n");
    let mut client = connect(&env.host, env.postfix_port).await;
    let plain = Envelope::new("sender@test.example", [&rcpt]).unwrap();
    let report = client.send_bytes(&plain, &msg2).await.unwrap();
    assert_delivered(&report);
    assert_eq!(report.recipients[0].command(), Some(CommandKind::Bdat));
    client.quit().await.unwrap();
    let (_, stored) = postfix_stored(&env, &t2).await;
    assert_bytes_eq(
        &stored,
        &crlf_to_lf(&crlf_normalised(&msg2)),
        "Postfix copy of the twin",
    );
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn chunking_off_uses_data() {
    let env = Env::get();
    let t = token("pf-nochunk");
    let rcpt = env.ok_rcpt("nochunk");
    let config = config().chunking(false);
    let (mut client, writes) = connect_recorded(&env.host, env.postfix_port, config).await;
    assert!(
        client.capabilities().unwrap().chunking(),
        "offered, not used"
    );
    let port = client.get_ref().local_port();
    let msg = message(&t, &rcpt, &dots_and_long_line(&t));
    let envelope = Envelope::new("sender@test.example", [&rcpt]).unwrap();
    let report = client.send_bytes(&envelope, &msg).await.unwrap();
    assert_delivered(&report);
    assert_eq!(report.recipients[0].command(), Some(CommandKind::DataEnd));
    client.quit().await.unwrap();

    let w = wire(&writes);
    assert!(find(&w, b"BDAT").is_none(), "{:?}", write_texts(&writes));
    // DATA: dot-stuffed (RFC 5321 §4.5.2), as BDAT never is.
    let data = data_section(&w);
    assert!(data.ends_with(format!("last line {t}\r\n..\r\n.\r\n").as_bytes()));
    let (_, stored) = postfix_stored(&env, &t).await;
    assert_bytes_eq(
        &stored,
        &crlf_to_lf(&crlf_normalised(&msg)),
        "Postfix copy of a DATA message",
    );
    let stats = postfix_disconnect_stats(&env, &env.host, port).await;
    assert_eq!(stats, "ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5");
}

/// Sends one message on the submission port before STARTTLS (MAIL gets `530 5.7.0`),
/// then QUIT; returns the QUIT result, the client's writes and Postfix's session log.
async fn submission_before_starttls(
    chunking: bool,
    label: &str,
) -> (Result<(), Error>, Vec<String>, Vec<String>) {
    let env = Env::get();
    let t = token(label);
    let rcpt = env.ok_rcpt(label);
    let config = config().chunking(chunking);
    let (mut client, writes) = connect_recorded(&env.host, env.submission_port, config).await;
    assert!(client.capabilities().unwrap().chunking());
    let port = client.get_ref().local_port();
    let envelope = Envelope::new("sender@test.example", [&rcpt]).unwrap();
    let report = client
        .send_bytes(&envelope, &message(&t, &rcpt, b"x\r\n"))
        .await
        .unwrap();
    let err = report.error.as_ref().expect("MAIL refused");
    assert_eq!(err.command(), Some(CommandKind::Mail), "{err:?}");
    assert_eq!(err.reply().map(|r| r.code().as_u16()), Some(530), "{err:?}");
    let quit = client.quit().await;
    postfix_disconnect_stats(&env, &env.host, port).await;
    assert_eq!(postfix_count_now(&env, &t), 0);
    (
        quit,
        write_texts(&writes),
        postfix_session_log(&env, &env.host, port),
    )
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn bdat_content_never_read_as_commands_after_530() {
    // Postfix 3.7 on 2587 answers a BDAT before STARTTLS with `530 5.7.0 Must issue a
    // STARTTLS command first` *without reading its chunk* (RFC 3030 §2 says a refused
    // chunk is still read and discarded), so pipelined content is taken for commands:
    // `warning: non-SMTP command from ...: Message-ID: ...`, and the session breaks.
    //
    // Twin: with DATA, nothing of the content goes before a 354, and all is well.
    let (quit, writes, log) = submission_before_starttls(false, "pf-530-data").await;
    assert!(quit.is_ok(), "{quit:?}");
    assert!(
        !log.iter().any(|l| l.contains("non-SMTP command")),
        "{log:#?}"
    );
    assert!(
        !writes.iter().any(|w| w.contains("Message-ID:")),
        "{writes:?}"
    );

    // With BDAT the same must hold: no message content before MAIL and a RCPT were
    // accepted. The library sends MAIL and RCPT of the first transaction on a connection
    // alone and the chunk only after MAIL's 250 (before that fix, MAIL, RCPT and
    // `BDAT n LAST` + content left in one write, Postfix read the content as commands and
    // the QUIT met an unsolicited reply, `Protocol { error: Unsolicited }`).
    let (quit, writes, log) = submission_before_starttls(true, "pf-530-bdat").await;
    assert!(
        !log.iter().any(|l| l.contains("non-SMTP command")),
        "message content was read as SMTP commands: {log:#?}\nclient wrote: {writes:?}"
    );
    assert!(quit.is_ok(), "{quit:?}");
    assert!(
        !writes.iter().any(|w| w.contains("Message-ID:")),
        "{writes:?}"
    );
    assert!(!writes.iter().any(|w| w.contains("BDAT")), "{writes:?}");
}
