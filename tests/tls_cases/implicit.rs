//! Skip and implicit TLS (RFC 8314).

use super::*;

/// Skip: no STARTTLS even when offered.
#[tokio::test]
async fn skip_never_sends_starttls() {
    let server = Server::start(vec![
        Script::greeting().ehlo(WITH_STARTTLS).transaction().quit(),
    ])
    .await;
    let client = expect_ok(connect(&server, &tls_config(TlsMode::Skip)).await);
    assert_eq!(client.tls_report(), None);
    deliver_and_quit(client).await;
    assert_one_conn(&server.finish().await, &lines(&[EHLO], &TX), &[]);
}

/// Implicit TLS (RFC 8314): the handshake comes first, then the greeting and everything
/// else over TLS; no STARTTLS.
#[tokio::test]
async fn implicit_tls() {
    let script = Script::new()
        .tls(TlsSetup::good())
        .send("220 mx.test.example ESMTP")
        .ehlo(WITH_STARTTLS)
        .transaction()
        .quit();
    let server = Server::start(vec![script]).await;
    let client = expect_ok(connect(&server, &tls_config(TlsMode::Implicit)).await);
    let report = client.tls_report().cloned().unwrap();
    assert!(report.implicit);
    assert!(client.session().is_tls_verified());
    deliver_and_quit(client).await;
    let logs = server.finish().await;
    assert_one_conn(&logs, &[], &lines(&[EHLO], &TX));
    assert_verified_tls13(&report, &logs[0]);
}

/// Implicit TLS with each bad certificate (enforced): nothing is sent. Twin: `implicit_tls`.
#[tokio::test]
async fn implicit_tls_bad_certificates_rejected() {
    for (cert, why) in BAD_CERTS {
        let server = Server::start(vec![Script::new().tls(TlsSetup::with(cert))]).await;
        let err = expect_err(connect(&server, &tls_config(TlsMode::Implicit)).await);
        match &err {
            Error::Tls(TlsError::Verification(w)) => assert_eq!(w, why),
            other => panic!("{why}: {other:?}"),
        }
        assert!(err.is_transient());
        assert_one_conn(&server.finish().await, &[], &[]);
    }
}

/// Implicit TLS against a server that speaks plaintext (a port-25 server on 465): the
/// handshake fails; and against one that never answers, the deadline.
#[tokio::test]
async fn implicit_tls_handshake_failures() {
    let server = Server::start(vec![Script::greeting()]).await;
    let err = expect_err(connect(&server, &tls_config(TlsMode::Implicit)).await);
    assert!(matches!(err, Error::Tls(TlsError::Handshake(_))), "{err:?}");
    assert!(err.is_transient());
    let logs = server.finish().await;
    assert_eq!(logs.len(), 1);
    assert!(logs[0].plain.is_empty());

    let server = Server::start(vec![Script::new().stall()]).await;
    let err =
        expect_err(connect_with(&server, &tls_config(TlsMode::Implicit), impatient_config()).await);
    assert!(
        matches!(err, Error::Tls(TlsError::HandshakeTimeout)),
        "{err:?}"
    );
    assert!(err.is_transient());
    let logs = server.finish().await;
    assert!(logs[0].stalled_bytes > 0);
}
