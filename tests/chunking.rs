//! CHUNKING (RFC 3030) and transactions in flight through the async `Client`: what goes in
//! one write, chunks in lock step, and every failure case of a window of transactions
//! (`Client::send_batch`).
//!
//! No BDAT content goes out before the server accepted a MAIL on the connection: the first
//! transaction sends MAIL and RCPT, and its chunk after their replies; the ones after it
//! carry their first chunk with MAIL and RCPT.

#[macro_use]
mod support;

use smtp_courier::proto::CommandKind;
use smtp_courier::{Client, ClientConfig, Envelope, RecipientStatus, TransactionReport};
use support::*;

const EHLO_CHUNKING: &str = "250-mx.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n";
const EHLO_CHUNKING_LOCK_STEP: &str = "250-mx.example\r\n250 CHUNKING\r\n";

fn env(to: &str) -> Envelope {
    Envelope::new("a@example.org", [to]).unwrap()
}

/// MAIL, RCPT and the one `BDAT n LAST` chunk of `body` (already CRLF), as the server
/// receives them once a MAIL was accepted on the connection.
fn group(to: &str, body: &str) -> String {
    format!("{}{}", first(to), chunk(body))
}

/// MAIL and RCPT of the first transaction on a connection: its content waits for their
/// replies.
fn first(to: &str) -> String {
    format!("MAIL FROM:<a@example.org>\r\nRCPT TO:<{to}>\r\n")
}

/// The one `BDAT n LAST` chunk of `body` (already CRLF).
fn chunk(body: &str) -> String {
    format!("BDAT {} LAST\r\n{body}", body.len())
}

#[track_caller]
fn assert_status(report: &TransactionReport, command: CommandKind, code: u16, s: RecipientStatus) {
    let r = &report.recipients[0];
    assert_eq!(r.status(), s, "{report:?}");
    assert_eq!(r.command(), Some(command), "{report:?}");
    assert_eq!(
        r.reply().map(|x| x.code().as_u16()),
        Some(code),
        "{report:?}"
    );
}

#[tokio::test]
async fn mail_rcpt_and_first_chunk_go_in_one_write() {
    // RFC 3030 §4 with RFC 2920: a server with delayed ACKs would otherwise cost a round
    // trip before the content. The first transaction on the connection waits for MAIL's
    // 250 and RCPT's before its chunk (a server refusing MAIL, as Postfix before
    // STARTTLS, may read a refused chunk as commands); the second rides.
    let one = first("b@example.net");
    let g = group("c@example.net", "hi\r\n");
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_CHUNKING),
        expect(&one),
        silence(30),
        send("250 ok\r\n250 ok\r\n"),
        expect(chunk("hi\r\n")),
        send("250 2.0.0 queued\r\n"),
        expect(&g),
        send("250 ok\r\n250 ok\r\n250 2.0.0 queued\r\n"),
    ]);
    let log = io.log();
    let mut client = Client::open(io, config()).await.unwrap();
    for to in ["b@example.net", "c@example.net"] {
        let report = client.send_bytes(&env(to), b"hi\n").await.unwrap();
        assert_status(&report, CommandKind::Bdat, 250, RecipientStatus::Delivered);
    }
    drop(client);
    let t = server.finish().await;
    let mail_at = t.received.windows(4).position(|w| w == b"MAIL").unwrap();
    let w = log.write_covering(mail_at).unwrap();
    assert!(
        w.offset == mail_at && w.offered == one.len(),
        "first: MAIL and RCPT alone in one write: {w:?}"
    );
    let mail_at = t.received.len() - g.len();
    let w = log.write_covering(mail_at).unwrap();
    assert!(w.offset == mail_at && w.offered >= g.len(), "split: {w:?}");
    assert_eq!(
        after_ehlo(&t),
        [one, chunk("hi\r\n"), g].concat().as_bytes()
    );

    // Twin without PIPELINING: MAIL, RCPT, then each chunk after the reply to the one
    // before (RFC 3030 §4), each its own write.
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_CHUNKING_LOCK_STEP),
        expect("MAIL FROM:<a@example.org>\r\n"),
        silence(30),
        send("250 ok\r\n"),
        expect("RCPT TO:<b@example.net>\r\n"),
        silence(30),
        send("250 ok\r\n"),
        expect("BDAT 4\r\nabcd"),
        silence(30),
        send("250 ok\r\n"),
        expect("BDAT 4\r\nefgh"),
        silence(30),
        send("250 ok\r\n"),
        expect("BDAT 3 LAST\r\ni\r\n"),
        send("250 queued\r\n"),
    ]);
    let mut client = Client::open(io, config().chunk_size(4)).await.unwrap();
    let report = client
        .send(&env("b@example.net"), &b"abcdefghi"[..])
        .await
        .unwrap();
    assert!(report.all_delivered(), "{report:?}");
    drop(client);
    server.finish().await;
}

