//! Opportunistic STARTTLS and the plaintext fallback policy.

use super::*;

/// Offered: used, and verified.
#[tokio::test]
async fn opportunistic_uses_starttls_when_offered() {
    let server = Server::start(vec![starttls_server(TlsSetup::good())]).await;
    let client = expect_ok(connect(&server, &tls_config(TlsMode::Opportunistic)).await);
    let report = client.tls_report().cloned().unwrap();
    deliver_and_quit(client).await;
    let logs = server.finish().await;
    let (plain, tls) = starttls_lines();
    assert_one_conn(&logs, &plain, &tls);
    assert_verified_tls13(&report, &logs[0]);
}

/// Not offered: plaintext, and the absent report says so.
/// Twin: `opportunistic_uses_starttls_when_offered`.
#[tokio::test]
async fn opportunistic_not_offered_goes_plaintext() {
    let server = Server::start(vec![
        Script::greeting().ehlo(AFTER_TLS).transaction().quit(),
    ])
    .await;
    let client = expect_ok(connect(&server, &tls_config(TlsMode::Opportunistic)).await);
    assert_eq!(client.tls_report(), None);
    assert!(!client.get_ref().is_tls());
    deliver_and_quit(client).await;
    assert_one_conn(&server.finish().await, &lines(&[EHLO], &TX), &[]);
}

/// Refused (454, 3yz, 250) without fallback: a transient TLS error, nothing more sent.
#[tokio::test]
async fn opportunistic_refused_without_fallback() {
    for refusal in ["454 4.7.0 TLS not available", "354 go ahead", "250 ok"] {
        let server =
            Server::start(vec![Script::greeting().ehlo(WITH_STARTTLS).reply(refusal)]).await;
        let err = expect_err(connect(&server, &tls_config(TlsMode::Opportunistic)).await);
        assert!(
            matches!(err, Error::Tls(TlsError::Refused(_))),
            "{refusal}: {err:?}"
        );
        assert!(err.is_transient());
        assert_one_conn(
            &server.finish().await,
            &lines(&[EHLO, "STARTTLS"], &[]),
            &[],
        );
    }
}

/// Refused with fallback: plaintext on the same connection (no handshake, no second
/// connection), reported as a fallback.
#[tokio::test]
async fn opportunistic_refused_with_fallback() {
    for refusal in ["454 4.7.0 TLS not available", "354 go ahead", "250 ok"] {
        let script = Script::greeting()
            .ehlo(WITH_STARTTLS)
            .reply(refusal)
            .transaction()
            .quit();
        let server = Server::start(vec![script]).await;
        let tls = tls_config(TlsMode::Opportunistic).fallback(true);
        let client = expect_ok(connect(&server, &tls).await);
        let report = client.tls_report().cloned().unwrap();
        assert!(!client.get_ref().is_tls());
        deliver_and_quit(client).await;
        assert_one_conn(
            &server.finish().await,
            &lines(&[EHLO, "STARTTLS"], &TX),
            &[],
        );
        assert!(report.fallback, "{refusal}");
        assert_eq!((report.version, report.cipher), (None, None));
        assert!(!report.verified);
        let why = report.verify_error.unwrap();
        assert!(
            why.contains("STARTTLS refused") && why.contains(&refusal[..3]),
            "{why}"
        );
        assert!(report.peer_certificates.is_empty() && report.tls_exporter.is_none());
    }
}

/// A failed handshake without fallback: a transient TLS error, one connection.
#[tokio::test]
async fn opportunistic_handshake_fails_without_fallback() {
    let server = Server::start(vec![
        Script::greeting()
            .ehlo(WITH_STARTTLS)
            .reply("220 ready")
            .garbage(),
    ])
    .await;
    let err = expect_err(connect(&server, &tls_config(TlsMode::Opportunistic)).await);
    assert!(matches!(err, Error::Tls(TlsError::Handshake(_))), "{err:?}");
    assert!(err.is_transient());
    assert_one_conn(
        &server.finish().await,
        &lines(&[EHLO, "STARTTLS"], &[]),
        &[],
    );
}

/// A failed handshake with fallback: reconnect to the same server and skip STARTTLS even
/// though it is offered again.
#[tokio::test]
async fn opportunistic_handshake_fails_with_fallback_reconnects() {
    let first = Script::greeting()
        .ehlo(WITH_STARTTLS)
        .reply("220 ready")
        .garbage();
    let second = Script::greeting().ehlo(WITH_STARTTLS).transaction().quit();
    let server = Server::start(vec![first, second]).await;
    let tls = tls_config(TlsMode::Opportunistic).fallback(true);
    let client = expect_ok(connect(&server, &tls).await);
    let report = client.tls_report().cloned().unwrap();
    assert!(!client.get_ref().is_tls());
    deliver_and_quit(client).await;
    let logs = server.finish().await;
    assert_eq!(logs.len(), 2, "{logs:#?}");
    assert_eq!(logs[0].plain, lines(&[EHLO, "STARTTLS"], &[]));
    assert_conn(&logs[1], &lines(&[EHLO], &TX), &[]);
    assert!(report.fallback);
    assert_eq!(report.version, None);
    assert!(report.verify_error.unwrap().contains("handshake failed"));
}

