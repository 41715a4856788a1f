//! DSN (RFC 3461) and the recipient limit through the library, against Postfix: the DSN
//! parameters the library sends, read back from the hold queue (`postcat`), and port
//! 2528's `smtpd_recipient_limit = 3` (no RFC 9422 LIMITS there: the excess recipients
//! get `452 4.5.3`, and the library does not send them again itself).

use smtp_courier::proto::{EnvId, Mailbox, Notify, NotifyOn, Orcpt, Ret};
use smtp_courier::{Envelope, RecipientStatus};

use crate::raw::*;
use crate::support::*;

/// The queue id in the final reply's `... queued as ID`.
fn queued_as(report: &smtp_courier::TransactionReport) -> String {
    let text = report
        .data
        .as_ref()
        .unwrap_or_else(|| panic!("no final reply: {report:#?}"))
        .message();
    text.split("queued as ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no queue id in {text:?}"))
        .to_owned()
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn dsn_parameters_reach_the_queue_file() {
    let env = Env::get();
    let t = token("pf-dsn");
    let hold = env.postfix_hold_rcpt.clone();
    // An ORCPT other than the address: Postfix invents `rfc822;<address>` when none is
    // sent, so only a different one proves the client sent it. `+` and `=` need xtext.
    let original: Mailbox = "orig+x=y@test.example".parse().unwrap();
    let envelope = Envelope::new("sender@test.example", [&hold])
        .unwrap()
        .with_notify(Notify::On(NotifyOn::SUCCESS | NotifyOn::FAILURE))
        .with_recipient_orcpt(0, Orcpt::rfc822(&original).unwrap())
        .unwrap()
        .with_dsn_ret(Ret::Hdrs)
        .with_dsn_envid(EnvId::new(format!("{t}+a=b")).unwrap());
    let (mut client, writes) = connect_recorded(&env.host, env.postfix_port, config()).await;
    assert!(client.capabilities().unwrap().dsn());
    let report = client
        .send_bytes(&envelope, &message(&t, &hold, b"held with DSN\r\n"))
        .await
        .unwrap();
    assert_delivered(&report);
    client.quit().await.unwrap();
    let id = queued_as(&report);
    let held = postfix_held_envelope(&env, &id).await;
    postfix_delete_held(&env, &id);

    // On the wire, xtext-encoded (RFC 3461 §4).
    let texts = write_texts(&writes).join("");
    let mail = texts
        .split("\r\n")
        .find(|l| l.starts_with("MAIL FROM:"))
        .unwrap_or_else(|| panic!("no MAIL: {texts}"));
    assert!(
        mail.starts_with("MAIL FROM:<sender@test.example> SIZE=")
            && mail.ends_with(&format!(" RET=HDRS ENVID={t}+2Ba+3Db")),
        "{mail}"
    );
    assert!(
        texts.contains(&format!(
            "RCPT TO:<{hold}> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;orig+2Bx+3Dy@test.example\r\n"
        )),
        "{texts}"
    );
    // In the queue file, decoded.
    assert_eq!(held.queue, "hold", "{}", held.text);
    assert_eq!(
        held.envelope_id.as_deref(),
        Some(format!("{t}+a=b").as_str()),
        "{}",
        held.text
    );
    assert_eq!(held.ret_flags, Some(RET_HDRS), "{}", held.text);
    assert_eq!(
        held.recipients,
        [HeldRcpt {
            address: hold.clone(),
            notify_flags: Some(NOTIFY_SUCCESS | NOTIFY_FAILURE),
            orcpt: Some("rfc822;orig+x=y@test.example".into()),
        }],
        "{}",
        held.text
    );
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn no_dsn_parameters_none_in_the_queue_file() {
    // Twin of the above: the same message without DSN parameters.
    let env = Env::get();
    let t = token("pf-nodsn");
    let hold = env.postfix_hold_rcpt.clone();
    let envelope = Envelope::new("sender@test.example", [&hold]).unwrap();
    let (mut client, writes) = connect_recorded(&env.host, env.postfix_port, config()).await;
    let report = client
        .send_bytes(&envelope, &message(&t, &hold, b"held without DSN\r\n"))
        .await
        .unwrap();
    assert_delivered(&report);
    client.quit().await.unwrap();
    let id = queued_as(&report);
    let held = postfix_held_envelope(&env, &id).await;
    postfix_delete_held(&env, &id);
    let texts = write_texts(&writes).join("");
    for word in ["RET=", "ENVID=", "NOTIFY=", "ORCPT="] {
        assert!(!texts.contains(word), "{word} sent: {texts}");
    }
    assert_eq!(
        (held.envelope_id.as_deref(), held.ret_flags),
        (None, None),
        "{}",
        held.text
    );
    assert_eq!(
        held.recipients,
        [HeldRcpt {
            address: hold.clone(),
            notify_flags: None,
            // Synthesised by Postfix: the client sent none.
            orcpt: Some(format!("rfc822;{hold}")),
        }],
        "{}",
        held.text
    );
}

#[tokio::test]
#[ignore = "needs the real servers: run tests/interop/run.sh"]
async fn recipient_limit_452_leaves_the_excess_transient() {
    // Port 2528: smtpd_recipient_limit = 3 and no LIMITS keyword, so the client cannot
    // split in advance; the 4th and 5th RCPT get `452 4.5.3` (RFC 5321 §4.5.3.1.10).
    let env = Env::get();
    assert_eq!(env.postfix_rcpt_limit, 3, "written for a limit of 3");
    let t = token("pf-limit");
    let rcpts: Vec<String> = (1..=5).map(|i| env.ok_rcpt(&format!("lim{i}"))).collect();
    let mut client = connect(&env.host, env.postfix_limits_port).await;
    assert!(client.capabilities().unwrap().limits().is_none());
    let envelope = Envelope::new("sender@test.example", &rcpts).unwrap();
    let report = client
        .send_bytes(&envelope, &message(&t, &rcpts[0], b"limited\r\n"))
        .await
        .unwrap();
    use RecipientStatus::*;
    assert_eq!(
        rcpt_status(&report),
        [Delivered, Delivered, Delivered, Transient, Transient]
    );
    for i in 3..5 {
        assert_refused(&report, i, 452, "4.5.3", Transient);
    }
    assert!(report.error.is_none(), "{report:#?}");
    // The library does not send them again by itself: one transaction on the connection.
    assert_eq!(client.transactions_left(), None);
    let port = client.get_ref().local_addr().unwrap().port();
    client.quit().await.unwrap();
    assert_eq!(postfix_copies(&env, &t, 3).await.len(), 3);
    let stats = postfix_disconnect_stats(&env, &env.host, port).await;
    assert!(stats.contains(" mail=1 "), "{stats}");

    // Twin: within the limit, every recipient is delivered.
    let t = token("pf-limit-ok");
    let mut client = connect(&env.host, env.postfix_limits_port).await;
    let envelope = Envelope::new("sender@test.example", &rcpts[..3]).unwrap();
    let report = client
        .send_bytes(&envelope, &message(&t, &rcpts[0], b"within\r\n"))
        .await
        .unwrap();
    assert_delivered(&report);
    client.quit().await.unwrap();
    assert_eq!(postfix_copies(&env, &t, 3).await.len(), 3);
}