#[tokio::test]
async fn mail_530_no_bdat_no_content_ever_written() {
    // Postfix 3.7 on a submission port before STARTTLS refuses MAIL, RCPT and BDAT with
    // 530 and does not read a refused chunk: content pipelined behind them would be read
    // as commands. No MAIL was accepted on this connection, so none is sent.
    let must = "530 5.7.0 Must issue a STARTTLS command first\r\n";
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_CHUNKING),
        expect(first("b@example.net")),
        send([must, must].concat()),
        expect("QUIT\r\n"),
        send("221 2.0.0 Bye\r\n"),
    ]);
    let mut client = Client::open(io, config()).await.unwrap();
    let report = client
        .send_bytes(&env("b@example.net"), b"Message-ID: <x@example.org>\n")
        .await
        .unwrap();
    assert_status(&report, CommandKind::Mail, 530, RecipientStatus::Permanent);
    assert!(report.data.is_none());
    client.quit().await.unwrap();
    let t = server.finish().await;
    assert_eq!(
        show(after_ehlo(&t)),
        show(
            [first("b@example.net"), "QUIT\r\n".into()]
                .concat()
                .as_bytes()
        )
    );
}

#[tokio::test]
async fn refused_chunk_ends_the_message_and_rset_precedes_the_next() {
    // A server that refuses the content at the first chunk (a size or content policy):
    // RFC 3030 §2, no further chunk; the next transaction starts with RSET.
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_CHUNKING_LOCK_STEP),
        expect("MAIL FROM:<a@example.org>\r\n"),
        send("250 ok\r\n"),
        expect("RCPT TO:<b@example.net>\r\n"),
        send("250 ok\r\n"),
        expect("BDAT 4\r\nabcd"),
        send("552 5.3.4 too big\r\n"),
        // No further chunk: the next bytes are the next transaction's RSET.
        expect("RSET\r\n"),
        send("250 ok\r\n"),
        expect("MAIL FROM:<a@example.org>\r\n"),
        send("250 ok\r\n"),
        expect("RCPT TO:<c@example.net>\r\n"),
        send("250 ok\r\n"),
        expect("BDAT 3 LAST\r\no\r\n"),
        send("250 queued\r\n"),
    ]);
    let mut client = Client::open(io, config().chunk_size(4)).await.unwrap();
    let report = client
        .send(&env("b@example.net"), &b"abcdefghijkl"[..])
        .await
        .unwrap();
    assert_status(&report, CommandKind::Bdat, 552, RecipientStatus::Permanent);
    // Positive twin on the same connection.
    let report = client
        .send_bytes(&env("c@example.net"), b"o")
        .await
        .unwrap();
    assert!(report.all_delivered(), "{report:?}");
    drop(client);
    server.finish().await;
}

#[tokio::test]
async fn chunking_off_sends_data() {
    let (io, server) = ScriptedServer::start(script![
        open(EHLO_CHUNKING),
        expect("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"),
        send("250 ok\r\n250 ok\r\n354 go\r\n"),
        data("hi\r\n.\r\n"),
        send("250 queued\r\n"),
    ]);
    let mut client = Client::open(io, config().chunking(false)).await.unwrap();
    let report = client
        .send_bytes(&env("b@example.net"), b"hi")
        .await
        .unwrap();
    assert_status(
        &report,
        CommandKind::DataEnd,
        250,
        RecipientStatus::Delivered,
    );
    drop(client);
    server.finish().await;
}