/// A handshake that never completes, with fallback: the deadline, then a reconnection.
#[tokio::test]
async fn opportunistic_handshake_timeout_with_fallback_reconnects() {
    let first = Script::greeting()
        .ehlo(WITH_STARTTLS)
        .reply("220 ready")
        .stall();
    let second = Script::greeting().ehlo(WITH_STARTTLS).transaction().quit();
    let server = Server::start(vec![first, second]).await;
    let tls = tls_config(TlsMode::Opportunistic).fallback(true);
    let client = expect_ok(connect_with(&server, &tls, impatient_config()).await);
    let report = client.tls_report().cloned().unwrap();
    deliver_and_quit(client).await;
    let logs = server.finish().await;
    assert_eq!(logs.len(), 2, "{logs:#?}");
    assert!(logs[0].stalled_bytes > 0);
    assert_conn(&logs[1], &lines(&[EHLO], &TX), &[]);
    assert!(report.fallback);
    assert!(report.verify_error.unwrap().contains("timed out"));

    // Twin: without fallback the timeout is the error, and there is no second connection.
    let server = Server::start(vec![
        Script::greeting()
            .ehlo(WITH_STARTTLS)
            .reply("220 ready")
            .stall(),
    ])
    .await;
    let err = expect_err(
        connect_with(
            &server,
            &tls_config(TlsMode::Opportunistic),
            impatient_config(),
        )
        .await,
    );
    assert!(
        matches!(err, Error::Tls(TlsError::HandshakeTimeout)),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(server.finish().await.len(), 1);
}

/// Opportunistic with PKIX enforced and fallback: a certificate for the wrong name fails
/// the handshake, and the session reconnects in plaintext, saying why.
#[tokio::test]
async fn opportunistic_pkix_failure_with_fallback_reconnects() {
    let first = Script::greeting()
        .ehlo(WITH_STARTTLS)
        .starttls(TlsSetup::with(|p| &p.wrong_name));
    let second = Script::greeting().ehlo(WITH_STARTTLS).transaction().quit();
    let server = Server::start(vec![first, second]).await;
    let tls = tls_config(TlsMode::Opportunistic).fallback(true);
    assert!(tls.enforces_verification());
    let client = expect_ok(connect(&server, &tls).await);
    let report = client.tls_report().cloned().unwrap();
    deliver_and_quit(client).await;
    let logs = server.finish().await;
    assert_eq!(logs.len(), 2);
    assert_conn(&logs[1], &lines(&[EHLO], &TX), &[]);
    assert!(report.fallback);
    assert!(report.verify_error.unwrap().contains(WRONG_NAME));
}

/// Credentials or a REQUIRETLS message (`confidential`): never a fallback, for a refusal
/// or for a failed handshake. Twin: `opportunistic_refused_with_fallback` and
/// `opportunistic_handshake_fails_with_fallback_reconnects`.
#[tokio::test]
async fn confidential_sessions_never_fall_back() {
    let tls = tls_config(TlsMode::Opportunistic)
        .fallback(true)
        .confidential(true);
    assert!(!tls.fallback_allowed());

    let server = Server::start(vec![
        Script::greeting()
            .ehlo(WITH_STARTTLS)
            .reply("454 4.7.0 TLS not available"),
        Script::greeting().ehlo(WITH_STARTTLS).transaction().quit(),
    ])
    .await;
    let err = expect_err(connect(&server, &tls).await);
    assert!(matches!(err, Error::Tls(TlsError::Refused(_))), "{err:?}");
    assert!(err.is_transient());
    assert_one_conn(
        &server.finish().await,
        &lines(&[EHLO, "STARTTLS"], &[]),
        &[],
    );

    let server = Server::start(vec![
        Script::greeting()
            .ehlo(WITH_STARTTLS)
            .reply("220 ready")
            .garbage(),
        Script::greeting().ehlo(WITH_STARTTLS).transaction().quit(),
    ])
    .await;
    let err = expect_err(connect(&server, &tls).await);
    assert!(matches!(err, Error::Tls(TlsError::Handshake(_))), "{err:?}");
    assert!(err.is_transient());
    let logs = server.finish().await;
    assert_eq!(logs.len(), 1, "no reconnection: {logs:#?}");
}

/// A confidential session (credentials, REQUIRETLS) never goes on in plaintext: STARTTLS
/// not offered (stripped by a man in the middle, say) is a transient `NotOffered`, as in
/// required mode, and nothing else is sent. Twin: `opportunistic_not_offered_goes_plaintext`
/// (the same server, not confidential) and `opportunistic_uses_starttls_when_offered`.
#[tokio::test]
async fn confidential_opportunistic_not_offered_is_an_error() {
    for fallback in [false, true] {
        let tls = tls_config(TlsMode::Opportunistic)
            .fallback(fallback)
            .confidential(true);
        assert!(tls.is_confidential());
        let server = Server::start(vec![
            Script::greeting().ehlo(AFTER_TLS).transaction().quit(),
        ])
        .await;
        let err = expect_err(connect(&server, &tls).await);
        assert!(matches!(err, Error::Tls(TlsError::NotOffered)), "{err:?}");
        assert!(err.is_transient());
        assert!(!err.connection_usable());
        assert_eq!(err.to_string(), "tls: STARTTLS not offered");
        assert_one_conn(&server.finish().await, &lines(&[EHLO], &[]), &[]);
    }
    // The session is poisoned: nothing can follow in the clear even if the error is
    // ignored.
    let server = Server::start(vec![Script::greeting().ehlo(AFTER_TLS)]).await;
    let stream = TcpStream::connect(("127.0.0.1", server.port()))
        .await
        .unwrap();
    let mut client = Client::new(MaybeTls::Plain(stream), config());
    let tls = tls_config(TlsMode::Opportunistic).confidential(true);
    let target = Target::new("127.0.0.1", server.port()).unwrap();
    assert!(
        client
            .establish(&TcpConnector::new(), &target, &tls)
            .await
            .is_err()
    );
    assert!(client.send_bytes(&envelope(), MSG).await.is_err());
    drop(client);
    assert_one_conn(&server.finish().await, &lines(&[EHLO], &[]), &[]);
}