/// What the server received after the opening (EHLO).
fn after_ehlo(t: &Transcript) -> &[u8] {
    let at = t.received.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    &t.received[at..]
}

/// The three messages of the window tests: to b@, c@ and d@, each "hi".
fn three() -> Vec<(Envelope, Vec<u8>)> {
    ["b@example.net", "c@example.net", "d@example.net"]
        .iter()
        .map(|to| (env(to), b"hi".to_vec()))
        .collect()
}

async fn batch(
    config: ClientConfig,
    ehlo: &str,
    steps: Vec<Step>,
    messages: &[(Envelope, Vec<u8>)],
) -> (Vec<TransactionReport>, Transcript, WriteLog) {
    let (io, server) = ScriptedServer::start(script![open(ehlo), steps]);
    let log = io.log();
    let mut client = Client::open(io, config).await.unwrap();
    let reports = client
        .send_batch(messages.iter().map(|(e, b)| (e, &b[..])))
        .await;
    drop(client);
    (reports, server.finish().await, log)
}

/// The window after the first transaction's MAIL and RCPT were accepted: its chunk, and
/// the next two riding behind it.
fn window_of_three() -> String {
    [
        chunk("hi\r\n"),
        group("c@example.net", "hi\r\n"),
        group("d@example.net", "hi\r\n"),
    ]
    .concat()
}

/// The opening of every window test: the first transaction's MAIL and RCPT, accepted.
fn first_accepted() -> Vec<Step> {
    script![expect(first("b@example.net")), send("250 ok\r\n250 ok\r\n")]
}

#[tokio::test]
async fn window_goes_out_in_one_write_and_every_message_is_delivered() {
    let all = window_of_three();
    let (reports, t, log) = batch(
        config(),
        EHLO_CHUNKING,
        script![
            first_accepted(),
            expect(&all),
            send("250 one\r\n250 ok\r\n250 ok\r\n250 two\r\n"),
            send("250 ok\r\n250 ok\r\n250 three\r\n"),
        ],
        &three(),
    )
    .await;
    let data: Vec<String> = reports
        .iter()
        .map(|r| r.data.as_ref().unwrap().message())
        .collect();
    assert_eq!(data, ["one", "two", "three"]);
    // RFC 2920 §3.1: MAIL may follow BDAT in the same group; all three left at once.
    let mail_at = t.received.len() - all.len();
    let w = log.write_covering(mail_at).unwrap();
    assert!(
        w.offset == mail_at && w.offered >= all.len(),
        "window split: {w:?}"
    );
    assert_eq!(
        after_ehlo(&t),
        [first("b@example.net"), all.clone()].concat().as_bytes()
    );

    // Twin: window 1 sends one transaction after another.
    let (reports, t, log) = batch(
        config().window(1),
        EHLO_CHUNKING,
        script![
            first_accepted(),
            expect(chunk("hi\r\n")),
            send("250 one\r\n"),
            expect(group("c@example.net", "hi\r\n")),
            send("250 ok\r\n250 ok\r\n250 two\r\n"),
            expect(group("d@example.net", "hi\r\n")),
            send("250 ok\r\n250 ok\r\n250 three\r\n"),
        ],
        &three(),
    )
    .await;
    assert!(reports.iter().all(TransactionReport::all_delivered));
    let mail_at = t.received.len() - 2 * group("c@example.net", "hi\r\n").len();
    assert_eq!(
        log.write_covering(mail_at).unwrap().offered,
        group("c@example.net", "hi\r\n").len()
    );
}

#[tokio::test]
async fn refused_mail_in_the_middle_changes_no_other_message() {
    // A sender policy that refuses one MAIL (Postfix smtpd_sender_restrictions), then
    // answers the rest of that group with 503 bad sequence.
    let (reports, _, _) = batch(
        config(),
        EHLO_CHUNKING,
        script![
            first_accepted(),
            expect(window_of_three()),
            send("250 one\r\n"),
            send("550 5.7.1 sender refused\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n"),
            send("250 ok\r\n250 ok\r\n250 three\r\n"),
        ],
        &three(),
    )
    .await;
    assert_status(
        &reports[0],
        CommandKind::Bdat,
        250,
        RecipientStatus::Delivered,
    );
    assert_status(
        &reports[1],
        CommandKind::Mail,
        550,
        RecipientStatus::Permanent,
    );
    assert_status(
        &reports[2],
        CommandKind::Bdat,
        250,
        RecipientStatus::Delivered,
    );
}

#[tokio::test]
async fn every_rcpt_refused_in_the_middle_changes_no_other_message() {
    let (reports, _, _) = batch(
        config(),
        EHLO_CHUNKING,
        script![
            first_accepted(),
            expect(window_of_three()),
            send("250 one\r\n"),
            send("250 ok\r\n550 5.1.1 no such user\r\n554 5.5.1 no valid recipients\r\n"),
            send("250 ok\r\n250 ok\r\n250 three\r\n"),
        ],
        &three(),
    )
    .await;
    assert!(reports[0].all_delivered());
    // The chunk's reply is consumed; the recipient keeps its RCPT refusal.
    assert_status(
        &reports[1],
        CommandKind::Rcpt,
        550,
        RecipientStatus::Permanent,
    );
    assert!(reports[1].data.is_none());
    assert!(reports[2].all_delivered());
}

#[tokio::test]
async fn mail_503_after_an_earlier_failure_is_sent_again_after_rset() {
    // A server that keeps the first transaction open after its chunk was refused, so the
    // MAILs pipelined behind it get "503 nested MAIL": they are sent again, once, after
    // RSET; the message refused on its own merits is not.
    let retry = [
        "RSET\r\n".to_string(),
        group("c@example.net", "hi\r\n"),
        group("d@example.net", "hi\r\n"),
    ]
    .concat();
    let (reports, t, _) = batch(
        config(),
        EHLO_CHUNKING,
        script![
            first_accepted(),
            expect(window_of_three()),
            send("554 5.6.0 content refused\r\n"),
            send("503 5.5.1 nested MAIL\r\n503 5.5.1 no\r\n503 5.5.1 no\r\n"),
            send("503 5.5.1 nested MAIL\r\n503 5.5.1 no\r\n503 5.5.1 no\r\n"),
            expect(&retry),
            send("250 reset\r\n250 ok\r\n250 ok\r\n250 two\r\n250 ok\r\n250 ok\r\n250 three\r\n"),
        ],
        &three(),
    )
    .await;
    assert_status(
        &reports[0],
        CommandKind::Bdat,
        554,
        RecipientStatus::Permanent,
    );
    assert_status(
        &reports[1],
        CommandKind::Bdat,
        250,
        RecipientStatus::Delivered,
    );
    assert_status(
        &reports[2],
        CommandKind::Bdat,
        250,
        RecipientStatus::Delivered,
    );
    assert_eq!(reports[1].data.as_ref().unwrap().message(), "two");
    assert_eq!(
        after_ehlo(&t),
        [first("b@example.net"), window_of_three(), retry]
            .concat()
            .as_bytes()
    );
}

#[tokio::test]
async fn a_503_with_no_earlier_failure_is_not_sent_again() {
    // Negative twin: the second transaction of the window got 503 on its own; nothing
    // before it failed, so it is a result, not a retry.
    let (reports, t, _) = batch(
        config(),
        EHLO_CHUNKING,
        script![
            first_accepted(),
            expect(window_of_three()),
            send("250 one\r\n"),
            send("503 5.5.1 not now\r\n503 no\r\n503 no\r\n"),
            send("250 ok\r\n250 ok\r\n250 three\r\n"),
        ],
        &three(),
    )
    .await;
    assert!(reports[0].all_delivered());
    assert_status(
        &reports[1],
        CommandKind::Mail,
        503,
        RecipientStatus::Permanent,
    );
    assert!(reports[2].all_delivered());
    assert_eq!(
        after_ehlo(&t),
        [first("b@example.net"), window_of_three()]
            .concat()
            .as_bytes()
    );
}

#[tokio::test]
async fn a_421_in_the_middle_of_a_window_ends_it() {
    // A server shutting down mid-window (Postfix "421 4.3.0 Server shutting down"): the
    // first message is delivered, the rest are transient, and nothing more is sent.
    let (reports, t, _) = batch(
        config(),
        EHLO_CHUNKING,
        script![
            first_accepted(),
            expect(window_of_three()),
            send("250 one\r\n"),
            send("421 4.3.0 shutting down\r\n"),
            close(),
        ],
        &three(),
    )
    .await;
    assert!(reports[0].all_delivered());
    for r in &reports[1..] {
        assert_eq!(
            r.recipients[0].status(),
            RecipientStatus::Transient,
            "{r:?}"
        );
    }
    assert_eq!(
        after_ehlo(&t),
        [first("b@example.net"), window_of_three()]
            .concat()
            .as_bytes()
    );
}

#[tokio::test]
async fn connection_lost_with_three_in_flight_is_unknown_for_each() {
    let (reports, _, _) = batch(
        config(),
        EHLO_CHUNKING,
        script![first_accepted(), expect(window_of_three()), close()],
        &three(),
    )
    .await;
    assert_eq!(reports.len(), 3);
    for r in &reports {
        // The data was sent, the outcome unknown: transient, never success.
        assert_eq!(
            r.recipients[0].status(),
            RecipientStatus::Transient,
            "{r:?}"
        );
        assert!(r.error.as_ref().unwrap().is_transient());
    }
}

#[tokio::test]
async fn without_chunking_a_batch_goes_one_at_a_time() {
    // With DATA nothing is pipelined past a DATA before its 354.
    let data_group = |to: &str| format!("MAIL FROM:<a@example.org>\r\nRCPT TO:<{to}>\r\nDATA\r\n");
    let mut steps = Vec::new();
    for to in ["b@example.net", "c@example.net", "d@example.net"] {
        steps.extend(script![
            expect(data_group(to)),
            send("250 ok\r\n250 ok\r\n354 go\r\n"),
            data("hi\r\n.\r\n"),
            send("250 queued\r\n"),
        ]);
    }
    let (reports, _, _) = batch(config(), EHLO_PIPELINING, steps, &three()).await;
    assert!(reports.iter().all(TransactionReport::all_delivered));
}

#[tokio::test]
async fn lmtp_maps_one_reply_per_accepted_recipient() {
    // Dovecot LMTP: LHLO, then after the message one reply per accepted recipient, in
    // RCPT order, each deciding its own recipient (RFC 2033 §4.2).
    let (io, server) = ScriptedServer::start(script![
        send("220 lmtp.example Dovecot ready\r\n"),
        expect("LHLO localhost\r\n"),
        send("250-lmtp.example\r\n250-PIPELINING\r\n250 CHUNKING\r\n"),
        expect(
            "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\n\
             RCPT TO:<d@example.net>\r\n"
        ),
        send("250 ok\r\n250 ok\r\n550 5.1.1 no such user\r\n250 ok\r\n"),
        expect("BDAT 4 LAST\r\nhi\r\n"),
        send("452 4.2.2 b over quota\r\n250 2.0.0 d saved\r\n"),
    ]);
    let mut client = Client::open(io, config().lmtp(true)).await.unwrap();
    let to = ["b@example.net", "c@example.net", "d@example.net"];
    let envelope = Envelope::new("a@example.org", to).unwrap();
    let report = client.send_bytes(&envelope, b"hi").await.unwrap();
    let status: Vec<RecipientStatus> = report.recipients.iter().map(|r| r.status()).collect();
    assert_eq!(
        status,
        [
            RecipientStatus::Transient,
            RecipientStatus::Permanent,
            RecipientStatus::Delivered
        ]
    );
    assert_eq!(report.recipients[0].command(), Some(CommandKind::Bdat));
    assert_eq!(report.recipients[1].command(), Some(CommandKind::Rcpt));
    assert_eq!(report.data.as_ref().unwrap().message(), "2.0.0 d saved");
    drop(client);
    server.finish().await;
}
